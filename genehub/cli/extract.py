"""`genehub extract`: turn a donor model's skill into a gene for a host (genehub.lorafy)."""

from __future__ import annotations

import argparse
from typing import Any

from .._tables import print_table
from ._common import add_command, add_json, config_default


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
    # Defaults are ExtractConfig's: shown in --help (read when it is printed) and applied by the handler.
    tuned = {  # option -> (type, help)
        "method": (str, "distill (KL distillation) or svd (data-free low-rank weight difference)"),
        "target_share": (float, "share of the donor's advantage the circuit must restore"),
        "n_preserve": (int, "rows per other skill for the preservation term"),
        "rank": (int, "LoRA rank"),
        "alpha": (float, "LoRA alpha"),
        "init": (str, "distilled LoRA start: random (B=0) or svd (the SVD of donor-host)"),
        "lam": (float, "weight of KL(host || host+gene) on other skills' prompts (0 = off)"),
        "steps": (int, "distillation steps"),
        "batch_size": (int, "skill rows per step, as many preservation rows"),
        "lr": (float, "peak learning rate"),
        "seed": (int, "random seed"),
    }
    for field, (kind, text) in tuned.items():
        flag = "--lambda" if field == "lam" else f"--{field.replace('_', '-')}"
        config_default(parser.add_argument(flag, dest=field, type=kind, help=text),
                       f"genehub.lorafy.extract:ExtractConfig.{field}")
    parser.add_argument("--modules", type=_csv, help="only these linear layers in the circuit, e.g. q_proj,v_proj")
    parser.add_argument("--layers", type=_ints,
                        help="adapt these decoder layers instead of the located circuit, e.g. 2,3")
    parser.add_argument("--other-skills", type=_csv, help="zoo skills to preserve and report (default: all others)")
    parser.add_argument("--name", help="gene name (default: SKILL-gene)")
    parser.add_argument("--skill-name", help="skill name for the card (default: from --skill)")
    parser.add_argument("--license", help="SPDX licence of the parents when their folders do not say")
    add_json(parser, "print the card's measurements as JSON")


def _extract(args: argparse.Namespace) -> int:
    from ..gene import Gene
    from ..lorafy import ExtractConfig, extract
    from ..zoo import LIBRARY
    from ._common import print_json

    tuned = {k: getattr(args, k) for k in ("method", "target_share", "layers", "rank", "alpha", "init", "lam", "steps",
                                           "lr", "batch_size", "n_preserve", "seed") if getattr(args, k) is not None}
    config = ExtractConfig(modules=args.modules, other_skills=args.other_skills, name=args.name,
                           skill=args.skill_name, license=args.license, progress=not args.json, **tuned)
    # The zoo's skills are the other skills every gene is contrasted with and must leave alone.
    path = extract(args.donor, args.host, args.skill, args.out, config, library=LIBRARY)
    gene = Gene.load(path)
    if args.json:
        print_json({"path": str(path), **{k: gene.card[k] for k in ("circuit", "homology", "fidelity", "adapter")}})
        return 0
    fid, circuit = gene.fidelity, gene.card["circuit"]
    print(f"gene '{gene.name}' written to {path}")
    print(f"circuit: layers {circuit['layers']}, modules {', '.join(circuit['modules'])} "
          f"(restores {circuit['restored_share']:.0%}); homology {gene.homology.aggregate:.3f}")
    rows = [{"skill": gene.skill, "host": fid.host, "donor": fid.donor, "gene": fid.gene}]
    rows += [{"skill": name, "host": v["host"], "donor": None, "gene": v["gene"]} for name, v in fid.other_skills.items()]
    print_table(rows, ["skill", "host", "donor", "gene"])
    print(f"adapter: rank {gene.adapter.rank}, {gene.adapter.size_bytes} bytes. "
          f"Sign it with `genehub sign {path} --key NAME`.")
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
