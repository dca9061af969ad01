"""The local registry: a directory with the Hub's semantics (commits, ``main``, tags, search), no account.

Layout (default root ``home_dir()/registry``)::

    OWNER/NAME/objects/<sha256>        file contents, content-addressed (a re-push writes no new object)
    OWNER/NAME/commits/<commit>.json   {"parent", "message", "date", "files": {path: {"sha256", "size"}}}
    OWNER/NAME/refs.json               {"branches": {"main": commit}, "tags": {"v0.1.0": commit}}
    OWNER/NAME/.lock                   serialises writers (commits, tags)

Commit ids are 40-hex like the Hub's. Every id read back from a file (a commit in ``refs.json``, an
object id in a commit) is checked to be a hex digest before it names a path. Search reads the head commit's README metadata and derives the
same tags the Hub shows (``license:...``, ``base_model:...``), so filters mean the same on both.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Any

from .._ids import is_commit, is_repo_id, is_sha256
from .._paths import home_dir
from .._staging import inside
from ..errors import RegistryError
from ._fs import atomic_write, file_lock
from .base import Registry, RemoteFile, RepoHit, Snapshot, check_repo_id


def card_metadata(readme: bytes | None) -> dict[str, Any]:
    """The YAML front matter of a README (the Hub's ``cardData``); {} when absent or unreadable."""
    import re

    import yaml

    if not readme:
        return {}
    match = re.match(r"^---\s*\n(.*?)\n---\s*\n", readme.decode("utf-8", "replace"), re.S)
    try:
        data = yaml.safe_load(match.group(1)) if match else None
    except yaml.YAMLError:
        return {}
    return data if isinstance(data, dict) else {}


def hub_tags(metadata: dict[str, Any]) -> list[str]:
    """The tags the Hub derives from card metadata: its ``tags`` plus ``license:`` and ``base_model:`` tags."""
    tags = [str(t) for t in metadata.get("tags") or []]
    if metadata.get("license"):
        tags.append(f"license:{metadata['license']}")
    base = metadata.get("base_model")
    if base:
        tags.append(f"base_model:{base}")
        if metadata.get("base_model_relation"):
            tags.append(f"base_model:{metadata['base_model_relation']}:{base}")
    return tags


class LocalRegistry(Registry):
    """A registry in a directory.

    Example:
        >>> reg = LocalRegistry(tmp_path / "registry")
        >>> push("genes/sort", "me/sort-gene", registry=reg)
    """

    def __init__(self, root: str | Path | None = None) -> None:
        self.root = Path(root) if root is not None else home_dir() / "registry"
        self.location = str(self.root)

    def __repr__(self) -> str:
        return f"LocalRegistry({self.location!r})"

    def _repo(self, repo_id: str, *, must_exist: bool = True) -> Path:
        path = self.root / check_repo_id(repo_id)
        if must_exist and not (path / "refs.json").is_file():
            raise RegistryError(
                f"No repo {repo_id} in the local registry {self.root}.",
                hint="Check the id with `genehub search`, or push it first with `genehub push DIR REPO_ID`.",
                repo_id=repo_id, status=404,
            )
        return path

    def _read_json(self, path: Path, repo_id: str) -> Any:
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError):
            raise self._corrupt(repo_id, f"has an unreadable {path.name}") from None

    def _refs(self, repo: Path, repo_id: str | None = None) -> dict[str, dict[str, str]]:
        repo_id = repo_id or f"{repo.parent.name}/{repo.name}"
        refs = self._read_json(repo / "refs.json", repo_id)
        if not isinstance(refs, dict) or not all(isinstance(refs.get(k), dict) for k in ("branches", "tags")):
            raise self._corrupt(repo_id, "has malformed refs")
        return refs

    def ensure_repo(self, repo_id: str) -> None:
        repo = self._repo(repo_id, must_exist=False)
        with file_lock(repo / ".lock"):
            if not (repo / "refs.json").is_file():
                (repo / "objects").mkdir(parents=True, exist_ok=True)
                (repo / "commits").mkdir(exist_ok=True)
                atomic_write(repo / "refs.json", json.dumps({"branches": {}, "tags": {}}).encode())

    def _corrupt(self, repo_id: str, what: str) -> RegistryError:
        return RegistryError(f"The local registry {self.root} is corrupt: {repo_id} {what}. Nothing was read from it.",
                             hint="Do not use this registry copy; push the gene again to a fresh one.",
                             repo_id=repo_id)

    def _resolve(self, repo: Path, repo_id: str, revision: str) -> str | None:
        refs = self._refs(repo)
        if revision == "main" and "main" not in refs["branches"]:
            return None
        named = refs["branches"].get(revision) or refs["tags"].get(revision)
        if named is not None and not is_commit(named):
            raise self._corrupt(repo_id, f"names commit {str(named)[:80]!r} for {revision!r}")
        commit = named or revision
        if not is_commit(commit) or not (repo / "commits" / f"{commit}.json").is_file():
            raise RegistryError(
                f"{repo_id} has no revision {revision!r} in the local registry {self.root}.",
                hint=f"See its tags with `genehub info {repo_id}`.", repo_id=repo_id, status=404,
            )
        return commit

    def snapshot(self, repo_id: str, revision: str | None = None) -> Snapshot | None:
        repo = self._repo(repo_id)
        commit = self._resolve(repo, repo_id, revision or "main")
        if commit is None:
            return None
        data = self._read_json(repo / "commits" / f"{commit}.json", repo_id)
        entries = data.get("files") if isinstance(data, dict) else None
        if not isinstance(entries, dict):
            raise self._corrupt(repo_id, f"commit {commit} has no file list")
        files = []
        for path, f in sorted(entries.items()):
            size, sha = (f.get("size"), f.get("sha256")) if isinstance(f, dict) else (None, None)
            if not is_sha256(sha) or not isinstance(size, int) or isinstance(size, bool) or size < 0:
                raise self._corrupt(repo_id, f"commit {commit} lists {str(path)[:80]!r} with a bad object id or size")
            files.append(RemoteFile(path, size, sha256=sha))
        return Snapshot(repo_id, commit, tuple(files))

    def commit(self, repo_id: str, *, files: dict[str, Path], deleted: list[str], message: str,
               parent: str | None) -> str:
        repo = self._repo(repo_id)
        with file_lock(repo / ".lock"):
            refs = self._refs(repo)
            head = refs["branches"].get("main")
            if parent is not None and parent != head:
                raise RegistryError(
                    f"{repo_id} changed while pushing (main is now {head}).",
                    hint="Push again.", repo_id=repo_id, status=412,
                )
            tree: dict[str, dict[str, Any]] = {}
            if head:
                if not is_commit(head):
                    raise self._corrupt(repo_id, f"has main at {str(head)[:80]!r}")
                tree = dict(self._read_json(repo / "commits" / f"{head}.json", repo_id)["files"])
            for path in deleted:
                tree.pop(path, None)
            for path, local in files.items():
                data = Path(local).read_bytes()
                sha = hashlib.sha256(data).hexdigest()
                if not (repo / "objects" / sha).is_file():
                    atomic_write(repo / "objects" / sha, data)
                tree[path] = {"sha256": sha, "size": len(data)}
            date = _dt.datetime.now(_dt.timezone.utc).isoformat()
            record = {"parent": head, "message": message, "date": date, "files": tree}
            commit = hashlib.sha1(f"{json.dumps(record, sort_keys=True)}\n{uuid.uuid4()}".encode()).hexdigest()
            atomic_write(repo / "commits" / f"{commit}.json", json.dumps(record, indent=1, sort_keys=True).encode())
            refs["branches"]["main"] = commit
            atomic_write(repo / "refs.json", json.dumps(refs, indent=1, sort_keys=True).encode())
            return commit

    def tags(self, repo_id: str) -> dict[str, str]:
        return {t: c for t, c in self._refs(self._repo(repo_id))["tags"].items() if is_commit(c)}

    def create_tag(self, repo_id: str, tag: str, commit: str) -> None:
        repo = self._repo(repo_id)
        with file_lock(repo / ".lock"):
            refs = self._refs(repo)
            if tag in refs["tags"]:
                raise RegistryError(
                    f"{repo_id} already has tag {tag}.",
                    hint="Bump the gene's version in gene.json, re-sign it and push again.",
                    repo_id=repo_id, status=409,
                )
            refs["tags"][tag] = commit
            atomic_write(repo / "refs.json", json.dumps(refs, indent=1, sort_keys=True).encode())

    def _object(self, repo_id: str, sha: str | None) -> Path:
        if not is_sha256(sha):
            raise self._corrupt(repo_id, f"names object {str(sha)[:80]!r}, which is not a sha256 digest")
        objects = self._repo(repo_id) / "objects"
        path = inside(objects, sha)  # type: ignore[arg-type]
        if not path.is_file():
            raise RegistryError(f"The local registry lost object {sha} of {repo_id}.",
                                hint="Push the gene again.", repo_id=repo_id)
        return path

    def download(self, snapshot: Snapshot, names: list[str], dest: Path) -> None:
        by_path = snapshot.by_path()
        for name in names:
            target = inside(dest, name)
            target.parent.mkdir(parents=True, exist_ok=True)
            source = self._object(snapshot.repo_id, by_path[name].sha256)
            with open(source, "rb") as src, open(target, "wb") as out:  # copy, never link: a gene store is its own
                shutil.copyfileobj(src, out, 1 << 20)
                out.flush()
                os.fsync(out.fileno())

    def read(self, repo_id: str, commit: str, name: str) -> bytes:
        snap = self.snapshot(repo_id, commit)
        entry = snap.by_path().get(name) if snap else None
        if entry is None:
            raise RegistryError(f"{repo_id}@{commit} has no file {name}.", hint="Is it a genehub gene?",
                                repo_id=repo_id, status=404)
        return self._object(repo_id, entry.sha256).read_bytes()

    def search(self, *, query: str | None, tags: list[str]) -> list[RepoHit]:
        hits = []
        for refs in sorted(self.root.glob("*/*/refs.json")):
            repo_id = f"{refs.parent.parent.name}/{refs.parent.name}"
            if not is_repo_id(repo_id) or query and query.lower() not in repo_id.lower():
                continue
            snap = self.snapshot(repo_id)
            if snap is None:
                continue
            readme = self.read(repo_id, snap.commit, "README.md") if "README.md" in snap.by_path() else None
            metadata = card_metadata(readme)
            repo_tags = hub_tags(metadata)
            if all(t in repo_tags for t in tags):
                hits.append(RepoHit(repo_id, snap.commit, metadata, tuple(repo_tags)))
        return hits
