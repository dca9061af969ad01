"""The registry commands end to end on a local registry directory: push, search, info, pull, list, remove."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

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


@pytest.mark.parametrize("value", ["abc", "-1", "0", "1.5"])
def test_max_file_bytes_from_the_environment_is_checked(monkeypatch, capsys, tmp_path, value):
    monkeypatch.setenv("GENEHUB_MAX_FILE_BYTES", value)
    (tmp_path / "reg").mkdir()
    assert main(["pull", "alice/sort-gene", "--registry", str(tmp_path / "reg")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"GENEHUB_MAX_FILE_BYTES={value!r} is not a positive whole number" in err


def test_pull_repair_replaces_a_tampered_copy(registry_genes, trust_alice, tmp_path, capsys):
    reg = str(tmp_path / "reg")
    assert main(["push", str(registry_genes.v1), "alice/sort-gene", "--registry", reg]) == 0
    assert main(["pull", "alice/sort-gene", "--registry", reg]) == 0
    installed = list_installed()[0]
    (installed.path / "adapter_config.json").write_text("{}")
    capsys.readouterr()
    assert main(["pull", "alice/sort-gene", "--registry", reg]) == 1
    err = capsys.readouterr().err
    assert "adapter_config.json differs" in err and "genehub pull alice/sort-gene --repair" in err
    assert main(["pull", "alice/sort-gene", "--registry", reg, "--repair"]) == 0
    assert (installed.path / "adapter_config.json").read_bytes() == (registry_genes.v1 / "adapter_config.json").read_bytes()
    assert main(["verify", "alice/sort-gene"]) == 0


def _run(argv: list[str], env: dict[str, str]) -> tuple[subprocess.CompletedProcess, float]:
    start = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "genehub", *argv], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1]), **env})
    return done, time.monotonic() - start


def test_search_on_an_unreachable_hub_fails_fast_in_one_line():
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    done, seconds = _run(["search", "--registry", "hub"], {"HF_ENDPOINT": f"http://127.0.0.1:{port}"})
    assert done.returncode == 1 and seconds < 20
    assert done.stderr.count("\n") == 1 and "Connection refused" in done.stderr and "HF_ENDPOINT" in done.stderr


def test_search_under_hf_hub_offline_fails_fast_in_one_line():
    done, seconds = _run(["search", "--registry", "hub"], {"HF_HUB_OFFLINE": "1"})
    assert done.returncode == 1 and seconds < 20
    assert done.stderr.count("\n") == 1 and "HF_HUB_OFFLINE is set" in done.stderr
