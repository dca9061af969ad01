"""The ``genehub`` command: a thin skin over the library.

Each group lives in its own module (``genehub/cli/<group>.py``) with a ``register(subparsers)``
function that adds its commands. A command parses its arguments, calls one library function and
prints the result. Heavy imports (torch, transformers) happen inside the handlers, so ``--help`` is fast.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
import traceback
from collections.abc import Sequence
from contextlib import nullcontext

from .._quiet import quiet_warnings
from ..errors import GenehubError

# One module per group of commands; the order is the order of `genehub --help`.
_GROUPS = ("hosts", "zoo", "gene", "registry", "extract", "routing", "serve", "breed", "space", "demo")

_DESCRIPTION = """\
genehub: skills of language models as shareable, signed, composable LoRA genes.

examples:
  genehub demo                                  # the whole marketplace, end to end, on this machine
  genehub zoo build --preset tiny               # tiny real models with synthetic skills
  genehub keys new me && genehub sign ./my-gene --key me
  genehub push ./my-gene me/sort-gene && genehub pull me/sort-gene --host ./host
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="genehub", description=_DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--debug", action="store_true", help="show full tracebacks and debug logs")
    from .._version import __version__

    parser.add_argument("--version", action="version", version=f"genehub {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for group in _GROUPS:
        importlib.import_module(f"{__name__}.{group}").register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``genehub`` console script. Returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("huggingface_hub").propagate = False  # it prints its own warnings: once is enough
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        with nullcontext() if args.debug else quiet_warnings():  # the bar: hosts.load_host
            result = args.func(args)
    except GenehubError as err:
        if args.debug:
            traceback.print_exc()
        print(f"error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return int(result or 0)
