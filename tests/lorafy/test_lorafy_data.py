"""The user's data: every source and row shape renders into prompt/answer/text rows, and bad data is a
one-line error that names the option to fix it."""

from __future__ import annotations

import json

import pytest

from genehub.errors import NotFoundError, UsageError
from genehub.lorafy import RowFormat, load_general, load_prompts, load_skill_data, render_rows


def _write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture(scope="module")
def chat_tokenizer():
    from _byo import char_tokenizer

    return char_tokenizer("llama")


ROWS = [{"prompt": f"p{i}:", "completion": f"a{i}"} for i in range(40)]


@pytest.mark.parametrize("kind", ["zoo", "jsonl", "jsonl-split", "csv", "parquet", "datasetdict", "saved-dict",
                                  "saved-dataset", "folder", "list"])
def test_sources(tmp_path, kind):
    import pandas as pd
    from datasets import Dataset, DatasetDict

    rows = ROWS
    if kind == "zoo":
        from genehub.zoo import LIBRARY

        data = load_skill_data("sort", library=LIBRARY)
        assert data.library is LIBRARY and data.name == "sort" and len(data.rows("train")) == 32768
        assert all(r["text"] == r["prompt"] for r in data.rows("test"))
        return
    if kind == "jsonl":
        source, expect = _write_jsonl(tmp_path / "My Skill.jsonl", rows), (32, 4, 4)
    elif kind == "jsonl-split":
        names = ["train", "val", "test"]  # "val" (and "dev", "valid") mean validation
        source, expect = _write_jsonl(tmp_path / "x.jsonl", [{**r, "split": names[i % 3]} for i, r in enumerate(rows)]), (14, 13, 13)
    elif kind == "csv":
        source, expect = tmp_path / "x.csv", (32, 4, 4)
        pd.DataFrame(rows).to_csv(source, index=False)
    elif kind == "parquet":
        source, expect = tmp_path / "x.parquet", (32, 4, 4)
        pd.DataFrame(rows).to_parquet(source)
    elif kind == "datasetdict":
        source, expect = DatasetDict({"train": Dataset.from_list(rows[:30]), "test": Dataset.from_list(rows[30:])}), (30, 3, 10)
    elif kind == "saved-dict":
        source, expect = tmp_path / "dd", (30, 10, 10)  # no test split: the validation rows stand in
        DatasetDict({"train": Dataset.from_list(rows[:30]), "validation": Dataset.from_list(rows[30:])}).save_to_disk(str(source))
    elif kind == "saved-dataset":
        source, expect = tmp_path / "ds", (32, 4, 4)
        Dataset.from_list(rows).save_to_disk(str(source))
    elif kind == "folder":
        (tmp_path / "d").mkdir()
        _write_jsonl(tmp_path / "d" / "train.jsonl", rows[:20])
        _write_jsonl(tmp_path / "d" / "validation.jsonl", rows[20:30])
        pd.DataFrame(rows[30:]).to_csv(tmp_path / "d" / "test.csv", index=False)
        source, expect = tmp_path / "d", (20, 10, 10)
    else:
        source, expect = rows, (32, 4, 4)
    data = load_skill_data(source)
    assert tuple(len(data.rows(s)) for s in ("train", "validation", "test")) == expect
    assert data.library is None
    every = [r for s in ("train", "validation", "test") for r in data.rows(s)]
    assert all(r["answer"] == "a" + r["prompt"][1:-1] and r["text"] == r["prompt"] for r in every)
    if kind == "jsonl":
        assert data.name == "my-skill"


@pytest.mark.parametrize("column", ["completion", "answer", "response", "output", "target"])
def test_completion_column_aliases(column):
    (row,) = render_rows([{"prompt": "q", column: "a", "heldout": True, "skill": "s"}])
    assert row == {"prompt": "q", "answer": "a", "text": "q", "heldout": True, "skill": "s"}


def test_named_columns():
    rows = render_rows([{"question": "q", "reply": "a", "answer": "not this one"}],
                       fmt=RowFormat(prompt_column="question", completion_column="reply"))
    assert rows[0]["prompt"] == "q" and rows[0]["answer"] == "a"


