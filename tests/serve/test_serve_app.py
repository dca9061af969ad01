"""`genehub serve` on the local engine, over real HTTP on loopback: batching, equality with the composition,
streaming, limits, bad requests, and hot add/remove of verified genes through the admin endpoints."""

from __future__ import annotations

import asyncio
import json
import shutil

import httpx
import pytest

from genehub.routing import Router, compose
from genehub.zoo import none_prompts
from genehub.serve import LocalBackend, ServeConfig, ServerThread, create_app, render_chat

HOST = "genehub-zoo/tiny-host"
TOKEN = "test-admin-token"
ROUTED = ["sort hello:", "upper abcde:", "copy abc:", "S:qwerty=", "U:zyx=", "L:hello="]


@pytest.fixture(scope="module")
def router(tiny_zoo, zoo_genes):
    return Router.train(tiny_zoo.host, [zoo_genes["sort"], zoo_genes["upper"]], none_prompts=none_prompts)


@pytest.fixture(scope="module")
def reference(tiny_zoo, zoo_genes, router):
    """A composition like the server's, for the expected answers (the server's own runs on its batch thread)."""
    return compose(tiny_zoo.host, [zoo_genes["sort"], zoo_genes["upper"]], router)


@pytest.fixture(scope="module")
def served(tiny_zoo, zoo_genes, router):
    """The server on a free loopback port."""
    comp = compose(tiny_zoo.host, [zoo_genes["sort"], zoo_genes["upper"]], router)
    backend = LocalBackend(comp, ServeConfig(admin_token=TOKEN, batch_window_ms=50))
    with ServerThread(create_app(backend, backend.config)) as server:
        yield server, backend


@pytest.fixture
def client(served):
    with httpx.Client(base_url=served[0].url, timeout=60) as c:
        yield c


def _post_all(url: str, path: str, bodies: list[dict]) -> list[httpx.Response]:
    async def go():
        async with httpx.AsyncClient(base_url=url, timeout=60) as c:
            return await asyncio.gather(*(c.post(path, json=b) for b in bodies))
    return asyncio.run(go())


def test_models_lists_the_routed_id_the_bare_host_and_each_gene(client):
    rows = client.get("/v1/models").json()["data"]
    assert [(r["id"], r["genehub"]["kind"]) for r in rows] == [
        (HOST, "router"), (HOST + ":base", "base"), ("sort-gene", "gene"), ("upper-gene", "gene")]


