"""End to end: an extracted gene loads in plain PEFT, beats the host on its skill, and its card validates."""

from __future__ import annotations

import json

import pytest

from genehub.errors import ExtractionError
from genehub.zoo import skill_data


@pytest.fixture(scope="module")
def sort_gene(tiny_zoo, tmp_path_factory):
    from genehub.lorafy import ExtractConfig, extract

    out = tmp_path_factory.mktemp("genes") / "sort"
    # A fifth of the default schedule (150 steps of 128 rows); bench/bench_extract.py measures the default one.
    config = ExtractConfig(steps=150, n_other=40, other_skills=("copy", "reverse", "upper"))
    return extract(tiny_zoo.donors["sort"], tiny_zoo.host, skill_data("sort"), out, config)


def test_gene_loads_in_plain_peft_and_beats_the_host(tiny_zoo, sort_gene):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from genehub.evaluate import accuracy
    from genehub.gene import load_card

    card = load_card(sort_gene)  # validates against the schema
    host = AutoModelForCausalLM.from_pretrained(tiny_zoo.host)
    tok = AutoTokenizer.from_pretrained(tiny_zoo.host)
    gene = PeftModel.from_pretrained(host, str(sort_gene)).eval()
    test = skill_data("sort").rows("test")
    measured = accuracy(gene, tok, test)
    assert measured == pytest.approx(card["fidelity"]["skill"]["gene"], abs=1e-6)
    fid = card["fidelity"]["skill"]
    assert fid["host"] < 0.4 < fid["donor"]
    # A bar fit for a fifth of the default schedule: clearly above the host, a real share of the donor's gain.
    assert measured >= fid["host"] + 0.1
    assert (measured - fid["host"]) / (fid["donor"] - fid["host"]) >= 0.25


def test_fidelity_splits_seen_and_heldout_templates(sort_gene):
    from genehub.gene import load_card

    card = load_card(sort_gene)
    lorafy = card["extra"]["lorafy"]
    split = lorafy["fidelity_by_template"]
    fid = card["fidelity"]["skill"]
    test = skill_data("sort").rows("test")
    share = sum(bool(r["heldout"]) for r in test) / len(test)  # about half the test uses held-out templates
    assert 0.3 < share < 0.7
    for who in ("host", "donor", "gene"):
        assert fid[who] == pytest.approx((1 - share) * split["seen"][who] + share * split["heldout"][who], abs=1e-4)
    # On the templates it was distilled on, the gene recovers much more of the donor's gain.
    assert split["seen"]["gene"] >= split["seen"]["host"] + 0.2
    assert lorafy["recovered_share_seen"] >= 0.35
    # Other skills are split the same way, and the overall figure is their mix.
    others = lorafy["other_skills_by_template"]
    assert set(others["seen"]) == set(others["heldout"]) == set(card["fidelity"]["other_skills"])
    worst = {g: max([v["host"] - v["gene"] for v in others[g].values()] + [0.0]) for g in ("seen", "heldout")}
    assert lorafy["worst_other_drop_by_template"] == pytest.approx(worst)
    for name, overall in card["fidelity"]["other_skills"].items():
        lo, hi = sorted(others[g][name]["gene"] for g in ("seen", "heldout"))
        assert lo - 1e-6 <= overall["gene"] <= hi + 1e-6


def test_card_records_every_stage(sort_gene):
    from genehub.gene import load_card

    card = load_card(sort_gene)
    assert card["circuit"]["layers"] and card["circuit"]["restored_share"] >= 0.8
    assert card["adapter"]["layers"] == card["circuit"]["layers"]
    assert len(card["circuit"]["components"]) == 4
    assert 0 <= card["homology"]["aggregate"] <= 1 and len(card["homology"]["per_layer"]) == 2
    check = card["homology"]["causal_check"]
    assert check["host"] < 0.5 < check["patched"] and check["components"]
    assert set(card["fidelity"]["other_skills"]) == {"copy", "reverse", "upper"}
    assert card["parents"][1]["role"] == "donor" and card["license"]["spdx"]
    config = json.loads((sort_gene / "adapter_config.json").read_text())
    adapted = {name.split(".layers.")[1].split(".")[0] for name in config["target_modules"]}
    assert adapted == {str(i) for i in card["circuit"]["layers"]}


def test_examples_are_seen_train_prompts_only(sort_gene):
    from genehub.zoo import get_skill

    rows = [json.loads(line) for line in (sort_gene / "examples.jsonl").read_text().splitlines()]
    seen = get_skill("sort").templates
    prefixes = [t.split("{x}")[0] for t in seen]
    assert len(rows) == 64
    assert all(set(r) == {"prompt", "answer", "text"} and r["text"] == r["prompt"] for r in rows)  # plain rows
    assert all(any(r["prompt"].startswith(p) and p for p in prefixes) or r["prompt"].endswith(" in order ->")
               for r in rows)


