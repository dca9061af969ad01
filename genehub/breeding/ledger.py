"""The breeding ledger: one JSON line per executed plan, so recommendations can be checked against outcomes.

Each line records the request (goal, strategy, method, conditions), what the planner estimated, and what
was measured (benefit: the change in the target skill's score; forgetting: the largest drop on another
skill; compute seconds). :meth:`Ledger.benefit_by_strategy` feeds measured benefit back into the planner.

Example:
    >>> from genehub.breeding.ledger import Ledger
    >>> ledger = Ledger("/tmp/ledger.jsonl")                                      # doctest: +SKIP
    >>> ledger.append(plan, measured={"benefit": 0.31, "forgetting": 0.04, "compute_s": 2.1})  # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .._paths import home_dir
from ..errors import UsageError

_MEASURED_KEYS = ("benefit", "forgetting", "compute_s")


class Ledger:
    """An append-only JSONL file of breeding outcomes (default ``home_dir()/breeding-ledger.jsonl``)."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path else home_dir() / "breeding-ledger.jsonl"

    def append(self, plan: Any, *, measured: dict[str, float], artifact: str | None = None) -> dict[str, Any]:
        """Record the measured outcome of an executed plan; returns the entry written.

        Args:
            plan: the :class:`~genehub.breeding.planner.Plan` that was executed (or its ``to_dict()``).
            measured: at least ``benefit`` (score change on the target skill); optionally ``forgetting``
                (largest drop on other skills) and ``compute_s``.
            artifact: where the child was written.

        Raises:
            UsageError: ``measured`` lacks ``benefit`` or holds a non-number.
        """
        if "benefit" not in measured:
            raise UsageError("A ledger entry needs the measured benefit.",
                             hint="Pass measured={'benefit': new_score - old_score, ...}.")
        for key, value in measured.items():
            if not isinstance(value, (int, float)):
                raise UsageError(f"measured[{key!r}] is {value!r}, not a number.", hint="Record numbers only.")
        data = plan.to_dict() if hasattr(plan, "to_dict") else dict(plan)
        entry = {
            "time": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "goal": data["goal"], "strategy": data["executed_strategy"], "method": data.get("method"),
            "recipient": data.get("recipient"), "donors": data.get("donors", []),
            "conditions": {k: data["conditions"].get(k) for k in ("lineage", "overlap", "modularity")},
            "estimated": data["estimates"], "measured": dict(measured), "artifact": artifact,
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = json.dumps(entry, sort_keys=True) + "\n"
        # One write of one line in append mode: concurrent writers do not interleave within a line.
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)
        return entry

    def entries(self) -> list[dict[str, Any]]:
        """Every entry, oldest first; unreadable lines are skipped."""
        if not self.path.is_file():
            return []
        out = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                continue
        return out

    def benefit_by_strategy(self, goal: str | None = None) -> dict[str, float]:
        """Mean measured benefit per strategy (for one goal, when given)."""
        sums: dict[str, list[float]] = {}
        for e in self.entries():
            if goal is None or e.get("goal") == goal:
                sums.setdefault(e["strategy"], []).append(float(e["measured"]["benefit"]))
        return {k: sum(v) / len(v) for k, v in sums.items()}

    def calibration(self) -> list[dict[str, Any]]:
        """Per strategy: how many outcomes, mean estimated vs mean measured benefit and forgetting."""
        groups: dict[str, list[dict[str, Any]]] = {}
        for e in self.entries():
            groups.setdefault(e["strategy"], []).append(e)
        rows = []
        for strategy, items in sorted(groups.items()):
            row: dict[str, Any] = {"strategy": strategy, "n": len(items)}
            for est_key, key in (("expected_benefit", "benefit"), ("forgetting_risk", "forgetting")):
                est = [i["estimated"][est_key] for i in items]
                got = [i["measured"][key] for i in items if key in i["measured"]]
                row[f"estimated_{key}"] = sum(est) / len(est)
                row[f"measured_{key}"] = sum(got) / len(got) if got else None
            rows.append(row)
        return rows
