"""Data and cached encodings for ``bench_routing_scale.py``.

The prompt sets (per skill: up to 64 prompts of the seen phrasings, which is what a gene's
``examples.jsonl`` holds, and prompts of the held-out phrasings; general chat prompts split by family
into a calibration part and a test part) are drawn once, deterministically, and every encoder encodes
each set once; the encodings are cached in ``--cache`` (safetensors), keyed by the data's digest.

The host is read in one pass per batch with ``output_hidden_states``, which gives every layer at once:
per layer, four poolings of the chat-formatted prompt (mean over all tokens, mean over the user
message's tokens, mean over the user message and what follows it, the last token).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import random
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any
from collections.abc import Callable

import torch

TRAIN_PER_SKILL = 64       # examples.jsonl holds up to 64 train prompts per gene
TEST_PER_SKILL = 30        # prompts of the held-out phrasings, per skill
#: general families whose prompts calibrate the thresholds (and are the trained head's "none");
#: the others are only used to measure false activation.
CALIBRATION_FAMILIES = ("explain", "greeting", "poem", "how_to", "travel", "person")
TEST_FAMILIES = ("animal_fact", "recipe", "opinion", "story", "chat")
LAYERS = (2, 4, 8, 12, 16, 20, 24, 30)
POOLINGS = ("mean_all", "mean_user", "mean_tail", "last")


def load_module(path: str | Path, name: str) -> ModuleType:
    """Import a Python file by path (the prototype skill and general-prompt modules are not packaged yet)."""
    path = Path(path)
    sys.path.insert(0, str(path.parent))
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _unique(draw: Any, n: int, tries: int = 4000) -> list[dict[str, Any]]:
    seen: dict[str, dict[str, Any]] = {}
    for _ in range(tries):
        row = draw()
        seen.setdefault(row["prompt"], row)
        if len(seen) >= n:
            break
    return list(seen.values())


def build_data(skills_mod: ModuleType, general_mod: ModuleType, *, seed: int = 0, test_seed: int = 0) -> dict[str, Any]:
    """The benchmark's prompt sets (deterministic for the seeds; ``test_seed`` draws other held-out prompts)."""
    train: dict[str, list[str]] = {}
    test: dict[str, list[str]] = {}
    for i, (name, skill) in enumerate(sorted(skills_mod.SKILLS.items())):
        rng = random.Random(seed * 1000 + i)
        train[name] = [r["prompt"] for r in _unique(lambda: skills_mod.example(skill, rng), TRAIN_PER_SKILL)]
        rng = random.Random(seed * 1000 + 500 + i + 100_000 * test_seed)
        test[name] = [r["prompt"] for r in _unique(lambda: skills_mod.example(skill, rng, heldout=True), TEST_PER_SKILL)]
    fams = set(general_mod.FAMILIES)
    assert set(CALIBRATION_FAMILIES) | set(TEST_FAMILIES) == fams and not set(CALIBRATION_FAMILIES) & set(TEST_FAMILIES)

    def general(families: tuple[str, ...], s: int) -> list[str]:
        rows = general_mod.general_prompts(4000, families=families, seed=s)
        return sorted({r["prompt"] for r in rows})

    data = {"train": train, "test": test, "general_calibration": general(CALIBRATION_FAMILIES, seed + 1),
            "general_test": general(TEST_FAMILIES, seed + 2)}
    data["digest"] = hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]
    return data


def all_prompts(data: dict[str, Any]) -> list[str]:
    out: list[str] = []
    for name in sorted(data["train"]):
        out += data["train"][name]
    for name in sorted(data["test"]):
        out += data["test"][name]
    out += data["general_calibration"] + data["general_test"]
    return sorted(set(out))


def chat_format(tokenizer: Any, prompts: list[str]) -> tuple[list[str], list[tuple[int, int]]]:
    """The chat-formatted texts and the character span of the user message inside each."""
    texts, spans = [], []
    for p in prompts:
        text = tokenizer.apply_chat_template([{"role": "user", "content": p}], tokenize=False, add_generation_prompt=True)
        start = text.rindex(p)
        texts.append(text)
        spans.append((start, start + len(p)))
    return texts, spans


