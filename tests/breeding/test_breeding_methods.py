"""Every registered breeding method runs on tiny real genes/models and yields a valid, signed child."""

from __future__ import annotations

import json

import pytest
from _breeding import family, make_gene

from genehub.breeding import BreedConfig, breed, get_method, list_methods
from genehub.errors import IncompatibleError, UsageError

ADAPTER = [m.name for m in list_methods("adapter") if m.name != "fold"]
MODEL = [m.name for m in list_methods("model")]


@pytest.fixture(scope="module")
def zoo_like(tmp_path_factory):
    """A host with the zoo tokenizer, two homologous donors, and two signed genes on the host."""
    from genehub.hosts import describe_host

    root = tmp_path_factory.mktemp("breeding")
    models = family(root)
    host_info = describe_host(models["host"]).to_dict()
    genes = {
        "sort": make_gene(root / "g-sort", models["host"], name="sort-gene", skill="sort", host=host_info, seed=1),
        "add": make_gene(root / "g-add", models["host"], name="add-gene", skill="add", host=host_info, seed=2,
                         license="MIT"),
    }
    return models, genes


@pytest.fixture
def signer():
    from genehub.gene import TrustStore, new_key

    key = new_key("breeder")
    TrustStore().add("breeder", key.public)
    return "breeder"


def test_registry_is_one_table_with_names_references_and_constraints():
    names = [m.name for m in list_methods()]
    assert len(names) == len(set(names))
    assert {"linear", "cat", "svd", "ties", "dare_ties", "dare_linear", "magnitude_prune"} <= set(names)
    assert {"model:linear", "model:slerp", "model:task_arithmetic", "model:ties", "model:dare_ties", "extract:lora"} <= set(names)
    assert get_method("ties", kind="model").backend == "ties" and get_method("ties").kind == "adapter"
    assert "same_rank" in get_method("dare_linear").constraints
    assert get_method("model:slerp").defaults(2) == {"t": 0.5}
    assert get_method("ties").defaults(3)["weights"] == [1.0, 1.0, 1.0]
    with pytest.raises(UsageError, match="exactly two"):
        get_method("model:slerp").check_parents(3)


@pytest.mark.parametrize("method", ADAPTER)
def test_adapter_methods_make_a_valid_signed_gene_with_lineage(zoo_like, tmp_path, method, signer):
    from peft import PeftModel

    from genehub.gene import load_card, verify_gene
    from genehub.hosts import load_host

    models, genes = zoo_like
    child = breed([genes["sort"], genes["add"]], method,
                  BreedConfig(out=tmp_path / "child", host=models["host"], params={"weights": [0.7, 0.4]}, seed=3,
                              sign_key=signer, verify=False))
    card = verify_gene(child.path).card  # signed, trusted, digests match
    assert card == load_card(child.path)
    hp = card["lineage"]["hyperparameters"]
    assert hp["method"] == method and hp["weights"] == [0.7, 0.4] and card["lineage"]["seed"] == 3
    assert [p["repo_id"] for p in hp["parents"]] == ["gene/sort-gene", "gene/add-gene"]
    assert all(p["revision"].startswith("sha256:") for p in hp["parents"])
    assert [p["role"] for p in card["parents"]] == ["host", "parent_gene", "parent_gene"]
    assert card["license"]["spdx"] == "Apache-2.0 AND MIT"
    assert set(card["fidelity"]["other_skills"]) == {"sort", "add"}
    if get_method(method).param("density"):
        assert hp["density"] == 0.5
    # A plain PeftModel loads the child and it changes the host's outputs.
    import torch

    base, tok = load_host(models["host"])
    ids = tok("sort: cab", return_tensors="pt")["input_ids"]
    ref = base(ids).logits
    out = PeftModel.from_pretrained(base, str(child.path))(ids).logits
    assert not torch.allclose(ref, out)
    expected_rank = {"cat": 8}.get(method, 4)
    assert card["adapter"]["rank"] == expected_rank


