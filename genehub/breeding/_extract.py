"""A gene from a merged or fine-tuned model: truncated SVD of each weight's delta to the base.

Like ``mergekit-extract-lora``: for every targeted linear layer, ``W - W_base ~ B @ A`` with
``B = U_r sqrt(S_r)`` and ``A = sqrt(S_r) V_r^T``, saved as a PEFT LoRA with ``alpha = r`` (scale 1).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..errors import BreedingError

DEFAULT_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


def extract_lora(model_dir: Any, base_dir: Any, *, rank: int = 8,
                 target_modules: Sequence[str] = DEFAULT_TARGETS) -> tuple[Any, dict[str, Any]]:
    """Return ``(peft_model, stats)``: the base with one LoRA approximating ``model - base``.

    ``stats`` has per-layer relative delta norms (``{"layers": {i: {"attn": x, "mlp": y}}}``), the share of
    the delta's energy the rank keeps, and the mean cosine between the two models' decoder weights.
    """
    import torch
    from peft import LoraConfig, get_peft_model

    from ..hosts import load_host
    from ..lorafy.svd import fill_lora_from_delta

    tuned, _ = load_host(model_dir)
    base, _ = load_host(base_dir)
    tuned_params = dict(tuned.named_parameters())
    peft_model = get_peft_model(base, LoraConfig(r=rank, lora_alpha=rank, target_modules=list(target_modules),
                                                 lora_dropout=0.0))
    layers: dict[int, dict[str, list[float]]] = {}
    kept, total, cosines = 0.0, 0.0, []
    with torch.no_grad():
        for name, module in peft_model.named_modules():
            if not hasattr(module, "lora_A") or "default" not in getattr(module, "lora_A", {}):
                continue
            key = name.removeprefix("base_model.model.") + ".weight"
            if key not in tuned_params:
                raise BreedingError(f"{model_dir} has no tensor {key}; it is not a fine-tune of {base_dir}.",
                                    hint="Pass the model's own base with --base.")
            w_base = module.base_layer.weight
            delta = tuned_params[key] - w_base
            module_kept, module_total = fill_lora_from_delta(module, delta)
            kept += module_kept
            total += module_total
            cosines.append(float(torch.nn.functional.cosine_similarity(tuned_params[key].flatten(), w_base.flatten(), dim=0)))
            layer = int(key.split("layers.")[1].split(".")[0])
            kind = "mlp" if ".mlp." in key else "attn"
            rel = float(delta.norm() / w_base.norm().clamp_min(1e-12))
            layers.setdefault(layer, {}).setdefault(kind, []).append(rel)
    if not layers:
        raise BreedingError("No targeted linear layer found to extract from.",
                            hint=f"Pass target modules that exist in the model (default {', '.join(DEFAULT_TARGETS)}).")
    stats = {
        "layers": {i: {k: sum(v) / len(v) for k, v in kinds.items()} for i, kinds in sorted(layers.items())},
        "energy_kept": kept / total if total else 1.0,
        "weight_cosine": sum(cosines) / len(cosines),
    }
    peft_model.eval()
    return peft_model, stats
