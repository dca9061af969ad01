"""`genehub demo`: the whole marketplace end to end on this machine."""

from __future__ import annotations

import argparse
from typing import Any

from ._common import add_command, add_registry, config_default


def register(subparsers: Any) -> None:
    parser = add_command(
        subparsers, "demo",
        help="run the marketplace end to end: zoo -> extract -> sign -> push -> pull -> route -> compose",
        examples=["genehub demo", "genehub demo --preset tiny --out /tmp/demo",
                  "genehub demo --registry http://127.0.0.1:8080   # a Hub-compatible endpoint"],
        func=_demo)
    # Defaults are DemoConfig's (and extraction's for --steps): shown in --help, applied by DemoConfig.
    config_default(parser.add_argument("--preset", help="zoo preset: demo (~12 min on 2 cores, +9 to build the zoo) "
                                                        "or tiny"), "genehub.demo:DemoConfig.preset")
    config_default(parser.add_argument("--out", help="output folder"), "genehub.demo:DemoConfig.out")
    add_registry(parser, default="a local registry in the output folder")
    config_default(parser.add_argument("--steps", type=int, help="distillation steps per gene"),
                   "genehub.lorafy.extract:ExtractConfig.steps")
    config_default(parser.add_argument("--seed", type=int, help="random seed"), "genehub.demo:DemoConfig.seed")


def _demo(args: argparse.Namespace) -> int:
    from ..demo import DemoConfig, run_demo

    given = {k: getattr(args, k) for k in ("preset", "out", "registry", "steps", "seed") if getattr(args, k) is not None}
    run_demo(DemoConfig(**given))
    return 0
