"""Sign and verify a directory with OpenSSF model_signing: the one implementation for genes and routers.

A signature (``gene.sig``, ``router.sig``) is a model_signing key bundle over every file of the
directory except itself and git metadata (``.git/``, ``.gitattributes``, ...: the Hub adds them), with
sha256 per file. The hashing configuration is fixed and passed to both signer and verifier, so
verification never relies on model_signing guessing it, and the stock CLI checks the same directory::

    model_signing verify key DIR --signature DIR/gene.sig --public_key SIGNER.pub

Both directions refuse links, special files and pickle-like files first (:mod:`genehub._staging`), so
what is signed and what is accepted is one set of rules. Errors are one line and name the directory by
``label`` (a repo id during a pull, never a staging path that is about to disappear).
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from ._staging import refuse_unsafe_tree
from .errors import NotFoundError, UntrustedSignerError, VerificationError

#: top-level names model_signing leaves out of a signature (``ignore_git_paths=True``)
GIT_PATHS = (".git", ".gitattributes", ".github", ".gitignore")


class _Trust(Protocol):
    path: Path

    def find(self, key_fingerprint: str) -> Any: ...


@dataclass(frozen=True)
class Signed:
    """A directory whose signature verified: who signed it and the file digests the signature covers."""

    signer: str
    fingerprint: str
    digests: dict[str, str]

    @property
    def digest(self) -> str:
        """``sha256:<hex>`` naming exactly this signed file set (see :func:`tree_digest`)."""
        return tree_digest(self.digests)


def hashing_config(signature: str) -> Any:
    """sha256 per file; the signature file itself and git metadata are not part of what is signed."""
    from model_signing import hashing

    return (hashing.Config().use_file_serialization(hashing_algorithm="sha256")
            .set_ignored_paths(paths=[signature], ignore_git_paths=True))


def tree_digest(digests: Mapping[str, str]) -> str:
    """One ``sha256:<hex>`` for a set of ``{relative path: sha256 hex}``: names and contents both count.

    This is how a gene names the version before it (``identity.previous.digest``): the same value comes
    from the signed statement of a verified gene and from hashing the directory.
    """
    lines = "".join(f"{name}\0{digests[name]}\n" for name in sorted(digests))
    return "sha256:" + hashlib.sha256(lines.encode()).hexdigest()


def directory_digests(root: str | Path, signature: str) -> dict[str, str]:
    """``{relative path: sha256 hex}`` of the files a signature of ``root`` would cover."""
    return {rd.identifier: rd.digest.digest_hex for rd in hashing_config(signature).hash(Path(root)).resource_descriptors()}


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0]}" if text else type(err).__name__


def read_bundle(signature: Path, *, label: str) -> dict[str, Any]:
    """The bundle JSON of a signature file, checked for the fields genehub reads (one-line error otherwise)."""
    try:
        bundle = json.loads(signature.read_text(encoding="utf-8"))
        hint = bundle["verificationMaterial"]["publicKey"]["hint"]
        payload = bundle["dsseEnvelope"]["payload"]
        if not isinstance(hint, str) or not isinstance(payload, str):
            raise TypeError("hint and payload must be strings")
    except (ValueError, KeyError, TypeError, UnicodeDecodeError) as err:
        raise VerificationError(
            f"The signature {signature.name} of {label} is not a readable model_signing key bundle ({_first_line(err)}).",
            files=[signature.name],
            hint="Get it again from its publisher, or re-sign it with your key if it is yours.",
        ) from None
    return bundle


def bundle_digests(bundle: Mapping[str, Any]) -> dict[str, str]:
    """``{file: sha256 hex}`` that a bundle's statement lists (trust it only after :func:`verify_dir`)."""
    statement = json.loads(base64.b64decode(bundle["dsseEnvelope"]["payload"]))
    return {r["name"]: r["digest"] for r in statement["predicate"]["resources"]}


