"""CLI for routers and composition.

    genehub router train --host H --genes G1 G2 --out R     genehub router show R
    genehub router sign R --key NAME                         genehub router verify R
    genehub run "prompt" ... --host H --genes G1 G2 [--router R]   (or --file F, or stdin)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from .._tables import print_table
from ._common import add_command, add_group, add_json, config_default, print_json
from ._data import add_general_option, add_model_options, none_prompts


def _load(args: argparse.Namespace) -> tuple[Any, Any]:
    from ..hosts import load_host

    return load_host(args.host, dtype=args.dtype, device=args.device)


def _router_train(args: argparse.Namespace) -> int:
    from ..routing import Router

    options = {k: getattr(args, k) for k in ("threshold", "layer", "seed") if getattr(args, k) is not None}
    none = none_prompts(args, args.host)
    model, tokenizer = _load(args)
    router = Router.train(args.host, args.genes, none_prompts=none, model=model, tokenizer=tokenizer, **options)
    out = router.save(args.out)
    print(f"router for {', '.join(router.gene_names)} (+ none) written to {out}")
    print(f"features: layer {router.layer} ({router.pooling}); trained in {router.training['seconds']:.1f}s; "
          f"accuracy {_accuracy_line(router.accuracy)}")
    return 0


def _accuracy_line(accuracy: dict[str, Any]) -> str:
    """``validation 0.991 (320 prompts), held-out templates 0.953 (64 prompts)``: what was measured, rounded."""
    parts = []
    for key, label in (("validation", "validation"), ("heldout", "held-out templates")):
        value = accuracy.get(key)
        if value is None:
            continue
        count = accuracy.get(f"num_{key}")
        parts.append(f"{label} {value:.3f}" + (f" ({count} prompts)" if count else ""))
    return ", ".join(parts) or "not measured (too few examples to hold any out)"


def _router_show(args: argparse.Namespace) -> int:
    from ..routing import Router

    router = Router.load(args.router)
    config = router.config()
    if args.json:
        print_json(config)
        return 0
    print(f"host       {router.host.repo_id} @ {router.host.revision}")
    print(f"classes    {', '.join(router.classes)}   threshold {router.threshold:g}")
    print(f"features   layer {router.layer}, {router.pooling}")
    print(f"accuracy   {_accuracy_line(router.accuracy)}")
    print_table(router.genes, ["name", "skill", "revision"])
    return 0


def _router_sign(args: argparse.Namespace) -> int:
    from ..routing import sign_router

    print(f"signed: {sign_router(args.router, key=args.key)}")
    return 0


def _router_verify(args: argparse.Namespace) -> int:
    from ..routing import verify_router

    signer, router = verify_router(args.router)
    print(f"OK: router for {', '.join(router.gene_names)} signed by {signer}")
    return 0


def _read_file(name: str) -> list[str]:
    """The non-blank lines of a prompts file; a missing, unreadable or binary file is a one-line error."""
    from ..errors import NotFoundError, UsageError

    path = Path(name).expanduser()
    if path.is_dir():
        raise UsageError(f"--file {name} is a folder.", hint="Pass a text file with one prompt per line.")
    try:
        with path.open(encoding="utf-8") as fh:
            return [line.rstrip("\n") for line in fh if line.strip()]
    except FileNotFoundError:
        raise NotFoundError(f"--file {name}: no such file.", hint="Check the path; pass a text file with one prompt "
                                                                   "per line, or the prompts as arguments.",
                            path=str(path)) from None
    except UnicodeDecodeError:
        raise UsageError(f"--file {name} is not UTF-8 text.", hint="Pass a text file with one prompt per line.") from None
    except OSError as err:
        raise UsageError(f"Cannot read --file {name}: {err.strerror or err}.",
                         hint="Check the file's permissions, or pass the prompts as arguments.") from None


def _read_prompts(args: argparse.Namespace) -> list[str]:
    from ..errors import UsageError

    prompts = list(args.prompts)
    blank = [i for i, p in enumerate(prompts, 1) if not p.strip()]
    if blank:
        raise UsageError(f"Prompt {blank[0]} is empty: a model needs at least one token to continue.",
                         hint='Pass a prompt with some text, e.g. genehub run "sort cab:" --host ... --genes ...')
    if args.file:
        prompts += _read_file(args.file)
    if not prompts or prompts == ["-"]:
        if sys.stdin.isatty() and prompts != ["-"]:
            raise UsageError("No prompts given.", hint='Pass prompts as arguments, with --file F, or on stdin.')
        prompts = [line.rstrip("\n") for line in sys.stdin if line.strip()]
    if not prompts:
        raise UsageError("No prompts given.", hint='Pass prompts as arguments, with --file F, or on stdin.')
    return prompts


def _run(args: argparse.Namespace) -> int:
    prompts = _read_prompts(args)  # a mistake in the prompts is refused before any model library loads
    from ..routing import compose

    texts = prompts
    model, tokenizer = _load(args)
    # A router given on the command line needs no "none" prompts (unless a gene is added later).
    none = none_prompts(args, args.host, required=args.router is None, tokenizer=tokenizer)
    if args.chat:  # as the genes saw their prompts: rendered with the host's chat template
        from ..lorafy import load_prompts

        prompts = load_prompts(texts, tokenizer=tokenizer, chat=True)
    comp = compose(args.host, args.genes, args.router, mode="topk" if args.top_k > 1 else "top1",
                   top_k=max(args.top_k, 1), engine=args.engine, model=model, tokenizer=tokenizer,
                   none_prompts=none)
    rows: list[dict[str, Any]] = []
    for start in range(0, len(prompts), args.batch_size):
        batch = prompts[start:start + args.batch_size]
        for text, g in zip(texts[start:start + args.batch_size], comp.generate(batch, max_new_tokens=args.max_new_tokens)):
            d = g.decision
            rows.append({"prompt": text, "gene": g.gene or "none", "confidence": d.confidence if d else None,
                         "weights": d.weights if d else {}, "probabilities": d.probabilities if d else {},
                         "output": g.text})
    if args.json:
        print_json(rows)
    else:
        print_table(rows, ["prompt", "gene", "confidence", "output"])
    return 0


def register(subparsers: Any) -> None:
    """Add ``genehub router ...`` and ``genehub run``."""
    group = add_group(subparsers, "router", help="train, inspect and sign routers that pick a gene per prompt",
                      examples=["genehub router train --host ./host --genes ./sort-gene ./upper-gene --out ./router",
                                "genehub router show ./router"])
    p = add_command(group, "train", help="train a router on the genes' examples (seconds)", func=_router_train,
                    examples=["genehub router train --host ./host --genes ./sort-gene ./upper-gene --out ./router",
                              "genehub router train --host ./my-host --genes ./g --general general.jsonl --out ./router"])
    p.add_argument("--host", required=True, help="host model directory")
    p.add_argument("--genes", nargs="+", required=True, metavar="GENE_DIR", help="gene directories")
    p.add_argument("--out", required=True, help="router directory to write")
    add_general_option(p, "the router's `none` class; default for a zoo host: the zoo's own", chat=True)
    add_model_options(p)
    config_default(p.add_argument("--threshold", type=float, help="minimum confidence to express a gene"),
                   "genehub.routing.config:RouterConfig.threshold")
    p.add_argument("--layer", type=int, default=None,
                   help="host layer whose hidden states are the features (default: three quarters up); at or below "
                        "the first decoder block any gene adapts, compositions route inside their forward pass")
    config_default(p.add_argument("--seed", type=int, help="seeds the split and the head"),
                   "genehub.routing.config:RouterConfig.seed")
    p = add_command(group, "show", help="show a router's host, genes, classes and accuracy", func=_router_show,
                    examples=["genehub router show ./router", "genehub router show ./router --json"])
    p.add_argument("router", help="router directory")
    add_json(p, "print the router's config as JSON")
    p = add_command(group, "sign", help="sign a router directory (writes router.sig)", func=_router_sign,
                    examples=["genehub router sign ./router --key me"])
    p.add_argument("router", help="router directory")
    p.add_argument("--key", required=True, help="key name or PEM path")
    p = add_command(group, "verify", help="verify a router's signature and signer", func=_router_verify,
                    examples=["genehub router verify ./router"])
    p.add_argument("router", help="router directory")

    p = add_command(subparsers, "run", help="generate with genes plugged into a host, routed per prompt",
                    func=_run, examples=[
                        'genehub run "sort cab:" "copy dog:" --host ./host --genes ./sort-gene ./upper-gene',
                        'genehub run --host ./host --genes ./sort-gene ./upper-gene -- "sort cab:"',
                        "genehub run --host ./host --genes ./sort-gene --router ./router --file prompts.txt",
                        "cat prompts.txt | genehub run --host ./host --genes ./sort-gene --json"])
    p.add_argument("prompts", nargs="*", help='prompts ("-" or none: read stdin)')
    p.add_argument("--host", required=True, help="host model directory")
    p.add_argument("--genes", nargs="+", required=True, metavar="GENE_DIR", help="gene directories")
    p.add_argument("--router", default=None, help="router directory (default: train one now, seconds)")
    p.add_argument("--file", default=None, help="read prompts from this file, one per line")
    p.add_argument("--top-k", type=int, default=1, help="mix the top K genes weighted by the router (default 1)")
    p.add_argument("--engine", choices=("auto", "fused", "peft"), default="auto",
                   help="how a mixed batch runs: fused (faster), PEFT's mixed adapter batches, or auto (default: "
                        "fused when it can run the genes); same outputs")
    p.add_argument("--max-new-tokens", type=int, default=16)
    add_general_option(p, "the `none` class of a router trained now; default for a zoo host: the zoo's own")
    p.add_argument("--chat", action="store_true",
                   help="wrap each prompt (and each plain --general prompt) as one user message of the host's chat "
                        "template, as for genes extracted with --chat or from chat rows")
    add_model_options(p)
    p.add_argument("--batch-size", type=int, default=32)
    add_json(p, "print rows with the routing probabilities as JSON")
