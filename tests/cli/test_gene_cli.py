"""The gene CLI: keys, trust, sign, verify and card commands, end to end on a tiny real gene."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from _tiny import tiny_gene, tiny_host


@pytest.fixture(scope="module")
def unsigned_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cli-gene")
    return tiny_gene(root / "sort-gene", tiny_host(root / "host"))


@pytest.fixture
def genehub(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture):
    """Run `genehub ...` in-process with only the gene commands, a private config dir, and captured output."""
    import genehub.cli as cli

    monkeypatch.setattr(cli, "_GROUPS", ("gene",))  # independent of the other groups' progress
    monkeypatch.setenv("GENEHUB_CONFIG", str(tmp_path / "config"))

    def run(*argv: str) -> tuple[int, str, str]:
        code = cli.main([str(a) for a in argv])
        out = capsys.readouterr()
        return code, out.out, out.err

    return run


@pytest.fixture
def gene(unsigned_template: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(unsigned_template, tmp_path / "sort-gene"))


def test_keys_sign_verify_trust_flow(genehub, gene: Path, tmp_path: Path) -> None:
    code, out, _ = genehub("keys", "new", "alice")
    assert code == 0 and "genehub trust add alice" in out
    fp = next(line.split()[1] for line in out.splitlines() if line.startswith("fingerprint"))
    assert (tmp_path / "config" / "keys" / "alice.pem").is_file()

    code, _, err = genehub("verify", gene)
    assert code == 1 and err.startswith("error: ") and "is not signed" in err and "genehub sign" in err

    assert genehub("sign", gene, "--key", "alice")[0] == 0
    code, _, err = genehub("verify", gene)
    assert code == 1 and f"signed by key {fp}" in err and "genehub trust add" in err

    code, out, _ = genehub("trust", "add", "alice", tmp_path / "config" / "keys" / "alice.pub")
    assert code == 0 and fp in out
    code, out, _ = genehub("trust", "list", "--json")
    assert [(k["name"], k["fingerprint"]) for k in json.loads(out)] == [("alice", fp)]

    code, out, _ = genehub("verify", gene, "--json")
    assert code == 0
    from genehub.gene.signing import gene_digest

    assert json.loads(out) == {"ok": True, "signer": "alice", "fingerprint": fp, "name": "sort-gene", "version": "0.1.0",
                               "repo_id": "alice/sort-gene", "digest": gene_digest(gene)}

    (gene / "examples.jsonl").write_text('{"prompt": "evil"}\n')
    code, _, err = genehub("verify", gene)
    assert code == 1 and "examples.jsonl differs" in err and "Traceback" not in err

    assert genehub("trust", "remove", "alice")[0] == 0
    code, _, err = genehub("trust", "remove", "alice")
    assert code == 1 and "No trusted key named 'alice'" in err


def test_keys_new_trust_option_and_custom_store(genehub, gene: Path, tmp_path: Path) -> None:
    store = tmp_path / "team-trust"
    assert genehub("keys", "new", "ci", "--trust", "--trust-store", store)[0] == 0
    assert (store / "ci.pub").is_file()
    assert genehub("sign", gene, "--key", "ci")[0] == 0
    assert genehub("verify", gene)[0] == 1  # the default store does not know ci
    code, out, _ = genehub("verify", gene, "--trust-store", store)
    assert code == 0 and out.startswith("OK sort-gene 0.1.0: signed by ci")
    code, _, err = genehub("keys", "new", "ci")
    assert code == 1 and "already exists" in err
    code, _, err = genehub("sign", gene, "--key", "nobody")
    assert code == 1 and "genehub keys new NAME" in err


def test_card_validate_and_show(genehub, gene: Path) -> None:
    code, out, _ = genehub("card", "validate", gene)
    assert code == 0 and out.startswith("valid: sort-gene 0.1.0 (schema 1.0)")
    code, out, _ = genehub("card", "show", gene / "gene.json")
    assert code == 0 and "local/tiny-host" in out and "lora r=4" in out
    code, out, _ = genehub("card", "show", gene, "--json")
    assert json.loads(out) == json.loads((gene / "gene.json").read_text())

    card = json.loads((gene / "gene.json").read_text())
    card["adapter"]["rank"] = 0
    del card["lineage"]["seed"]
    (gene / "gene.json").write_text(json.dumps(card))
    code, _, err = genehub("card", "validate", gene)
    assert code == 1
    assert "invalid: 2 problems in " in err
    assert "$.adapter.rank: 0 is less than the minimum of 1" in err and "$.lineage.seed: is required" in err

    (gene / "gene.json").write_text("{")
    code, _, err = genehub("card", "show", gene)
    assert code == 1 and "is not valid JSON" in err


def test_sign_binds_a_repo_and_refuses_links_in_one_line(genehub, gene: Path, tmp_path: Path) -> None:
    genehub("keys", "new", "alice", "--trust")
    code, out, _ = genehub("sign", gene, "--key", "alice", "--repo-id", "team/sort-gene")
    assert code == 0 and "for team/sort-gene" in out
    code, out, _ = genehub("verify", gene, "--json")
    assert json.loads(out)["repo_id"] == "team/sort-gene"
    code, _, err = genehub("verify", gene, "--repo-id", "alice/sort-gene")
    assert code == 1 and "signed for team/sort-gene, not alice/sort-gene" in err
    (gene / "link.txt").symlink_to(gene / "gene.json")
    readme = (gene / "README.md").read_bytes()
    code, _, err = genehub("sign", gene, "--key", "alice")
    assert code == 1 and err.count("\n") == 1 and "symbolic links (link.txt)" in err and "Traceback" not in err
    assert (gene / "README.md").read_bytes() == readme
    code, _, err = genehub("sign", gene, "--key", "alice", "--password-env", "GENEHUB_NO_SUCH_VAR")
    assert code == 1 and "GENEHUB_NO_SUCH_VAR, which is not set" in err


def test_verify_accepts_an_installed_gene_by_name_or_store_path(genehub, gene: Path, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    import genehub.cli as cli
    from genehub.registry import LocalRegistry, pull, push

    monkeypatch.setattr(cli, "_GROUPS", ("gene", "registry"))
    genehub("keys", "new", "alice", "--trust")
    assert genehub("sign", gene, "--key", "alice")[0] == 0
    reg = LocalRegistry(tmp_path / "registry")
    push(gene, "alice/sort-gene", registry=reg)
    installed = pull("alice/sort-gene", registry=reg)
    current = installed.path.parent / "current"
    assert current.is_symlink()
    for name in ("alice/sort-gene", "sort-gene", str(current)):
        code, out, err = genehub("verify", name)
        assert code == 0 and out.startswith("OK sort-gene 0.1.0: signed by alice") and "alice/sort-gene" in out, err
    code, _, err = genehub("verify", "nobody/nothing")
    assert code == 1 and "neither a directory nor a gene installed" in err and "genehub list" in err
