"""The strategy planner: which breeding tool fits a goal, what it will cost, and a plan that runs as is.

The decision follows the breeding strategy matrix (goal x lineage x functional overlap x target
modularity), then estimates compute cost, inference cost, expected benefit and forgetting risk, and
applies a decision rule: proceed when the budget holds and the expected benefit outweighs the risk;
otherwise flag the request and fall back to keeping the parents separate.

| goal                   | lineage      | overlap | modularity | strategy                              |
|------------------------|--------------|---------|------------|---------------------------------------|
| capability_fusion      | homologous   | low     | integrated | ties_dare (TIES/DARE merge)           |
| capability_fusion      | homologous   | high    | integrated | activation_informed (task arithmetic, |
|                        |              |         |            |   searched with recipient-preservation)|
| skill_enhancement      | homologous   | any     | integrated | lorafication (gene transfer, folded)  |
| skill_enhancement      | heterologous | any     | integrated | lorafication, high risk               |
| modular_specialization | any          | any     | detachable | lorafication (genes; routing if many) |
| deficit_repair         | homologous   | any     | integrated | lorafication (gene transfer, folded)  |
| balanced_hybridization | any          | low     | integrated | slerp                                 |
| anything else          |              |         |            | ensemble ("don't merge")              |

Lineage comes from the configs and cards (a shared ancestor and equal shapes = homologous); overlap
from the genes' homology scores (or ``overlap=``); modularity from the goal.

Example:
    >>> from genehub.breeding.planner import plan
    >>> p = plan("capability_fusion", "zoo/host", donors=["zoo/donor-sort", "zoo/donor-add"])  # doctest: +SKIP
    >>> p.strategy, p.commands[0]                                                              # doctest: +SKIP
    ('ties_dare', 'genehub breed --parents zoo/donor-sort zoo/donor-add --method model:dare_ties ...')
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from ..errors import UsageError
from .methods import BreedingMethod, Kind, for_strategy, get_method
from .parents import Parent, load_parent, shared_ancestor

Goal = Literal["capability_fusion", "skill_enhancement", "modular_specialization", "deficit_repair",
               "balanced_hybridization"]
GOALS: tuple[str, ...] = ("capability_fusion", "skill_enhancement", "modular_specialization", "deficit_repair",
                          "balanced_hybridization")
STRATEGIES: dict[str, str] = {
    "routing": "routing composition of genes (detachable, a router picks per prompt)",
    "ties_dare": "TIES/DARE merge of task vectors",
    "slerp": "SLERP blend of two models",
    "lorafication": "LoRA-fication: the donor's skill as a gene on the recipient",
    "activation_informed": "activation-informed merge: task arithmetic searched to preserve the recipient",
    "ensemble": "don't merge: keep an ensemble of the parents",
}
HIGH_OVERLAP = 0.5

# (goal, lineage or "any", overlap or "any") -> strategy; modularity follows from the goal.
_MATRIX: tuple[tuple[str, str, str, str], ...] = (
    ("capability_fusion", "homologous", "low", "ties_dare"),
    ("capability_fusion", "homologous", "high", "activation_informed"),
    ("skill_enhancement", "homologous", "any", "lorafication"),
    ("skill_enhancement", "heterologous", "any", "lorafication"),
    ("modular_specialization", "any", "any", "lorafication"),
    ("deficit_repair", "homologous", "any", "lorafication"),
    ("balanced_hybridization", "any", "low", "slerp"),
)
# Baseline estimates per strategy: (expected benefit, forgetting risk, inference cost multiplier).
_BASE = {
    "ties_dare": (0.55, 0.30, 1.0), "activation_informed": (0.60, 0.20, 1.0), "slerp": (0.50, 0.35, 1.0),
    "lorafication": (0.70, 0.10, 1.0), "routing": (0.80, 0.05, 1.15), "ensemble": (0.85, 0.0, 0.0),
}


@dataclass(frozen=True)
class Budget:
    """Limits on a plan: compute seconds, inference cost (x the recipient alone), forgetting risk (0-1)."""

    compute_s: float = 3600.0
    max_inference: float = 2.0
    max_risk: float = 0.6

    @classmethod
    def parse(cls, text: str | None) -> Budget:
        """``"low"|"medium"|"high"`` or ``"compute=600,inference=1.5,risk=0.5"``.

        Raises:
            UsageError: an unknown preset or key.
        """
        if not text:
            return cls()
        if text in _BUDGETS:
            return _BUDGETS[text]
        keys = {"compute": "compute_s", "compute_s": "compute_s", "inference": "max_inference",
                "max_inference": "max_inference", "risk": "max_risk", "max_risk": "max_risk"}
        values: dict[str, float] = {}
        for part in text.split(","):
            key, _, value = part.partition("=")
            if key.strip() not in keys or not value:
                raise UsageError(f"Cannot read the budget {text!r} (at {part!r}).",
                                 hint="Use low, medium, high or e.g. compute=600,inference=1.5,risk=0.5.")
            values[keys[key.strip()]] = float(value)
        return cls(**values)


_BUDGETS = {"low": Budget(300.0, 1.2, 0.4), "medium": Budget(), "high": Budget(6 * 3600.0, 4.0, 0.8)}


@dataclass
class Conditions:
    """The measured conditions the matrix is looked up with."""

    lineage: Literal["homologous", "heterologous"]
    overlap: float | None
    modularity: Literal["integrated", "detachable"]
    ancestor: str | None
    evidence: list[str] = field(default_factory=list)

    @property
    def overlap_level(self) -> Literal["low", "high"]:
        return "high" if self.overlap is not None and self.overlap >= HIGH_OVERLAP else "low"


@dataclass
class Estimates:
    compute_s: float
    inference_cost: float
    expected_benefit: float
    forgetting_risk: float


@dataclass
class Plan:
    """A recommendation and how to carry it out.

    Attributes:
        goal, recipient, donors: the request.
        strategy: the matrix's recommendation (a key of :data:`STRATEGIES`).
        method: the registry method that carries it out (None for routing/ensemble).
        proceed: whether the decision rule lets it go ahead within the budget.
        executed_strategy: ``strategy`` when ``proceed``, else the fallback that ``commands`` run.
        commands: genehub commands that run as is, in order.
        mergekit_yaml: an equivalent mergekit configuration, for full-model merges.
        notes: steps owned by other tools (composition with a router), said in words.
        rationale: why, line by line.
    """

    goal: str
    recipient: str
    donors: list[str]
    conditions: Conditions
    strategy: str
    method: str | None
    estimates: Estimates
    budget: Budget
    proceed: bool
    executed_strategy: str
    commands: list[str]
    mergekit_yaml: str | None
    notes: list[str]
    rationale: list[str]
    high_risk: bool = False

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["conditions"]["overlap_level"] = self.conditions.overlap_level
        return out

    def script(self) -> str:
        """The plan as a shell script (commands, with the rationale as comments)."""
        lines = ["#!/usr/bin/env bash", "set -euo pipefail", f"# genehub plan: {self.goal} -> {self.executed_strategy}"]
        lines += [f"# {r}" for r in self.rationale]
        if self.mergekit_yaml:
            lines += ["cat > mergekit.yml <<'YAML'", self.mergekit_yaml.rstrip(), "YAML"]
        lines += self.commands
        lines += [f"# next: {n}" for n in self.notes]
        return "\n".join(lines) + "\n"


def measure_conditions(goal: str, recipient: Parent, donors: Sequence[Parent], *,
                       overlap: float | None = None) -> Conditions:
    """Lineage from configs/cards, overlap from homology scores, modularity from the goal."""
    evidence = []
    ancestor = shared_ancestor([recipient, *donors])
    same_shape = all(getattr(d.host, k) == getattr(recipient.host, k) for d in donors
                     for k in ("architecture", "hidden_size", "num_layers", "vocab_size", "tokenizer_fingerprint"))
    lineage = "homologous" if ancestor and same_shape else "heterologous"
    evidence.append(f"lineage: {lineage} (shared ancestor {ancestor!r}, same shapes and tokenizer: {same_shape})")
    if overlap is None:
        scores = [p.gene.homology.aggregate for p in (recipient, *donors) if p.gene is not None]
        if scores:
            overlap = sum(scores) / len(scores)
            evidence.append(f"overlap: {overlap:.2f}, mean homology aggregate of {len(scores)} gene card(s)")
        else:
            evidence.append("overlap: unknown (no gene cards with homology scores, none given); treated as low")
    else:
        evidence.append(f"overlap: {overlap:.2f} (given)")
    modularity = "detachable" if goal == "modular_specialization" else "integrated"
    evidence.append(f"modularity: {modularity} (from the goal)")
    return Conditions(lineage, overlap, modularity, ancestor, evidence)


def lookup(goal: str, conditions: Conditions) -> str:
    """The matrix's strategy for ``goal`` under ``conditions`` (``"ensemble"`` when no row matches)."""
    for row_goal, lineage, overlap, strategy in _MATRIX:
        if row_goal == goal and lineage in ("any", conditions.lineage) and overlap in ("any", conditions.overlap_level):
            return strategy
    return "ensemble"


