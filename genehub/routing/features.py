"""Router features from the host itself: pooled hidden states of one (early) layer of the bare host.

No second model: the host's own embedding and first ``layer`` decoder blocks read the prompt, and the
forward pass stops there (a hook raises once the layer's output is captured), so routing costs about
``layer / num_layers`` of one prefill. Adapters are bypassed while features are computed (every row runs
as PEFT's ``"__base__"``, which is cheaper than toggling ``disable_adapter`` on every module), so a
prompt's features (and its route) do not depend on which genes are loaded. Positions are counted from
each row's first real token, so a prompt's features do not depend on how its batch was padded.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import nullcontext
from typing import Any

import torch

from ..errors import RouterError

POOLINGS = ("mean", "last", "mean+last")
BASE = "__base__"  # PEFT's adapter name for "no adapter" in a mixed batch


class _Stop(Exception):
    """Raised by the capture hook to end the forward pass early."""


def decoder_layers(model: Any) -> Sequence[Any]:
    """The decoder blocks of a causal LM (``model.model.layers`` for Llama-like, ``transformer.h`` for GPT-2)."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    n = getattr(base.config, "num_hidden_layers", None)
    for name, module in base.named_modules():
        if isinstance(module, torch.nn.ModuleList) and name.rsplit(".", 1)[-1] in ("layers", "h", "blocks") \
                and (n is None or len(module) == n):
            return module
    raise RouterError(f"Cannot find the decoder layers of {type(base).__name__}.",
                      hint="Use --layer 0 (embeddings), or a Llama/GPT-style host.")


def _pool(hidden: torch.Tensor, mask: torch.Tensor, pooling: str) -> torch.Tensor:
    mask_f = mask.unsqueeze(-1).to(hidden.dtype)
    mean = (hidden * mask_f).sum(1) / mask_f.sum(1).clamp(min=1.0)
    positions = torch.arange(mask.shape[1], device=mask.device).expand_as(mask)
    last_idx = (positions * mask).argmax(dim=1)  # last real token, for left or right padding
    last = hidden[torch.arange(hidden.shape[0]), last_idx]
    return {"mean": mean, "last": last, "mean+last": torch.cat([mean, last], dim=-1)}[pooling]


def _bare_rows(model: Any) -> tuple[Any, bool]:
    """How to run ``model`` as the bare host: (context manager, pass ``adapter_names="__base__"`` per row).

    A LoRA ``PeftModel`` in eval mode takes ``"__base__"`` rows (one hook per layer); anything else
    that has adapters gets ``disable_adapter()`` (which visits every module twice, ~3 ms on the tiny host).
    """
    config = getattr(model, "peft_config", None)
    if not config or not hasattr(model, "disable_adapter"):
        return nullcontext(), False
    lora = all(getattr(c, "peft_type", None) is not None and str(getattr(c.peft_type, "value", c.peft_type)) == "LORA"
               for c in config.values())
    if lora and not model.training:
        return nullcontext(), True
    return model.disable_adapter(), False


@torch.no_grad()
def host_features(model: Any, tokenizer: Any, prompts: Sequence[str], *, layer: int, pooling: str = "mean+last",
                  batch_size: int = 64, encoding: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
    """Pooled hidden states of ``prompts`` after ``layer`` decoder blocks of the bare host (float32, CPU).

    Args:
        model: the host, bare or a ``PeftModel`` over it (its adapters are disabled here).
        tokenizer: the host's tokenizer.
        prompts: the texts to route.
        layer: 0 = token embeddings, ``i`` = the output of decoder block ``i`` (1-based, like
            ``output_hidden_states``).
        pooling: ``mean`` over real tokens, the ``last`` real token, or both concatenated.
        batch_size: prompts per forward pass.
        encoding: ``prompts`` already tokenized (``input_ids`` and ``attention_mask``, either padding
            side), to reuse the caller's tokenization; used when it holds at most ``batch_size`` rows.

    Returns:
        A ``(len(prompts), dim)`` tensor.
    """
    if pooling not in POOLINGS:
        raise RouterError(f"Unknown pooling {pooling!r}.", hint=f"Choose one of: {', '.join(POOLINGS)}.")
    if not prompts:
        raise RouterError("No prompts to compute router features for.", hint="Pass at least one prompt.")
    layers = decoder_layers(model)
    if not 0 <= layer <= len(layers):
        raise RouterError(f"Feature layer {layer} is outside the host's 0..{len(layers)}.",
                          hint=f"Pick a layer between 0 and {len(layers)}.")
    target = model.get_input_embeddings() if layer == 0 else layers[layer - 1]
    captured: list[torch.Tensor] = []

    def hook(_module: Any, _inputs: Any, output: Any) -> None:
        captured.append(output[0] if isinstance(output, tuple) else output)
        raise _Stop

    device = next(model.parameters()).device
    disable, base_rows = _bare_rows(model)
    if encoding is not None and len(encoding["input_ids"]) == len(prompts) <= batch_size:
        encodings = [encoding]
    else:
        encodings = [tokenizer(list(prompts[i:i + batch_size]), return_tensors="pt", padding=True)
                     for i in range(0, len(prompts), batch_size)]
    out: list[torch.Tensor] = []
    handle = target.register_forward_hook(hook)
    try:
        with disable:
            for enc in encodings:
                mask = enc["attention_mask"].to(device)
                position_ids = (mask.cumsum(-1) - 1).clamp(min=0)
                extra = {"adapter_names": [BASE] * len(mask)} if base_rows else {}
                captured.clear()
                try:
                    model(input_ids=enc["input_ids"].to(device), attention_mask=mask, position_ids=position_ids,
                          use_cache=False, **extra)
                except _Stop:
                    pass
                if not captured:
                    raise RouterError("The feature layer was never reached during the forward pass.",
                                      hint="Pick another --layer.")
                out.append(_pool(captured[0].float(), mask, pooling).cpu())
    finally:
        handle.remove()
    return torch.cat(out)
