"""`genehub demo`: the whole marketplace end to end on this machine."""

from __future__ import annotations

import argparse
from typing import Any

from ._common import add_command, add_registry, config_default


def register(subparsers: Any) -> None:
    parser = add_command(
        subparsers, "demo",
        help="run the marketplace end to end: zoo -> extract -> sign -> push -> pull -> route -> compose",
        examples=["genehub demo", "genehub demo --preset tiny --out /tmp/demo", "genehub demo --fresh   # re-extract the genes",
                  "genehub demo --registry http://127.0.0.1:8080   # a Hub-compatible endpoint"],
        func=_demo)
    # Defaults are DemoConfig's (and extraction's for --steps): shown in --help, applied by DemoConfig.
    config_default(parser.add_argument("--preset", choices=["smollm2", "demo", "tiny"],
                                       help="smollm2 (real models: SmolLM2-135M-Instruct host, Gemma-3-270M "
                                            "heterologous), demo (the tiny zoo's larger preset) or tiny (tests)"),
                   "genehub.demo:DemoConfig.preset")
    config_default(parser.add_argument("--out", help="output folder"), "genehub.demo:DemoConfig.out")
    add_registry(parser, default="a local registry in the output folder")
    parser.add_argument("--steps", type=int, help="distillation steps per gene (default: the preset's)")
    parser.add_argument("--fresh", action="store_true",
                        help="extract the genes again instead of reusing ones cached with the same recipe")
    config_default(parser.add_argument("--seed", type=int, help="random seed"), "genehub.demo:DemoConfig.seed")


def _demo(args: argparse.Namespace) -> int:
    from ..demo import DemoConfig, run_demo

    given = {k: getattr(args, k) for k in ("preset", "out", "registry", "steps", "seed") if getattr(args, k) is not None}
    run_demo(DemoConfig(**given, reuse_genes=not args.fresh))
    return 0
