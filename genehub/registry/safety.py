"""What a pull refuses before anything is loaded: pickles, paths that escape, links, oversize files.

Checked twice: on the registry's file listing (before a byte is downloaded) and on the downloaded
directory (before verification reads it), so a registry that lies in its listing is still caught. The
list of refused formats is the package's one list (:data:`genehub._staging.FORBIDDEN_SUFFIXES`), the
same that ``sign``, ``verify`` and ``push`` use.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

from .._staging import FORBIDDEN_SUFFIXES, is_forbidden, tree_problems
from ..errors import UnsafeFileError, UsageError
from .base import RemoteFile

#: suffixes of formats that run code when loaded (the package's one list, compared case-insensitively)
PICKLE_SUFFIXES = FORBIDDEN_SUFFIXES
#: default per-file bound; override with ``GENEHUB_MAX_FILE_BYTES`` or ``max_file_bytes=``
DEFAULT_MAX_FILE_BYTES = 1 << 30
ENV_MAX_FILE_BYTES = "GENEHUB_MAX_FILE_BYTES"


def max_file_bytes(value: int | None = None) -> int:
    """The bound in force: ``value``, else ``GENEHUB_MAX_FILE_BYTES``, else 1 GiB.

    Raises:
        UsageError: a bound that is not a whole number of bytes above zero (``abc``, ``-1``, ``1.5``).
    """
    if value is not None:
        source, raw = "max_file_bytes", value
    else:
        source, raw = ENV_MAX_FILE_BYTES, os.environ.get(ENV_MAX_FILE_BYTES, "").strip()
        if not raw:
            return DEFAULT_MAX_FILE_BYTES
    try:
        bound = int(raw) if not isinstance(raw, float) else None
    except (TypeError, ValueError):
        bound = None
    if isinstance(raw, bool) or bound is None or bound <= 0:
        raise UsageError(
            f"{source}={raw!r} is not a positive whole number of bytes.",
            hint=f"Set it to e.g. {DEFAULT_MAX_FILE_BYTES} (1 GiB, the default), or unset {ENV_MAX_FILE_BYTES}.",
        )
    return bound


def is_git_path(path: str) -> bool:
    """Files the Hub adds to every repo (``.gitattributes``); never part of a gene."""
    return PurePosixPath(path).parts[0].startswith(".git")


def _escapes(path: object) -> bool:
    if not isinstance(path, str):
        return True
    pure = PurePosixPath(path)
    return (not path or "\\" in path or "\0" in path or pure.is_absolute() or path.startswith("/")
            or any(part in ("", ".", "..") for part in path.split("/"))
            or any(ord(c) < 32 for c in path) or len(path) > 1024)


def check_files(repo_id: str, files: Iterable[RemoteFile], *, limit: int) -> list[str]:
    """Refuse a listing with escaping paths, pickles or files over ``limit``; returns the names to download.

    Raises:
        UnsafeFileError: naming every offending file.
    """
    escaping, pickles, oversize, names = [], [], [], []
    for f in files:
        if _escapes(f.path) or f.path in names:  # a path listed twice: which copy would be checked?
            escaping.append(str(f.path)[:200])
        elif is_git_path(f.path):
            continue
        elif is_forbidden(f.path):
            pickles.append(f.path)
        elif not isinstance(f.size, int) or isinstance(f.size, bool) or f.size < 0 or f.size > limit:
            oversize.append(f"{f.path} ({f.size} bytes)")
        else:
            names.append(f.path)
    _raise(repo_id, escaping, pickles, oversize, limit)
    return sorted(names)


def check_tree(repo_id: str, root: Path, *, limit: int, expected: Iterable[str] | None = None) -> None:
    """Refuse a downloaded directory holding links, pickles, files over ``limit`` or files nobody listed.

    What was written is checked, not what was said: ``expected`` (the names the listing passed) must be
    exactly the files there.
    """
    problems = tree_problems(root)
    escaping = problems.links + problems.special
    oversize = []
    present = set()
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink():
            rel = path.relative_to(root).as_posix()
            present.add(rel)
            if path.stat().st_size > limit:
                oversize.append(f"{rel} ({path.stat().st_size} bytes)")
    if expected is not None:
        escaping += sorted(present - set(expected) - set(problems.forbidden))
    _raise(repo_id, escaping, problems.forbidden, oversize, limit)


def _raise(repo_id: str, escaping: list[str], pickles: list[str], oversize: list[str], limit: int) -> None:
    if escaping:
        raise UnsafeFileError(
            f"{repo_id} holds paths that escape its directory, are listed twice, are links or were not listed: "
            f"{', '.join(escaping)}. Nothing was installed.",
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
