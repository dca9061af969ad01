"""The one evaluator: teacher-forced exact match, greedy generations, and the scorers that judge them.

Exact match (the default metric, ``"exact_match"``). A greedy decoder writes the answer exactly, and
stops, iff at every answer position the arg-max next token given the correct prefix is the correct
token, the end-of-sequence token after the answer included. So it is computed with one teacher-forced
forward pass per batch instead of a token-by-token ``generate``; the test suite checks that both agree.
A row's answer is its ``answer`` text (end-of-sequence appended), or its ``answer_ids`` when it has them
(token ids used as they are: a bare host's own greedy continuation, so the share of rows on which a
gene keeps it is the agreement with the bare host).

Scorers (:func:`get_scorer`) judge a greedy generation, stopped at the end-of-sequence token, against
the answer instead: ``exact`` (normalised: stripped, whitespace collapsed, case-folded, a trailing
period dropped), ``contains``, ``regex:PATTERN`` (``re.fullmatch`` on the normalised generation) or
``module:function`` (any callable ``(prediction, answer) -> bool | float``; ``path/to/file.py:function``
works too). Prompts are encoded the one way every stage does (:func:`genehub.hosts.prompt_ids`).
"""

from __future__ import annotations

import importlib
import importlib.util
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from .errors import UsageError
from .hosts import encode_prompts, model_device, pad_token_id, prompt_ids

#: The metric of teacher-forced exact match (no scorer).
EXACT_MATCH = "exact_match"
#: The scorers by name (``regex:PATTERN`` and ``module:function`` are parsed by :func:`get_scorer`).
SCORERS = ("exact", "contains", "regex:PATTERN", "module:function")


def answer_ids(tokenizer: Any, row: Mapping[str, Any]) -> list[int]:
    """The tokens a row's answer is: ``answer_ids`` as given, else ``answer`` then end-of-sequence."""
    given = row.get("answer_ids")
    if given is not None:
        return [int(t) for t in given]
    ids = list(tokenizer(str(row["answer"]), add_special_tokens=False)["input_ids"])
    eos = tokenizer.eos_token_id
    return ids + [eos] if isinstance(eos, int) else ids


def encode_rows(tokenizer: Any, rows: Sequence[Mapping[str, Any]], *, device: Any = None) -> dict[str, torch.Tensor]:
    """Right-padded ``prompt + answer`` batches with labels only on the answer (see :func:`answer_ids`).

    Returns ``input_ids``, ``attention_mask`` and ``labels`` (-100 outside the answer).
    """
    pad = pad_token_id(tokenizer)
    seqs, label_rows = [], []
    for row in rows:
        p = prompt_ids(tokenizer, str(row["prompt"]))
        a = answer_ids(tokenizer, row)
        seqs.append(p + a)
        label_rows.append([-100] * len(p) + a)
    width = max(1, max(map(len, seqs), default=1))
    input_ids = torch.full((len(seqs), width), pad, dtype=torch.long)
    labels = torch.full((len(seqs), width), -100, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for i, (r, lab) in enumerate(zip(seqs, label_rows)):
        input_ids[i, : len(r)] = torch.tensor(r, dtype=torch.long)
        labels[i, : len(lab)] = torch.tensor(lab, dtype=torch.long)
        mask[i, : len(r)] = 1
    batch = {"input_ids": input_ids, "attention_mask": mask, "labels": labels}
    return batch if device is None else {k: v.to(device) for k, v in batch.items()}


def encode_pairs(tokenizer: Any, prompts: Sequence[str], answers: Sequence[str], *,
                 device: Any = None) -> dict[str, torch.Tensor]:
    """:func:`encode_rows` for parallel lists of prompts and answer texts (end-of-sequence appended)."""
    return encode_rows(tokenizer, [{"prompt": p, "answer": a} for p, a in zip(prompts, answers, strict=True)],
                       device=device)


@torch.no_grad()
def exact_match(
    model: Any,
    tokenizer: Any,
    rows: Iterable[Mapping[str, Any]],
    *,
    batch_size: int = 128,
    adapter_names: Sequence[str] | None = None,
) -> list[bool]:
    """Per-row greedy exact match of the answer (and the stop after it) after ``prompt``.

    Args:
        rows: mappings (or a ``datasets.Dataset``) with ``prompt`` and ``answer`` (or ``answer_ids``).
        adapter_names: optional per-row PEFT adapter names (``"__base__"`` for none), passed to forward.
    """
    return [bool(hits.all()) for hits in _answer_hits(model, tokenizer, rows, batch_size, adapter_names)]


def token_match(
    model: Any,
    tokenizer: Any,
    rows: Iterable[Mapping[str, Any]],
    *,
    batch_size: int = 128,
    adapter_names: Sequence[str] | None = None,
) -> list[float]:
    """Per-row share of the answer's tokens that greedy decoding predicts, teacher-forced.

    On general prompts whose answer is the bare host's own continuation (:func:`reference_rows`), this is
    token-level agreement with the host: unlike :func:`exact_match`, one changed token in a long
    continuation costs one token, not the row. Same arguments as :func:`exact_match`.
    """
    return [float(hits.float().mean()) if hits.numel() else 1.0
            for hits in _answer_hits(model, tokenizer, rows, batch_size, adapter_names)]


@torch.no_grad()
def _answer_hits(model: Any, tokenizer: Any, rows: Iterable[Mapping[str, Any]], batch_size: int,
                 adapter_names: Sequence[str] | None) -> Iterable[torch.Tensor]:
    """For each row, whether each answer token is the model's greedy prediction (teacher-forced)."""
    rows = list(rows)
    device = model_device(model) if rows else None
    for start in range(0, len(rows), batch_size):
        chunk = rows[start : start + batch_size]
        batch = encode_rows(tokenizer, chunk, device=device)
        kwargs = {}
        if adapter_names is not None:
            kwargs["adapter_names"] = list(adapter_names[start : start + batch_size])
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], **kwargs).logits
        predicted = logits[:, :-1].argmax(-1)
        target = batch["labels"][:, 1:]
        scored = target != -100
        for i in range(len(chunk)):
            yield (predicted[i] == target[i])[scored[i]]


