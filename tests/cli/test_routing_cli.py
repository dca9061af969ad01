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
