"""``pull``: resolve, fetch to staging, verify as the requested gene, refuse rollbacks, check the host, install."""

from __future__ import annotations

import json
import re
from pathlib import Path

from .._ids import is_commit, version_key
from .._signing import bundle_digests, tree_digest
from ..errors import RegistryError, UnsafeFileError, VerificationError
from ..gene import SIGNATURE, TrustStore, verify_gene
from ..gene.signing import Verification
from .base import Registry, split_revision
from .fetch import fetch, resolve
from .safety import max_file_bytes as file_bound
from .select import open_registry
from .store import GeneStore, InstalledGene

_VERSION_TAG = re.compile(r"^v\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$")


def _check_host(card: dict, host: str | Path | None) -> None:
    if host is None:
        return
    from ..hosts import describe_host, require_compatible

    # The same check as composing it on that host (genehub.routing), so pull and run agree.
    require_compatible(card["host"], describe_host(host), what=f"gene {card['name']}", same_host=True)


def _signed_digest(gene: InstalledGene) -> str | None:
    """The digest the installed copy's signature states (None when its gene.sig is unreadable)."""
    try:
        return tree_digest(bundle_digests(json.loads((gene.path / SIGNATURE).read_text(encoding="utf-8"))))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _reuse(gene: InstalledGene, repo_id: str, trust: TrustStore | None, host: str | Path | None,
           spec: str) -> InstalledGene:
    """The installed copy, re-verified (the store is trusted only as far as it verifies)."""
    try:
        card = verify_gene(gene.path, trust=trust, repo_id=repo_id, label=f"the installed copy of {repo_id}").card
    except (VerificationError, UnsafeFileError) as err:
        fix = f"Run `genehub pull {spec} --repair` to replace it with a freshly verified copy."
        if isinstance(err, VerificationError):
            raise type(err)(err.message, files=err.files, hint=fix) from None
        raise UnsafeFileError(err.message, hint=fix) from None
    _check_host(card, host)
    return gene


def _check_version(result: Verification, current: InstalledGene | None, *, repo_id: str, revision: str | None,
                   label: str) -> None:
    """Refuse a tag that names another version, a rollback, an equivocation or a fork (TUF's rollback and
    mix-and-match attacks), unless the user named this very version or commit."""
    version = result.card["version"]
    if revision is not None and _VERSION_TAG.match(revision) and revision != f"v{version}":
        raise VerificationError(
            f"{label}: you asked for {revision}, but the signed card says version {version} (the tag was moved).",
            files=["gene.json"], hint="Do not use this registry for it; report it to the publisher.")
    if current is None or is_commit(revision) or revision == f"v{version}":
        return
    installed = _signed_digest(current)
    ask = f"`genehub pull {repo_id}@v{version}`"
    if version_key(version) < version_key(current.version):
        raise VerificationError(
            f"{label} is version {version}, older than the installed {current.version}: refusing a rollback.",
            files=["gene.json"], hint=f"If you do want {version}, ask for it by name: {ask}.")
    if version == current.version and installed is not None and result.digest != installed:
        raise VerificationError(
            f"{label} claims version {version}, like the installed copy, but its files differ from it.",
            files=["gene.json"], hint=f"Ask the publisher which is real; to take this one anyway, run {ask}.")
    previous = (result.card.get("identity") or {}).get("previous") or {}
    if previous.get("version") == current.version and installed is not None and previous.get("digest") != installed:
        raise VerificationError(
            f"{label} says it follows {current.version} {previous.get('digest')}, but the installed "
            f"{current.version} is {installed}: another history of this gene.",
            files=["gene.json"], hint=f"Ask the publisher which is real; to take this one anyway, run {ask}.")


def pull(spec: str, *, host: str | Path | None = None, registry: Registry | str | None = None,
         store: GeneStore | None = None, trust: TrustStore | None = None,
         max_file_bytes: int | None = None, repair: bool = False) -> InstalledGene:
    """Fetch, verify and install a gene.

    Order matters: the revision's commit id is checked, then its file listing (no pickles, no escaping
    paths, no file over the bound) before anything is downloaded; the download goes to a staging
    directory and is checked again; then signature, trust, card, digests and the signed identity (the
    gene must be signed for ``spec``'s repo, and not older than the installed version unless that version
    or commit is named), and the host compatibility when ``host`` is given; only then is the gene moved
    into the store. A Hub under ``HF_HUB_OFFLINE=1`` serves the installed copy after re-verification; a
    local registry (a folder) works as usual.

    Args:
        spec: ``owner/name`` or ``owner/name@revision`` (a branch, tag like ``v0.1.0``, or commit).
        host: a host model directory the gene must fit (architecture, shapes, tokenizer).
        registry: a :class:`Registry`, ``"local"``, ``"hub"``, an URL or a directory (default: local).
        store: the gene store (default ``home_dir()/genes``).
        trust: the trust store (default ``config_dir()/trust``).
        max_file_bytes: refuse files larger than this (default ``GENEHUB_MAX_FILE_BYTES`` or 1 GiB).
        repair: replace an installed copy that no longer verifies (after verifying the new one), and
            drop cached copies of the repo that no longer match their digests (the Hub's cache).

    Returns:
        The installed gene; ``os.fspath(gene)`` is its directory.

    Raises:
        UnsafeFileError: pickles, escaping paths, links or oversize files (nothing downloaded or installed).
        VerificationError / UntrustedSignerError / CardValidationError: it does not verify, is signed for
            another repo, or is a rollback.
        IncompatibleError: it does not fit ``host``.
        RegistryError / AuthError: the registry refused, failed or sent an invalid answer.
    """
    repo_id, revision = split_revision(spec)
    store = store or GeneStore()
    limit = file_bound(max_file_bytes)
    reg = open_registry(registry)
    current = store.current(repo_id)
    if reg.offline:
        wanted = current is not None and (revision is None or revision in (current.revision, f"v{current.version}"))
        if not wanted:
            raise RegistryError(f"{spec} is not installed and HF_HUB_OFFLINE is set.",
                                hint="Unset HF_HUB_OFFLINE and pull it once; it then works offline.", repo_id=repo_id)
        return _reuse(current, repo_id, trust, host, spec)  # type: ignore[arg-type]
    snapshot = resolve(reg, repo_id, revision)
    if repair:
        reg.purge_cache(repo_id)
    if current is not None and current.revision == snapshot.commit:
        try:
            return _reuse(current, repo_id, trust, host, spec)
        except (VerificationError, UnsafeFileError):
            if not repair:
                raise
    with store.staging() as staging:
        gene_dir = staging / "gene"
        fetch(reg, snapshot, gene_dir, limit=limit)
        label = f"{repo_id}@{snapshot.commit[:12]}"
        verification = verify_gene(gene_dir, trust=trust, repo_id=repo_id, label=label)
        same_release = current is not None and current.revision == snapshot.commit  # a repair
        _check_version(verification, None if same_release else current, repo_id=repo_id, revision=revision,
                       label=label)
        _check_host(verification.card, host)
        return store.install(gene_dir, repo_id=repo_id, revision=snapshot.commit, card=verification.card,
                             signer=verification.signer, fingerprint=verification.fingerprint,
                             registry=reg.location, replace=repair)
