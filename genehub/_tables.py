"""Tables of rows: printed for a person (rich) or written as Markdown, with one way of formatting a cell.

Every layer prints its tables through here (the CLI, the demo's report, the benchmarks), so a number
reads the same everywhere: floats with three decimals, ``None`` as ``-``.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from typing import IO, Any

Row = Mapping[str, Any]


def cell(value: Any) -> str:
    """How a value reads in a table: ``None`` as ``-``, floats with three decimals, anything else as ``str``."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def _columns(rows: Sequence[Row], columns: Sequence[str] | None) -> list[str]:
    return list(columns or rows[0].keys())


def markdown_table(rows: Sequence[Row], columns: Sequence[str] | None = None) -> str:
    """``rows`` as a GitHub-flavoured Markdown table (``columns`` default: the first row's keys; no rows and
    no columns: ``(nothing)``)."""
    if not rows and not columns:
        return "(nothing)\n"
    columns = _columns(rows, columns)
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(r.get(c)) for c in columns) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def print_table(rows: Sequence[Row], columns: Sequence[str] | None = None, *, file: IO[str] | None = None) -> None:
    """Print ``rows`` as an aligned table: the header, a rule, one line per row (never wrapped when the
    output is not a terminal, so scripts can read it line by line)."""
    from rich import box
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    out = file or sys.stdout
    if not rows:
        print("(nothing)", file=out)
        return
    columns = _columns(rows, columns)
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, header_style=None)
    for name in columns:
        table.add_column(name, no_wrap=not out.isatty())
    for row in rows:
        table.add_row(*(Text(cell(row.get(c))) for c in columns))  # Text: cells are data, never markup
    console = Console(file=out, highlight=False, width=None if out.isatty() else 1 << 16)
    console.print(table)
