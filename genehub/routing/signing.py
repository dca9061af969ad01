"""Sign and verify a router directory exactly as a gene is signed: model_signing, P-256 keys, the same
trust store. ``router.sig`` covers ``router.json`` and ``router.safetensors`` (and anything else there).

    model_signing verify key ROUTER_DIR --signature ROUTER_DIR/router.sig --public_key SIGNER.pub
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import NotFoundError, UntrustedSignerError, VerificationError
from .router import SIGNATURE, Router


def hashing_config() -> Any:
    """sha256 per file, ``router.sig`` and git metadata ignored (as for genes)."""
    from model_signing import hashing

    return (hashing.Config().use_file_serialization(hashing_algorithm="sha256")
            .set_ignored_paths(paths=[SIGNATURE], ignore_git_paths=True))


def sign_router(router_dir: str | Path, *, key: str | Path, password: str | None = None) -> Path:
    """Sign a router directory (checks it loads first). ``key``: a key name or PEM path. Returns ``router.sig``."""
    from model_signing import signing

    from ..gene.keys import resolve_private_key

    router_dir = Path(router_dir)
    Router.load(router_dir)  # refuse to sign an invalid or inconsistent router
    signature = router_dir / SIGNATURE
    signing.Config().use_elliptic_key_signer(private_key=resolve_private_key(key), password=password) \
        .set_hashing_config(hashing_config()).sign(router_dir, signature)
    return signature


def verify_router(router_dir: str | Path, *, trust: Any | None = None) -> tuple[str, Router]:
    """Verify the signature against the trust store, then load the router.

    Returns:
        ``(signer name, router)``.

    Raises:
        VerificationError: unsigned, or files differ from what was signed.
        UntrustedSignerError: signed by a key that is not trusted.
    """
    import json

    from model_signing import verifying

    from ..gene import TrustStore

    router_dir = Path(router_dir)
    signature = router_dir / SIGNATURE
    if not router_dir.is_dir():
        raise NotFoundError(f"{router_dir} is not a directory.", hint="Pass a router directory.", path=str(router_dir))
    if not signature.is_file():
        raise VerificationError(f"{router_dir} is not signed (no {SIGNATURE}).", files=[SIGNATURE],
                                hint="Sign it with `genehub router sign DIR --key NAME`.")
    trust = trust if trust is not None else TrustStore()
    try:
        hint = json.loads(signature.read_text())["verificationMaterial"]["publicKey"]["hint"]
    except (ValueError, KeyError, TypeError):
        raise VerificationError(f"{signature} is not a readable signature bundle.", files=[SIGNATURE],
                                hint="Get the router again from its publisher.") from None
    trusted = trust.find("sha256:" + hint)
    if trusted is None:
        raise UntrustedSignerError(f"{router_dir} is signed by key sha256:{hint}, which is not trusted.",
                                   hint="If you trust its publisher, run `genehub trust add NAME KEY.pub`.")
    try:
        verifying.Config().use_elliptic_key_verifier(public_key=trusted.path).set_hashing_config(
            hashing_config()).verify(router_dir, signature)
    except Exception as err:  # model_signing raises ValueError and friends
        raise VerificationError(f"{router_dir} does not match its signature by {trusted.name} ({err}).",
                                files=[SIGNATURE], hint="Do not use this router; get it again or retrain it.") from None
    return trusted.name, Router.load(router_dir)
