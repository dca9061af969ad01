"""Genes as the router and the composition see them: name, exact revision, card, examples, fit to a host."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import IncompatibleError, NotFoundError, UsageError
from ..hosts import HostInfo, compatibility_problems

CARD = "gene.json"
EXAMPLES = "examples.jsonl"
ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_WEIGHTS = "adapter_model.safetensors"
#: The class of prompts for which no gene is expressed (PEFT's ``"__base__"`` adapter name).
NONE = "none"
BASE_ADAPTER = "__base__"


@dataclass(frozen=True)
class GeneRef:
    """A gene directory, read once: its adapter name, exact revision and card."""

    path: Path
    name: str
    revision: str
    card: dict[str, Any]

    @property
    def skill(self) -> str:
        return str(self.card.get("skill", self.name))

    def examples(self) -> list[dict[str, Any]]:
        """The ``examples.jsonl`` rows (the router's training data for this gene)."""
        path = self.path / EXAMPLES
        if not path.is_file():
            raise NotFoundError(f"Gene {self.name} has no {EXAMPLES}.",
                                hint="Rewrite it with `genehub.gene.write_gene`, which writes the examples.", path=str(path))
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "skill": self.skill, "revision": self.revision,
                "repo_id": self.card.get("extra", {}).get("repo_id") if isinstance(self.card.get("extra"), dict) else None}


def _adapter_name(name: str) -> str:
    # PEFT adapter names become module-dict keys: no dots, and not the reserved "__base__".
    clean = re.sub(r"[^A-Za-z0-9_-]", "_", name)
    if clean in (BASE_ADAPTER, NONE, ""):
        raise UsageError(f"A gene cannot be called {name!r}.", hint="Rename it in its gene.json.")
    return clean


def gene_revision(gene_dir: str | Path) -> str:
    """``sha256:<hex>`` pinning a gene exactly: its card (which records the adapter and examples digests)
    and the adapter files themselves."""
    gene_dir = Path(gene_dir)
    outer = hashlib.sha256()
    for name in (CARD, ADAPTER_CONFIG, ADAPTER_WEIGHTS, EXAMPLES):
        path = gene_dir / name
        if path.is_file():
            outer.update(f"{name}\0{hashlib.sha256(path.read_bytes()).hexdigest()}\n".encode())
    return "sha256:" + outer.hexdigest()


def load_gene(gene_dir: str | Path) -> GeneRef:
    """Read a gene directory (validated card when ``genehub.gene`` can validate it)."""
    gene_dir = Path(gene_dir)
    missing = [n for n in (CARD, ADAPTER_CONFIG, ADAPTER_WEIGHTS) if not (gene_dir / n).is_file()]
    if missing:
        raise NotFoundError(f"{gene_dir} is not a gene directory (missing {', '.join(missing)}).",
                            hint="Pass a folder written by `write_gene`, `genehub extract` or `genehub pull`.",
                            path=str(gene_dir))
    from ..gene import load_card

    card = load_card(gene_dir)
    return GeneRef(path=gene_dir, name=_adapter_name(str(card["name"])), revision=gene_revision(gene_dir), card=card)



def load_genes(genes: Any, *, what: str) -> list[GeneRef]:
    """Load gene directories (or pass ``GeneRef``s through), refusing an empty list and duplicate names."""
    if not genes:
        raise UsageError(f"{what} needs at least one gene.", hint="Pass one or more gene directories.")
    refs = [g if isinstance(g, GeneRef) else load_gene(g) for g in genes]
    names = [r.name for r in refs]
    if len(set(names)) != len(names):
        raise UsageError(f"Two genes share a name: {names}.", hint="Rename one in its gene.json.")
    return refs

def _adapter_shapes(gene: GeneRef) -> dict[str, tuple[int, ...]]:
    from safetensors import safe_open

    with safe_open(str(gene.path / ADAPTER_WEIGHTS), framework="pt") as fh:
        return {k: tuple(fh.get_slice(k).get_shape()) for k in fh.keys()}


def shape_problems(gene: GeneRef, model: Any) -> list[str]:
    """Every LoRA weight of ``gene`` whose module is missing from the host or has other dimensions."""
    import torch

    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    linears: dict[str, tuple[int, int]] = {}
    for name, module in base.named_modules():
        layer = getattr(module, "base_layer", module)
        if isinstance(layer, torch.nn.Linear):
            linears[name] = (layer.in_features, layer.out_features)
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


def require_fit(gene: GeneRef, host_info: HostInfo, model: Any | None = None) -> None:
    """Raise :class:`IncompatibleError` naming the gene and every mismatch (host, tokenizer, shapes).

    The host must be the one the card names (same repo id, or the same content revision under another
    name), with the same architecture, shapes and tokenizer; and every LoRA weight must fit its module.
    """
    want = gene.card.get("host", {})
    problems = compatibility_problems(want, host_info)
    if want.get("repo_id") != host_info.repo_id and want.get("revision") != host_info.revision:
        # Same shapes and tokenizer are not the same host: the heterologous twin has both.
        problems.insert(0, f"host: the gene was made for {want.get('repo_id')!r} at {want.get('revision')!r} "
                           f"but the host is {host_info.repo_id!r} at {host_info.revision!r}")
    if model is not None:
        problems += shape_problems(gene, model)
    if problems:
        raise IncompatibleError(
            f"Gene {gene.name} ({gene.path}) does not fit host {host_info.repo_id}: " + "; ".join(problems) + ".",
            reasons=problems,
            hint=f"Use a gene made for {host_info.repo_id}, or compose on the host the gene names "
                 f"({gene.card.get('host', {}).get('repo_id', '?')}).",
        )
