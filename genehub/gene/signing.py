"""Sign and verify genes with OpenSSF model_signing (elliptic-curve keys, sha256 per file).

The signature ``gene.sig`` covers every file of the gene directory (card and README included) except
itself and git metadata (``.git/``, ``.gitattributes``, ...: the Hub adds them). The hashing
configuration is fixed and passed explicitly to both signer and verifier, so verification never relies
on model_signing guessing it. The same directory verifies with the model_signing CLI alone::

    model_signing verify key GENE_DIR --signature GENE_DIR/gene.sig --public_key SIGNER.pub
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import NotFoundError, UnsafeFileError, UntrustedSignerError, VerificationError
from .card import load_card
from .keys import private_key_fingerprint, resolve_private_key
from .layout import GENE_FILES, SIGNATURE, digest_mismatches
from .modelcard import write_readme
from .trust import TrustStore

_PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")


@dataclass(frozen=True)
class Verification:
    """A gene that verified: who signed it and its (valid) card."""

    signer: str
    fingerprint: str
    card: dict[str, Any]


def hashing_config() -> Any:
    """The one hashing configuration genehub signs and verifies with: sha256 per file, ``gene.sig`` ignored."""
    from model_signing import hashing

    return (
        hashing.Config()
        .use_file_serialization(hashing_algorithm="sha256")
        .set_ignored_paths(paths=[SIGNATURE], ignore_git_paths=True)
    )


def _check_gene_dir(gene_dir: Path) -> None:
    if not gene_dir.is_dir():
        raise NotFoundError(f"{gene_dir} is not a directory.", hint="Pass a gene directory.", path=str(gene_dir))
    missing = [name for name in GENE_FILES if not (gene_dir / name).is_file()]
    if missing:
        raise VerificationError(
            f"{gene_dir} is not a complete gene: missing {', '.join(missing)}.",
            files=missing,
            hint="Write genes with `genehub.gene.write_gene` (or `genehub extract`), then sign them.",
        )
    pickles = sorted(p.name for p in gene_dir.rglob("*") if p.suffix in _PICKLE_SUFFIXES)
    if pickles:
        raise UnsafeFileError(
            f"{gene_dir} holds pickle files ({', '.join(pickles)}); genes carry safetensors only.",
            hint="Delete them; the adapter belongs in adapter_model.safetensors.",
        )


def sign_gene(gene_dir: str | Path, *, key: str | Path, password: str | None = None) -> Path:
    """Sign a gene directory with a P-256 private key.

    Checks the card and its file digests first, re-renders README.md with the signer's fingerprint,
    then writes ``gene.sig`` over every file.

    Args:
        gene_dir: the gene directory.
        key: a key name (``config_dir()/keys/NAME.pem``, see ``genehub keys new``) or a PEM file path.
        password: the private key's password, if it is encrypted.

    Returns:
        The path of ``gene.sig``.

    Raises:
        CardValidationError: the card is invalid (nothing is signed).
        VerificationError: files are missing, or differ from the card's digests.
        SigningKeyError: the key cannot be found or read.
    """
    from model_signing import signing

    gene_dir = Path(gene_dir)
    _check_gene_dir(gene_dir)
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
    write_readme(gene_dir, card, signer_fingerprint=key_fingerprint)
    signature = gene_dir / SIGNATURE
    signing.Config().use_elliptic_key_signer(private_key=key_path, password=password).set_hashing_config(
        hashing_config()
    ).sign(gene_dir, signature)
    return signature


def _read_bundle(signature: Path) -> dict[str, Any]:
    try:
        bundle = json.loads(signature.read_text(encoding="utf-8"))
        bundle["verificationMaterial"]["publicKey"]["hint"]
        bundle["dsseEnvelope"]["payload"]
    except (ValueError, KeyError, TypeError) as err:
        raise VerificationError(
            f"{signature} is not a readable model_signing key bundle ({type(err).__name__}: {err}).",
            files=[SIGNATURE],
            hint="Get the gene again from its publisher, or re-sign it with `genehub sign DIR --key NAME`.",
        ) from None
    return bundle


def signed_digests(bundle: dict[str, Any]) -> dict[str, str]:
    """``{file: hex digest}`` that a bundle's (already verified) payload lists."""
    statement = json.loads(base64.b64decode(bundle["dsseEnvelope"]["payload"]))
    return {r["name"]: r["digest"] for r in statement["predicate"]["resources"]}


