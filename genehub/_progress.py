"""One progress bar for every long step genehub runs (tqdm, on stderr).

A bar is drawn only on a terminal: when stderr goes to a file or a pipe, tqdm's redraws (carriage
returns and, for nested bars, cursor-up ``ESC[A`` codes) would land in it as hundreds of lines, so the
bar is off there and the caller's own log lines say what happens.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def progress_bar(iterable: Iterable[Any] | None = None, *, desc: str, total: int | None = None, enabled: bool = True,
                 unit: str = "it", leave: bool = True) -> Any:
    """A ``tqdm`` bar on stderr, shown when ``enabled`` and stderr is a terminal (a no-op bar otherwise).

    Args:
        iterable: what to iterate over (or None, then call ``update``).
        desc: the bar's label (``"circuit"``, ``"distil"``).
        total: the number of steps when ``iterable`` has no length.
        enabled: the caller's own switch (``progress=False`` in a config).
        unit: what one step is.
        leave: keep the finished bar on screen.
    """
    from tqdm.auto import tqdm

    # disable=None is tqdm's "only on a TTY"
    return tqdm(iterable, desc=desc, total=total, unit=unit, leave=leave, disable=None if enabled else True)
