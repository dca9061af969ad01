"""``genehub space``: run the gene browser (the Hugging Face Space) on this machine."""

from __future__ import annotations

import argparse
from typing import Any

from ._common import add_command


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
        ],
        func=_run,
    )
    parser.add_argument("--registry", default=None,
                        help="a folder of genes, a local registry folder, `hub`, or a Hub endpoint URL "
                             "(default: the local registry)")
    parser.add_argument("--host", action="append", default=[], dest="hosts", metavar="DIR",
                        help="a host model directory to offer in Try (repeatable)")
    parser.add_argument("--zoo", default=None, help="also offer the zoo's hosts of this preset (tiny, demo)")
    parser.add_argument("--trust", default=None, help="trust store folder (default: genehub's)")
    parser.add_argument("--server-name", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=None, help="port (default: Gradio's, 7860 or the next free)")
    parser.add_argument("--max-new-tokens", type=int, default=16, help="greedy generation length in Try")


def _run(args: argparse.Namespace) -> int:
    from ..space import SpaceConfig, create_app

    config = SpaceConfig(registry=args.registry, hosts=list(args.hosts), zoo=args.zoo, trust=args.trust,
                         max_new_tokens=args.max_new_tokens)
    demo = create_app(config)
    print(f"genehub space: genes from {config.registry or 'the local registry'}; press Ctrl+C to stop.")
    demo.launch(server_name=args.server_name, server_port=args.port, ssr_mode=False)
    return 0
