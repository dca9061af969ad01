"""Data and cached encodings for ``bench_routing_scale.py``.

The prompt sets come from the zoo's language skills and general prompts (:mod:`genehub.zoo.language`,
:mod:`genehub.zoo.general`), drawn once and deterministically, as user messages:

* ``train``: per skill, the first 64 distinct prompts of the skill's train split (seen phrasings): what
  the gene's ``examples.jsonl`` holds (the bench's genes are written with these rows);
* ``dev``: per skill, 30 prompts of the held-out phrasings drawn with their own seed: every choice of the
  bench (encoder, layer, pooling, text mode, weights, margin) is made on these;
* ``test``: per skill, the held-out rows of the skill's test split (the rows the skill LoRA's
  ``metrics.json`` and the composed accuracy are measured on): fresh instances for the tables;
* ``general_calibration`` / ``general_test``: distinct general chat prompts of the zoo's calibration
  families (thresholds, background, the trained head's "none") and of its test families (false activation).

Every encoder encodes each prompt once; encodings are cached in ``--cache`` (safetensors chunks keyed
by prompt). The host is read in one pass per batch with ``output_hidden_states`` up to the last layer
scanned (the blocks above it are dropped for the scan), pooled several ways per layer.
"""

from __future__ import annotations

import hashlib
import json
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

TRAIN_PER_SKILL = 64       # examples.jsonl holds up to 64 train prompts per gene
DEV_PER_SKILL = 30         # prompts of the held-out phrasings per skill, for choosing
N_TEST = 128               # the skill LoRAs' test split (half of it in held-out phrasings)
N_TRAIN = 2048             # the skill LoRAs' train split (its first rows are the genes' examples)
#: layers the host is scanned at: all at or below the first block the skill LoRAs adapt (block 15), so a
#: composition can read them inside its forward pass.
LAYERS = (8, 10, 12, 14, 15)
#: poolings of the chat-formatted prompt: the user message's tokens, those tokens without the slots
#: (:func:`genehub.routing.slots.slot_spans`), the last token.
POOLINGS = ("mean_user", "mean_instr", "last")


def user_text(row: dict[str, Any]) -> str:
    return str(row["messages"][-1]["content"])


def _unique(rows: list[dict[str, Any]], n: int) -> list[dict[str, Any]]:
    seen: dict[str, dict[str, Any]] = {}
    for row in rows:
        seen.setdefault(user_text(row), row)
        if len(seen) >= n:
            break
    return list(seen.values())


def build_data(*, dev_seed: int = 0) -> dict[str, Any]:
    """The benchmark's prompt sets (user messages) and the skills' test rows (chat rows, for composed accuracy)."""
    from genehub.zoo import general, language

    train: dict[str, list[str]] = {}
    dev: dict[str, list[str]] = {}
    test: dict[str, list[str]] = {}
    test_all: dict[str, list[str]] = {}
    test_rows: dict[str, list[dict[str, Any]]] = {}
    for i, name in enumerate(sorted(language.SKILLS)):
        skill = language.SKILLS[name]
        splits = language.skill_splits(name, n_train=N_TRAIN, n_validation=1, n_test=N_TEST)
        train[name] = [user_text(r) for r in _unique([r for r in splits["train"]], TRAIN_PER_SKILL)]
        test_rows[name] = list(splits["test"])
        test[name] = sorted({user_text(r) for r in splits["test"] if r["heldout"]})
        test_all[name] = [user_text(r) for r in splits["test"]]
        rng = random.Random(10_000 * (dev_seed + 1) + i)
        dev[name] = [user_text(r) for r in _unique([skill.example(rng, heldout=True) for _ in range(2000)], DEV_PER_SKILL)]

    def prompts(families: tuple[str, ...], seed: int) -> list[str]:
        return sorted({user_text(r) for r in general.general_prompts(4000, families=families, seed=seed)})

    data = {"train": train, "dev": dev, "test": test,
            "general_calibration": prompts(general.CALIBRATION_FAMILIES, 1),
            "general_test": prompts(general.TEST_FAMILIES, 2),
            "families": {"calibration": list(general.CALIBRATION_FAMILIES), "test": list(general.TEST_FAMILIES)}}
    data["digest"] = hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]
    data["test_rows"], data["test_all"] = test_rows, test_all
    return data


