"""``push``: publish a signed gene as one commit tagged ``v<version>``, uploading only what changed."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from .._signing import bundle_digests, tree_digest
from ..errors import NotFoundError, RegistryError, UntrustedSignerError, VerificationError
from ..gene import SIGNATURE, TrustStore, verify_gene
from .base import Registry, check_repo_id
from .safety import is_git_path
from .select import open_registry


@dataclass(frozen=True)
class PushResult:
    """What a push did: the commit the tag points at, and which files were sent."""

    repo_id: str
    revision: str
    tag: str
    registry: str
    uploaded: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)


def _verify_for_push(gene_dir: Path, trust: TrustStore | None):
    """A gene must verify before it leaves: signed by a trusted key or one of the publisher's own keys."""
    from ..gene.keys import keys_dir

    try:
        return verify_gene(gene_dir, trust=trust)
    except UntrustedSignerError:
        if trust is not None:
            raise
        own = TrustStore(keys_dir())  # keys_dir holds NAME.pub beside each private key
        try:
            return verify_gene(gene_dir, trust=own)
        except UntrustedSignerError:
            raise UntrustedSignerError(
                f"{gene_dir} is signed by a key that is neither yours nor trusted; genehub only pushes genes it can verify.",
                hint="Sign it with your key (`genehub sign DIR --key NAME`) or trust the signer (`genehub trust add`).",
            ) from None


def _check_identity(card: dict, repo_id: str, gene_dir: Path) -> None:
    """A gene goes only to the repo its signed card names (so a registry cannot serve it as another)."""
    claimed = (card.get("identity") or {}).get("repo_id")
    sign = f"`genehub sign {gene_dir} --key NAME --repo-id {repo_id}`"
    if claimed is None:
        raise VerificationError(f"{gene_dir} is signed without a repo id, so pull would refuse it as {repo_id}.",
                                files=["gene.json"], hint=f"Re-sign it for that repo: {sign}.")
    if claimed.lower() != repo_id.lower():
        raise VerificationError(f"{gene_dir} is signed for {claimed}, not {repo_id}.", files=["gene.json"],
                                hint=f"Push it to {claimed}, or re-sign it for {repo_id}: {sign}.")


def _check_previous(reg: Registry, card: dict, repo_id: str, tags: dict[str, str]) -> None:
    """When the gene names the version before it, that version on the registry must be the one it names."""
    previous = (card.get("identity") or {}).get("previous")
    tag = f"v{previous['version']}" if previous else None
    if tag not in tags:
        return
    try:
        published = tree_digest(bundle_digests(json.loads(reg.read(repo_id, tags[tag], SIGNATURE))))
    except (ValueError, KeyError, TypeError):
        published = None
    if published != previous["digest"]:
        raise RegistryError(
            f"{card['name']} {card['version']} follows {previous['version']} {previous['digest']}, but {repo_id} "
            f"on {reg.location} has another {previous['version']} ({published or 'unreadable signature'}).",
            hint="Sign it with --previous pointing at the version that was published, then push again.",
            repo_id=repo_id, status=409)


def _local_files(gene_dir: Path) -> dict[str, Path]:
    files = {}
    for path in sorted(gene_dir.rglob("*")):
        rel = path.relative_to(gene_dir).as_posix()
        if path.is_file() and not is_git_path(rel) and not rel.startswith(".cache/"):
            files[rel] = path
    return files


def push(gene_dir: str | Path, repo_id: str, *, registry: Registry | str | None = None,
         trust: TrustStore | None = None, message: str | None = None) -> PushResult:
    """Publish a signed gene to a registry.

    Verifies the gene first (signature, signer, card, digests, and that it is signed for ``repo_id``; when
    it names the version before it, that version on the registry must match), creates the repo if needed, commits the
    files that differ from the repo's ``main`` in one commit ("Publish gene NAME VERSION") and tags it
    ``v<version>``. Pushing the same gene again sends nothing; pushing a new version sends only the
    files that changed.

    Args:
        gene_dir: a signed gene directory.
        repo_id: ``owner/name`` on the registry.
        registry: a :class:`Registry`, ``"local"``, ``"hub"``, an URL or a directory (default: local).
        trust: the trust store to verify with (default: yours, plus your own signing keys).
        message: the commit message (default names the gene and version).

    Returns:
        The commit, tag and the files uploaded or deleted.

    Raises:
        VerificationError / UntrustedSignerError / CardValidationError: the gene does not verify, or is
            signed for another repo (re-sign with ``--repo-id``).
        RegistryError: the version is already published with other content (bump it), or the registry refused.
        AuthError: the registry needs a (better) token.
    """
    gene_dir = Path(gene_dir)
    check_repo_id(repo_id)
    if not gene_dir.is_dir():
        raise NotFoundError(f"{gene_dir} is not a directory.", hint="Pass a gene directory.", path=str(gene_dir))
    card = _verify_for_push(gene_dir, trust).card
    _check_identity(card, repo_id, gene_dir)
    reg = open_registry(registry)
    tag = f"v{card['version']}"
    local = _local_files(gene_dir)

    reg.ensure_repo(repo_id)
    tags = reg.tags(repo_id)
    _check_previous(reg, card, repo_id, tags)
    if tag in tags:
        tagged = reg.snapshot(repo_id, tags[tag])
        remote = {f.path: f for f in tagged.files if not is_git_path(f.path)} if tagged else {}
        if remote.keys() == local.keys() and all(remote[p].same_content(f) for p, f in local.items()):
            return PushResult(repo_id, tagged.commit, tag, reg.location)  # already published, nothing to send
        raise RegistryError(
            f"{repo_id} already has {card['name']} {card['version']} (tag {tag}) with different content.",
            hint="Bump `version` in gene.json, rewrite and re-sign the gene, then push again.",
            repo_id=repo_id, status=409,
        )
    head = reg.snapshot(repo_id)
    remote = {f.path: f for f in head.files if not is_git_path(f.path)} if head else {}
    changed = {p: f for p, f in local.items() if p not in remote or not remote[p].same_content(f)}
    deleted = sorted(p for p in remote if p not in local)
    revision = head.commit if head else None
    if changed or deleted or revision is None:
        revision = reg.commit(repo_id, files=changed, deleted=deleted,
                              message=message or f"Publish gene {card['name']} {card['version']}",
                              parent=head.commit if head else None)
    reg.create_tag(repo_id, tag, revision)
    return PushResult(repo_id, revision, tag, reg.location, uploaded=sorted(changed), deleted=deleted)
