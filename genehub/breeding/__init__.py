"""Breeding: merge genes or models, search merge recipes, gate compatibility, plan the strategy.

    >>> from genehub.breeding import BreedConfig, breed, check, plan
    >>> check(["genes/sort", "genes/add"], "ties").ok                                    # doctest: +SKIP
    True
    >>> plan("capability_fusion", "zoo/host", ["zoo/donor-sort", "zoo/donor-add"]).strategy  # doctest: +SKIP
    'ties_dare'
    >>> breed(["genes/sort", "genes/add"], "ties", BreedConfig(out="genes/both", host="zoo/host"))  # doctest: +SKIP

Modules: ``gate`` (compatibility; licences are :mod:`genehub.licenses`), ``methods`` (the one registry:
each method runs itself; ``_builtin`` registers genehub's), ``breed`` (one call), ``evolve`` (searching
recipes), ``planner`` and ``ledger``.
"""

from __future__ import annotations

from . import _builtin  # noqa: F401  (registers the built-in methods)
from ._breed import Child, breed
from .gate import GateReport, check, require
from .ledger import Ledger
from .methods import BreedConfig, BreedingMethod, Param, get_method, list_methods, register
from .planner import GOALS, STRATEGIES, Budget, Plan, plan

__all__ = [
    "GOALS", "STRATEGIES", "BreedConfig", "BreedingMethod", "Budget", "Child", "GateReport", "Ledger", "Param",
    "Plan", "breed", "check", "get_method", "list_methods", "plan", "register", "require",
]
