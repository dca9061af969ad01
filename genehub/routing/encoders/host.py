"""The host's own hidden states as a routing encoder: no second model, and readable inside the composed pass.

A prompt is read as the host reads it (as the user's message inside its chat template, or as given) and
the hidden states after ``layer`` blocks are pooled: over every token, or over the user message's tokens
only (most tokens of a chat-formatted prompt are the template's, the same for every prompt). With a slots
text mode (``slots-v2``) the message's variable slots (numbers, quoted spans, names; :mod:`genehub.routing.slots`)
are left out of the mean too, so the instruction decides; the prompt itself is not changed, so a
composition whose genes start above ``layer`` reads the same features inside its own forward pass
(:meth:`HostEncoder.pool_mask` on the pass's tokens, :meth:`HostEncoder.finish` on the pooled states).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import torch

from ...errors import UsageError
from ..features import POOLINGS, host_features
from ..slots import TextMode, check_mode, slot_spans
from .base import CenteredEncoder

Span = Literal["all", "user"]
Template = Literal["chat", "none"]
_SENTINEL = "\u2063genehub-user-message\u2063"


def chat_texts(tokenizer: Any, prompts: Sequence[str], template: Template) -> list[str]:
    """The prompts as the host reads them: inside its chat template as the user's message, or as given."""
    if template == "none":
        return list(prompts)
    if not getattr(tokenizer, "chat_template", None):
        raise UsageError("The host's tokenizer has no chat template.",
                         hint="Use template='none' for a host without one.")
    return [tokenizer.apply_chat_template([{"role": "user", "content": p}], tokenize=False, add_generation_prompt=True)
            for p in prompts]


def user_messages(tokenizer: Any, prompts: Sequence[str]) -> list[str | None]:
    """The user's message of each prompt that is exactly one user turn in the host's chat template (with
    the generation prompt), else None: a gene's examples and a composition's prompts come formatted,
    while routing encoders read the message the user typed."""
    if tokenizer is None or not getattr(tokenizer, "chat_template", None):
        return [None] * len(prompts)
    try:
        shell = chat_texts(tokenizer, [_SENTINEL], "chat")[0]
    except Exception:  # a template that refuses a lone user message: nothing to unwrap
        return [None] * len(prompts)
    if shell.count(_SENTINEL) != 1:
        return [None] * len(prompts)
    head, tail = shell.split(_SENTINEL)
    specials = [t for t in getattr(tokenizer, "all_special_tokens", []) if t]
    out: list[str | None] = []
    for prompt in prompts:
        ok = prompt.startswith(head) and prompt.endswith(tail) and len(prompt) >= len(head) + len(tail)
        message = prompt[len(head):len(prompt) - len(tail)] if ok else None
        # A message holding the template's own markers is several turns, not one.
        out.append(None if message is None or any(s in message for s in specials) else message)
    return out


def route_texts(tokenizer: Any, prompts: Sequence[str]) -> list[str]:
    """What a router reads of each prompt: the user's message when the prompt is one formatted chat turn
    (:func:`user_messages`), else the prompt as given."""
    return [m if m is not None else p for m, p in zip(user_messages(tokenizer, prompts), prompts)]


def encode_with_offsets(tokenizer: Any, texts: Sequence[str]) -> dict[str, torch.Tensor]:
    """``input_ids``, ``attention_mask`` and ``offset_mapping`` of ``texts``, tokenized as every stage
    feeds a prompt to the host (:func:`genehub.hosts.prompt_ids`: no second BOS) and left-padded as
    :func:`genehub.hosts.encode_prompts` pads them, so a composition's pass reads the same tokens."""
    from ...hosts import pad_token_id

    bos = getattr(tokenizer, "bos_token", None)
    rows = []
    for text in texts:
        add = not (isinstance(bos, str) and bos and text.startswith(bos))
        enc = tokenizer(text, add_special_tokens=add, return_offsets_mapping=True)
        rows.append((list(enc["input_ids"]), [tuple(o) for o in enc["offset_mapping"]]))
    width = max(1, max(len(ids) for ids, _ in rows))
    out = {"input_ids": torch.full((len(rows), width), pad_token_id(tokenizer), dtype=torch.long),
           "attention_mask": torch.zeros((len(rows), width), dtype=torch.long),
           "offset_mapping": torch.zeros((len(rows), width, 2), dtype=torch.long)}
    for i, (ids, offsets) in enumerate(rows):
        if ids:
            out["input_ids"][i, width - len(ids):] = torch.tensor(ids)
            out["attention_mask"][i, width - len(ids):] = 1
            out["offset_mapping"][i, width - len(ids):] = torch.tensor(offsets, dtype=torch.long)
    return out