def test_concurrent_mixed_requests_are_batched_and_equal_the_composition(served, reference):
    server, backend = served
    comp = reference
    forced = [("sort hello:", "sort-gene"), ("U:zyx=", "upper-gene"), ("sort dcba:", None), ("upper abc:", "sort-gene")]
    chats = [[{"role": "user", "content": "U:abc="}], [{"role": "system", "content": "be brief"},
                                                        {"role": "user", "content": "sort cab:"}]]
    bodies = [{"model": HOST, "prompt": p, "max_tokens": 8} for p in ROUTED]
    bodies += [{"model": g or HOST + ":base", "prompt": p, "max_tokens": 8, "temperature": 0} for p, g in forced]
    bodies += [{"model": HOST, "messages": m, "max_tokens": 8} for m in chats]
    before = backend.batcher.stats.to_dict()
    replies = _post_all(server.url, "/v1/completions", bodies[:-2]) + _post_all(server.url, "/v1/chat/completions", bodies[-2:])
    after = backend.batcher.stats.to_dict()
    assert all(r.status_code == 200 for r in replies), [r.text for r in replies]
    assert after["requests"] - before["requests"] == len(bodies)
    grew = {int(k) for k, n in after["sizes"].items() if n > before["sizes"].get(k, 0)}
    assert after["batches"] - before["batches"] < len(bodies) and max(grew) > 1  # batched together

    # Routed completions: what the composition writes for the same prompts, routed the same way.
    want = comp.generate(ROUTED, max_new_tokens=8)
    got = replies[:len(ROUTED)]
    assert [(r.json()["choices"][0]["text"], r.json()["genehub"]["gene"]) for r in got] == [(g.text, g.gene) for g in want]
    assert {g.gene for g in want} == {"sort-gene", "upper-gene", None}  # the batch really mixed genes
    assert all(r.headers["x-genehub-gene"] == (g.gene or "none") for r, g in zip(got, want))
    assert all(r.json()["genehub"]["routed"] for r in got)
    # Forced genes (oracle) and the bare host.
    want = comp.generate([p for p, _ in forced], genes=[g for _, g in forced], max_new_tokens=8)
    got = replies[len(ROUTED):len(ROUTED) + len(forced)]
    assert [r.json()["choices"][0]["text"] for r in got] == [g.text for g in want]
    assert [r.json()["genehub"] for r in got] == [{"gene": g, "routed": False, "confidence": None} for _, g in forced]
    # Chat: the plain "role: content" prompt (the tiny tokenizer has no template), routed on the last user message.
    prompts = [render_chat(comp.tokenizer, [_msg(m) for m in c]) for c in chats]
    assert prompts[0] == "user: U:abc=\nassistant:"
    genes = [d.gene for d in comp.route(["U:abc=", "sort cab:"])]
    assert genes == ["upper-gene", "sort-gene"]
    want = comp.generate(prompts, genes=genes, max_new_tokens=8)
    got = [r.json() for r in replies[-2:]]
    assert [(c["choices"][0]["message"]["content"], c["genehub"]["gene"]) for c in got] == [(g.text, g.gene) for g in want]
    assert all(c["object"] == "chat.completion" and c["usage"]["prompt_tokens"] == len(comp.tokenizer(p)["input_ids"])
               for c, p in zip(got, prompts))


def _msg(row):
    from genehub.serve.openai import ChatMessage

    return ChatMessage(**row)


def _events(client, path, body):
    with client.stream("POST", path, json=body) as reply:
        assert reply.status_code == 200 and reply.headers["content-type"].startswith("text/event-stream")
        lines = [line for line in reply.iter_lines() if line]
        return reply.headers["x-genehub-gene"], lines


@pytest.mark.parametrize("path,body,field", [
    ("/v1/completions", {"model": HOST, "prompt": "upper abcde:", "max_tokens": 8}, "text"),
    ("/v1/chat/completions", {"model": HOST, "messages": [{"role": "user", "content": "sort hello:"}], "max_tokens": 8,
                              "stream_options": {"include_usage": True}}, "content"),
])
def test_streaming_gives_the_same_text_chunk_by_chunk(client, path, body, field):
    whole = client.post(path, json=body).json()
    header, lines = _events(client, path, {**body, "stream": True})
    assert lines[-1] == "data: [DONE]" and all(line.startswith("data: ") for line in lines)
    chunks = [json.loads(line[6:]) for line in lines[:-1]]
    parts = [c["choices"][0].get("delta", c["choices"][0]).get(field) or "" for c in chunks if c["choices"]]
    text = whole["choices"][0]["text"] if field == "text" else whole["choices"][0]["message"]["content"]
    assert "".join(parts) == text and len([p for p in parts if p]) > 1  # the same text, in more than one chunk
    assert header == whole["genehub"]["gene"] and {c["genehub"]["gene"] for c in chunks} == {header}
    finals = [c["choices"][0]["finish_reason"] for c in chunks if c["choices"] and c["choices"][0]["finish_reason"]]
    assert finals == [whole["choices"][0]["finish_reason"]]
    if field == "content":
        assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
        assert chunks[-1]["usage"] == whole["usage"]


