"""Fetch a revision of a repo into staging: the one download path (``pull`` and the Space both use it).

``resolve`` asks the registry what a revision is (a checked commit id and file listing); ``fetch``
refuses an unsafe listing before a byte is downloaded, downloads into a fresh directory and checks what
was written. Verifying the signature is the caller's job: ``pull`` refuses an untrusted gene, the
Space shows it as such.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import RegistryError
from .base import Registry, Snapshot
from .safety import check_files, check_tree


def resolve(registry: Registry, repo_id: str, revision: str | None = None) -> Snapshot:
    """The snapshot ``revision`` names (default ``main``).

    Raises:
        RegistryError: the repo is empty, unknown, or the registry refused or lied (bad commit id).
    """
    snapshot = registry.snapshot(repo_id, revision)
    if snapshot is None:
        raise RegistryError(f"{repo_id} on {registry.location} is empty.", hint="Push a gene to it first.",
                            repo_id=repo_id, status=404)
    return snapshot


def fetch(registry: Registry, snapshot: Snapshot, dest: Path, *, limit: int) -> list[str]:
    """Download the files of ``snapshot`` into ``dest`` (an empty directory), checked before and after.

    Returns:
        The names downloaded (git metadata such as ``.gitattributes`` is left out).

    Raises:
        UnsafeFileError: escaping or duplicate paths, pickles, links, oversize or unlisted files.
        RegistryError: the registry failed or refused the download.
    """
    names = check_files(snapshot.repo_id, snapshot.files, limit=limit)
    dest.mkdir(parents=True, exist_ok=True)
    registry.download(snapshot, names, dest)
    check_tree(snapshot.repo_id, dest, limit=limit, expected=names)
    return names
