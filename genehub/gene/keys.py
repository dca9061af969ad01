"""Signing keys: elliptic-curve P-256 key pairs made with ``cryptography`` (model_signing has no Ed25519).

Private keys live in ``config_dir()/keys/NAME.pem`` (mode 0600), public keys beside them as
``NAME.pub``. A key's fingerprint is ``sha256:<hex>`` of its PEM SubjectPublicKeyInfo, the same value
model_signing records as the public-key hint in a signature bundle.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

from .._paths import config_dir
from ..errors import SigningKeyError, UsageError

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_SUPPORTED_CURVES = ("secp256r1", "secp384r1", "secp521r1")


@dataclass(frozen=True)
class KeyPaths:
    """A key pair on disk."""

    name: str
    private: Path
    public: Path
    fingerprint: str


def keys_dir() -> Path:
    """Where ``genehub keys new`` puts key pairs (``config_dir()/keys``)."""
    return config_dir() / "keys"


def check_name(name: str, *, what: str = "key") -> str:
    """Refuse names that are not safe file names."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise UsageError(
            f"{name!r} is not a valid {what} name.",
            hint="Use letters, digits, '.', '_' or '-' (at most 64 characters), e.g. `alice`.",
        )
    return name


def load_public_key(pem: bytes | str | Path) -> object:
    """Load a PEM public key (bytes, text, or a file path) and check model_signing supports its curve.

    Raises:
        SigningKeyError: unreadable, not PEM, or not an EC key on P-256/P-384/P-521.
    """
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    data = _pem_bytes(pem)
    try:
        key = serialization.load_pem_public_key(data)
    except ValueError as err:
        raise SigningKeyError(
            f"Not a PEM public key: {err}.", hint="Pass the NAME.pub file written by `genehub keys new NAME`."
        ) from None
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name not in _SUPPORTED_CURVES:
        raise SigningKeyError(
            f"Unsupported public key type {type(key).__name__}: model_signing needs an EC key on P-256/384/521.",
            hint="Make one with `genehub keys new NAME` (Ed25519 and RSA keys are not supported).",
        )
    return key


def _pem_bytes(pem: bytes | str | Path) -> bytes:
    if isinstance(pem, bytes):
        return pem
    if isinstance(pem, str) and "-----BEGIN" in pem:
        return pem.encode()
    path = Path(pem)
    if not path.is_file():
        raise SigningKeyError(f"No key file at {path}.", hint="Pass a PEM file or its text.")
    return path.read_bytes()


def public_pem(key: object) -> bytes:
    """The canonical PEM (SubjectPublicKeyInfo) of a public key."""
    from cryptography.hazmat.primitives import serialization

    return key.public_bytes(  # type: ignore[attr-defined]
        encoding=serialization.Encoding.PEM, format=serialization.PublicFormat.SubjectPublicKeyInfo
    )


def fingerprint(pem: bytes | str | Path) -> str:
    """``sha256:<hex>`` of a public key (equal to model_signing's key hint in ``gene.sig``)."""
    return "sha256:" + hashlib.sha256(public_pem(load_public_key(pem))).hexdigest()


def new_key(name: str, *, directory: str | Path | None = None, overwrite: bool = False) -> KeyPaths:
    """Make a P-256 key pair ``NAME.pem`` / ``NAME.pub``.

    Args:
        name: the key's name (a safe file name).
        directory: where to write (default ``config_dir()/keys``).
        overwrite: replace an existing key of that name.

    Returns:
        The paths and fingerprint of the new key.

    Raises:
        SigningKeyError: a key of that name exists and ``overwrite`` is false.
    """
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    check_name(name)
    directory = Path(directory) if directory is not None else keys_dir()
    private_path, public_path = directory / f"{name}.pem", directory / f"{name}.pub"
    if private_path.exists() and not overwrite:
        raise SigningKeyError(
            f"A key named {name!r} already exists at {private_path}.",
            hint="Pick another name, or pass --force / overwrite=True to replace it (old signatures stay valid only with the old key).",
        )
    directory.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    private_bytes = key.private_bytes(
        encoding=serialization.Encoding.PEM,
        format=serialization.PrivateFormat.PKCS8,
        encryption_algorithm=serialization.NoEncryption(),
    )
    fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(private_bytes)
    pub = public_pem(key.public_key())
    public_path.write_bytes(pub)
    return KeyPaths(name, private_path, public_path, fingerprint(pub))


def resolve_private_key(key: str | Path) -> Path:
    """A private key path from a key name (in ``keys_dir()``) or a path to a PEM file.

    Raises:
        SigningKeyError: neither exists.
    """
    path = Path(key)
    if path.is_file():
        return path
    if isinstance(key, str) and _NAME.match(key) and (keys_dir() / f"{key}.pem").is_file():
        return keys_dir() / f"{key}.pem"
    raise SigningKeyError(
        f"No signing key {str(key)!r} (looked for the file and for {keys_dir() / f'{key}.pem'}).",
        hint="Make one with `genehub keys new NAME`, or pass the path of a PEM private key.",
    )


def private_key_fingerprint(path: str | Path, *, password: str | None = None) -> str:
    """Fingerprint of the public half of a PEM private key."""
    from cryptography.hazmat.primitives import serialization

    try:
        key = serialization.load_pem_private_key(Path(path).read_bytes(), password.encode() if password else None)
    except (ValueError, TypeError) as err:
        raise SigningKeyError(f"Cannot read the private key {path}: {err}.",
                              hint="Pass an unencrypted PEM key or its password.") from None
    return fingerprint(public_pem(key.public_key()))
