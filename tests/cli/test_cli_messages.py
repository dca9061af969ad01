"""What a user reads from the CLI, by subprocess as they run it: mistakes are one line that says what was
understood and what to do, pull and run agree on a host, and output is free of other libraries' noise.

(The Hub that is offline or unreachable failing fast in one line is tested in test_registry_cli.py.)
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import termios
import threading
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
HETEROLOGOUS_REASON = "host: the gene was made for 'genehub-zoo/tiny-host'"


def genehub(*args: Any, env: dict[str, str] | None = None, stderr: Any = subprocess.PIPE,
            timeout: int = 300) -> subprocess.CompletedProcess:
    """``python -m genehub ARGS`` from the checkout, as a user runs it (this test's genehub home and config)."""
    return subprocess.run([sys.executable, "-m", "genehub", *map(str, args)], cwd=ROOT, stdout=subprocess.PIPE,
                          stderr=stderr, text=True, timeout=timeout,
                          env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})})


def one_line_error(done: subprocess.CompletedProcess) -> str:
    """The single ``error: ...`` line a failed command printed (and nothing else on stderr)."""
    assert done.returncode == 1, (done.returncode, done.stdout, done.stderr)
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    assert "Traceback" not in done.stderr
    return lines[0]


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory, zoo_genes: dict[str, Path]) -> dict[str, Path]:
    """The zoo's sort gene signed by alice as zoo/sort-gene in a local registry, and a config that trusts alice."""
    from genehub.gene import TrustStore, new_key, sign_gene
    from genehub.registry import LocalRegistry, push

    root = tmp_path_factory.mktemp("cli-published")
    key = new_key("alice", directory=root / "keys")
    gene = Path(shutil.copytree(zoo_genes["sort"], root / "sort-gene"))
    sign_gene(gene, key=key.private, repo_id="zoo/sort-gene")
    TrustStore(root / "config" / "trust").add("alice", key.public)
    registry = LocalRegistry(root / "registry")
    push(gene, "zoo/sort-gene", registry=registry, trust=TrustStore(root / "config" / "trust"))
    return {"gene": gene, "registry": registry.root, "config": root / "config"}


# ---- a mistyped registry: say how it was read --------------------------------------------------------------

@pytest.mark.parametrize("argv, said", [
    (["search", "--registry", "htp:/bad"], "'htp:/bad' looks like a URL with the scheme `htp:`, which genehub does not read"),
    (["pull", "zoo/sort-gene", "--registry", "htp:/bad"], "'htp:/bad' looks like a URL with the scheme `htp:`"),
    (["search", "--registry", "https:/hub.example.org"], "the https: URL 'https:/hub.example.org' lacks the `//`"),
    (["space", "--registry", "htp:/bad"], "'htp:/bad' looks like a URL with the scheme `htp:`"),  # the Space agrees
])
def test_a_mistyped_registry_url_is_refused_as_a_url(argv: list[str], said: str) -> None:
    line = one_line_error(genehub(*argv))
    assert said in line and "Pass `local`, `hub`, an http:// or https:// URL" in line


def test_a_registry_folder_that_does_not_exist_is_named_as_one(tmp_path: Path) -> None:
    done = genehub("search", "--registry", tmp_path / "nowhere")
    assert done.returncode == 0 and done.stderr == ""
    assert done.stdout.strip() == f"No genes found in the local registry {tmp_path / 'nowhere'}, a folder that does not exist."


# ---- genehub run: prompts -----------------------------------------------------------------------------------

@pytest.mark.parametrize("prompts, said", [
    (["--file", "/nonexistent.txt"], "--file /nonexistent.txt: no such file."),
    (["--file", "{folder}"], "--file {folder} is a folder."),
    ([""], "Prompt 1 is empty"),
    (["sort ab:", "  "], "Prompt 2 is empty"),
])
def test_run_prompt_mistakes_are_one_line(tiny_zoo, zoo_genes, tmp_path: Path, prompts: list[str], said: str) -> None:
    prompts = [p.format(folder=tmp_path) for p in prompts]
    line = one_line_error(genehub("run", *prompts, "--host", tiny_zoo.host, "--genes", zoo_genes["sort"]))
    assert said.format(folder=tmp_path) in line


# ---- pull and run agree on the host ----------------------------------------------------------------------

def test_pull_and_run_refuse_a_heterologous_host_for_the_same_reason(tiny_zoo, published: dict[str, Path]) -> None:
    env = {"GENEHUB_CONFIG": str(published["config"])}
    pulled = one_line_error(genehub("pull", "zoo/sort-gene", "--registry", published["registry"],
                                    "--host", tiny_zoo.heterologous, env=env))
    ran = one_line_error(genehub("run", "sort dcba:", "--host", tiny_zoo.heterologous, "--genes", published["gene"]))
    reason = re.search(r"host: the gene was made for .*? but the host is .*? at '[^']+'", pulled).group(0)
    assert reason.startswith(HETEROLOGOUS_REASON) and reason in ran  # one check, one reason
    assert "does not fit host genehub-zoo/tiny-heterologous" in pulled
    assert json.loads(genehub("list", "--json", env=env).stdout) == []  # nothing was installed
    done = genehub("pull", "zoo/sort-gene", "--registry", published["registry"], "--host", tiny_zoo.host, env=env)
    assert done.returncode == 0 and done.stdout.startswith("installed zoo/sort-gene@"), done.stderr


