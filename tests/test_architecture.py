"""docs/ARCHITECTURE.md is true: no module imports a genehub package its layer's row does not list."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "genehub"


def _allowed() -> dict[str, set[str] | None]:
    """``{unit: units it may import}`` from the doc's table (None: every unit)."""
    table = {}
    for line in (ROOT / "docs" / "ARCHITECTURE.md").read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 2 or not cells[0].startswith("`"):
            continue
        units = re.findall(r"`([\w.]+)`", cells[0])
        allowed = None if cells[1].startswith("every") else set(re.findall(r"`([\w.]+)`", cells[1]))
        for unit in units:
            table[unit] = allowed
    return table


def _unit(path: Path, package: Path = PACKAGE) -> str:
    """The package (``gene``) or top-level module (``hosts``) a file belongs to."""
    return path.relative_to(package).with_suffix("").parts[0]


def _imports(path: Path, package: Path = PACKAGE) -> set[str]:
    """The genehub units ``path`` imports, at any indentation (relative or absolute)."""
    here = list(path.relative_to(package).parts[:-1])
    found = set()
    for line in path.read_text().splitlines():
        relative = re.match(r"\s*from (\.+)([\w.]*) import (.*)", line)
        if relative:
            dots, module, names = relative.groups()
            base = here[: len(here) - (len(dots) - 1)] if len(dots) > 1 else here
            target = base + (module.split(".") if module else [])
            found |= {target[0]} if target else {n.strip(" ()").split(" ")[0] for n in names.split(",")}
        absolute = re.match(r"\s*(?:from|import) genehub\.(\w+)", line)
        if absolute:
            found.add(absolute.group(1))
    return found - {_unit(path, package), ""}


def test_every_import_is_one_the_layering_allows():
    allowed = _allowed()
    files = [p for p in PACKAGE.rglob("*.py") if p.name != "__init__.py" or p.parent != PACKAGE]
    problems = []
    for path in files:
        unit = _unit(path)
        if unit == "__main__":
            continue
        assert unit in allowed, f"{unit} ({path}) has no row in docs/ARCHITECTURE.md"
        if allowed[unit] is None:
            continue
        for target in sorted(_imports(path) - allowed[unit]):
            problems.append(f"{path.relative_to(ROOT)} imports {target}, which {unit}'s row does not allow")
    assert not problems, "\n".join(problems)


def test_the_check_sees_an_upward_import(tmp_path):
    # The check must be able to fail: a core module importing the zoo inside a function is caught.
    fake = tmp_path / "genehub" / "routing" / "x.py"
    fake.parent.mkdir(parents=True)
    fake.write_text("def f():\n    from ..zoo import none_prompts\n    from .. import hosts\n")
    found = _imports(fake, tmp_path / "genehub")
    assert found == {"zoo", "hosts"}
    assert found - _allowed()["routing"] == {"zoo"}