def test_svd_at_full_rank_reproduces_the_donor_weights(tiny_zoo):
    import torch

    from genehub.hosts import load_host
    from genehub.lorafy import svd_gene
    from genehub.lorafy._model import linear_modules

    host, _ = load_host(tiny_zoo.host)
    donor, _ = load_host(tiny_zoo.donors["sort"])
    names = linear_modules(host, [(1, "attn")], only=("q_proj", "o_proj"))
    model, stats = svd_gene(host, donor, names, rank=64, alpha=16)
    assert stats["energy_kept"] == pytest.approx(1.0) and stats["modules"] == 2
    merged = dict(model.merge_and_unload().named_parameters())
    want = dict(donor.named_parameters())
    for name in ("model.layers.1.self_attn.q_proj.weight", "model.layers.1.self_attn.o_proj.weight"):
        torch.testing.assert_close(merged[name], want[name], atol=1e-5, rtol=1e-4)
    # Untouched modules stay the host's.
    assert not torch.equal(merged["model.layers.1.self_attn.k_proj.weight"], want["model.layers.1.self_attn.k_proj.weight"])


def test_cli_extract_svd(tiny_zoo, tmp_path, capsys):
    from genehub.cli import main
    from genehub.gene import load_card

    out = tmp_path / "g"
    code = main(["extract", "--donor", str(tiny_zoo.donors["upper"]), "--host", str(tiny_zoo.host),
                 "--skill", "upper", "--out", str(out), "--method", "svd", "--rank", "4",
                 "--other-skills", "copy", "--json"])
    assert code == 0
    printed = json.loads(capsys.readouterr().out)
    card = load_card(out)
    assert printed["fidelity"] == card["fidelity"] and card["lineage"]["recipe"] == "genehub.lorafy.svd"
    assert card["adapter"]["rank"] == 4


def test_chosen_layers_replace_the_circuit_in_the_adapter_only(tiny_zoo, tmp_path, capsys):
    from genehub.cli import main
    from genehub.gene import load_card

    out = tmp_path / "g"
    code = main(["extract", "--donor", str(tiny_zoo.donors["sort"]), "--host", str(tiny_zoo.host), "--skill", "sort",
                 "--out", str(out), "--layers", "1", "--steps", "20", "--batch-size", "16", "--n-preserve", "50",
                 "--other-skills", "copy", "--json"])
    assert code == 0
    card = load_card(out)
    assert card["adapter"]["layers"] == [1]
    assert card["circuit"]["layers"] and card["circuit"]["components"]  # still located and recorded
    assert card["lineage"]["hyperparameters"]["layers"] == [1]
    assert card["lineage"]["hyperparameters"]["n_preserve"] == 50
    assert card["lineage"]["hyperparameters"]["batch_size"] == 16
    config = json.loads((out / "adapter_config.json").read_text())
    assert {name.split(".layers.")[1].split(".")[0] for name in config["target_modules"]} == {"1"}
    assert len(config["target_modules"]) == 7  # q, k, v, o, gate, up, down of layer 1


@pytest.mark.parametrize("argv, match", [
    (["--data", "no-such.jsonl"], "No data at"),
    (["--skill", "no-such-skill"], "is not a zoo skill"),
    ([], "No skill data given"),
    (["--skill", "sort", "--layers", "0,7"], "outside the host"),
    (["--skill", "sort", "--method", "svd", "--host-is-donor"], "no better than the host"),
    (["--skill", "sort", "--scorer", "fuzzy"], "Unknown scorer"),
    (["--skill", "sort", "--other-skills", "copy,x.jsonl"], "mixes data files and zoo skill names"),
    (["--skill", "sort", "--host-repo-id", "not a repo"], "is not a Hub repo id"),
])
def test_cli_errors_are_one_line(tiny_zoo, tmp_path, capsys, argv, match):
    from genehub.cli import main

    donor = tiny_zoo.host if "--host-is-donor" in argv else tiny_zoo.donors["sort"]
    argv = [a for a in argv if a != "--host-is-donor"]
    code = main(["extract", "--donor", str(donor), "--host", str(tiny_zoo.host), "--out", str(tmp_path / "g"), *argv])
    err = capsys.readouterr().err
    assert code == 1 and match in err and "Traceback" not in err
    assert not (tmp_path / "g").exists()


@pytest.mark.parametrize("options, match", [
    ({"method": "magic"}, "Unknown extraction method"),
    ({"init": "zeros"}, "Unknown LoRA init"),
])
def test_unknown_options_are_refused(tiny_zoo, tmp_path, options, match):
    from genehub.lorafy import ExtractConfig, extract

    with pytest.raises(ExtractionError, match=match):
        extract(tiny_zoo.donors["sort"], tiny_zoo.host, skill_data("sort"), tmp_path / "g", ExtractConfig(**options))


def test_svd_at_full_rank_reproduces_a_gpt2_donor(byo_gpt2):
    """GPT-2's Conv1D layers store their weights transposed: the SVD gene still adds up to the donor."""
    import torch

    from genehub.hosts import load_host
    from genehub.lorafy import svd_gene
    from genehub.lorafy._model import linear_modules

    host, _ = load_host(byo_gpt2.host)
    donor, _ = load_host(byo_gpt2.donor)
    names = linear_modules(host, [(1, "attn"), (0, "mlp")])
    assert names == ["transformer.h.0.mlp.c_fc", "transformer.h.0.mlp.c_proj", "transformer.h.1.attn.c_attn",
                     "transformer.h.1.attn.c_proj"]  # found from the architecture, in the model's order
    model, stats = svd_gene(host, donor, names, rank=256, alpha=16)
    assert stats["energy_kept"] == pytest.approx(1.0) and stats["modules"] == 4
    merged = dict(model.merge_and_unload().named_parameters())
    want = dict(donor.named_parameters())
    for name in names:
        torch.testing.assert_close(merged[f"{name}.weight"], want[f"{name}.weight"], atol=1e-5, rtol=1e-4)
