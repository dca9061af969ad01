"""The one way genehub fingerprints files and folders: sha256, streamed in 1 MiB chunks.

A folder's digest is the sha256 of one ``name\\0<sha256 of the file>\\n`` line per file, in the order
given, so a model folder (config and weights), a gene (card, adapter, examples) and anything else is
pinned the same way without reading a whole weight file into memory.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

_CHUNK = 1 << 20


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def file_digest(path: str | Path) -> str:
    """``sha256:<hex>`` of one file."""
    return "sha256:" + _sha256(Path(path))


def dir_digest(folder: str | Path, names: Iterable[str]) -> str:
    """``sha256:<hex>`` over the files ``names`` of ``folder``, in that order; a missing name is skipped."""
    folder = Path(folder)
    outer = hashlib.sha256()
    for name in names:
        path = folder / name
        if path.is_file():
            outer.update(f"{name}\0{_sha256(path)}\n".encode())
    return "sha256:" + outer.hexdigest()
