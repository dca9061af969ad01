"""Evolutionary search of merge recipes with optuna's NSGA-II sampler (no hand-written GA).

A recipe (per-parent weights, density, SLERP ``t``: whatever searchable parameters the registry gives the
method) is a genotype. Each trial merges once and scores the child on a fixed subsample of each skill's
*validation* prompts; the winner is then scored on the held-out *test* prompts, next to the default
recipe. One objective (mean or min over skills) or one per skill (``"pareto"``: the Pareto front).
The default recipe is the first trial, so the search can only report an improvement it really measured.

Example:
    >>> from genehub import zoo
    >>> from genehub.breeding.evolve import SearchConfig, evolve
    >>> result = evolve(["genes/sort", "genes/add"], "ties", SearchConfig(trials=24, skills=("sort", "add")),
    ...                 host="zoo/host", tasks=zoo.search_tasks, plots="search")     # doctest: +SKIP
    >>> result.best_value > result.default_value                                 # doctest: +SKIP
    True
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ..errors import UsageError
from .methods import BreedingMethod, Trial, resolve
from .parents import load_parent

Rows = Sequence[Mapping[str, Any]]
Objective = Literal["mean", "min", "pareto"]
OBJECTIVES: tuple[str, ...] = ("mean", "min", "pareto")
#: ``{skill: (validation rows, test rows)}``, or a function ``f(skills, n_validation=, n_test=)`` returning
#: them (e.g. :func:`genehub.zoo.search_tasks`).
Tasks = Mapping[str, tuple[Rows, Rows]] | Callable[..., Mapping[str, tuple[Rows, Rows]]]


@dataclass(frozen=True)
class SearchConfig:
    """How to search.

    Attributes:
        trials: merges to evaluate (the default recipe included).
        population: trials per generation (NSGA-II population size).
        skills: the skills whose validation/test prompts score a recipe (default: the parents' skills).
        objective: ``"mean"`` or ``"min"`` over skills (single objective), or ``"pareto"`` (one per skill).
        subsample: validation prompts per skill per trial (fixed across trials so they compare fairly).
        n_validation, n_test: size of each skill's validation and held-out test split (when the tasks
            are a function that makes them).
        seed: seeds the sampler, the subsample and DARE's drops.
    """

    trials: int = 24
    population: int = 8
    skills: tuple[str, ...] = ()
    objective: Objective = "mean"
    subsample: int = 48
    n_validation: int = 200
    n_test: int = 200
    seed: int = 0


@dataclass
class SearchResult:
    """The outcome of :func:`evolve`. Values are validation scores unless named ``test``."""

    method: str
    objective: str
    skills: list[str]
    best_recipe: dict[str, Any]
    best_value: float
    default_recipe: dict[str, Any]
    default_value: float
    best_test: dict[str, float]
    default_test: dict[str, float]
    history: list[dict[str, Any]]  # one row per trial: recipe, per-skill validation scores, value, generation
    front: list[int] = field(default_factory=list)  # trial numbers on the Pareto front (pareto objective)
    plots_dir: Path | None = None

    def evidence(self) -> dict[str, Any]:
        """What a child's lineage records as fitness evidence."""
        return {"search": {"library": "optuna NSGAIISampler", "objective": self.objective, "skills": self.skills,
                           "trials": len(self.history), "best_validation": self.best_value,
                           "default_validation": self.default_value, "best_test": self.best_test,
                           "default_test": self.default_test, "best_recipe": self.best_recipe}}


def _value(scores: Mapping[str, float], objective: str) -> float:
    vals = list(scores.values())
    return min(vals) if objective == "min" else sum(vals) / len(vals)


