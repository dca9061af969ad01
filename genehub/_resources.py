"""Finds the files genehub ships outside its Python package: ``schemas/`` and ``cards/``.

They live at the top of the repository (the single source of truth). An editable install reads them
there; a wheel install carries them under ``<prefix>/share/genehub`` (see pyproject's data-files).
"""

from __future__ import annotations

import sys
from functools import cache
from pathlib import Path

from .errors import NotFoundError


@cache
def resource_dir(name: str) -> Path:
    """Return the directory ``schemas`` or ``cards``.

    Raises:
        NotFoundError: when neither the repository nor the install prefix has it.
    """
    candidates = [
        Path(__file__).resolve().parent.parent / name,
        Path(sys.prefix) / "share" / "genehub" / name,
    ]
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    raise NotFoundError(
        f"genehub's {name}/ directory was not found (looked in {', '.join(map(str, candidates))}).",
        hint="Reinstall genehub (`pip install -e .` from a checkout, or `pip install genehub`).",
    )


def schema_path(filename: str) -> Path:
    """Path of one JSON schema, e.g. ``schema_path("gene-card.schema.json")``."""
    return resource_dir("schemas") / filename
