"""Files genehub refuses, and "build in staging, then swap into place": one copy of each for the package.

Every artefact genehub writes or accepts (a gene, a router, a pulled download, a zoo build, the
Space's cache) goes through these helpers, so sign, verify, push and pull refuse the same files and
nothing is ever left half-written:

- :data:`FORBIDDEN_SUFFIXES` / :func:`is_forbidden`: formats that run code when loaded (pickle and
  friends), matched case-insensitively (``model.PT`` is as dangerous as ``model.pt``);
- :func:`tree_problems`: links, special files and forbidden files under a directory, found without
  following a single link;
- :func:`inside`: a path resolved and checked to stay under its root;
- :func:`replace_dir` and :func:`staged_dir`: build a directory beside its target, then swap it in.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from .errors import UnsafeFileError

#: suffixes of formats that can run code when loaded (pickle and friends), compared lower-cased
FORBIDDEN_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt", ".joblib", ".dill", ".mar", ".npy", ".npz")


def is_forbidden(name: str) -> bool:
    """Whether a file name has a pickle-like suffix (any case: ``sub/model.PT`` counts)."""
    return name.lower().endswith(FORBIDDEN_SUFFIXES)


@dataclass
class TreeProblems:
    """What :func:`tree_problems` found: relative POSIX paths."""

    links: list[str] = field(default_factory=list)
    special: list[str] = field(default_factory=list)
    forbidden: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.links or self.special or self.forbidden)


def tree_problems(root: str | Path, *, ignore: tuple[str, ...] = ()) -> TreeProblems:
    """Links, special files (fifos, sockets, devices) and forbidden files under ``root``.

    The walk never follows a link (a link to a directory is reported, not entered). ``ignore``: top-level
    names to skip (e.g. ``.git``).
    """
    root = Path(root)
    found = TreeProblems()
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        here = Path(dirpath)
        for name in [*dirnames, *filenames]:
            path = here / name
            rel = path.relative_to(root).as_posix()
            if rel.split("/", 1)[0] in ignore:
                continue
            mode = os.lstat(path).st_mode
            if stat.S_ISLNK(mode):
                found.links.append(rel)
            elif not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
                found.special.append(rel)
            elif stat.S_ISREG(mode) and is_forbidden(name):
                found.forbidden.append(rel)
        dirnames[:] = [d for d in dirnames if not os.path.islink(here / d)]
    for items in (found.links, found.special, found.forbidden):
        items.sort()
    return found


def refuse_unsafe_tree(root: str | Path, *, what: str, ignore: tuple[str, ...] = ()) -> None:
    """Raise :class:`UnsafeFileError` when ``root`` holds links, special files or pickle-like files.

    Links get their own message (they are the usual way a directory is made to read files outside it).
    """
    problems = tree_problems(root, ignore=ignore)
    if problems.links or problems.special:
        kind = "symbolic links" if problems.links else "special files"
        raise UnsafeFileError(
            f"{what} holds {kind} ({', '.join(problems.links + problems.special)}); genehub accepts regular files only.",
            hint="Replace each link with the file it points to (e.g. `cp --remove-destination \"$(readlink -f F)\" F`).",
        )
    if problems.forbidden:
        raise UnsafeFileError(
            f"{what} holds pickle-format files ({', '.join(problems.forbidden)}), which can run code when loaded.",
            hint="Delete them: genehub carries safetensors only (the adapter belongs in adapter_model.safetensors).",
        )


def inside(root: str | Path, path: str | Path) -> Path:
    """``path`` resolved, after checking it stays under ``root`` (resolved too).

    Raises:
        UnsafeFileError: the path leaves ``root`` (``..``, an absolute part, or a link pointing out).
    """
    base = Path(root).resolve()
    target = (base / path).resolve()
    if target != base and base not in target.parents:
        raise UnsafeFileError(
            f"{path} would be written outside {base}; nothing was written there.",
            hint="Do not use the source that named this path; report it to its publisher or registry.",
        )
    return target


def replace_dir(staging: str | Path, target: str | Path) -> Path:
    """Swap the finished directory ``staging`` into ``target`` (same filesystem), replacing what was there.

    The old directory is renamed aside first and deleted only after the new one is in place, so a
    failure leaves the old one (never a mix, never nothing).
    """
    staging, target = Path(staging), Path(target)
    old = None
    if target.exists() or target.is_symlink():
        old = target.with_name(f".{target.name}.old-{uuid.uuid4().hex[:12]}")
        os.rename(target, old)
    try:
        os.rename(staging, target)
    except BaseException:
        if old is not None:
            os.rename(old, target)
        raise
    if old is not None:
        if old.is_dir() and not old.is_symlink():
            shutil.rmtree(old, ignore_errors=True)
        else:
            old.unlink(missing_ok=True)
    return target


@contextlib.contextmanager
def staged_dir(target: str | Path, *, copy_from: str | Path | None = None) -> Iterator[Path]:
    """A fresh directory beside ``target``; on a clean exit it replaces ``target``, on an error it is deleted.

    Args:
        target: the directory to build (created or replaced whole).
        copy_from: start from a copy of this directory (files hard-linked when possible, so a large
            adapter is not copied to change a small card). A linked file shares its bytes with the
            original: replace it (unlink, then write) rather than writing into it.

    Example:
        >>> with staged_dir("genes/sort") as tmp:
        ...     (tmp / "gene.json").write_text(text)
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".staging", dir=target.parent))
    try:
        if copy_from is not None:
            os.rmdir(staging)
            shutil.copytree(copy_from, staging, symlinks=True, copy_function=_link_or_copy)
        yield staging
        replace_dir(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)
