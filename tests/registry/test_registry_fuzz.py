"""Fuzz ``pull`` against a lying Hub (issue 22): random mutations of the listing, tree, headers, revisions and
bodies that a compromised Hub or proxy could send, through the real ``huggingface_hub`` client.

Each case starts from an empty store or one holding 0.1.0 or 0.2.0, lets the server lie in one or two
ways, pulls, and checks the two promises: nothing is written outside the store, and whatever is
installed verifies as the requested gene, is byte-identical to a version alice published, and is not
older than what was installed unless that version was asked for by name. Every refusal must be a
one-line :class:`GenehubError`. Seeded, so a failing case replays; the counts are printed (``-s``).
"""

from __future__ import annotations

import random
import shutil
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from genehub.errors import GenehubError
from genehub.gene import TrustStore, verify_gene
from genehub.registry import GeneStore, HubRegistry, pull, push
from hubserver import Lies

REPO = "alice/sort-gene"
CASES = 240
SEED = 22
BUDGET_S = 150  # a hang or a retry storm fails the test instead of stalling the suite
MARK = "fuzz-escaped"


def _traversal(rng: random.Random) -> str:
    depth = rng.randint(1, 6)
    return rng.choice([
        "../" * depth + MARK, "/tmp/" + MARK, "sub/" + "../" * depth + MARK, "..", ".", "", "a//b",
        "..\\..\\" + MARK, f"{MARK}\x00.json", "./" + MARK, "x" * 2000,
    ])


def _bad_commit(rng: random.Random, commits: list[str]) -> Any:
    return rng.choice([
        "../" * rng.randint(1, 6) + MARK, "/tmp/" + MARK, "0" * 39, "A" * 40, "g" * 40, "", None, 123, [],
        rng.choice(commits), "".join(rng.choice("0123456789abcdef") for _ in range(40)),
        rng.choice(commits) + "/../" + MARK,
    ])


def _mutate_info(rng: random.Random, commits: list[str], honest: dict[str, bytes]) -> tuple[str, Callable]:
    kind = rng.choice(["sha", "id", "add-file", "drop-file", "dup-file", "rename-file", "size", "lfs-oid",
                       "blob-id", "siblings-type", "entry-type", "body"])

    def edit(repo: str, data: dict[str, Any]) -> Any:
        siblings = [dict(s) for s in data.get("siblings", [])]
        if kind == "sha":
            data["sha"] = _bad_commit(rng, commits)
        elif kind == "id":
            data["id"] = rng.choice(["alice/upper-gene", "../" + MARK, 7, "mallory/sort-gene"])
        elif kind == "add-file":
            siblings.append({"rfilename": rng.choice([_traversal(rng), "model.PT", "sub/extra.joblib", "arr.npy",
                                                      "gene.json.pkl", "notes.txt"]), "size": 3})
        elif kind == "drop-file" and siblings:
            siblings.pop(rng.randrange(len(siblings)))
        elif kind == "dup-file" and siblings:
            siblings.append(dict(rng.choice(siblings), size=1))
        elif kind == "rename-file" and siblings:
            rng.choice(siblings)["rfilename"] = rng.choice([_traversal(rng), *honest, "other.json"])
        elif kind == "size" and siblings:
            entry = rng.choice(siblings)
            (entry.get("lfs") or entry)["size"] = rng.choice([-1, 10**15, "12", True, 1.5, None, 0])
        elif kind == "lfs-oid":
            for entry in siblings:
                if entry.get("lfs"):
                    entry["lfs"] = {**entry["lfs"], "sha256": rng.choice(["../x", "0" * 63, "Z" * 64, None])}
        elif kind == "blob-id" and siblings:
            rng.choice(siblings)["blobId"] = rng.choice(["../x", "1" * 39, 5])
        elif kind == "siblings-type":
            return {**data, "siblings": rng.choice(["files", {"a": 1}, 3])}
        elif kind == "entry-type" and siblings:
            siblings[rng.randrange(len(siblings))] = rng.choice(["gene.json", 4, None])
        elif kind == "body":
            return rng.choice([b"not json", b"[]", b"", b'{"sha": ', b"null"])
        data["siblings"] = siblings
        return data

    return f"info:{kind}", edit


