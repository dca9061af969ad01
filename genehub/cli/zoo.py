"""`genehub zoo`: build the tiny real models that tests, benchmarks and the demo run on."""

from __future__ import annotations

import argparse
from typing import Any

from .._tables import print_table
from ._common import add_command, add_group


def register(subparsers: Any) -> None:
    group = add_group(subparsers, "zoo", help="build tiny real models with synthetic skills (no download)",
                      examples=["genehub zoo build --preset tiny", "genehub zoo skills"])
    build = add_command(group, "build", help="build (or reuse the cached) zoo and print its accuracies",
                        examples=["genehub zoo build --preset demo", "genehub zoo build --preset tiny --out ./zoo --force"],
                        func=_build)
    build.add_argument("--preset", default="demo", help="tiny (tests, <1 min) or demo (a few minutes); default %(default)s")
    build.add_argument("--out", help="directory to build into (default: the cache, keyed by the recipe)")
    build.add_argument("--force", action="store_true", help="rebuild even if a cached build exists")
    add_command(group, "skills", help="list the synthetic skills and their prompt templates",
                examples=["genehub zoo skills"], func=_skills)


def _build(args: argparse.Namespace) -> int:
    from ..zoo import build

    zoo = build(args.preset, out=args.out, force=args.force)
    print(f"zoo '{zoo.preset}' at {zoo.root}")
    skills = list(next(iter(zoo.accuracies.values())))
    rows = [{"model": name, **acc, "train s": zoo.manifest["train_seconds"].get(name)}
            for name, acc in zoo.accuracies.items()]
    print_table(rows, ["model", *skills, "train s"])
    return 0


def _skills(args: argparse.Namespace) -> int:
    from ..zoo import SKILLS

    print_table([{"skill": s.name, "templates": " | ".join(s.templates), "held out": " | ".join(s.heldout)}
                 for s in SKILLS.values()])
    return 0
