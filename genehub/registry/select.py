"""Pick a registry from what a user typed: ``local`` (default), ``hub``, an URL, or a directory."""

from __future__ import annotations

import os

from .base import Registry


def open_registry(spec: Registry | str | None = None) -> Registry:
    """The registry named by ``spec``.

    ``None`` -> ``GENEHUB_REGISTRY`` if set, else the local registry in ``home_dir()/registry``;
    ``"local"`` -> that local registry; ``"hub"`` -> the Hub at ``HF_ENDPOINT`` (or huggingface.co);
    ``"http(s)://..."`` -> a Hub-compatible endpoint; anything else -> a local registry in that directory.
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
    from .local import LocalRegistry

    return LocalRegistry(os.path.expanduser(spec))
