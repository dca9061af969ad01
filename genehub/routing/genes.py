"""Genes as the router and the composition see them: adapter names, and whether a gene fits a host.

A gene itself is a :class:`genehub.gene.Gene`; this module adds what plugging one into a host needs:
the PEFT adapter name it is loaded under, and every way its weights or card miss the host.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import IncompatibleError, UsageError
from ..gene import ADAPTER_WEIGHTS, Gene
from ..hosts import HostInfo, compatibility_problems

#: The class of prompts for which no gene is expressed (PEFT's ``"__base__"`` adapter name).
NONE = "none"
BASE_ADAPTER = "__base__"


def adapter_name(gene: Gene | str) -> str:
    """The PEFT adapter name of ``gene`` (or of a card name): dots made underscores (names become module
    keys). Routers and compositions key genes by it.

    Raises:
        UsageError: the name is reserved (``"none"``, ``"__base__"``).
    """
    name = gene if isinstance(gene, str) else gene.name
    clean = re.sub(r"[^A-Za-z0-9_-]", "_", name)
    if clean in (BASE_ADAPTER, NONE, ""):
        raise UsageError(f"A gene cannot be called {name!r}.", hint="Rename it in its gene.json.")
    return clean


def load_genes(genes: Sequence[str | Path | Gene], *, what: str) -> dict[str, Gene]:
    """``{adapter name: Gene}`` for gene directories (or Genes), refusing an empty list and duplicate names."""
    if not genes:
        raise UsageError(f"{what} needs at least one gene.", hint="Pass one or more gene directories.")
    loaded = [g if isinstance(g, Gene) else Gene.load(g) for g in genes]
    names = [adapter_name(g) for g in loaded]
    if len(set(names)) != len(names):
        raise UsageError(f"Two genes share a name: {names}.", hint="Rename one in its gene.json.")
    return dict(zip(names, loaded))


def _adapter_shapes(gene: Gene) -> dict[str, tuple[int, ...]]:
    from safetensors import safe_open

    with safe_open(str(gene.path / ADAPTER_WEIGHTS), framework="pt") as fh:
        return {k: tuple(fh.get_slice(k).get_shape()) for k in fh.keys()}


def in_out_features(module: Any) -> tuple[int, int] | None:
    """``(input size, output size)`` of a layer a LoRA can adapt: a ``torch.nn.Linear``, or GPT-2's
    ``Conv1D`` (a linear layer whose weight is stored transposed); None for anything else."""
    import torch

    if isinstance(module, torch.nn.Linear):
        return module.in_features, module.out_features
    if type(module).__name__ == "Conv1D" and getattr(module, "weight", None) is not None and module.weight.dim() == 2:
        return int(module.weight.shape[0]), int(module.weight.shape[1])
    return None


def shape_problems(gene: Gene, model: Any) -> list[str]:
    """Every LoRA weight of ``gene`` whose module is missing from the host or has other dimensions."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    linears: dict[str, tuple[int, int]] = {}
    for name, module in base.named_modules():
        shape = in_out_features(getattr(module, "base_layer", module))
        if shape is not None:
            linears[name] = shape
    problems = []
    for key, shape in sorted(_adapter_shapes(gene).items()):
        match = re.match(r"^(?:base_model\.model\.)?(.*)\.lora_([AB])\.weight$", key)
        if not match:
            continue
        module, which = match.groups()
        if module not in linears:
            problems.append(f"{module}: the gene adapts a module the host does not have")
            continue
        in_f, out_f = linears[module]
        want = shape[1] if which == "A" else shape[0]
        have = in_f if which == "A" else out_f
        if want != have:
            side = "input" if which == "A" else "output"
            problems.append(f"{module}: the gene expects {side} size {want} but the host has {have}")
    return problems[:5] + ([f"... and {len(problems) - 5} more"] if len(problems) > 5 else [])


def require_fit(gene: Gene, host_info: HostInfo, model: Any | None = None) -> None:
    """Raise :class:`IncompatibleError` naming the gene and every mismatch (host, tokenizer, shapes).

    The host must be the one the card names (same repo id, or the same content revision under another
    name), with the same architecture, shapes and tokenizer; and every LoRA weight must fit its module.
    """
    want = gene.host
    problems = compatibility_problems(want, host_info, same_host=True)  # the check pull makes too
    if model is not None:
        problems += shape_problems(gene, model)
    if problems:
        raise IncompatibleError(
            f"Gene {gene.name} ({gene.path}) does not fit host {host_info.repo_id}: " + "; ".join(problems) + ".",
            reasons=problems,
            hint=f"Use a gene made for {host_info.repo_id}, or compose on the host the gene names "
                 f"({want.repo_id}).",
        )
