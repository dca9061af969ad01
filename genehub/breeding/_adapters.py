"""Gene merges with peft's ``add_weighted_adapter``, and folding a gene into its host: the ``adapter``
methods of the registry.

One :class:`AdapterPool` loads the host once with every parent gene as a named adapter; each recipe then
adds one merged adapter, is scored, and is deleted, so an evolutionary search costs one merge and one
evaluation per trial and no disk I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import BreedingError
from ._breed import Child, now, require_host, score, slug, write_child_gene, write_model_meta
from .methods import BreedConfig, BreedingMethod, Trial
from .parents import Parent

CHILD = "default"  # the merged adapter's name: PEFT saves the "default" adapter at the directory's root


class AdapterPool:
    """A host with parent genes ``p0, p1, ...`` loaded as adapters.

    Args:
        host: the host model directory.
        genes: parent gene directories (PEFT adapter directories).
    """

    def __init__(self, host: str | Path, genes: Sequence[str | Path]) -> None:
        from peft import PeftModel

        from ..hosts import load_host

        base, self.tokenizer = load_host(host)
        self.names = [f"p{i}" for i in range(len(genes))]
        self.model = PeftModel.from_pretrained(base, str(genes[0]), adapter_name=self.names[0])
        for name, gene in zip(self.names[1:], genes[1:]):
            self.model.load_adapter(str(gene), adapter_name=name)
        self.model.eval()

    def mix(self, method: BreedingMethod, *, weights: Sequence[float], density: float | None = None,
            svd_rank: int | None = None, seed: int = 0, name: str = CHILD) -> str:
        """Add the merged adapter ``name`` and make it active; returns its name."""
        import torch

        if len(weights) != len(self.names):
            raise BreedingError(f"{method.name} got {len(weights)} weights for {len(self.names)} parents.",
                                hint="Pass one weight per parent (--weights).")
        if name in self.model.peft_config:
            self.model.delete_adapter(name)
        kwargs: dict[str, Any] = {}
        if method.param("density") is not None:
            kwargs["density"] = float(density if density is not None else method.param("density").default)
        if svd_rank is not None and method.param("svd_rank") is not None:
            kwargs["svd_rank"] = int(svd_rank)
        torch.manual_seed(seed)  # DARE drops entries at random
        try:
            self.model.add_weighted_adapter(self.names, [float(w) for w in weights], name,
                                            combination_type=method.backend, **kwargs)
        except (ValueError, TypeError, RuntimeError) as err:
            raise BreedingError(f"peft could not merge with {method.name}: {err}",
                                hint="Check the method's constraints with `genehub methods` (e.g. equal ranks).") from err
        self.model.set_adapter(name)
        return name

    def drop(self, name: str = CHILD) -> None:
        if name in self.model.peft_config:
            # peft refuses to delete the active adapter's last reference only if it is the only one left.
            self.model.set_adapter(self.names[0])
            self.model.delete_adapter(name)

    def keep_only(self, name: str = CHILD) -> Any:
        """Delete the parents' adapters so ``save_pretrained`` writes only ``name``; returns the PeftModel."""
        for parent in self.names:
            if parent in self.model.peft_config:
                self.model.delete_adapter(parent)
        self.names = []
        return self.model


def fold(host: str | Path, gene: str | Path, out: str | Path, *, scale: float = 1.0) -> tuple[Any, Any]:
    """Merge ``gene`` into the host's weights (``merge_and_unload``) and save the model to ``out``."""
    import torch
    from peft import PeftModel

    from ..hosts import load_host

    base, tokenizer = load_host(host)
    model = PeftModel.from_pretrained(base, str(gene))
    if scale != 1.0:
        with torch.no_grad():
            for pname, param in model.named_parameters():
                if "lora_B" in pname:
                    param.mul_(scale)
    merged = model.merge_and_unload()
    merged.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return merged, tokenizer


