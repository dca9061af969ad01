"""Evolutionary search of merge recipes on the tiny zoo: it must beat the default recipe it starts from."""

from __future__ import annotations

import pytest

from genehub.breeding import BreedConfig, breed
from genehub.breeding.evolve import SearchConfig, _front, evolve
from genehub.zoo import search_tasks, split_rows


@pytest.fixture(scope="module")
def extracted_genes(tiny_zoo, tmp_path_factory):
    """Genes extracted (rank 16, extract:lora) from the zoo's two donors against the host."""
    root = tmp_path_factory.mktemp("evolve")
    skills = sorted(tiny_zoo.donors)[:2]
    genes = [breed([tiny_zoo.donors[s]], "extract:lora",
                   BreedConfig(out=root / s, base=tiny_zoo.host, skill=s, params={"rank": 16},
                               examples=split_rows(s, "test", 64))).path
             for s in skills]
    return tiny_zoo, skills, genes


def test_search_beats_the_default_recipe_on_validation_and_test(extracted_genes, tmp_path):
    zoo, skills, genes = extracted_genes
    config = SearchConfig(trials=16, population=8, skills=tuple(skills), subsample=32, n_test=100)
    result = evolve(genes, "linear", config, host=zoo.host, tasks=search_tasks, plots=tmp_path / "plots", verify=False,
                    progress=False)
    assert result.default_recipe == {"weights": [1.0, 1.0]}  # trial 0 is the registry's default
    assert len(result.history) == 16 and {h["generation"] for h in result.history} == {0, 1}
    assert result.best_value > result.default_value
    mean = lambda d: sum(d.values()) / len(d)  # noqa: E731
    assert mean(result.best_test) > mean(result.default_test)  # held-out prompts agree
    assert (tmp_path / "plots" / "fitness.png").stat().st_size > 1000
    assert (tmp_path / "plots" / "pareto.png").is_file()
    evidence = result.evidence()["search"]
    assert evidence["trials"] == 16 and evidence["best_recipe"] == result.best_recipe
    # The winning recipe, bred for real, records the search in its lineage.
    child = breed(genes, "linear", BreedConfig(out=tmp_path / "child", host=zoo.host, params=result.best_recipe,
                                               verify=False, evidence=result.evidence()))
    from genehub.gene import load_card

    card = load_card(child.path)
    assert card["lineage"]["hyperparameters"]["fitness"]["search"]["best_validation"] == result.best_value
    assert card["lineage"]["hyperparameters"]["weights"] == result.best_recipe["weights"]


def test_pareto_search_returns_a_non_dominated_front(extracted_genes):
    zoo, skills, genes = extracted_genes
    config = SearchConfig(trials=8, population=4, skills=tuple(skills), subsample=24, n_test=24, objective="pareto")
    result = evolve(genes, "dare_linear", config, host=zoo.host, tasks=search_tasks, verify=False, progress=False)
    front = [h for h in result.history if h["trial"] in result.front]
    assert front
    points = [tuple(h["scores"][s] for s in skills) for h in result.history]
    for h in front:  # nothing in the history dominates a front member
        p = tuple(h["scores"][s] for s in skills)
        assert not any(all(q[i] >= p[i] for i in range(2)) and q != p for q in points)
    assert "density" in result.best_recipe and len(result.best_recipe["weights"]) == 2


def test_front_helper():
    assert _front([(0.1, 0.9), (0.5, 0.5), (0.4, 0.4), (0.9, 0.1)]) == [(0.1, 0.9), (0.5, 0.5), (0.9, 0.1)]
