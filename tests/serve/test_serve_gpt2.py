"""`genehub serve` on a user's GPT-2 host: a tokenizer without a pad token, Conv1D genes, batched requests
(left-padded with the end-of-sequence token) answering exactly as the composition does one by one."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from genehub.routing import compose
from genehub.serve import LocalBackend, ServeConfig, ServerThread, create_app

PROMPTS = ["last of owl:", "hello there.", "fig ends with ->", "good morning, how are you?"]


@pytest.fixture(scope="module")
def gpt2(tmp_path_factory):
    from _byo import random_gene, tiny_model

    root = tmp_path_factory.mktemp("serve-gpt2")
    host = tiny_model("gpt2", root / "host")
    return host, random_gene(host, root / "g", name="g-gene", seed=1)


def test_batched_requests_on_a_gpt2_host_answer_as_the_composition_does(gpt2):
    from transformers import AutoTokenizer

    host, gene = gpt2
    assert AutoTokenizer.from_pretrained(host).pad_token is None
    comp = compose(host, [gene], none_prompts=["hello there.", "good morning!"] * 4)
    assert comp.active_engine == "fused"
    genes = ["g-gene", None, "g-gene", None]
    want = [comp.generate([p], genes=[g], max_new_tokens=5)[0].text for p, g in zip(PROMPTS, genes)]
    backend = LocalBackend(comp, ServeConfig(batch_window_ms=100))
    name = backend.name

    async def ask() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
            return await asyncio.gather(*(client.post("/v1/completions", json={
                "model": "g-gene" if g else f"{name}:base", "prompt": p, "max_tokens": 5})
                for p, g in zip(PROMPTS, genes)))

    with ServerThread(create_app(backend, backend.config)) as server:
        answers = asyncio.run(ask())
    assert [r.status_code for r in answers] == [200] * 4
    assert [r.json()["choices"][0]["text"] for r in answers] == want