@torch.no_grad()
def host_scan(model_dir: str | Path, prompts: list[str], *, layers: tuple[int, ...] = LAYERS,
              batch_size: int = 32, log: Any = print) -> dict[str, torch.Tensor]:
    """``{f"L{layer}/{pooling}": (n, hidden)}`` for every layer and pooling, in one pass per batch."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    body = model.model  # hidden states only: the LM head is not needed
    texts, spans = chat_format(tokenizer, prompts)
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    out = {f"L{layer}/{p}": torch.zeros(len(prompts), model.config.hidden_size) for layer in layers for p in POOLINGS}
    start = time.perf_counter()
    for b in range(0, len(order), batch_size):
        idx = order[b:b + batch_size]
        enc = tokenizer([texts[i] for i in idx], return_tensors="pt", padding=True, return_offsets_mapping=True)
        mask = enc["attention_mask"]
        offsets = enc["offset_mapping"]
        user = torch.zeros_like(mask)
        tail = torch.zeros_like(mask)
        for r, i in enumerate(idx):
            s, e = spans[i]
            tok_start, tok_end = offsets[r, :, 0], offsets[r, :, 1]
            real = mask[r].bool()
            user[r] = (real & (tok_end > s) & (tok_start < e)).long()
            tail[r] = (real & (tok_end > s)).long()
        position_ids = (mask.cumsum(-1) - 1).clamp(min=0)
        hs = body(input_ids=enc["input_ids"], attention_mask=mask, position_ids=position_ids,
                  output_hidden_states=True, use_cache=False).hidden_states
        last_idx = (torch.arange(mask.shape[1]).expand_as(mask) * mask).argmax(1)
        for layer in layers:
            h = hs[layer].float()
            for name, m in (("mean_all", mask), ("mean_user", user), ("mean_tail", tail)):
                mf = m.unsqueeze(-1).float()
                out[f"L{layer}/{name}"][idx] = (h * mf).sum(1) / mf.sum(1).clamp(min=1)
            out[f"L{layer}/last"][idx] = h[torch.arange(len(idx)), last_idx]
        if (b // batch_size) % 10 == 0:
            log(f"  host scan {b + len(idx)}/{len(order)} prompts, {time.perf_counter() - start:.0f} s")
    return out


def encode_cached(store: Path, prompts: list[str], make: Callable[[list[str]], dict[str, torch.Tensor]],
                  *, log: Any = print) -> dict[str, torch.Tensor]:
    """``{name: (len(prompts), dim)}`` for one encoder, each prompt encoded once ever: ``store`` holds
    chunks (``N.safetensors`` + ``N.json``, the chunk's prompts); only prompts no chunk has are encoded."""
    from safetensors.torch import load_file, save_file

    store.mkdir(parents=True, exist_ok=True)
    rows: dict[str, tuple[int, int]] = {}
    chunks: list[dict[str, torch.Tensor]] = []
    for i, meta in enumerate(sorted(store.glob("*.json"), key=lambda p: int(p.stem))):
        chunks.append(load_file(str(meta.with_suffix(".safetensors"))))
        for r, prompt in enumerate(json.loads(meta.read_text())):
            rows.setdefault(prompt, (i, r))
    missing = sorted({p for p in prompts if p not in rows})
    if missing:
        log(f"  encoding {len(missing)} new prompts into {store}")
        tensors = make(missing)
        n = len(chunks)
        save_file({k: v.contiguous() for k, v in tensors.items()}, str(store / f"{n}.safetensors"))
        (store / f"{n}.json").write_text(json.dumps(missing))
        chunks.append(tensors)
        rows.update({p: (n, r) for r, p in enumerate(missing)})
    keys = list(chunks[0])
    return {k: torch.stack([chunks[rows[p][0]][k][rows[p][1]] for p in prompts]) for k in keys}
