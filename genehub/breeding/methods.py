"""The one registry of breeding methods, read by :func:`breed`, the search, the planner and the CLI.

A method is a small registered object, as mergekit's merge methods are: its name, the paper or code it
follows, its parameters (with the ranges the evolutionary search explores), its constraints, the
planner strategies it carries out, and how it runs (:meth:`BreedingMethod.run`). Three kinds:

- ``adapter``: gene merges with peft's ``add_weighted_adapter`` (parents are genes on one host), and
  ``fold`` (a gene merged into its host's weights).
- ``model``: full-model merges with mergekit's Python API (``MergeConfiguration`` + ``run_merge``).
- ``extract``: a gene extracted from a merged or fine-tuned model (mergekit-extract-lora style SVD).

Adapter methods keep peft's names (``ties``); full-model methods are prefixed (``model:ties``), and
:func:`resolve` picks a short name's method by the kind of parents at hand. The built-in methods are
registered by ``genehub.breeding._builtin``.

Example:
    >>> from genehub.breeding.methods import get_method, list_methods
    >>> get_method("ties", kind="model").name
    'model:ties'
    >>> [m.name for m in list_methods("extract")]
    ['extract:lora']
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from ..errors import UsageError

if TYPE_CHECKING:
    from ._breed import Child
    from .gate import GateReport
    from .parents import Parent

Kind = Literal["adapter", "model", "extract"]
KINDS: tuple[Kind, ...] = ("adapter", "model", "extract")


@dataclass(frozen=True)
class Param:
    """One parameter of a method: default, search range, its type, and what it does."""

    name: str
    default: float | int | None
    low: float | None = None
    high: float | None = None
    doc: str = ""
    per_parent: bool = False  # one value per parent (weights), rather than one per merge
    type: type = float

    @property
    def searchable(self) -> bool:
        return self.low is not None and self.high is not None


@dataclass
class BreedConfig:
    """Everything a breeding needs besides its parents and its method.

    Attributes:
        out: the child's directory.
        params: the method's parameters by name (``weights``, ``density``, ``t``, ``rank``, ``svd_rank``,
            ``scale``: see ``genehub methods``); a parameter left out takes the registry's default.
        host: the host model directory the genes plug into (gene merges, ``fold``).
        base: the parents' common base model (task-vector merges, ``extract:lora``).
        seed: random seed (DARE's drops, mergekit's).
        name, skill: the child gene's name and skill (default: from the parents).
        examples: ``{"prompt", "answer"}`` rows expressing the skill, or a function of the skill's name that
            returns them: ``extract:lora`` measures the gene on them and writes them as its examples (gene
            merges use their parents' examples).
        evidence: fitness evidence recorded in the lineage (e.g. ``SearchResult.evidence()``).
        trust, verify: the gate's signature checks of parent genes (``verify=False`` only for your own).
        sign_key: sign the child gene with this key.
    """

    out: str | Path
    params: Mapping[str, Any] = field(default_factory=dict)
    host: str | Path | None = None
    base: str | Path | None = None
    seed: int = 0
    name: str | None = None
    skill: str | None = None
    examples: Sequence[Mapping[str, Any]] | Callable[[str], Sequence[Mapping[str, Any]]] | None = None
    evidence: Mapping[str, Any] | None = None
    trust: Any = None
    verify: bool = True
    sign_key: str | None = None


@dataclass(frozen=True)
class BreedingMethod:
    """A breeding method; subclasses say how it runs (:meth:`make`) and, if it can, how a search scores it.

    Attributes:
        name: registry name (``"ties"``, ``"model:slerp"``, ``"extract:lora"``).
        kind: ``"adapter"``, ``"model"`` or ``"extract"``.
        backend: the name the backend knows it by (peft ``combination_type`` or mergekit ``merge_method``).
        reference: the paper or code it follows.
        summary: one line for tables.
        params: its parameters.
        constraints: ``"same_rank"`` (equal LoRA ranks), ``"base_model"`` (needs the common ancestor),
            ``"two_parents"``, ``"one_parent"``.
        strategies: the planner strategies (:data:`genehub.breeding.planner.STRATEGIES`) it carries out.
        weight_level: combines weights (the gate then checks family, tokenizer and shapes).
    """

    name: str
    kind: Kind
    backend: str
    reference: str
    summary: str
    params: tuple[Param, ...] = ()
    constraints: tuple[str, ...] = ()
    strategies: tuple[str, ...] = ()
    weight_level: bool = True

    def param(self, name: str) -> Param | None:
        return next((p for p in self.params if p.name == name), None)

    def defaults(self, n_parents: int) -> dict[str, Any]:
        """Default coefficients for ``n_parents`` parents (per-parent params become lists)."""
        return {p.name: [p.default] * n_parents if p.per_parent else p.default for p in self.params}

    def recipe(self, params: Mapping[str, Any], n_parents: int) -> dict[str, Any]:
        """``params`` completed with the defaults; refuses a parameter the method does not have.

        Raises:
            UsageError: an unknown parameter, or per-parent values that are not one per parent.
        """
        unknown = sorted(set(params) - {p.name for p in self.params})
        if unknown:
            known = ", ".join(p.name for p in self.params) or "none"
            raise UsageError(f"{self.name} has no parameter {', '.join(unknown)}.",
                             hint=f"Its parameters: {known} (`genehub methods`).")
        recipe = self.defaults(n_parents)
        recipe.update({k: v for k, v in params.items() if v is not None})
        for p in self.params:
            if p.per_parent and recipe[p.name] is not None and len(recipe[p.name]) != n_parents:
                raise UsageError(f"{self.name} got {len(recipe[p.name])} {p.name} for {n_parents} parents.",
                                 hint=f"Pass one value per parent (--{p.name.replace('_', '-')}).")
        return recipe

    def check_parents(self, n_parents: int) -> None:
        """Raise UsageError when the number of parents does not fit this method."""
        if "two_parents" in self.constraints and n_parents != 2:
            raise UsageError(f"{self.name} blends exactly two parents, got {n_parents}.",
                             hint="Pass two --parents, or use a method that takes many (ties, model:ties).")
        if "one_parent" in self.constraints and n_parents != 1:
            what = "gene (and --host)" if self.kind == "adapter" else "model (and --base)"
            raise UsageError(f"{self.name} takes one {what}, got {n_parents} parents.",
                             hint=f"Pass a single {what.split()[0]} with --parents.")
        if n_parents < (1 if "one_parent" in self.constraints else 2):
            raise UsageError(f"{self.name} needs at least two parents, got {n_parents}.",
                             hint="Pass two or more --parents.")

    # ----------------------------------------------------------------------------------------- running
    def run(self, parents: Sequence[Any], config: BreedConfig) -> Child:
        """Breed ``parents`` into ``config.out``: check their number, pass the gate, then :meth:`make`.

        Raises:
            IncompatibleError: the gate refused (every reason listed); nothing is written.
            UsageError: wrong number of parents, an unknown parameter, a missing host/base/examples.
        """
        from . import gate
        from .parents import load_parent

        described = [load_parent(p) for p in parents]
        self.check_parents(len(described))
        recipe = self.recipe(config.params, len(described))
        report = gate.require(self.gate_parents(described, config), self, trust=config.trust, verify=config.verify)
        return self.make(described, config, recipe, report)

    def gate_parents(self, parents: list[Parent], config: BreedConfig) -> list[Parent]:
        """What the gate judges: the parents (a method may add the base it breeds against)."""
        return parents

    def make(self, parents: list[Parent], config: BreedConfig, recipe: dict[str, Any], report: GateReport) -> Child:
        """Write the child of parents the gate accepted, with the parameters of ``recipe``."""
        raise NotImplementedError(f"{type(self).__name__} does not say how {self.name} runs")

    def trial(self, parents: list[Parent], *, host: Any, base: Any, seed: int) -> Trial:
        """A scorer of recipes for the evolutionary search (:func:`genehub.breeding.evolve.evolve`).

        Raises:
            UsageError: the method has nothing to search.
        """
        raise UsageError(f"{self.name} has no parameter to search.",
                         hint="Pick a merge method with weights, density or t (`genehub methods`).")

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "backend": self.backend, "reference": self.reference,
                "summary": self.summary, "constraints": list(self.constraints), "strategies": list(self.strategies),
                "params": {p.name: {"default": p.default, "range": [p.low, p.high] if p.searchable else None,
                                    "per_parent": p.per_parent, "doc": p.doc} for p in self.params}}


class Trial:
    """Scores recipes of one method on fixed parents: ``trial(recipe, tasks) -> {skill: accuracy}``."""

    def __call__(self, recipe: Mapping[str, Any], tasks: Mapping[str, Sequence[Mapping[str, Any]]]) -> dict[str, float]:
        raise NotImplementedError

    def close(self) -> None:
        """Free what the trial holds (temporary merges)."""


_REGISTRY: dict[str, BreedingMethod] = {}


def register(method: BreedingMethod) -> BreedingMethod:
    """Add ``method`` to the registry (a name can be registered once)."""
    if method.name in _REGISTRY:
        raise UsageError(f"A breeding method named {method.name!r} is already registered.",
                         hint="Pick another name.")
    _REGISTRY[method.name] = method
    return method


def list_methods(kind: Kind | None = None) -> list[BreedingMethod]:
    """Registered methods, optionally of one kind, in registration order."""
    return [m for m in _REGISTRY.values() if kind is None or m.kind == kind]


def get_method(name: str, *, kind: Kind | None = None) -> BreedingMethod:
    """Look a method up by name; a short name (``"ties"``) resolves against ``kind`` when given.

    Raises:
        UsageError: unknown name, listing the known ones.
    """
    candidates = [name]
    if kind and ":" not in name:
        candidates.insert(0, f"{kind}:{name}")
    for candidate in candidates:
        method = _REGISTRY.get(candidate)
        if method and (kind is None or method.kind == kind):
            return method
    raise UsageError(f"Unknown breeding method {name!r}" + (f" for {kind} parents" if kind else "") + ".",
                     hint="Choose one of: " + ", ".join(m.name for m in list_methods(kind)) + " (`genehub methods`).")


def resolve(method: str | BreedingMethod, parents: Sequence[Parent]) -> BreedingMethod:
    """The method a name means for these parents: genes take adapter methods, models the ``model:`` ones
    (or ``extract:`` ones when named so)."""
    if isinstance(method, BreedingMethod):
        return method
    if parents and parents[0].kind == "gene":
        return get_method(method, kind="adapter")
    return get_method(method, kind="extract" if str(method).startswith("extract") else "model")


def for_strategy(strategy: str, kind: Kind) -> BreedingMethod | None:
    """The first registered method of ``kind`` that carries out a planner ``strategy`` (None if none does)."""
    return next((m for m in list_methods(kind) if strategy in m.strategies), None)


def parameters() -> dict[str, Param]:
    """Every parameter name of the registry, with its first definition (the CLI's flags)."""
    found: dict[str, Param] = {}
    for method in list_methods():
        for p in method.params:
            found.setdefault(p.name, p)
    return found
