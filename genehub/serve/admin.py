"""Admin requests: who may make them (a bearer token), and how a gene gets in (only verified, from a private copy).

A gene to plug in is named by a directory on the server's machine. It is copied first into a staging
directory that only the server writes, and the copy is verified against the trust store
(:func:`genehub.gene.verify_gene`: signature, trusted signer, card, digests) and then loaded; so nothing
can change the files between the check and the load. A gene that fails any check is refused and the
running set of genes is unchanged.
"""

from __future__ import annotations

import hmac
import shutil
import tempfile
from pathlib import Path
from typing import Any

from ..errors import CardValidationError, NotFoundError, VerificationError
from .openai import RequestError

#: Git metadata a gene pulled from a repository may carry; signatures ignore it, and so does the copy.
_GIT_NAMES = {".git", ".gitattributes", ".gitignore", ".github"}


def check_token(authorization: str | None, token: str | None) -> None:
    """Refuse an admin request: admin off (no token configured), or a missing or wrong bearer token."""
    if not token:
        raise RequestError(403, "The admin endpoints are off on this server.", code="admin_disabled",
                           type="permission_error", hint="Start it with --admin-token TOKEN (or GENEHUB_ADMIN_TOKEN).")
    scheme, _, given = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
        raise RequestError(401, "Missing or wrong admin token.", code="invalid_token", type="authentication_error",
                           hint="Send the header 'Authorization: Bearer TOKEN' with the server's admin token.")


def stage_verified_gene(path: str, staging_root: Path, *, trust: Any | None = None) -> tuple[Path, Any]:
    """Copy the gene at ``path`` into a fresh directory under ``staging_root`` and verify the copy.

    Returns:
        ``(staged directory, genehub.gene.Verification)``.

    Raises:
        RequestError: 404 when there is no such directory, 400 when it holds links or folders,
            403 when the copy does not verify (the copy is removed).
    """
    from ..gene import verify_gene

    src = Path(path)
    if not src.is_absolute() or not src.is_dir():
        raise RequestError(404, f"No gene directory at {path!r} on the server.", param="path",
                           hint="Send the absolute path of a gene directory on the server's machine.")
    odd = sorted(p.name for p in src.iterdir()
                 if p.name not in _GIT_NAMES and (p.is_symlink() or not p.is_file()))
    if odd:
        raise RequestError(400, f"{path} holds entries that are not plain files: {', '.join(odd[:5])}.", param="path",
                           hint="A gene directory holds only its files; pass the folder `genehub pull` wrote.")
    staged = Path(tempfile.mkdtemp(prefix="gene-", dir=staging_root))
    try:
        for file in src.iterdir():
            if file.name not in _GIT_NAMES:
                shutil.copyfile(file, staged / file.name, follow_symlinks=False)
        verification = verify_gene(staged, trust=trust)
    except (VerificationError, CardValidationError, NotFoundError) as err:
        shutil.rmtree(staged, ignore_errors=True)
        raise RequestError(403, f"Gene refused: {err}", code="gene_not_verified", type="permission_error",
                           param="path") from None
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)
        raise
    return staged, verification
