"""A faster mixed-gene batch: every gene of a LoRA layer in one pair of matrix products, rows masked.

PEFT's mixed adapter batches (``adapter_names``) loop over the adapters of a batch in every LoRA layer,
gathering each adapter's rows, running its A and B, and scattering the result back: a handful of small
operations per gene per layer, which on small hosts costs more than the layer itself. Here each LoRA
layer's genes are concatenated once (``A_cat``: the genes' A matrices stacked, ``B_cat``: their B
matrices side by side, scaled), and a batch runs

    y = base(x) + ((x @ A_cat.T) * row_mask) @ B_cat.T

where ``row_mask[b]`` is 1 on the rank columns of row ``b``'s gene and 0 elsewhere: the same result as
each gene alone (other genes' columns contribute exact zeros; only the summation order of the float
products can differ, ~1e-7), with four operations per layer however many genes a batch mixes. A
weighted row (top-k mode) puts each gene's weight on its columns, which is exactly
``sum_i w_i * B_i A_i x``.

It reads the weights PEFT loaded (so adding and removing genes stays PEFT's ``load_adapter`` /
``delete_adapter``) and only replaces the LoRA layers' forward for the duration of a call.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch

from ..errors import RouterError


@dataclass
class _Layer:
    module: Any
    a_cat: torch.Tensor  # (sum_r, in)
    b_cat: torch.Tensor  # (out, sum_r), scaling folded in
    columns: torch.Tensor  # (n_genes, sum_r): 1 where a rank column belongs to that gene
    present: list[str]  # the genes this layer has, in column order


class FusedGenes:
    """The concatenated gene weights of every LoRA layer of a ``PeftModel``, for :meth:`apply`.

    The weights are gathered once: call :meth:`refresh` after loading, deleting or editing an adapter
    (:class:`~genehub.routing.Composition` does on ``add_gene``/``remove_gene``). Moving the model to
    another device or dtype is noticed on the next call.
    """

    def __init__(self, model: Any, genes: Sequence[str]) -> None:
        self.model = model
        self.genes = list(genes)
        self.layers: list[_Layer] = []
        self.refresh()

    @staticmethod
    def supported(model: Any, genes: Sequence[str]) -> str | None:
        """Why the fused path cannot run these genes (``None`` when it can)."""
        from peft.tuners.lora import Linear, LoraLayer

        for name, module in model.named_modules():
            if not isinstance(module, LoraLayer):
                continue
            present = [g for g in genes if g in module.lora_A]
            if not present:
                continue
            if not isinstance(module, Linear) or not isinstance(module.base_layer, torch.nn.Linear):
                return f"{name} is a {type(module).__name__}, not a LoRA on a plain Linear layer"
            if any(g in getattr(module, "lora_variant", {}) for g in present):
                return f"{name} uses a LoRA variant (DoRA or similar)"
            if getattr(module, "merged", False):
                return f"{name} has merged adapters"
            if "forward" in vars(module):
                return f"{name}'s forward is already wrapped by another library (accelerate offloading?)"
        return None

    def refresh(self) -> None:
        from peft.tuners.lora import LoraLayer

        reason = self.supported(self.model, self.genes)
        if reason is not None:
            raise RouterError(f"The fused engine cannot run these genes: {reason}.",
                              hint="Compose with engine='peft' (PEFT's mixed adapter batches).")
        self.layers = []
        index = {g: i for i, g in enumerate(self.genes)}
        for module in self.model.modules():
            if not isinstance(module, LoraLayer):
                continue
            present = [g for g in self.genes if g in module.lora_A]
            if not present:
                continue
            a = torch.cat([module.lora_A[g].weight for g in present], dim=0)
            b = torch.cat([module.lora_B[g].weight * module.scaling[g] for g in present], dim=1)
            columns = torch.zeros(len(self.genes), a.shape[0], dtype=a.dtype, device=a.device)
            start = 0
            for g in present:
                r = module.lora_A[g].weight.shape[0]
                columns[index[g], start:start + r] = 1
                start += r
            self.layers.append(_Layer(module, a.detach(), b.detach(), columns, present))

    def row_weights(self, rows: Sequence[Mapping[str, float]]) -> torch.Tensor:
        """``(batch, n_genes)`` weights from one ``{gene: weight}`` per row (empty: the bare host)."""
        w = torch.zeros(len(rows), len(self.genes))
        index = {g: i for i, g in enumerate(self.genes)}
        for b, row in enumerate(rows):
            for gene, weight in row.items():
                if gene not in index:
                    raise RouterError(f"No gene {gene!r} in the fused composition.",
                                      hint=f"Its genes: {', '.join(self.genes)}.")
                w[b, index[gene]] = weight
        return w

    @contextmanager
    def apply(self, rows: Sequence[Mapping[str, float]]) -> Iterator[None]:
        """Run the model with row ``b`` expressing ``rows[b]`` (``{gene: weight}``) until the block exits."""
        if self.layers:  # the model was moved (``.to("cuda")``, ``.half()``) since the weights were gathered
            first = self.layers[0]
            weight = first.module.lora_A[first.present[0]].weight
            if (weight.device, weight.dtype) != (first.a_cat.device, first.a_cat.dtype):
                self.refresh()
        weights = self.row_weights(rows)
        originals = []
        try:
            for layer in self.layers:
                mask = (weights.to(layer.columns) @ layer.columns).unsqueeze(1)  # (batch, 1, sum_r)
                originals.append(layer.module)
                layer.module.forward = _forward(layer.module.base_layer, layer.a_cat, layer.b_cat, mask)
            yield
        finally:
            for module in originals:
                del module.forward  # back to the class's (PEFT's) forward


def _forward(base: Any, a: torch.Tensor, b: torch.Tensor, mask: torch.Tensor) -> Any:
    def forward(x: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        kwargs.pop("adapter_names", None)
        delta = (x.to(a.dtype) @ a.T)
        if delta.dim() == 3 and delta.shape[0] == mask.shape[0]:
            delta = delta * mask
        else:
            raise RouterError(f"The fused engine got a batch of shape {tuple(x.shape)} for {mask.shape[0]} rows.",
                              hint="Run one batch per call (no beam search), or use engine='peft'.")
        return base(x, *args, **kwargs) + (delta @ b.T).to(x.dtype)
    return forward