@dataclass(frozen=True)
class AdapterMerge(BreedingMethod):
    """Parent genes on one host merged into one gene by peft's ``add_weighted_adapter``."""

    def make(self, parents: list[Parent], config: BreedConfig, recipe: dict[str, Any], report: Any) -> Child:
        require_host(self, config, parents)
        pool = AdapterPool(config.host, [p.path for p in parents])
        by_skill: dict[str, list[dict[str, Any]]] = {}
        for p in parents:
            by_skill.setdefault(p.skill or p.path.name, []).extend(p.gene.examples())
        with pool.model.disable_adapter():
            host_scores = score(pool.model, pool.tokenizer, by_skill)
        pool.mix(self, weights=recipe["weights"], density=recipe.get("density"), svd_rank=recipe.get("svd_rank"),
                 seed=config.seed)
        scores = score(pool.model, pool.tokenizer, by_skill)
        recorded = {"method": self.name, "backend": self.backend, "weights": recipe["weights"], "seed": config.seed}
        for name in ("density", "svd_rank"):
            if self.param(name) is not None:
                recorded[name] = recipe[name]
        skills = list(by_skill)
        card = child_card(parents, report, recorded, name=config.name or slug(f"{self.name}-{'-'.join(skills)}"),
                          skill=config.skill or slug("-".join(skills)), scores=scores, host_scores=host_scores,
                          n_examples=sum(map(len, by_skill.values())), evidence=config.evidence)
        out = Path(config.out)
        write_child_gene(out, pool.keep_only(), card, [row for rows in by_skill.values() for row in rows],
                         config.sign_key)
        return Child(out, "gene", self.name, recorded, scores, host_scores, report)

    def trial(self, parents: list[Parent], *, host: Any, base: Any, seed: int) -> Trial:
        from ..errors import UsageError

        if host is None:
            raise UsageError(f"Searching {self.name} needs the genes' host.", hint="Pass --host HOST_DIR.")
        return _PoolTrial(self, AdapterPool(host, [p.path for p in parents]), seed)


class _PoolTrial(Trial):
    """One merge per recipe in the shared pool, scored, then dropped: no disk I/O per trial."""

    def __init__(self, method: BreedingMethod, pool: AdapterPool, seed: int) -> None:
        self.method, self.pool, self.seed = method, pool, seed

    def __call__(self, recipe: Mapping[str, Any], tasks: Mapping[str, Sequence[Mapping[str, Any]]]) -> dict[str, float]:
        from ..evaluate import accuracy

        self.pool.mix(self.method, weights=recipe["weights"], density=recipe.get("density"), seed=self.seed)
        try:
            return {s: accuracy(self.pool.model, self.pool.tokenizer, rows) for s, rows in tasks.items()}
        finally:
            self.pool.drop()


@dataclass(frozen=True)
class Fold(BreedingMethod):
    """One gene merged into its host's weights (``merge_and_unload``): the child is a model."""

    def make(self, parents: list[Parent], config: BreedConfig, recipe: dict[str, Any], report: Any) -> Child:
        info = require_host(self, config, parents)
        gene, out = parents[0], Path(config.out)
        scale = 1.0 if recipe["scale"] is None else float(recipe["scale"])
        fold(config.host, gene.path, out, scale=scale)
        recorded = {"method": self.name, "scale": scale, "seed": config.seed}
        write_model_meta(out, report, parent=info.repo_id, skill=gene.skill, lineage={
            "recipe": "genehub.breeding.breed:fold", "created": now(),
            "parents": [{"repo_id": info.repo_id, "revision": info.revision},
                        {"repo_id": gene.repo_id, "revision": gene.revision}],
            "hyperparameters": recorded})
        return Child(out, "model", self.name, recorded, report=report)


def child_card(parents: list[Parent], report: Any, recipe: dict[str, Any], *, name: str, skill: str,
               scores: dict[str, float], host_scores: dict[str, float], n_examples: int,
               evidence: Mapping[str, Any] | None) -> dict[str, Any]:
    """The card of a merged gene: the union of its parents' circuits, the weakest homology, its scores."""
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
                     "other_skills": {slug(s): {"host": host_scores[s], "gene": scores[s]} for s in scores},
                     "num_test_prompts": n_examples},
        "adapter": {"type": "lora", "size_bytes": 0},  # rank, alpha, targets, layers: filled by write_gene
        "license": {"spdx": report.license, "rule": report.license_rule},
        "data_use": {"restrictions": list(report.restrictions)},
        "lineage": {"recipe": f"genehub.breeding.breed:{recipe['method']}",
                    "hyperparameters": {**recipe, "parents": lineage_parents, "fitness": dict(evidence or {})},
                    "seed": int(recipe.get("seed", 0)), "genehub_version": __version__, "created": now()},
        "files": {},
    }
