"""`genehub methods`, `genehub plan` and `genehub breed`: thin commands, one-line errors."""

from __future__ import annotations

import json

import pytest
from _breeding import family, make_gene

from genehub.cli import main


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    return family(tmp_path_factory.mktemp("cli"))


def test_methods_lists_the_registry(capsys):
    from genehub.breeding import list_methods

    assert main(["methods", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [m["name"] for m in listed] == [m.name for m in list_methods()]
    assert main(["methods", "--kind", "model"]) == 0
    table = capsys.readouterr().out
    assert "model:slerp" in table and "dare_ties_svd" not in table


def test_plan_prints_json_script_and_yaml(models, tmp_path, capsys):
    script, yml = tmp_path / "plan.sh", tmp_path / "merge.yml"
    argv = ["plan", "--goal", "capability_fusion", "--recipient", str(models["host"]), "--donor", str(models["donor_a"]),
            "--donor", str(models["donor_b"]), "--overlap", "0.2", "--script", str(script), "--yaml", str(yml), "--json"]
    assert main(argv) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["strategy"] == "ties_dare" and data["conditions"]["lineage"] == "homologous"
    assert "merge_method: dare_ties" in yml.read_text() and data["commands"][0] in script.read_text()


def test_breed_runs_the_planned_command(models, tmp_path, capsys):
    out = tmp_path / "merged"
    assert main(["breed", "--parents", str(models["donor_a"]), str(models["donor_b"]), "--method", "ties",
                 "--base", str(models["host"]), "--out", str(out), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["method"] == "model:ties" and (out / "model.safetensors").is_file()


def test_breed_refusal_is_one_line_with_every_reason(models, tmp_path, capsys):
    from genehub.hosts import describe_host

    host = describe_host(models["host"]).to_dict()
    a = make_gene(tmp_path / "a", models["host"], name="a", host=host, license="GPL-2.0-only")
    b = make_gene(tmp_path / "b", models["host"], name="b", host=host, rank=8)
    capsys.readouterr()
    code = main(["breed", "--parents", str(a), str(b), "--method", "ties", "--host", str(models["host"]),
                 "--out", str(tmp_path / "c")])
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1
    assert "licence:" in err and "shapes:" in err and "signatures:" in err  # unsigned genes, verified by default


def test_plan_record_appends_to_the_ledger(models, capsys):
    from genehub.breeding.ledger import Ledger

    argv = ["plan", "--goal", "deficit_repair", "--recipient", str(models["host"]), "--donor", str(models["donor_a"])]
    assert main([*argv, "--record", "benefit=0.25,forgetting=0.02"]) == 0
    [entry] = Ledger().entries()
    assert entry["strategy"] == "lorafication" and entry["measured"] == {"benefit": 0.25, "forgetting": 0.02}
    assert main([*argv, "--record", "benefit"]) == 1
    assert "--record" in capsys.readouterr().err