def test_max_tokens_and_stop_end_each_row_on_its_own(served, reference):
    server, _ = served
    full = reference.generate(["sort hello:"], genes=["sort-gene"], max_new_tokens=8)[0].text
    assert full == "ehllo"
    bodies = [{"model": "sort-gene", "prompt": "sort hello:", "max_tokens": 8},
              {"model": "sort-gene", "prompt": "sort hello:", "max_tokens": 2},
              {"model": "sort-gene", "prompt": "sort hello:", "max_tokens": 8, "stop": ["ll", "zz"]},
              {"model": "sort-gene", "prompt": "sort hello:", "max_tokens": 8, "min_tokens": 8}]
    rows = [r.json() for r in _post_all(server.url, "/v1/completions", bodies)]
    got = [(r["choices"][0]["text"], r["choices"][0]["finish_reason"], r["usage"]["completion_tokens"]) for r in rows]
    longer = reference.generate(["sort hello:"], genes=["sort-gene"], max_new_tokens=8, min_new_tokens=8)[0].text
    assert len(longer) == 8 and longer.startswith("ehllo")  # no end-of-sequence before 8 tokens
    assert got == [("ehllo", "stop", 5), ("eh", "length", 2), ("eh", "stop", 4), (longer, "length", 8)]  # "ehll": 4 read


@pytest.mark.parametrize("body,status,code,match", [
    (b'{"model": "x", "prompt": ', 400, "invalid_json", "not valid JSON"),
    (b'["sort hello:"]', 400, "invalid_json", "JSON list, not an object"),
    ({"prompt": "sort hello:"}, 400, None, "model: Field required"),
    ({"model": HOST}, 400, None, "prompt: Field required"),
    ({"model": "no-such-gene", "prompt": "sort hello:"}, 404, "model_not_found", "'no-such-gene' does not exist"),
    ({"model": HOST, "prompt": "s" * 80}, 400, "context_length_exceeded", "prompt is 80 tokens, over this server's limit of 63"),
    ({"model": HOST, "prompt": "sort hello:", "max_tokens": 60}, 400, "context_length_exceeded", "context is 64 tokens"),
    ({"model": HOST, "prompt": "sort hello:", "max_tokens": 0}, 400, None, "max_tokens: Input should be greater"),
    ({"model": HOST, "prompt": "sort hello:", "temperature": 0.7}, 400, None, "decodes greedily"),
    ({"model": HOST, "prompt": "sort hello:", "n": 2}, 400, None, "n=1"),
    ({"model": HOST, "prompt": ["a:", "b:"]}, 400, None, "one prompt per request"),
    ({"model": HOST, "prompt": ""}, 400, None, "prompt is empty"),
    ({"model": HOST, "prompt": "sort hello:", "max_tokens": 4, "min_tokens": 5}, 400, None, "min_tokens 5 is over"),
])
def test_bad_requests_get_4xx_with_a_clear_openai_error(client, body, status, code, match):
    kwargs = {"content": body, "headers": {"content-type": "application/json"}} if isinstance(body, bytes) else {"json": body}
    reply = client.post("/v1/completions", **kwargs)
    assert reply.status_code == status
    error = reply.json()["error"]
    assert match in error["message"] and error["type"] == "invalid_request_error" and error["code"] == code


def test_unknown_paths_and_methods_answer_openai_errors(client):
    reply = client.get("/v1/nothing")
    assert reply.status_code == 404 and "GET /v1/nothing: Not Found" in reply.json()["error"]["message"]
    assert client.get("/v1/completions").status_code == 405


# ------------------------------------------------------------------------------------------------ admin
@pytest.fixture
def signer(tmp_path):
    from genehub.gene import TrustStore, new_key

    key = new_key("alice", directory=tmp_path / "keys")
    TrustStore().add("alice", key.public)  # the test's own trust store (GENEHUB_CONFIG is per test)
    return key


def _signed_copy(src, dst, key):
    from genehub.gene import sign_gene

    shutil.copytree(src, dst)
    sign_gene(dst, key=key.private)
    return dst


