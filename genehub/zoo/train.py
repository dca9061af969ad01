"""Training of the zoo's tiny causal LMs: a seeded next-token loop on synthetic skill mixtures."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from . import skills as _skills
from ..evaluate import encode_pairs


@dataclass
class TrainConfig:
    """One training run: which skills in what proportion, how long, and how.

    ``mixture`` maps skill name to sampling weight. ``layers``, when given, restricts training to
    those decoder layers (everything else frozen): the zoo uses it to make donors whose change lives
    at known layers, which circuit location must then find.
    """

    mixture: dict[str, float]
    steps: int
    batch_size: int = 64
    lr: float = 3e-3
    warmup: int = 50
    weight_decay: float = 0.0
    seed: int = 0
    heldout_share: float = 0.3  # the zoo's models know every phrasing (see skills' docstring)
    layers: Sequence[int] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _batches(config: TrainConfig):
    rng = random.Random(config.seed)
    names = list(config.mixture)
    weights = [config.mixture[n] for n in names]
    registry = [_skills.get_skill(n) for n in names]
    while True:
        picks = rng.choices(range(len(names)), weights=weights, k=config.batch_size)
        yield [registry[i].example(rng, heldout=rng.random() < config.heldout_share) for i in picks]


def train(model: Any, tokenizer: Any, config: TrainConfig, *, progress: str | None = None) -> list[float]:
    """Train ``model`` in place on ``config``'s mixture; returns the loss curve (one value per step)."""
    from tqdm.auto import tqdm

    torch.manual_seed(config.seed)
    if config.layers is not None:
        keep = {f"layers.{i}." for i in config.layers}
        for name, param in model.named_parameters():
            param.requires_grad = any(k in name for k in keep)
    params = [p for p in model.parameters() if p.requires_grad]
    optim = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay, betas=(0.9, 0.98))

    def schedule(step: int) -> float:
        if step < config.warmup:
            return (step + 1) / config.warmup
        progress_ = (step - config.warmup) / max(1, config.steps - config.warmup)
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress_))

    sched = torch.optim.lr_scheduler.LambdaLR(optim, schedule)
    model.train()
    losses: list[float] = []
    batches = _batches(config)
    bar = tqdm(range(config.steps), desc=progress or "train", disable=True if progress is None else None, leave=False)
    for _ in bar:
        rows = next(batches)
        batch = encode_pairs(tokenizer, [r["prompt"] for r in rows], [r["answer"] for r in rows])
        out = model(**batch)
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optim.step()
        sched.step()
        optim.zero_grad(set_to_none=True)
        losses.append(out.loss.item())
        if len(losses) % 50 == 0:
            bar.set_postfix(loss=f"{sum(losses[-50:]) / 50:.3f}")
    model.eval()
    for p in model.parameters():
        p.requires_grad = True
    return losses
