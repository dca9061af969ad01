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

from ..errors import GenehubError, NotFoundError, UntrustedSignerError, VerificationError
from ..gene import CARD, EXAMPLES, SIGNATURE, TrustStore, load_card, verify_gene

log = logging.getLogger(__name__)

Trust = Literal["verified", "untrusted", "invalid"]
TRUST_LEVELS: tuple[Trust, ...] = ("verified", "untrusted", "invalid")


@dataclass(frozen=True)
class GeneRef:
    """Where a source keeps one gene: its id, a local directory holding its files, how to pull it.

    ``problem`` says why the source could not provide the files (the gene is then shown as invalid).
    """

    gene_id: str
    path: Path
    pull_command: str
    problem: str | None = None


@dataclass(frozen=True)
class GeneEntry:
    """One gene as the Space shows it.

    Attributes:
        gene_id: the id visitors pick (a repo id for a registry, the directory name otherwise).
        path: the local directory with the gene's files.
        card: the card (validated when ``trust != "invalid"``; raw JSON or ``{}`` otherwise).
        trust: ``verified`` (trusted signer, intact files), ``untrusted`` (valid signature by an unknown
            key) or ``invalid`` (unsigned, tampered, or a broken card).
        reason: why the gene is not verified (empty when it is).
        signer: the trusted signer's name (``None`` unless verified).
        fingerprint: ``sha256:<hex>`` of the signing key, when the signature names one.
        pull_command: the exact command that installs this gene.
    """

    gene_id: str
    path: Path
    card: dict[str, Any]
    trust: Trust
    reason: str = ""
    signer: str | None = None
    fingerprint: str | None = None
    pull_command: str = ""
    examples: list[dict[str, str]] = field(default_factory=list)

    @property
    def host(self) -> str:
        return str(self.card.get("host", {}).get("repo_id", "?"))

    @property
    def skill(self) -> str:
        return str(self.card.get("skill", "?"))

    @property
    def license(self) -> str:
        return str(self.card.get("license", {}).get("spdx", "?"))


class GeneSource(Protocol):
    """Anything that lists genes as local directories (a folder of genes, a registry)."""

    label: str

    def refs(self) -> list[GeneRef]:
        """Every gene the source offers, fetched (not installed, not yet verified) to a local directory."""
        ...


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

    def refs(self) -> list[GeneRef]:
        refs: dict[str, GeneRef] = {}
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
                refs.setdefault(gene_id, GeneRef(gene_id, gene_dir, command))
        return [refs[k] for k in sorted(refs)]


def _key_hint(gene_dir: Path) -> str | None:
    """The signing key's fingerprint as the signature bundle names it (no verification)."""
    try:
        bundle = json.loads((gene_dir / SIGNATURE).read_text(encoding="utf-8"))
        return "sha256:" + bundle["verificationMaterial"]["publicKey"]["hint"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _raw_card(gene_dir: Path) -> dict[str, Any]:
    try:
        data = json.loads((gene_dir / CARD).read_text(encoding="utf-8"))
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def read_examples(gene_dir: Path, *, limit: int = 20) -> list[dict[str, str]]:
    """The first ``limit`` ``{"prompt", "answer"}`` rows of a gene's ``examples.jsonl`` (bad lines skipped)."""
    rows: list[dict[str, str]] = []
    try:
        lines = (gene_dir / EXAMPLES).read_text(encoding="utf-8").splitlines()
    except OSError:
        return rows
    for line in lines:
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if isinstance(row, dict) and isinstance(row.get("prompt"), str):
            rows.append({"prompt": row["prompt"], "answer": str(row.get("answer", ""))})
        if len(rows) >= limit:
            break
    return rows


def inspect_gene(ref: GeneRef, *, trust: TrustStore) -> GeneEntry:
    """Verify one gene and describe it; never raises for a bad gene (it becomes ``invalid``)."""
    common = dict(gene_id=ref.gene_id, path=ref.path, pull_command=ref.pull_command,
                  fingerprint=_key_hint(ref.path), examples=read_examples(ref.path))
    if ref.problem:
        return GeneEntry(card={}, trust="invalid", reason=ref.problem, **common)
    try:
        verification = verify_gene(ref.path, trust=trust)
    except UntrustedSignerError as err:
        try:
            card = load_card(ref.path)
        except GenehubError as card_err:
            return GeneEntry(card=_raw_card(ref.path), trust="invalid", reason=str(card_err), **common)
        return GeneEntry(card=card, trust="untrusted", reason=str(err), **common)
    except (VerificationError, GenehubError) as err:
        return GeneEntry(card=_raw_card(ref.path), trust="invalid", reason=str(err), **common)
    common["fingerprint"] = verification.fingerprint
    return GeneEntry(card=verification.card, trust="verified", signer=verification.signer, **common)


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

    @classmethod
    def from_dirs(cls, roots: Iterable[str | Path], *, trust: TrustStore | None = None,
                  registry: str | None = None) -> Catalog:
        """A catalog over folders of gene directories."""
        return cls(DirectorySource(list(roots), registry=registry), trust=trust)

    def refresh(self) -> None:
        """Forget the cached entries; the next call lists and verifies the source again."""
        self._entries = None

    def entries(self) -> list[GeneEntry]:
        """Every gene, sorted by id."""
        if self._entries is None:
            refs = self.source.refs()
            self._entries = {ref.gene_id: inspect_gene(ref, trust=self.trust) for ref in refs}
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
            text = " ".join([e.gene_id, str(e.card.get("name", "")), e.skill, str(e.card.get("summary", "")),
                             e.host]).lower()
            if any(w not in text for w in words):
                continue
            if (host and e.host != host) or (skill and e.skill != skill) or (license and e.license != license) \
                    or (trust and e.trust != trust):
                continue
            found.append(e)
        return found
