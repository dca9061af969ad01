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

When the rows of a batch come grouped (every gene's rows, and the bare-host rows, one after another, as
:class:`~genehub.routing.Composition` orders them), each group instead runs only its own gene on its
own slice of the batch, added in place into the base layer's output:

    y = base(x);  y[s:e] += (x[s:e] @ A_g.T) @ B_g.T   for each group g with rows s..e-1

so bare-host rows cost nothing beyond the host and a gene row costs its own rank, not the sum of all
ranks. That pays on a CPU where the arithmetic sets the cost; calls that would save little per slice
(one-token generation steps, tiny hosts: :data:`GROUPED_MIN_SAVED`) and calls on other devices keep the
masked products, where the number of small operations sets the cost (bench/NOTES.md has the timings). A gene whose rows are spread over the batch (a composition that routes inside
its forward pass cannot reorder it) gets them gathered and its update added back by index
(``y.index_add_(0, rows_g, ...)``), which costs a copy of those rows per layer more than a slice.

GPT-2's ``Conv1D`` layers (their weight stored transposed, PEFT's ``fan_in_fan_out``) run the same way:
a LoRA's A and B act on the layer's input and output, never on the stored weight.

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
from .genes import in_out_features


#: Multiply-adds that running grouped rows as slices must save per slice (per group with a gene in the
#: layer) before they replace the masked products on a CPU: between what a 64-wide host's batch saves
#: (no gain) and what a 128-wide host's saves (a gain); bench/NOTES.md has the measurements. Elsewhere
#: (CUDA) the masked products always run: a slice costs kernel launches worth far more arithmetic there.
GROUPED_MIN_SAVED = 600_000


@dataclass
class _Layer:
    module: Any
    a_cat: torch.Tensor  # (sum_r, in)
    b_cat: torch.Tensor  # (out, sum_r), scaling folded in
    columns: torch.Tensor  # (n_genes, sum_r): 1 where a rank column belongs to that gene
    present: list[str]  # the genes this layer has, in column order
    spans: dict[str, tuple[int, int]]  # each present gene's rank columns in a_cat / b_cat


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
            if not isinstance(module, Linear) or in_out_features(module.base_layer) is None:
                return f"{name} is a {type(module).__name__}, not a LoRA on a Linear (or GPT-2 Conv1D) layer"
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
            spans, start = {}, 0
            for g in present:
                r = module.lora_A[g].weight.shape[0]
                columns[index[g], start:start + r] = 1
                spans[g] = (start, start + r)
                start += r
            self.layers.append(_Layer(module, a.detach(), b.detach(), columns, present, spans))

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

    @staticmethod
    def group_order(rows: Sequence[Mapping[str, float]]) -> list[int]:
        """A stable order of the row indices that puts rows expressing the same genes next to each other.

        Running a batch in this order lets :meth:`apply` use one slice per group (see the module's
        docstring); the caller puts the outputs back with the inverse permutation.
        """
        first: dict[tuple[tuple[str, float], ...], int] = {}
        keys = [first.setdefault(_key(row), len(first)) for row in rows]
        return sorted(range(len(rows)), key=keys.__getitem__)

    @contextmanager
    def apply(self, rows: Sequence[Mapping[str, float]]) -> Iterator[None]:
        """Run the model with row ``b`` expressing ``rows[b]`` (``{gene: weight}``) until the block exits."""
        if self.layers:  # the model was moved (``.to("cuda")``, ``.half()``) since the weights were gathered
            first = self.layers[0]
            weight = first.module.lora_A[first.present[0]].weight
            if (weight.device, weight.dtype) != (first.a_cat.device, first.a_cat.dtype):
                self.refresh()
        weights = self.row_weights(rows)  # also checks the gene names
        groups = _groups(rows)
        masks: dict[tuple[Any, ...], torch.Tensor] = {}  # layers with the same genes and ranks share one
        originals = []
        try:
            for layer in self.layers:
                key = (tuple(layer.spans.items()), layer.columns.dtype, layer.columns.device)
                if key not in masks:
                    masks[key] = (weights.to(layer.columns) @ layer.columns).unsqueeze(1)  # (batch, 1, sum_r)
                mask = masks[key]
                forward = _grouped_forward(layer, groups, len(rows),
                                           _forward(layer.module.base_layer, layer.a_cat, layer.b_cat, mask))
                originals.append(layer.module)
                layer.module.forward = forward
            yield
        finally:
            for module in originals:
                del module.forward  # back to the class's (PEFT's) forward


