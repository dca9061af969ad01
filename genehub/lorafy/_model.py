"""Model plumbing shared by the stages: decoder layers, their components, and hooks that read or patch them.

A *component* is one decoder layer's attention block or MLP block, named ``(layer, kind)`` with ``kind``
``"attn"`` or ``"mlp"``. Its output is what it adds to the residual stream, so reading it in the donor
and writing it into the host (activation patching) transplants exactly that component's contribution.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, Literal

import torch

from ..errors import ExtractionError

Kind = Literal["attn", "mlp"]
KINDS: tuple[Kind, ...] = ("attn", "mlp")
ComponentKey = tuple[int, str]

# Attribute names of the two blocks across causal-LM families (Llama/Mistral/Qwen, GPT-2, Falcon, ...).
_BLOCK_NAMES: dict[str, tuple[str, ...]] = {
    "attn": ("self_attn", "attn", "self_attention", "attention"),
    "mlp": ("mlp", "feed_forward", "ffn"),
}


def decoder_layers(model: Any) -> Sequence[torch.nn.Module]:
    """The decoder's ``ModuleList`` of layers, for a plain model or a ``PeftModel`` around one."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    decoder = base.get_decoder() if hasattr(base, "get_decoder") else None
    for holder in (decoder, getattr(base, "model", None), getattr(base, "transformer", None)):
        for attr in ("layers", "h", "blocks"):
            layers = getattr(holder, attr, None) if holder is not None else None
            if isinstance(layers, torch.nn.ModuleList):
                return layers
    raise ExtractionError(f"Cannot find the decoder layers of a {type(base).__name__}.",
                          hint="Use a transformers causal LM whose layers live at model.model.layers.")


def block(layer: torch.nn.Module, kind: str) -> torch.nn.Module:
    """The attention (``kind="attn"``) or MLP (``kind="mlp"``) block of one decoder layer."""
    for name in _BLOCK_NAMES[kind]:
        module = getattr(layer, name, None)
        if isinstance(module, torch.nn.Module):
            return module
    raise ExtractionError(f"A {type(layer).__name__} has no {kind} block (looked for {', '.join(_BLOCK_NAMES[kind])}).",
                          hint="Extraction supports decoder layers with self_attn/attn and mlp submodules.")


def block_name(layer: torch.nn.Module, kind: str) -> str:
    """The attribute name of a layer's block, e.g. ``"self_attn"``."""
    target = block(layer, kind)
    return next(n for n in _BLOCK_NAMES[kind] if getattr(layer, n, None) is target)


def linear_modules(model: Any, components: Iterable[ComponentKey], *,
                   only: Sequence[str] | None = None) -> list[str]:
    """Fully qualified names of the linear layers inside ``components`` (what a LoRA can adapt).

    Args:
        components: ``(layer, kind)`` pairs.
        only: keep only linear layers with these short names (e.g. ``("q_proj", "v_proj")``).
    """
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    wanted = {id(block(decoder_layers(base)[i], k)): (i, k) for i, k in components}
    names = []
    for name, module in base.named_modules():
        if id(module) not in wanted:
            continue
        for sub, leaf in module.named_modules():
            if sub and _is_linear(leaf) and (only is None or sub.rsplit(".", 1)[-1] in only):
                names.append(f"{name}.{sub}")
    if not names:
        raise ExtractionError(f"No linear layers{f' named {list(only)}' if only else ''} in components {sorted(components)}.",
                              hint="Check --modules against the model's module names (e.g. q_proj,v_proj,down_proj).")
    return names


def block_linears(model: Any) -> dict[str, ComponentKey]:
    """``{qualified name: (layer, kind)}`` of every linear layer in the decoder's attention and MLP blocks,
    in the model's order: what a LoRA can adapt, found from the architecture rather than from names."""
    return {name: key for key in all_components(model) for name in linear_modules(model, [key])}


def _is_linear(module: torch.nn.Module) -> bool:
    return isinstance(module, torch.nn.Linear) or type(module).__name__ == "Conv1D"


def _output_tensor(output: Any) -> torch.Tensor:
    return output[0] if isinstance(output, tuple) else output


def _replace_output(output: Any, tensor: torch.Tensor) -> Any:
    return (tensor, *output[1:]) if isinstance(output, tuple) else tensor


@contextlib.contextmanager
def capture(model: Any, components: Iterable[ComponentKey], *,
            keep_graph: bool = False) -> Iterator[dict[ComponentKey, torch.Tensor]]:
    """Record the outputs of ``components`` during the forward passes inside the block (``keep_graph``: as
    they are, so gradients can be taken with respect to them; else detached)."""
    layers = decoder_layers(model)
    cache: dict[ComponentKey, torch.Tensor] = {}
    handles = []
    for key in components:
        def hook(_module: Any, _inputs: Any, output: Any, key: ComponentKey = key) -> None:
            out = _output_tensor(output)
            cache[key] = out if keep_graph else out.detach()
        handles.append(block(layers[key[0]], key[1]).register_forward_hook(hook))
    try:
        yield cache
    finally:
        for handle in handles:
            handle.remove()


@contextlib.contextmanager
def patch(model: Any, values: Mapping[ComponentKey, torch.Tensor]) -> Iterator[None]:
    """Replace the outputs of the given components with ``values`` (same batch, same positions)."""
    layers = decoder_layers(model)
    handles = []
    for key, value in values.items():
        def hook(_module: Any, _inputs: Any, output: Any, value: torch.Tensor = value) -> Any:
            return _replace_output(output, value.to(_output_tensor(output).dtype))
        handles.append(block(layers[key[0]], key[1]).register_forward_hook(hook))
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def all_components(model: Any) -> list[ComponentKey]:
    """Every ``(layer, kind)`` of the model, layer by layer."""
    return [(i, k) for i in range(len(decoder_layers(model))) for k in KINDS]


def answer_logprob(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Per-row sum of log-probabilities of the labelled tokens (labels -100 are ignored)."""
    logp = torch.log_softmax(logits[:, :-1].float(), dim=-1)
    target = labels[:, 1:]
    mask = target != -100
    picked = logp.gather(-1, target.clamp_min(0).unsqueeze(-1)).squeeze(-1)
    return (picked * mask).sum(dim=1)
