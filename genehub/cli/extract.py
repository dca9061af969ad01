"""`genehub extract`: turn a donor model's skill into a gene for a host (genehub.lorafy)."""

from __future__ import annotations

import argparse
from typing import Any

from .._tables import print_table
from ._common import add_command, add_json, config_default
from ._data import add_format_options, add_general_option, add_model_options, row_format


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
        description="Locate the skill's circuit in a donor, score homology, and distil it into a LoRA gene for the\n"
                    "host. The skill's data is yours (--data: prompt/completion or chat `messages` rows) or a zoo\n"
                    "skill (--skill NAME). General prompts (--general) are what the host should keep doing: they are\n"
                    "preserved, contrasted with for homology and reported in the card, scored by agreement with the\n"
                    "bare host. --other-skills adds skills to preserve and report: data files of yours (one skill\n"
                    "each, named after the file) or zoo skill names. Without either the card reports the skill alone.",
        examples=[
            "genehub extract --donor ./my-donor --host ./my-host --data skill.jsonl --general general.jsonl --out genes/mine",
            "genehub extract --donor D --host H --data chats.parquet --scorer exact --host-repo-id me/my-host --out g",
            "genehub extract --donor D --host H --data qa.csv --prompt-column question --completion-column reply "
            "--chat --scorer 'regex:^[0-9]+$' --out g",
            "genehub extract --donor ZOO/donor-sort --host ZOO/host --skill sort --out genes/sort",
            "genehub extract --donor D --host H --skill sort --out genes/sort-svd --method svd",
            "genehub extract --donor D --host H --data s.jsonl --other-skills a.jsonl,b.jsonl --modules q_proj,v_proj "
            "--out g",
        ],
        func=_extract)
    parser.add_argument("--donor", required=True, help="folder of the model that has the skill")
    parser.add_argument("--host", required=True, help="folder of the model (same family) that should get it")
    parser.add_argument("--data", metavar="DATA",
                        help="the skill's rows: a .jsonl/.json/.csv/.parquet file or a datasets folder, split by its "
                             "`split` column or 80/10/10")
    parser.add_argument("--skill", metavar="NAME",
                        help="the skill's name on the card (default: from --data); without --data, a zoo skill")
    parser.add_argument("--out", required=True, help="gene directory to write (replaced if it exists)")
    add_general_option(parser, "preserved, contrasted with, and scored by agreement with the bare host")
    parser.add_argument("--other-skills", type=_csv, metavar="A,B",
                        help="other skills to preserve and report: data files (one skill each) or zoo skill names "
                             "(default: none for --data, the zoo host's skills for a zoo skill)")
    parser.add_argument("--scorer", default=None,
                        help="how the card's fidelity is scored: exact_match (default: teacher-forced, the answer "
                             "exactly and then a stop), exact (normalised greedy generation), contains, "
                             "regex:PATTERN, or module:function / file.py:function returning bool or a number")
    add_format_options(parser)
    # Defaults are ExtractConfig's: shown in --help (read when it is printed) and applied by the handler.
    tuned = {  # option -> (type, help)
        "method": (str, "distill (KL distillation) or svd (data-free low-rank weight difference)"),
        "target_share": (float, "share of the donor's advantage the circuit must restore"),
        "n_preserve": (int, "rows per other skill for the preservation term"),
        "rank": (int, "LoRA rank"),
        "alpha": (float, "LoRA alpha"),
        "init": (str, "distilled LoRA start: random (B=0) or svd (the SVD of donor-host)"),
        "lam": (float, "weight of KL(host || host+gene) on other skills' and general prompts (0 = off)"),
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
    parser.add_argument("--name", help="gene name (default: SKILL-gene)")
    parser.add_argument("--license", help="SPDX licence of the parents when their folders do not say")
    parser.add_argument("--host-repo-id", metavar="OWNER/NAME",
                        help="the host's Hub id for the card and README (default: its genehub.json, its Hub cache "
                             "path, else local/FOLDER)")
    parser.add_argument("--donor-repo-id", metavar="OWNER/NAME", help="the donor's Hub id for the card")
    add_model_options(parser)
    add_json(parser, "print the card's measurements as JSON")


def _looks_like_data(text: str) -> bool:
    from pathlib import Path

    from ..lorafy._data import DATA_SUFFIXES

    return Path(text).exists() or Path(text).suffix.lower() in DATA_SUFFIXES or "/" in text


def _sources(args: argparse.Namespace) -> tuple[Any, Any, tuple[str, ...] | None]:
    """``(skill data, library of other skills, their names)`` the options name."""
    from ..errors import UsageError
    from ..zoo import LIBRARY

    if args.data is None and args.skill is None:
        raise UsageError("No skill data given.", hint="Pass your rows with --data FILE, or --skill NAME for a zoo skill.")
    if args.data is not None:
        return (args.data, *_other_skills(args, None))
    if args.skill not in LIBRARY.names:
        raise UsageError(f"{args.skill!r} is not a zoo skill.",
                         hint=f"Pass your rows with --data FILE, or one of the zoo's skills: {', '.join(LIBRARY.names)}.")
    return (args.skill, *_other_skills(args, LIBRARY))


def _other_skills(args: argparse.Namespace, library: Any) -> tuple[Any, tuple[str, ...] | None]:
    """``(library, names)`` of ``--other-skills``: the user's data files (one skill each) or zoo skills."""
    from ..errors import UsageError
    from ..zoo import LIBRARY

    names = args.other_skills
    if not names:
        return library, names
    files = [o for o in names if _looks_like_data(o)]
    if files and len(files) != len(names):
        raise UsageError("--other-skills mixes data files and zoo skill names.",
                         hint="Give either data files (one skill each) or zoo skill names.")
    if not files:
        return library or LIBRARY, names
    from ..hosts import load_tokenizer
    from ..lorafy import data_library

    library = data_library(files, tokenizer=load_tokenizer(args.host), fmt=row_format(args))
    return library, library.names


def _extract(args: argparse.Namespace) -> int:
    from ..gene import Gene
    from ..lorafy import ExtractConfig, extract
    from ._common import print_json

    tuned = {k: getattr(args, k) for k in ("method", "target_share", "layers", "rank", "alpha", "init", "lam", "steps",
                                           "lr", "batch_size", "n_preserve", "seed") if getattr(args, k) is not None}
    data, library, others = _sources(args)
    config = ExtractConfig(modules=args.modules, other_skills=others, name=args.name,
                           skill=args.skill if args.data is not None else None, license=args.license,
                           scorer=args.scorer, prompt_column=args.prompt_column,
                           completion_column=args.completion_column, chat=args.chat, host_repo_id=args.host_repo_id,
                           donor_repo_id=args.donor_repo_id, dtype=args.dtype, device=args.device,
                           progress=not args.json, **tuned)
    path = extract(args.donor, args.host, data, args.out, config, library=library, general=args.general)
    from .routing import give_routing

    routing = give_routing(path, args)  # prototypes in the card: routed with no training
    gene = Gene.load(path)
    if args.json:
        print_json({"path": str(path), **{k: gene.card[k] for k in ("circuit", "homology", "fidelity", "adapter")}})
        return 0
    fid, circuit = gene.fidelity, gene.card["circuit"]
    print(f"gene '{gene.name}' written to {path}")
    print(f"circuit: layers {circuit['layers']}, modules {', '.join(circuit['modules'])} "
          f"(restores {circuit['restored_share']:.0%}); homology {gene.homology.aggregate:.3f}")
    print_fidelity(gene)
    print(routing)
    print(f"adapter: rank {gene.adapter.rank}, {gene.adapter.size_bytes} bytes. "
          f"Sign it with `genehub sign {path} --key NAME`.")
    return 0


def print_fidelity(gene: Any) -> None:
    """The card's fidelity table: the skill (its metric), other skills, and the general prompts."""
    from ..lorafy.fidelity import GENERAL

    fid = gene.fidelity
    rows = [{"skill": f"{gene.skill} ({fid.metric})", "host": fid.host, "donor": fid.donor, "gene": fid.gene}]
    rows += [{"skill": "general (agreement with the host)" if name == GENERAL else name, "host": v["host"],
              "donor": None, "gene": v["gene"]} for name, v in fid.other_skills.items()]
    print_table(rows, ["skill", "host", "donor", "gene"])


def register_card_init(card_group: Any) -> None:
    """Add ``genehub card init`` (to the ``card`` group): wrap a PEFT LoRA made elsewhere as a gene."""
    p = add_command(
        card_group, "init", func=_card_init,
        help="wrap a plain PEFT LoRA made elsewhere for the host as a gene, measured on your data",
        description="Wrap a plain PEFT LoRA made elsewhere for the host as a gene: its fidelity is measured on the\n"
                    "data's test rows (host vs host + adapter; no donor, so the card's donor fidelity is null), the\n"
                    "general prompts are scored by agreement with the bare host, and its parents are the host and\n"
                    "the adapter. Sign and push it like any gene.",
        examples=["genehub card init ./my-lora --host ./my-host --data skill.jsonl --general general.jsonl --out ./my-gene",
                  "genehub card init ./lora --host H --data qa.csv --prompt-column q --scorer contains "
                  "--adapter-repo-id me/my-lora --license MIT --out ./g"])
    p.add_argument("adapter", help="the PEFT LoRA folder (adapter_config.json, adapter_model.safetensors)")
    p.add_argument("--host", required=True, help="folder of the model the adapter was trained on")
    p.add_argument("--data", required=True, metavar="DATA", help="the skill's rows (as for `genehub extract --data`)")
    p.add_argument("--out", required=True, help="gene directory to write (replaced if it exists)")
    p.add_argument("--skill", metavar="NAME", help="the skill's name on the card (default: from --data)")
    add_general_option(p, "scored by agreement with the bare host, and the homology contrast")
    p.add_argument("--other-skills", type=_csv, metavar="A,B", help="other skills to report: data files or zoo skill names")
    p.add_argument("--scorer", default=None, help="how fidelity is scored (see `genehub extract --help`)")
    add_format_options(p)
    p.add_argument("--name", help="gene name (default: SKILL-gene)")
    p.add_argument("--license", help="SPDX licence of the host and the adapter when their folders do not say")
    p.add_argument("--host-repo-id", metavar="OWNER/NAME", help="the host's Hub id (as for `genehub extract`)")
    p.add_argument("--adapter-repo-id", metavar="OWNER/NAME", help="where the adapter came from (default local/FOLDER)")
    add_model_options(p)
    add_json(p, "print the card's measurements as JSON")


def _card_init(args: argparse.Namespace) -> int:
    from ..gene import Gene
    from ..lorafy import AdoptConfig, adopt
    from ._common import print_json

    library, others = _other_skills(args, None)
    config = AdoptConfig(name=args.name, skill=args.skill, license=args.license, host_repo_id=args.host_repo_id,
                         adapter_repo_id=args.adapter_repo_id, scorer=args.scorer, prompt_column=args.prompt_column,
                         completion_column=args.completion_column, chat=args.chat, other_skills=others,
                         dtype=args.dtype, device=args.device)
    path = adopt(args.adapter, args.host, args.data, args.out, config, library=library, general=args.general)
    gene = Gene.load(path)
    if args.json:
        print_json({"path": str(path), **{k: gene.card[k] for k in ("circuit", "homology", "fidelity", "adapter",
                                                                    "parents")}})
        return 0
    print(f"gene '{gene.name}' written to {path} (adapter on layers {gene.card['adapter']['layers']}, "
          f"modules {', '.join(gene.card['adapter']['target_modules'])})")
    print_fidelity(gene)
    print(f"Sign it with `genehub sign {path} --key NAME`.")
    return 0
