"""The Space's catalog: every gene a registry offers, with its card and its signature status.

A :class:`Catalog` reads genes from a *source* (a directory of gene directories, or a registry) and
verifies each one against a trust store. Nothing here raises for a bad gene: an unsigned, tampered or
unreadable gene becomes an entry with ``trust="invalid"`` and a ``reason`` a visitor can read.

    >>> catalog = Catalog.from_dirs(["genes/"], trust=TrustStore())
    >>> [(e.gene_id, e.trust) for e in catalog.entries()]
    [('sort-gene', 'verified'), ('upper-gene', 'untrusted')]
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from ..errors import GenehubError, NotFoundError, UntrustedSignerError
from ..gene import CARD, SIGNATURE, Gene, TrustStore, verify_gene

log = logging.getLogger(__name__)

Trust = Literal["verified", "untrusted", "invalid"]
TRUST_LEVELS: tuple[Trust, ...] = ("verified", "untrusted", "invalid")


@dataclass(frozen=True)
class Listing:
    """Where a source keeps one gene: its id, a local directory holding its files, how to pull it.

    ``problem`` says why the source could not provide the files (the gene is then shown as invalid);
    ``revision`` is the registry's commit of these files (None for a folder).
    """

    gene_id: str
    path: Path
    pull_command: str
    problem: str | None = None
    revision: str | None = None


@dataclass(frozen=True)
class Version:
    """One released version of a gene as its registry lists it (a ``v<version>`` tag), newest first.

    ``created`` and ``summary`` are what that version's card states; only the version the catalog
    fetched is verified.
    """

    version: str
    commit: str
    created: str = ""
    summary: str = ""


@dataclass(frozen=True)
class GeneEntry:
    """One gene as the Space shows it.

    Attributes:
        gene_id: the id visitors pick (a repo id for a registry, the directory name otherwise).
        path: the local directory with the gene's files.
        gene: the gene, when its card is valid (even if its signature is not); ``None`` for a broken card.
        trust: ``verified`` (trusted signer, intact files), ``untrusted`` (valid signature by an unknown
            key) or ``invalid`` (unsigned, tampered, or a broken card).
        reason: why the gene is not verified (empty when it is).
        signer: the trusted signer's name (``None`` unless verified).
        fingerprint: ``sha256:<hex>`` of the signing key, when the signature names one.
        pull_command: the exact command that installs this gene.
        examples: the first rows of its ``examples.jsonl`` (prompts a visitor can try).
        revision: the registry's commit of these files (None for a folder).
    """

    gene_id: str
    path: Path
    gene: Gene | None
    trust: Trust
    reason: str = ""
    signer: str | None = None
    fingerprint: str | None = None
    pull_command: str = ""
    examples: list[dict[str, Any]] = field(default_factory=list)
    revision: str | None = None

    @property
    def card(self) -> dict[str, Any]:
        """The validated card (``{}`` for a broken one)."""
        return self.gene.card if self.gene is not None else {}

    @property
    def host(self) -> str:
        return self.gene.host.repo_id if self.gene is not None else "?"

    @property
    def skill(self) -> str:
        return self.gene.skill if self.gene is not None else "?"

    @property
    def license(self) -> str:
        return self.gene.license if self.gene is not None else "?"


class GeneSource(Protocol):
    """Anything that lists genes as local directories (a folder of genes, a registry)."""

    label: str

    def listings(self) -> list[Listing]:
        """Every gene the source offers, fetched (not installed, not yet verified) to a local directory."""
        ...


# A source may also know a gene's released versions (``versions(gene_id) -> list[Version]``) and its
# download count (``downloads(gene_id) -> int | None``), as a registry does; a folder knows neither.


class DirectorySource:
    """Genes found under one or more directories (``root/<gene>/gene.json`` or ``root/<owner>/<gene>/gene.json``).

    The pull command is ``genehub pull <gene_id> --registry <registry>`` when ``registry`` is given (the
    directory is a local registry's checkout), else ``genehub verify <path>`` which is how a folder gene
    is checked before use.
    """

    def __init__(self, roots: Sequence[str | Path], *, registry: str | None = None) -> None:
        self.roots = [Path(r) for r in roots]
        self.registry = registry
        self.label = ", ".join(str(r) for r in self.roots)

    def listings(self) -> list[Listing]:
        found: dict[str, Listing] = {}
        for root in self.roots:
            if not root.is_dir():
                raise NotFoundError(f"Gene directory {root} does not exist.",
                                    hint="Pass a folder that holds gene directories (each with gene.json).",
                                    path=str(root))
            candidates = [root] if (root / CARD).is_file() else sorted(
                {p.parent for p in [*root.glob(f"*/{CARD}"), *root.glob(f"*/*/{CARD}")]})
            for gene_dir in candidates:
                gene_id = gene_dir.relative_to(root).as_posix() if gene_dir != root else gene_dir.name
                command = (f"genehub pull {gene_id} --registry {self.registry}" if self.registry
                           else f"genehub verify {gene_dir}")
                found.setdefault(gene_id, Listing(gene_id, gene_dir, command))
        return [found[k] for k in sorted(found)]


def _key_hint(gene_dir: Path) -> str | None:
    """The signing key's fingerprint as the signature bundle names it (no verification)."""
    try:
        bundle = json.loads((gene_dir / SIGNATURE).read_text(encoding="utf-8"))
        return "sha256:" + bundle["verificationMaterial"]["publicKey"]["hint"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _readable(path: Path) -> Gene | None:
    """The gene at ``path`` when its card is valid, else None (the Space still lists it, as invalid)."""
    try:
        return Gene.load(path)
    except GenehubError:
        return None


def _examples(gene: Gene | None, limit: int = 20) -> list[dict[str, Any]]:
    try:
        return gene.examples(limit) if gene is not None else []
    except GenehubError:  # a broken examples file: nothing to offer, the status says why
        return []


def inspect_gene(listing: Listing, *, trust: TrustStore) -> GeneEntry:
    """Verify one gene and describe it; never raises for a bad gene (it becomes ``invalid``)."""
    common = dict(gene_id=listing.gene_id, path=listing.path, pull_command=listing.pull_command,
                  fingerprint=_key_hint(listing.path), revision=listing.revision)
    if listing.problem:
        return GeneEntry(gene=None, trust="invalid", reason=listing.problem, **common)
    try:
        verification = verify_gene(listing.path, trust=trust)
    except UntrustedSignerError as err:
        try:
            gene = Gene.load(listing.path)
        except GenehubError as card_err:
            return GeneEntry(gene=None, trust="invalid", reason=str(card_err), **common)
        return GeneEntry(gene=gene, trust="untrusted", reason=str(err), examples=_examples(gene), **common)
    except GenehubError as err:
        gene = _readable(listing.path)
        return GeneEntry(gene=gene, trust="invalid", reason=str(err), examples=_examples(gene), **common)
    gene = Gene(listing.path, verification.card)
    common["fingerprint"] = verification.fingerprint
    return GeneEntry(gene=gene, trust="verified", signer=verification.signer, examples=_examples(gene), **common)


class Catalog:
    """The genes of one source, verified against one trust store; cached until :meth:`refresh`.

    Args:
        source: where the genes come from (:class:`DirectorySource`, or a registry source).
        trust: the trust store used for the signature status (default ``TrustStore()``).
    """

    def __init__(self, source: GeneSource, *, trust: TrustStore | None = None) -> None:
        self.source = source
        self.trust = trust if trust is not None else TrustStore()
        self._entries: dict[str, GeneEntry] | None = None
        self._facts: dict[tuple[Any, ...], Any] = {}  # versions per gene and revision, until refresh

    @classmethod
    def from_dirs(cls, roots: Iterable[str | Path], *, trust: TrustStore | None = None,
                  registry: str | None = None) -> Catalog:
        """A catalog over folders of gene directories."""
        return cls(DirectorySource(list(roots), registry=registry), trust=trust)

    def refresh(self) -> None:
        """Forget the cached entries; the next call lists and verifies the source again."""
        self._entries = None
        self._facts = {}

    def entries(self) -> list[GeneEntry]:
        """Every gene, sorted by id."""
        if self._entries is None:
            listings = self.source.listings()
            self._entries = {item.gene_id: inspect_gene(item, trust=self.trust) for item in listings}
            log.info("catalog of %s: %d genes", self.source.label, len(self._entries))
        return list(self._entries.values())

    def get(self, gene_id: str) -> GeneEntry:
        """The entry of ``gene_id``.

        Raises:
            NotFoundError: no such gene in this catalog.
        """
        self.entries()
        assert self._entries is not None
        if gene_id not in self._entries:
            known = ", ".join(sorted(self._entries)) or "none"
            raise NotFoundError(f"No gene {gene_id!r} in {self.source.label}.",
                                hint=f"Pick one of the listed genes ({known}), or refresh the list.")
        return self._entries[gene_id]

    def versions(self, gene_id: str) -> list[Version]:
        """The gene's released versions, newest first, when its source knows them (a registry); else []."""
        entry = self.get(gene_id)
        versions = getattr(self.source, "versions", None)
        if versions is None or entry.trust == "invalid" and entry.gene is None:
            return []
        key = ("versions", gene_id, entry.path)
        if key not in self._facts:
            self._facts[key] = versions(gene_id)
        return list(self._facts[key])

    def downloads(self, gene_id: str) -> int | None:
        """The registry's download count of the gene, when its source counts them; else None."""
        self.get(gene_id)
        downloads = getattr(self.source, "downloads", None)
        if downloads is None:
            return None
        if ("downloads", gene_id) not in self._facts:
            self._facts[("downloads", gene_id)] = downloads(gene_id)
        return self._facts[("downloads", gene_id)]

    def choices(self) -> dict[str, list[str]]:
        """The distinct hosts, skills, licences and trust levels, for the filters."""
        entries = self.entries()
        return {
            "host": sorted({e.host for e in entries}),
            "skill": sorted({e.skill for e in entries}),
            "license": sorted({e.license for e in entries}),
            "trust": list(TRUST_LEVELS),
        }

    def search(self, query: str = "", *, host: str | None = None, skill: str | None = None,
               license: str | None = None, trust: str | None = None) -> list[GeneEntry]:
        """Entries matching every given filter, and ``query`` (case-insensitive) in id, name, skill or summary."""
        words = query.lower().split()
        found = []
        for e in self.entries():
            named = [e.gene.name, e.gene.summary] if e.gene is not None else []
            text = " ".join([e.gene_id, *named, e.skill, e.host]).lower()
            if any(w not in text for w in words):
                continue
            if (host and e.host != host) or (skill and e.skill != skill) or (license and e.license != license) \
                    or (trust and e.trust != trust):
                continue
            found.append(e)
        return found
