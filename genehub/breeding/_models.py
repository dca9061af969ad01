"""Full-model merges through mergekit's Python API (``MergeConfiguration`` + ``run_merge``, in-process):
the ``model`` methods of the registry."""

from __future__ import annotations

import contextlib
import io
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import BreedingError
from ._breed import Child, now, write_model_meta
from .methods import BreedConfig, BreedingMethod, Trial
from .parents import Parent, load_parent


def merge_config(method: BreedingMethod, models: Sequence[str | Path], *, base: str | Path | None,
                 weights: Sequence[float] | None = None, density: float | None = None,
                 t: float | None = None) -> dict[str, Any]:
    """The mergekit configuration (a plain dict, as in a mergekit YAML) for one recipe."""
    if method.backend == "slerp":
        return {"merge_method": "slerp", "dtype": "float32", "base_model": str(models[0]),
                "models": [{"model": str(m)} for m in models],
                "parameters": {"t": float(t if t is not None else method.param("t").default)}}
    weights = list(weights) if weights is not None else method.defaults(len(models))["weights"]
    entries = []
    for m, w in zip(models, weights, strict=True):
        params: dict[str, Any] = {"weight": float(w)}
        if method.param("density") is not None:
            params["density"] = float(density if density is not None else method.param("density").default)
        entries.append({"model": str(m), "parameters": params})
    config: dict[str, Any] = {"merge_method": method.backend, "dtype": "float32", "models": entries}
    if "base_model" in method.constraints:
        if base is None:
            raise BreedingError(f"{method.name} needs the parents' common base model.",
                                hint="Pass it with --base (the model the parents were fine-tuned from).")
        config["base_model"] = str(base)
    if method.backend == "linear":
        config["parameters"] = {"normalize": True}
    return config


def run(config: dict[str, Any], out: str | Path, *, seed: int = 0) -> Path:
    """Run one mergekit merge in-process and return ``out`` (a save_pretrained directory with tokenizer)."""
    from mergekit.config import MergeConfiguration
    from mergekit.merge import run_merge
    from mergekit.options import MergeOptions

    try:
        parsed = MergeConfiguration.model_validate(config)
    except Exception as err:  # pydantic ValidationError
        raise BreedingError(f"mergekit rejected the configuration: {err}", hint="Check the method's parameters.") from err
    options = MergeOptions(copy_tokenizer=True, write_model_card=False, random_seed=seed, quiet=True)
    # mergekit prints progress bars on stderr even when quiet; keep the CLI's own bars readable.
    with contextlib.redirect_stderr(io.StringIO()):
        run_merge(parsed, str(out), options)
    return Path(out)


@dataclass(frozen=True)
class ModelMerge(BreedingMethod):
    """Full models merged by mergekit (against their common base for task-vector methods)."""

    def make(self, parents: list[Parent], config: BreedConfig, recipe: dict[str, Any], report: Any) -> Child:
        merge = merge_config(self, [p.path for p in parents], base=config.base, weights=recipe.get("weights"),
                             density=recipe.get("density"), t=recipe.get("t"))
        out = Path(config.out)
        if out.exists():
            shutil.rmtree(out)
        run(merge, out, seed=config.seed)
        base = load_parent(config.base) if config.base else None
        recorded = {"method": self.name, "backend": self.backend, "mergekit": merge, "seed": config.seed}
        write_model_meta(out, report, parent=base.repo_id if base else parents[0].repo_id, lineage={
            "recipe": f"genehub.breeding.breed:{self.name}", "created": now(),
            "parents": [{"repo_id": p.repo_id, "revision": p.revision} for p in parents],
            "base": {"repo_id": base.repo_id, "revision": base.revision} if base else None,
            "hyperparameters": recorded, "fitness": dict(config.evidence or {})})
        return Child(out, "model", self.name, recorded, report=report)

    def trial(self, parents: list[Parent], *, host: Any, base: Any, seed: int) -> Trial:
        return _MergeTrial(self, [p.path for p in parents], base, seed)


class _MergeTrial(Trial):
    """One mergekit merge per recipe into a scratch folder, loaded and scored."""

    def __init__(self, method: BreedingMethod, models: list[Path], base: Any, seed: int) -> None:
        self.method, self.models, self.base, self.seed = method, models, base, seed
        self.tmp = Path(tempfile.mkdtemp(prefix="genehub-evolve-"))

    def __call__(self, recipe: Mapping[str, Any], tasks: Mapping[str, Sequence[Mapping[str, Any]]]) -> dict[str, float]:
        from ..evaluate import accuracy
        from ..hosts import load_host

        out = self.tmp / "merge"
        shutil.rmtree(out, ignore_errors=True)
        config = merge_config(self.method, self.models, base=self.base, weights=recipe.get("weights"),
                              density=recipe.get("density"), t=recipe.get("t"))
        run(config, out, seed=self.seed)
        model, tokenizer = load_host(out)
        return {s: accuracy(model, tokenizer, rows) for s, rows in tasks.items()}

    def close(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)