def _estimate(strategy: str, conditions: Conditions, recipient: Parent, donors: Sequence[Parent],
              history: dict[str, float] | None) -> Estimates:
    benefit, risk, inference = _BASE[strategy]
    n = len(donors)
    n_params = sum(s[0] * (s[1] if len(s) > 1 else 1) for s in recipient.tensor_shapes().values()) if recipient.kind == "model" else 10**6
    if strategy in ("ties_dare", "slerp"):
        compute = 5e-8 * n_params * (n + 1) + 5.0
        risk += 0.05 * max(0, n - 2)
    elif strategy == "activation_informed":
        compute = (5e-8 * n_params * (n + 1) + 5.0) * 32  # an evolutionary search of ~32 recipes
    elif strategy == "lorafication":
        compute = 2e-6 * n_params * 300 + 30.0  # ~300 distillation steps
        risk = 0.05 if conditions.modularity == "detachable" else 0.45
        inference = 1.1 if conditions.modularity == "detachable" else 1.0
    elif strategy == "routing":
        compute = 30.0
    else:
        compute, inference = 0.0, 1.0 + n
    if conditions.lineage == "heterologous" and strategy not in ("routing", "ensemble"):
        risk = min(1.0, risk + 0.35)
        benefit *= 0.6
    if conditions.overlap is not None and strategy in ("ties_dare", "activation_informed"):
        benefit *= 0.7 + 0.3 * (1 - abs(conditions.overlap - 0.3))
    if history and strategy in history:
        benefit = history[strategy]  # measured outcomes of earlier plans beat the prior
    return Estimates(round(compute, 1), round(inference, 2), round(min(benefit, 1.0), 3), round(min(risk, 1.0), 3))


