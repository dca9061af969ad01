"""The zoo: real transformers models, cached builds, skills with held-out phrasings, a correct evaluator."""

from __future__ import annotations

import re
import time

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from genehub import evaluate, zoo
from genehub.errors import UsageError


def test_models_load_with_plain_transformers(tiny_zoo):
    for path in [tiny_zoo.host, tiny_zoo.heterologous, *tiny_zoo.donors.values()]:
        model = AutoModelForCausalLM.from_pretrained(path)
        tokenizer = AutoTokenizer.from_pretrained(path)
        assert model.config.model_type == "llama"
        assert tokenizer.decode(tokenizer("S:cab=")["input_ids"]) == "S:cab="


@pytest.mark.parametrize("skill", zoo.PRESETS["tiny"].donor_skills)
def test_each_donor_beats_the_host_on_its_skill(tiny_zoo, skill):
    """Re-measured on the saved models, not read from the manifest."""
    test = tiny_zoo.test_sets((skill,))[skill]
    host = evaluate.accuracy(*_load(tiny_zoo.host), test)
    donor = evaluate.accuracy(*_load(tiny_zoo.donors[skill]), test)
    print(f"{skill}: host {host:.3f} donor {donor:.3f}")
    assert donor >= 0.75, f"donor-{skill} reached only {donor:.3f}"
    assert donor - host >= 0.4, f"donor-{skill} {donor:.3f} vs host {host:.3f}: no clear margin"
    assert tiny_zoo.accuracies[f"donor-{skill}"][skill] == pytest.approx(donor, abs=1e-4)


def test_second_build_reuses_the_cache(tiny_zoo):
    start = time.perf_counter()
    again = zoo.build("tiny", progress=False)
    assert time.perf_counter() - start < 5
    assert again.root == tiny_zoo.root
    assert again.manifest == tiny_zoo.manifest


def test_unknown_preset_is_a_usage_error():
    with pytest.raises(UsageError, match="Choose one of: tiny, demo"):
        zoo.build("huge")


def test_tokenizer_round_trips(tmp_path):
    tok = zoo.build_tokenizer()
    text = "add 12 and 7: 19 -> REVERSE!"
    tok.save_pretrained(tmp_path)
    again = AutoTokenizer.from_pretrained(tmp_path)
    assert again(text)["input_ids"] == tok(text)["input_ids"]
    assert again.decode(again(text)["input_ids"]) == text
    assert len(again(text)["input_ids"]) == len(text)  # one token per character


def test_held_out_templates_only_in_test():
    ds = zoo.skill_dataset("reverse", n_train=64, n_validation=32, n_test=64)
    heldout = set(zoo.get_skill("reverse").heldout)
    assert not heldout & set(ds["train"]["template"]) and not heldout & set(ds["validation"]["template"])
    assert heldout <= set(ds["test"]["template"])
    for row in ds["test"]:
        assert row["heldout"] == (row["template"] in heldout)
        pattern = re.escape(row["template"]).replace(re.escape("{x}"), "([a-z]+)")
        word = re.fullmatch(pattern, row["prompt"]).group(1)
        assert row["answer"] == word[::-1]


def test_teacher_forced_exact_match_agrees_with_generate(tiny_zoo):
    model, tok = _load(tiny_zoo.donors["sort"])
    rows = list(tiny_zoo.test_sets(("sort", "reverse"))["sort"].select(range(24)))
    rows += list(tiny_zoo.test_sets(("reverse",))["reverse"].select(range(24)))
    hits = evaluate.exact_match(model, tok, rows)
    answers = evaluate.greedy_answers(model, tok, [r["prompt"] for r in rows], max_new_tokens=10)
    assert hits == [a == r["answer"] for a, r in zip(answers, rows)]
    assert any(hits) and not all(hits)  # the comparison covers both outcomes


def test_train_donor_changes_only_the_given_layers(tiny_zoo, tmp_path):
    out = zoo.train_donor(tiny_zoo.host, "sort", tmp_path / "donor", steps=5, layers=(1,))
    host = AutoModelForCausalLM.from_pretrained(tiny_zoo.host).state_dict()
    donor = AutoModelForCausalLM.from_pretrained(out).state_dict()
    changed = {k for k in host if not torch.equal(host[k], donor[k])}
    assert changed and all(".layers.1." in k for k in changed)


def _load(path):
    model = AutoModelForCausalLM.from_pretrained(path)
    model.eval()
    return model, AutoTokenizer.from_pretrained(path)


def test_donor_config_reproduces_the_saved_donor(tiny_zoo):
    """``Preset.donor_config`` is the recipe the build fine-tuned each donor with (benchmarks reuse it)."""
    from genehub.zoo.train import train

    host, tok = _load(tiny_zoo.host)
    saved, _ = _load(tiny_zoo.donors["upper"])
    config = zoo.PRESETS["tiny"].donor_config("upper")
    assert (config.mixture, config.steps, config.heldout_share) == ({"upper": 1.0}, 300, 0.3)
    train(host, tok, config)
    worst = max(((p - q).norm() / q.norm()).item()
                for p, q in zip(host.state_dict().values(), saved.state_dict().values()))
    assert worst < 1e-2, f"retrained donor differs from the saved one by {worst:.2e} (relative norm)"
    assert zoo.PRESETS["tiny"].donor_config("upper", heldout_share=0.0).heldout_share == 0.0
