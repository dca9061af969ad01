"""The one interface both registries implement, and the records they return.

A registry stores repos of files with commits, a ``main`` branch and tags, and can list its repos with
their card metadata. :class:`~genehub.registry.hub.HubRegistry` talks to the Hugging Face Hub (or any
Hub-compatible endpoint); :class:`~genehub.registry.local.LocalRegistry` is a directory with the same
semantics. ``push``/``pull``/``search`` are written once against this interface.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._ids import check_repo_id


@dataclass(frozen=True)
class RemoteFile:
    """A file of a repo at one commit. ``sha256`` is known for LFS and local files, ``git_oid`` for git blobs."""

    path: str
    size: int
    sha256: str | None = None
    git_oid: str | None = None

    def same_content(self, local: Path) -> bool:
        """Whether the local file has the same bytes (by whichever digest the registry reported)."""
        data = local.read_bytes()
        if self.size != len(data):
            return False
        if self.sha256 is not None:
            return hashlib.sha256(data).hexdigest() == self.sha256
        if self.git_oid is not None:
            return git_blob_oid(data) == self.git_oid
        return False


@dataclass(frozen=True)
class Snapshot:
    """A resolved revision of a repo: its commit id and its files."""

    repo_id: str
    commit: str
    files: tuple[RemoteFile, ...]

    def by_path(self) -> dict[str, RemoteFile]:
        return {f.path: f for f in self.files}


@dataclass(frozen=True)
class RepoHit:
    """A repo that matched a search, with the card metadata (README YAML) of its head."""

    repo_id: str
    commit: str | None
    metadata: dict[str, Any] = field(default_factory=dict)
    tags: tuple[str, ...] = ()


def git_blob_oid(data: bytes) -> str:
    """The git object id of a blob (what the Hub reports for regular files)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def split_revision(spec: str) -> tuple[str, str | None]:
    """``"owner/name@rev"`` -> ``("owner/name", "rev")``; no ``@`` -> revision None."""
    repo_id, _, revision = spec.partition("@")
    return check_repo_id(repo_id), (revision or None)


class Registry(ABC):
    """Repos of files with commits, a ``main`` branch and tags. All methods are blocking."""

    #: how the registry is shown to users (an URL or a directory)
    location: str

    @property
    def offline(self) -> bool:
        """Whether the registry is out of reach by the user's choice (the Hub under ``HF_HUB_OFFLINE``)."""
        return False

    def downloads(self, repo_id: str) -> int | None:
        """How many times the registry counted ``repo_id`` downloaded, or None when it does not count them."""
        return None

    def purge_cache(self, repo_id: str) -> list[str]:
        """Drop cached copies of ``repo_id`` that no longer match their digests; returns what was removed."""
        return []

    @abstractmethod
    def ensure_repo(self, repo_id: str) -> None:
        """Create the repo if it does not exist (an existing one is fine)."""

    @abstractmethod
    def snapshot(self, repo_id: str, revision: str | None = None) -> Snapshot | None:
        """The commit ``revision`` (branch, tag or commit; default ``main``) names, or None for an empty repo.

        Raises:
            NotFoundError: no such repo or revision.
        """

    @abstractmethod
    def commit(self, repo_id: str, *, files: dict[str, Path], deleted: list[str], message: str,
               parent: str | None) -> str:
        """Add/replace ``files`` (path in repo -> local file) and delete ``deleted`` on ``main`` in one commit.

        Returns:
            The new commit id.
        """

    @abstractmethod
    def tags(self, repo_id: str) -> dict[str, str]:
        """``{tag: commit}``."""

    @abstractmethod
    def create_tag(self, repo_id: str, tag: str, commit: str) -> None:
        """Tag ``commit``; a tag that exists raises RegistryError(status=409)."""

    @abstractmethod
    def download(self, snapshot: Snapshot, names: list[str], dest: Path) -> None:
        """Write the files ``names`` of ``snapshot`` under ``dest`` (a fresh directory)."""

    @abstractmethod
    def read(self, repo_id: str, commit: str, name: str) -> bytes:
        """The bytes of one (small) file at ``commit``."""

    @abstractmethod
    def search(self, *, query: str | None, tags: list[str]) -> list[RepoHit]:
        """Repos whose id contains ``query`` and whose tags include every one of ``tags``."""
