"""A gene from a merged or fine-tuned model: truncated SVD of each weight's delta to the base (the
``extract`` method of the registry).

Like ``mergekit-extract-lora``: for every linear layer of the decoder's attention and MLP blocks,
``W - W_base ~ B @ A`` with ``B = U_r sqrt(S_r)`` and ``A = sqrt(S_r) V_r^T``, saved as a PEFT LoRA with
``alpha = r`` (scale 1). Which layers those are is read from the model itself, not from a list of names.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import BreedingError, UsageError
from ._breed import Child, now, score, slug, write_child_gene
from .methods import BreedConfig, BreedingMethod
from .parents import Parent, load_parent


def extract_lora(model_dir: Any, base_dir: Any, *, rank: int = 8,
                 target_modules: Sequence[str] | None = None) -> tuple[Any, dict[str, Any]]:
    """Return ``(peft_model, stats)``: the base with one LoRA approximating ``model - base``.

    Args:
        target_modules: short names of the linear layers to adapt (default: every linear layer of the
            decoder's attention and MLP blocks).

    ``stats`` has per-layer relative delta norms (``{"layers": {i: {"attn": x, "mlp": y}}}``), the share of
    the delta's energy the rank keeps, the mean cosine between the two models' decoder weights, and the
    short names of the adapted modules (``"modules"``).
    """
    import torch
    from peft import LoraConfig, get_peft_model

    from ..hosts import load_host
    from ..lorafy import block_linears
    from ..lorafy.svd import fill_lora_from_delta

    tuned, _ = load_host(model_dir)
    base, _ = load_host(base_dir)
    tuned_params = dict(tuned.named_parameters())
    owners = block_linears(base)  # {qualified name: (layer, "attn" | "mlp")}
    if target_modules is not None:
        owners = {n: c for n, c in owners.items() if n.rsplit(".", 1)[-1] in target_modules}
    modules = list(dict.fromkeys(n.rsplit(".", 1)[-1] for n in owners))
    if not owners:
        raise BreedingError("No targeted linear layer found to extract from.",
                            hint=f"Pass target modules that exist in the model (its own: "
                                 f"{', '.join(dict.fromkeys(n.rsplit('.', 1)[-1] for n in block_linears(base)))}).")
    peft_model = get_peft_model(base, LoraConfig(r=rank, lora_alpha=rank, target_modules=modules, lora_dropout=0.0))
    layers: dict[int, dict[str, list[float]]] = {}
    kept, total, cosines = 0.0, 0.0, []
    with torch.no_grad():
        for name, module in peft_model.named_modules():
            if not hasattr(module, "lora_A") or "default" not in getattr(module, "lora_A", {}):
                continue
            qualified = name.removeprefix("base_model.model.")
            key = qualified + ".weight"
            if key not in tuned_params:
                raise BreedingError(f"{model_dir} has no tensor {key}; it is not a fine-tune of {base_dir}.",
                                    hint="Pass the model's own base with --base.")
            w_base = module.base_layer.weight
            delta = tuned_params[key] - w_base
            module_kept, module_total = fill_lora_from_delta(module, delta)
            kept += module_kept
            total += module_total
            cosines.append(float(torch.nn.functional.cosine_similarity(tuned_params[key].flatten(), w_base.flatten(), dim=0)))
            layer, kind = owners[qualified]
            rel = float(delta.norm() / w_base.norm().clamp_min(1e-12))
            layers.setdefault(layer, {}).setdefault(kind, []).append(rel)
    stats = {
        "layers": {i: {k: sum(v) / len(v) for k, v in kinds.items()} for i, kinds in sorted(layers.items())},
        "energy_kept": kept / total if total else 1.0,
        "weight_cosine": sum(cosines) / len(cosines),
        "modules": modules,
    }
    peft_model.eval()
    return peft_model, stats


@dataclass(frozen=True)
class LoraExtraction(BreedingMethod):
    """One model's delta to its base as a gene on the base (``config.examples`` measure it)."""

    def gate_parents(self, parents: list[Parent], config: BreedConfig) -> list[Parent]:
        return [*parents, load_parent(config.base)] if config.base else parents

    def make(self, parents: list[Parent], config: BreedConfig, recipe: dict[str, Any], report: Any) -> Child:
        from .._version import __version__
        from ..hosts import describe_host, load_host

        model = parents[0]
        if config.base is None:
            raise UsageError(f"{self.name} needs the base the model was fine-tuned or merged from.",
                             hint="Pass --base BASE_DIR.")
        skill = config.skill or model.skill
        examples = config.examples
        if callable(examples):
            examples = examples(skill) if skill else None
        if not examples:
            raise UsageError(f"{self.name} needs examples of the skill to measure the gene.",
                             hint="Pass --examples FILE.jsonl, or --skill NAME for a zoo skill.")
        rows = [{"prompt": r["prompt"], "answer": r["answer"]} for r in examples]
        rank = int(recipe["rank"])
        peft_model, stats = extract_lora(model.path, config.base, rank=rank)
        tuned, tokenizer = load_host(model.path)
        gene_scores = score(peft_model, tokenizer, {"skill": rows})["skill"]
        donor_score = score(tuned, tokenizer, {"skill": rows})["skill"]
        with peft_model.disable_adapter():
            host_score = score(peft_model, tokenizer, {"skill": rows})["skill"]
        info = describe_host(config.base)
        base_parent = load_parent(config.base)
        layers = sorted(stats["layers"])
        cos = max(-1.0, min(1.0, stats["weight_cosine"]))
        recorded = {"method": self.name, "rank": rank, "seed": config.seed}
        card = {
            "schema_version": "1.0", "name": config.name or slug(f"{skill or model.path.name}-extracted"),
            "version": "0.1.0",
            "summary": f"The delta of {model.repo_id} to {info.repo_id} as a rank-{rank} LoRA gene.",
            "description": (f"Extracted by genehub (`extract:lora`, truncated SVD of W - W_base, rank {rank}) from "
                            f"{model.repo_id}; keeps {stats['energy_kept']:.1%} of the delta's energy."),
            "skill": slug(skill or "merged"), "host": info.to_dict(),
            "parents": [{"role": "host", "repo_id": info.repo_id, "revision": info.revision,
                         "license": base_parent.license},
                        {"role": "donor", "repo_id": model.repo_id, "revision": model.revision,
                         "license": model.license}],
            "circuit": {"method": "weight-delta-svd (every targeted layer)", "layers": layers,
                        "modules": stats["modules"],
                        "components": [{"layer": i, "kind": k, "score": round(v, 6)}
                                       for i in layers for k, v in sorted(stats["layers"][i].items())],
                        "target_share": None, "restored_share": None},
            "homology": {"method": "weight-cosine(model, base); no activation contrast run", "per_layer": [],
                         "aggregate": round(cos, 6), "num_contrast_pairs": 0},
            "fidelity": {"metric": "exact_match",
                         "skill": {"host": host_score, "donor": donor_score, "gene": gene_scores},
                         "other_skills": {}, "num_test_prompts": len(rows)},
            "adapter": {"type": "lora", "layers": layers, "size_bytes": 0},  # the rest filled by write_gene
            "license": {"spdx": report.license, "rule": report.license_rule},
            "data_use": {"restrictions": list(report.restrictions)},
            "lineage": {"recipe": "genehub.breeding.breed:extract:lora",
                        "hyperparameters": {"method": self.name, "rank": rank,
                                            "energy_kept": round(stats["energy_kept"], 6),
                                            "parents": [{"repo_id": model.repo_id, "revision": model.revision},
                                                        {"repo_id": info.repo_id, "revision": info.revision,
                                                         "role": "base"}],
                                            "fitness": dict(config.evidence or {})},
                        "seed": config.seed, "genehub_version": __version__, "created": now()},
            "files": {},
        }
        out = Path(config.out)
        write_child_gene(out, peft_model, card, rows, config.sign_key)
        return Child(out, "gene", self.name, recorded, {card["skill"]: gene_scores}, {card["skill"]: host_score},
                     report)
