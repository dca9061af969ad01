"""write_gene: a PEFT adapter + examples + a card whose digests and sizes are computed from the files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from _tiny import EXAMPLES, tiny_host, tiny_host_info, tiny_lora
from genehub.errors import CardValidationError, NotFoundError, UnsafeFileError, UsageError
from genehub.gene import example_card, file_digest, load_card, write_gene


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_host(tmp_path_factory.mktemp("write") / "host")


@pytest.fixture(scope="module")
def peft_model(host: Path):
    return tiny_lora(host, rank=2)


def test_write_gene_from_peft_model(tmp_path: Path, host: Path, peft_model) -> None:
    card = example_card(tiny_host_info(host), name="sort-gene", skill="sort", rank=2, alpha=4.0)
    del card["adapter"]["target_modules"]  # left out: filled from adapter_config.json
    snapshot = json.dumps(card, sort_keys=True)
    gene = write_gene(tmp_path / "g", peft_model_or_adapter_dir=peft_model, card=card, examples=EXAMPLES)
    assert json.dumps(card, sort_keys=True) == snapshot  # the caller's dict is untouched
    assert sorted(p.name for p in gene.iterdir()) == [
        "README.md", "adapter_config.json", "adapter_model.safetensors", "examples.jsonl", "gene.json"]
    written = load_card(gene)
    assert written["files"] == {name: file_digest(gene / name)
                                for name in ("adapter_config.json", "adapter_model.safetensors", "examples.jsonl")}
    assert written["adapter"]["size_bytes"] == (gene / "adapter_model.safetensors").stat().st_size > 0
    assert written["adapter"]["target_modules"] == ["q_proj", "v_proj"]
    assert [json.loads(line) for line in (gene / "examples.jsonl").read_text().splitlines()] == EXAMPLES
    readme = (gene / "README.md").read_text()
    assert readme.startswith("---\n") and "base_model_relation: adapter" in readme and "Not signed yet" in readme


def test_write_gene_from_adapter_dir(tmp_path: Path, host: Path, peft_model) -> None:
    peft_model.save_pretrained(tmp_path / "adapter")
    card = example_card(tiny_host_info(host), rank=2, alpha=4.0)
    gene = write_gene(tmp_path / "g", peft_model_or_adapter_dir=tmp_path / "adapter", card=card, examples=EXAMPLES)
    assert file_digest(gene / "adapter_model.safetensors") == file_digest(tmp_path / "adapter" / "adapter_model.safetensors")
    assert load_card(gene)["files"]["adapter_model.safetensors"] == file_digest(gene / "adapter_model.safetensors")


def _pickle_dir(tmp: Path) -> Path:
    (tmp / "pickled").mkdir()
    (tmp / "pickled" / "adapter_model.bin").write_bytes(b"\x80\x04")
    return tmp / "pickled"


@pytest.mark.parametrize(("source", "card_edit", "examples", "error", "match"), [
    (_pickle_dir, None, EXAMPLES, UnsafeFileError, r"pickled weights \(adapter_model\.bin\)"),
    (lambda tmp: tmp / "nothing", None, EXAMPLES, NotFoundError, r"not a PEFT adapter directory"),
    (lambda tmp: object(), None, EXAMPLES, UsageError, r"Cannot write a gene from a object"),
    (None, None, [], UsageError, r"at least one example"),
    (None, None, [{"answer": "x"}], UsageError, r"string 'prompt'"),
    (None, lambda c: c["adapter"].update(rank=-3), EXAMPLES, CardValidationError, r"\$\.adapter\.rank"),
    (None, lambda c: c.pop("lineage"), EXAMPLES, CardValidationError, r"\$\.lineage: is required"),
], ids=["pickle-only", "missing-dir", "not-a-model", "no-examples", "bad-example", "bad-card", "missing-section"])
def test_write_gene_refuses(tmp_path: Path, host: Path, peft_model, source, card_edit, examples, error, match) -> None:
    card = example_card(tiny_host_info(host), rank=2, alpha=4.0)
    if card_edit:
        card_edit(card)
    src = peft_model if source is None else source(tmp_path)
    with pytest.raises(error, match=match):
        write_gene(tmp_path / "g", peft_model_or_adapter_dir=src, card=card, examples=examples)
    assert not (tmp_path / "g" / "gene.json").exists()