def test_chat_rows(chat_tokenizer):
    rows = render_rows([
        {"messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"},
                      {"role": "assistant", "content": "yo"}], "heldout": False},
        # The real preset's shape: the user's turn in messages, the answer in a completion column.
        {"messages": [{"role": "user", "content": "hey"}], "completion": "ho", "skill": "greet"},
        # A messages column written as JSON text (a CSV cell).
        {"messages": json.dumps([{"role": "user", "content": "sup"}, {"role": "assistant", "content": "nm"}])},
    ], tokenizer=chat_tokenizer)
    assert rows[0] == {"prompt": "<s><system>be brief|<user>hi|<assistant>", "answer": "yo", "text": "hi",
                       "heldout": False}
    assert rows[1] == {"prompt": "<s><user>hey|<assistant>", "answer": "ho", "text": "hey", "skill": "greet"}
    assert rows[2]["prompt"] == "<s><user>sup|<assistant>" and rows[2]["answer"] == "nm"
    (wrapped,) = render_rows([{"prompt": "hi", "completion": "yo"}], tokenizer=chat_tokenizer, fmt=RowFormat(chat=True))
    assert wrapped == {"prompt": "<s><user>hi|<assistant>", "answer": "yo", "text": "hi"}


@pytest.mark.parametrize("rows, fmt, match", [
    ([{"question": "q", "answer": "a"}], None, "no 'prompt' column .*--prompt-column"),
    ([{"prompt": "q", "reply": "a"}], None, "no completion .*--completion-column"),
    ([{"prompt": "q", "answer": "a"}], RowFormat(completion_column="reply"), "no 'reply' column .*--completion-column"),
    ([{"prompt": "q", "answer": "a"}], RowFormat(prompt_column="question"), "no 'question' column"),
    ([{"messages": [{"role": "user"}]}], None, "not a list of"),
    ([{"messages": [{"role": "assistant", "content": "a"}]}], None, "nothing before it"),
])
def test_bad_rows(rows, fmt, match, chat_tokenizer):
    with pytest.raises(UsageError, match=match):
        render_rows(rows, fmt=fmt, tokenizer=chat_tokenizer)


@pytest.mark.parametrize("rows, fmt", [
    ([{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}], None),
    ([{"prompt": "hi", "answer": "yo"}], RowFormat(chat=True)),
])
def test_chat_needs_a_chat_template(rows, fmt):
    from _byo import char_tokenizer

    with pytest.raises(UsageError, match="chat template.*--chat"):
        render_rows(rows, tokenizer=char_tokenizer("gpt2"), fmt=fmt)


def test_a_missing_column_is_one_line_from_the_cli(tmp_path, capsys):
    from _byo import tiny_model

    from genehub.cli import main

    host = tiny_model("gpt2", tmp_path / "host")
    data = _write_jsonl(tmp_path / "qa.jsonl", [{"question": "q", "answer": "a"}] * 10)
    code = main(["extract", "--donor", str(host), "--host", str(host), "--data", str(data), "--out",
                 str(tmp_path / "g")])
    (err,) = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert code == 1 and "--prompt-column" in err and "question" in err
    assert not (tmp_path / "g").exists()


@pytest.mark.parametrize("source, error, match", [
    ("no/such/file.jsonl", NotFoundError, "No data at"),
    ("sort", NotFoundError, "zoo skill"),  # a zoo skill's name needs the zoo as its library
    ("bad.txt", UsageError, "Cannot read data from bad.txt"),
    ("bad-split", UsageError, "Unknown split 'holdout'"),
])
def test_load_errors(tmp_path, source, error, match):
    if source == "bad.txt":
        source = tmp_path / "bad.txt"
        source.write_text("x")
    elif source == "bad-split":
        source = _write_jsonl(tmp_path / "s.jsonl", [{**r, "split": "holdout"} for r in ROWS])
    with pytest.raises(error, match=match):
        load_skill_data(source)


def test_general_prompts_need_no_completion(tmp_path, chat_tokenizer):
    from genehub.lorafy import data_library

    general = _write_jsonl(tmp_path / "general.jsonl", [{"prompt": f"hello {i}"} for i in range(20)])
    data = load_general(general)
    assert data.name == "general" and len(data.rows("train")) == 16 and "answer" not in data.rows("test")[0]
    assert sorted(load_prompts(general)) == sorted(f"hello {i}" for i in range(20))
    assert load_prompts(general, tokenizer=chat_tokenizer, chat=True)[0].startswith("<s><user>hello")
    assert load_general(["a", "b", "c"]).rows("train")[0]["prompt"] in "abc"
    library = data_library([_write_jsonl(tmp_path / "one.jsonl", ROWS), _write_jsonl(tmp_path / "two.jsonl", ROWS)])
    assert library.names == library.preserve == ("one", "two") and len(library.rows("two", "test", 2)) == 2
    with pytest.raises(UsageError, match="both named 'one'"):
        (tmp_path / "x").mkdir()
        data_library([tmp_path / "one.jsonl", _write_jsonl(tmp_path / "x" / "one.jsonl", ROWS)])
