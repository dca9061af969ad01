"""Full-model merges through mergekit's Python API (``MergeConfiguration`` + ``run_merge``, in-process)."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import BreedingError
from .methods import BreedingMethod


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
