"""CLI for genes: keys, the trust store, signing, verification and cards.

    genehub keys new NAME              genehub sign DIR --key NAME [--repo-id OWNER/NAME]
    genehub trust add|list|remove      genehub verify DIR|REPO_ID
    genehub card validate DIR          genehub card show DIR
    genehub card init ADAPTER --host H --data D --out GENE   (in genehub/cli/extract.py, beside extract)
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from .._tables import print_table
from ._common import add_command, add_group, add_json, print_json


def _store(args: argparse.Namespace) -> Any:
    from ..gene import TrustStore

    return TrustStore(args.trust_store)


def _add_store_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--trust-store", metavar="DIR", default=None,
                        help="trust store directory (default: $GENEHUB_CONFIG/trust, ~/.config/genehub/trust)")


def _keys_new(args: argparse.Namespace) -> int:
    from ..gene import new_key

    key = new_key(args.name, directory=args.dir, overwrite=args.force)
    print(f"private key  {key.private}  (keep it secret)")
    print(f"public key   {key.public}  (share it)")
    print(f"fingerprint  {key.fingerprint}")
    if args.trust:
        _store(args).add(args.name, key.public, overwrite=True)
        print(f"trusted as {args.name!r}")
    else:
        print(f"to accept your own genes: genehub trust add {args.name} {key.public}")
    return 0


def _trust_add(args: argparse.Namespace) -> int:
    key = _store(args).add(args.name, args.public_key, overwrite=args.force)
    print(f"trusted {key.name!r} ({key.fingerprint})")
    return 0


def _trust_list(args: argparse.Namespace) -> int:
    rows = [{"name": k.name, "fingerprint": k.fingerprint, "path": str(k.path)} for k in _store(args).list()]
    print_json(rows) if args.json else print_table(rows, ["name", "fingerprint"])
    return 0


def _trust_remove(args: argparse.Namespace) -> int:
    _store(args).remove(args.name)
    print(f"no longer trusting {args.name!r}")
    return 0


def _password(args: argparse.Namespace) -> str | None:
    from ..errors import UsageError

    if not args.password_env:
        return None
    if args.password_env not in os.environ:
        raise UsageError(f"--password-env names {args.password_env}, which is not set.",
                         hint=f"Export {args.password_env} with the key's password, or leave --password-env out.")
    return os.environ[args.password_env]


def _sign(args: argparse.Namespace) -> int:
    from ..gene import load_card, sign_gene

    path = sign_gene(args.dir, key=args.key, password=_password(args), repo_id=args.repo_id, previous=args.previous)
    identity = load_card(path.parent)["identity"]
    follows = f", after {identity['previous']['version']}" if "previous" in identity else ""
    print(f"signed {args.dir} for {identity['repo_id']}{follows} -> {path}")
    return 0


def _gene_dir(arg: str) -> tuple[str, str | None]:
    """A gene directory, or an installed gene's (by repo id or name) with its repo id."""
    from pathlib import Path

    from ..errors import NotFoundError
    from ..registry import GeneStore

    if Path(arg).expanduser().exists():
        return str(Path(arg).expanduser()), None
    store = GeneStore()
    try:
        gene = store.get(arg)
    except NotFoundError:
        raise NotFoundError(f"{arg} is neither a directory nor a gene installed in {store.root}.",
                            hint="Pass a gene directory, or a repo id or name that `genehub list` shows.",
                            path=arg) from None
    return str(gene.path), gene.repo_id


def _verify(args: argparse.Namespace) -> int:
    from ..gene import CardView, verify_gene

    path, installed_as = _gene_dir(args.dir)
    result = verify_gene(path, trust=_store(args), repo_id=args.repo_id or installed_as)
    card = CardView(result.card)
    if args.json:
        print_json({"ok": True, "signer": result.signer, "fingerprint": result.fingerprint,
                    "name": card.name, "version": card.version, "repo_id": result.repo_id,
                    "digest": result.digest})
    else:
        bound = f"; signed for {result.repo_id}" if result.repo_id else "; not bound to a repo"
        print(f"OK {card.name} {card.version}: signed by {result.signer} ({result.fingerprint}); "
              f"card valid; digests match{bound}")
    return 0


def _card_validate(args: argparse.Namespace) -> int:
    from ..errors import CardValidationError
    from ..gene import load_card

    try:
        card = load_card(args.path)
    except CardValidationError as err:
        count = len(err.errors)
        print(f"invalid: {count} problem{'s' if count != 1 else ''} in {args.path}", file=sys.stderr)
        for path, message in err.errors:
            print(f"  {path}: {message}", file=sys.stderr)
        return 1
    print(f"valid: {card['name']} {card['version']} (schema {card['schema_version']})")
    return 0


