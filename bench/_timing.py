"""Timing for the benchmarks: functions run interleaved over rounds, and medians of per-round ratios."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any


def interleaved(fns: dict[str, Callable[[], Any]], reps: int) -> tuple[dict[str, list[float]], dict[str, str]]:
    """Seconds per call of each function over ``reps`` rounds, the functions interleaved in every round."""
    errors = {}
    for name, fn in list(fns.items()):
        try:
            fn()  # warm-up, and drop a row that cannot run at all (reported)
        except Exception as err:
            errors[name] = f"{type(err).__name__}: {str(err)[:200]}"
            del fns[name]
    names = list(fns)
    times: dict[str, list[float]] = {n: [] for n in names}
    for r in range(reps):
        for name in names[r % len(names):] + names[:r % len(names)]:
            start = time.perf_counter()
            fns[name]()
            times[name].append(time.perf_counter() - start)
    return times, errors


def spread(values: list[float]) -> dict[str, float]:
    """Median and quartiles, rounded to 4 places."""
    q = statistics.quantiles(values, n=4) if len(values) > 1 else [values[0]] * 3
    return {"median": round(statistics.median(values), 4), "p25": round(q[0], 4), "p75": round(q[2], 4)}


def ratios(times: dict[str, list[float]], base: str) -> dict[str, dict[str, float]]:
    """Per function: median milliseconds, and the median (and quartiles) of its per-round ratio to ``base``."""
    out = {}
    for name, ts in times.items():
        per_round = spread([t / b for t, b in zip(ts, times[base])])
        out[name] = {"ms": round(1000 * statistics.median(ts), 3), "ratio": per_round["median"],
                     "ratio_p25": per_round["p25"], "ratio_p75": per_round["p75"]}
    return out