@torch.no_grad()
def greedy_tokens(model: Any, tokenizer: Any, prompts: Sequence[str], *, max_new_tokens: int = 12,
                  batch_size: int = 64, **generate_kwargs: Any) -> list[list[int]]:
    """Greedy continuations of ``prompts`` as token ids, each up to and including its first
    end-of-sequence token (without it when ``max_new_tokens`` ran out first)."""
    eos = tokenizer.eos_token_id
    out: list[list[int]] = []
    device = model_device(model) if prompts else None
    for start in range(0, len(prompts), batch_size):
        enc = encode_prompts(tokenizer, list(prompts[start:start + batch_size]), device=device)
        generated = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False, eos_token_id=eos,
                                   pad_token_id=pad_token_id(tokenizer), **generate_kwargs)
        for row in generated[:, enc["input_ids"].shape[1]:].tolist():
            out.append(row[: row.index(eos) + 1] if eos in row else row)
    return out


def greedy_answers(model: Any, tokenizer: Any, prompts: Sequence[str], *, max_new_tokens: int = 12,
                   **generate_kwargs: Any) -> list[str]:
    """Generate greedily and return the text after each prompt, up to the end-of-sequence token."""
    return [tokenizer.decode(ids, skip_special_tokens=True)
            for ids in greedy_tokens(model, tokenizer, prompts, max_new_tokens=max_new_tokens, **generate_kwargs)]


# ------------------------------------------------------------------------------------------------ scorers
def normalize(text: str) -> str:
    """Stripped, whitespace collapsed, case-folded, without a trailing period."""
    text = " ".join(str(text).split()).casefold()
    return text[:-1].rstrip() if text.endswith(".") else text


@dataclass(frozen=True)
class Scorer:
    """A named judge of a generation against the answer; ``name`` is what a card records as its metric."""

    name: str
    fn: Callable[[str, str], Any]

    def __call__(self, prediction: str, answer: str) -> float:
        value = self.fn(prediction, answer)
        if isinstance(value, bool) or isinstance(value, (int, float)):
            return float(value)
        raise UsageError(f"Scorer {self.name} returned {type(value).__name__}, not a bool or a number.",
                         hint="Make the scorer return True/False or a score between 0 and 1.")


def _exact(prediction: str, answer: str) -> bool:
    return normalize(prediction) == normalize(answer)


def _contains(prediction: str, answer: str) -> bool:
    return normalize(answer) in normalize(prediction)


def _load_function(spec: str) -> Callable[[str, str], Any]:
    where, _, name = spec.rpartition(":")
    try:
        if where.endswith(".py"):
            path = Path(where)
            module_spec = importlib.util.spec_from_file_location(path.stem, path)
            if not path.is_file() or module_spec is None or module_spec.loader is None:
                raise FileNotFoundError(where)
            module = importlib.util.module_from_spec(module_spec)
            module_spec.loader.exec_module(module)
        else:
            module = importlib.import_module(where)
        function = getattr(module, name)
    except (ImportError, FileNotFoundError, AttributeError) as err:
        raise UsageError(f"Cannot load the scorer {spec!r}: {err}.",
                         hint="Give --scorer as module:function (importable) or path/to/file.py:function.") from None
    if not callable(function):
        raise UsageError(f"The scorer {spec!r} is not callable.", hint="Point --scorer at a function.")
    return function


