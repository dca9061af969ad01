"""Real genes on the zoo's host for tests and benchmarks, until LoRA-fication (genehub/lorafy) lands.

A gene here is a PEFT LoRA on the host, all decoder layers and all linear modules, made from its donor:
initialised with the rank-``r`` SVD of ``donor weight - host weight`` per module, then fine-tuned for a
few seconds on the skill's *seen* templates (the host and donor differ in norms too, which the SVD
cannot carry). Written with :func:`genehub.gene.write_gene` (a complete card, ``examples.jsonl`` from
the skill's train split), and cached under ``cache_dir()/test-genes/`` keyed by the zoo build and the
recipe, so a session pays ~5 s per gene once per machine.

    def test_x(zoo_genes): ...           # a session fixture {skill: gene dir} (a plugin of tests/conftest.py)
    genes = cached_genes(z, ["sort"])     # anywhere else
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

TARGET_MODULES = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
# format 2: host fingerprints leave the pad token out (genehub.hosts.tokenizer_fingerprint).
RECIPE = {"rank": 16, "steps": 100, "lr": 2e-3, "batch_size": 32, "n_examples": 256, "seed": 5, "format": 2}


def make_gene(host: str | Path, donor: str | Path, skill: str, out: str | Path, *, name: str | None = None,
              rank: int = RECIPE["rank"], steps: int = RECIPE["steps"], lr: float = RECIPE["lr"],
              seed: int = RECIPE["seed"], n_examples: int = RECIPE["n_examples"]) -> Path:
    """Write a gene for ``skill`` on ``host`` distilled from ``donor`` (SVD init + short fine-tune)."""
    from peft import LoraConfig, get_peft_model

    from genehub.gene import example_card, write_gene
    from genehub.hosts import content_hash, describe_host, load_host, model_meta
    from genehub.lorafy.svd import fill_lora_from_delta
    from genehub.evaluate import accuracy
    from genehub.zoo import skill_dataset
    from genehub.zoo.train import TrainConfig, train

    donor_state = load_host(donor)[0].state_dict()
    model, tokenizer = load_host(host)
    host_state = {k: v.clone() for k, v in model.state_dict().items()}
    peft_model = get_peft_model(model, LoraConfig(r=rank, lora_alpha=rank, target_modules=list(TARGET_MODULES),
                                                  lora_dropout=0.0))
    for module_name, module in peft_model.named_modules():
        if hasattr(module, "lora_A") and "default" in module.lora_A:
            key = module_name.split("base_model.model.", 1)[-1] + ".weight"
            fill_lora_from_delta(module, donor_state[key] - host_state[key])
    # heldout_share=0: nothing genehub trains ever sees a held-out template.
    train(peft_model, tokenizer, TrainConfig(mixture={skill: 1.0}, steps=steps, lr=lr, warmup=10, seed=seed,
                                             batch_size=RECIPE["batch_size"], heldout_share=0.0))
    peft_model.eval()
    ds = skill_dataset(skill, n_train=n_examples, n_validation=64, n_test=64)
    test = list(ds["test"])
    gene_acc = accuracy(peft_model, tokenizer, test)
    with peft_model.disable_adapter():
        host_acc = accuracy(peft_model, tokenizer, test)

    info = describe_host(host)
    name = name or f"{skill}-gene"
    card = example_card(info, name=name, skill=skill, rank=rank, alpha=float(rank), target_modules=TARGET_MODULES)
    card["parents"][1].update(repo_id=model_meta(donor).get("repo_id", f"local/{Path(donor).name}"),
                              revision=content_hash(donor))
    card["summary"] = f"Test gene: the '{skill}' skill of {card['parents'][1]['repo_id']} on {info.repo_id}."
    card["circuit"]["method"] = "all-layers"
    card["fidelity"].update(skill={"host": host_acc, "donor": None, "gene": gene_acc}, num_test_prompts=len(test))
    card["lineage"].update(recipe="test-svd-finetune", seed=seed,
                           hyperparameters={"rank": rank, "steps": steps, "lr": lr})
    examples = [{"prompt": r["prompt"], "answer": r["answer"]} for r in ds["train"]]
    return write_gene(out, peft_model_or_adapter_dir=peft_model, card=card, examples=examples)


def _key(host: Path, donor: Path, skill: str) -> str:
    from genehub.hosts import content_hash

    blob = json.dumps({"host": content_hash(host), "donor": content_hash(donor), "skill": skill, "recipe": RECIPE})
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def cached_gene(host: str | Path, donor: str | Path, skill: str) -> Path:
    """The gene for (host, donor, skill), made once per machine and reused."""
    from filelock import FileLock

    from genehub._paths import cache_dir

    host, donor = Path(host), Path(donor)
    root = cache_dir() / "test-genes"
    root.mkdir(parents=True, exist_ok=True)
    out = root / f"{skill}-{_key(host, donor, skill)}"
    with FileLock(str(out) + ".lock"):
        if not (out / "gene.json").is_file():
            tmp = root / f".{out.name}.tmp-{os.getpid()}"
            shutil.rmtree(tmp, ignore_errors=True)
            make_gene(host, donor, skill, tmp)
            os.replace(tmp, out)
    return out


def cached_genes(z: Any, skills: Sequence[str] | None = None) -> dict[str, Path]:
    """``{skill: gene dir}`` for the zoo's donors (default: all of them)."""
    return {s: cached_gene(z.host, z.donors[s], s) for s in (skills or list(z.donors))}


@pytest.fixture(scope="session")
def zoo_genes(tiny_zoo) -> dict[str, Path]:
    """Genes for every donor skill of the tiny zoo (``{"sort": dir, "upper": dir}``), cached per machine.

    Read-only: copy a gene before editing it.
    """
    return cached_genes(tiny_zoo)


def late_gene(src: str | Path, dst: str | Path, first_block: int) -> Path:
    """A copy of gene ``src`` without its LoRA weights in the decoder blocks before ``first_block``: a gene
    that acts from there on (a composition can route inside its pass below that block)."""
    from safetensors.torch import load_file, save_file

    dst = Path(shutil.copytree(src, dst))
    weights = load_file(str(dst / "adapter_model.safetensors"))
    early = tuple(f"layers.{i}." for i in range(first_block))
    save_file({k: v for k, v in weights.items() if not any(e in k for e in early)}, str(dst / "adapter_model.safetensors"))
    config = json.loads((dst / "adapter_config.json").read_text())
    blocks = json.loads((dst / "gene.json").read_text())["host"]["num_layers"]
    config.update(layers_to_transform=list(range(first_block, blocks)), layers_pattern="layers")
    (dst / "adapter_config.json").write_text(json.dumps(config))
    return dst
