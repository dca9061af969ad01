"""Breeding: merge genes or models, search merge recipes, gate compatibility, plan the strategy.

    >>> from genehub.breeding import check, plan, breed, list_methods
    >>> check(["genes/sort", "genes/add"], "ties").ok                                    # doctest: +SKIP
    True
    >>> plan("capability_fusion", "zoo/host", ["zoo/donor-sort", "zoo/donor-add"]).strategy  # doctest: +SKIP
    'ties_dare'
    >>> breed(["genes/sort", "genes/add"], "ties", host="zoo/host", out="genes/both")     # doctest: +SKIP

Modules: ``gate`` (compatibility), ``licenses`` (SPDX rules), ``methods`` (the one registry),
``breed`` (running a method), ``evolve`` (searching recipes), ``planner`` and ``ledger``.
"""

from __future__ import annotations

from ._breed import Child, breed
from .gate import GateReport, check, require
from .ledger import Ledger
from .methods import BreedingMethod, Param, get_method, list_methods, register
from .planner import GOALS, STRATEGIES, Budget, Plan, plan

__all__ = [
    "GOALS", "STRATEGIES", "BreedingMethod", "Budget", "Child", "GateReport", "Ledger", "Param", "Plan", "breed",
    "check", "get_method", "list_methods", "plan", "register", "require",
]