def _key(row: Mapping[str, float]) -> tuple[tuple[str, float], ...]:
    return tuple(sorted((g, float(w)) for g, w in row.items() if w))


#: Rows expressing one weighted gene set: the rows (a slice when consecutive, else their indices), how many, the set.
_Group = tuple[slice | torch.Tensor, int, tuple[tuple[str, float], ...]]


def _groups(rows: Sequence[Mapping[str, float]]) -> list[_Group]:
    """``(rows, count, key)`` per distinct weighted gene set, in order of first appearance: its rows as a
    ``slice`` when they are consecutive (as :meth:`FusedGenes.group_order` arranges), else an index tensor."""
    where: dict[tuple[tuple[str, float], ...], list[int]] = {}
    for i, row in enumerate(rows):
        where.setdefault(_key(row), []).append(i)
    groups: list[_Group] = []
    for key, index in where.items():
        consecutive = index[-1] - index[0] + 1 == len(index)
        groups.append((slice(index[0], index[-1] + 1) if consecutive else torch.tensor(index), len(index), key))
    return groups


def _segments(layer: _Layer, groups: Sequence[_Group]) -> list[tuple[slice | torch.Tensor, torch.Tensor, torch.Tensor]]:
    """``(rows, A, B.T)`` per group of rows with a gene in this layer (weights folded into B).

    A gene at weight 1 uses views of the concatenated weights (no copy); weighted mixes are built.
    """
    segments = []
    for sel, _, key in groups:
        parts = [(layer.spans[g], w) for g, w in key if g in layer.spans]
        if not parts:
            continue  # bare-host rows, or genes this layer does not have: the base output as it is
        if len(parts) == 1 and parts[0][1] == 1.0:
            (i, j), _ = parts[0]
            segments.append((sel, layer.a_cat[i:j], layer.b_cat[:, i:j].T))
            continue
        a = torch.cat([layer.a_cat[i:j] for (i, j), _ in parts])
        b = torch.cat([layer.b_cat[:, i:j] * w for (i, j), w in parts], dim=1)
        segments.append((sel, a, b.T))
    return segments


def _grouped_forward(layer: _Layer, groups: Sequence[_Group], rows: int, masked: Any) -> Any:
    """Each group's gene on its own rows when that saves enough arithmetic (see :data:`GROUPED_MIN_SAVED`),
    else ``masked``: one-token steps and small hosts, where the number of small operations sets the cost
    (bench/NOTES.md). Consecutive rows are a view of the batch and get
    their update in place; rows spread over the batch are gathered and their update added back by index
    (a composition that routes inside its pass cannot reorder the batch). Made when first used."""
    base = layer.module.base_layer
    in_features, out_features = in_out_features(base)  # type: ignore[misc]  # supported() checked it
    total = layer.a_cat.shape[0]
    slices, used = 0, 0  # groups with a gene in this layer, and the rank columns their rows need
    for _, count, key in groups:
        ranks = sum(layer.spans[g][1] - layer.spans[g][0] for g, _ in key if g in layer.spans)
        slices += ranks > 0
        used += count * ranks
    # Multiply-adds per position that slices save over the masked products (every row, every rank column).
    saved_per_slice = (in_features + out_features) * (rows * total - used) / max(1, slices)
    segments: list[tuple[slice | torch.Tensor, torch.Tensor, torch.Tensor]] | None = None

    def forward(x: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        nonlocal segments
        if x.device.type != "cpu" or x.dim() != 3 or x.shape[1] * saved_per_slice < GROUPED_MIN_SAVED:
            return masked(x, *args, **kwargs)
        if segments is None:
            segments = _segments(layer, groups)
        kwargs.pop("adapter_names", None)
        if x.shape[0] != rows:
            raise RouterError(f"The fused engine got a batch of shape {tuple(x.shape)} for {rows} rows.",
                              hint="Run one batch per call (no beam search), or use engine='peft'.")
        out = base(x, *args, **kwargs)
        for sel, a, bt in segments:
            part = x[sel] if isinstance(sel, slice) else x.index_select(0, sel)
            delta = part.reshape(-1, part.shape[-1]).to(a.dtype) @ a.T
            if isinstance(sel, torch.Tensor):
                out.index_add_(0, sel, (delta @ bt).view(*part.shape[:-1], -1).to(out.dtype))
            elif out.dtype == a.dtype and out.is_contiguous():
                out[sel].view(-1, out.shape[-1]).addmm_(delta, bt)  # a slice of dim 0: contiguous, in place
            else:
                out[sel] += (delta @ bt).view(*part.shape[:-1], -1).to(out.dtype)
        return out
    return forward


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