def plan(goal: str, recipient: Any, donors: Sequence[Any] = (), *, budget: Budget | str | None = None,
         overlap: float | None = None, out: str = "bred", ledger: Any = None, search: int = 32) -> Plan:
    """Recommend a breeding strategy for ``goal`` and write the plan that carries it out.

    Args:
        goal: one of :data:`GOALS`.
        recipient: the recipient (host) model directory or gene.
        donors: donor model directories or genes.
        budget: a :class:`Budget`, a preset name or ``"compute=...,inference=...,risk=..."``.
        overlap: functional overlap (0-1) when known; default: from the genes' homology scores.
        out: output directory the commands write to.
        ledger: a :class:`~genehub.breeding.ledger.Ledger` whose measured outcomes refine the benefit.
        search: evolutionary search trials for the activation-informed strategy.

    Returns:
        A :class:`Plan`.

    Raises:
        UsageError: unknown goal, or no donor where the goal needs one.
    """
    if goal not in GOALS:
        raise UsageError(f"Unknown goal {goal!r}.", hint="Choose one of: " + ", ".join(GOALS) + ".")
    if not donors:
        raise UsageError(f"The goal {goal} needs at least one --donor.", hint="Pass the donor model(s) or gene(s).")
    budget = budget if isinstance(budget, Budget) else Budget.parse(budget)
    rec = load_parent(recipient)
    dons = [load_parent(d) for d in donors]
    conditions = measure_conditions(goal, rec, dons, overlap=overlap)
    strategy = lookup(goal, conditions)
    history = ledger.benefit_by_strategy(goal) if ledger is not None else None
    est = _estimate(strategy, conditions, rec, dons, history)
    rationale = list(conditions.evidence)
    row = f"{goal} x {conditions.lineage} x {conditions.overlap_level} overlap x {conditions.modularity}"
    rationale.append(f"matrix: {row} -> {strategy} ({STRATEGIES[strategy]})")
    high_risk = strategy == "lorafication" and conditions.lineage == "heterologous"
    if high_risk:
        rationale.append("high risk: the donor is heterologous; transferred circuits may be rejected "
                         "(forgetting) unless the homology check passes")
    if goal == "balanced_hybridization" and len(dons) + 1 != 2 and strategy == "slerp":
        rationale.append("SLERP blends exactly two models; only the first donor is blended with the recipient")
    blockers = []
    if est.compute_s > budget.compute_s:
        blockers.append(f"compute {est.compute_s:.0f}s > budget {budget.compute_s:.0f}s")
    if est.inference_cost > budget.max_inference:
        blockers.append(f"inference x{est.inference_cost} > budget x{budget.max_inference}")
    if est.forgetting_risk > budget.max_risk:
        blockers.append(f"forgetting risk {est.forgetting_risk} > budget {budget.max_risk}")
    if est.expected_benefit <= est.forgetting_risk:
        blockers.append(f"expected benefit {est.expected_benefit} does not outweigh risk {est.forgetting_risk}")
    if strategy == "slerp" and conditions.lineage == "heterologous" and rec.kind == "model" and not same_tensors(rec, dons[:1]):
        blockers.append("the models' tensors differ in shape: SLERP cannot blend them")
    proceed = not blockers and strategy != "ensemble"
    executed = strategy
    if blockers:
        rationale.append("flagged: " + "; ".join(blockers))
        executed = "routing" if all(d.kind == "gene" for d in dons) and conditions.lineage == "homologous" else "ensemble"
        rationale.append(f"fallback: {executed} ({STRATEGIES[executed]})")
    rationale.append(f"estimates: compute {est.compute_s}s, inference x{est.inference_cost}, "
                     f"benefit {est.expected_benefit}, forgetting risk {est.forgetting_risk}"
                     + (" (benefit from the ledger's measured outcomes)" if history and strategy in history else ""))
    method, commands, yaml_text, notes = _emit(executed, goal, rec, dons, conditions, out=out, search=search)
    return Plan(goal, str(rec.path), [str(d.path) for d in dons], conditions, strategy, method, est, budget,
                proceed, executed, commands, yaml_text, notes, rationale, high_risk)


