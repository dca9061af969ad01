"""Benchmark: serving genes over HTTP, side by side in one run, at 1, 8 and 32 concurrent clients.

Paths, each a server in its own process on loopback, all asked for exactly ``--max-tokens`` new tokens per
request (``min_tokens`` = ``max_tokens``, greedy) on the same mixed prompts (each gene's example prompts and
prompts for no gene, interleaved):

* ``bare``: the bare host behind the same server code as ``genehub serve`` (HTTP, batching queue, streaming
  hooks), generating with transformers' ``generate`` on the host alone: the baseline on the same engine;
* ``genehub``: ``genehub serve --host H --genes ... --router R`` (the composition's fused engine, each request
  routed);
* ``vllm``: vLLM's OpenAI server on the genes of ``genehub export vllm``, called directly with ``model`` set to
  the gene genehub's router picks for each prompt (decided beforehand): vLLM's own cost;
* ``front+vllm``: ``genehub serve --backend vllm`` in front of that vLLM server, routing each request.

The vLLM paths need ``--vllm`` (vLLM in its own venv, see tests/_vllm.py; set up there when missing) and a
host vLLM can run (on CPUs its attention needs a head size of at least 32: not the tiny zoo host's 16).
Every level runs ``--rounds`` rounds; each round runs every path once, in a rotated order, ``--requests``
requests per client (closed loop: a client sends its next request when the last one is answered). Reported:
tokens/s (completion tokens returned / wall time), p50 and p95 request latency, and each path's tokens/s as a
ratio to ``bare`` (median over rounds of the ratio within a round, so load from other processes hits the
paths alike).

    python bench/bench_serve.py --preset tiny
    python bench/bench_serve.py --random-vllm-host --vllm           # a small random host vLLM can run
    python bench/bench_serve.py --host HOST --genes G1 G2 --vllm --out bench/results/serve
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

NONE_PROMPTS = ["The capital of France is", "Once upon a time", "copy abc:", "The weather today is",
                "Water boils at", "My favourite colour is"]


# ------------------------------------------------------------------------------------------------ the baseline
class BareEngine:
    """The bare host where ``genehub serve`` has a composition: the same left-padded, greedy ``generate``
    and per-step token hook, no genes and no router."""

    active_engine = "bare"
    genes: dict[str, Any] = {}

    def __init__(self, host: str) -> None:
        from genehub.hosts import describe_host, load_host

        self.model, self.tokenizer = load_host(host)
        self.host_info = describe_host(host)

    def route(self, prompts: list[str]) -> list[Any]:
        from genehub.routing import RoutingDecision

        return [RoutingDecision(p, None, 1.0, {}) for p in prompts]

    def generate(self, prompts: list[str], *, max_new_tokens: int, genes: Any = None, on_step: Any = None,
                 on_route: Any = None, **kwargs: Any) -> list[Any]:
        import torch
        from transformers.generation.streamers import BaseStreamer

        from genehub.routing import Generation

        class Steps(BaseStreamer):
            seen = False

            def put(self, value: Any) -> None:
                if self.seen and on_step is not None:
                    on_step(value.tolist())
                self.seen = True

            def end(self) -> None:
                pass

        if on_route is not None and genes is None:
            on_route(self.route(prompts))
        self.tokenizer.padding_side = "left"
        enc = self.tokenizer(prompts, return_tensors="pt", padding=True)
        with torch.no_grad():
            out = self.model.generate(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"],
                                      max_new_tokens=max_new_tokens, do_sample=False, streamer=Steps(),
                                      eos_token_id=self.tokenizer.eos_token_id,
                                      pad_token_id=self.tokenizer.pad_token_id, **kwargs)
        texts = self.tokenizer.batch_decode(out[:, enc["input_ids"].shape[1]:], skip_special_tokens=True)
        return [Generation(p, t, None, None) for p, t in zip(prompts, texts)]


def serve_bare(host: str, port: int) -> None:
    from genehub.serve import LocalBackend, ServeConfig, create_app, run

    backend = LocalBackend(BareEngine(host), ServeConfig())
    run(create_app(backend), port=port, log_level="warning")


# ------------------------------------------------------------------------------------------------ servers
def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Process:
    """A server subprocess, ready once ``GET /v1/models`` answers."""

    def __init__(self, name: str, argv: list[str], port: int, log: Path, env: dict[str, str] | None = None) -> None:
        self.name, self.url, self.log = name, f"http://127.0.0.1:{port}", log
        self.proc = subprocess.Popen(argv, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True,
                                     env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})})

    def wait(self, timeout: float = 600) -> float:
        import httpx

        start = time.monotonic()
        while time.monotonic() - start < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited: {self.log.read_text()[-2000:]}")
            try:
                if httpx.get(self.url + "/v1/models", timeout=2).status_code == 200:
                    return time.monotonic() - start
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise TimeoutError(f"{self.name} did not start in {timeout} s")

    def stop(self) -> None:
        import signal

        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)


# ------------------------------------------------------------------------------------------------ clients
async def _load(url: str, bodies: list[dict[str, Any]], clients: int, per_client: int) -> dict[str, Any]:
    """``clients`` closed-loop clients, ``per_client`` requests each; tokens/s and latencies."""
    import httpx

    latencies: list[float] = []
    tokens = 0
    feed = itertools.cycle(bodies)

    async def client(c: httpx.AsyncClient, mine: list[dict[str, Any]]) -> None:
        nonlocal tokens
        for body in mine:
            start = time.perf_counter()
            reply = await c.post("/v1/completions", json=body)
            latencies.append(time.perf_counter() - start)
            reply.raise_for_status()
            tokens += reply.json()["usage"]["completion_tokens"]

    work = [[next(feed) for _ in range(per_client)] for _ in range(clients)]
    async with httpx.AsyncClient(base_url=url, timeout=600, limits=httpx.Limits(max_connections=clients + 4)) as c:
        await asyncio.gather(*(client(c, [b]) for b in (m[0] for m in work)))  # warm-up: one request each
        latencies.clear()
        tokens = 0
        start = time.perf_counter()
        await asyncio.gather(*(client(c, m) for m in work))
        wall = time.perf_counter() - start
    return {"tokens": tokens, "wall": wall, "latencies": latencies}


def _batches(url: str) -> dict[str, Any] | None:
    """The server's batching counters (genehub's servers; ``None`` for vLLM)."""
    import httpx

    try:
        return httpx.get(url + "/genehub/stats", timeout=10).json()["batches"]
    except (httpx.HTTPError, KeyError, ValueError):
        return None


def _pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(q * (len(values) - 1)))]


# ------------------------------------------------------------------------------------------------ main
def _prompts(genes: list[Path], per_gene: int) -> list[str]:
    from genehub.gene import Gene

    lists = [[r["prompt"] for r in Gene.load(g).examples()[-per_gene:]] for g in genes] + [NONE_PROMPTS]
    return [p for group in itertools.zip_longest(*lists) for p in group if p is not None]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", help="host directory")
    parser.add_argument("--genes", nargs="+", default=[], help="gene directories")
    parser.add_argument("--preset", default=None, help="use the zoo preset's host and its cached genes (tiny)")
    parser.add_argument("--random-vllm-host", action="store_true",
                        help="use the small random host and genes of tests/_vllm.py (vLLM can run it)")
    parser.add_argument("--vllm", action="store_true", help="also run the vLLM paths (needs the vLLM venv)")
    parser.add_argument("--vllm-dtype", default="float32", help="vLLM's --dtype (default float32, as genehub's)")
    parser.add_argument("--clients", nargs="+", type=int, default=[1, 8, 32])
    parser.add_argument("--requests", type=int, default=4, help="requests per client per round (default 4)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--max-tokens", type=int, default=16)
    parser.add_argument("--prompts-per-gene", type=int, default=24)
    parser.add_argument("--out", default=None, help="write serve.md and serve.json here")
    parser.add_argument("--serve-bare", default=None, help=argparse.SUPPRESS)  # internal: the baseline server
    parser.add_argument("--port", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_bare:
        serve_bare(args.serve_bare, args.port)
        return 0

    from genehub.routing import Router, load_genes
    from genehub.zoo import none_prompts
    from genehub.serve import export_vllm

    work = Path(tempfile.mkdtemp(prefix="bench-serve-"))
    if args.preset:
        from _genes import cached_genes

        from genehub import zoo

        z = zoo.build(args.preset, progress=False)
        host, genes = Path(z.host), list(cached_genes(z).values())
    elif args.random_vllm_host:
        from _vllm import vllm_host

        host, genes = vllm_host(work)
    else:
        if not args.host or not args.genes:
            parser.error("pass --host and --genes, or --preset, or --random-vllm-host")
        host, genes = Path(args.host), [Path(g) for g in args.genes]

    from genehub.gene import Gene
    from genehub.hosts import describe_host

    name = describe_host(host).repo_id
    if all(Gene.load(g).card.get("routing") for g in genes):
        # Genes with routing blocks: every path routes by their prototypes (what `genehub serve` does by default).
        from genehub.routing import compose
        from genehub.zoo import routing_prompts

        composition = compose(host, genes, "prototypes", none_prompts=routing_prompts(host) or none_prompts)
        router_arg, decide = "prototypes", composition.route
    else:
        router = Router.train(host, genes, none_prompts=none_prompts)
        router_arg = str(router.save(work / "router"))

        def decide(prompts: list[str]) -> list[Any]:
            from genehub.hosts import load_host

            model, tokenizer = load_host(host)
            return router.route(model, tokenizer, prompts)
    prompts = _prompts(genes, args.prompts_per_gene)
    body = {"max_tokens": args.max_tokens, "min_tokens": args.max_tokens, "temperature": 0}
    routed = [{"model": name, "prompt": p, **body} for p in prompts]
    servers: dict[str, Process] = {}
    bodies: dict[str, list[dict[str, Any]]] = {}
    py = sys.executable
    gene_args = ["--genes", *map(str, genes), "--router", router_arg]
    try:
        port = _free_port()
        servers["bare"] = Process("bare", [py, str(HERE / "bench_serve.py"), "--serve-bare", str(host), "--port", str(port)],
                                  port, work / "bare.log")
        bodies["bare"] = routed
        port = _free_port()
        servers["genehub"] = Process("genehub", [py, "-m", "genehub", "serve", "--host", str(host), *gene_args,
                                                 "--port", str(port), "--log-level", "warning"], port, work / "genehub.log")
        bodies["genehub"] = routed
        if args.vllm:
            from _vllm import VLLM_ENV, VllmServer, vllm_venv

            venv = vllm_venv()
            ctx = json.loads((host / "config.json").read_text()).get("max_position_embeddings", 512)
            export = export_vllm(host, genes, work / "export", dtype=args.vllm_dtype, max_model_len=min(ctx, 512))
            vllm = VllmServer(export.out, venv, _free_port(), "--enforce-eager")
            servers["vllm"] = vllm  # type: ignore[assignment]
            decided = decide(prompts)
            bodies["vllm"] = [{"model": d.gene or name, "prompt": p, **body} for d, p in zip(decided, prompts)]
            print(f"vLLM ready in {vllm.wait():.0f} s", file=sys.stderr)
            port = _free_port()
            servers["front+vllm"] = Process("front+vllm", [py, "-m", "genehub", "serve", "--backend", "vllm",
                                                           "--upstream", vllm.url, "--host", str(host), *gene_args,
                                                           "--port", str(port), "--log-level", "warning"],
                                            port, work / "front.log", env=VLLM_ENV)
            bodies["front+vllm"] = routed
        for server in servers.values():
            server.wait()
        rows = _measure(servers, bodies, args)
    finally:
        for server in servers.values():
            server.stop()
    report = _report(rows, args, host, list(load_genes(genes, what='The benchmark')), len(prompts))
    print(report)
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "serve.md").write_text(report)
        (out / "serve.json").write_text(json.dumps(rows, indent=2))
    return 0


def _measure(servers: dict[str, Any], bodies: dict[str, list[dict[str, Any]]], args: argparse.Namespace) -> list[dict[str, Any]]:
    names = list(servers)
    rows = []
    for clients in args.clients:
        runs: dict[str, list[dict[str, Any]]] = {n: [] for n in names}
        for r in range(args.rounds):
            order = names[r % len(names):] + names[:r % len(names)]
            for n in order:
                before = _batches(servers[n].url)
                runs[n].append(asyncio.run(_load(servers[n].url, bodies[n], clients, args.requests)))
                after = _batches(servers[n].url)
                if before and after and after["batches"] > before["batches"]:  # warm-up included
                    runs[n][-1]["batch"] = (after["requests"] - before["requests"]) / (after["batches"] - before["batches"])
        for n in names:
            lat = [x for run in runs[n] for x in run["latencies"]]
            tput = [run["tokens"] / run["wall"] for run in runs[n]]
            ratio = statistics.median(run["tokens"] / run["wall"] / (b["tokens"] / b["wall"])
                                      for run, b in zip(runs[n], runs["bare"]))
            sizes = [run["batch"] for run in runs[n] if "batch" in run]
            rows.append({"clients": clients, "path": n, "requests": len(lat), "tokens_per_s": statistics.median(tput),
                         "p50_ms": 1000 * _pct(lat, 0.5), "p95_ms": 1000 * _pct(lat, 0.95), "vs_bare": ratio,
                         "mean_batch": statistics.mean(sizes) if sizes else None})
            print(f"{clients:>3} clients  {n:<11} {rows[-1]['tokens_per_s']:9.1f} tok/s  p50 {rows[-1]['p50_ms']:8.1f} ms"
                  f"  p95 {rows[-1]['p95_ms']:8.1f} ms  x{ratio:.2f} bare", file=sys.stderr)
    return rows


def _report(rows: list[dict[str, Any]], args: argparse.Namespace, host: Path, genes: list[str], n_prompts: int) -> str:
    lines = [f"## serve (measured {time.strftime('%Y-%m-%d')})", "",
             f"Command: `python bench/bench_serve.py {' '.join(sys.argv[1:])}`; host `{host}`, genes "
             f"{', '.join(genes)}; {n_prompts} mixed prompts; {args.max_tokens} new tokens per request (greedy); "
             f"{args.rounds} rounds x {args.requests} requests per client; {platform.machine()}, {os.cpu_count()} CPUs.",
             "'batch' is the mean batch size of genehub's queue (of routing decisions, for the front; '-' for vLLM).", "",
             "| clients | path | requests | tokens/s | p50 ms | p95 ms | tokens/s vs bare | batch |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        batch = "-" if r["mean_batch"] is None else f"{r['mean_batch']:.1f}"
        lines.append(f"| {r['clients']} | {r['path']} | {r['requests']} | {r['tokens_per_s']:.1f} | {r['p50_ms']:.1f} | "
                     f"{r['p95_ms']:.1f} | {r['vs_bare']:.2f} | {batch} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
