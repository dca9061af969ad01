"""``breed``: one call from parents and a registry method to a child gene (or model) with its lineage.

Every breeding passes the gate first. The child is measured (exact match on its parents' examples,
against the host alone), and its card records every parent with its revision, the method and its
coefficients, density, seed and the fitness evidence, so the merge can be made again.

Example:
    >>> from genehub.breeding import breed
    >>> child = breed(["genes/sort", "genes/add"], "dare_ties", host="zoo/host", out="genes/sort-add",
    ...               weights=[0.8, 0.6], density=0.5, seed=0)                       # doctest: +SKIP
    >>> child.scores                                                                  # doctest: +SKIP
    {'sort': 0.71, 'add': 0.64}
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..errors import UsageError
from . import gate as _gate
from .methods import BreedingMethod, get_method
from .parents import Parent, load_parent


@dataclass
class Child:
    """What :func:`breed` made.

    Attributes:
        path: the child gene or model directory.
        kind: ``"gene"`` or ``"model"``.
        method: the registry name used.
        recipe: the coefficients used (weights, density, t, rank, seed...).
        scores: ``{skill: exact match}`` of the child on its parents' examples (genes), when measured.
        host_scores: the same for the host alone.
        report: the gate's report.
    """

    path: Path
    kind: str
    method: str
    recipe: dict[str, Any]
    scores: dict[str, float] = field(default_factory=dict)
    host_scores: dict[str, float] = field(default_factory=dict)
    report: Any = None


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9._-]+", "-", text.lower()).strip("-._")[:64] or "child"


def _score(model: Any, tokenizer: Any, by_skill: Mapping[str, list[dict[str, Any]]]) -> dict[str, float]:
    from ..zoo.evaluate import accuracy

    return {s: round(accuracy(model, tokenizer, rows), 4) for s, rows in by_skill.items() if rows}


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def breed(parents: Sequence[Any], method: str | BreedingMethod, *, out: str | Path, host: str | Path | None = None,
          base: str | Path | None = None, weights: Sequence[float] | None = None, density: float | None = None,
          svd_rank: int | None = None, t: float | None = None, rank: int | None = None, scale: float | None = None,
          seed: int = 0, name: str | None = None, skill: str | None = None,
          examples: Sequence[Mapping[str, Any]] | None = None, evidence: Mapping[str, Any] | None = None,
          trust: Any = None, verify: bool = True, sign_key: str | None = None) -> Child:
    """Breed ``parents`` with a registry method into ``out``.

    Args:
        parents: gene directories (adapter methods, ``fold``) or model directories (``model:*``,
            ``extract:lora``), or ``(path, Verification)`` pairs.
        method: a registry name (a short name resolves by the parents' kind) or a :class:`BreedingMethod`.
        out: the child's directory.
        host: the host model directory the genes plug into (adapter methods, ``fold``).
        base: the parents' common base model (``model:task_arithmetic|ties|dare_ties``, ``extract:lora``).
        weights, density, svd_rank, t, rank, scale: the method's parameters (defaults from the registry).
        seed: random seed (DARE's drops).
        name, skill: the child gene's name and skill (default: from the parents).
        examples: prompts expressing the skill (``extract:lora``; genes merge their parents' examples).
        evidence: fitness evidence to record in the lineage (e.g. from :func:`genehub.breeding.evolve`).
        trust, verify: passed to the gate (signature checks of parent genes).
        sign_key: sign the child gene with this key.

    Returns:
        A :class:`Child`.

    Raises:
        IncompatibleError: the gate refused (every reason listed).
        UsageError: missing ``host``/``base``/``examples``, wrong number of parents.
        BreedingError: the backend failed.
    """
    described = [load_parent(p) for p in parents]
    kind = "adapter" if described and described[0].kind == "gene" else None
    spec = method if isinstance(method, BreedingMethod) else get_method(method, kind=kind or (
        "extract" if str(method).startswith("extract") else "model"))
    spec.check_parents(len(described))
    gate_parents = list(described) + ([load_parent(base)] if spec.kind == "extract" and base else [])
    report = _gate.require(gate_parents, spec, trust=trust, verify=verify)
    out = Path(out)
    if spec.kind == "model":
        return _breed_models(spec, described, report, out=out, base=base, weights=weights, density=density, t=t,
                             seed=seed, evidence=evidence)
    if spec.kind == "extract":
        return _extract(spec, described[0], report, out=out, base=base, rank=rank, seed=seed, name=name, skill=skill,
                        examples=examples, evidence=evidence, sign_key=sign_key)
    if host is None:
        raise UsageError(f"{spec.name} needs the host model the genes plug into.", hint="Pass --host HOST_DIR.")
    from ..hosts import describe_host, require_compatible

    info = describe_host(host)
    for p in described:
        require_compatible(p.host, info, what=f"parent gene {p.label}")
    if spec.name == "fold":
        return _fold(spec, described[0], report, out=out, host=host, scale=scale, seed=seed)
    return _merge_genes(spec, described, report, out=out, host=host, weights=weights, density=density,
                        svd_rank=svd_rank, seed=seed, name=name, skill=skill, evidence=evidence, sign_key=sign_key)


def _merge_genes(spec: BreedingMethod, parents: list[Parent], report: Any, *, out: Path, host: Any,
                 weights: Sequence[float] | None, density: float | None, svd_rank: int | None, seed: int,
                 name: str | None, skill: str | None, evidence: Mapping[str, Any] | None,
                 sign_key: str | None) -> Child:
    from ._adapters import AdapterPool

    weights = list(weights) if weights is not None else spec.defaults(len(parents))["weights"]
    pool = AdapterPool(host, [p.path for p in parents])
    by_skill: dict[str, list[dict[str, Any]]] = {}
    for p in parents:
        by_skill.setdefault(p.skill or p.path.name, []).extend(p.gene.examples())
    with pool.model.disable_adapter():
        host_scores = _score(pool.model, pool.tokenizer, by_skill)
    pool.mix(spec, weights=weights, density=density, svd_rank=svd_rank, seed=seed)
    scores = _score(pool.model, pool.tokenizer, by_skill)
    recipe = {"method": spec.name, "backend": spec.backend, "weights": weights, "seed": seed}
    if spec.param("density") is not None:
        recipe["density"] = density if density is not None else spec.param("density").default
    if spec.param("svd_rank") is not None:
        recipe["svd_rank"] = svd_rank
    skills = list(by_skill)
    card = _child_card(parents, report, recipe, name=name or _slug(f"{spec.name}-{'-'.join(skills)}"),
                       skill=skill or _slug("-".join(skills)), scores=scores, host_scores=host_scores,
                       n_examples=sum(map(len, by_skill.values())), evidence=evidence)
    from ..gene import write_gene

    write_gene(out, peft_model_or_adapter_dir=pool.keep_only(), card=card,
               examples=[row for rows in by_skill.values() for row in rows])
    if sign_key:
        from ..gene import sign_gene

        sign_gene(out, key=sign_key)
    return Child(out, "gene", spec.name, recipe, scores, host_scores, report)


def _child_card(parents: list[Parent], report: Any, recipe: dict[str, Any], *, name: str, skill: str,
                scores: dict[str, float], host_scores: dict[str, float], n_examples: int,
                evidence: Mapping[str, Any] | None) -> dict[str, Any]:
    from .._version import __version__

    genes = [p.gene for p in parents]
    assert all(g is not None for g in genes)
    first = genes[0]
    host_parent = next(p for p in first.card["parents"] if p["role"] == "host")
    layers = sorted({layer for g in genes for layer in g.card["circuit"]["layers"]})
    modules = sorted({m for g in genes for m in g.card["circuit"]["modules"]})
    best: dict[tuple[int, str], float] = {}
    for g in genes:
        for c in g.card["circuit"]["components"]:
            best[(c["layer"], c["kind"])] = max(best.get((c["layer"], c["kind"]), float("-inf")), c["score"])
    per_layer: dict[int, dict[str, float]] = {}
    for g in genes:
        for row in g.homology.per_layer:
            cur = per_layer.setdefault(row["layer"], {"pca_cosine": 1.0, "mean_diff_cosine": 1.0})
            cur["pca_cosine"] = min(cur["pca_cosine"], row["pca_cosine"])
            cur["mean_diff_cosine"] = min(cur["mean_diff_cosine"], row["mean_diff_cosine"])
    lineage_parents = [{"repo_id": p.repo_id, "revision": p.revision, "skill": p.skill, "signer": p.signer,
                        "weight": w} for p, w in zip(parents, recipe.get("weights", [None] * len(parents)))]
    mean = lambda d: round(sum(d.values()) / len(d), 4) if d else 0.0  # noqa: E731
    return {
        "schema_version": "1.0", "name": name, "version": "0.1.0",
        "summary": f"{recipe['method']} merge of {len(parents)} genes ({', '.join(map(str, scores))}).",
        "description": (f"Bred by genehub with `{recipe['method']}` from " + ", ".join(p.repo_id for p in parents)
                        + ". Scores are exact match on the parents' examples; see lineage for the recipe."),
        "skill": skill, "host": first.host.to_dict(),
        "parents": [dict(host_parent)] + [{"role": "parent_gene", "repo_id": p.repo_id, "revision": p.revision,
                                           "license": p.license} for p in parents],
        "circuit": {"method": f"union of parents ({recipe['method']})", "layers": layers, "modules": modules,
                    "components": [{"layer": k[0], "kind": k[1], "score": v} for k, v in sorted(best.items())],
                    "target_share": None, "restored_share": None},
        "homology": {"method": "min over parents", "aggregate": min(g.homology.aggregate for g in genes),
                     "per_layer": [{"layer": k, **v} for k, v in sorted(per_layer.items())],
                     "num_contrast_pairs": sum(g.homology.num_contrast_pairs for g in genes)},
        "fidelity": {"metric": "exact_match", "skill": {"host": mean(host_scores), "donor": None, "gene": mean(scores)},
                     "other_skills": {_slug(s): {"host": host_scores[s], "gene": scores[s]} for s in scores},
                     "num_test_prompts": n_examples},
        "adapter": {"type": "lora", "size_bytes": 0},  # rank, alpha, targets, layers: filled by write_gene
        "license": {"spdx": report.license, "rule": report.license_rule},
        "data_use": {"restrictions": list(report.restrictions)},
        "lineage": {"recipe": f"genehub.breeding.breed:{recipe['method']}",
                    "hyperparameters": {**recipe, "parents": lineage_parents, "fitness": dict(evidence or {})},
                    "seed": int(recipe.get("seed", 0)), "genehub_version": __version__, "created": _now()},
        "files": {},
    }


def _breed_models(spec: BreedingMethod, parents: list[Parent], report: Any, *, out: Path, base: Any,
                  weights: Sequence[float] | None, density: float | None, t: float | None, seed: int,
                  evidence: Mapping[str, Any] | None) -> Child:
    from . import _models

    config = _models.merge_config(spec, [p.path for p in parents], base=base, weights=weights, density=density, t=t)
    if out.exists():
        shutil.rmtree(out)
    _models.run(config, out, seed=seed)
    base_parent = load_parent(base) if base else None
    recipe = {"method": spec.name, "backend": spec.backend, "mergekit": config, "seed": seed}
    meta = {
        "repo_id": f"local/{_slug(out.name)}", "role": "bred", "license": report.license,
        "license_rule": report.license_rule, "data_use": {"restrictions": report.restrictions},
        "parent": base_parent.repo_id if base_parent else parents[0].repo_id,
        "lineage": {"recipe": f"genehub.breeding.breed:{spec.name}", "created": _now(),
                    "parents": [{"repo_id": p.repo_id, "revision": p.revision} for p in parents],
                    "base": {"repo_id": base_parent.repo_id, "revision": base_parent.revision} if base_parent else None,
                    "hyperparameters": recipe, "fitness": dict(evidence or {})},
    }
    (out / "genehub.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    return Child(out, "model", spec.name, recipe, report=report)


def _fold(spec: BreedingMethod, gene: Parent, report: Any, *, out: Path, host: Any, scale: float | None,
          seed: int) -> Child:
    from ..hosts import describe_host
    from ._adapters import fold

    scale = 1.0 if scale is None else float(scale)
    fold(host, gene.path, out, scale=scale)
    info = describe_host(host)
    recipe = {"method": spec.name, "scale": scale, "seed": seed}
    meta = {"repo_id": f"local/{_slug(out.name)}", "role": "bred", "license": report.license,
            "license_rule": report.license_rule, "data_use": {"restrictions": report.restrictions},
            "parent": info.repo_id, "skill": gene.skill,
            "lineage": {"recipe": "genehub.breeding.breed:fold", "created": _now(),
                        "parents": [{"repo_id": info.repo_id, "revision": info.revision},
                                    {"repo_id": gene.repo_id, "revision": gene.revision}],
                        "hyperparameters": recipe}}
    (out / "genehub.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    return Child(out, "model", spec.name, recipe, report=report)


def _extract(spec: BreedingMethod, model: Parent, report: Any, *, out: Path, base: Any, rank: int | None, seed: int,
             name: str | None, skill: str | None, examples: Sequence[Mapping[str, Any]] | None,
             evidence: Mapping[str, Any] | None, sign_key: str | None) -> Child:
    from .._version import __version__
    from ..gene import write_gene
    from ..hosts import describe_host, load_host
    from ._extract import extract_lora

    if base is None:
        raise UsageError("extract:lora needs the base the model was fine-tuned or merged from.", hint="Pass --base BASE_DIR.")
    skill = skill or model.skill
    if examples is None:
        if not skill:
            raise UsageError("extract:lora needs examples of the skill to measure the gene.",
                             hint="Pass --examples FILE.jsonl, or --skill NAME for a zoo skill.")
        from ..zoo.skills import skill_dataset

        examples = list(skill_dataset(skill, n_train=1, n_validation=1, n_test=64)["test"])
    rows = [{"prompt": r["prompt"], "answer": r["answer"]} for r in examples]
    rank = int(rank or spec.param("rank").default)
    peft_model, stats = extract_lora(model.path, base, rank=rank)
    tuned, tokenizer = load_host(model.path)
    gene_scores = _score(peft_model, tokenizer, {"skill": rows})["skill"]
    donor_score = _score(tuned, tokenizer, {"skill": rows})["skill"]
    with peft_model.disable_adapter():
        host_score = _score(peft_model, tokenizer, {"skill": rows})["skill"]
    info = describe_host(base)
    base_parent = load_parent(base)
    layers = sorted(stats["layers"])
    cos = max(-1.0, min(1.0, stats["weight_cosine"]))
    card = {
        "schema_version": "1.0", "name": name or _slug(f"{skill or model.path.name}-extracted"), "version": "0.1.0",
        "summary": f"The delta of {model.repo_id} to {info.repo_id} as a rank-{rank} LoRA gene.",
        "description": (f"Extracted by genehub (`extract:lora`, truncated SVD of W - W_base, rank {rank}) from "
                        f"{model.repo_id}; keeps {stats['energy_kept']:.1%} of the delta's energy."),
        "skill": _slug(skill or "merged"), "host": info.to_dict(),
        "parents": [{"role": "host", "repo_id": info.repo_id, "revision": info.revision, "license": base_parent.license},
                    {"role": "donor", "repo_id": model.repo_id, "revision": model.revision, "license": model.license}],
        "circuit": {"method": "weight-delta-svd (every targeted layer)", "layers": layers,
                    "modules": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
                    "components": [{"layer": i, "kind": k, "score": round(v, 6)}
                                   for i in layers for k, v in sorted(stats["layers"][i].items())],
                    "target_share": None, "restored_share": None},
        "homology": {"method": "weight-cosine(model, base); no activation contrast run", "per_layer": [],
                     "aggregate": round(cos, 6), "num_contrast_pairs": 0},
        "fidelity": {"metric": "exact_match", "skill": {"host": host_score, "donor": donor_score, "gene": gene_scores},
                     "other_skills": {}, "num_test_prompts": len(rows)},
        "adapter": {"type": "lora", "layers": layers, "size_bytes": 0},  # the rest filled by write_gene
        "license": {"spdx": report.license, "rule": report.license_rule},
        "data_use": {"restrictions": list(report.restrictions)},
        "lineage": {"recipe": "genehub.breeding.breed:extract:lora",
                    "hyperparameters": {"method": spec.name, "rank": rank, "energy_kept": round(stats["energy_kept"], 6),
                                        "parents": [{"repo_id": model.repo_id, "revision": model.revision},
                                                    {"repo_id": info.repo_id, "revision": info.revision, "role": "base"}],
                                        "fitness": dict(evidence or {})},
                    "seed": seed, "genehub_version": __version__, "created": _now()},
        "files": {},
    }
    write_gene(out, peft_model_or_adapter_dir=peft_model, card=card, examples=rows)
    if sign_key:
        from ..gene import sign_gene

        sign_gene(out, key=sign_key)
    return Child(out, "gene", spec.name, {"method": spec.name, "rank": rank, "seed": seed},
                 {card["skill"]: gene_scores}, {card["skill"]: host_score}, report)
