"""The trust store: named public keys whose signatures ``genehub verify`` accepts.

A directory (default ``config_dir()/trust``, or ``GENEHUB_CONFIG``, or ``TrustStore(path)``) with one
``NAME.pub`` PEM file per trusted signer. Keys are looked up by fingerprint, the hint model_signing
writes into each signature.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .._paths import config_dir
from ..errors import NotFoundError, SigningKeyError
from .keys import check_name, fingerprint, load_public_key, public_pem


@dataclass(frozen=True)
class TrustedKey:
    """One trusted signer."""

    name: str
    fingerprint: str
    path: Path


class TrustStore:
    """Named public keys, stored as ``NAME.pub`` files in one directory.

    Example:
        >>> store = TrustStore(tmp_path / "trust")
        >>> store.add("alice", Path("alice.pub"))
        >>> [k.name for k in store.list()]
        ['alice']
    """

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else config_dir() / "trust"

    def __repr__(self) -> str:
        return f"TrustStore({str(self.path)!r})"

    def add(self, name: str, pem: bytes | str | Path, *, overwrite: bool = False) -> TrustedKey:
        """Trust a public key under ``name``.

        Args:
            name: how the signer is shown (a safe file name).
            pem: PEM bytes or text, or the path of a ``.pub`` file.
            overwrite: replace a key already trusted under that name.

        Raises:
            SigningKeyError: the name is taken (by another key) or the key is unsupported.
        """
        check_name(name, what="trusted key")
        data = public_pem(load_public_key(pem))
        target = self.path / f"{name}.pub"
        if target.exists() and not overwrite and target.read_bytes() != data:
            raise SigningKeyError(
                f"Another key is already trusted as {name!r} ({target}).",
                hint=f"Remove it first with `genehub trust remove {name}`, or pick another name.",
            )
        self.path.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        return TrustedKey(name, fingerprint(data), target)

    def remove(self, name: str) -> None:
        """Stop trusting ``name``.

        Raises:
            NotFoundError: no key of that name.
        """
        check_name(name, what="trusted key")
        target = self.path / f"{name}.pub"
        if not target.is_file():
            raise NotFoundError(
                f"No trusted key named {name!r} in {self.path}.",
                hint="See the names with `genehub trust list`.",
                path=str(target),
            )
        target.unlink()

    def list(self) -> list[TrustedKey]:
        """The trusted keys, sorted by name (unreadable files are skipped)."""
        if not self.path.is_dir():
            return []
        keys = []
        for file in sorted(self.path.glob("*.pub")):
            try:
                keys.append(TrustedKey(file.stem, fingerprint(file), file))
            except SigningKeyError:
                continue
        return keys

    def find(self, key_fingerprint: str) -> TrustedKey | None:
        """The trusted key with this fingerprint (``sha256:<hex>`` or bare hex), or None."""
        wanted = key_fingerprint if key_fingerprint.startswith("sha256:") else "sha256:" + key_fingerprint
        return next((k for k in self.list() if k.fingerprint == wanted), None)
