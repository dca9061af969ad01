"""Making routing encoders: the recipes a gene's routing is built with, and the encoder a card names.

Recipes (:func:`make_encoder`), each reading prompts with their slots masked (``slots-v2``) and centered
on the host's general prompts (bench/REPORT-routing-scale.md has how they compare):

* ``default``: all-MiniLM-L6-v2 and the host's layer ``round(0.4 * depth)``, mean over the user
  message's instruction tokens, side by side. Inside a composition whose genes start above that layer
  the host part is read in the composed forward pass itself.
* ``minilm``: all-MiniLM-L6-v2 alone (needs no host: what a router in front of vLLM reads).
* ``host`` / ``host:LAYER``: the host's states alone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch

from ...errors import IncompatibleError, UsageError
from ..slots import DEFAULT_TEXT
from .base import Encoder
from .concat import ConcatEncoder
from .host import HostEncoder, route_texts
from .sentence import MINILM, SentenceEncoder

RECIPES = ("default", "minilm", "host")
#: The host layer of the default recipe, as a share of the host's depth (layer 12 of SmolLM2's 30).
DEFAULT_LAYER_SHARE = 0.4


def default_layer(num_layers: int) -> int:
    """The host layer the ``default`` and ``host`` recipes read."""
    return max(1, round(DEFAULT_LAYER_SHARE * int(num_layers)))


def make_encoder(recipe: str = "default", *, general: Sequence[str], model: Any = None, tokenizer: Any = None,
                 host: Any = None) -> Encoder:
    """The encoder of a recipe, centered on ``general`` (prompts the host answers by itself).

    Args:
        recipe: ``default``, ``minilm``, ``host`` or ``host:LAYER``.
        general: the host's general prompts (user messages, or prompts formatted in its chat template).
        model, tokenizer, host: the loaded host and its ``HostInfo`` (not needed for ``minilm``; with a
            tokenizer, formatted general prompts are read as the user's message).

    Raises:
        UsageError: an unknown recipe, no general prompts, or a host recipe without the host.
    """
    name, _, layer_text = recipe.partition(":")
    if name not in RECIPES or (layer_text and name != "host"):
        raise UsageError(f"Unknown routing encoder {recipe!r}.", hint="Use default, minilm, host or host:LAYER.")
    if not general:
        raise UsageError("No general prompts to center the routing encoder on.",
                         hint="Pass prompts the host answers by itself (e.g. --general FILE).")
    texts = route_texts(tokenizer, list(general))
    parts: list[Encoder] = []
    if name in ("default", "minilm"):
        parts.append(SentenceEncoder.minilm(text=DEFAULT_TEXT).centered(texts))
    if name in ("default", "host"):
        if model is None or tokenizer is None or host is None:
            raise UsageError(f"The {name!r} routing encoder reads the host's hidden states.",
                             hint="Give the host (--host DIR), or use --encoder minilm.")
        try:
            layer = int(layer_text) if layer_text else default_layer(model.config.num_hidden_layers)
        except ValueError:
            raise UsageError(f"{layer_text!r} is not a layer number.", hint="Use host:LAYER, e.g. host:12.") from None
        template = "chat" if getattr(tokenizer, "chat_template", None) else "none"
        parts.append(HostEncoder(model, tokenizer, host=host, layer=layer, pooling="mean", span="user",
                                 template=template, text=DEFAULT_TEXT).centered(texts))
    return parts[0] if len(parts) == 1 else ConcatEncoder(parts)


def encoder_from_spec(spec: Mapping[str, Any], *, model: Any = None, tokenizer: Any = None,
                      host: Any = None, tensors: Mapping[str, torch.Tensor] | None = None) -> Encoder:
    """Rebuild the encoder a routing block names, from what is installed here.

    Args:
        spec: the block's ``encoder``.
        model, tokenizer, host: the loaded host and its ``HostInfo`` (needed for ``kind: host``).
        tensors: the encoder's tensors stored with the prototypes (:meth:`Encoder.tensors`).

    Raises:
        IncompatibleError: the spec names another host, or a sentence model whose weights differ.
        UsageError: an unknown kind, or a host spec without the host.
    """
    kind = spec.get("kind")
    tensors = tensors or {}
    center = spec.get("center")
    center_args = {"center": tensors.get("center") if center else None,
                   "center_source": {k: v for k, v in (center or {}).items() if k != "digest"}}
    if kind == "host":
        if model is None or tokenizer is None or host is None:
            raise UsageError("A host encoder needs the loaded host.", hint="Pass model=, tokenizer= and host=.")
        enc: Encoder = HostEncoder(model, tokenizer, host=host, layer=spec["layer"], pooling=spec["pooling"],
                                   span=spec["span"], template=spec["template"], text=spec.get("text", "raw"),
                                   **center_args)
    elif kind == "sentence-transformers":
        if spec.get("model") != MINILM[2]:
            raise IncompatibleError(f"The sentence encoder {spec.get('model')!r} is not available here.",
                                    reasons=[f"encoder: {spec.get('model')}"],
                                    hint=f"Rebuild the gene's routing with {MINILM[2]} (`genehub.routing.build_routing`).")
        enc = SentenceEncoder.minilm(text=spec.get("text", "raw"), **center_args)
    elif kind == "concat":
        parts = []
        for i, part in enumerate(spec["parts"]):
            prefix = f"parts.{i}."
            mine = {k[len(prefix):]: t for k, t in tensors.items() if k.startswith(prefix)}
            parts.append(encoder_from_spec(part, model=model, tokenizer=tokenizer, host=host, tensors=mine))
        enc = ConcatEncoder(parts, spec.get("weights"))
    else:
        raise UsageError(f"Unknown encoder kind {kind!r}.", hint="Use 'host', 'sentence-transformers' or 'concat'.")
    problems = spec_problems(spec, enc.spec)
    if problems:
        raise IncompatibleError(f"The encoder here differs from the one the routing block names: {'; '.join(problems)}.",
                                reasons=problems, hint="Install the named encoder, or rebuild the gene's routing here.")
    return enc


def spec_problems(want: Mapping[str, Any], have: Mapping[str, Any], path: str = "encoder") -> list[str]:
    """Every field where two encoder specs differ (empty: the same space)."""
    problems = []
    for key in sorted(set(want) | set(have)):
        a, b = want.get(key), have.get(key)
        if isinstance(a, Mapping) and isinstance(b, Mapping):
            problems += spec_problems(a, b, f"{path}.{key}")
        elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b) and all(isinstance(x, Mapping) for x in a + b):
            for i, (x, y) in enumerate(zip(a, b)):
                problems += spec_problems(x, y, f"{path}.{key}[{i}]")
        elif a != b:
            problems.append(f"{path}.{key}: {a!r} in the block, {b!r} here")
    return problems