def test_admin_is_refused_without_the_token_and_off_without_one(client, served, zoo_genes):
    body = {"path": str(zoo_genes["upper"])}
    for headers, status in [({}, 401), ({"Authorization": "Bearer wrong"}, 401), ({"Authorization": TOKEN}, 401)]:
        reply = client.post("/admin/genes", json=body, headers=headers)
        assert reply.status_code == status and "admin token" in reply.json()["error"]["message"]
    assert client.delete("/admin/genes/sort-gene").status_code == 401
    assert [r["id"] for r in client.get("/v1/models").json()["data"]][2:] == ["sort-gene", "upper-gene"]
    # A server started without a token has no admin at all.
    off = LocalBackend(served[1].comp, ServeConfig())
    with ServerThread(create_app(off)) as server:
        reply = httpx.get(server.url + "/admin/genes", headers={"Authorization": "Bearer anything"})
    assert reply.status_code == 403 and "--admin-token" in reply.json()["error"]["message"]


def test_hot_add_of_a_verified_gene_and_refusal_of_tampered_ones(tiny_zoo, zoo_genes, signer, tmp_path):
    from genehub.gene import new_key

    router = Router.train(tiny_zoo.host, [zoo_genes["sort"]], none_prompts=none_prompts)
    comp = compose(tiny_zoo.host, [zoo_genes["sort"]], router, none_prompts=none_prompts)
    backend = LocalBackend(comp, ServeConfig(admin_token=TOKEN))
    auth = {"Authorization": f"Bearer {TOKEN}"}
    good = _signed_copy(zoo_genes["upper"], tmp_path / "upper", signer)
    tampered = _signed_copy(zoo_genes["upper"], tmp_path / "tampered", signer)
    config = json.loads((tampered / "adapter_config.json").read_text())
    (tampered / "adapter_config.json").write_text(json.dumps({**config, "lora_alpha": 64}))
    unsigned = shutil.copytree(zoo_genes["upper"], tmp_path / "unsigned")
    stranger = _signed_copy(zoo_genes["upper"], tmp_path / "stranger", new_key("mallory", directory=tmp_path / "m"))

    with ServerThread(create_app(backend, backend.config)) as server, httpx.Client(base_url=server.url, timeout=60) as c:
        def genes():
            return c.get("/admin/genes", headers=auth).json()["genes"]

        for bad, match in [(tampered, "does not match its signature: adapter_config.json"),
                           (unsigned, "is not signed"), (stranger, "not in the trust store"),
                           (tmp_path / "missing", "No gene directory")]:
            reply = c.post("/admin/genes", json={"path": str(bad)}, headers=auth)
            assert reply.status_code in (403, 404) and match in reply.json()["error"]["message"], reply.text
            assert genes() == ["sort-gene"]  # nothing changed
        assert c.post("/v1/completions", json={"model": "upper-gene", "prompt": "U:ab="}).status_code == 404

        reply = c.post("/admin/genes", json={"path": str(good)}, headers=auth)
        assert reply.status_code == 200 and reply.json()["added"] == "upper-gene" and reply.json()["signer"] == "alice"
        assert genes() == ["sort-gene", "upper-gene"]
        assert c.post("/admin/genes", json={"path": str(good)}, headers=auth).status_code == 409  # already in
        routed = c.post("/v1/completions", json={"model": HOST, "prompt": "upper abcde:", "max_tokens": 8}).json()
        assert routed["genehub"]["gene"] == "upper-gene" and routed["choices"][0]["text"] == "ABCDE"

        reply = c.delete("/admin/genes/sort-gene", headers=auth)
        assert reply.status_code == 200 and genes() == ["upper-gene"]
        assert c.post("/v1/completions", json={"model": "sort-gene", "prompt": "sort ab:"}).status_code == 404
        assert c.delete("/admin/genes/upper-gene", headers=auth).status_code == 409  # the last gene stays
