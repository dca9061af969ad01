"""``genehub push / pull / search / info / list / remove``: the registry commands (a thin skin)."""

from __future__ import annotations

import argparse
from typing import Any

from .._tables import print_table
from ._common import add_command, add_json, add_registry, config_default, print_json


def _push(args: argparse.Namespace) -> int:
    from ..registry import push

    result = push(args.dir, args.repo_id, registry=args.registry, message=args.message)
    sent = ", ".join(result.uploaded) if result.uploaded else "nothing (already up to date)"
    print(f"pushed {args.repo_id} {result.tag} -> {result.revision} on {result.registry}; uploaded {sent}")
    return 0


def _pull(args: argparse.Namespace) -> int:
    from ..registry import pull

    installed = pull(args.repo_id, host=args.host, registry=args.registry, max_file_bytes=args.max_file_bytes,
                     repair=args.repair)
    gene = installed.gene
    print(f"installed {installed.repo_id}@{installed.revision} ({gene.name} {gene.version}, signed by "
          f"{installed.signer}) at {installed.path}")
    return 0


def _where(registry: Any) -> str:
    """How the registry ``--registry`` was read as: the Hub at an URL, or a local registry in a folder."""
    from ..registry import LocalRegistry

    if isinstance(registry, LocalRegistry):
        missing = "" if registry.root.is_dir() else ", a folder that does not exist"
        return f"the local registry {registry.root}{missing}"
    return f"the Hub-compatible registry {registry.location}"


def _search(args: argparse.Namespace) -> int:
    from ..registry import open_registry, search

    registry = open_registry(args.registry)
    hits = search(args.query, host=args.host, skill=args.skill, license=args.license, registry=registry)
    rows: list[dict[str, Any]] = [h.to_dict() for h in hits]
    if args.json:
        print_json(rows)
    elif not rows:
        print(f"No genes found in {_where(registry)}.")
    else:
        print_table(rows, ["repo_id", "version", "skill", "host", "homology", "fidelity", "license", "signer"])
    return 0


def _info(args: argparse.Namespace) -> int:
    from ..registry import info

    print_json(info(args.repo_id, registry=args.registry))
    return 0


def _list(args: argparse.Namespace) -> int:
    from ..registry import list_installed

    rows = [g.to_dict() for g in list_installed()]
    if args.json:
        print_json(rows)
    else:
        print_table(rows, ["repo_id", "version", "skill", "signer", "revision", "path"])
    return 0


def _remove(args: argparse.Namespace) -> int:
    from ..registry import remove

    removed = remove(args.name)
    print(f"removed {removed.repo_id} ({removed.name} {removed.version})")
    return 0


def register(subparsers: Any) -> None:
    """Add the registry commands to `genehub`."""
    p = add_command(subparsers, "push", help="publish a signed gene (one commit, tagged v<version>)", func=_push,
                    examples=["genehub push ./sort-gene me/sort-gene",
                              "genehub push ./sort-gene me/sort-gene --registry hub"])
    p.add_argument("dir", help="the signed gene directory")
    p.add_argument("repo_id", help="OWNER/NAME")
    p.add_argument("--message", default=None, help="commit message (default names the gene and version)")
    add_registry(p)

    p = add_command(subparsers, "pull", help="download, verify and install a gene", func=_pull,
                    examples=["genehub pull me/sort-gene", "genehub pull me/sort-gene@v0.1.0 --host ./host",
                              "genehub pull me/sort-gene --repair",
                              "genehub pull me/sort-gene --registry https://hub.example.org"])
    p.add_argument("repo_id", help="OWNER/NAME or OWNER/NAME@REVISION (branch, tag or commit)")
    p.add_argument("--host", default=None, help="a host model directory the gene must fit")
    config_default(p.add_argument("--max-file-bytes", type=int, default=None,
                                  help="refuse files larger than this many bytes (GENEHUB_MAX_FILE_BYTES changes "
                                       "the default)"), "genehub.registry.safety:DEFAULT_MAX_FILE_BYTES")
    p.add_argument("--repair", action="store_true",
                   help="replace an installed copy that no longer verifies (after verifying the new one) "
                        "and drop corrupted Hub-cache copies of the repo")
    add_registry(p)

    p = add_command(subparsers, "search", help="find genes by text, host, skill and licence", func=_search,
                    examples=["genehub search", "genehub search sort --license apache-2.0",
                              "genehub search --skill sort --host zoo/tiny-host --registry hub"])
    p.add_argument("query", nargs="?", default=None, help="text the repo id contains")
    p.add_argument("--host", default=None, help="host repo id, or a host directory the gene must fit")
    p.add_argument("--skill", default=None)
    p.add_argument("--license", default=None, help="SPDX id")
    add_json(p)
    add_registry(p)

    p = add_command(subparsers, "info", help="show a gene repo: revision, tags, files, card facts", func=_info,
                    examples=["genehub info me/sort-gene"])
    p.add_argument("repo_id")
    add_registry(p)

    p = add_command(subparsers, "list", help="list installed genes", func=_list,
                    examples=["genehub list", "genehub list --json"])
    add_json(p)

    p = add_command(subparsers, "remove", help="uninstall a gene", func=_remove,
                    examples=["genehub remove me/sort-gene", "genehub remove sort-gene"])
    p.add_argument("name", help="repo id or gene name")
