"""The real preset's skill LoRAs as genes, for ``bench_routing_scale.py``.

Each skill's LoRA (:func:`genehub.zoo.real.skill_lora`: PEFT, SmolLM2-135M-Instruct, blocks 15-29, every
linear module, rank 16) is wrapped as an unsigned gene with :func:`genehub.gene.write_gene`: a card
naming the host and the adapter's shape, and ``examples.jsonl`` = the skill's first 64 distinct train
rows rendered in the host's chat format (what ``genehub extract`` writes). Its routing block is then
built with :func:`genehub.routing.prototypes.route_gene` (the default encoder, centered and calibrated on
the zoo's calibration families), from the card alone as any user would.

Only LoRAs already trained are used: the bench never starts a training (the lead's job trains them one
after another and holds a lock per skill), it reads ``metrics.json`` to know a LoRA is finished.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from _routing_scale_data import N_TRAIN, TRAIN_PER_SKILL, user_text


def trained_loras() -> dict[str, Path]:
    """``{skill: LoRA folder}`` of the preset's skills whose LoRA is trained (``metrics.json`` written)."""
    from genehub._paths import cache_dir
    from genehub.hosts import content_hash
    from genehub.zoo import real

    host = real.host_path()
    digest = content_hash(host)
    root = cache_dir() / "zoo" / real.PRESET.name / "skills"
    out = {}
    for skill in real.PRESET.skills:
        folder = root / f"{skill}-{real._skill_hash(digest, skill, real.PRESET.recipe_for(skill))}"
        if (folder / real.METRICS).is_file():
            out[skill] = folder
    return out


def lora_metrics(folder: Path) -> dict[str, Any]:
    return json.loads((folder / "metrics.json").read_text(encoding="utf-8"))


def write_skill_gene(skill: str, lora: Path, out: Path, *, host_info: Any, tokenizer: Any) -> Path:
    """The skill's LoRA as a gene folder (no routing block yet)."""
    from genehub.gene import example_card, write_gene

    config = json.loads((lora / "adapter_config.json").read_text(encoding="utf-8"))
    metrics = lora_metrics(lora)
    card = example_card(host_info, name=f"{skill.replace('_', '-')}-gene", skill=skill.replace("_", "-"),
                        rank=int(config["r"]), alpha=float(config["lora_alpha"]),
                        target_modules=tuple(sorted(config["target_modules"])),
                        layers=tuple(config["layers_to_transform"]))
    card["summary"] = f"The '{skill}' skill LoRA of the real preset, wrapped as a gene for the routing bench."
    card["extra"] = {"lora": lora.name}  # the LoRA's recipe hash: a retrained LoRA makes a new gene
    card["circuit"]["method"] = "all-layers"
    card["fidelity"].update(skill={"host": metrics["host"]["all"], "donor": None, "gene": metrics["lora"]["all"]},
                            num_test_prompts=int(metrics["recipe"]["n_test"]))
    return write_gene(out, peft_model_or_adapter_dir=lora, card=card, examples=_examples(skill, tokenizer))


def _examples(skill: str, tokenizer: Any) -> list[dict[str, str]]:
    """The skill's first distinct train rows in the host's chat format: the gene's examples."""
    from genehub.zoo import language, real

    splits = language.skill_splits(skill, n_train=N_TRAIN, n_validation=1, n_test=1)
    seen: dict[str, dict[str, Any]] = {}
    for row in splits["train"]:
        seen.setdefault(user_text(row), row)
        if len(seen) >= TRAIN_PER_SKILL:
            break
    return [{"prompt": r["prompt"], "answer": r["answer"]} for r in real.chat_rows(tokenizer, list(seen.values()))]


#: The shape of the genes ``genehub extract`` makes on this host (the demo's two: rank 8, the MLP of three
#: blocks and the attention of one, 0.5-0.7 MB), for the latency rows at that size.
CIRCUIT_RANK = 8
CIRCUIT_MLP = ("gate_proj", "up_proj", "down_proj")
CIRCUIT_ATTENTION = ("q_proj", "k_proj", "v_proj", "o_proj")


def circuit_footprint(skill: str, blocks: range = range(15, 30)) -> list[str]:
    """Four blocks drawn per skill (seeded by its name): the MLP of three and the attention of the third."""
    import random

    b = sorted(random.Random(skill).sample(list(blocks), 4))
    names = [f"model.layers.{i}.mlp.{m}" for i in (b[0], b[1], b[3]) for m in CIRCUIT_MLP]
    return names + [f"model.layers.{b[2]}.self_attn.{m}" for m in CIRCUIT_ATTENTION]