def get_scorer(spec: str | Scorer | Callable[[str, str], Any] | None) -> Scorer | None:
    """The scorer ``spec`` names (None, or ``"exact_match"``: teacher-forced exact match, no scorer).

    Args:
        spec: ``"exact"``, ``"contains"``, ``"regex:PATTERN"``, ``"module:function"``,
            ``"path/to/file.py:function"``, a :class:`Scorer`, or a callable ``(prediction, answer)``.

    Raises:
        UsageError: an unknown name, a bad pattern, or a function that cannot be loaded.
    """
    if spec is None or spec == EXACT_MATCH:
        return None
    if isinstance(spec, Scorer):
        return spec
    if callable(spec):
        return Scorer(getattr(spec, "__name__", "custom"), spec)
    if spec == "exact":
        return Scorer("exact", _exact)
    if spec == "contains":
        return Scorer("contains", _contains)
    if spec.startswith("regex:"):
        try:
            pattern = re.compile(spec[len("regex:"):])
        except re.error as err:
            raise UsageError(f"Bad regex in --scorer {spec!r}: {err}.",
                             hint="Fix the pattern (Python re syntax).") from None
        return Scorer(spec, lambda prediction, _answer: pattern.fullmatch(normalize(prediction)) is not None)
    if ":" in spec:
        return Scorer(spec, _load_function(spec))
    raise UsageError(f"Unknown scorer {spec!r}.",
                     hint=f"Use {EXACT_MATCH} (default), exact, contains, regex:PATTERN or module:function.")


def metric_name(scorer: Scorer | None) -> str:
    """What a card records as the metric of ``scorer`` (``"exact_match"`` for none)."""
    return EXACT_MATCH if scorer is None else scorer.name


def scores(model: Any, tokenizer: Any, rows: Iterable[Mapping[str, Any]], scorer: Scorer | None = None, *,
           batch_size: int = 64, max_new_tokens: int | None = None) -> list[float]:
    """Per-row score: teacher-forced exact match without a scorer, else ``scorer(generation, answer)``.

    Args:
        max_new_tokens: generation length (default: the longest answer in tokens plus 16).
    """
    rows = list(rows)
    if scorer is None:
        return [float(h) for h in exact_match(model, tokenizer, rows, batch_size=batch_size)]
    if not rows:
        return []
    if max_new_tokens is None:
        max_new_tokens = 16 + max(len(tokenizer(str(r["answer"]), add_special_tokens=False)["input_ids"]) for r in rows)
    outputs = greedy_answers(model, tokenizer, [str(r["prompt"]) for r in rows], max_new_tokens=max_new_tokens,
                             batch_size=batch_size)
    return [scorer(out, str(r["answer"])) for out, r in zip(outputs, rows)]


def accuracy(model: Any, tokenizer: Any, rows: Iterable[Mapping[str, Any]], *, scorer: Scorer | None = None,
             **kwargs: Any) -> float:
    """Mean score of ``rows`` (:func:`scores`; by default the share answered exactly by greedy decoding)."""
    values = scores(model, tokenizer, rows, scorer, **kwargs) if scorer is not None else \
        [float(h) for h in exact_match(model, tokenizer, rows, **kwargs)]
    return sum(values) / max(len(values), 1)


def skill_accuracies(
    model: Any, tokenizer: Any, datasets: Mapping[str, Iterable[Mapping[str, Any]]], **kwargs: Any
) -> dict[str, float]:
    """``{skill: accuracy}`` for a mapping of skill name to rows (e.g. each skill's test split)."""
    return {name: accuracy(model, tokenizer, rows, **kwargs) for name, rows in datasets.items()}


def reference_rows(model: Any, tokenizer: Any, prompts: Sequence[str], *, max_new_tokens: int = 32,
                   batch_size: int = 64) -> list[dict[str, Any]]:
    """``{"prompt", "answer_ids"}`` rows whose answer is ``model``'s own greedy continuation: what a gene
    must leave alone on general prompts (teacher-forced exact match on them is agreement with ``model``)."""
    continuations = greedy_tokens(model, tokenizer, list(prompts), max_new_tokens=max_new_tokens,
                                  batch_size=batch_size)
    return [{"prompt": p, "answer_ids": ids} for p, ids in zip(prompts, continuations)]
