"""Greedy exact-match accuracy, batched.

A greedy decoder writes the answer exactly iff, at every answer position, the arg-max next token given
the correct prefix is the correct token (the end-of-sequence token included). So exact match is
computed with one teacher-forced forward pass per batch instead of a token-by-token ``generate``; the
test suite checks that both agree. ``greedy_answers`` gives the generated strings when they are wanted.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import torch


def encode_pairs(tokenizer: Any, prompts: Sequence[str], answers: Sequence[str]) -> dict[str, torch.Tensor]:
    """Right-padded ``prompt + answer + eos`` batches with labels only on the answer and eos.

    Returns ``input_ids``, ``attention_mask`` and ``labels`` (-100 outside the answer).
    """
    eos = tokenizer.eos_token_id
    pad = tokenizer.pad_token_id
    rows, label_rows = [], []
    for prompt, answer in zip(prompts, answers, strict=True):
        p = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        a = tokenizer(answer, add_special_tokens=False)["input_ids"] + [eos]
        rows.append(p + a)
        label_rows.append([-100] * len(p) + a)
    width = max(map(len, rows))
    input_ids = torch.full((len(rows), width), pad, dtype=torch.long)
    labels = torch.full((len(rows), width), -100, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, (r, lab) in enumerate(zip(rows, label_rows)):
        input_ids[i, : len(r)] = torch.tensor(r)
        labels[i, : len(lab)] = torch.tensor(lab)
        mask[i, : len(r)] = 1
    return {"input_ids": input_ids, "attention_mask": mask, "labels": labels}


@torch.no_grad()
def exact_match(
    model: Any,
    tokenizer: Any,
    rows: Iterable[Mapping[str, Any]],
    *,
    batch_size: int = 128,
    adapter_names: Sequence[str] | None = None,
) -> list[bool]:
    """Per-row greedy exact match of ``answer`` after ``prompt``.

    Args:
        rows: mappings (or a ``datasets.Dataset``) with ``prompt`` and ``answer``.
        adapter_names: optional per-row PEFT adapter names (``"__base__"`` for none), passed to forward.
    """
    rows = list(rows)
    hits: list[bool] = []
    for start in range(0, len(rows), batch_size):
        chunk = rows[start : start + batch_size]
        batch = encode_pairs(tokenizer, [r["prompt"] for r in chunk], [r["answer"] for r in chunk])
        kwargs = {}
        if adapter_names is not None:
            kwargs["adapter_names"] = list(adapter_names[start : start + batch_size])
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], **kwargs).logits
        predicted = logits[:, :-1].argmax(-1)
        target = batch["labels"][:, 1:]
        scored = target != -100
        correct = ((predicted == target) | ~scored).all(dim=1)
        hits.extend(bool(c) for c in correct)
    return hits


def accuracy(model: Any, tokenizer: Any, rows: Iterable[Mapping[str, Any]], **kwargs: Any) -> float:
    """Share of rows answered exactly by greedy decoding."""
    hits = exact_match(model, tokenizer, rows, **kwargs)
    return sum(hits) / max(len(hits), 1)


def skill_accuracies(
    model: Any, tokenizer: Any, datasets: Mapping[str, Iterable[Mapping[str, Any]]], **kwargs: Any
) -> dict[str, float]:
    """``{skill: accuracy}`` for a mapping of skill name to rows (e.g. each skill's test split)."""
    return {name: accuracy(model, tokenizer, rows, **kwargs) for name, rows in datasets.items()}


@torch.no_grad()
def greedy_answers(
    model: Any, tokenizer: Any, prompts: Sequence[str], *, max_new_tokens: int = 12, **generate_kwargs: Any
) -> list[str]:
    """Generate greedily and return the text after each prompt, up to the end-of-sequence token."""
    if not prompts:
        return []
    tokenizer.padding_side = "left"
    enc = tokenizer(list(prompts), return_tensors="pt", padding=True, add_special_tokens=False)
    out = model.generate(
        **enc,
        max_new_tokens=max_new_tokens,
        do_sample=False,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        **generate_kwargs,
    )
    new = out[:, enc["input_ids"].shape[1] :]
    return [tokenizer.decode(row, skip_special_tokens=True) for row in new]
