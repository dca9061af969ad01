"""``pull``: download a gene to staging, refuse unsafe files, verify, check the host, install atomically."""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import RegistryError
from ..gene import TrustStore, verify_gene
from .base import Registry, split_revision
from .safety import check_files, check_tree
from .safety import max_file_bytes as file_bound
from .select import open_registry
from .store import GeneStore, InstalledGene


def offline() -> bool:
    """Whether ``HF_HUB_OFFLINE`` is set (env var now, or the client's constant)."""
    from huggingface_hub import constants

    value = os.environ.get("HF_HUB_OFFLINE", "")
    return value.upper() in ("1", "ON", "YES", "TRUE") or bool(constants.HF_HUB_OFFLINE)


def _check_host(card: dict, host: str | Path | None) -> None:
    if host is None:
        return
    from ..hosts import describe_host, require_compatible

    require_compatible(card["host"], describe_host(host), what=f"gene {card['name']}")


def _installed(store: GeneStore, repo_id: str, commit: str | None, trust: TrustStore | None,
               host: str | Path | None) -> InstalledGene | None:
    try:
        gene = store.get(repo_id)
    except FileNotFoundError:
        return None
    if commit is not None and gene.revision != commit:
        return None
    card = verify_gene(gene.path, trust=trust).card  # the store is trusted only as far as it verifies
    _check_host(card, host)
    return gene


def pull(spec: str, *, host: str | Path | None = None, registry: Registry | str | None = None,
         store: GeneStore | None = None, trust: TrustStore | None = None,
         max_file_bytes: int | None = None) -> InstalledGene:
    """Fetch, verify and install a gene.

    Order matters: the file listing is checked (no pickles, no escaping paths, no file over the bound)
    before anything is downloaded; the download goes to a staging directory and is checked again;
    then signature, trust, card and digests are verified, and the host compatibility when ``host`` is
    given; only then is the gene moved into the store. Offline (``HF_HUB_OFFLINE=1``), an installed
    gene is returned after re-verification.

    Args:
        spec: ``owner/name`` or ``owner/name@revision`` (a branch, tag like ``v0.1.0``, or commit).
        host: a host model directory the gene must fit (architecture, shapes, tokenizer).
        registry: a :class:`Registry`, ``"local"``, ``"hub"``, an URL or a directory (default: local).
        store: the gene store (default ``home_dir()/genes``).
        trust: the trust store (default ``config_dir()/trust``).
        max_file_bytes: refuse files larger than this (default ``GENEHUB_MAX_FILE_BYTES`` or 1 GiB).

    Returns:
        The installed gene; ``os.fspath(gene)`` is its directory.

    Raises:
        UnsafeFileError: pickles, escaping paths or oversize files (nothing downloaded or installed).
        VerificationError / UntrustedSignerError / CardValidationError: it does not verify.
        IncompatibleError: it does not fit ``host``.
        RegistryError / AuthError: the registry refused or failed.
    """
    repo_id, revision = split_revision(spec)
    store = store or GeneStore()
    limit = file_bound(max_file_bytes)
    if offline():
        gene = _installed(store, repo_id, revision if revision and len(revision) == 40 else None, trust, host)
        if gene is None:
            raise RegistryError(f"{spec} is not installed and HF_HUB_OFFLINE is set.",
                                hint="Unset HF_HUB_OFFLINE and pull it once; it then works offline.", repo_id=repo_id)
        return gene
    reg = open_registry(registry)
    snapshot = reg.snapshot(repo_id, revision)
    if snapshot is None:
        raise RegistryError(f"{repo_id} on {reg.location} is empty.", hint="Push a gene to it first.",
                            repo_id=repo_id, status=404)
    names = check_files(repo_id, snapshot.files, limit=limit)
    done = _installed(store, repo_id, snapshot.commit, trust, host)
    if done is not None:
        return done
    with store.staging() as staging:
        gene_dir = staging / "gene"
        gene_dir.mkdir()
        reg.download(snapshot, names, gene_dir)
        check_tree(repo_id, gene_dir, limit=limit)
        verification = verify_gene(gene_dir, trust=trust)
        _check_host(verification.card, host)
        return store.install(gene_dir, repo_id=repo_id, revision=snapshot.commit, card=verification.card,
                             signer=verification.signer, fingerprint=verification.fingerprint,
                             registry=reg.location)