def _card_show(args: argparse.Namespace) -> int:
    from ..gene import CardView, load_card

    card = CardView(load_card(args.path))
    if args.json:
        print_json(card.card)
        return 0
    fid, adapter = card.fidelity, card.adapter
    rows = [
        {"field": "name", "value": f"{card.name} {card.version}"},
        {"field": "summary", "value": card.summary},
        {"field": "skill", "value": card.skill},
        {"field": "host", "value": f"{card.host.repo_id} @ {card.host.revision}"},
        {"field": "parents", "value": ", ".join(f"{p.role}:{p.repo_id}" for p in card.parents)},
        {"field": "adapter", "value": f"lora r={adapter.rank} alpha={card.card['adapter']['alpha']} "
                                      f"on {','.join(adapter.target_modules)} layers {list(adapter.layers)}"},
        {"field": "homology", "value": f"{card.homology.method} aggregate {card.homology.aggregate:.3f}"},
        {"field": "fidelity", "value": f"{fid.metric}: host {fid.host:.3f} -> gene {fid.gene:.3f}"
                                       + (f" (donor {fid.donor:.3f})" if fid.donor is not None else "")},
        {"field": "license", "value": f"{card.license} ({card.license_rule})"},
        {"field": "created", "value": f"{card.card['lineage']['created']} by {card.card['lineage']['recipe']}"},
    ]
    print_table(rows, ["field", "value"])
    return 0


def register(subparsers: Any) -> None:
    """Add ``keys``, ``trust``, ``sign``, ``verify`` and ``card`` to `genehub`."""
    keys = add_group(subparsers, "keys", help="make signing keys (EC P-256)",
                     examples=["genehub keys new alice", "genehub keys new alice --trust"])
    p = add_command(keys, "new", help="make a P-256 key pair NAME.pem / NAME.pub in the config dir",
                    examples=["genehub keys new alice", "genehub keys new ci --dir ./keys --force"], func=_keys_new)
    p.add_argument("name")
    p.add_argument("--dir", default=None, help="where to write the pair (default: $GENEHUB_CONFIG/keys)")
    p.add_argument("--force", action="store_true", help="replace an existing key of that name")
    p.add_argument("--trust", action="store_true", help="also add the public key to the trust store")
    _add_store_option(p)

    trust = add_group(subparsers, "trust", help="the public keys whose signatures you accept",
                      examples=["genehub trust add bob bob.pub", "genehub trust list", "genehub trust remove bob"])
    p = add_command(trust, "add", help="trust a public key under a name",
                    examples=["genehub trust add bob ./bob.pub"], func=_trust_add)
    p.add_argument("name")
    p.add_argument("public_key", help="PEM public key file (NAME.pub from `genehub keys new`)")
    p.add_argument("--force", action="store_true", help="replace a different key already trusted under NAME")
    _add_store_option(p)
    p = add_command(trust, "list", help="list trusted keys", examples=["genehub trust list --json"], func=_trust_list)
    add_json(p)
    _add_store_option(p)
    p = add_command(trust, "remove", help="stop trusting a key", examples=["genehub trust remove bob"], func=_trust_remove)
    p.add_argument("name")
    _add_store_option(p)

    p = add_command(subparsers, "sign", help="sign a gene directory for the repo it will be pushed to (writes DIR/gene.sig)",
                    examples=["genehub sign ./sort-gene --key alice                  # for alice/sort-gene",
                              "genehub sign ./sort-gene --key alice --repo-id team/sort-gene --previous ./sort-gene-0.1.0",
                              "genehub sign ./g --key ./ci.pem --password-env KEY_PW"],
                    func=_sign)
    p.add_argument("dir")
    p.add_argument("--key", required=True, help="key name (from `genehub keys new`) or PEM private key path")
    p.add_argument("--repo-id", metavar="OWNER/NAME", default=None,
                   help="the repo the signature binds (push refuses any other; default: the card's, else KEY/GENE-NAME)")
    p.add_argument("--previous", metavar="DIR", default=None,
                   help="the signed previous version: its version and digest are bound too (pull then spots forks)")
    p.add_argument("--password-env", metavar="VAR", default=None, help="environment variable holding the key's password")

    p = add_command(subparsers, "verify", help="verify signature, signer trust, card, digests and repo of a gene",
                    examples=["genehub verify ./sort-gene", "genehub verify alice/sort-gene        # an installed gene",
                              "genehub verify ./g --trust-store ./trust --json"],
                    func=_verify)
    p.add_argument("dir", help="a gene directory, or an installed gene's repo id or name")
    p.add_argument("--repo-id", metavar="OWNER/NAME", default=None,
                   help="also require the gene to be signed for this repo (implied for an installed gene)")
    add_json(p, "print the verification as JSON")
    _add_store_option(p)

    card = add_group(subparsers, "card", help="check and read gene cards (gene.json); wrap a LoRA made elsewhere",
                     examples=["genehub card validate ./sort-gene", "genehub card show ./sort-gene",
                               "genehub card init ./my-lora --host ./my-host --data skill.jsonl --out ./my-gene"])
    p = add_command(card, "validate", help="check a card against schemas/gene-card.schema.json",
                    examples=["genehub card validate ./sort-gene", "genehub card validate ./gene.json"],
                    func=_card_validate)
    p.add_argument("path", help="gene directory or gene.json")
    p = add_command(card, "show", help="summarise a gene card", examples=["genehub card show ./sort-gene --json"],
                    func=_card_show)
    p.add_argument("path", help="gene directory or gene.json")
    add_json(p, "print the whole card")
    from .extract import register_card_init

    register_card_init(card)
