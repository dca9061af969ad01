"""`genehub extract`: turn a donor model's skill into a gene for a host (genehub.lorafy)."""

from __future__ import annotations

import argparse
from typing import Any

from ._common import add_command, print_table


def _ints(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated layer numbers like 2,3, got {text!r}") from None


def _csv(text: str) -> tuple[str, ...]:
    return tuple(x.strip() for x in text.split(",") if x.strip())


def register(subparsers: Any) -> None:
    parser = add_command(
        subparsers, "extract",
        help="locate the skill's circuit in a donor, score homology, and distil it into a LoRA gene",
        examples=[
            "genehub extract --donor ZOO/donor-sort --host ZOO/host --skill sort --out genes/sort",
            "genehub extract --donor ./my-donor --host ./my-host --skill data.jsonl --out genes/mine --rank 4",
            "genehub extract --donor D --host H --skill sort --out genes/sort-svd --method svd",
            "genehub extract --donor D --host H --skill sort --out g --modules q_proj,v_proj --lambda 0",
        ],
        func=_extract)
    parser.add_argument("--donor", required=True, help="folder of the model that has the skill")
    parser.add_argument("--host", required=True, help="folder of the model (same family) that should get it")
    parser.add_argument("--skill", required=True,
                        help="prompt/answer data: a .jsonl/.parquet file, a dataset folder, or a zoo skill name")
    parser.add_argument("--out", required=True, help="gene directory to write (replaced if it exists)")
    parser.add_argument("--method", choices=("distill", "svd"), default="distill",
                        help="distill (KL distillation, default) or svd (data-free low-rank weight difference)")
    # Defaults come from genehub.lorafy.ExtractConfig (read in the handler, so --help needs no torch).
    parser.add_argument("--target-share", type=float,
                        help="share of the donor's advantage the circuit must restore (default 0.95)")
    parser.add_argument("--modules", type=_csv, help="only these linear layers in the circuit, e.g. q_proj,v_proj")
    parser.add_argument("--layers", type=_ints,
                        help="adapt these decoder layers instead of the located circuit, e.g. 2,3")
    parser.add_argument("--n-preserve", type=int, help="rows per other skill for the preservation term (default 8000)")
    parser.add_argument("--rank", type=int, help="LoRA rank (default 16)")
    parser.add_argument("--alpha", type=float, help="LoRA alpha (default 32)")
    parser.add_argument("--init", choices=("random", "svd"),
                        help="distilled LoRA start: random (B=0) or the SVD of donor-host (default random)")
    parser.add_argument("--lambda", dest="lam", type=float,
                        help="weight of KL(host || host+gene) on other skills' prompts (default 2; 0 = off)")
    parser.add_argument("--steps", type=int, help="distillation steps (default 750)")
    parser.add_argument("--batch-size", type=int, help="skill rows per step, as many preservation rows (default 128)")
    parser.add_argument("--lr", type=float, help="peak learning rate (default 1e-2)")
    parser.add_argument("--other-skills", type=_csv, help="zoo skills to preserve and report (default: all others)")
    parser.add_argument("--name", help="gene name (default: SKILL-gene)")
    parser.add_argument("--skill-name", help="skill name for the card (default: from --skill)")
    parser.add_argument("--license", help="SPDX licence of the parents when their folders do not say")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--json", action="store_true", help="print the card's measurements as JSON")


def _extract(args: argparse.Namespace) -> int:
    from ..gene import load_card
    from ..lorafy import ExtractConfig, extract
    from ._common import print_json

    tuned = {k: getattr(args, k) for k in ("target_share", "layers", "rank", "alpha", "init", "lam", "steps", "lr",
                                           "batch_size", "n_preserve") if getattr(args, k) is not None}
    config = ExtractConfig(method=args.method, modules=args.modules, other_skills=args.other_skills, name=args.name,
                           skill=args.skill_name, license=args.license, seed=args.seed, progress=not args.json,
                           **tuned)
    path = extract(args.donor, args.host, args.skill, args.out, config)
    card = load_card(path)
    if args.json:
        print_json({"path": str(path), **{k: card[k] for k in ("circuit", "homology", "fidelity", "adapter")}})
        return 0
    fid = card["fidelity"]
    print(f"gene '{card['name']}' written to {path}")
    print(f"circuit: layers {card['circuit']['layers']}, modules {', '.join(card['circuit']['modules'])} "
          f"(restores {card['circuit']['restored_share']:.0%}); homology {card['homology']['aggregate']:.3f}")
    rows = [{"skill": card["skill"], "host": fid["skill"]["host"], "donor": fid["skill"]["donor"],
             "gene": fid["skill"]["gene"]}]
    rows += [{"skill": name, "host": v["host"], "donor": None, "gene": v["gene"]} for name, v in fid["other_skills"].items()]
    print_table(rows, ["skill", "host", "donor", "gene"])
    print(f"adapter: rank {card['adapter']['rank']}, {card['adapter']['size_bytes']} bytes. "
          f"Sign it with `genehub sign {path} --key NAME`.")
    return 0
