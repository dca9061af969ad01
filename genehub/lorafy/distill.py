"""Distil the donor's skill into a LoRA on the host, only at the circuit's modules.

    loss = KL(donor || host+LoRA)  on the skill's answer positions
         + lambda * KL(host || host+LoRA)  on every position of other prompts (keep what the host does)

The donor and the host (the same PeftModel with its adapter disabled) are frozen teachers; only the
LoRA's A and B matrices train. With ``lam=0`` the gene imitates the donor everywhere it can, including
the donor's forgetting of other skills; the preservation term is what keeps those.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from .._progress import progress_bar
from ..evaluate import encode_rows
from ..hosts import model_device


@dataclass
class DistillConfig:
    """Options of the distillation. The defaults fit the zoo's models in a few hundred CPU steps.

    Attributes:
        rank: LoRA rank.
        alpha: LoRA alpha (PEFT scales the update by ``alpha / rank``).
        lam: weight of the preservation term KL(host || host+LoRA) on other prompts (0 turns it off).
        steps: optimisation steps.
        lr: peak AdamW learning rate (warm-up, then cosine decay to 10%).
        batch_size: skill rows per step (and as many other rows when ``lam > 0``).
        seed: seeds the LoRA's init and the batch order.
        progress: show a progress bar.
    """

    rank: int = 8
    alpha: float = 16.0
    lam: float = 1.0
    steps: int = 300
    lr: float = 1e-2
    batch_size: int = 32
    seed: int = 0
    progress: bool = True


def lora_model(host: Any, module_names: Sequence[str], *, rank: int, alpha: float, seed: int = 0) -> Any:
    """Wrap ``host`` in a ``PeftModel`` with one LoRA on exactly the named linear layers.

    ``target_modules`` holds the full module names (e.g. ``model.layers.1.self_attn.q_proj``), which plain
    PEFT matches as suffixes, so the saved adapter loads with ``PeftModel.from_pretrained`` alone. GPT-2's
    ``Conv1D`` layers store their weight transposed: the config says so (``fan_in_fan_out``).
    """
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(seed)
    modules = dict(host.named_modules())
    transposed = any(type(modules.get(n)).__name__ == "Conv1D" for n in module_names)
    config = LoraConfig(r=rank, lora_alpha=alpha, lora_dropout=0.0, target_modules=sorted(module_names),
                        bias="none", task_type="CAUSAL_LM", fan_in_fan_out=transposed)
    return get_peft_model(host, config)


def _kl(teacher_logits: torch.Tensor, student_logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over masked positions of KL(teacher || student)."""
    t = torch.log_softmax(teacher_logits.float(), dim=-1)
    s = torch.log_softmax(student_logits.float(), dim=-1)
    per_position = (t.exp() * (t - s)).sum(-1)
    return (per_position * mask).sum() / mask.sum().clamp_min(1)


def _batch(tokenizer: Any, rows: Sequence[Mapping[str, Any]], device: Any) -> dict[str, torch.Tensor]:
    return encode_rows(tokenizer, rows, device=device)


def distill(student: Any, donor: Any, tokenizer: Any, skill_rows: Sequence[Mapping[str, Any]],
            other_rows: Sequence[Mapping[str, Any]], config: DistillConfig | None = None) -> list[float]:
    """Train ``student``'s LoRA (a ``PeftModel`` from :func:`lora_model`) in place; returns the loss curve.

    Args:
        student: the host wrapped with a fresh LoRA on the circuit's modules.
        donor: the frozen model that has the skill.
        tokenizer: the shared tokenizer.
        skill_rows: prompts and answers of the skill (the train split).
        other_rows: prompts and answers of other skills, or general prompts with the host's own
            continuation as ``answer_ids`` (what the host must keep doing).
        config: hyperparameters.
    """
    config = config or DistillConfig()
    rng = random.Random(config.seed)
    params = [p for n, p in student.named_parameters() if "lora_" in n]
    for name, p in student.named_parameters():
        p.requires_grad = "lora_" in name
    optim = torch.optim.AdamW(params, lr=config.lr, weight_decay=0.0)
    warmup = max(1, config.steps // 20)

    def schedule(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return 0.1 + 0.45 * (1 + math.cos(math.pi * (step - warmup) / max(1, config.steps - warmup)))

    sched = torch.optim.lr_scheduler.LambdaLR(optim, schedule)
    skill_rows, other_rows = list(skill_rows), list(other_rows)
    use_other = config.lam > 0 and bool(other_rows)
    losses: list[float] = []
    device = model_device(student)
    donor.eval()
    student.train()
    bar = progress_bar(range(config.steps), desc="distil", unit="step", enabled=config.progress)
    for _ in bar:
        skill = _batch(tokenizer, rng.sample(skill_rows, min(config.batch_size, len(skill_rows))), device)
        inputs = {"input_ids": skill["input_ids"], "attention_mask": skill["attention_mask"]}
        # Position t predicts token t+1: the answer's positions are those whose next token is labelled.
        answer_mask = torch.zeros_like(skill["labels"], dtype=torch.float)
        answer_mask[:, :-1] = (skill["labels"][:, 1:] != -100).float()
        with torch.no_grad():
            teacher = donor(**inputs).logits
        loss = _kl(teacher, student(**inputs).logits, answer_mask)
        if use_other:
            other = _batch(tokenizer, rng.sample(other_rows, min(config.batch_size, len(other_rows))), device)
            other_inputs = {"input_ids": other["input_ids"], "attention_mask": other["attention_mask"]}
            with torch.no_grad(), student.disable_adapter():
                host_logits = student(**other_inputs).logits
            loss = loss + config.lam * _kl(host_logits, student(**other_inputs).logits,
                                           other["attention_mask"].float())
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optim.step()
        sched.step()
        optim.zero_grad(set_to_none=True)
        losses.append(loss.item())
        if len(losses) % 25 == 0:
            bar.set_postfix(loss=f"{sum(losses[-25:]) / 25:.4f}")
    student.eval()
    return losses
