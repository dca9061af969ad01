"""What a pull refuses before anything is loaded: pickles, paths that escape, oversize files.

Checked twice: on the registry's file listing (before a byte is downloaded) and on the downloaded
directory (before verification reads it), so a registry that lies in its listing is still caught.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

from ..errors import UnsafeFileError
from .base import RemoteFile

#: suffixes of formats that run code when loaded (pickle and friends)
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt", ".joblib", ".dill", ".mar", ".npy", ".npz")
#: default per-file bound; override with ``GENEHUB_MAX_FILE_BYTES`` or ``max_file_bytes=``
DEFAULT_MAX_FILE_BYTES = 1 << 30


def max_file_bytes(value: int | None = None) -> int:
    """The bound in force: ``value``, else ``GENEHUB_MAX_FILE_BYTES``, else 1 GiB."""
    if value is not None:
        return int(value)
    return int(os.environ.get("GENEHUB_MAX_FILE_BYTES") or DEFAULT_MAX_FILE_BYTES)


def is_git_path(path: str) -> bool:
    """Files the Hub adds to every repo (``.gitattributes``); never part of a gene."""
    return PurePosixPath(path).parts[0].startswith(".git")


def _escapes(path: str) -> bool:
    pure = PurePosixPath(path)
    return (not path or "\\" in path or "\0" in path or pure.is_absolute() or path.startswith("/")
            or any(part in ("", ".", "..") for part in path.split("/")))


def check_files(repo_id: str, files: Iterable[RemoteFile], *, limit: int) -> list[str]:
    """Refuse a listing with escaping paths, pickles or files over ``limit``; returns the names to download.

    Raises:
        UnsafeFileError: naming every offending file.
    """
    escaping, pickles, oversize, names = [], [], [], []
    for f in files:
        if _escapes(f.path):
            escaping.append(f.path)
        elif is_git_path(f.path):
            continue
        elif f.path.lower().endswith(PICKLE_SUFFIXES):
            pickles.append(f.path)
        elif f.size > limit:
            oversize.append(f"{f.path} ({f.size} bytes)")
        else:
            names.append(f.path)
    _raise(repo_id, escaping, pickles, oversize, limit)
    return sorted(names)


def check_tree(repo_id: str, root: Path, *, limit: int) -> None:
    """Refuse a downloaded directory holding links, pickles or files over ``limit`` (what was written, not said)."""
    escaping, pickles, oversize = [], [], []
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.is_symlink() or not (path.is_file() or path.is_dir()):
            escaping.append(rel)
        elif path.is_file() and rel.lower().endswith(PICKLE_SUFFIXES):
            pickles.append(rel)
        elif path.is_file() and path.stat().st_size > limit:
            oversize.append(f"{rel} ({path.stat().st_size} bytes)")
    _raise(repo_id, escaping, pickles, oversize, limit)


def _raise(repo_id: str, escaping: list[str], pickles: list[str], oversize: list[str], limit: int) -> None:
    if escaping:
        raise UnsafeFileError(
            f"{repo_id} holds paths that escape its directory or are links: {', '.join(escaping)}. Nothing was installed.",
            hint="Do not use this repo; report it to its publisher or registry.",
        )
    if pickles:
        raise UnsafeFileError(
            f"{repo_id} holds pickle-format files ({', '.join(pickles)}), which can run code when loaded. "
            "Nothing was installed.",
            hint="genehub loads safetensors only: ask the publisher to remove them and push again.",
        )
    if oversize:
        raise UnsafeFileError(
            f"{repo_id} holds files over the {limit}-byte bound: {', '.join(oversize)}. Nothing was installed.",
            hint="If you trust it, raise the bound with --max-file-bytes or GENEHUB_MAX_FILE_BYTES.",
        )