def span_mask(texts: Sequence[str], prompts: Sequence[str], encoding: Mapping[str, torch.Tensor], *,
              span: Span, text: TextMode) -> torch.Tensor:
    """``(n, seq)`` bool mask of the tokens to average: every real token (``span="all"``) or those that
    overlap the prompt inside its formatted text (``"user"``), without the prompt's slot tokens when
    ``text`` is a slots mode (unless that would leave none). ``encoding`` needs ``offset_mapping`` (a fast tokenizer)."""
    mask = encoding["attention_mask"].bool()
    if span == "all" and text == "raw":
        return mask
    offsets = encoding["offset_mapping"]
    lo, hi = offsets[..., 0], offsets[..., 1]
    out = torch.zeros_like(mask)
    for r, (full, prompt) in enumerate(zip(texts, prompts, strict=True)):
        start = full.rindex(prompt)
        row = mask[r].clone()
        if span == "user":
            row &= (hi[r] > start) & (lo[r] < start + len(prompt))
        keep = row.clone()
        if text != "raw":
            for a, b in slot_spans(prompt, text):
                keep &= ~((hi[r] > start + a) & (lo[r] < start + b))
        out[r] = keep if keep.any() else row
    return out


def user_token_mask(tokenizer: Any, texts: Sequence[str], prompts: Sequence[str],
                    encoding: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """``(n, seq)`` mask of the tokens that overlap the user's message inside each chat-formatted text."""
    return span_mask(texts, prompts, encoding, span="user", text="raw")


class HostEncoder(CenteredEncoder):
    """The bare host's hidden states after ``layer`` blocks, pooled (see :func:`host_features`).

    Args:
        model, tokenizer: the host (bare, or a ``PeftModel`` whose adapters are bypassed).
        host: the host's ``repo_id`` and ``revision`` (a :class:`~genehub.hosts.HostInfo` or its dict):
            the same layer of another host is another space.
        layer: 0 = embeddings, ``i`` = output of block ``i``.
        pooling: ``mean``, ``last`` or ``mean+last`` over the span.
        span: ``all`` tokens of the formatted prompt, or only the ``user`` message's tokens (``last``
            is always the prompt's last token).
        template: ``chat`` reads each prompt as a user message inside the host's chat template.
        text: ``raw``, or a slots mode (``slots-v2``, ``slots-v1``) to leave the message's slot tokens out of the mean.
        batch_size: prompts per forward pass.
        center, center_source: see :meth:`~genehub.routing.encoders.base.CenteredEncoder.centered`.
    """

    def __init__(self, model: Any, tokenizer: Any, *, host: Any, layer: int, pooling: str = "mean",
                 span: Span = "all", template: Template = "chat", text: TextMode = "raw", batch_size: int = 32,
                 center: torch.Tensor | None = None, center_source: Mapping[str, Any] | None = None) -> None:
        if pooling not in POOLINGS:
            raise UsageError(f"Unknown pooling {pooling!r}.", hint=f"Choose one of: {', '.join(POOLINGS)}.")
        if span not in ("all", "user"):
            raise UsageError(f"Unknown span {span!r}.", hint="Choose 'all' or 'user'.")
        if template not in ("chat", "none"):
            raise UsageError(f"Unknown template {template!r}.", hint="Choose 'chat' or 'none'.")
        info = host if isinstance(host, Mapping) else host.to_dict()
        self.model, self.tokenizer = model, tokenizer
        self.host = {"repo_id": str(info["repo_id"]), "revision": str(info["revision"])}
        self.layer, self.pooling, self.span, self.template = int(layer), pooling, span, template
        self.text = check_mode(text)
        self.batch_size = batch_size
        self._dim = int(model.config.hidden_size) * (2 if pooling == "mean+last" else 1)
        self._set_center(center, center_source)

    @property
    def spec(self) -> dict[str, Any]:
        return {"kind": "host", "host": dict(self.host), "layer": self.layer, "pooling": self.pooling,
                "span": self.span, "template": self.template, "text": self.text, "center": self.center_spec(),
                "dim": self._dim}

    @property
    def dim(self) -> int:
        return self._dim

    @property
    def name(self) -> str:
        return f"host L{self.layer} {self.pooling}/{self.span}" + ("" if self.text == "raw" else f" {self.text}")

    def pooled(self, prompts: Sequence[str]) -> torch.Tensor:
        """The pooled hidden states, before centering and normalising (same as :meth:`raw`)."""
        return self.raw(prompts)

    def raw(self, prompts: Sequence[str]) -> torch.Tensor:
        texts = chat_texts(self.tokenizer, prompts, self.template)
        out = []
        for i in range(0, len(texts), self.batch_size):
            chunk, part = texts[i:i + self.batch_size], list(prompts[i:i + self.batch_size])
            enc = encode_with_offsets(self.tokenizer, chunk)
            mask = self.pool_mask(chunk, part, enc)
            out.append(host_features(self.model, self.tokenizer, chunk, layer=self.layer, pooling=self.pooling,
                                     batch_size=self.batch_size, pool_mask=mask,
                                     encoding={k: enc[k] for k in ("input_ids", "attention_mask")}))
        return torch.cat(out)

    def pool_mask(self, texts: Sequence[str], prompts: Sequence[str], encoding: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """The tokens this encoder averages, for ``prompts`` formatted as ``texts`` and tokenized as
        ``encoding`` (with ``offset_mapping``): what a composition pools inside its own pass."""
        return span_mask(texts, prompts, encoding, span=self.span, text=self.text)
