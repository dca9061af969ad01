"""Builders shared by the breeding, gate and planner tests (no tests here): tiny genes and tiny models.

Genes come from ``_tiny`` (a random 2-layer Llama LoRA written with ``write_gene``), with the card's
licence, restrictions, host or rank changed as a test needs. Models are tiny Llamas saved with the zoo's
character tokenizer and a ``genehub.json`` that records their lineage, like the zoo's.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import _tiny


def make_gene(out: Path, host_dir: Path, *, name: str = "sort-gene", skill: str = "sort", license: str = "Apache-2.0",
              restrictions: tuple[str, ...] = (), rank: int = 4, seed: int = 0, host: dict[str, Any] | None = None,
              homology: float | None = None) -> Path:
    """Write an unsigned gene for the tiny host whose card says what the test needs."""
    from genehub.gene import example_card, write_gene

    card = example_card(host or _tiny.tiny_host_info(host_dir), name=name, skill=skill, rank=rank,
                        alpha=2.0 * rank, license_spdx=license)
    card["data_use"] = {"restrictions": list(restrictions)}
    if homology is not None:
        card["homology"]["aggregate"] = homology
    model = _tiny.tiny_lora(host_dir, rank=rank, seed=seed)
    return write_gene(out, peft_model_or_adapter_dir=model, card=card, examples=_tiny.EXAMPLES)


def make_model(out: Path, *, seed: int = 0, repo_id: str = "zoo/host", parent: str | None = None,
               license: str = "apache-2.0", hidden: int = 32, from_model: Path | None = None,
               noise: float = 0.0, restrictions: tuple[str, ...] = ()) -> Path:
    """Save a tiny Llama (or a perturbed copy of ``from_model``) with the zoo tokenizer and lineage metadata."""
    import torch
    from transformers import AutoModelForCausalLM, LlamaConfig, LlamaForCausalLM

    from genehub.zoo.tokenizer import build_tokenizer

    tokenizer = build_tokenizer()
    torch.manual_seed(seed)
    if from_model is not None:
        model = AutoModelForCausalLM.from_pretrained(from_model)
        with torch.no_grad():
            for p in model.parameters():
                p.add_(noise * torch.randn_like(p))
    else:
        config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=hidden, num_hidden_layers=2, num_attention_heads=4,
                             num_key_value_heads=4, intermediate_size=2 * hidden, max_position_embeddings=64,
                             pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
                             bos_token_id=tokenizer.bos_token_id, tie_word_embeddings=True)
        model = LlamaForCausalLM(config)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    meta: dict[str, Any] = {"repo_id": repo_id, "license": license}
    if parent:
        meta["parent"] = parent
    if restrictions:
        meta["data_use"] = {"restrictions": list(restrictions)}
    (Path(out) / "genehub.json").write_text(json.dumps(meta))
    return Path(out)


def family(tmp: Path) -> dict[str, Path]:
    """A host, two homologous donors (perturbed copies), and an unrelated model of the same shape."""
    host = make_model(tmp / "host", seed=0, repo_id="zoo/host")
    return {
        "host": host,
        "donor_a": make_model(tmp / "donor-a", seed=1, repo_id="zoo/donor-a", parent="zoo/host", from_model=host, noise=0.01),
        "donor_b": make_model(tmp / "donor-b", seed=2, repo_id="zoo/donor-b", parent="zoo/host", from_model=host, noise=0.01),
        "stranger": make_model(tmp / "stranger", seed=7, repo_id="other/model"),
    }
