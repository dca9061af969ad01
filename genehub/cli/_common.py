"""Helpers shared by the CLI modules: one way to declare a command with examples, the options several
commands share (``--json``, ``--registry``), defaults shown from the library's configs, one way to print JSON.

Tables are printed with :func:`genehub._tables.print_table`, which every layer shares.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections.abc import Callable, Sequence
from typing import Any


class _HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Appends ``(default X)`` to an option whose default lives in a library config (see :func:`config_default`).

    The config is imported when that help is printed, not when the parser is built, so ``genehub --help``
    and every other command's help need no model library.
    """

    def _get_help_string(self, action: argparse.Action) -> str:
        text = super()._get_help_string(action) or ""
        source = getattr(action, "config_default", None)
        if source is None:
            return text
        module, _, attributes = source.partition(":")
        default: Any = importlib.import_module(module)
        for name in attributes.split("."):
            default = getattr(default, name)
        return f"{text} (default {default})"


def config_default(action: argparse.Action, source: str) -> argparse.Action:
    """Show ``source``'s value as the option's default in ``--help``: ``"module:attribute"``, e.g.
    ``"genehub.lorafy.extract:ExtractConfig.steps"`` (a dataclass field's default)."""
    action.config_default = source  # type: ignore[attr-defined]
    return action


def add_command(
    subparsers: Any,
    name: str,
    *,
    help: str,
    examples: Sequence[str],
    func: Callable[[argparse.Namespace], int | None] | None = None,
    description: str | None = None,
) -> argparse.ArgumentParser:
    """Add one command whose ``--help`` ends with its examples."""
    epilog = "examples:\n" + "\n".join(f"  {line}" for line in examples)
    parser = subparsers.add_parser(
        name,
        help=help,
        description=description or help,
        epilog=epilog,
        formatter_class=_HelpFormatter,
    )
    if func is not None:
        parser.set_defaults(func=func)
    return parser


def add_group(subparsers: Any, name: str, *, help: str, examples: Sequence[str]) -> Any:
    """Add a group of commands (``genehub zoo build``); returns the group's subparsers."""
    parser = add_command(subparsers, name, help=help, examples=examples)
    parser.set_defaults(func=lambda args: parser.print_help() or 2)
    return parser.add_subparsers(dest=f"{name}_command", metavar="COMMAND")


def add_json(parser: argparse.ArgumentParser, help: str = "print JSON instead of a table") -> None:
    """The ``--json`` flag every command that prints results has."""
    parser.add_argument("--json", action="store_true", help=help)


def add_registry(parser: argparse.ArgumentParser, *, default: str | None = None) -> None:
    """The ``--registry`` option: where genes are pushed to, pulled from or browsed.

    Args:
        default: what the command uses when it is not given (default: the local registry).
    """
    from .._paths import home_dir

    local = home_dir() / "registry"
    parser.add_argument(
        "--registry", default=None, metavar="WHERE",
        help=f"`local` (GENEHUB_REGISTRY if set, else {local}), `hub` (HF_ENDPOINT or huggingface.co, token "
             f"HF_TOKEN), an http(s) URL of a Hub-compatible endpoint, or a directory (a local registry; the Space "
             f"also reads a folder of genes); default: {default or 'local'}")


def print_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, sort_keys=True, default=str)
    sys.stdout.write("\n")