def _changed_files(gene_dir: Path, bundle: dict[str, Any]) -> list[str]:
    expected = signed_digests(bundle)
    actual = {rd.identifier: rd.digest.digest_hex for rd in hashing_config().hash(gene_dir).resource_descriptors()}
    return sorted(name for name in expected.keys() | actual.keys() if expected.get(name) != actual.get(name))


def verify_gene(gene_dir: str | Path, *, trust: TrustStore | None = None) -> Verification:
    """Verify a gene: signature valid, signer trusted, card valid against the schema, digests match.

    Args:
        gene_dir: the gene directory.
        trust: the trust store (default ``TrustStore()`` in ``config_dir()/trust``).

    Returns:
        The signer's name and fingerprint, and the validated card.

    Raises:
        VerificationError: unsigned, unreadable or invalid signature, or files that differ
            (``err.files`` lists them: changed, added, removed or renamed).
        UntrustedSignerError: a valid-looking signature by a key that is not in the trust store.
        CardValidationError: the signed card violates the schema.
    """
    from model_signing import verifying

    gene_dir = Path(gene_dir)
    trust = trust if trust is not None else TrustStore()
    if not gene_dir.is_dir():
        raise NotFoundError(f"{gene_dir} is not a directory.", hint="Pass a gene directory.", path=str(gene_dir))
    signature = gene_dir / SIGNATURE
    if not signature.is_file():
        raise VerificationError(
            f"{gene_dir} is not signed (no {SIGNATURE}).",
            files=[SIGNATURE],
            hint="Ask the publisher for a signed gene, or sign your own with `genehub sign DIR --key NAME`.",
        )
    bundle = _read_bundle(signature)
    key_fingerprint = "sha256:" + bundle["verificationMaterial"]["publicKey"]["hint"]
    trusted = trust.find(key_fingerprint)
    if trusted is None:
        raise UntrustedSignerError(
            f"{gene_dir} is signed by key {key_fingerprint}, which is not in the trust store {trust.path}.",
            hint="If you trust its publisher, get their public key and run `genehub trust add NAME KEY.pub`.",
        )
    try:
        verifying.Config().use_elliptic_key_verifier(public_key=trusted.path).set_hashing_config(
            hashing_config()
        ).verify(gene_dir, signature)
    except Exception as err:  # model_signing raises ValueError, cryptography InvalidSignature, protobuf errors
        if str(err).startswith("Signature mismatch"):
            changed = _changed_files(gene_dir, bundle)
            raise VerificationError(
                f"{gene_dir} does not match its signature: {', '.join(changed) or 'the file set'} "
                f"{'differ' if len(changed) != 1 else 'differs'} from what {trusted.name} signed (changed, added or removed).",
                files=changed,
                hint="Do not use this gene; pull it again from its publisher (or re-sign it if you changed it on purpose).",
            ) from None
        raise VerificationError(
            f"The signature of {gene_dir} is invalid for the trusted key {trusted.name} "
            f"({type(err).__name__}: {err or 'bad signature'}).",
            files=[SIGNATURE],
            hint="The signature file was altered or is corrupt: pull the gene again from its publisher.",
        ) from None
    _check_gene_dir(gene_dir)  # a trusted signer may still have signed an incomplete or pickled gene
    card = load_card(gene_dir)  # CardValidationError names the JSON paths
    stale = digest_mismatches(gene_dir, card["files"])
    if stale:
        raise VerificationError(
            f"{gene_dir} is signed, but {', '.join(stale)} differ from the digests in its card.",
            files=stale,
            hint="The publisher signed an inconsistent gene: ask them to rewrite it with `write_gene` and re-sign.",
        )
    return Verification(signer=trusted.name, fingerprint=key_fingerprint, card=card)

