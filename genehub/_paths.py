"""Where genehub keeps things. Every location can be overridden by an environment variable.

| what | variable | default |
| --- | --- | --- |
| zoo models and other caches | ``GENEHUB_CACHE`` | ``$XDG_CACHE_HOME/genehub`` (``~/.cache/genehub``) |
| keys and the trust store | ``GENEHUB_CONFIG`` | ``$XDG_CONFIG_HOME/genehub`` (``~/.config/genehub``) |
| installed genes and the local registry | ``GENEHUB_HOME`` | ``$XDG_DATA_HOME/genehub`` (``~/.local/share/genehub``) |
"""

from __future__ import annotations

import os
from pathlib import Path


def _xdg(var: str, fallback: str) -> Path:
    value = os.environ.get(var)
    return Path(value) if value else Path.home() / fallback


def cache_dir() -> Path:
    """Caches that can be rebuilt (the zoo's models, datasets)."""
    return Path(os.environ.get("GENEHUB_CACHE") or _xdg("XDG_CACHE_HOME", ".cache") / "genehub")


def config_dir() -> Path:
    """Keys and the trust store."""
    return Path(os.environ.get("GENEHUB_CONFIG") or _xdg("XDG_CONFIG_HOME", ".config") / "genehub")


def home_dir() -> Path:
    """Installed genes (the gene store) and the embedded local registry."""
    return Path(os.environ.get("GENEHUB_HOME") or _xdg("XDG_DATA_HOME", ".local/share") / "genehub")
