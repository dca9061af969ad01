"""Sign and verify genes with OpenSSF model_signing (elliptic-curve keys, sha256 per file).

The signature ``gene.sig`` covers every file of the gene directory (card and README included) except
itself and git metadata (see :mod:`genehub._signing`, shared with routers). The same directory
verifies with the model_signing CLI alone::

    model_signing verify key GENE_DIR --signature GENE_DIR/gene.sig --public_key SIGNER.pub

Signing also binds the gene's identity into the signed card (``identity``): the repo id the publisher
claims for it and, optionally, the version before it with that version's digest. A registry can then
not serve one signed gene as another, and ``pull`` can refuse an older version (see docs/SECURITY.md).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._ids import check_repo_id, is_repo_id, version_key
from .._signing import GIT_PATHS, directory_digests, sign_dir, tree_digest, verify_dir
from .._signing import hashing_config as _hashing_config
from .._staging import refuse_unsafe_tree, staged_dir
from ..errors import NotFoundError, UsageError, VerificationError
from .card import dump_card, load_card, validate_card
from .keys import private_key_fingerprint, resolve_private_key
from .layout import CARD, GENE_FILES, README, SIGNATURE, digest_mismatches
from .modelcard import render_readme
from .trust import TrustStore


@dataclass(frozen=True)
class Verification:
    """A gene that verified: who signed it, its (valid) card, and the digest of the signed file set."""

    signer: str
    fingerprint: str
    card: dict[str, Any]
    digest: str = ""

    @property
    def repo_id(self) -> str | None:
        """The repo id the signed card claims (``identity.repo_id``), or None for an unbound gene."""
        return (self.card.get("identity") or {}).get("repo_id")


def hashing_config() -> Any:
    """The one hashing configuration genehub signs genes with: sha256 per file, ``gene.sig`` ignored."""
    return _hashing_config(SIGNATURE)


def gene_digest(gene_dir: str | Path) -> str:
    """``sha256:<hex>`` of a gene directory's signed file set (what ``identity.previous.digest`` records)."""
    return tree_digest(directory_digests(gene_dir, SIGNATURE))


def _require_complete(gene_dir: Path, *, label: str) -> None:
    missing = [name for name in GENE_FILES if not (gene_dir / name).is_file()]
    if missing:
        raise VerificationError(
            f"{label} is not a complete gene: missing {', '.join(missing)}.",
            files=missing,
            hint="Write genes with `genehub.gene.write_gene` (or `genehub extract`), then sign them.",
        )


def default_repo_id(card: dict[str, Any], key: Path) -> str:
    """The repo id ``sign_gene`` binds when none is given: the card's own, else ``<key name>/<gene name>``."""
    bound = (card.get("identity") or {}).get("repo_id")
    return bound if bound else f"{key.stem}/{card['name']}"


def _identity(card: dict[str, Any], key: Path, repo_id: str | None, previous: str | Path | None) -> dict[str, Any]:
    repo_id = repo_id or default_repo_id(card, key)
    if not is_repo_id(repo_id):
        raise UsageError(f"Cannot sign {card['name']} for {repo_id!r}: not a Hub repo id.",
                         hint="Pass the repo you will push to: `genehub sign DIR --key NAME --repo-id OWNER/NAME`.")
    identity: dict[str, Any] = {"repo_id": check_repo_id(repo_id)}
    old = card.get("identity") or {}
    if previous is not None:
        prev_dir = Path(previous)
        prev_card = load_card(prev_dir)
        prev_repo = (prev_card.get("identity") or {}).get("repo_id")
        if prev_repo and prev_repo.lower() != repo_id.lower():
            raise UsageError(f"The previous version {prev_dir} is signed for {prev_repo}, not {repo_id}.",
                             hint="Pass the previous version of this same repo, or leave --previous out.")
        identity["previous"] = {"version": prev_card["version"], "digest": gene_digest(prev_dir)}
    elif old.get("previous") and old.get("repo_id") == repo_id:
        identity["previous"] = old["previous"]  # re-signing keeps the link to the version before
    if "previous" in identity and version_key(identity["previous"]["version"]) >= version_key(card["version"]):
        raise UsageError(
            f"The previous version {identity['previous']['version']} is not older than {card['version']}.",
            hint="Bump `version` in gene.json (rewrite the gene with `write_gene`), then sign again.",
        )
    return identity


