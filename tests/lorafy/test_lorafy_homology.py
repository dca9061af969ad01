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


def test_linear_cka_ignores_width_rotation_and_scale():
    import torch

    from genehub.lorafy.homology import linear_cka

    torch.manual_seed(0)
    x = torch.randn(40, 8)
    q, _ = torch.linalg.qr(torch.randn(12, 12))
    y = 3.0 * x @ q[:8]  # a wider, rotated and scaled copy
    assert linear_cka(x, y) == pytest.approx(1.0, abs=1e-9)
    assert linear_cka(x, torch.randn(40, 12)) < 0.5


@pytest.mark.parametrize(("layer", "layers", "other", "expected"), [(0, 30, 18, 0), (29, 30, 18, 17), (14, 30, 18, 8),
                                                                      (3, 4, 4, 3)])
def test_matched_layer_by_relative_depth(layer, layers, other, expected):
    from genehub.lorafy.homology import matched_layer

    assert matched_layer(layer, layers, other) == expected


def test_homology_across_widths_is_cka_at_matched_depth():
    import torch

    from genehub.lorafy.homology import CKA_METHOD, ReadingVectors, compare

    torch.manual_seed(1)
    donor_diffs = torch.randn(4, 32, 16)
    q, _ = torch.linalg.qr(torch.randn(24, 24))
    host_diffs = torch.stack([donor_diffs[i] @ q[:16] for i in (1, 3)])  # 2 layers, wider: layer 1 <-> 3 of 4

    def vectors(d):
        return ReadingVectors(pca=d.mean(1), mean_diff=d.mean(1), num_pairs=d.shape[1], diffs=d)

    homology = compare(vectors(donor_diffs), vectors(host_diffs), layers=[1, 3])
    assert homology.method == CKA_METHOD
    rows = {r["layer"]: r for r in homology.per_layer}
    assert rows[1]["host_layer"] == 0 and rows[3]["host_layer"] == 1
    assert rows[1]["cka"] == pytest.approx(1.0) and rows[3]["cka"] == pytest.approx(1.0)
    assert rows[0]["cka"] < 0.9  # layer 0 is matched with host layer 0, which is donor layer 1's copy
    assert homology.aggregate == pytest.approx(1.0)
