"""`genehub card init`: a plain PEFT LoRA made elsewhere becomes a gene with a measured card, which signs,
verifies and composes like any other; an adapter that is not for the host, or not safetensors, is refused."""

from __future__ import annotations

import json
import random

import pytest

from genehub.cli import main


def _train_lora(byo, out, *, steps=40, modules=("q_proj", "v_proj", "down_proj")):
    """What a user does with their own tools: a LoRA fine-tuned with plain PEFT, saved with save_pretrained."""
    import torch
    from peft import LoraConfig, get_peft_model

    from genehub.evaluate import encode_rows
    from genehub.hosts import load_host
    from genehub.lorafy import load_skill_data

    model, tokenizer = load_host(byo.host)
    rows = load_skill_data(byo.data, tokenizer=tokenizer).rows("train")
    torch.manual_seed(0)
    peft = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, target_modules=list(modules)))
    optim = torch.optim.AdamW([p for n, p in peft.named_parameters() if "lora_" in n], lr=1e-2)
    rng = random.Random(0)
    for _ in range(steps):
        peft(**encode_rows(tokenizer, rng.sample(rows, 16))).loss.backward()
        optim.step()
        optim.zero_grad()
    peft.save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def adopted(byo_llama, tmp_path_factory):
    root = tmp_path_factory.mktemp("adopt")
    lora = _train_lora(byo_llama, root / "my-lora")
    gene = root / "gene"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_HOME", str(root / "hf"))
        assert main(["card", "init", str(lora), "--host", str(byo_llama.host), "--data", str(byo_llama.data),
                     "--general", str(byo_llama.general), "--scorer", "exact", "--license", "MIT",
                     "--adapter-repo-id", "someone/my-lora", "--out", str(gene)]) == 0
    return lora, gene


def test_the_card_of_an_adopted_lora(adopted):
    from genehub.gene import Gene
    from genehub.hosts import describe_host

    lora, path = adopted
    gene = Gene.load(path)
    card = gene.card
    assert [(p.role, p.repo_id) for p in gene.parents] == [("host", gene.host.repo_id), ("adapter", "someone/my-lora")]
    assert card["fidelity"]["skill"]["donor"] is None and card["fidelity"]["metric"] == "exact"
    assert card["fidelity"]["skill"]["gene"] > card["fidelity"]["skill"]["host"]  # the LoRA learned something
    assert set(card["fidelity"]["other_skills"]) == {"general"}
    assert card["adapter"]["layers"] == [0, 1] and card["adapter"]["target_modules"] == ["down_proj", "q_proj", "v_proj"]
    assert card["adapter"]["rank"] == 8 and card["circuit"]["method"] == "adapter"
    assert 0 <= card["homology"]["aggregate"] <= 1 and card["lineage"]["recipe"] == "genehub.lorafy.adopt"
    assert card["host"] == describe_host(json.loads((lora / "adapter_config.json").read_text())["base_model_name_or_path"]
                                         ).to_dict()
    # The adapter's weights are the gene's, byte for byte.
    assert (path / "adapter_model.safetensors").read_bytes() == (lora / "adapter_model.safetensors").read_bytes()


def test_an_adopted_gene_signs_verifies_and_composes(adopted, byo_llama, capsys):
    from peft import PeftModel

    from genehub.evaluate import greedy_answers
    from genehub.hosts import load_host
    from genehub.routing import compose

    _, path = adopted
    assert main(["keys", "new", "me", "--trust"]) == 0
    assert main(["sign", str(path), "--key", "me"]) == 0
    assert main(["verify", str(path)]) == 0
    assert "signed by me" in capsys.readouterr().out
    prompts = byo_llama.skill_prompts
    comp = compose(byo_llama.host, [path], none_prompts=["<s><user>hello|<assistant>"] * 8)
    composed = [g.text for g in comp.generate(prompts, genes=["last-letter-gene"] * 3, max_new_tokens=4)]
    model, tokenizer = load_host(byo_llama.host)
    assert composed == greedy_answers(PeftModel.from_pretrained(model, str(path)), tokenizer, prompts, max_new_tokens=4)


def test_an_adapter_for_another_host_is_refused(byo_gpt2, byo_llama, tmp_path, capsys):
    lora = _train_lora(byo_gpt2, tmp_path / "gpt2-lora", steps=1, modules=("c_attn",))
    code = main(["card", "init", str(lora), "--host", str(byo_llama.host), "--data", str(byo_llama.data),
                 "--license", "MIT", "--out", str(tmp_path / "g")])
    (err,) = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert code == 1 and "does not fit host local/host" in err and not (tmp_path / "g").exists()


@pytest.mark.parametrize("case, match", [("pickle", "no adapter_model.safetensors"), ("prefix", "not a LoRA"),
                                         ("empty", "not a PEFT adapter folder")])
def test_adapters_that_are_no_lora_folder_are_refused(byo_llama, tmp_path, capsys, case, match):
    folder = tmp_path / "a"
    folder.mkdir()
    if case != "empty":
        config = {"peft_type": "PREFIX_TUNING" if case == "prefix" else "LORA", "r": 4}
        (folder / "adapter_config.json").write_text(json.dumps(config))
    if case == "pickle":
        (folder / "adapter_model.bin").write_bytes(b"not loaded")
    else:
        (folder / "adapter_model.safetensors").write_bytes(b"")
    code = main(["card", "init", str(folder), "--host", str(byo_llama.host), "--data", str(byo_llama.data),
                 "--out", str(tmp_path / "g")])
    (err,) = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert code == 1 and match in err
