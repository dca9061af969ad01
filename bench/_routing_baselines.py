"""The routing benchmark's comparisons that are not genehub: peft's X-LoRA and Arrow, and static merges.

Each builds a model on the same host and the same genes as the composition, so ``bench_routing.py`` can
measure them side by side with the same evaluator and the same timing loop.
"""

from __future__ import annotations

import random
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

MERGES = {"linear": {}, "ties": {"density": 0.5}, "dare_ties": {"density": 0.5}, "svd": {}}


def xlora_training_rows(genes: Mapping[str, Path], none_rows: Sequence[Mapping[str, Any]]) -> list[dict[str, str]]:
    """The router's training data, with answers: every gene's ``examples.jsonl`` plus the "none" rows.

    X-LoRA learns from next-token loss, so it needs answers where the router needs only labels; the
    prompts are the same ones the router is trained on.
    """
    from genehub.gene import Gene

    rows = [{"prompt": str(r["prompt"]), "answer": str(r["answer"])} for p in genes.values()
            for r in Gene.load(p).examples()]
    return rows + [{"prompt": str(r["prompt"]), "answer": str(r["answer"])} for r in none_rows]


def train_xlora(host: Path, genes: Mapping[str, Path], rows: Sequence[Mapping[str, str]], *, steps: int = 300,
                batch_size: int = 32, lr: float = 3e-3, seed: int = 0) -> tuple[Any, Any, dict[str, Any]]:
    """peft's X-LoRA over ``genes`` (adapter keys "0", "1", ...; ``use_cache=False``, which it requires),
    its classifier trained with next-token loss on ``rows`` (the LoRA experts stay frozen).

    Returns:
        ``(model, tokenizer, info)`` with the training seconds and the final loss.
    """
    import torch
    from peft import XLoraConfig, get_peft_model

    from genehub.hosts import load_host
    from genehub.evaluate import encode_pairs

    start = time.perf_counter()
    torch.manual_seed(seed)
    base, tok = load_host(host)
    base.config.use_cache = False
    config = XLoraConfig(task_type="CAUSAL_LM", hidden_size=base.config.hidden_size,
                         adapters={str(i): str(p) for i, p in enumerate(genes.values())})
    model = get_peft_model(base, config)
    params = [p for p in model.parameters() if p.requires_grad]
    optim = torch.optim.AdamW(params, lr=lr)
    rng = random.Random(seed)
    rows = list(rows)
    losses = []
    model.train()
    for _ in range(steps):
        batch = rng.sample(rows, min(batch_size, len(rows)))
        loss = model(**encode_pairs(tok, [r["prompt"] for r in batch], [r["answer"] for r in batch])).loss
        loss.backward()
        optim.step()
        optim.zero_grad(set_to_none=True)
        losses.append(loss.item())
    model.eval()
    info = {"steps": steps, "batch_size": batch_size, "lr": lr, "num_rows": len(rows),
            "trainable_params": sum(p.numel() for p in params),
            "final_loss": round(sum(losses[-20:]) / len(losses[-20:]), 4),
            "train_seconds": round(time.perf_counter() - start, 2)}
    return model, tok, info


def build_arrow(host: Path, genes: Mapping[str, Path]) -> tuple[Any, Any] | str:
    """peft's training-free Arrow over the genes (all-layer adapters: Arrow fails on layer-restricted
    ones), or the error text when it cannot be built (reported, not hidden)."""
    try:
        from peft import ArrowConfig, create_arrow_model

        from genehub.hosts import load_host

        base, tok = load_host(host)
        model = create_arrow_model(base, task_specific_adapter_paths=[str(p) for p in genes.values()],
                                   arrow_config=ArrowConfig(top_k=min(2, len(genes))))
        model.eval()
        return model, tok
    except Exception as err:  # a comparison's failure is a result to report, not genehub's bug
        return f"{type(err).__name__}: {err}"


def add_merge(model: Any, gene_names: Sequence[str], method: str) -> str:
    """Add the static merge ``merge_<method>`` of the genes to the composition's model, each weighted
    ``1/n`` (on the tiny zoo, weights of 1.0 were worse for every method: the sum pushes the host further)."""
    name = f"merge_{method}"
    weight = 1.0 / len(gene_names)
    model.add_weighted_adapter(list(gene_names), [weight] * len(gene_names), adapter_name=name,
                               combination_type=method, **MERGES[method])
    return name
