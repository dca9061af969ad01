"""Router features from the host itself: pooled hidden states of one (early) layer of the bare host.

No second model: the host's own embedding and first ``layer`` decoder blocks read the prompt, and the
forward pass stops there (a hook raises once the layer's output is captured), so routing costs about
``layer / num_layers`` of one prefill. Adapters are bypassed while features are computed (every row runs
as PEFT's ``"__base__"``, which is cheaper than toggling ``disable_adapter`` on every module), so a
prompt's features (and its route) do not depend on which genes are loaded. Positions are counted from
each row's first real token, so a prompt's features do not depend on how its batch was padded.

When no gene acts before the feature layer, a composition needs no pass of its own:
:func:`features_in_pass` reads the features inside the composed forward pass, and the genes are switched
on for the rest of it (:attr:`genehub.routing.Composition.routes_in_pass`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from weakref import WeakKeyDictionary

import torch

from ..errors import RouterError
from ..hosts import encode_prompts

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


def pool(hidden: torch.Tensor, mask: torch.Tensor, pooling: str, mean_mask: torch.Tensor | None = None) -> torch.Tensor:
    """``(batch, dim)`` router features from a layer's ``(batch, seq, hidden)`` output and the attention mask
    (``mean_mask``, when given, picks the tokens the mean runs over, e.g. only the user's message)."""
    mask_f = (mask if mean_mask is None else mean_mask).unsqueeze(-1).to(hidden.dtype)
    mean = (hidden * mask_f).sum(1) / mask_f.sum(1).clamp(min=1.0)
    positions = torch.arange(mask.shape[1], device=mask.device).expand_as(mask)
    last_idx = (positions * mask).argmax(dim=1)  # last real token, for left or right padding
    last = hidden[torch.arange(hidden.shape[0]), last_idx]
    return {"mean": mean, "last": last, "mean+last": torch.cat([mean, last], dim=-1)}[pooling]


_STRUCTURE: WeakKeyDictionary[Any, tuple[tuple[tuple[str, int], ...], Sequence[Any], list[Any]]] = WeakKeyDictionary()


def _structure(model: Any) -> tuple[Sequence[Any], list[Any]]:
    """``(decoder layers, LoRA layers)`` of ``model``, found once per model and adapter set.

    Walking the module tree costs more than the routing forward itself once many genes are loaded
    (~800 modules and ~4 ms per call with 16 genes on the tiny host), so it is cached; loading or deleting
    an adapter changes the key and the walk is redone.
    """
    # A reloaded adapter gets a new config object, so the key changes even when its name does not.
    key = tuple((name, id(config)) for name, config in (getattr(model, "peft_config", None) or {}).items())
    cached = _STRUCTURE.get(model)
    if cached is None or cached[0] != key:
        lora: list[Any] = []
        if key:
            from peft.tuners.lora import LoraLayer

            lora = [m for m in model.modules() if isinstance(m, LoraLayer)]
        cached = (key, decoder_layers(model), lora)
        _STRUCTURE[model] = cached
    return cached[1], cached[2]


def feature_module(model: Any, layer: int) -> Any:
    """The module whose output is feature layer ``layer`` (0: the token embeddings, ``i``: decoder block ``i``)."""
    layers = _structure(model)[0]
    if not 0 <= layer <= len(layers):
        raise RouterError(f"Feature layer {layer} is outside the host's 0..{len(layers)}.",
                          hint=f"Pick a layer between 0 and {len(layers)}.")
    return model.get_input_embeddings() if layer == 0 else layers[layer - 1]


def first_adapted_block(model: Any, modules: Sequence[Any]) -> int:
    """Index of the first decoder block that holds one of ``modules`` (the number of blocks when none does;
    -1 when one sits before the blocks, e.g. on the embeddings; the output embeddings count as after them).

    Feature layers up to this index read the bare host even while those modules are active, which is
    what lets a composition route inside its forward pass (:func:`features_in_pass`).
    """
    layers = _structure(model)[0]
    block_of = {id(m): i for i, block in enumerate(layers) for m in block.modules()}
    output = model.get_output_embeddings()
    after = {id(m) for m in output.modules()} if output is not None else set()
    first = len(layers)
    for module in modules:
        if id(module) in block_of:
            first = min(first, block_of[id(module)])
        elif id(module) not in after:
            return -1
    return first


@contextmanager
def features_in_pass(model: Any, attention_mask: torch.Tensor, *, layer: int, pooling: str,
                     then: Callable[[torch.Tensor], None], pool_mask: torch.Tensor | None = None) -> Iterator[None]:
    """Hand router features to ``then`` from inside the model's next forward pass, which goes on.

    On the first forward pass in the block (a ``generate``'s prefill), as soon as feature layer ``layer``
    has run, its output pooled like :func:`host_features` (float32, CPU) is passed to ``then``, which can
    still change what the rest of the pass does (the composition switches its genes on there). Later
    passes (one-token generation steps) are left alone. The features are the bare host's only if nothing
    before ``layer`` is adapted (see :func:`first_adapted_block`), and equal :func:`host_features`' when
    the pass numbers positions from each row's first real token (as ``generate`` does). ``pool_mask``
    picks the tokens the mean runs over (default: every real token), as in :func:`host_features`.
    """
    if pooling not in POOLINGS:
        raise RouterError(f"Unknown pooling {pooling!r}.", hint=f"Choose one of: {', '.join(POOLINGS)}.")
    done = False

    def hook(_module: Any, _inputs: Any, output: Any) -> None:
        nonlocal done
        if done:
            return
        done = True
        hidden = output[0] if isinstance(output, tuple) else output
        if tuple(hidden.shape[:2]) != tuple(attention_mask.shape):
            raise RouterError(f"The forward pass has shape {tuple(hidden.shape[:2])}, not the prompts' "
                              f"{tuple(attention_mask.shape)}.",
                              hint="Run one pass over the prompts as given (no beam search or num_return_sequences), "
                                   "or compose with route_in_pass=False.")
        mean_mask = pool_mask.to(hidden.device) if pool_mask is not None else None
        then(pool(hidden.float(), attention_mask.to(hidden.device), pooling, mean_mask).cpu())

    handle = feature_module(model, layer).register_forward_hook(hook)
    try:
        yield
    finally:
        handle.remove()


@contextmanager
def _bare_host(model: Any, rows: int) -> Iterator[None]:
    """Run ``model`` as the bare host for one forward pass of ``rows`` rows.

    For a LoRA ``PeftModel`` in eval mode every LoRA layer gets ``adapter_names=["__base__"] * rows``
    through our own pre-forward hooks, removed in ``finally`` (PEFT's own ``adapter_names`` hooks would
    leak when the capture hook stops the pass early). That costs one hook per layer, where
    ``disable_adapter()`` visits every module several times (~3 ms on the 2-layer tiny host, half the
    router's cost). Anything else with adapters gets ``disable_adapter()``.
    """
    config = getattr(model, "peft_config", None)
    if not config or not hasattr(model, "disable_adapter"):
        yield
        return
    if model.training or any(str(getattr(c.peft_type, "value", c.peft_type)) != "LORA" for c in config.values()):
        with model.disable_adapter():
            yield
        return
    names = [BASE] * rows

    def inject(_module: Any, args: Any, kwargs: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
        kwargs["adapter_names"] = names
        return args, kwargs

    handles = [m.register_forward_pre_hook(inject, with_kwargs=True) for m in _structure(model)[1]]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


@torch.no_grad()
def host_features(model: Any, tokenizer: Any, prompts: Sequence[str], *, layer: int, pooling: str = "mean+last",
                  batch_size: int = 64, encoding: dict[str, torch.Tensor] | None = None,
                  pool_mask: torch.Tensor | None = None) -> torch.Tensor:
    """Pooled hidden states of ``prompts`` after ``layer`` decoder blocks of the bare host (float32, CPU).

    Args:
        model: the host, bare or a ``PeftModel`` over it (its adapters are bypassed here).
        tokenizer: the host's tokenizer.
        prompts: the texts to route.
        layer: 0 = token embeddings, ``i`` = the output of decoder block ``i`` (1-based, like
            ``output_hidden_states``).
        pooling: ``mean`` over real tokens, the ``last`` real token, or both concatenated.
        batch_size: prompts per forward pass.
        encoding: ``prompts`` already tokenized (``input_ids`` and ``attention_mask``, either padding
            side), to reuse the caller's tokenization; used when it holds at most ``batch_size`` rows.
        pool_mask: with ``encoding``, the tokens to take the mean over (default: every real token).

    Returns:
        A ``(len(prompts), dim)`` tensor.
    """
    if pooling not in POOLINGS:
        raise RouterError(f"Unknown pooling {pooling!r}.", hint=f"Choose one of: {', '.join(POOLINGS)}.")
    if not prompts:
        raise RouterError("No prompts to compute router features for.", hint="Pass at least one prompt.")
    target = feature_module(model, layer)
    captured: list[torch.Tensor] = []

    def hook(_module: Any, _inputs: Any, output: Any) -> None:
        captured.append(output[0] if isinstance(output, tuple) else output)
        raise _Stop

    device = next(model.parameters()).device
    if encoding is not None and len(encoding["input_ids"]) == len(prompts) <= batch_size:
        encodings = [encoding]
    else:  # the one encoding rule of every stage (genehub.hosts.prompt_ids)
        encodings = [encode_prompts(tokenizer, list(prompts[i:i + batch_size]))
                     for i in range(0, len(prompts), batch_size)]
    if pool_mask is not None and (len(encodings) != 1 or encodings[0] is not encoding
                                  or tuple(pool_mask.shape) != tuple(encoding["attention_mask"].shape)):
        raise RouterError("A pool mask needs the prompts' encoding (at most batch_size rows) and its shape.",
                          hint="Pass encoding= with the same rows and padding as pool_mask.")
    out: list[torch.Tensor] = []
    handle = target.register_forward_hook(hook)
    try:
        for enc in encodings:
            mask = enc["attention_mask"].to(device)
            position_ids = (mask.cumsum(-1) - 1).clamp(min=0)
            captured.clear()
            with _bare_host(model, len(mask)):
                try:
                    model(input_ids=enc["input_ids"].to(device), attention_mask=mask, position_ids=position_ids,
                          use_cache=False)
                except _Stop:
                    pass
            if not captured:
                raise RouterError("The feature layer was never reached during the forward pass.",
                                  hint="Pick another --layer.")
            mean_mask = pool_mask.to(device) if pool_mask is not None else None
            out.append(pool(captured[0].float(), mask, pooling, mean_mask).cpu())
    finally:
        handle.remove()
    return torch.cat(out)
