"""The one registry of breeding methods, read by the planner, the CLI and the Space.

Each method is a small registered object: its name, the paper or code it follows, its parameters (with
the ranges the evolutionary search explores) and its constraints. Three kinds:

- ``adapter``: gene merges with peft's ``add_weighted_adapter`` (parents are genes on one host).
- ``model``: full-model merges with mergekit's Python API (``MergeConfiguration`` + ``run_merge``).
- ``extract``: a gene extracted from a merged or fine-tuned model (mergekit-extract-lora style SVD).

Adapter methods keep peft's names (``ties``); full-model methods are prefixed (``model:ties``), and
:func:`get_method` resolves a short name by the kind of parents at hand.

Example:
    >>> from genehub.breeding.methods import get_method, list_methods
    >>> get_method("ties", kind="model").name
    'model:ties'
    >>> [m.name for m in list_methods("extract")]
    ['extract:lora']
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from ..errors import UsageError

Kind = Literal["adapter", "model", "extract"]


@dataclass(frozen=True)
class Param:
    """One parameter of a method: default, search range, and what it does."""

    name: str
    default: float | int | None
    low: float | None = None
    high: float | None = None
    doc: str = ""
    per_parent: bool = False  # one value per parent (weights), rather than one per merge

    @property
    def searchable(self) -> bool:
        return self.low is not None and self.high is not None


@dataclass(frozen=True)
class BreedingMethod:
    """A breeding method.

    Attributes:
        name: registry name (``"ties"``, ``"model:slerp"``, ``"extract:lora"``).
        kind: ``"adapter"``, ``"model"`` or ``"extract"``.
        backend: the name the backend knows it by (peft ``combination_type`` or mergekit ``merge_method``).
        reference: the paper or code it follows.
        summary: one line for tables.
        params: its parameters.
        constraints: ``"same_rank"`` (equal LoRA ranks), ``"base_model"`` (needs the common ancestor),
            ``"two_parents"``, ``"one_parent"``.
        weight_level: combines weights (the gate then checks family, tokenizer and shapes).
    """

    name: str
    kind: Kind
    backend: str
    reference: str
    summary: str
    params: tuple[Param, ...] = ()
    constraints: tuple[str, ...] = ()
    weight_level: bool = True

    def param(self, name: str) -> Param | None:
        return next((p for p in self.params if p.name == name), None)

    def defaults(self, n_parents: int) -> dict[str, Any]:
        """Default coefficients for ``n_parents`` parents (per-parent params become lists)."""
        out: dict[str, Any] = {}
        for p in self.params:
            out[p.name] = [p.default] * n_parents if p.per_parent else p.default
        return out

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

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "backend": self.backend, "reference": self.reference,
                "summary": self.summary, "constraints": list(self.constraints),
                "params": {p.name: {"default": p.default, "range": [p.low, p.high] if p.searchable else None,
                                    "per_parent": p.per_parent, "doc": p.doc} for p in self.params}}


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


# ----- the methods -------------------------------------------------------------------------------------

_WEIGHT = Param("weights", 1.0, 0.0, 1.5, "coefficient of each parent", per_parent=True)
_DENSITY = Param("density", 0.5, 0.1, 1.0, "share of each task vector's entries kept")
_PEFT = "peft LoraModel.add_weighted_adapter"

for _name, _ref, _summary, _params, _constraints in (
    ("linear", f"{_PEFT}; Ilharco et al. 2023 (task arithmetic)", "weighted sum of LoRA A and B (rough)",
     (_WEIGHT,), ("same_rank",)),
    ("cat", _PEFT, "concatenate LoRA ranks: exact sum of the weighted deltas", (_WEIGHT,), ()),
    ("svd", _PEFT, "SVD of the weighted sum of deltas, truncated to svd_rank",
     (_WEIGHT, Param("svd_rank", None, doc="rank of the child (default: the largest parent rank)")), ()),
    ("ties", f"{_PEFT}; Yadav et al. 2023 (TIES-Merging)", "trim, elect sign, disjoint mean",
     (_WEIGHT, _DENSITY), ("same_rank",)),
    ("dare_ties", f"{_PEFT}; Yu et al. 2024 (DARE) + TIES", "random drop and rescale, then TIES sign election",
     (_WEIGHT, _DENSITY), ("same_rank",)),
    ("dare_linear", f"{_PEFT}; Yu et al. 2024 (DARE)", "random drop and rescale, then weighted sum",
     (_WEIGHT, _DENSITY), ("same_rank",)),
    ("magnitude_prune", _PEFT, "keep the largest entries of each delta, then weighted sum",
     (_WEIGHT, _DENSITY), ("same_rank",)),
    ("dare_ties_svd", f"{_PEFT}; DARE + TIES on full deltas, SVD back to low rank",
     "DARE-TIES on the full deltas, SVD to svd_rank (any ranks)",
     (_WEIGHT, _DENSITY, Param("svd_rank", None, doc="rank of the child")), ()),
):
    register(BreedingMethod(_name, "adapter", _name, _ref, _summary, _params, _constraints))

_MK = "mergekit run_merge"
register(BreedingMethod("model:linear", "model", "linear", f"{_MK}; Wortsman et al. 2022 (model soups)",
                        "weighted average of full models", (_WEIGHT,)))
register(BreedingMethod("model:slerp", "model", "slerp", f"{_MK}; Shoemake 1985 (SLERP)",
                        "spherical interpolation of two models",
                        (Param("t", 0.5, 0.0, 1.0, "0 = first parent, 1 = second"),), ("two_parents",)))
register(BreedingMethod("model:task_arithmetic", "model", "task_arithmetic", f"{_MK}; Ilharco et al. 2023",
                        "base + weighted sum of task vectors", (_WEIGHT,), ("base_model",)))
register(BreedingMethod("model:ties", "model", "ties", f"{_MK}; Yadav et al. 2023 (TIES-Merging)",
                        "TIES on task vectors against the base", (_WEIGHT, _DENSITY), ("base_model",)))
register(BreedingMethod("model:dare_ties", "model", "dare_ties", f"{_MK}; Yu et al. 2024 (DARE)",
                        "DARE-TIES on task vectors against the base", (_WEIGHT, _DENSITY), ("base_model",)))
register(BreedingMethod("fold", "adapter", "merge_and_unload", "peft PeftModel.merge_and_unload",
                        "fold one gene into its host's weights (integrated, no longer detachable)",
                        (Param("scale", 1.0, 0.0, 1.5, "multiplier of the gene's delta"),), ("one_parent",)))
register(BreedingMethod("extract:lora", "extract", "svd", "mergekit-extract-lora (truncated SVD of W - W_base)",
                        "a gene from a merged or fine-tuned model: SVD of its delta to the base",
                        (Param("rank", 8, doc="LoRA rank of the extracted gene"),), ("one_parent", "base_model")))
