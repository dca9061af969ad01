"""The state of the loopback Hub: repos, commits, branches, tags and content-addressed blobs on disk.

Honest by construction: a file's bytes are stored under their sha256 exactly as the client sent them,
and served back from there. Commit ids are fresh 40-hex values (sha1 of the commit's content plus a
counter), so two commits never share an id.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import itertools
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_counter = itertools.count()


def git_blob_oid(data: bytes) -> str:
    """The git object id of a blob (what the Hub reports as a regular file's ``oid``)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def lfs_pointer(sha256: str, size: int) -> bytes:
    return f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {size}\n".encode()


def now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


@dataclass(frozen=True)
class Entry:
    """One file of a commit."""

    sha256: str
    size: int
    git_oid: str
    lfs: bool

    def tree_json(self, path: str) -> dict[str, Any]:
        item: dict[str, Any] = {"type": "file", "path": path, "size": self.size}
        if self.lfs:
            pointer = lfs_pointer(self.sha256, self.size)
            item["oid"] = git_blob_oid(pointer)
            item["lfs"] = {"oid": self.sha256, "size": self.size, "pointerSize": len(pointer)}
        else:
            item["oid"] = self.git_oid
        return item


@dataclass
class Commit:
    oid: str
    parent: str | None
    title: str
    description: str
    date: str
    files: dict[str, Entry]


@dataclass
class Repo:
    repo_id: str
    private: bool
    created: str
    commits: dict[str, Commit] = field(default_factory=dict)
    branches: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)

    def resolve(self, rev: str) -> Commit | None:
        oid = self.branches.get(rev) or self.tags.get(rev) or rev
        if oid in self.commits:
            return self.commits[oid]
        if re.fullmatch(r"[0-9a-f]{7,40}", rev):
            found = [c for o, c in self.commits.items() if o.startswith(rev)]
            return found[0] if len(found) == 1 else None
        return None

    @property
    def head(self) -> Commit:
        return self.commits[self.branches["main"]]


class Conflict(Exception):
    """An operation that the Hub answers with 409 (or 412 with ``status``)."""

    def __init__(self, message: str, status: int = 409) -> None:
        super().__init__(message)
        self.status = status


class HubStore:
    """Repos in memory, blob bytes on disk under ``root/blobs/<sha256>``."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        (self.root / "blobs").mkdir(parents=True, exist_ok=True)
        self.repos: dict[str, Repo] = {}
        self.lock = threading.RLock()

    # blobs
    def blob_path(self, sha256: str) -> Path:
        return self.root / "blobs" / sha256

    def has_blob(self, sha256: str) -> bool:
        return self.blob_path(sha256).is_file()

    def put_blob(self, data: bytes) -> str:
        sha = hashlib.sha256(data).hexdigest()
        path = self.blob_path(sha)
        if not path.exists():
            tmp = path.with_suffix(f".tmp{next(_counter)}")
            tmp.write_bytes(data)
            tmp.replace(path)
        return sha

    # repos
    def create_repo(self, repo_id: str, *, private: bool) -> Repo:
        with self.lock:
            if repo_id in self.repos:
                raise Conflict("You already created this model repo")
            repo = Repo(repo_id, private, now())
            self.repos[repo_id] = repo
            attrs = b"*.safetensors filter=lfs diff=lfs merge=lfs -text\n"
            self.commit(repo, "main", "initial commit", "", files={".gitattributes": attrs}, lfs_files={}, deleted=[])
            return repo

    def commit(self, repo: Repo, branch: str, title: str, description: str, *, files: dict[str, bytes],
               lfs_files: dict[str, tuple[str, int]], deleted: list[str], parent: str | None = None) -> Commit:
        """Apply one commit to ``branch``; ``lfs_files`` maps path -> (sha256, size) of uploaded blobs."""
        with self.lock:
            head = repo.branches.get(branch)
            if parent is not None and parent != head:
                raise Conflict(f"Parent commit {parent} is not the head of {branch} ({head})", status=412)
            tree = dict(repo.commits[head].files) if head else {}
            for path in deleted:
                for name in [p for p in tree if p == path or p.startswith(path.rstrip("/") + "/")]:
                    del tree[name]
            for path, data in files.items():
                tree[path] = Entry(self.put_blob(data), len(data), git_blob_oid(data), lfs=False)
            for path, (sha, size) in lfs_files.items():
                if not self.has_blob(sha) or self.blob_path(sha).stat().st_size != size:
                    raise Conflict(f"LFS object {sha} of {path} was not uploaded", status=422)
                data = self.blob_path(sha).read_bytes()
                tree[path] = Entry(sha, size, git_blob_oid(data), lfs=True)
            date = now()
            seed = f"{repo.repo_id}\n{head}\n{title}\n{date}\n{next(_counter)}\n{sorted(tree.items())}"
            oid = hashlib.sha1(seed.encode()).hexdigest()
            commit = Commit(oid, head, title, description, date, tree)
            repo.commits[oid] = commit
            repo.branches[branch] = oid
            return commit
