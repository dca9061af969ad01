"""A registry that lies (issue 22): names, revisions and versions from a server or a registry file are hostile.

Each test plays one attack from The Update Framework's list (arbitrary path, mix-and-match, rollback,
substitution) against ``pull``/``push`` through the real client and a misbehaving loopback Hub
(``hubserver.Lies``) or a tampered local registry, and checks that nothing is written outside the store
and nothing is installed that is not the requested gene.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from genehub.errors import GenehubError, RegistryError, UnsafeFileError, VerificationError
from genehub.gene import SIGNATURE, verify_gene
from genehub.registry import GeneStore, LocalRegistry, list_installed, pull, push
from hubserver import Lies

REPO = "alice/sort-gene"


def _home() -> Path:
    return Path(os.environ["GENEHUB_HOME"])


def _files_under(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*")} if root.exists() else set()


def _planted(gene: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(gene.iterdir()) if p.is_file()}


@pytest.fixture
def hub(hub_server):
    from genehub.registry import HubRegistry

    return HubRegistry(hub_server.url, backoff=0.01, retries=1)


# ---- finding 1: a commit id or object id that is a path ----------------------------------------------

@pytest.mark.parametrize("hub_mode", ["lfs"], indirect=True)
@pytest.mark.parametrize("sha", ["../../escaped", "../escaped", "/tmp/genehub-escaped", "0" * 39, "A" * 40, ""])
def test_commit_id_reported_by_the_hub_cannot_name_a_path(hub_server, hub, registry_genes, trust_alice, sha):
    push(registry_genes.v1, REPO, registry=hub)
    hub_server.lie(Lies(info=lambda repo, data: {**data, "sha": sha}))
    with pytest.raises(RegistryError, match="not 40 hex characters"):
        pull(REPO, registry=hub)
    home, hf_home = _home(), Path(os.environ["HF_HOME"])
    assert not any("escaped" in name for name in _files_under(home) | _files_under(hf_home))
    assert not Path("/tmp/genehub-escaped").exists()
    assert list_installed() == [] and _files_under(GeneStore().root / ".staging") == set()


@pytest.mark.parametrize("hub_mode", ["lfs"], indirect=True)
def test_a_pinned_commit_must_be_the_commit_served(hub_server, hub, registry_genes, trust_alice):
    first = push(registry_genes.v1, REPO, registry=hub).revision
    second = push(registry_genes.v2, REPO, registry=hub).revision
    hub_server.lie(Lies(info=lambda repo, data: {**data, "sha": second}))
    with pytest.raises(RegistryError, match=f"asked for commit {first}, got {second}"):
        pull(f"{REPO}@{first}", registry=hub)
    assert list_installed() == []


def test_the_store_installs_only_under_a_commit_id(tmp_path, registry_genes):
    store = GeneStore(tmp_path / "store")
    staged = Path(shutil.copytree(registry_genes.v1, tmp_path / "staged"))
    card = json.loads((staged / "gene.json").read_text())
    with pytest.raises(RegistryError, match="not 40 hex"):
        store.install(staged, repo_id=REPO, revision="../../escaped", card=card, signer="alice",
                      fingerprint="sha256:x", registry="test")
    assert not (tmp_path / "escaped").exists() and not (tmp_path / "escaped.json").exists()
    assert staged.is_dir() and store.list() == []


@pytest.mark.parametrize("where", ["object", "refs"])
def test_local_registry_ids_read_from_its_files_cannot_name_a_path(tmp_path, registry_genes, trust_alice, where):
    reg = LocalRegistry(tmp_path / "registry")
    commit = push(registry_genes.v1, REPO, registry=reg).revision
    outside = tmp_path / "outside.json"
    outside.write_text('{"secret": true}\n')
    repo = tmp_path / "registry" / REPO
    if where == "object":  # the commit file points examples.jsonl at a file outside the registry
        record = json.loads((repo / "commits" / f"{commit}.json").read_text())
        record["files"]["examples.jsonl"]["sha256"] = "../../../../outside.json"
        (repo / "commits" / f"{commit}.json").write_text(json.dumps(record))
        match = "bad object id"
    else:  # main points at a "commit" outside the registry
        refs = json.loads((repo / "refs.json").read_text())
        refs["branches"]["main"] = "../../../../outside"
        (repo / "refs.json").write_text(json.dumps(refs))
        match = "names commit"
    with pytest.raises(RegistryError, match=match):
        pull(REPO, registry=reg)
    assert list_installed() == []
    assert _files_under(GeneStore().root / ".staging") == set()


# ---- finding 2: another gene, or an older version, under the requested name ---------------------------

def test_pull_refuses_another_gene_planted_under_the_name(backend, registry_genes, trust_alice):
    push(registry_genes.v1, REPO, registry=backend.registry)
    backend.plant(REPO, _planted(registry_genes.upper))  # alice's upper gene, served as her sort gene
    with pytest.raises(VerificationError, match="signed for alice/upper-gene, not alice/sort-gene"):
        pull(REPO, registry=backend.registry)
    assert list_installed() == []


@pytest.mark.parametrize("hub_mode", ["regular"], indirect=True)
def test_pull_refuses_a_hub_that_serves_another_repo(hub_server, hub, registry_genes, trust_alice):
    push(registry_genes.v1, REPO, registry=hub)
    push(registry_genes.upper, "alice/upper-gene", registry=hub)
    hub_server.lie(Lies(serve_as={REPO: "alice/upper-gene"}))
    with pytest.raises(VerificationError, match="signed for alice/upper-gene"):
        pull(REPO, registry=hub)
    assert list_installed() == []


def test_pull_refuses_a_rollback_unless_the_version_is_named(backend, registry_genes, trust_alice):
    push(registry_genes.v1, REPO, registry=backend.registry)
    push(registry_genes.v2, REPO, registry=backend.registry)
    assert pull(REPO, registry=backend.registry).version == "0.2.0"
    backend.plant(REPO, _planted(registry_genes.v1))  # main moves back to 0.1.0's bytes
    with pytest.raises(VerificationError, match="older than the installed 0.2.0: refusing a rollback"):
        pull(REPO, registry=backend.registry)
    assert [g.version for g in list_installed()] == ["0.2.0"]
    assert pull(f"{REPO}@v0.1.0", registry=backend.registry).version == "0.1.0"  # asked for by name


@pytest.mark.parametrize("hub_mode", ["lfs"], indirect=True)
def test_pull_refuses_a_moved_tag(hub_server, hub, registry_genes, trust_alice):
    push(registry_genes.v1, REPO, registry=hub)
    push(registry_genes.v2, REPO, registry=hub)
    hub_server.lie(Lies(revisions={"v0.2.0": "v0.1.0", "main": "v0.1.0"}))
    with pytest.raises(VerificationError, match="asked for v0.2.0, but the signed card says version 0.1.0"):
        pull(f"{REPO}@v0.2.0", registry=hub)
    assert list_installed() == []


def _sign_unbound(gene: Path, key: Path) -> None:
    """Sign with model_signing alone (no identity in the card), as genes were signed before issue 22."""
    from model_signing import signing

    from genehub.gene import hashing_config

    card = json.loads((gene / "gene.json").read_text())
    card.pop("identity", None)
    (gene / "gene.json").write_text(json.dumps(card, indent=2) + "\n")
    signing.Config().use_elliptic_key_signer(private_key=key).set_hashing_config(hashing_config()).sign(
        gene, gene / SIGNATURE)


def test_unbound_genes_are_neither_pushed_nor_pulled(backend, registry_genes, trust_alice, tmp_path):
    unbound = Path(shutil.copytree(registry_genes.v1, tmp_path / "unbound"))
    _sign_unbound(unbound, registry_genes.keys["alice"].private)
    assert verify_gene(unbound).repo_id is None  # a valid signature, bound to nothing
    with pytest.raises(VerificationError, match="signed without a repo id.*--repo-id alice/sort-gene"):
        push(unbound, REPO, registry=backend.registry)
    push(registry_genes.v1, REPO, registry=backend.registry)
    backend.plant(REPO, _planted(unbound))
    with pytest.raises(VerificationError, match="not bound to any repo"):
        pull(REPO, registry=backend.registry)
    assert list_installed() == []


def test_push_sends_a_gene_only_to_the_repo_it_is_signed_for(tmp_path, registry_genes, trust_alice):
    reg = LocalRegistry(tmp_path / "registry")
    with pytest.raises(VerificationError, match="signed for alice/sort-gene, not alice/other-gene"):
        push(registry_genes.v1, "alice/other-gene", registry=reg)
    assert not (tmp_path / "registry" / "alice" / "other-gene").exists()


def test_pull_refuses_a_fork_of_the_installed_version(tmp_path, registry_genes, trust_alice):
    from genehub.gene import load_card, sign_gene, write_gene

    reg = LocalRegistry(tmp_path / "registry")
    push(registry_genes.v1, REPO, registry=reg)
    pull(REPO, registry=reg)  # 0.1.0 installed
    other_v1 = write_gene(tmp_path / "other-v1", peft_model_or_adapter_dir=registry_genes.v1,
                          card={**load_card(registry_genes.v1), "summary": "another 0.1.0"},
                          examples=[{"prompt": "sort: 5 4", "answer": "4 5"}])
    sign_gene(other_v1, key=registry_genes.keys["alice"].private)
    fork = Path(shutil.copytree(registry_genes.v2, tmp_path / "fork"))
    sign_gene(fork, key=registry_genes.keys["alice"].private, previous=other_v1)
    with pytest.raises(RegistryError, match="has another 0.1.0"):  # push checks the chain it extends
        push(fork, REPO, registry=reg)
    # a compromised registry commits the fork behind push's back
    reg.commit(REPO, files={p.name: p for p in fork.iterdir()}, deleted=[], message="fork", parent=None)
    with pytest.raises(VerificationError, match="another history of this gene"):
        pull(REPO, registry=reg)
    assert [g.version for g in list_installed()] == ["0.1.0"]
    good = Path(shutil.copytree(registry_genes.v2, tmp_path / "good"))
    sign_gene(good, key=registry_genes.keys["alice"].private, previous=registry_genes.v1)
    reg.commit(REPO, files={p.name: p for p in good.iterdir()}, deleted=[], message="0.2.0", parent=None)
    assert pull(REPO, registry=reg).version == "0.2.0"  # the real successor


# ---- finding 6: a tampered installed copy, a poisoned HF cache ---------------------------------------

def test_pull_repairs_a_tampered_installed_copy(backend, registry_genes, trust_alice):
    push(registry_genes.v1, REPO, registry=backend.registry)
    gene = pull(REPO, registry=backend.registry)
    (gene.path / "examples.jsonl").write_text('{"prompt": "evil"}\n')
    with pytest.raises(VerificationError, match=r"examples\.jsonl differs.*genehub pull alice/sort-gene --repair"):
        pull(REPO, registry=backend.registry)
    repaired = pull(REPO, registry=backend.registry, repair=True)
    assert repaired.path == gene.path and verify_gene(repaired.path, repo_id=REPO).signer == "alice"
    assert (repaired.path / "examples.jsonl").read_bytes() == (registry_genes.v1 / "examples.jsonl").read_bytes()
    assert _files_under(GeneStore().root / ".staging") == set()


@pytest.mark.parametrize("hub_mode", ["lfs"], indirect=True)
def test_a_poisoned_hf_cache_neither_fails_a_pull_nor_survives_a_repair(hub_server, hub, registry_genes,
                                                                        trust_alice):
    from huggingface_hub import constants, hf_hub_download, scan_cache_dir

    def cached_repos() -> list[str]:  # the cache dir given explicitly: the client binds its default at import
        return [r.repo_id for r in scan_cache_dir(constants.HF_HUB_CACHE).repos]

    commit = push(registry_genes.v1, REPO, registry=hub).revision
    cached = Path(hf_hub_download(REPO, "examples.jsonl", revision=commit))  # as another tool would
    blob = cached.resolve()
    blob.write_text('{"prompt": "poisoned"}\n')
    gene = pull(REPO, registry=hub)  # genehub downloads to staging, never through the shared cache
    assert (gene.path / "examples.jsonl").read_bytes() == (registry_genes.v1 / "examples.jsonl").read_bytes()
    assert cached_repos() == [REPO]
    pull(REPO, registry=hub, repair=True)
    assert not blob.exists() and REPO not in cached_repos()


def test_errors_from_a_lying_registry_are_genehub_errors(tmp_path, registry_genes, trust_alice):
    """Garbage in a local registry's files gives one-line GenehubErrors, never a KeyError or JSON traceback."""
    reg = LocalRegistry(tmp_path / "registry")
    push(registry_genes.v1, REPO, registry=reg)
    for garbage in ("{", "[]", '{"branches": []}', '{"branches": {"main": 7}, "tags": {}}'):
        (tmp_path / "registry" / REPO / "refs.json").write_text(garbage)
        with pytest.raises(GenehubError) as err:
            pull(REPO, registry=reg)
        assert "\n" not in str(err.value) and isinstance(err.value, (RegistryError, UnsafeFileError))


@pytest.mark.parametrize("hub_mode", ["regular"], indirect=True)
def test_search_skips_rows_a_lying_hub_makes_up(hub_server, hub, registry_genes, trust_alice):
    from genehub.registry import search

    push(registry_genes.v1, REPO, registry=hub)
    made_up = [{"id": "../../escaped", "sha": "0" * 40, "tags": ["genehub"]}, {"id": "alice/x", "sha": "../x"}, "junk",
               {"id": "alice/x--y", "sha": "1" * 40}]
    hub_server.lie(Lies(models=lambda rows: rows + made_up))
    assert [h.repo_id for h in search(registry=hub)] == [REPO]
