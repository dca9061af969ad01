"""`genehub demo`: the whole marketplace end to end on this machine."""

from __future__ import annotations

import argparse
from typing import Any

from ._common import add_command


def register(subparsers: Any) -> None:
    parser = add_command(
        subparsers, "demo",
        help="run the marketplace end to end: zoo -> extract -> sign -> push -> pull -> route -> compose",
        examples=["genehub demo", "genehub demo --preset tiny --out /tmp/demo",
                  "genehub demo --registry http://127.0.0.1:8080   # a Hub-compatible endpoint"],
        func=_demo)
    parser.add_argument("--preset", default="demo",
                        help="zoo preset: demo (default; ~12 min on 2 cores, +9 to build the zoo) or tiny")
    parser.add_argument("--out", default="demo-output", help="output folder (default ./demo-output)")
    parser.add_argument("--registry", help="where to push genes (default: a local registry in the output folder)")
    parser.add_argument("--steps", type=int, help="distillation steps per gene (default: extraction's)")
    parser.add_argument("--seed", type=int, default=0)


def _demo(args: argparse.Namespace) -> int:
    from ..demo import DemoConfig, run_demo

    run_demo(DemoConfig(preset=args.preset, out=args.out, registry=args.registry, steps=args.steps, seed=args.seed))
    return 0
