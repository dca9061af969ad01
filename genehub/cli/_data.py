"""Options shared by the commands that read the user's data or load a model.

``--prompt-column``/``--completion-column``/``--chat`` (how rows read, :class:`genehub.lorafy.RowFormat`),
``--general`` (prompts the host should keep answering alone: a router's "none" class, extraction's
preservation and contrast prompts), ``--dtype``/``--device`` (how a model loads).
"""

from __future__ import annotations

import argparse
from typing import Any

ZOO_PREFIX = "genehub-zoo/"


def add_format_options(parser: argparse.ArgumentParser) -> None:
    """``--prompt-column``, ``--completion-column`` and ``--chat``."""
    parser.add_argument("--prompt-column", metavar="COLUMN", default=None,
                        help="column holding the prompt (default: prompt, or chat `messages`)")
    parser.add_argument("--completion-column", metavar="COLUMN", default=None,
                        help="column holding the completion (default: completion, answer, response, output or "
                             "target; or the last assistant message)")
    parser.add_argument("--chat", action="store_true",
                        help="wrap each plain prompt as one user message of the host's chat template")


def add_general_option(parser: argparse.ArgumentParser, what: str, *, chat: bool = False) -> None:
    """``--general FILE``: prompts the host should keep answering alone (and ``--chat`` when ``chat``)."""
    parser.add_argument("--general", metavar="DATA", default=None,
                        help=f"prompts the host should keep answering alone ({what}): a .jsonl/.csv/.parquet file "
                             "or a datasets folder with a prompt (or messages) column (--chat wraps them too); "
                             "completions not needed")
    if chat:
        parser.add_argument("--chat", action="store_true",
                            help="wrap each plain --general prompt as one user message of the host's chat template")


def add_model_options(parser: argparse.ArgumentParser) -> None:
    """``--dtype`` and ``--device``."""
    from ..hosts import DTYPES

    parser.add_argument("--dtype", choices=DTYPES, default=None, help="dtype the models load in (default float32)")
    parser.add_argument("--device", default=None, help="device the models load on, e.g. cuda, cuda:1, mps (default cpu)")


def row_format(args: argparse.Namespace) -> Any:
    """The :class:`genehub.lorafy.RowFormat` the options describe."""
    from ..lorafy import RowFormat

    return RowFormat(args.prompt_column, args.completion_column, args.chat)


def is_zoo_host(host: str) -> bool:
    """Whether ``host`` is one of the zoo's models (its genehub.json names a genehub-zoo repo)."""
    from ..hosts import model_meta

    return str(model_meta(host).get("repo_id", "")).startswith(ZOO_PREFIX)


def none_prompts(args: argparse.Namespace, host: str, *, required: bool = True, tokenizer: Any = None) -> Any:
    """A router's "none" class: the ``--general`` prompts, or for a zoo host the zoo's own (None when
    neither and not ``required``: a router given on the command line needs none until a gene is added).

    Raises:
        UsageError: neither, and ``required`` (what "no gene" means depends on the host: genehub cannot
            guess it).
    """
    from ..errors import UsageError

    if args.general:
        from ..hosts import load_tokenizer
        from ..lorafy import load_prompts

        return load_prompts(args.general, tokenizer=tokenizer or load_tokenizer(host), chat=args.chat)
    if is_zoo_host(host):
        from ..zoo import none_prompts as zoo_none_prompts

        return zoo_none_prompts
    if not required:
        return None
    raise UsageError(f"The router needs prompts that {host} should answer without a gene.",
                     hint="Pass --general FILE (a .jsonl/.csv/.parquet file with a prompt or messages column) "
                          "with requests the host handles alone.")
