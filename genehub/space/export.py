"""Export the Space as a folder to upload to Hugging Face Spaces, with genehub inside it.

genehub is not on PyPI, and a Space installs its ``requirements.txt`` before its files are copied in, so
the Space cannot ``pip install`` genehub from its own repo. Instead the exported folder carries the
package itself (``genehub/`` beside ``app.py``, importable because a Space runs ``python app.py`` from
its folder) with the ``schemas/`` and ``cards/`` it reads, and ``requirements.txt`` names only genehub's
dependencies (torch as the CPU build)::

    genehub space --export build/space
    hf upload OWNER/NAME build/space . --repo-type space
"""

from __future__ import annotations

import shutil
from pathlib import Path

from .._resources import resource_dir
from ..errors import NotFoundError, UsageError

#: the Space's own files, kept in the repository under ``spaces/genehub/``
SPACE_FILES = ("app.py", "README.md", "requirements.txt")
_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", "*.pyo")


def space_template() -> Path:
    """The folder holding the Space's own files (``spaces/genehub`` of the repository).

    Raises:
        NotFoundError: genehub runs from an install that does not carry the Space's files.
    """
    import genehub

    folder = Path(genehub.__file__).resolve().parent.parent / "spaces" / "genehub"
    if all((folder / name).is_file() for name in SPACE_FILES):
        return folder
    raise NotFoundError(f"The Space's files ({', '.join(SPACE_FILES)}) are not in {folder}.",
                        hint="Export the Space from a checkout of the genehub repository.", path=str(folder))


def export_space(dest: str | Path, *, overwrite: bool = False) -> Path:
    """Write a Space folder ready to upload: app, Space card, requirements, and genehub's package and data.

    Args:
        dest: the folder to write (created; must be empty unless ``overwrite``).
        overwrite: replace what an earlier export wrote there.

    Returns:
        ``dest``.

    Raises:
        UsageError: ``dest`` is a file, or a non-empty folder without ``overwrite``.
        NotFoundError: see :func:`space_template`.
    """
    import genehub

    dest = Path(dest).expanduser()
    if dest.exists() and not dest.is_dir():
        raise UsageError(f"{dest} is a file.", hint="Pass a folder to export the Space to.")
    if dest.is_dir() and any(dest.iterdir()) and not overwrite:
        raise UsageError(f"{dest} is not empty.", hint="Pass an empty or new folder, or --overwrite.")
    template = space_template()
    dest.mkdir(parents=True, exist_ok=True)
    for name in SPACE_FILES:
        shutil.copyfile(template / name, dest / name)
    trees = {"genehub": Path(genehub.__file__).resolve().parent,
             "schemas": resource_dir("schemas"), "cards": resource_dir("cards")}
    for name, source in trees.items():
        shutil.rmtree(dest / name, ignore_errors=True)
        shutil.copytree(source, dest / name, ignore=_IGNORE)
    return dest