def evolve(parents: Sequence[Any], method: str | BreedingMethod, config: SearchConfig = SearchConfig(), *,
           host: Any = None, base: Any = None, tasks: Tasks | None = None,
           plots: str | Path | None = None, verify: bool = True, trust: Any = None, progress: bool = True,
           scorer: Callable[[Mapping[str, Any], Mapping[str, Rows]], dict[str, float]] | None = None) -> SearchResult:
    """Search the recipe of ``method`` on ``parents`` that maximises the skills' validation scores.

    Args:
        parents: gene directories (adapter methods) or model directories (``model:*``).
        method: a registry name or :class:`BreedingMethod` with searchable parameters.
        config: the search settings.
        host: the genes' host (adapter methods).
        base: the models' common base (``model:task_arithmetic|ties|dare_ties``).
        tasks: ``{skill: (validation rows, test rows)}``, or a function of the skills that makes them
            (called with ``config.skills``, default the parents' skills, and the split sizes).
        plots: a directory for ``fitness.png`` and (pareto) ``pareto.png``.
        verify, trust: passed to the gate, which runs once before the search.
        progress: show a progress bar per generation.
        scorer: replaces the merge-and-evaluate step (tests, custom fitness).

    Returns:
        A :class:`SearchResult`.

    Raises:
        IncompatibleError: the gate refused the parents.
        UsageError: no tasks (or no skills to make them for), or a method with nothing to search.
    """
    import optuna
    from tqdm.auto import tqdm

    from . import gate

    described = [load_parent(p) for p in parents]
    spec = resolve(method, described)
    spec.check_parents(len(described))
    gate.require(described, spec, verify=verify, trust=trust)
    space = [p for p in spec.params if p.searchable]
    if not space:
        raise UsageError(f"{spec.name} has no parameter to search.",
                         hint="Pick a merge method with weights, density or t (`genehub methods`).")
    if tasks is None:
        raise UsageError("The search needs tasks to score recipes on.",
                         hint="Pass tasks= ({skill: (validation rows, test rows)}, or genehub.zoo.search_tasks).")
    if callable(tasks):
        skills = list(config.skills or sorted({p.skill for p in described if p.skill}))
        if not skills:
            raise UsageError("The search needs skills to score.", hint="Pass --skills (zoo skills) or tasks=.")
        tasks = tasks(skills, n_validation=config.n_validation, n_test=config.n_test)
    skills = list(tasks)
    rng = random.Random(config.seed)
    validation = {s: rng.sample(list(v), min(config.subsample, len(v))) for s, (v, _) in tasks.items()}
    test = {s: list(t) for s, (_, t) in tasks.items()}
    n = len(described)
    score = scorer or spec.trial(described, host=host, base=base, seed=config.seed)

    def recipe_of(trial: Any) -> dict[str, Any]:
        recipe: dict[str, Any] = {}
        for p in space:
            if p.per_parent:
                recipe[p.name] = [trial.suggest_float(f"{p.name}_{i}", p.low, p.high) for i in range(n)]
            else:
                recipe[p.name] = trial.suggest_float(p.name, p.low, p.high)
        return recipe

    default = {k: v for k, v in spec.defaults(n).items() if spec.param(k).searchable}
    flat_default = {}
    for key, value in default.items():
        if isinstance(value, list):
            flat_default.update({f"{key}_{i}": v for i, v in enumerate(value)})
        else:
            flat_default[key] = value
    pareto = config.objective == "pareto"
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        directions=["maximize"] * len(skills) if pareto else ["maximize"],
        sampler=optuna.samplers.NSGAIISampler(population_size=config.population, seed=config.seed),
    )
    study.enqueue_trial(flat_default)
    history: list[dict[str, Any]] = []

    def objective(trial: Any) -> Any:
        recipe = recipe_of(trial)
        scores = score(recipe, validation)
        value = _value(scores, config.objective)
        history.append({"trial": trial.number, "generation": trial.number // config.population, "recipe": recipe,
                        "scores": scores, "value": value})
        return [scores[s] for s in skills] if pareto else value

    generations = -(-config.trials // config.population)
    bar = tqdm(range(generations), desc=f"evolve[{spec.name}]", unit="gen", disable=None if progress else True)
    try:
        for g in bar:
            study.optimize(objective, n_trials=min(config.population, config.trials - g * config.population))
            bar.set_postfix(best=f"{max(h['value'] for h in history):.3f}")
        best = max(history, key=lambda h: h["value"])  # pareto: the front member best on the mean
        front = sorted(t.number for t in study.best_trials) if pareto else []
        if pareto:
            best = max((h for h in history if h["trial"] in front), key=lambda h: h["value"])
        result = SearchResult(
            method=spec.name, objective=config.objective, skills=skills, best_recipe=best["recipe"],
            best_value=best["value"], default_recipe=history[0]["recipe"], default_value=history[0]["value"],
            best_test=score(best["recipe"], test), default_test=score(history[0]["recipe"], test),
            history=history, front=front)
    finally:
        if isinstance(score, Trial):
            score.close()
    if plots:
        result.plots_dir = plot(result, plots)
    return result


def plot(result: SearchResult, out_dir: str | Path) -> Path:
    """Write ``fitness.png`` (best-so-far and generation mean) and, for two+ skills, ``pareto.png``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    gens = sorted({h["generation"] for h in result.history})
    mean = [sum(h["value"] for h in result.history if h["generation"] == g) /
            sum(1 for h in result.history if h["generation"] == g) for g in gens]
    best, running = [], float("-inf")
    for g in gens:
        running = max(running, *(h["value"] for h in result.history if h["generation"] == g))
        best.append(running)
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.plot(gens, best, marker="o", label="best so far")
    ax.plot(gens, mean, marker=".", label="generation mean")
    ax.axhline(result.default_value, color="grey", linestyle="--", label="default recipe")
    ax.set(xlabel="generation", ylabel=f"validation ({result.objective})", title=f"evolve {result.method}")
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(out_dir / "fitness.png", dpi=100)
    plt.close(fig)
    if len(result.skills) >= 2:
        a, b = result.skills[:2]
        fig, ax = plt.subplots(figsize=(4.5, 4))
        ax.scatter([h["scores"][a] for h in result.history], [h["scores"][b] for h in result.history],
                   s=14, alpha=0.5, label="trials")
        on_front = _front([(h["scores"][a], h["scores"][b]) for h in result.history])
        pts = sorted(on_front)
        ax.plot([p[0] for p in pts], [p[1] for p in pts], "r-o", markersize=4, label="Pareto front")
        d = result.history[0]["scores"]
        ax.scatter([d[a]], [d[b]], marker="x", s=60, color="black", label="default recipe")
        ax.set(xlabel=f"{a} (validation)", ylabel=f"{b} (validation)", title=f"{result.method}: {a} vs {b}")
        ax.legend(loc="best", fontsize=8)
        fig.tight_layout()
        fig.savefig(out_dir / "pareto.png", dpi=100)
        plt.close(fig)
    return out_dir


def _front(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """The non-dominated points (maximising both coordinates)."""
    return sorted({p for p in points if not any(q[0] >= p[0] and q[1] >= p[1] and q != p for q in points)})
