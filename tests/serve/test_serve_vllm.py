"""`genehub export vllm` and the front (`genehub serve --backend vllm`): the export is what vLLM loads, and the
front routes each request and forwards it to a real OpenAI-compatible upstream on loopback (a second
`genehub serve`, playing vLLM's part: it speaks the same protocol and serves the genes under the same names)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from safetensors.torch import load_file

from genehub.cli import main
from genehub.errors import IncompatibleError, UsageError
from genehub.gene import Gene
from genehub.routing import Router, compose, load_genes
from genehub.serve import LocalBackend, ServeConfig, ServerThread, VllmFront, create_app, export_vllm
from genehub.serve.vllm import MANIFEST
from genehub import zoo
from genehub.zoo import none_prompts

HOST = "genehub-zoo/tiny-host"
UPSTREAM = "upstream-host"  # the upstream's own name: the front must translate, not pass its ids through
ROUTED = ["sort hello:", "upper abcde:", "copy abc:", "S:qwerty=", "U:zyx="]


@pytest.fixture(scope="module")
def genes(zoo_genes):
    return [zoo_genes["sort"], zoo_genes["upper"]]


@pytest.fixture(scope="module")
def router_dir(tiny_zoo, genes, tmp_path_factory):
    return Router.train(tiny_zoo.host, genes, none_prompts=none_prompts).save(tmp_path_factory.mktemp("router") / "router")


@pytest.fixture(scope="module")
def upstream(tiny_zoo, genes, router_dir):
    """The upstream server, and a composition like its own for the expected answers."""
    backend = LocalBackend(compose(tiny_zoo.host, genes, router_dir), ServeConfig(name=UPSTREAM))
    with ServerThread(create_app(backend)) as server:
        yield server, compose(tiny_zoo.host, genes, router_dir)


@pytest.fixture(scope="module")
def front(tiny_zoo, genes, router_dir, upstream):
    backend = VllmFront.load(upstream[0].url, tiny_zoo.host, genes, router_dir)
    with ServerThread(create_app(backend)) as server, httpx.Client(base_url=server.url, timeout=60) as client:
        yield client, backend


# ------------------------------------------------------------------------------------------------ export
def test_export_writes_plain_peft_adapters_and_the_launch_command(tiny_zoo, genes, tmp_path):
    from peft import PeftModel

    from genehub.hosts import load_host

    export = export_vllm(tiny_zoo.host, genes, tmp_path / "export")
    names = list(load_genes(genes, what='test'))
    assert list(export.adapters) == names == ["sort-gene", "upper-gene"]
    assert (export.max_lora_rank, export.max_loras) == (16, 2)  # rank-16 genes, both in one batch
    for gene, name in zip(genes, names):
        adapter = export.out / "adapters" / name
        assert sorted(p.name for p in adapter.iterdir()) == ["adapter_config.json", "adapter_model.safetensors"]
        assert (adapter / "adapter_model.safetensors").read_bytes() == (gene / "adapter_model.safetensors").read_bytes()
        model = PeftModel.from_pretrained(load_host(tiny_zoo.host)[0], str(adapter), adapter_name=name)  # plain PEFT
        some = next(k for k in load_file(str(gene / "adapter_model.safetensors")) if "lora_B" in k)
        loaded = dict(model.named_parameters())[some.replace(".lora_B.weight", f".lora_B.{name}.weight")]
        assert loaded.abs().sum() > 0 and loaded.equal(load_file(str(gene / "adapter_model.safetensors"))[some])
    manifest = json.loads((export.out / MANIFEST).read_text())
    assert [(g["name"], g["revision"]) for g in manifest["genes"]] == [(n, Gene.load(g).digest) for n, g in zip(names, genes)]
    assert manifest["name"] == HOST and manifest["host"]["path"] == str(Path(tiny_zoo.host).resolve())

    # The launch script runs `vllm serve` with every flag vLLM needs, adapter paths beside the script (so the
    # folder can move), and passes extra arguments on.
    moved = shutil.copytree(export.out, tmp_path / "moved")
    argv = subprocess.run(["sh", str(moved / "launch.sh"), "--port", "8001"], env={**os.environ, "VLLM": "echo"},
                          capture_output=True, text=True, check=True).stdout.split()
    assert argv == ["serve", str(Path(tiny_zoo.host).resolve()), "--served-model-name", HOST, "--enable-lora",
                    "--max-loras", "2", "--max-lora-rank", "16", "--lora-modules",
                    f"sort-gene={moved}/adapters/sort-gene", f"upper-gene={moved}/adapters/upper-gene", "--port", "8001"]
    argv = subprocess.run(["sh", str(moved / "launch.sh")], env={**os.environ, "VLLM_PYTHON": "echo"},
                          capture_output=True, text=True, check=True).stdout.split()
    assert argv[:4] == ["-m", "vllm.entrypoints.openai.api_server", "--model", str(Path(tiny_zoo.host).resolve())]
    assert argv[4:] == ["--served-model-name", HOST, "--enable-lora", "--max-loras", "2", "--max-lora-rank", "16",
                        "--lora-modules", f"sort-gene={moved}/adapters/sort-gene", f"upper-gene={moved}/adapters/upper-gene"]
    assert "sh launch.sh" in (export.out / "README.md").read_text()


def _edit_adapter_config(src: Path, dst: Path, **changes) -> Path:
    shutil.copytree(src, dst)
    config = json.loads((dst / "adapter_config.json").read_text())
    (dst / "adapter_config.json").write_text(json.dumps({**config, **changes}))
    return dst


@pytest.mark.parametrize("changes,match", [
    ({"use_dora": True}, "DoRA"),
    ({"bias": "all"}, "LoRA bias"),
    ({"r": 1024}, "rank 1024"),
    ({"modules_to_save": ["lm_head"]}, "modules_to_save"),
    ({"init_lora_weights": "pissa"}, "changes the base model"),
])
def test_export_refuses_what_vllm_cannot_serve_and_writes_nothing(tiny_zoo, genes, tmp_path, changes, match):
    bad = _edit_adapter_config(genes[1], tmp_path / "bad", **changes)
    with pytest.raises(IncompatibleError, match=f"Gene upper-gene cannot be served by vLLM: .*{match}"):
        export_vllm(tiny_zoo.host, [genes[0], bad], tmp_path / "out")
    assert not (tmp_path / "out").exists() and not list(tmp_path.glob(".out.tmp-*"))


def test_export_refuses_another_hosts_gene_and_an_existing_folder(tiny_zoo, genes, tmp_path):
    with pytest.raises(IncompatibleError, match="does not fit host genehub-zoo/tiny-heterologous"):
        export_vllm(tiny_zoo.heterologous, genes, tmp_path / "out")
    (tmp_path / "out").mkdir()
    with pytest.raises(UsageError, match="already exists"):
        export_vllm(tiny_zoo.host, genes, tmp_path / "out")


def test_export_cli_prints_the_command_and_fails_in_one_line(tiny_zoo, genes, tmp_path, capsys):
    argv = ["export", "vllm", "--host", str(tiny_zoo.host), "--genes", *map(str, genes), "--out", str(tmp_path / "x")]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "Wrote 2 adapters" in out and "--max-lora-rank 16" in out and "launch.sh" in out
    assert main(argv) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "already exists" in err[0] and "--overwrite" in err[0]


# ------------------------------------------------------------------------------------------------ front
def test_upstream_serves_the_genes_under_the_names_export_writes(tiny_zoo, genes, upstream, tmp_path):
    export = export_vllm(tiny_zoo.host, genes, tmp_path / "export")
    served = httpx.get(upstream[0].url + "/v1/models").json()["data"]
    assert sorted(r["id"] for r in served if r["genehub"]["kind"] == "gene") == sorted(export.adapters)


def test_front_routes_each_request_and_forwards_it_with_the_gene_as_model(front, upstream):
    client, backend = front
    comp = upstream[1]
    assert backend.base_model == UPSTREAM + ":base" and backend.name == HOST
    want = comp.generate(ROUTED, max_new_tokens=8)  # routed by the same router on the upstream's engine
    got = [client.post("/v1/completions", json={"model": HOST, "prompt": p, "max_tokens": 8}).json() for p in ROUTED]
    assert [(g["choices"][0]["text"], g["genehub"]["gene"]) for g in got] == [(w.text, w.gene) for w in want]
    assert {w.gene for w in want} == {"sort-gene", "upper-gene", None} and all(g["model"] == HOST for g in got)

    # A gene by name is that gene even where the router would pick another; NAME:base is the upstream's bare host.
    forced = [("upper-gene", "sort hello:"), (HOST + ":base", "upper abcde:")]
    want = comp.generate([p for _, p in forced], genes=["upper-gene", None], max_new_tokens=8)
    got = [client.post("/v1/completions", json={"model": m, "prompt": p, "max_tokens": 8}) for m, p in forced]
    assert [g.json()["choices"][0]["text"] for g in got] == [w.text for w in want]
    assert want[0].text != comp.generate(["sort hello:"], max_new_tokens=8)[0].text  # forcing changed the answer
    assert [g.headers["x-genehub-gene"] for g in got] == ["upper-gene", "none"]

    chat = client.post("/v1/chat/completions", json={"model": HOST, "max_tokens": 6,
                                                     "messages": [{"role": "user", "content": "U:abc="}]}).json()
    assert chat["genehub"]["gene"] == "upper-gene" and chat["object"] == "chat.completion"


def test_front_passes_streams_through_with_the_gene_on_every_chunk(front):
    client, _ = front
    body = {"model": HOST, "prompt": "upper abcde:", "max_tokens": 8}
    whole = client.post("/v1/completions", json=body).json()
    with client.stream("POST", "/v1/completions", json={**body, "stream": True}) as reply:
        assert reply.headers["x-genehub-gene"] == "upper-gene"
        lines = [line for line in reply.iter_lines() if line]
    assert lines[-1] == "data: [DONE]"
    chunks = [json.loads(line[6:]) for line in lines[:-1]]
    assert "".join(c["choices"][0]["text"] for c in chunks) == whole["choices"][0]["text"] == "ABCDE"
    assert all(c["genehub"] == whole["genehub"] and c["model"] == HOST for c in chunks) and len(chunks) > 2


def test_front_answers_bad_requests_itself_or_as_the_upstream_did(front):
    client, _ = front
    reply = client.post("/v1/completions", json={"model": "sort", "prompt": "sort ab:"})
    assert reply.status_code == 404 and "Use 'genehub-zoo/tiny-host' (routed)" in reply.json()["error"]["message"]
    reply = client.post("/v1/completions", content=b"{", headers={"content-type": "application/json"})
    assert reply.status_code == 400 and reply.json()["error"]["code"] == "invalid_json"
    reply = client.post("/v1/completions", json={"model": HOST, "prompt": "s" * 80})  # the upstream's context limit
    assert reply.status_code == 400 and "over this server's limit of 63" in reply.json()["error"]["message"]


def test_front_refuses_an_upstream_that_lacks_its_genes(front, upstream):
    _, backend = front
    with pytest.raises(UsageError, match=r"does not serve the genes \['extra-gene'\]"):
        VllmFront(upstream[0].url, backend.router, [*backend.genes, "extra-gene"], name=HOST).connect()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}"
    with pytest.raises(UsageError, match="Cannot list the models of the upstream"):
        VllmFront(closed, backend.router, backend.genes, name=HOST).connect()


# ------------------------------------------------------------------------------------------------ the CLI
def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_genehub_serve_runs_from_the_command_line(tiny_zoo, genes, router_dir, tmp_path):
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1]), "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "genehub", "serve", "--host", str(tiny_zoo.host), "--genes",
                             *map(str, genes), "--router", str(router_dir), "--port", str(port), "--log-level", "warning"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, proc.stdout.read() if proc.poll() else "timeout"
            time.sleep(0.2)
        reply = httpx.post(f"http://127.0.0.1:{port}/v1/completions",
                           json={"model": HOST, "prompt": "U:zyx=", "max_tokens": 6}, timeout=60).json()
        assert reply["genehub"]["gene"] == "upper-gene" and reply["choices"][0]["text"] == "ZYX"
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
    assert f"genehub serve: {HOST} with sort-gene, upper-gene on genehub's fused engine" in out


def test_genehub_serve_with_a_bad_upstream_is_a_one_line_error(tiny_zoo, genes, capsys):
    code = main(["serve", "--host", str(tiny_zoo.host), "--genes", *map(str, genes), "--upstream", "http://x:1"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and err == ["error: --upstream is for --backend vllm. Drop --upstream, or add --backend vllm."]


# ------------------------------------------------------------------------------------------------ real vLLM
@pytest.mark.slow
def test_front_on_vllm_gives_the_local_engines_greedy_outputs(tmp_path_factory):
    """The exported genes on vLLM's OpenAI server (its own venv, set up when missing), genehub's front routing in
    front of it: the same greedy text as genehub's local engine, for routed, gene-forced and bare-host requests.
    The host is GENEHUB_VLLM_HOST / GENEHUB_VLLM_GENES, or a small random one (see tests/_vllm.py); both sides
    run in float32."""
    from _vllm import VllmServer, vllm_host, vllm_venv

    from genehub.hosts import describe_host

    root = tmp_path_factory.mktemp("vllm")
    venv = vllm_venv()
    host, genes = vllm_host(root)
    names = list(load_genes(genes, what='test'))
    context = json.loads((host / "config.json").read_text()).get("max_position_embeddings", 512)
    export = export_vllm(host, genes, root / "export", dtype="float32", max_model_len=min(context, 512))
    with VllmServer(export.out, venv, _free_port(), "--enforce-eager") as vllm:
        vllm.wait()
        front = VllmFront.load(vllm.url, host, genes, none_prompts=none_prompts)
        assert front.base_model == describe_host(host).repo_id and sorted(front.genes) == sorted(names)
        local = compose(host, genes, front.router.router)
        prompts = [r["prompt"] for g in genes for r in Gene.load(g).examples()[-6:]] + ["copy abc:", "hello world"]
        routed = local.generate(prompts, max_new_tokens=12)
        forced = local.generate(prompts[:4], genes=[names[1], names[0], None, names[1]], max_new_tokens=12)
        with ServerThread(create_app(front)) as server, httpx.Client(base_url=server.url, timeout=300) as client:
            def ask(model, prompt):
                return client.post("/v1/completions", json={"model": model, "prompt": prompt, "max_tokens": 12,
                                                            "temperature": 0}).json()

            got = [ask(front.name, p) for p in prompts]
            assert [(g["genehub"]["gene"], g["choices"][0]["text"]) for g in got] == [(r.gene, r.text) for r in routed]
            models = [names[1], names[0], front.name + ":base", names[1]]
            got = [ask(m, p) for m, p in zip(models, prompts[:4])]
            assert [g["choices"][0]["text"] for g in got] == [f.text for f in forced]
    assert len({r.text for r in routed}) > 2  # the genes really change the text


def test_the_front_routes_by_the_genes_prototypes_without_the_host(tiny_zoo, genes, upstream, tmp_path, monkeypatch):
    from genehub import hosts
    from genehub.routing import PrototypeRouter
    from genehub.routing.encoders import make_encoder
    from genehub.routing.prototypes import build_routing
    from genehub.serve.front import SentenceRouter

    general = [str(r["prompt"]) for r in zoo.general_dataset(n=128, split="train")]
    model, tokenizer = hosts.load_host(tiny_zoo.host)
    encoder = make_encoder("default", general=general, model=model, tokenizer=tokenizer,
                           host=hosts.describe_host(tiny_zoo.host))
    routed = [shutil.copytree(g, tmp_path / g.name) for g in genes]
    for gene in routed:
        build_routing(gene, encoder, general)

    def no_host(*args, **kwargs):
        raise AssertionError("the front loaded the host's weights")

    monkeypatch.setattr(hosts, "load_host", no_host)
    front = SentenceRouter.load(tiny_zoo.host, routed, background=general)
    want = PrototypeRouter.from_genes(routed, part=0, background=general)  # the blocks' sentence part
    prompts = ["sort hello:", "upper abcde:", "copy abc:", "S:qwerty="]
    assert [(d.gene, d.probabilities) for d in front.route(prompts)] == \
        [(d.gene, d.probabilities) for d in want.route(prompts)]
    assert front.gene_names == ["sort-gene", "upper-gene"] and front.host_name == "genehub-zoo/tiny-host"
    # Genes without a routing block get sentence prototypes made from their examples, here.
    plain = SentenceRouter.load(tiny_zoo.host, genes, background=general)
    assert plain.router.spec["kind"] == "sentence-transformers"
    assert {d.gene for d in plain.route(prompts)} <= {None, "sort-gene", "upper-gene"}
    with pytest.raises(UsageError, match="no routing block the front can read"):
        SentenceRouter.load(tiny_zoo.host, genes)
    # The front's default router (no --router): the prototypes, checked against the upstream's genes.
    backend = VllmFront.load(upstream[0].url, tiny_zoo.host, routed, none_prompts=general)
    assert isinstance(backend.router, SentenceRouter) and backend.name == HOST
