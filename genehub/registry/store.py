"""The gene store: verified genes installed on this machine, under ``home_dir()/genes``.

Layout::

    genes/OWNER--NAME/<commit>/        the gene directory, exactly as signed (never modified)
    genes/OWNER--NAME/<commit>.json    the install record (repo, revision, registry, signer)
    genes/OWNER--NAME/current          symlink to the installed <commit> (swapped atomically)
    genes/OWNER--NAME/.lock            serialises installs of that repo
    genes/.staging/<pid>-<id>/         downloads in progress (never read as installed genes)

A download lands in ``.staging`` and is checked and verified there; installing is one ``rename`` of the
verified directory plus one atomic symlink swap, under the repo's lock, so readers see the old gene or
the new one and two concurrent pulls end with one copy. Staging left by a killed process is deleted
the next time the store is used. A revision is a 40-hex commit id, checked (and the path it names
resolved inside the repo's folder) before anything is written or read: a registry that answers
``../../x`` as a commit cannot place files outside the store.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from .._ids import check_commit, is_commit
from .._paths import home_dir
from .._staging import inside, replace_dir
from ..errors import NotFoundError
from ..gene import Gene
from ._fs import atomic_write, file_lock
from .base import check_repo_id

STAGING = ".staging"


@dataclass(frozen=True)
class InstalledGene:
    """A gene in the store: its install record (where it came from, who signed it) and the :class:`Gene`.

    ``os.fspath(installed)`` is its directory (loadable with ``PeftModel.from_pretrained``).
    """

    repo_id: str
    revision: str  # the registry commit it was installed from
    path: Path
    signer: str
    fingerprint: str
    registry: str

    @cached_property
    def gene(self) -> Gene:
        """The installed gene (its card read on first use)."""
        return Gene.load(self.path)

    @property
    def name(self) -> str:
        return self.gene.name

    @property
    def version(self) -> str:
        return self.gene.version

    @property
    def skill(self) -> str:
        return self.gene.skill

    def __fspath__(self) -> str:
        return str(self.path)

    def to_dict(self) -> dict[str, Any]:
        return {"repo_id": self.repo_id, "revision": self.revision, "path": str(self.path), "name": self.name,
                "version": self.version, "skill": self.skill, "signer": self.signer,
                "fingerprint": self.fingerprint, "registry": self.registry}


def slug(repo_id: str) -> str:
    return check_repo_id(repo_id).replace("/", "--")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class GeneStore:
    """Installed genes in a directory (default ``home_dir()/genes``)."""

    def __init__(self, root: str | Path | None = None) -> None:
        self.root = Path(root) if root is not None else home_dir() / "genes"

    def __repr__(self) -> str:
        return f"GeneStore({str(self.root)!r})"

    def collect_garbage(self) -> list[Path]:
        """Delete staging directories whose process is gone; returns what was deleted."""
        removed = []
        for entry in sorted((self.root / STAGING).glob("*")):
            pid = entry.name.split("-", 1)[0]
            if pid.isdigit() and not _alive(int(pid)):
                shutil.rmtree(entry, ignore_errors=True)
                removed.append(entry)
        return removed

    @contextlib.contextmanager
    def staging(self) -> Iterator[Path]:
        """A fresh staging directory on the store's filesystem, deleted afterwards unless installed."""
        self.collect_garbage()
        path = self.root / STAGING / f"{os.getpid()}-{uuid.uuid4().hex}"
        path.mkdir(parents=True)
        try:
            yield path
        finally:
            shutil.rmtree(path, ignore_errors=True)

    def install(self, staged: Path, *, repo_id: str, revision: str, card: dict[str, Any], signer: str,
                fingerprint: str, registry: str, replace: bool = False) -> InstalledGene:
        """Move a verified gene directory into place as the current version of ``repo_id``.

        Args:
            replace: swap ``staged`` in even when this commit is installed already (a repair of a copy
                that no longer verifies); otherwise an existing copy of the commit is kept.
        """
        check_commit(revision, source=registry)
        repo_dir = self.root / slug(repo_id)
        repo_dir.mkdir(parents=True, exist_ok=True)
        final = inside(repo_dir, revision)
        # name, version and skill are for a person reading the record; the installed gene's card is the truth.
        record = {"repo_id": repo_id, "revision": revision, "name": card["name"], "version": card["version"],
                  "skill": card["skill"], "signer": signer, "fingerprint": fingerprint, "registry": registry}
        with file_lock(repo_dir / ".lock"):
            atomic_write(inside(repo_dir, f"{revision}.json"), json.dumps(record, indent=1, sort_keys=True).encode())
            if replace:
                replace_dir(staged, final)
            elif not final.is_dir():  # else another pull installed this very commit first: keep that copy
                os.rename(staged, final)
            link = repo_dir / f".current-{uuid.uuid4().hex}"
            os.symlink(revision, link)
            os.replace(link, repo_dir / "current")
            for old in repo_dir.iterdir():  # older versions: nobody points at them any more
                if old.name not in (revision, f"{revision}.json", "current", ".lock") and not old.name.startswith(".current-"):
                    shutil.rmtree(old) if old.is_dir() and not old.is_symlink() else old.unlink()
        return self._read(repo_dir)

    def _read(self, repo_dir: Path) -> InstalledGene | None:
        current = repo_dir / "current"
        if not current.is_symlink():
            return None
        revision = os.readlink(current)
        if not is_commit(revision):  # only install() writes this link, and only to a commit id
            return None
        record_file = repo_dir / f"{revision}.json"
        if not (repo_dir / revision).is_dir() or not record_file.is_file():
            return None
        record = json.loads(record_file.read_text(encoding="utf-8"))
        return InstalledGene(repo_id=record["repo_id"], revision=record["revision"], path=repo_dir / revision,
                             signer=record["signer"], fingerprint=record["fingerprint"], registry=record["registry"])

    def current(self, repo_id: str) -> InstalledGene | None:
        """The installed version of ``repo_id`` (exactly that repo, not a gene name), or None."""
        return self._read(self.root / slug(repo_id))

    def list(self) -> list[InstalledGene]:
        """The installed genes, sorted by repo id."""
        if not self.root.is_dir():
            return []
        self.collect_garbage()
        found = (self._read(d) for d in sorted(self.root.iterdir()) if d.is_dir() and not d.name.startswith("."))
        return [g for g in found if g is not None]

    def get(self, name: str) -> InstalledGene:
        """An installed gene by repo id (``owner/name``) or gene name.

        Raises:
            NotFoundError: not installed, or the gene name is ambiguous.
        """
        installed = self.list()
        matches = [g for g in installed if name in (g.repo_id, slug(g.repo_id))] or \
            [g for g in installed if g.name == name]
        if len(matches) != 1:
            what = "is not installed" if not matches else f"is ambiguous ({', '.join(g.repo_id for g in matches)})"
            raise NotFoundError(
                f"Gene {name!r} {what} in {self.root}.",
                hint="See installed genes with `genehub list`; pull one with `genehub pull REPO_ID`.",
                path=str(self.root),
            )
        return matches[0]

    def remove(self, name: str) -> InstalledGene:
        """Uninstall a gene (every version of its repo); returns what was removed."""
        gene = self.get(name)
        _ = gene.gene  # read its card now: the caller may want its name and version after the files are gone
        repo_dir = self.root / slug(gene.repo_id)
        with file_lock(repo_dir / ".lock"):
            (repo_dir / "current").unlink(missing_ok=True)  # first: from now on it reads as not installed
            for entry in repo_dir.iterdir():
                if entry.name != ".lock":
                    shutil.rmtree(entry) if entry.is_dir() and not entry.is_symlink() else entry.unlink()
        shutil.rmtree(repo_dir, ignore_errors=True)
        return gene