def sign_dir(root: str | Path, signature: str, *, key: Path, password: str | None = None) -> Path:
    """Write ``root/signature`` over every other file of ``root``.

    Args:
        root: the directory (no links, no pickle-like files).
        signature: the signature's file name (``gene.sig``, ``router.sig``).
        key: the PEM private key file (callers resolve key names with ``genehub.gene.keys``).
        password: the key's password, if it is encrypted.

    Raises:
        UnsafeFileError: links, special or pickle-like files (nothing is written).
    """
    from model_signing import signing

    root = Path(root)
    refuse_unsafe_tree(root, what=str(root), ignore=GIT_PATHS)
    path = root / signature
    path.unlink(missing_ok=True)  # never write through a hard link into another copy of the file
    signing.Config().use_elliptic_key_signer(private_key=key, password=password).set_hashing_config(
        hashing_config(signature)).sign(root, path)
    return path


def verify_dir(root: str | Path, signature: str, *, trust: _Trust, label: str | None = None,
               get_again: str = "get it again from its publisher",
               sign_command: str = "genehub sign DIR --key NAME") -> Signed:
    """Check ``root`` against its signature: safe files only, signed by a trusted key, nothing changed.

    Args:
        root: the directory (a link to a directory is followed once: an installed gene's ``current``).
        signature: the signature's file name.
        trust: the trust store (anything with ``find(fingerprint)`` and ``path``).
        label: how to name the directory in errors (default: its path).
        get_again: what the user should do with a copy that fails (ends each error's hint).
        sign_command: the command that signs such a directory (named when it is unsigned).

    Returns:
        The signer, its fingerprint and the signed file digests.

    Raises:
        NotFoundError: not a directory.
        UnsafeFileError: links, special or pickle-like files inside.
        VerificationError: unsigned, unreadable or invalid signature, or files that differ
            (``err.files`` lists them).
        UntrustedSignerError: signed by a key that is not in the trust store.
    """
    from model_signing import verifying

    root = Path(root)
    label = label or str(root)
    if not root.is_dir():
        raise NotFoundError(f"{label} is not a directory.", hint="Pass a directory (or an installed gene's name).",
                            path=str(root))
    root = root.resolve()
    refuse_unsafe_tree(root, what=label, ignore=GIT_PATHS)
    path = root / signature
    if not path.is_file():
        raise VerificationError(f"{label} is not signed (no {signature}).", files=[signature],
                                hint=f"Ask the publisher for a signed copy, or sign your own with `{sign_command}`.")
    bundle = read_bundle(path, label=label)
    fingerprint = "sha256:" + bundle["verificationMaterial"]["publicKey"]["hint"]
    trusted = trust.find(fingerprint)
    if trusted is None:
        raise UntrustedSignerError(
            f"{label} is signed by key {fingerprint}, which is not in the trust store {trust.path}.",
            hint="If you trust its publisher, get their public key and run `genehub trust add NAME KEY.pub`.",
        )
    try:
        verifying.Config().use_elliptic_key_verifier(public_key=trusted.path).set_hashing_config(
            hashing_config(signature)).verify(root, path)
    except Exception as err:  # model_signing raises ValueError, InvalidSignature, pydantic and protobuf errors
        if str(err).startswith("Signature mismatch"):
            expected = bundle_digests(bundle)
            actual = directory_digests(root, signature)
            changed = sorted(n for n in expected.keys() | actual.keys() if expected.get(n) != actual.get(n))
            verb = "differs" if len(changed) == 1 else "differ"
            raise VerificationError(
                f"{label} does not match its signature: {', '.join(changed) or 'the file set'} {verb} from what "
                f"{trusted.name} signed (changed, added or removed).",
                files=changed, hint=f"Do not use it; {get_again} (or re-sign it if you changed it on purpose).",
            ) from None
        raise VerificationError(
            f"The signature of {label} ({signature}) is invalid for the trusted key {trusted.name} ({_first_line(err)}).",
            files=[signature], hint=f"The signature file was altered or is corrupt: {get_again}.",
        ) from None
    return Signed(signer=trusted.name, fingerprint=fingerprint, digests=bundle_digests(bundle))
