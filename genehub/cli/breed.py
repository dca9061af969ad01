"""CLI commands of this group (filled in by its issue)."""

from __future__ import annotations

from typing import Any


def register(subparsers: Any) -> None:
    """Add this group's commands to `genehub`."""
