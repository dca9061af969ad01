"""A user's own model and data through every command: extract --data, sign, push, pull, router train, run.

The hosts are built in the test (tests/_byo.py): a GPT-2 (Conv1D layers, no pad token) with plain JSONL
rows, and a Llama (BOS, chat template) with chat ``messages`` rows. Nothing comes from the zoo.
"""

from __future__ import annotations

import json

import pytest

from genehub.cli import main


def _extract(byo, out, *extra):
    return main(["extract", "--donor", str(byo.donor), "--host", str(byo.host), "--data", str(byo.data),
                 "--general", str(byo.general), "--out", str(out), "--steps", "40", "--batch-size", "16",
                 "--license", "MIT", "--json", *extra])


@pytest.fixture(scope="module")
def gpt2_flow(byo_gpt2, tmp_path_factory):
    """The GPT-2 user's gene extracted, signed, pushed to a local registry and pulled back, and a router."""
    from genehub.registry import list_installed

    root = tmp_path_factory.mktemp("flow")
    with pytest.MonkeyPatch.context() as mp:  # the module shares one genehub home (keys, store, registry)
        for var in ("GENEHUB_HOME", "GENEHUB_CONFIG", "HF_HOME"):
            mp.setenv(var, str(root / var.lower()))
        gene = root / "gene"
        assert _extract(byo_gpt2, gene, "--host-repo-id", "me/tiny-gpt2", "--scorer", "exact") == 0
        assert main(["keys", "new", "me", "--trust"]) == 0
        assert main(["sign", str(gene), "--key", "me"]) == 0
        registry = str(root / "registry")
        assert main(["push", str(gene), "me/last-letter-gene", "--registry", registry]) == 0
        assert main(["pull", "me/last-letter-gene", "--host", str(byo_gpt2.host), "--registry", registry]) == 0
        (installed,) = list_installed()
        router = root / "router"
        assert main(["router", "train", "--host", str(byo_gpt2.host), "--genes", str(installed.path),
                     "--general", str(byo_gpt2.general), "--out", str(router)]) == 0
        yield {"gene": gene, "installed": installed.path, "router": router}


def test_extract_on_a_users_gpt2_with_a_users_jsonl(byo_gpt2, gpt2_flow):
    from genehub.gene import Gene

    gene = Gene.load(gpt2_flow["gene"])
    card = gene.card
    # The user's data, the user's general prompts, nothing of the zoo.
    assert gene.skill == "last-letter" and set(card["fidelity"]["other_skills"]) == {"general"}
    assert card["fidelity"]["metric"] == "exact"
    assert card["host"]["repo_id"] == "me/tiny-gpt2" and card["host"]["architecture"] == "GPT2LMHeadModel"
    assert card["adapter"]["target_modules"] and set(card["adapter"]["target_modules"]) <= {"c_attn", "c_proj", "c_fc"}
    assert card["extra"]["lorafy"]["homology_contrast"] == "other prompts"
    # The donor learned the task and the gene carries some of it; the bare host agrees with itself.
    assert card["fidelity"]["skill"]["donor"] > card["fidelity"]["skill"]["host"]
    assert card["fidelity"]["other_skills"]["general"]["host"] == pytest.approx(1.0)
    rows = gene.examples()
    assert rows and all(set(r) == {"prompt", "answer", "text"} for r in rows)
    readme = (gpt2_flow["gene"] / "README.md").read_text()
    assert 'from_pretrained("me/tiny-gpt2")' in readme and "base_model: me/tiny-gpt2" in readme