def _mutate_tree(rng: random.Random, honest: dict[str, bytes]) -> tuple[str, Callable]:
    kind = rng.choice(["add", "drop", "rename", "size", "oid", "dir"])

    def edit(repo: str, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        items = [dict(i) for i in items]
        files = [i for i in items if i.get("type") == "file"]
        if kind == "add":
            items.append({"type": "file", "path": _traversal(rng), "size": 3, "oid": "1" * 40})
        elif kind == "drop" and files:
            items.remove(rng.choice(files))
        elif kind == "rename" and files:
            rng.choice(files)["path"] = rng.choice([_traversal(rng), *honest])
        elif kind == "size" and files:
            rng.choice(files)["size"] = rng.choice([0, 1, 10**9])
        elif kind == "oid" and files:
            entry = rng.choice(files)
            entry["oid"] = "2" * 40
            if entry.get("lfs"):
                entry["lfs"] = {**entry["lfs"], "oid": "3" * 64}
        elif kind == "dir" and files:
            rng.choice(files)["type"] = "directory"
        return items

    return f"tree:{kind}", edit


def _mutate_file(rng: random.Random, commits: list[str], honest: dict[str, bytes],
                 other: dict[str, bytes]) -> tuple[str, Callable]:
    kind = rng.choice(["flip", "truncate", "append", "swap", "other-gene", "empty", "x-repo-commit", "etag",
                       "linked-size", "linked-etag"])
    target = rng.choice(sorted(honest))

    def edit(repo: str, name: str, headers: dict[str, str], body: bytes) -> tuple[dict[str, str], bytes]:
        if name != target:
            return headers, body
        headers = dict(headers)
        if kind == "flip" and body:
            i = rng.randrange(len(body))
            body = body[:i] + bytes([body[i] ^ 1]) + body[i + 1:]
        elif kind == "truncate":
            body = body[: len(body) // 2]
        elif kind == "append":
            body = body + b"\n{}"
        elif kind == "swap":
            body = honest[rng.choice(sorted(honest))]
        elif kind == "other-gene":
            body = other.get(name, body)
        elif kind == "empty":
            body = b""
        elif kind == "x-repo-commit":
            headers["X-Repo-Commit"] = str(_bad_commit(rng, commits))
        elif kind == "etag":
            headers["ETag"] = f'"{rng.choice(["../../../../" + MARK, "0" * 40, "w"])}"'
        elif kind == "linked-size" and "X-Linked-Size" in headers:
            headers["X-Linked-Size"] = str(rng.choice([0, 1, 10**6]))
        elif kind == "linked-etag" and "X-Linked-Etag" in headers:
            headers["X-Linked-Etag"] = f'"{rng.choice(["../" + MARK, "4" * 64])}"'
        return headers, body

    return f"file:{kind}", edit


def _case(rng: random.Random, commits: list[str], honest: dict[str, bytes], other: dict[str, bytes],
          upper_commit: str) -> tuple[list[str], Lies, str, str]:
    """One case: (what the server does, its Lies, the spec pulled, the store's starting state)."""
    spec = rng.choice([REPO, REPO, f"{REPO}@v0.1.0", f"{REPO}@v0.2.0", f"{REPO}@main", f"{REPO}@{commits[0]}",
                       f"{REPO}@{commits[1]}"])
    state = rng.choice(["empty", "v1", "v2"])
    lies, what = Lies(), []
    for _ in range(rng.choice([0, 1, 1, 1, 2])):
        layer = rng.choice(["info", "info", "tree", "file", "file", "revision", "serve-as"])
        if layer == "info":
            label, lies.info = _mutate_info(rng, commits, honest)
        elif layer == "tree":
            label, lies.tree = _mutate_tree(rng, honest)
        elif layer == "file":
            label, lies.file = _mutate_file(rng, commits, honest, other)
        elif layer == "revision":
            lies.revisions = rng.choice([{"main": "v0.1.0"}, {"v0.2.0": "v0.1.0", "main": "v0.1.0"},
                                         {"main": upper_commit}, {commits[1]: commits[0]}])
            label = f"revision:{sorted(lies.revisions.items())}"
        else:
            lies.serve_as = {REPO: "alice/upper-gene"}
            label = "serve-as:alice/upper-gene"
        what.append(label)
    return what or ["honest"], lies, spec, state


def _escaped(case_root: Path) -> list[Path]:
    """Anything named like the fuzzer's traversal targets in the case folder or any of its ancestors."""
    found = [p for p in case_root.rglob(f"*{MARK}*")]
    for ancestor in list(case_root.parents)[:8]:
        found += list(ancestor.glob(f"*{MARK}*"))
    return found + list(Path("/tmp").glob(f"{MARK}*"))


def _files(root: Path, skip: tuple[Path, ...]) -> set[str]:
    return {str(p) for p in root.rglob("*") if not any(p == s or s in p.parents for s in skip)}


@pytest.mark.parametrize("hub_mode", ["lfs"], indirect=True)
def test_pull_from_a_lying_hub_installs_only_the_requested_gene(hub_server, registry_genes, tmp_path, capsys):
    from huggingface_hub.utils import disable_progress_bars, enable_progress_bars

    hub = HubRegistry(hub_server.url, retries=1, backoff=0.01)
    trust = TrustStore(tmp_path / "trust")
    trust.add("alice", registry_genes.keys["alice"].public)
    commits = [push(registry_genes.v1, REPO, registry=hub, trust=trust).revision,
               push(registry_genes.v2, REPO, registry=hub, trust=trust).revision]
    upper_commit = push(registry_genes.upper, "alice/upper-gene", registry=hub, trust=trust).revision
    published = {version: {p.name: p.read_bytes() for p in gene.iterdir()}
                 for version, gene in (("0.1.0", registry_genes.v1), ("0.2.0", registry_genes.v2))}
    honest = published["0.2.0"]
    other = {p.name: p.read_bytes() for p in registry_genes.upper.iterdir()}
    templates: dict[str, Path | None] = {"empty": None}
    for state, spec in (("v1", f"{REPO}@v0.1.0"), ("v2", f"{REPO}@v0.2.0")):
        store = GeneStore(tmp_path / "templates" / state)
        pull(spec, registry=hub, store=store, trust=trust)
        templates[state] = store.root

    rng = random.Random(SEED)
    outcomes: Counter[str] = Counter()
    layers: Counter[str] = Counter()
    start = time.monotonic()
    disable_progress_bars()
    try:
        for i in range(CASES):
            what, lies, spec, state = _case(rng, commits, honest, other, upper_commit)
            layers.update(w.split(":")[0] for w in what)
            case_root = tmp_path / "cases" / str(i)
            store_root = case_root / "store"
            case_root.mkdir(parents=True)
            if templates[state] is not None:
                shutil.copytree(templates[state], store_root, symlinks=True)
            store = GeneStore(store_root)
            installed_before = store.current(REPO)
            version_before = installed_before.version if installed_before is not None else None  # read before pull replaces it
            skip = (store_root, tmp_path / "hub-data")
            before = _files(tmp_path, skip)
            context = f"case {i}: pull {spec} from a store with {state}; server: {', '.join(what)}"
            hub_server.lie(lies)
            try:
                gene = pull(spec, registry=hub, store=store, trust=trust)
            except GenehubError as err:
                assert "\n" not in str(err), f"{context}: a multi-line error: {err}"
                outcomes[f"refused: {type(err).__name__}"] += 1
                gene = None
            finally:
                hub_server.lie(None)
            assert _escaped(case_root) == [], f"{context}: wrote outside the store"
            assert _files(tmp_path, skip) == before, f"{context}: wrote outside the store"
            assert not any((store_root / ".staging").glob("*")), f"{context}: left staging behind"
            if gene is not None:
                assert gene.path.resolve().parent == (store_root / "alice--sort-gene").resolve(), context
                result = verify_gene(gene.path, trust=trust, repo_id=REPO)
                files = {p.name: p.read_bytes() for p in gene.path.iterdir()}
                assert files == published.get(result.card["version"]), f"{context}: installed unpublished bytes"
                if version_before == "0.2.0" and result.card["version"] == "0.1.0":
                    assert spec in (f"{REPO}@v0.1.0", f"{REPO}@{commits[0]}"), f"{context}: a silent rollback"
                outcomes[f"installed {result.card['version']}"] += 1
            shutil.rmtree(case_root)
            assert time.monotonic() - start < BUDGET_S, f"over {BUDGET_S} s after {i + 1} cases"
    finally:
        enable_progress_bars()
    seconds = time.monotonic() - start
    with capsys.disabled():
        print(f"\nfuzz: {CASES} cases in {seconds:.1f} s; server lies by layer {dict(sorted(layers.items()))}; "
              f"outcomes {dict(sorted(outcomes.items()))}")
    assert sum(outcomes.values()) == CASES
    assert sum(n for k, n in outcomes.items() if k.startswith("refused")) >= CASES // 3  # the lies were caught
    assert outcomes["installed 0.2.0"] > 0  # and honest answers still install
