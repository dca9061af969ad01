"""Data-free baseline: a low-rank approximation of the donor-minus-host weight difference.

Like ``mergekit-extract-lora``, but only on the circuit's linear layers: ``W_donor - W_host ~ B @ A``
with ``B = U_r sqrt(S_r)`` and ``A = sqrt(S_r) V_r^T`` (truncated SVD), stored as a PEFT LoRA whose
scale ``alpha / rank`` is folded into ``B``. No skill data is needed, but whatever the donor changed
outside the circuit (embeddings, final norm, other layers) is lost, and so is anything above rank r.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from ..errors import ExtractionError
from .distill import lora_model


@torch.no_grad()
def fill_lora_from_delta(module: Any, delta: torch.Tensor, adapter: str = "default") -> tuple[float, float]:
    """Set one LoRA layer to the truncated SVD of ``delta`` (``B @ A * scale ~ delta``).

    ``delta`` is the change of the layer's stored weight; a layer that stores it transposed (GPT-2's
    ``Conv1D``, PEFT's ``fan_in_fan_out``) has it transposed here, so every caller passes weights as stored.

    Returns:
        ``(kept, total)``: the squared singular values kept at the LoRA's rank, and all of them.
    """
    if getattr(module, "fan_in_fan_out", False):
        delta = delta.T
    u, s, vh = torch.linalg.svd(delta.float(), full_matrices=False)
    a, b = module.lora_A[adapter].weight, module.lora_B[adapter].weight
    r = min(a.shape[0], s.numel())
    root = s[:r].sqrt()
    a.zero_()
    b.zero_()
    a[:r] = (root[:, None] * vh[:r]).to(a.dtype)
    b[:, :r] = (u[:, :r] * root[None, :] / module.scaling[adapter]).to(b.dtype)
    return float((s[:r] ** 2).sum()), float((s**2).sum())


@torch.no_grad()
def svd_lora(student: Any, donor: Any) -> dict[str, float]:
    """Fill ``student``'s LoRA (from :func:`lora_model`) with the truncated SVD of ``donor - host``.

    Returns:
        ``{"energy_kept": share of the delta's squared Frobenius norm kept at this rank, "modules": n}``.
    """
    donor_params = dict(donor.named_parameters())
    kept = total = 0.0
    count = 0
    for name, module in student.named_modules():
        lora_a = getattr(module, "lora_A", None)
        if lora_a is None or "default" not in lora_a:
            continue
        key = name.removeprefix("base_model.model.") + ".weight"
        if key not in donor_params:
            raise ExtractionError(f"The donor has no tensor {key}; it is not of the host's family.",
                                  hint="Use a donor fine-tuned from the host (same architecture and shapes).")
        base = module.base_layer.weight
        delta = (donor_params[key] - base).float()
        module_kept, module_total = fill_lora_from_delta(module, delta)
        kept += module_kept
        total += module_total
        count += 1
    return {"energy_kept": kept / total if total > 0 else 1.0, "modules": count}


def svd_gene(host: Any, donor: Any, module_names: Sequence[str], *, rank: int, alpha: float) -> tuple[Any, dict[str, float]]:
    """``(peft_model, stats)``: the host with a LoRA approximating the donor's change on ``module_names``."""
    student = lora_model(host, module_names, rank=rank, alpha=alpha)
    return student, svd_lora(student, donor)