def all_prompts(data: dict[str, Any]) -> list[str]:
    out: set[str] = set()
    for part in ("train", "dev", "test", "test_all"):
        for prompts in data[part].values():
            out.update(prompts)
    out.update(data["general_calibration"])
    out.update(data["general_test"])
    return sorted(out)


@torch.no_grad()
def host_scan(model_dir: str | Path, prompts: list[str], *, layers: tuple[int, ...] = LAYERS,
              batch_size: int = 32, text: str = "slots-v2", log: Any = print) -> dict[str, torch.Tensor]:
    """``{f"L{layer}/{pooling}": (n, hidden)}`` for every layer and pooling, in one pass per batch (``text``:
    the slots mode whose slot tokens ``mean_instr`` leaves out)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from genehub.routing.encoders import chat_texts
    from genehub.routing.slots import slot_spans

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    body = model.model
    body.layers = body.layers[:max(layers)]  # hidden states only, up to the last layer scanned
    texts = chat_texts(tokenizer, prompts, "chat")
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    out = {f"L{layer}/{p}": torch.zeros(len(prompts), model.config.hidden_size) for layer in layers for p in POOLINGS}
    start = time.perf_counter()
    for b in range(0, len(order), batch_size):
        idx = order[b:b + batch_size]
        enc = tokenizer([texts[i] for i in idx], return_tensors="pt", padding=True, return_offsets_mapping=True)
        mask, offsets = enc["attention_mask"], enc["offset_mapping"]
        user, instr = torch.zeros_like(mask), torch.zeros_like(mask)
        for r, i in enumerate(idx):
            s = texts[i].rindex(prompts[i])
            e = s + len(prompts[i])
            lo, hi = offsets[r, :, 0], offsets[r, :, 1]
            real = mask[r].bool()
            user[r] = (real & (hi > s) & (lo < e)).long()
            keep = user[r].bool()
            for a, z in slot_spans(prompts[i], text):
                keep &= ~((hi > s + a) & (lo < s + z))
            instr[r] = keep.long() if keep.any() else user[r]
        position_ids = (mask.cumsum(-1) - 1).clamp(min=0)
        hs = body(input_ids=enc["input_ids"], attention_mask=mask, position_ids=position_ids,
                  output_hidden_states=True, use_cache=False).hidden_states
        last_idx = (torch.arange(mask.shape[1]).expand_as(mask) * mask).argmax(1)
        for layer in layers:
            h = hs[layer].float()
            for name, m in (("mean_user", user), ("mean_instr", instr)):
                mf = m.unsqueeze(-1).float()
                out[f"L{layer}/{name}"][idx] = (h * mf).sum(1) / mf.sum(1).clamp(min=1)
            out[f"L{layer}/last"][idx] = h[torch.arange(len(idx)), last_idx]
        if (b // batch_size) % 20 == 0:
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


@torch.no_grad()
def head_scan(model_dir: str | Path, prompts: list[str], *, layer: int, batch_size: int = 32,
              log: Any = print) -> dict[str, torch.Tensor]:
    """Today's trained head's features: :func:`genehub.routing.host_features` at ``layer`` (the last token)
    of each prompt formatted in the host's chat template, as :meth:`genehub.routing.Router.train` reads
    the genes' (formatted) examples."""
    from genehub.hosts import load_host
    from genehub.routing import host_features
    from genehub.routing.encoders import chat_texts

    model, tokenizer = load_host(model_dir)
    texts = chat_texts(tokenizer, prompts, "chat")
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    out = torch.zeros(len(prompts), model.config.hidden_size)
    start = time.perf_counter()
    for b in range(0, len(order), batch_size):
        idx = order[b:b + batch_size]
        out[idx] = host_features(model, tokenizer, [texts[i] for i in idx], layer=layer, pooling="last",
                                 batch_size=batch_size)
        if (b // batch_size) % 20 == 0:
            log(f"  head features {b + len(idx)}/{len(order)} prompts, {time.perf_counter() - start:.0f} s")
    return {f"L{layer}/last": out}
