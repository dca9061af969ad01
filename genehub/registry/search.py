"""``search`` and ``info``: the facts that matter for choosing a gene, from card metadata and gene.json."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..gene import CardView, TrustStore
from .base import Registry, RepoHit, check_repo_id
from .select import open_registry


@dataclass(frozen=True)
class GeneHit:
    """One gene in search results: the repo and commit it is at, its card (typed) and who signed it."""

    repo_id: str
    revision: str
    card: CardView
    signer: str
    trusted: bool

    def to_dict(self) -> dict[str, Any]:
        """The facts that matter for choosing a gene, flat (what ``genehub search`` prints)."""
        card = self.card
        return {"repo_id": self.repo_id, "revision": self.revision, "name": card.name, "version": card.version,
                "skill": card.skill, "host": card.host.repo_id, "homology": card.homology.aggregate,
                "fidelity": card.fidelity.gene, "license": card.license, "signer": self.signer,
                "trusted": self.trusted, "summary": card.summary}


def _signer(sig: bytes | None, trust: TrustStore) -> tuple[str, bool]:
    try:
        hint = json.loads(sig or b"")["verificationMaterial"]["publicKey"]["hint"]
    except (ValueError, KeyError, TypeError):
        return "unsigned", False
    known = trust.find(hint)
    return (known.name, True) if known else (f"sha256:{hint[:16]}", False)


def _gene_facts(reg: Registry, hit: RepoHit, trust: TrustStore) -> GeneHit | None:
    if hit.commit is None:
        return None
    try:
        card = CardView.of(json.loads(reg.read(hit.repo_id, hit.commit, "gene.json")),
                           source=f"{hit.repo_id} gene.json")
        signature = reg.read(hit.repo_id, hit.commit, "gene.sig")
    except Exception:  # noqa: BLE001  not a gene (or unreadable, or an invalid card): not a search result
        return None
    signer, trusted = _signer(signature, trust)
    return GeneHit(repo_id=hit.repo_id, revision=hit.commit, card=card, signer=signer, trusted=trusted)


def search(query: str | None = None, *, host: str | Path | None = None, skill: str | None = None,
           license: str | None = None, registry: Registry | str | None = None,
           trust: TrustStore | None = None) -> list[GeneHit]:
    """Find genes by text, host, skill and licence.

    Filters on the registry's tags first (``genehub``, ``skill-<skill>``, ``license:<id>``,
    ``base_model:<host>``), then reads each hit's gene.json and signature for the facts.

    Args:
        query: text the repo id must contain.
        host: a host repo id, or a host model directory (then: genes whose card fits it).
        skill: the skill name.
        license: an SPDX id (case-insensitive).
        registry: where to search (default: local).
        trust: used to name signers (default ``config_dir()/trust``).

    Returns:
        Matching genes, sorted by repo id.
    """
    from ..gene.modelcard import hub_license

    reg = open_registry(registry)
    trust = trust if trust is not None else TrustStore()
    tags = ["genehub"]
    if skill:
        tags.append(f"skill-{skill}")
    if license and hub_license(license)["license"] != "other":
        tags.append(f"license:{hub_license(license)['license']}")
    host_info = None
    if host is not None and Path(host).is_dir():
        from ..hosts import describe_host

        host_info = describe_host(host)
    elif host is not None:
        tags.append(f"base_model:{host}")
    results = []
    for hit in reg.search(query=query, tags=tags):
        gene = _gene_facts(reg, hit, trust)
        if gene is None or (license and gene.card.license.lower() != license.lower()):
            continue
        if host_info is not None:
            from ..hosts import compatibility_problems

            if compatibility_problems(gene.card.host, host_info, same_host=True):  # as pull checks it
                continue
        results.append(gene)
    return sorted(results, key=lambda g: g.repo_id)


def info(repo_id: str, *, registry: Registry | str | None = None, trust: TrustStore | None = None) -> dict[str, Any]:
    """What a registry holds for one gene repo: head commit, tags, files and the gene's facts."""
    reg = open_registry(registry)
    check_repo_id(repo_id)
    snapshot = reg.snapshot(repo_id)
    data: dict[str, Any] = {"repo_id": repo_id, "registry": reg.location, "tags": reg.tags(repo_id)}
    if snapshot is None:
        return {**data, "revision": None, "files": [], "gene": None}
    gene = _gene_facts(reg, RepoHit(repo_id, snapshot.commit), trust if trust is not None else TrustStore())
    return {**data, "revision": snapshot.commit, "files": [{"path": f.path, "size": f.size} for f in snapshot.files],
            "gene": gene.to_dict() if gene else None}