@pytest.mark.parametrize("method", MODEL)
def test_model_methods_merge_in_process_and_record_lineage(zoo_like, tmp_path, method):
    import torch
    from safetensors.torch import load_file

    models, _ = zoo_like
    child = breed([models["donor_a"], models["donor_b"]], method, BreedConfig(out=tmp_path / "m", base=models["host"]))
    meta = json.loads((child.path / "genehub.json").read_text())
    assert meta["lineage"]["hyperparameters"]["mergekit"]["merge_method"] == get_method(method).backend
    assert [p["repo_id"] for p in meta["lineage"]["parents"]] == ["zoo/donor-a", "zoo/donor-b"]
    assert meta["license"] == "Apache-2.0"
    merged = load_file(child.path / "model.safetensors")
    a = load_file(models["donor_a"] / "model.safetensors")
    b = load_file(models["donor_b"] / "model.safetensors")
    key = "model.layers.0.self_attn.q_proj.weight"
    assert not torch.equal(merged[key], a[key]) and not torch.equal(merged[key], b[key])
    if method == "model:linear":
        assert torch.allclose(merged[key], (a[key] + b[key]) / 2, atol=1e-6)


def test_extract_lora_recovers_the_delta_and_fold_puts_it_back(zoo_like, tmp_path):
    import torch
    from safetensors.torch import load_file

    from genehub.gene import load_card

    models, _ = zoo_like
    examples = [{"prompt": "sort: cba", "answer": "abc"}, {"prompt": "add: 1+2", "answer": "3"}]
    gene = breed([models["donor_a"]], "extract:lora",
                 BreedConfig(out=tmp_path / "gene", base=models["host"], examples=examples, skill="sort"))
    card = load_card(gene.path)
    assert card["parents"][1]["repo_id"] == "zoo/donor-a" and card["adapter"]["rank"] == 8
    assert 0.0 < card["lineage"]["hyperparameters"]["energy_kept"] <= 1.0
    folded = breed([gene.path], "fold", BreedConfig(out=tmp_path / "folded", host=models["host"], verify=False))
    key = "model.layers.1.mlp.down_proj.weight"
    host_w = load_file(models["host"] / "model.safetensors")[key]
    donor_w = load_file(models["donor_a"] / "model.safetensors")[key]
    folded_w = load_file(folded.path / "model.safetensors")[key]
    # rank 8 of a 64x32 noise delta keeps part of it: folded is closer to the donor than the host is.
    assert (folded_w - donor_w).norm() < (host_w - donor_w).norm()
    full = breed([models["donor_a"]], "extract:lora",
                 BreedConfig(out=tmp_path / "full", base=models["host"], examples=examples, params={"rank": 64}))
    assert load_card(full.path)["lineage"]["hyperparameters"]["energy_kept"] == pytest.approx(1.0, abs=1e-4)


def test_breeding_refuses_before_touching_weights(zoo_like, tmp_path):
    models, genes = zoo_like
    stranger_gene = make_gene(tmp_path / "s", models["host"], name="s", rank=8, license="GPL-2.0-only",
                              host=json.loads((genes["sort"] / "gene.json").read_text())["host"])
    with pytest.raises(IncompatibleError) as err:
        breed([genes["sort"], stranger_gene], "ties", BreedConfig(out=tmp_path / "x", host=models["host"], verify=False))
    assert len(err.value.reasons) == 2  # licence (GPL-2.0-only + Apache) and ranks
    assert not (tmp_path / "x").exists()
    with pytest.raises(UsageError, match="--host"):
        breed([genes["sort"], genes["add"]], "ties", BreedConfig(out=tmp_path / "y", verify=False))


def test_extract_lora_of_a_gpt2_fine_tune(byo_gpt2):
    """Conv1D layers are found from the architecture and their transposed weights handled: at full rank
    the extracted LoRA is the fine-tune's delta."""
    import torch

    from genehub.breeding._extract import extract_lora
    from genehub.hosts import load_host

    peft_model, stats = extract_lora(byo_gpt2.donor, byo_gpt2.host, rank=256)
    assert sorted(stats["modules"]) == ["c_attn", "c_fc", "c_proj"] and stats["energy_kept"] == pytest.approx(1.0)
    merged = dict(peft_model.merge_and_unload().named_parameters())
    donor = dict(load_host(byo_gpt2.donor)[0].named_parameters())
    for name in ("transformer.h.0.attn.c_attn.weight", "transformer.h.1.mlp.c_proj.weight"):
        torch.testing.assert_close(merged[name], donor[name], atol=1e-5, rtol=1e-4)