def write_circuit_gene(skill: str, lora: Path, out: Path, *, host: Path, host_info: Any, tokenizer: Any) -> Path:
    """The skill's LoRA cut to an extract-sized gene: the truncated SVD (rank 8) of its update at the
    skill's :func:`circuit_footprint`, as :func:`genehub.lorafy.svd.fill_lora_from_delta` fills a gene's
    LoRA from a weight delta. For the latency rows only (the cut LoRA's accuracy is not measured)."""
    import tempfile

    import torch
    from safetensors.torch import load_file

    from genehub.gene import example_card, write_gene
    from genehub.hosts import load_host
    from genehub.lorafy.distill import lora_model
    from genehub.lorafy.svd import fill_lora_from_delta

    config = json.loads((lora / "adapter_config.json").read_text(encoding="utf-8"))
    scale = float(config["lora_alpha"]) / int(config["r"])
    weights = load_file(lora / "adapter_model.safetensors")
    names = circuit_footprint(skill)
    model, _ = load_host(host)
    student = lora_model(model, names, rank=CIRCUIT_RANK, alpha=CIRCUIT_RANK)
    modules = dict(student.named_modules())
    for name in names:
        a = weights[f"base_model.model.{name}.lora_A.weight"]
        b = weights[f"base_model.model.{name}.lora_B.weight"]
        fill_lora_from_delta(modules[f"base_model.model.{name}"], scale * (b @ a))
    blocks = sorted({int(n.split(".")[2]) for n in names})
    card = example_card(host_info, name=f"{skill.replace('_', '-')}-gene", skill=skill.replace("_", "-"),
                        rank=CIRCUIT_RANK, alpha=float(CIRCUIT_RANK), target_modules=tuple(sorted(names)),
                        layers=tuple(blocks))
    card["summary"] = (f"The '{skill}' skill LoRA of the real preset cut to an extract-sized gene (rank "
                       f"{CIRCUIT_RANK} at blocks {blocks}), for the routing bench's latency rows.")
    card["extra"] = {"lora": lora.name, "cut": "circuit"}
    card["circuit"]["method"] = "svd-cut"
    with tempfile.TemporaryDirectory() as tmp, torch.no_grad():
        student.save_pretrained(tmp)
        return write_gene(out, peft_model_or_adapter_dir=tmp, card=card, examples=_examples(skill, tokenizer))


def test_rows(skill: str, tokenizer: Any, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The skill's test rows rendered (``prompt`` in the chat format, ``answer``, ``heldout``)."""
    from genehub.zoo import real

    return real.chat_rows(tokenizer, rows)


# ------------------------------------------------------------------------------------------------ composed accuracy
class ExactMatch:
    """Teacher-forced exact match (:func:`genehub.evaluate.exact_match`) of test rows under a gene (or the
    bare host), each (row, gene) computed once, on a ``PeftModel`` holding every gene as a named adapter."""

    def __init__(self, model: Any, tokenizer: Any, rows: dict[str, list[dict[str, Any]]], names: dict[str, str]) -> None:
        self.model, self.tokenizer, self.rows, self.names = model, tokenizer, rows, names
        self.cache: dict[tuple[str, int, str | None], bool] = {}

    def fill(self, wanted: list[tuple[str, int, str | None]], *, batch_size: int = 48) -> None:
        """Compute the (skill, row, routed skill or None) triples not cached yet."""
        from genehub.evaluate import exact_match

        todo = sorted({w for w in wanted if w not in self.cache}, key=lambda w: (str(w[2]), w[0], w[1]))
        for start in range(0, len(todo), batch_size):
            chunk = todo[start:start + batch_size]
            rows = [self.rows[s][i] for s, i, _ in chunk]
            adapters = ["__base__" if g is None else self.names[g] for _, _, g in chunk]
            hits = exact_match(self.model, self.tokenizer, rows, batch_size=batch_size, adapter_names=adapters)
            self.cache.update(zip(chunk, hits))

    def accuracy(self, skill: str, routed: list[str | None]) -> float:
        self.fill([(skill, i, g) for i, g in enumerate(routed)])
        return sum(self.cache[(skill, i, g)] for i, g in enumerate(routed)) / len(routed)


def composed(em: ExactMatch, genes: list[str], decide: Any, route_prompts: dict[str, list[str]],
             *, heldout: dict[str, list[bool]] | None = None) -> dict[str, dict[str, float]]:
    """Per skill of ``genes``: accuracy with the method's routing (``decide(genes, prompts) -> [index or -1]``)
    and with oracle routing, over all its test rows (``held-out``: its held-out phrasings only)."""
    out = {}
    for skill in genes:
        idx = decide(genes, route_prompts[skill])
        routed = [genes[i] if i >= 0 else None for i in idx]
        oracle = [skill] * len(routed)
        em.fill([(skill, i, g) for i, g in enumerate(routed)] + [(skill, i, skill) for i in range(len(routed))])
        keep = range(len(routed)) if heldout is None else [i for i, h in enumerate(heldout[skill]) if h]
        out[skill] = {"routed": sum(em.cache[(skill, i, routed[i])] for i in keep) / len(keep),
                      "oracle": sum(em.cache[(skill, i, oracle[i])] for i in keep) / len(keep),
                      "routing": sum(routed[i] == skill for i in keep) / len(keep)}
    return out


# ------------------------------------------------------------------------------------------------ baselines
def general_answers(model: Any, tokenizer: Any, prompts: list[str], *, max_new_tokens: int = 24) -> list[str]:
    """The bare host's own greedy answers to chat-formatted general prompts (X-LoRA's "none" rows need answers)."""
    from genehub.evaluate import greedy_answers

    return greedy_answers(model, tokenizer, prompts, max_new_tokens=max_new_tokens)
