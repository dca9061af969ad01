"""The registry commands end to end on a local registry directory: push, search, info, pull, list, remove."""

from __future__ import annotations

import json

import pytest

from genehub.cli import main
from genehub.registry import list_installed


def test_cli_round_trip(registry_genes, trust_alice, tmp_path, capsys):
    reg = str(tmp_path / "reg")
    assert main(["push", str(registry_genes.v1), "alice/sort-gene", "--registry", reg]) == 0
    assert "v0.1.0" in capsys.readouterr().out
    assert main(["push", str(registry_genes.v1), "alice/sort-gene", "--registry", reg]) == 0
    assert "uploaded nothing" in capsys.readouterr().out

    assert main(["search", "--skill", "sort", "--json", "--registry", reg]) == 0
    hits = json.loads(capsys.readouterr().out)
    assert [(h["repo_id"], h["signer"]) for h in hits] == [("alice/sort-gene", "alice")]

    assert main(["info", "alice/sort-gene", "--registry", reg]) == 0
    info = json.loads(capsys.readouterr().out)
    assert list(info["tags"]) == ["v0.1.0"] and info["gene"]["version"] == "0.1.0"

    assert main(["pull", "alice/sort-gene@v0.1.0", "--registry", reg]) == 0
    assert "signed by alice" in capsys.readouterr().out
    assert main(["list", "--json"]) == 0
    assert [g["repo_id"] for g in json.loads(capsys.readouterr().out)] == ["alice/sort-gene"]

    assert main(["remove", "sort-gene"]) == 0
    assert list_installed() == []


@pytest.mark.parametrize(("argv", "match"), [
    (["pull", "alice/missing", "--registry", "{reg}"], "No repo alice/missing"),
    (["pull", "not-a-repo-id", "--registry", "{reg}"], "is not a repo id"),
    (["remove", "nothing-here"], "genehub list"),
])
def test_cli_errors_are_one_line(tmp_path, capsys, argv, match):
    (tmp_path / "reg").mkdir()
    assert main([a.format(reg=tmp_path / "reg") for a in argv]) == 1
    err = capsys.readouterr().err.strip()
    assert match in err and "\n" not in err and err.startswith("error: ")
