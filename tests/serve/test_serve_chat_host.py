"""`genehub serve` on a host with a chat template whose genes are routed inside the composed pass: chat
requests, raw completions and streams in one batch get what the composition gives the same prompts, and a
stream names its gene before its first token."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from genehub.routing import compose
from genehub.serve import LocalBackend, ServeConfig, ServerThread, create_app

CHATS = ["last of owl:", "first letter of zip:", "hello there."]
RAW = ["last of egg:", "first letter of cab:"]


@pytest.fixture(scope="module")
def chat_host(tmp_path_factory):
    from _byo import GENERAL, routed_chat_genes, tiny_model

    root = tmp_path_factory.mktemp("serve-chat")
    host = tiny_model("llama", root / "host")
    comp = compose(host, routed_chat_genes(host, root / "genes"), none_prompts=GENERAL)
    assert comp.routes_in_pass
    return comp


def test_chat_raw_and_streamed_requests_in_one_batch_answer_as_the_composition_routes_them(chat_host, monkeypatch):
    from genehub.routing.encoders import chat_texts
    from genehub.routing.encoders import host as host_module

    comp = chat_host
    prompts = chat_texts(comp.tokenizer, CHATS, "chat") + RAW
    want = comp.generate(prompts, max_new_tokens=6)
    assert {g.gene for g in want} == {"last-gene", "first-gene", None}
    backend = LocalBackend(comp, ServeConfig(batch_window_ms=1000))
    name = backend.name
    bodies = [("/v1/chat/completions", {"model": name, "messages": [{"role": "user", "content": c}], "max_tokens": 6})
              for c in CHATS]
    bodies += [("/v1/completions", {"model": name, "prompt": p, "max_tokens": 6}) for p in RAW]
    bodies.append(("/v1/chat/completions", {"model": name, "messages": [{"role": "user", "content": CHATS[0]}],
                                            "max_tokens": 6, "stream": True}))
    read = []
    real = host_module.host_features

    def counted(model, tokenizer, texts, **kwargs):
        read.append(len(texts))
        return real(model, tokenizer, texts, **kwargs)

    monkeypatch.setattr(host_module, "host_features", counted)

    async def ask() -> list[tuple[httpx.Headers, str]]:
        async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
            async def one(path: str, body: dict) -> tuple[httpx.Headers, str]:
                async with client.stream("POST", path, json=body) as reply:
                    assert reply.status_code == 200, await reply.aread()
                    return reply.headers, (await reply.aread()).decode()
            return await asyncio.gather(*(one(p, b) for p, b in bodies))

    with ServerThread(create_app(backend, backend.config)) as server:
        replies = asyncio.run(ask())
    assert backend.batcher.stats.largest == len(bodies)  # one batch
    assert read == [len(RAW)]  # the host read for routing only the raw prompts, beside the pass
    got = [json.loads(body) for _, body in replies[:-1]]
    texts = ([c["choices"][0]["message"]["content"] for c in got[:len(CHATS)]]
             + [c["choices"][0]["text"] for c in got[len(CHATS):]])
    assert [(t, c["genehub"]["gene"]) for t, c in zip(texts, got)] == [(g.text, g.gene) for g in want]
    assert all(c["genehub"]["routed"] for c in got)
    headers, stream = replies[-1]
    chunks = [json.loads(line[6:]) for line in stream.splitlines() if line.startswith("data: {")]
    assert headers["x-genehub-gene"] == want[0].gene and {c["genehub"]["gene"] for c in chunks} == {want[0].gene}
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"]) == want[0].text
