"""Sign and verify a router directory exactly as a gene is signed (:mod:`genehub._signing`): model_signing,
P-256 keys, the same trust store and the same refused files. ``router.sig`` covers ``router.json`` and
``router.safetensors`` (and anything else there).

    model_signing verify key ROUTER_DIR --signature ROUTER_DIR/router.sig --public_key SIGNER.pub
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .._signing import sign_dir, verify_dir
from .router import SIGNATURE, Router


def sign_router(router_dir: str | Path, *, key: str | Path, password: str | None = None) -> Path:
    """Sign a router directory (checks it loads first). ``key``: a key name or PEM path. Returns ``router.sig``."""
    from ..gene.keys import private_key_fingerprint, resolve_private_key

    router_dir = Path(router_dir)
    Router.load(router_dir)  # refuse to sign an invalid or inconsistent router
    key_path = resolve_private_key(key)
    private_key_fingerprint(key_path, password=password)  # unreadable key or wrong password: nothing written
    return sign_dir(router_dir, SIGNATURE, key=key_path, password=password)


def verify_router(router_dir: str | Path, *, trust: Any | None = None) -> tuple[str, Router]:
    """Verify the signature against the trust store, then load the router.

    Returns:
        ``(signer name, router)``.

    Raises:
        VerificationError: unsigned, or files differ from what was signed.
        UntrustedSignerError: signed by a key that is not trusted.
        UnsafeFileError: links or pickle-like files in the directory.
    """
    from ..gene import TrustStore

    signed = verify_dir(router_dir, SIGNATURE, trust=trust if trust is not None else TrustStore(),
                        get_again="get the router again or retrain it", sign_command="genehub router sign DIR --key NAME")
    return signed.signer, Router.load(router_dir)
