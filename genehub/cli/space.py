"""``genehub space``: run the gene browser (the Hugging Face Space) on this machine."""

from __future__ import annotations

import argparse
from typing import Any

from ._common import add_command, add_registry, config_default


def register(subparsers: Any) -> None:
    """Add ``genehub space`` to ``genehub``."""
    parser = add_command(
        subparsers, "space",
        help="browse genes, inspect their cards and try them on a host, in a web page",
        examples=[
            "genehub space                                   # the local registry, no host to try",
            "genehub space --zoo tiny                        # ...and the zoo's hosts for Try",
            "genehub space --registry ./genes --host ./zoo/host --port 7861",
            "HF_ENDPOINT=https://hub.example.org genehub space --registry hub --host ./host",
            "genehub space --export build/space && hf upload me/genehub build/space . --repo-type space",
        ],
        func=_run,
    )
    add_registry(parser)
    parser.add_argument("--host", action="append", default=[], dest="hosts", metavar="DIR",
                        help="a host model directory to offer in Try (repeatable)")
    parser.add_argument("--zoo", default=None,
                        help="also offer this preset's hosts: smollm2 (the real host SmolLM2-135M-Instruct and "
                             "Gemma-3-270M), tiny or demo")
    parser.add_argument("--trust", default=None, help="trust store folder (default: genehub's)")
    parser.add_argument("--data", default=None, metavar="SOURCE",
                        help="where the genes and hosts come from, a data source of genehub.space.DATA_SOURCES "
                             "(default: registry, i.e. --registry, --host and --zoo)")
    parser.add_argument("--server-name", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=None, help="port (default: Gradio's, 7860 or the next free)")
    config_default(parser.add_argument("--max-new-tokens", type=int, help="greedy generation length in Try"),
                   "genehub.space.config:SpaceConfig.max_new_tokens")
    parser.add_argument("--export", default=None, metavar="DIR",
                        help="instead of running it, write the Space (app, card, requirements and genehub itself) "
                             "to DIR, ready to upload to Hugging Face Spaces")
    parser.add_argument("--overwrite", action="store_true", help="with --export: replace an earlier export in DIR")


def _run(args: argparse.Namespace) -> int:
    if args.export:
        from ..space.export import export_space

        dest = export_space(args.export, overwrite=args.overwrite)
        print(f"Wrote the Space to {dest}. Upload it with: hf upload OWNER/NAME {dest} . --repo-type space")
        return 0
    from ..space import SpaceConfig, create_app

    config = SpaceConfig(registry=args.registry, hosts=list(args.hosts), zoo=args.zoo, trust=args.trust)
    if args.data:
        config.data = args.data
    if args.max_new_tokens is not None:
        config.max_new_tokens = args.max_new_tokens
    demo = create_app(config)
    print(f"genehub space: genes from {config.registry or 'the local registry'}; press Ctrl+C to stop.")
    demo.launch(server_name=args.server_name, server_port=args.port, ssr_mode=False)
    return 0
