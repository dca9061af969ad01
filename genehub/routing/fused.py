"""A faster mixed-gene batch: the genes of a LoRA layer in a fixed handful of operations, not a loop per gene.

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
ranks. That pays on a CPU where the arithmetic sets the cost. A gene whose rows are spread over the batch
(a composition that routes inside its forward pass cannot reorder it) gets them gathered and its update
added back by index (``y.index_add_(0, rows_g, ...)``), which costs a copy of those rows per layer more
than a slice.

Calls where slices would save little (one-token generation steps, tiny hosts: :data:`GROUPED_MIN_SAVED`)
run *gathered* on a CPU: every gene's rows taken at once, padded to the most rows any gene has, and all
the genes' products in two batched matrix products over the genes' stacked weights (each gene's A and B
padded with zeros to the layer's largest rank):

    y = base(x);  y.index_add_(0, rows, bmm(bmm(x[rows_by_gene], A_stack), B_stack))

a fixed handful of operations however many genes a batch mixes, reading each used gene's weights once
and computing only the rows that express it. Other devices (CUDA) run the masked products, one kernel per
product (:data:`GATHERED_DEVICES`). bench/NOTES.md and bench/REPORT-routing-scale.md have the timings.

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
#: layer), against every row through every gene, before a multi-token call on a CPU runs them rather than
#: gathered: between what a 64-wide host's batch saves (no gain) and what a 128-wide host's saves (a gain);
#: bench/NOTES.md has the measurements. One-token steps always run gathered.
GROUPED_MIN_SAVED = 600_000

#: Devices whose calls run by gene (slices, or gathered rows); elsewhere every call runs the masked
#: products (one kernel per product: a launch on CUDA costs more than the arithmetic it saves).
GATHERED_DEVICES = ("cpu",)


@dataclass
class _Layer:
    module: Any
    a_cat: torch.Tensor  # (sum_r, in), a view of a_stack
    b_cat: torch.Tensor  # (out, sum_r), scaling folded in, a view of bt_stack
    columns: torch.Tensor  # (n_genes, sum_r): 1 where a rank column belongs to that gene
    present: list[str]  # the genes this layer has, in column order
    spans: dict[str, tuple[int, int]]  # each present gene's rank columns in a_cat / b_cat
    a_stack: torch.Tensor  # (n_present, rank, in): each gene's A padded to the layer's largest rank
    bt_stack: torch.Tensor  # (n_present, rank, out): each gene's B.T, scaled, padded alike


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
            # Each gene's A and B.T padded with zero rows to the layer's largest rank, stacked: the gathered
            # path's batched products read them as they are, the others as views (sum_r = genes * rank).
            ranks = [module.lora_A[g].weight.shape[0] for g in present]
            rank = max(ranks)
            first = module.lora_A[present[0]].weight
            a = first.new_zeros(len(present), rank, first.shape[1])
            bt = first.new_zeros(len(present), rank, module.lora_B[present[0]].weight.shape[0])
            columns = torch.zeros(len(self.genes), len(present) * rank, dtype=a.dtype, device=a.device)
            spans = {}
            for k, (g, r) in enumerate(zip(present, ranks)):
                a[k, :r] = module.lora_A[g].weight.detach()
                bt[k, :r] = (module.lora_B[g].weight.detach() * module.scaling[g]).T
                columns[index[g], k * rank:k * rank + r] = 1
                spans[g] = (k * rank, k * rank + r)
            self.layers.append(_Layer(module, a.view(-1, a.shape[-1]), bt.view(-1, bt.shape[-1]).T, columns,
                                      present, spans, a, bt))

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
                forward = _layer_forward(layer, groups, len(rows),
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


def _gathered(layer: _Layer, groups: Sequence[_Group], rows: int) -> tuple[Any, ...] | None:
    """What the gathered path needs for this layer and batch (``None``: no row has a gene here).

    ``take``: for each gene with rows here, its rows' batch indices padded to the most rows any gene
    has (padding repeats row 0); ``keep`` the positions of real rows in ``take`` (``None`` without
    padding), ``into`` their batch rows, ``weight`` their gene weights (``None`` when all are 1) and the
    stacks of the genes used (views when every gene of the layer is).
    """
    members: dict[str, list[tuple[int, float]]] = {}
    for sel, _, key in groups:
        index = range(rows)[sel] if isinstance(sel, slice) else sel.tolist()
        for gene, w in key:
            if gene in layer.spans:
                members.setdefault(gene, []).extend((int(i), w) for i in index)
    if not members:
        return None
    used = [g for g in layer.present if g in members]
    width = max(len(v) for v in members.values())
    take, keep, into, weight = [], [], [], []
    for u, gene in enumerate(used):
        for k, (row, w) in enumerate(members[gene]):
            keep.append(u * width + k)
            into.append(row)
            weight.append(w)
        take.extend(row for row, _ in members[gene])
        take.extend([0] * (width - len(members[gene])))
    device = layer.a_stack.device
    if len(used) == len(layer.present):
        a, bt = layer.a_stack, layer.bt_stack
    else:
        pick = torch.tensor([layer.present.index(g) for g in used], device=device)
        a, bt = layer.a_stack.index_select(0, pick), layer.bt_stack.index_select(0, pick)
    return (torch.tensor(take, device=device), width,
            None if len(keep) == len(take) else torch.tensor(keep, device=device),
            torch.tensor(into, device=device),
            None if all(w == 1.0 for w in weight) else torch.tensor(weight, dtype=a.dtype, device=device)[:, None, None],
            a.transpose(1, 2), bt)


def _layer_forward(layer: _Layer, groups: Sequence[_Group], rows: int, masked: Any) -> Any:
    """The LoRA layer's forward for this batch, on one of three paths.

    On a CPU, each group's gene runs on its own rows when that saves enough arithmetic (see
    :data:`GROUPED_MIN_SAVED`): consecutive rows are a view of the batch and get their update in place;
    rows spread over the batch are gathered and their update added back by index (a composition that
    routes inside its pass cannot reorder the batch). Smaller calls (one-token generation steps, small
    hosts) run *gathered*: every gene's rows taken at once (padded to the most rows a gene has) and all
    genes' products in two batched matrix products, a fixed handful of operations that read each used
    gene's weights once, however many genes a batch mixes. Elsewhere (CUDA) ``masked``. Made when first used.
    """
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
    gathered: tuple[Any, ...] | None = None
    empty = not slices  # no row expresses a gene of this layer

    def forward(x: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        nonlocal segments, gathered
        if x.device.type not in GATHERED_DEVICES or x.dim() != 3:
            return masked(x, *args, **kwargs)
        kwargs.pop("adapter_names", None)
        if x.shape[0] != rows:
            raise RouterError(f"The fused engine got a batch of shape {tuple(x.shape)} for {rows} rows.",
                              hint="Run one batch per call (no beam search), or use engine='peft'.")
        out = base(x, *args, **kwargs)
        if empty:
            return out
        if x.shape[1] == 1 or x.shape[1] * saved_per_slice < GROUPED_MIN_SAVED:
            if gathered is None:
                gathered = _gathered(layer, groups, rows)
            take, width, keep, into, weight, a_t, bt = gathered
            n, positions = a_t.shape[0], x.shape[1]
            part = x.index_select(0, take).view(n, width * positions, -1).to(a_t.dtype)
            delta = torch.bmm(torch.bmm(part, a_t), bt).view(n * width, positions, -1)
            if keep is not None:
                delta = delta.index_select(0, keep)
            if weight is not None:
                delta = delta * weight
            return out.index_add_(0, into, delta.to(out.dtype))
        if segments is None:
            segments = _segments(layer, groups)
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
