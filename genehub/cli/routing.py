"""CLI for routers and composition.

    genehub router card G1 G2 --host H [--general F]         (routing blocks for genes made elsewhere)
    genehub router train --host H --genes G1 G2 --out R     genehub router show R
    genehub router sign R --key NAME                         genehub router verify R
    genehub run "prompt" ... --host H --genes G1 G2 [--router prototypes|head|R]   (or --file F, or stdin)
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


def routing_general(args: argparse.Namespace, host: str, *, tokenizer: Any = None) -> list[str]:
    """The prompts a gene's routing is centered and calibrated on: ``--general``, else the zoo's own for a
    zoo host (one fixed list per host, so every gene's prototypes share a space).

    Raises:
        UsageError: neither.
    """
    from ..errors import UsageError

    if getattr(args, "general", None):
        from ..hosts import load_tokenizer
        from ..lorafy import load_prompts

        return load_prompts(args.general, tokenizer=tokenizer or load_tokenizer(host), chat=getattr(args, "chat", False))
    from ..zoo import routing_prompts

    found = routing_prompts(host)
    if found is None:
        raise UsageError(f"Routing needs prompts that {host} answers by itself.",
                         hint="Pass --general FILE (a .jsonl/.csv/.parquet file with a prompt or messages column).")
    return found


def background(args: argparse.Namespace, host: str, *, required: bool = True, tokenizer: Any = None) -> Any:
    """A composition's "none" prompts (a head's "none" class, the prototype router's background):
    ``--general``, else the zoo's own for a zoo host (see :func:`genehub.cli._data.none_prompts`), else the
    real preset's general prompts for its host; None when none and not ``required``."""
    from ..zoo import routing_prompts

    found = none_prompts(args, host, required=False, tokenizer=tokenizer) or routing_prompts(host)
    return found if found is not None or not required else none_prompts(args, host, tokenizer=tokenizer)


def _router_card(args: argparse.Namespace) -> int:
    from ..hosts import describe_host, load_tokenizer
    from ..routing.encoders import make_encoder
    from ..routing.prototypes import route_gene

    model = None
    if args.encoder == "minilm":
        tokenizer = load_tokenizer(args.host)
    else:
        model, tokenizer = _load(args)
    general = routing_general(args, args.host, tokenizer=tokenizer)
    encoder = make_encoder(args.encoder, general=general, model=model, tokenizer=tokenizer,
                           host=describe_host(args.host))
    for gene in args.genes:
        block = route_gene(gene, general, encoder=encoder, tokenizer=tokenizer, prototypes=args.prototypes,
                           target_rate=args.target_rate, exemplar_match=None if args.no_exemplars else args.exemplar_match)
        kept = f" and {block['exemplars']['count']} exemplar(s)" if "exemplars" in block else ""
        print(f"{gene}: routing by {encoder.name}, {block['prototypes']['count']} prototype(s){kept}, threshold "
              f"{block['threshold']:.3f} (calibrated on {block['calibration']['num_prompts']} general prompts). "
              f"Sign it again with `genehub sign {gene} --key NAME`.")
    return 0


def give_routing(gene_dir: Any, args: argparse.Namespace) -> str:
    """Give a gene just written its routing block with the default encoder (``genehub extract`` calls this
    last), calibrated on ``--general`` or the zoo's own prompts; returns the line to print."""
    from ..errors import UsageError
    from ..routing.prototypes import route_gene

    try:
        general = routing_general(args, args.host)
    except UsageError:
        return ("routing: none (no general prompts for this host); give it a routing block with "
                f"`genehub router card {gene_dir} --host {args.host} --general FILE`.")
    model, tokenizer = _load(args)
    block = route_gene(gene_dir, general, model=model, tokenizer=tokenizer, host=args.host)
    return (f"routing: {block['prototypes']['count']} prototype(s), threshold {block['threshold']:.3f} on "
            f"{block['calibration']['num_prompts']} general prompts (a composition routes to it with no training).")


def _router_train(args: argparse.Namespace) -> int:
    from ..routing import Router

    options = {k: getattr(args, k) for k in ("threshold", "layer", "seed") if getattr(args, k) is not None}
    none = background(args, args.host)
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


def trains_head(router: str | None, genes: list[str]) -> bool:
    """Whether composing ``genes`` with ``--router`` trains a head now (so needs "none" prompts)."""
    from ..gene import Gene
    from ..routing.drivers import has_routing

    return router == "head" or (router is None and not has_routing([Gene.load(g) for g in genes]))


def _run(args: argparse.Namespace) -> int:
    prompts = _read_prompts(args)  # a mistake in the prompts is refused before any model library loads
    from ..routing import compose

    texts = prompts
    model, tokenizer = _load(args)
    # A router given on the command line, or the genes' prototypes, need no "none" prompts (the prototypes
    # use them as their background when there are some).
    none = background(args, args.host, required=trains_head(args.router, args.genes), tokenizer=tokenizer)
    prompts = texts
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
    p = add_command(group, "card", help="give genes made elsewhere a routing block (prototypes in the card)",
                    func=_router_card, description=(
                        "Give genes their routing block: prototypes of their examples in one encoder's space "
                        "(routing.safetensors) and a threshold calibrated on general prompts, so any composition "
                        "routes to them with no training. The card changes: sign the gene again."),
                    examples=["genehub router card ./my-gene --host ./host --general general.jsonl",
                              "genehub router card ./g1 ./g2 --host ZOO/host                 # a zoo host: the zoo's",
                              "genehub router card ./g --host ./host --general prompts.jsonl --encoder minilm"])
    p.add_argument("genes", nargs="+", metavar="GENE_DIR", help="gene directories (with examples.jsonl)")
    p.add_argument("--host", required=True, help="host model directory (the genes' host)")
    add_general_option(p, "the encoder's center and each gene's threshold; default for a zoo host: the zoo's own",
                       chat=True)
    p.add_argument("--encoder", default="default",
                   help="default (MiniLM and the host's states), minilm (routes with no host, e.g. in front of "
                        "vLLM), or host:LAYER")
    config_default(p.add_argument("--prototypes", type=int, default=1, help="prototypes per gene (k-means K)"),
                   "genehub.routing.prototypes:DEFAULT_PROTOTYPES")
    config_default(p.add_argument("--target-rate", type=float, default=0.01,
                                  help="share of general prompts a gene may take (its threshold's target)"),
                   "genehub.routing.prototypes:DEFAULT_TARGET_RATE")
    config_default(p.add_argument("--exemplar-match", type=float, default=0.97, metavar="COSINE",
                                  help="a prompt this similar to one of a gene's examples is in its phrasing and goes to it"),
                   "genehub.routing.prototypes:DEFAULT_EXEMPLAR_MATCH")
    p.add_argument("--no-exemplars", action="store_true", help="route by the prototypes alone (keep no exemplars)")
    add_model_options(p)
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
    add_router_option(p)
    p.add_argument("--file", default=None, help="read prompts from this file, one per line")
    p.add_argument("--top-k", type=int, default=1, help="mix the top K genes weighted by the router (default 1)")
    p.add_argument("--engine", choices=("auto", "fused", "peft"), default="auto",
                   help="how a mixed batch runs: fused (faster), PEFT's mixed adapter batches, or auto (default: "
                        "fused when it can run the genes); same outputs")
    p.add_argument("--max-new-tokens", type=int, default=16)
    add_general_option(p, "the `none` class of a router trained now, the prototypes' background; default for a "
                          "zoo host: the zoo's own")
    p.add_argument("--chat", action="store_true",
                   help="wrap each prompt (and each plain --general prompt) as one user message of the host's chat "
                        "template, as for genes extracted with --chat or from chat rows")
    add_model_options(p)
    p.add_argument("--batch-size", type=int, default=32)
    add_json(p, "print rows with the routing probabilities as JSON")


def add_router_option(parser: argparse.ArgumentParser) -> None:
    """``--router``: how a composition routes (``genehub run``, ``genehub serve``)."""
    parser.add_argument("--router", default=None, metavar="prototypes|head|DIR",
                        help="prototypes (the genes' routing blocks: nothing to train), head (train a router now, "
                             "seconds), or a trained router's directory (default: prototypes when every gene has a "
                             "routing block, else head)")
