"""Checks for the names that reach paths: repo ids, commit ids and content digests, and gene versions.

Everything a registry or a server says is hostile until one of these accepts it: a repo id must match
the Hub's grammar (``owner/name``, no ``..`` or ``--``), a commit id is 40 lower-case hex characters,
an object id is a sha256 hex digest. Only then is it joined to a path.
"""

from __future__ import annotations

import re

from .errors import RegistryError, UsageError

_COMMIT = re.compile(r"^[0-9a-f]{40}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_PART = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9_.-]{0,94}[A-Za-z0-9])?$")
_SEMVER = re.compile(r"^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(?:-([0-9A-Za-z.-]+))?$")


def is_repo_id(value: object) -> bool:
    """Whether ``value`` is ``owner/name`` in the Hub's grammar (what ``huggingface_hub`` accepts, owner required)."""
    if not isinstance(value, str) or value.count("/") != 1:
        return False
    owner, name = value.split("/")
    return all(_PART.match(p) and "--" not in p and ".." not in p for p in (owner, name)) and not name.endswith(".git")


def check_repo_id(value: object) -> str:
    """``value`` if it is a repo id (see :func:`is_repo_id`), else a one-line :class:`UsageError`."""
    if not is_repo_id(value):
        raise UsageError(
            f"{value!r} is not a repo id.",
            hint="Use OWNER/NAME with letters, digits, '-', '_' or '.' (no '--' or '..'), e.g. `alice/sort-gene`.",
        )
    return value  # type: ignore[return-value]


def is_commit(value: object) -> bool:
    """Whether ``value`` is a full commit id (40 lower-case hex characters)."""
    return isinstance(value, str) and bool(_COMMIT.match(value))


def is_sha256(value: object) -> bool:
    """Whether ``value`` is a sha256 hex digest (64 lower-case hex characters)."""
    return isinstance(value, str) and bool(_SHA256.match(value))


def check_commit(value: object, *, source: str) -> str:
    """``value`` if it is a commit id; else :class:`RegistryError` naming ``source`` (who said it)."""
    if not is_commit(value):
        raise RegistryError(
            f"{source} answered {str(value)[:80]!r} as a commit id, which is not 40 hex characters. Nothing was written.",
            hint="Do not use this registry; report it to its operator.",
        )
    return value  # type: ignore[return-value]


def version_key(version: str) -> tuple:
    """A sort key for a semantic version (precedence as semver.org defines it: 1.0.0-rc.1 < 1.0.0).

    Raises:
        UsageError: not ``MAJOR.MINOR.PATCH[-PRERELEASE]``.
    """
    match = _SEMVER.match(version) if isinstance(version, str) else None
    if match is None:
        raise UsageError(f"{version!r} is not a semantic version.", hint="Use MAJOR.MINOR.PATCH, e.g. `0.2.0`.")
    major, minor, patch, pre = match.groups()
    if pre is None:
        return (int(major), int(minor), int(patch), 1, ())
    parts = tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in pre.split("."))
    return (int(major), int(minor), int(patch), 0, parts)