def same_tensors(recipient: Parent, donors: Sequence[Parent]) -> bool:
    shapes = recipient.tensor_shapes()
    return all(d.kind == recipient.kind and d.tensor_shapes() == shapes for d in donors)


def _q(path: Any) -> str:
    return shlex.quote(str(path))


def _method(strategy: str, kind: Kind) -> BreedingMethod:
    """The registry's method of ``kind`` that carries out ``strategy``."""
    method = for_strategy(strategy, kind)
    if method is None:
        raise UsageError(f"No {kind} breeding method is registered for the {strategy} strategy.",
                         hint="Register one whose `strategies` name it (genehub.breeding.register).")
    return method


def _emit(strategy: str, goal: str, rec: Parent, dons: Sequence[Parent], cond: Conditions, *, out: str,
          search: int) -> tuple[str | None, list[str], str | None, list[str]]:
    """``(method, commands, mergekit yaml, notes)`` carrying out ``strategy``."""
    genes = all(d.kind == "gene" for d in dons)
    donors = " ".join(_q(d.path) for d in dons)
    host = _q(rec.path if rec.kind == "model" else rec.host.repo_id)
    if strategy in ("ties_dare", "activation_informed", "slerp") and not genes:
        method = _method(strategy, "model")
        parents = f"{_q(rec.path)} {_q(dons[0].path)}" if strategy == "slerp" else donors
        cmd = f"genehub breed --parents {parents} --method {method.name} --out {_q(out)}"
        if "base_model" in method.constraints:
            cmd += f" --base {_q(rec.path)}"
        if strategy == "activation_informed":
            skills = sorted({s for s in (rec.skill, *(d.skill for d in dons)) if s})
            cmd += f" --search {search}" + (f" --skills {' '.join(skills)}" if skills else "")
        return method.name, [cmd], mergekit_yaml(method.name, [d.path for d in dons] if strategy != "slerp" else
                                                [rec.path, dons[0].path], base=rec.path), []
    if strategy in ("ties_dare", "activation_informed") and genes:
        method = _method(strategy, "adapter")
        # A gene recipient is merged with the donor genes; a model recipient is the host they plug into.
        parents = f"{_q(rec.path)} {donors}" if rec.kind == "gene" else donors
        cmd = f"genehub breed --parents {parents} --method {method.name} --host {host} --out {_q(out)}"
        if strategy == "activation_informed":
            cmd += f" --search {search}"
        return method.name, [cmd], None, []
    if strategy == "lorafication":
        extract, fold = _method(strategy, "extract"), _method(strategy, "adapter")
        commands, gene_dirs = [], []
        for d in dons:
            if d.kind == "gene":
                gene_dirs.append(str(d.path))
                continue
            gene_dir = str(Path(out) / f"gene-{d.skill or d.path.name}")
            gene_dirs.append(gene_dir)
            skill = f" --skill {_q(d.skill)}" if d.skill else " --examples SKILL_EXAMPLES.jsonl"
            commands.append(f"genehub breed --parents {_q(d.path)} --method {extract.name} --base {_q(rec.path)} "
                            f"--out {_q(gene_dir)}{skill}")
        notes = ["for a circuit-localised gene, `genehub extract` (LoRA-fication of the located circuit) "
                 "replaces the whole-delta extraction above"]
        if cond.modularity == "integrated":
            for g in gene_dirs:
                commands.append(f"genehub breed --parents {_q(g)} --method {fold.name} --host {host} "
                                f"--out {_q(str(Path(out) / ('recipient-with-' + Path(g).name)))}")
        elif len(gene_dirs) > 1:
            notes.append("compose the genes on the recipient with a router (genehub routing)")
        return extract.name, commands, None, notes
    if strategy == "routing":
        return None, [], None, [f"compose {len(dons)} gene(s) on {rec.host.repo_id} with a router "
                                "(genehub routing); no weights are changed"]
    return None, [], None, ["keep the parents as separate models and combine their outputs (ensemble); "
                            "no weights are changed, provenance and rollback are kept"]


def mergekit_yaml(method: str, models: Sequence[Any], *, base: Any, weights: Sequence[float] | None = None,
                  density: float | None = None, t: float | None = None) -> str:
    """The mergekit configuration (YAML text) that ``genehub breed`` runs for a ``model:*`` method."""
    import yaml

    from ._models import merge_config

    config = merge_config(get_method(method, kind="model"), models, base=base, weights=weights, density=density, t=t)
    return yaml.safe_dump(config, sort_keys=False)
