"""Pick a registry from what a user typed: ``local`` (default), ``hub``, an URL, or a directory."""

from __future__ import annotations

import os
import re
from pathlib import Path

from ..errors import UsageError
from .base import Registry

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):")


def _check_spec(spec: str) -> None:
    """Refuse what looks like a mistyped URL (``htp:/bad``, ``https:/x``) rather than read it as a folder."""
    match = _SCHEME.match(spec)
    if match is None or Path(spec).expanduser().exists():
        return
    scheme = match.group(1)
    if scheme.lower() in ("http", "https"):
        problem = f"the {scheme}: URL {spec!r} lacks the `//` after `{scheme}:`"
    else:
        problem = f"{spec!r} looks like a URL with the scheme `{scheme}:`, which genehub does not read"
    raise UsageError(f"Cannot use the registry {spec!r}: {problem}.",
                     hint="Pass `local`, `hub`, an http:// or https:// URL of a Hub-compatible endpoint, or a "
                          "folder (write ./NAME for a folder whose name has a colon).")


def open_registry(spec: Registry | str | None = None) -> Registry:
    """The registry named by ``spec``.

    ``None`` -> ``GENEHUB_REGISTRY`` if set, else the local registry in ``home_dir()/registry``;
    ``"local"`` -> that local registry; ``"hub"`` -> the Hub at ``HF_ENDPOINT`` (or huggingface.co);
    ``"http(s)://..."`` -> a Hub-compatible endpoint; anything else -> a local registry in that directory.

    Raises:
        UsageError: ``spec`` looks like a URL genehub cannot read (another scheme, ``http:/`` with one
            slash) and is no existing folder.
    """
    if isinstance(spec, Registry):
        return spec
    spec = spec or os.environ.get("GENEHUB_REGISTRY") or "local"
    if spec == "local":
        from .local import LocalRegistry

        return LocalRegistry()
    if spec == "hub" or spec.startswith(("http://", "https://")):
        from .hub import HubRegistry

        return HubRegistry(None if spec == "hub" else spec)
    _check_spec(spec)
    from .local import LocalRegistry

    return LocalRegistry(os.path.expanduser(spec))
