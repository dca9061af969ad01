"""A character-level tokenizer built with `tokenizers`, wrapped in `PreTrainedTokenizerFast`.

Every printable ASCII character is one token, so any synthetic prompt round-trips exactly, and
``save_pretrained``/``AutoTokenizer.from_pretrained`` work as for any Hub tokenizer.
"""

from __future__ import annotations

import string

from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers

SPECIAL_TOKENS = {"pad_token": "<pad>", "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"}
ALPHABET = string.ascii_letters + string.digits + " +-=:?!.,;'\"()[]<>/*#%&_|~@^{}\\$`"


def build_tokenizer():
    """Return a ``PreTrainedTokenizerFast`` with one token per character (pads on the left)."""
    from transformers import PreTrainedTokenizerFast

    vocab = {tok: i for i, tok in enumerate(SPECIAL_TOKENS.values())}
    for ch in ALPHABET:
        vocab.setdefault(ch, len(vocab))
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token=SPECIAL_TOKENS["unk_token"]))
    backend.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")
    backend.decoder = decoders.Fuse()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, padding_side="left", **SPECIAL_TOKENS)
    return tokenizer