def test_run_on_gpt2_expresses_the_gene_for_skill_prompts_and_the_bare_host_otherwise(byo_gpt2, gpt2_flow, capsys):
    from peft import PeftModel

    from genehub.evaluate import greedy_answers
    from genehub.hosts import load_host

    general = ["hello there.", "good morning!", "i like tea."]
    prompts = byo_gpt2.skill_prompts + general
    capsys.readouterr()
    assert main(["run", "--host", str(byo_gpt2.host), "--genes", str(gpt2_flow["installed"]), "--router",
                 str(gpt2_flow["router"]), "--json", "--max-new-tokens", "6", "--", *prompts]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["gene"] for r in rows] == ["last-letter-gene"] * 3 + ["none"] * 3

    model, tokenizer = load_host(byo_gpt2.host)
    bare = greedy_answers(model, tokenizer, general, max_new_tokens=6)
    gene = PeftModel.from_pretrained(model, str(gpt2_flow["installed"])).eval()
    own = greedy_answers(gene, tokenizer, byo_gpt2.skill_prompts, max_new_tokens=6)
    assert [r["output"] for r in rows] == own + bare


def test_llama_with_chat_messages_rows(byo_llama, tmp_path, capsys):
    from genehub.gene import Gene

    assert _extract(byo_llama, tmp_path / "g") == 0
    card = json.loads(capsys.readouterr().out)
    gene = Gene.load(tmp_path / "g")
    assert card["fidelity"]["metric"] == "exact_match" and set(card["fidelity"]["other_skills"]) == {"general"}
    row = gene.examples()[0]
    # The chat template rendered the prompt (with its BOS); the request the user wrote is kept as text.
    assert row["prompt"].startswith("<s><user>") and row["prompt"].endswith("|<assistant>")
    assert row["text"] in row["prompt"] and not row["text"].startswith("<")
    readme = (tmp_path / "g" / "README.md").read_text()
    # A folder with no Hub id: the README says so and how to record one.
    assert gene.host.repo_id == "local/host" and "--host-repo-id" in readme
    assert 'from_pretrained("local/host")' not in readme


def test_csv_with_named_columns_and_parquet_other_skills(byo_llama, tmp_path, capsys):
    """A CSV whose columns are named by the options, prompts wrapped in the chat template with --chat, and
    another skill of the user's as a Parquet file: preserved and reported beside the general prompts."""
    import pandas as pd

    from _byo import skill_rows

    rows = skill_rows()
    pd.DataFrame([{"question": r["prompt"], "reply": r["completion"]} for r in rows]).to_csv(tmp_path / "qa.csv",
                                                                                          index=False)
    pd.DataFrame([{"question": f"copy {w}:", "reply": w} for w in ("abc", "fig", "owl", "zip", "yak")] * 4).to_parquet(
        tmp_path / "copy.parquet")
    assert main(["extract", "--donor", str(byo_llama.donor), "--host", str(byo_llama.host), "--data",
                 str(tmp_path / "qa.csv"), "--skill", "last-letter", "--prompt-column", "question",
                 "--completion-column", "reply", "--chat", "--other-skills", str(tmp_path / "copy.parquet"),
                 "--general", str(byo_llama.general), "--scorer", "contains", "--steps", "5", "--batch-size", "8",
                 "--license", "MIT", "--out", str(tmp_path / "g"), "--json"]) == 0
    card = json.loads(capsys.readouterr().out)
    assert card["fidelity"]["metric"] == "contains" and set(card["fidelity"]["other_skills"]) == {"copy", "general"}
    example = json.loads((tmp_path / "g" / "examples.jsonl").read_text().splitlines()[0])
    assert example["prompt"] == f"<s><user>{example['text']}|<assistant>"


def test_router_on_a_users_host_needs_its_general_prompts(byo_gpt2, tmp_path, capsys):
    assert main(["router", "train", "--host", str(byo_gpt2.host), "--genes", str(tmp_path), "--out",
                 str(tmp_path / "r")]) == 1
    (err,) = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert "--general FILE" in err


def test_gpt2_tokenizer_has_no_pad_token(byo_gpt2):
    from transformers import AutoTokenizer

    assert AutoTokenizer.from_pretrained(byo_gpt2.host).pad_token is None  # what the flow above ran on
