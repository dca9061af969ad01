"""CLI for serving: ``genehub serve`` (an OpenAI-compatible server) and ``genehub export vllm``.

    genehub serve --host H --genes G1 G2 [--router prototypes|head|R] [--port 8000] [--admin-token T]
    genehub export vllm --host H --genes G1 G2 --out DIR        # then: sh DIR/launch.sh --port 8001
    genehub serve --backend vllm --upstream http://127.0.0.1:8001 --host H --genes G1 G2
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from ._common import add_command, add_group
from ._data import add_general_option
from .routing import add_router_option


def _serve(args: argparse.Namespace) -> int:
    from ..errors import UsageError
    from ..serve import LocalBackend, ServeConfig, VllmFront, create_app, run
    from .routing import background, trains_head

    # What "no gene" means: --general, or the zoo's own on a zoo host (a router given, or the genes'
    # prototypes, need none until a head is trained again, so a missing --general only stops a server that
    # trains one now; the prototypes use them as their background when there are some).
    none_prompts = background(args, args.host, required=trains_head(args.router, args.genes))

    token = args.admin_token or os.environ.get("GENEHUB_ADMIN_TOKEN") or None
    config = ServeConfig(name=args.name, max_batch=args.max_batch, batch_window_ms=args.batch_window_ms,
                         max_prompt_tokens=args.max_prompt_tokens, max_tokens=args.max_tokens, admin_token=token)
    if args.backend == "vllm":
        if not args.upstream:
            raise UsageError("--backend vllm needs --upstream URL.", hint="Pass the URL vLLM listens on.")
        backend: Any = VllmFront.load(args.upstream, args.host, args.genes, args.router, config=config,
                                      base_model=args.base_model, none_prompts=none_prompts)
        where = f"in front of {args.upstream} (base model {backend.base_model})"
    else:
        if args.upstream:
            raise UsageError("--upstream is for --backend vllm.", hint="Drop --upstream, or add --backend vllm.")
        backend = LocalBackend.load(args.host, args.genes, args.router, config=config, engine=args.engine,
                                    verify=args.verify, none_prompts=none_prompts)
        where = f"on genehub's {backend.comp.active_engine} engine"
    print(f"genehub serve: {backend.name} with {', '.join(backend.genes)} {where}, "
          f"at http://{args.bind}:{args.port}/v1 (admin {'on' if token else 'off'}); Ctrl+C stops it.")
    run(create_app(backend, config), host=args.bind, port=args.port, log_level=args.log_level)
    return 0


def _export_vllm(args: argparse.Namespace) -> int:
    from ..serve import export_vllm

    export = export_vllm(args.host, args.genes, args.out, name=args.name, dtype=args.dtype,
                         max_model_len=args.max_model_len, overwrite=args.overwrite)
    print(f"Wrote {len(export.adapters)} adapters for vLLM to {export.out} "
          f"(max LoRA rank {export.max_lora_rank}, {export.max_loras} LoRAs per batch).")
    print(f"Serve them with: sh {export.out / 'launch.sh'} --port 8001")
    print(f"  ({export.command_line()})")
    return 0


def register(subparsers: Any) -> None:
    """Add ``genehub serve`` and ``genehub export vllm``."""
    p = add_command(subparsers, "serve", help="serve genes behind an OpenAI-compatible HTTP API", func=_serve, examples=[
        "genehub serve --host ./host --genes ./sort-gene ./upper-gene --port 8000",
        "genehub serve --host ./host --genes ./sort-gene --router ./router --admin-token \"$TOKEN\"",
        "curl localhost:8000/v1/completions -d '{\"model\": \"HOST_NAME\", \"prompt\": \"sort cab:\"}' "
        "-H 'Content-Type: application/json'",
        "genehub serve --backend vllm --upstream http://127.0.0.1:8001 --host ./host --genes ./sort-gene ./upper-gene",
    ], description="Serve genes behind an OpenAI-compatible HTTP API (/v1/completions, /v1/chat/completions, "
                   "/v1/models). model = the host's name routes each request, a gene's name forces that gene, "
                   "NAME:base is the bare host. Concurrent requests are batched; the local engine decodes greedily.")
    p.add_argument("--host", required=True, help="host model directory")
    p.add_argument("--genes", nargs="+", required=True, metavar="GENE_DIR", help="gene directories")
    add_router_option(p)
    add_general_option(p, "the `none` class of a router trained now or when a gene is added; default for a zoo "
                          "host: the zoo's own", chat=True)
    p.add_argument("--backend", choices=("local", "vllm"), default="local",
                   help="local: genehub's engine (default); vllm: route here and generate on --upstream")
    p.add_argument("--upstream", default=None, metavar="URL", help="with --backend vllm: the vLLM server's URL")
    p.add_argument("--base-model", default=None,
                   help="with --backend vllm: the upstream's id for the bare host (default: found from its model list)")
    p.add_argument("--name", default=None, help="the routed model id (default: the host's repo id)")
    p.add_argument("--bind", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.add_argument("--admin-token", default=None,
                   help="bearer token for /admin/genes (or GENEHUB_ADMIN_TOKEN); without one admin is off")
    p.add_argument("--verify", action="store_true",
                   help="refuse to start unless every gene verifies against the trust store "
                        "(genes added through /admin/genes always must)")
    p.add_argument("--engine", choices=("auto", "fused", "peft"), default="auto", help="local engine (default auto)")
    p.add_argument("--max-batch", type=int, default=32, help="most requests in one batch (default 32)")
    p.add_argument("--batch-window-ms", type=float, default=5.0,
                   help="how long a batch's first request waits for others (default 5 ms)")
    p.add_argument("--max-prompt-tokens", type=int, default=None,
                   help="longest prompt accepted (default: the host's context length minus one)")
    p.add_argument("--max-tokens", type=int, default=512, help="most new tokens a request may ask for (default 512)")
    p.add_argument("--log-level", default="info", choices=("critical", "error", "warning", "info", "debug"))

    group = add_group(subparsers, "export", help="write genes in the layout another serving engine loads",
                      examples=["genehub export vllm --host ./host --genes ./sort-gene ./upper-gene --out ./vllm-export"])
    p = add_command(group, "vllm", help="write genes as vLLM LoRA modules, with the launch command", func=_export_vllm,
                    examples=["genehub export vllm --host ./host --genes ./sort-gene ./upper-gene --out ./vllm-export",
                              "sh ./vllm-export/launch.sh --port 8001"])
    p.add_argument("--host", required=True, help="host model directory")
    p.add_argument("--genes", nargs="+", required=True, metavar="GENE_DIR", help="gene directories")
    p.add_argument("--out", required=True, help="directory to write (must not exist)")
    p.add_argument("--name", default=None, help="vLLM's --served-model-name (default: the host's repo id)")
    p.add_argument("--dtype", default=None, help="vLLM's --dtype (default: vLLM's choice)")
    p.add_argument("--max-model-len", type=int, default=None, help="vLLM's --max-model-len (default: the host's)")
    p.add_argument("--overwrite", action="store_true", help="replace an earlier export in --out")
