"""`genehub router train` / `genehub run`: the CLI trains, saves and uses a router, and prints each route."""

from __future__ import annotations

import io
import json

from genehub.cli import main


def test_router_train_then_run_prints_the_gene_of_each_prompt(tiny_zoo, zoo_genes, tmp_path, capsys, monkeypatch):
    genes = [str(zoo_genes["sort"]), str(zoo_genes["upper"])]
    out = tmp_path / "router"
    assert main(["router", "train", "--host", str(tiny_zoo.host), "--genes", *genes, "--out", str(out)]) == 0
    assert (out / "router.json").is_file() and "written to" in capsys.readouterr().out

    assert main(["run", "--host", str(tiny_zoo.host), "--genes", *genes, "--router", str(out), "--json",
                 "--", "sort hello:", "U:abc="]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["gene"] for r in rows] == ["sort-gene", "upper-gene"]
    assert rows[1]["output"] == "ABC"

    prompts = tmp_path / "prompts.txt"
    prompts.write_text("copy abc:\nS:dcba=\n")
    assert main(["run", "--host", str(tiny_zoo.host), "--genes", *genes, "--router", str(out),
                 "--file", str(prompts)]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["prompt", "gene", "confidence", "output"]
    assert "none" in table[2] and "sort-gene" in table[3]

    monkeypatch.setattr("sys.stdin", io.StringIO("upper xy:\n"))
    assert main(["run", "--host", str(tiny_zoo.host), "--genes", *genes, "--router", str(out), "--json", "-"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["gene"] == "upper-gene"


def test_run_with_a_gene_for_another_host_is_one_line_error(tiny_zoo, zoo_genes, capsys):
    code = main(["run", "sort ab:", "--host", str(tiny_zoo.heterologous), "--genes", str(zoo_genes["sort"])])
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert code == 1 and len(err) == 1
    assert err[0].startswith("error: Gene sort-gene") and "does not fit host genehub-zoo/tiny-heterologous" in err[0]


def test_router_card_then_run_routes_by_the_genes_prototypes(tiny_zoo, zoo_genes, tmp_path, capsys, monkeypatch):
    import shutil

    from genehub.gene import load_card
    from genehub.routing import Router

    genes = [str(shutil.copytree(zoo_genes[s], tmp_path / s)) for s in ("sort", "upper")]
    assert main(["router", "card", *genes, "--host", str(tiny_zoo.host), "--encoder", "host:1"]) == 0
    out = capsys.readouterr().out
    assert out.count("routing by host L1") == 2 and "Sign it again" in out
    assert all(load_card(g)["routing"]["encoder"]["layer"] == 1 for g in genes)

    def refuse(*args, **kwargs):
        raise AssertionError("a router was trained")

    monkeypatch.setattr(Router, "train", refuse)
    assert main(["run", "--host", str(tiny_zoo.host), "--genes", *genes, "--json", "--", "sort hello:", "copy abc:"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["gene"] for r in rows] == ["sort-gene", "none"]
    assert set(rows[0]["probabilities"]) == {"sort-gene", "upper-gene", "none"}
    code = main(["router", "card", genes[0], "--host", str(tiny_zoo.host), "--encoder", "bert"])
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert code == 1 and len(err) == 1 and "Unknown routing encoder 'bert'" in err[0]


def test_extract_gives_the_gene_its_routing_block(tiny_zoo, tmp_path, capsys):
    from genehub.gene import load_card
    from genehub.routing.prototypes import load_prototypes

    out = tmp_path / "g"
    assert main(["extract", "--donor", str(tiny_zoo.donors["upper"]), "--host", str(tiny_zoo.host), "--skill", "upper",
                 "--out", str(out), "--method", "svd", "--rank", "4", "--other-skills", "copy"]) == 0
    assert "routing: 1 prototype(s)" in capsys.readouterr().out
    block = load_card(out)["routing"]
    assert block["encoder"]["kind"] == "concat" and block["calibration"]["num_prompts"] == 256
    assert load_prototypes(out).name == "upper-gene"
