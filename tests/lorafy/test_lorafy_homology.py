"""Homology (RepE reading vectors) and the causal check."""

from __future__ import annotations

import pytest

from genehub.errors import ExtractionError


@pytest.fixture(scope="module")
def models(tiny_zoo):
    from genehub.hosts import load_host

    host, tok = load_host(tiny_zoo.host)
    donor, _ = load_host(tiny_zoo.donors["sort"])
    hetero, _ = load_host(tiny_zoo.heterologous)
    return {"host": host, "donor": donor, "hetero": hetero, "tok": tok}


def _pairs(skill="sort", n=48):
    from genehub.lorafy._data import contrast_pairs
    from genehub.zoo import LIBRARY, skill_data

    skill_prompts, contrast, source = contrast_pairs(skill_data(skill), n, library=LIBRARY,
                                                     others=("copy", "length", "double", "reverse"))
    assert source == "library"
    return skill_prompts, contrast


@pytest.mark.parametrize("name", ["host", "donor", "hetero"])
def test_a_model_is_homologous_to_itself(models, name):
    from genehub.lorafy import score_homology

    skill, contrast = _pairs()
    h = score_homology(models[name], models[name], models["tok"], skill, contrast)
    assert [round(x["pca_cosine"], 5) for x in h.per_layer] == [1.0, 1.0]
    assert [round(x["mean_diff_cosine"], 5) for x in h.per_layer] == [1.0, 1.0]
    assert h.aggregate == pytest.approx(1.0, abs=1e-5) and h.num_contrast_pairs == 48


@pytest.mark.parametrize("skill", ["sort", "upper"])
def test_related_beats_unrelated_at_every_layer(tiny_zoo, models, skill):
    from genehub.hosts import load_host
    from genehub.lorafy import score_homology

    donor, _ = load_host(tiny_zoo.donors[skill])
    prompts, contrast = _pairs(skill)
    related = score_homology(donor, models["host"], models["tok"], prompts, contrast)
    unrelated = score_homology(donor, models["hetero"], models["tok"], prompts, contrast)
    for r, u in zip(related.per_layer, unrelated.per_layer, strict=True):
        assert r["pca_cosine"] > u["pca_cosine"] + 0.2, (r, u)
        assert r["mean_diff_cosine"] > u["mean_diff_cosine"] + 0.2, (r, u)
    assert abs(unrelated.aggregate) < 0.3 < related.aggregate


def test_aggregate_is_over_the_circuit_layers(models):
    from genehub.lorafy import score_homology

    skill, contrast = _pairs()
    h = score_homology(models["donor"], models["host"], models["tok"], skill, contrast, layers=[1])
    assert h.aggregate == pytest.approx(h.per_layer[1]["pca_cosine"], abs=1e-5)
    assert h.to_card()["method"] == "repe-pca-cosine"


def test_causal_check_patching_the_whole_donor_is_the_donor(models):
    from genehub.lorafy import causal_check
    from genehub.lorafy._model import all_components
    from genehub.zoo import skill_data

    rows = skill_data("sort").rows("validation", 64)
    check = causal_check(models["donor"], models["host"], models["tok"], rows, all_components(models["host"]))
    # The zoo's donors are full fine-tunes (embeddings too), so patching every block gets close, not equal.
    assert check["host"] < 0.5 < check["patched"]
    assert check["patched"] <= check["donor"] + 0.05 and check["num_prompts"] == 64


def test_too_few_pairs_is_an_error(models):
    from genehub.lorafy import score_homology

    with pytest.raises(ExtractionError, match="at least 2 contrast pairs"):
        score_homology(models["host"], models["host"], models["tok"], ["S:abc="], ["C:abc="])
