"""Gene sources for the Space: a folder of gene directories, or a registry (local or the Hub).

``open_source(spec)`` turns the ``--registry`` value into a source:

- a folder holding gene directories (``<gene>/gene.json`` or ``<owner>/<gene>/gene.json``): read in place;
- ``None``, ``local``, a local registry folder, ``hub`` or an ``http(s)://`` Hub endpoint: the registry's
  genes (repos tagged ``genehub``), each fetched at its head commit into the Space's cache. Fetching is
  not installing: the Space verifies every copy itself, and a gene it cannot fetch safely (pickles,
  escaping paths, oversize files) is listed as invalid with the reason.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
from pathlib import Path
from typing import Any

from .._paths import cache_dir
from ..errors import GenehubError, NotFoundError
from ..gene import CARD
from .catalog import DirectorySource, GeneRef, GeneSource

log = logging.getLogger(__name__)

GENE_TAG = "genehub"  # every gene's README carries it (genehub.gene.modelcard)


def _holds_gene_dirs(path: Path) -> bool:
    return (path / CARD).is_file() or any(path.glob(f"*/{CARD}")) or any(path.glob(f"*/*/{CARD}"))


class RegistrySource:
    """The genes of a registry, fetched (unverified) into ``cache/<registry>/<owner>--<name>/<commit>/``.

    Args:
        registry: a ``genehub.registry`` registry (``LocalRegistry`` or ``HubRegistry``).
        spec: how the user named it (for the pull command), e.g. ``hub`` or a folder; None = the default.
        cache: where fetched copies go (default ``cache_dir()/space``).
    """

    def __init__(self, registry: Any, *, spec: str | None = None, cache: str | Path | None = None) -> None:
        self.registry = registry
        self.spec = spec
        self.label = registry.location
        key = hashlib.sha256(registry.location.encode()).hexdigest()[:12]
        self.cache = Path(cache) if cache is not None else cache_dir() / "space" / key

    def pull_command(self, repo_id: str, commit: str | None) -> str:
        """The exact command that installs this revision of the gene."""
        spec = f"{repo_id}@{commit}" if commit else repo_id
        where = f" --registry {self.spec}" if self.spec and self.spec != "local" else ""
        return f"genehub pull {spec}{where}"

    def _fetch(self, repo_id: str, commit: str | None) -> Path:
        from ..registry.safety import check_files, check_tree, max_file_bytes

        snap = self.registry.snapshot(repo_id, commit)
        if snap is None:
            raise NotFoundError(f"{repo_id} has no commit yet.", hint="Push a gene to it first.")
        dest = self.cache / repo_id.replace("/", "--") / snap.commit
        if dest.is_dir():
            return dest
        limit = max_file_bytes()
        names = check_files(repo_id, snap.files, limit=limit)
        tmp = dest.with_name(f".{snap.commit}.tmp-{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        try:
            self.registry.download(snap, names, tmp)
            check_tree(repo_id, tmp, limit=limit)
            os.replace(tmp, dest)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return dest

    def refs(self) -> list[GeneRef]:
        refs = []
        for hit in sorted(self.registry.search(query=None, tags=[GENE_TAG]), key=lambda h: h.repo_id):
            try:
                path = self._fetch(hit.repo_id, hit.commit)
                problem = None
            except GenehubError as err:  # shown as an invalid gene, with the reason
                log.warning("cannot fetch %s: %s", hit.repo_id, err)
                path, problem = self.cache / ".unfetched" / hit.repo_id.replace("/", "--"), str(err)
            refs.append(GeneRef(hit.repo_id, path, self.pull_command(hit.repo_id, hit.commit), problem=problem))
        return refs


def open_source(spec: str | None, *, cache: str | Path | None = None) -> GeneSource:
    """The gene source for ``spec`` (see the module docstring); registry copies go under ``cache``.

    Raises:
        NotFoundError: a folder that does not exist.
    """
    from ..registry.select import open_registry

    remote = spec in (None, "local", "hub") or str(spec).startswith(("http://", "https://"))
    if not remote:
        path = Path(str(spec)).expanduser()
        if not path.is_dir():
            raise NotFoundError(f"Registry {path} does not exist.",
                                hint="Pass a folder of genes, a local registry folder, `hub`, or a Hub endpoint URL.",
                                path=str(path))
        if _holds_gene_dirs(path):
            return DirectorySource([path])
    return RegistrySource(open_registry(spec), spec=spec, cache=cache)
