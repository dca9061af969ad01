"""The one evaluator: the scorers, the encoding rule it shares with every stage, and exact match on
tokenizers of every kind (no pad token, BOS added, chat templates)."""

from __future__ import annotations

import pytest

from genehub.errors import UsageError
from genehub.evaluate import EXACT_MATCH, get_scorer, metric_name, normalize


@pytest.mark.parametrize("spec, prediction, answer, expected", [
    ("exact", "  Paris.  ", "paris", 1.0),
    ("exact", "The capital is\n Paris", "the capital is paris.", 1.0),
    ("exact", "Paris, France", "Paris", 0.0),
    ("contains", "It is Paris, I think.", "paris", 1.0),
    ("contains", "Lyon", "Paris", 0.0),
    (r"regex:\d+ apples?", "12 Apples.", "ignored", 1.0),
    (r"regex:\d+ apples?", "twelve apples", "ignored", 0.0),
])
def test_scorers(spec, prediction, answer, expected):
    scorer = get_scorer(spec)
    assert scorer is not None and scorer.name == spec and metric_name(scorer) == spec
    assert scorer(prediction, answer) == expected


def test_normalize():
    assert normalize("  A  b\tC.  ") == "a b c" and normalize("x..") == "x." and normalize("") == ""


def test_a_users_function_is_a_scorer(tmp_path, monkeypatch):
    (tmp_path / "my_scorers.py").write_text("def overlap(p, a):\n    return len(set(p) & set(a)) / len(set(a))\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    by_module = get_scorer("my_scorers:overlap")
    by_file = get_scorer(f"{tmp_path / 'my_scorers.py'}:overlap")
    assert by_module("abx", "abcd") == by_file("abx", "abcd") == 0.5
    assert get_scorer(None) is None and get_scorer(EXACT_MATCH) is None and metric_name(None) == EXACT_MATCH


@pytest.mark.parametrize("spec, match", [
    ("fuzzy", "Unknown scorer"),
    ("regex:(", "Bad regex"),
    ("no_such_module_xyz:f", "Cannot load the scorer"),
    ("json:no_such_function", "Cannot load the scorer"),
    ("json:__doc__", "not callable"),
])
def test_bad_scorers_are_usage_errors(spec, match):
    with pytest.raises(UsageError, match=match):
        get_scorer(spec)


def test_a_scorer_must_return_a_number():
    scorer = get_scorer(lambda p, a: "yes")
    with pytest.raises(UsageError, match="not a bool or a number"):
        scorer("a", "b")


@pytest.mark.parametrize("kind", ["gpt2", "llama"])
def test_teacher_forced_exact_match_agrees_with_generation(kind, tmp_path):
    """On hosts a user brings (GPT-2's pad-less tokenizer, Llama's BOS), exact match is what greedy
    generation writes, and the ``exact`` scorer agrees with it wherever the answer is stopped at eos."""
    from _byo import tiny_model

    from genehub.evaluate import exact_match, greedy_tokens, reference_rows, scores
    from genehub.hosts import load_host

    model, tokenizer = load_host(tiny_model(kind, tmp_path / kind))
    prompts = ["last of owl:", "hello there.", "abc", "good morning, how are you?"]
    generated = greedy_tokens(model, tokenizer, prompts, max_new_tokens=5)
    # The model's own continuation is exactly what it writes: teacher-forced agreement 1 on every row.
    assert exact_match(model, tokenizer, reference_rows(model, tokenizer, prompts, max_new_tokens=5)) == [True] * 4
    rows = [{"prompt": p, "answer": tokenizer.decode(ids, skip_special_tokens=True)} for p, ids in zip(prompts, generated)]
    stopped = [tokenizer.eos_token_id in ids for ids in generated]
    assert exact_match(model, tokenizer, rows) == stopped  # no stop in 5 tokens: not an exact answer
    assert scores(model, tokenizer, rows, get_scorer("exact"), max_new_tokens=5) == [1.0] * 4
    wrong = [{**r, "answer": r["answer"] + "zz"} for r in rows]
    assert exact_match(model, tokenizer, wrong) == [False] * 4


def test_token_match_counts_the_answer_tokens_greedy_decoding_predicts(tmp_path):
    from _byo import tiny_model

    from genehub.evaluate import exact_match, reference_rows, token_match
    from genehub.hosts import load_host

    model, tokenizer = load_host(tiny_model("llama", tmp_path / "llama"))
    refs = reference_rows(model, tokenizer, ["last of owl:", "hello there.", "abc"], max_new_tokens=6)
    assert token_match(model, tokenizer, refs) == [1.0, 1.0, 1.0]  # its own continuation, every token
    # Replace the last answer token of each row by another: one token of the row is missed, not all.
    changed = [{**r, "answer_ids": [*r["answer_ids"][:-1], (r["answer_ids"][-1] + 1) % len(tokenizer)]} for r in refs]
    got = token_match(model, tokenizer, changed)
    assert got == [pytest.approx(1 - 1 / len(r["answer_ids"])) for r in refs]
    assert exact_match(model, tokenizer, changed) == [False] * 3


def test_one_encoding_rule(tmp_path):
    """BOS is added unless the text starts with it (a rendered chat template), and nothing else is."""
    from _byo import char_tokenizer

    from genehub.evaluate import encode_rows
    from genehub.hosts import encode_prompts, prompt_ids

    llama, gpt2 = char_tokenizer("llama"), char_tokenizer("gpt2")
    bos = llama.bos_token_id
    chat = llama.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=False, add_generation_prompt=True)
    assert chat.startswith("<s>")
    assert prompt_ids(llama, "hi") == [bos, *llama("hi", add_special_tokens=False)["input_ids"]]
    assert prompt_ids(llama, chat).count(bos) == 1 and prompt_ids(llama, chat)[0] == bos
    assert prompt_ids(gpt2, "hi") == gpt2("hi", add_special_tokens=False)["input_ids"]  # GPT-2 adds nothing
    # Every stage's batches start the same way: left-padded prompts, right-padded prompt+answer rows.
    enc = encode_prompts(gpt2, ["hi", "hello"])
    assert gpt2.pad_token is None and enc["input_ids"][0, 0].item() == gpt2.eos_token_id  # pad = eos
    assert enc["attention_mask"].tolist() == [[0, 0, 0, 1, 1], [1, 1, 1, 1, 1]]
    rows = encode_rows(llama, [{"prompt": "hi", "answer": "yo"}, {"prompt": chat, "answer": "x"}])
    assert rows["input_ids"][:, 0].tolist() == [bos, bos] and (rows["input_ids"] == bos).sum() == 2
    labelled = [t for t in rows["labels"][0].tolist() if t != -100]
    assert labelled == [*llama("yo", add_special_tokens=False)["input_ids"], llama.eos_token_id]  # the answer, then eos
