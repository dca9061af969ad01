"""Gene sources for the Space: a folder of gene directories, or a registry (local or the Hub).

``open_source(spec)`` turns the ``--registry`` value into a source:

- a folder holding gene directories (``<gene>/gene.json`` or ``<owner>/<gene>/gene.json``): read in place;
- ``None``, ``local``, a local registry folder, ``hub`` or an ``http(s)://`` Hub endpoint: the genes that
  :func:`genehub.registry.search` finds there, each fetched at the commit search reports into the Space's
  cache. Fetching is not installing (:func:`genehub.registry.pull` would refuse an untrusted gene, which
  the Space still shows): the Space verifies every copy itself, and a gene it cannot fetch safely
  (pickles, escaping paths, oversize files) is listed as invalid with the reason.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

from .._ids import check_commit
from .._paths import cache_dir
from .._staging import inside, staged_dir
from ..errors import GenehubError, NotFoundError
from ..gene import CARD, TrustStore
from ..registry import Registry, open_registry, search
from .catalog import DirectorySource, GeneSource, Listing, Version

log = logging.getLogger(__name__)


def _holds_gene_dirs(path: Path) -> bool:
    return (path / CARD).is_file() or any(path.glob(f"*/{CARD}")) or any(path.glob(f"*/*/{CARD}"))


class RegistrySource:
    """The genes of a registry, fetched (unverified) into ``cache/<owner>--<name>/<commit>/``.

    Args:
        registry: a registry, or how to name one (``local``, ``hub``, an URL, a folder; see
            :func:`genehub.registry.open_registry`).
        spec: how the user named it, for the pull command (default: ``registry`` itself when it is a
            string, else its location).
        cache: where fetched copies go (default ``cache_dir()/space/<hash of the registry's location>``).
        trust: the trust store search names signers with (the catalog verifies with its own).
    """

    def __init__(self, registry: Registry | str | None, *, spec: str | None = None, cache: str | Path | None = None,
                 trust: TrustStore | None = None) -> None:
        self.registry = open_registry(registry)
        if spec is None:  # how `genehub pull` reaches the same registry
            spec = registry if isinstance(registry, str) or registry is None else self.registry.location
        self.spec = spec
        self.trust = trust
        self.label = self.registry.location
        key = hashlib.sha256(self.registry.location.encode()).hexdigest()[:12]
        self.cache = Path(cache) if cache is not None else cache_dir() / "space" / key

    def pull_command(self, repo_id: str, commit: str | None) -> str:
        """The exact command that installs this revision of the gene."""
        spec = f"{repo_id}@{commit}" if commit else repo_id
        where = f" --registry {self.spec}" if self.spec and self.spec != "local" else ""
        return f"genehub pull {spec}{where}"

    def fetch(self, repo_id: str, commit: str) -> Path:
        """The files of ``repo_id`` at ``commit`` in the cache (downloaded once per commit, never verified here).

        Fetched exactly as :func:`genehub.registry.pull` fetches (one path: listing checked before a byte
        is downloaded, the download checked again), into staging swapped into the cache whole.

        Raises:
            UnsafeFileError: pickles, escaping paths, links or oversize files.
            RegistryError / NotFoundError: the registry refused, lied, or has no such commit.
        """
        # Not re-exported by genehub.registry: the fetch pull runs, shared so the Space refuses the same files.
        from ..registry.fetch import fetch, resolve
        from ..registry.safety import max_file_bytes
        from ..registry.store import slug

        dest = inside(self.cache, f"{slug(repo_id)}/{check_commit(commit, source=self.label)}")
        if dest.is_dir():
            return dest
        snap = resolve(self.registry, repo_id, commit)
        with staged_dir(dest) as tmp:
            fetch(self.registry, snap, tmp, limit=max_file_bytes())
        return dest

    def versions(self, repo_id: str, *, limit: int = 20) -> list[Version]:
        """The released versions of ``repo_id``: each ``v<semver>`` tag with what its card claims, newest first.

        Read, not verified (only the revision the catalog fetched is): a version whose card cannot be read
        is listed with its tag and commit alone. Errors of the registry give an empty history.
        """
        from .._ids import version_key

        try:
            tags = self.registry.tags(repo_id)
        except GenehubError as err:
            log.warning("cannot list the tags of %s: %s", repo_id, err)
            return []
        released = []
        for tag, commit in tags.items():
            try:
                released.append((version_key(tag[1:]), tag, commit))
            except GenehubError:  # not a version tag
                continue
        found = []
        for _, tag, commit in sorted(released, reverse=True)[:limit]:
            found.append(Version(tag[1:], commit, **self._claims(repo_id, commit)))
        return found

    def _claims(self, repo_id: str, commit: str) -> dict[str, str]:
        """The date and summary the card at ``commit`` states (strings, shortened; empty when unreadable)."""
        try:
            card = json.loads(self.registry.read(repo_id, commit, CARD))
        except (GenehubError, ValueError):
            return {}
        if not isinstance(card, dict):
            return {}
        lineage = card.get("lineage") if isinstance(card.get("lineage"), dict) else {}
        created, summary = lineage.get("created"), card.get("summary")
        return {"created": created[:40] if isinstance(created, str) else "",
                "summary": summary[:200] if isinstance(summary, str) else ""}

    def downloads(self, repo_id: str) -> int | None:
        """The registry's download count of ``repo_id`` (None: not counted, or not reachable now)."""
        try:
            return self.registry.downloads(repo_id)
        except GenehubError as err:
            log.warning("cannot read the download count of %s: %s", repo_id, err)
            return None

    def listings(self) -> list[Listing]:
        found = []
        for hit in search(registry=self.registry, trust=self.trust):
            try:
                path, problem = self.fetch(hit.repo_id, hit.revision), None
            except GenehubError as err:  # shown as an invalid gene, with the reason
                log.warning("cannot fetch %s: %s", hit.repo_id, err)
                path, problem = self.cache / ".unfetched" / hit.repo_id.replace("/", "--"), str(err)
            found.append(Listing(hit.repo_id, path, self.pull_command(hit.repo_id, hit.revision), problem=problem,
                                 revision=hit.revision))
        return found


def open_source(spec: Registry | str | None, *, cache: str | Path | None = None,
                trust: TrustStore | None = None) -> GeneSource:
    """The gene source for ``spec`` (see the module docstring); registry copies go under ``cache``.

    Raises:
        NotFoundError: a folder that does not exist.
        UsageError: a mistyped URL (see :func:`genehub.registry.open_registry`).
    """
    if isinstance(spec, Registry):
        return RegistrySource(spec, cache=cache, trust=trust)
    registry = open_registry(spec)  # refuses a mistyped URL the way every command does
    remote = spec in (None, "local", "hub") or str(spec).startswith(("http://", "https://"))
    if not remote:
        path = Path(str(spec)).expanduser()
        if not path.is_dir():
            raise NotFoundError(f"No folder {path}: {spec!r} was read as a folder of genes or a local registry.",
                                hint="Pass a folder of genes, a local registry folder, `hub`, or a Hub endpoint URL.",
                                path=str(path))
        if _holds_gene_dirs(path):
            return DirectorySource([path])
    return RegistrySource(registry, spec=spec if spec is not None else "local", cache=cache, trust=trust)