def test_offline_means_no_network_not_no_registry(published: dict[str, Path]) -> None:
    env = {"GENEHUB_CONFIG": str(published["config"]), "HF_HUB_OFFLINE": "1"}
    done = genehub("pull", "zoo/sort-gene", "--registry", published["registry"], env=env)
    assert done.returncode == 0 and "signed by alice" in done.stdout, done.stderr
    assert done.stderr == ""


# ---- card validate ----------------------------------------------------------------------------------------

def test_card_validate_lists_each_missing_field_once(tmp_path: Path, zoo_genes: dict[str, Path]) -> None:
    card = json.loads((zoo_genes["sort"] / "gene.json").read_text())
    missing = sorted(card)[:-1]  # every required field but one
    (tmp_path / "gene.json").write_text(json.dumps({k: v for k, v in card.items() if k not in missing}))
    done = genehub("card", "validate", tmp_path)
    assert done.returncode == 1
    lines = done.stderr.splitlines()
    assert lines[0] == f"invalid: {len(missing)} problems in {tmp_path}"
    assert sorted(lines[1:]) == sorted(f"  $.{name}: is required but missing" for name in missing)


# ---- noise -----------------------------------------------------------------------------------------------

def test_loading_models_prints_no_bar_and_no_warning(tiny_zoo, zoo_genes: dict[str, Path]) -> None:
    done = genehub("run", "sort dcba:", "--host", tiny_zoo.host, "--genes", zoo_genes["sort"], "--json")
    assert done.returncode == 0 and json.loads(done.stdout)[0]["gene"] == "sort-gene"
    assert done.stderr == ""  # no "Loading weights" bar, no FutureWarning from transformers


def test_router_show_prints_rounded_measurements(tiny_zoo, zoo_genes: dict[str, Path], tmp_path: Path) -> None:
    trained = genehub("router", "train", "--host", tiny_zoo.host, "--genes", zoo_genes["sort"], zoo_genes["upper"],
                      "--out", tmp_path / "router")
    assert trained.returncode == 0 and trained.stderr == "", trained.stderr
    shown = genehub("router", "show", tmp_path / "router")
    assert shown.returncode == 0
    config = json.loads((tmp_path / "router" / "router.json").read_text())
    accuracy = config["accuracy"]
    line = next(x for x in shown.stdout.splitlines() if x.startswith("accuracy"))
    assert f"validation {accuracy['validation']:.3f} ({accuracy['num_validation']} prompts)" in line
    assert ("held-out" in line) == (accuracy["heldout"] is not None)
    for text in (shown.stdout, trained.stdout):
        assert "None" not in text and not re.search(r"\d\.\d{4,}", text), text


# ---- progress bars ------------------------------------------------------------------------------------------

EXTRACT = ["extract", "--skill", "sort", "--steps", "3", "--n-preserve", "16", "--other-skills", "copy"]
STAGES = ("circuit", "homology", "causal check", "distil", "fidelity")


def test_progress_bars_on_a_terminal_and_none_in_a_file(tiny_zoo, tmp_path: Path) -> None:
    args = [*EXTRACT, "--donor", tiny_zoo.donors["sort"], "--host", tiny_zoo.host]
    # stderr to a file: the stage lines only, no bar redraws (\r) or cursor moves (ESC[A)
    with open(tmp_path / "stderr.txt", "w") as log:
        done = genehub(*args, "--out", tmp_path / "gene-file", stderr=log)
    assert done.returncode == 0
    logged = (tmp_path / "stderr.txt").read_text()
    assert "[extract] circuit:" in logged and "[extract] fidelity:" in logged
    assert "\r" not in logged and "\x1b[" not in logged and "%|" not in logged
    # stderr a terminal: a bar per stage, each run to the end
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    chunks: list[bytes] = []

    def read() -> None:
        while True:
            try:
                data = os.read(master, 4096)
            except OSError:
                return
            if not data:
                return
            chunks.append(data)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        done = genehub(*args, "--out", tmp_path / "gene-tty", stderr=slave)
    finally:
        os.close(slave)
        reader.join(timeout=10)
        os.close(master)
    shown = b"".join(chunks).decode(errors="replace")
    assert done.returncode == 0, shown[-2000:]
    for stage in STAGES:
        assert re.search(rf"{stage}: 100%\|", shown), (stage, shown[-2000:])