def sign_gene(gene_dir: str | Path, *, key: str | Path, password: str | None = None, repo_id: str | None = None,
              previous: str | Path | None = None) -> Path:
    """Sign a gene directory with a P-256 private key, binding the repo id it will be published as.

    Every check runs before anything is written: no links or pickle-like files, a complete gene, a
    valid card whose digests match the files, a readable key (and password). Then the card gets its
    ``identity``, README.md is re-rendered with the signer's fingerprint and ``gene.sig`` is written,
    all in a staging copy that replaces the directory in one step.

    Args:
        gene_dir: the gene directory.
        key: a key name (``config_dir()/keys/NAME.pem``, see ``genehub keys new``) or a PEM file path.
        password: the private key's password, if it is encrypted.
        repo_id: the repo the gene will be pushed to (``push`` refuses any other). Default: the repo the
            card is already bound to, else ``<key name>/<gene name>`` (key ``alice`` -> ``alice/sort-gene``).
        previous: the signed directory of the version before this one: its version and digest go into
            the card, so a pull can tell a real successor from a fork. Default: keep the card's link.

    Returns:
        The path of ``gene.sig``.

    Raises:
        UnsafeFileError: links, special or pickle-like files in the directory.
        CardValidationError: the card is invalid.
        VerificationError: files are missing, or differ from the card's digests.
        SigningKeyError: the key cannot be found or read.
        UsageError: a repo id that is not ``owner/name``, or a previous version that is not older.
    """
    gene_dir = Path(gene_dir)
    if not gene_dir.is_dir():
        raise NotFoundError(f"{gene_dir} is not a directory.", hint="Pass a gene directory.", path=str(gene_dir))
    gene_dir = gene_dir.resolve()
    refuse_unsafe_tree(gene_dir, what=str(gene_dir), ignore=GIT_PATHS)
    _require_complete(gene_dir, label=str(gene_dir))
    card = load_card(gene_dir)
    stale = digest_mismatches(gene_dir, card["files"])
    if stale:
        raise VerificationError(
            f"Cannot sign {gene_dir}: {', '.join(stale)} differ from the digests in gene.json.",
            files=stale,
            hint="Rewrite the gene with `write_gene` so the card matches its files.",
        )
    key_path = resolve_private_key(key)
    key_fingerprint = private_key_fingerprint(key_path, password=password)
    card = copy.deepcopy(card)
    card["identity"] = _identity(card, key_path, repo_id, previous)
    validate_card(card, source=f"card for {gene_dir}")
    readme = render_readme(card, signer_fingerprint=key_fingerprint)
    with staged_dir(gene_dir, copy_from=gene_dir) as stage:
        for name, text in ((CARD, dump_card(card)), (README, readme)):
            (stage / name).unlink()  # hard-linked to the original: replace, never write into it
            (stage / name).write_text(text, encoding="utf-8")
        sign_dir(stage, SIGNATURE, key=key_path, password=password)
    return gene_dir / SIGNATURE


def verify_gene(gene_dir: str | Path, *, trust: TrustStore | None = None, repo_id: str | None = None,
                label: str | None = None) -> Verification:
    """Verify a gene: safe files, signature valid, signer trusted, card valid, digests match, identity.

    Args:
        gene_dir: the gene directory (a link to it, such as an installed gene's ``current``, is followed).
        trust: the trust store (default ``TrustStore()`` in ``config_dir()/trust``).
        repo_id: the repo the gene must be signed for (``identity.repo_id``, case-insensitive); None
            skips the check (a gene looked at on its own).
        label: how to name the gene in errors (default: its path).

    Returns:
        The signer's name and fingerprint, the validated card and the signed file set's digest.

    Raises:
        VerificationError: unsigned, unreadable or invalid signature, files that differ (``err.files``
            lists them: changed, added, removed or renamed), or signed for another repo.
        UnsafeFileError: links, special or pickle-like files in the directory.
        UntrustedSignerError: a valid-looking signature by a key that is not in the trust store.
        CardValidationError: the signed card violates the schema.
    """
    gene_dir = Path(gene_dir)
    label = label or str(gene_dir)
    signed = verify_dir(gene_dir, SIGNATURE, trust=trust if trust is not None else TrustStore(), label=label)
    gene_dir = gene_dir.resolve()
    _require_complete(gene_dir, label=label)  # a trusted signer may still have signed an incomplete gene
    card = load_card(gene_dir)  # CardValidationError names the JSON paths
    stale = digest_mismatches(gene_dir, card["files"])
    if stale:
        raise VerificationError(
            f"{label} is signed, but {', '.join(stale)} differ from the digests in its card.",
            files=stale,
            hint="The publisher signed an inconsistent gene: ask them to rewrite it with `write_gene` and re-sign.",
        )
    result = Verification(signer=signed.signer, fingerprint=signed.fingerprint, card=card, digest=signed.digest)
    if repo_id is not None:
        check_identity(result, repo_id, label=label)
    return result


def check_identity(result: Verification, repo_id: str, *, label: str) -> None:
    """Refuse a verified gene whose signed card is not bound to ``repo_id``.

    Raises:
        VerificationError: unbound (signed without an identity), or signed for another repo.
    """
    claimed = result.repo_id
    if claimed is None:
        raise VerificationError(
            f"{label} is signed by {result.signer} but not bound to any repo, so it could be any gene served as {repo_id}.",
            files=[CARD],
            hint=f"Ask the publisher to re-sign it with `genehub sign DIR --key NAME --repo-id {repo_id}` and push again.",
        )
    if claimed.lower() != repo_id.lower():
        raise VerificationError(
            f"{label} is signed for {claimed}, not {repo_id}: the registry served another gene under this name.",
            files=[CARD],
            hint=f"Do not use it. If you wanted that gene, pull {claimed}; else report the registry.",
        )
