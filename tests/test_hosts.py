"""Hosts a user brings: the fingerprint ignores the pad token, a folder without genehub.json gets a
sensible repo id, and a host loads in the dtype and on the device asked for."""

from __future__ import annotations

import pytest

from genehub.errors import UsageError


@pytest.fixture(scope="module")
def gpt2_host(tmp_path_factory):
    from _byo import tiny_model

    return tiny_model("gpt2", tmp_path_factory.mktemp("hosts") / "my gpt2 (v2)")


def test_the_fingerprint_does_not_include_the_pad_token(gpt2_host):
    from transformers import AutoTokenizer

    from genehub.hosts import describe_host, load_host, tokenizer_fingerprint

    raw = AutoTokenizer.from_pretrained(gpt2_host)
    assert raw.pad_token is None
    _, loaded = load_host(gpt2_host)
    assert loaded.pad_token == loaded.eos_token  # GPT-2 pads with its eos token...
    assert tokenizer_fingerprint(loaded) == tokenizer_fingerprint(raw) == describe_host(gpt2_host).tokenizer_fingerprint
    raw.add_special_tokens({"eos_token": "a"})  # ...while another special token is another tokenizer
    assert tokenizer_fingerprint(raw) != tokenizer_fingerprint(loaded)


def test_repo_id_of_a_folder_without_genehub_json(gpt2_host, tmp_path):
    import shutil

    from genehub.hosts import describe_host, recorded_repo_id

    assert recorded_repo_id(gpt2_host) == "local/my-gpt2-v2"  # a valid repo id whatever the folder is called
    # A snapshot in the Hugging Face cache is known by its Hub id.
    snapshot = tmp_path / "hub" / "models--acme--tiny-gpt2" / "snapshots" / ("a" * 40)
    shutil.copytree(gpt2_host, snapshot)
    assert describe_host(snapshot).repo_id == "acme/tiny-gpt2"
    assert describe_host(snapshot, repo_id="me/gpt2").repo_id == "me/gpt2"
    with pytest.raises(UsageError, match="--host-repo-id"):
        describe_host(snapshot, repo_id="not a repo id")


def test_load_host_in_a_dtype_on_a_device(gpt2_host):
    import torch

    from genehub.hosts import load_host

    model, _ = load_host(gpt2_host, dtype="bfloat16", device="cpu")
    assert next(model.parameters()).dtype == torch.bfloat16 and next(model.parameters()).device.type == "cpu"
    assert next(load_host(gpt2_host)[0].parameters()).dtype == torch.float32
    with pytest.raises(UsageError, match="Unknown dtype"):
        load_host(gpt2_host, dtype="float8")
