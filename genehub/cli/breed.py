"""``genehub breed``, ``genehub plan``, ``genehub methods``: a thin skin over :mod:`genehub.breeding`."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from .._tables import print_table
from ..breeding import GOALS, list_methods
from ..breeding.evolve import OBJECTIVES, SearchConfig
from ..breeding.methods import parameters
from ._common import add_command, add_json, print_json


def register(subparsers: Any) -> None:
    """Add the breeding commands to `genehub`."""
    p = add_command(
        subparsers, "breed", help="merge genes or models with a registered method (optionally searching the recipe)",
        examples=[
            "genehub breed --parents genes/sort genes/add --method dare_ties --host zoo/host --out genes/sort-add",
            "genehub breed --parents genes/sort genes/add --method ties --host zoo/host --search 24 --skills sort add",
            "genehub breed --parents zoo/donor-sort zoo/donor-add --method model:ties --base zoo/host --out merged",
            "genehub breed --parents merged --method extract:lora --base zoo/host --skill sort --out genes/merged",
        ],
        func=_breed,
    )
    p.add_argument("--parents", nargs="+", required=True, help="gene or model directories")
    p.add_argument("--method", required=True, help="a registry name (see `genehub methods`)")
    p.add_argument("--out", required=True, help="the child's directory")
    p.add_argument("--host", help="host model the genes plug into (gene merges, fold)")
    p.add_argument("--base", help="the parents' common base model (task vectors, extraction)")
    for param in parameters().values():  # one flag per parameter name in the registry
        users = ", ".join(m.name for m in list_methods() if m.param(param.name) is not None)
        p.add_argument(f"--{param.name.replace('_', '-')}", dest=f"param_{param.name}", type=param.type,
                       nargs="+" if param.per_parent else None, metavar=param.name.upper(),
                       help=f"{param.doc}{' (one per parent)' if param.per_parent else ''} [{users}]")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--name", help="the child gene's name")
    p.add_argument("--skill", help="the child's skill (extraction: a zoo skill supplies examples)")
    p.add_argument("--examples", help="JSONL of {prompt, answer} expressing the skill (extraction)")
    p.add_argument("--sign", metavar="KEY", help="sign the child gene with this key")
    p.add_argument("--no-verify", action="store_true", help="skip signature checks of the parents (your own genes)")
    p.add_argument("--search", type=int, metavar="N", help="evolve the recipe for N trials before breeding")
    p.add_argument("--skills", nargs="+", help="zoo skills whose validation prompts score the search")
    p.add_argument("--objective", choices=OBJECTIVES, default=SearchConfig.objective,
                   help="search objective: mean or min over skills, or one per skill (Pareto front)")
    p.add_argument("--subsample", type=int, default=SearchConfig.subsample,
                   help="validation prompts per skill per trial (default %(default)s)")
    add_json(p, "print the result as JSON")

    p = add_command(
        subparsers, "plan", help="recommend a breeding strategy for a goal and print a plan that runs as is",
        examples=[
            "genehub plan --goal capability_fusion --recipient zoo/host --donor zoo/donor-sort --donor zoo/donor-add",
            "genehub plan --goal modular_specialization --recipient zoo/host --donor zoo/donor-sort --budget low",
            "genehub plan --goal skill_enhancement --recipient zoo/host --donor zoo/heterologous --script plan.sh",
        ],
        func=_plan,
    )
    p.add_argument("--goal", required=True, metavar="GOAL", help=", ".join(GOALS))
    p.add_argument("--recipient", required=True, help="the recipient model (or gene)")
    p.add_argument("--donor", action="append", default=[], help="a donor model or gene (repeat)")
    p.add_argument("--budget", help="low, medium, high or compute=SECONDS,inference=X,risk=R")
    p.add_argument("--overlap", type=float, help="functional overlap 0-1, when known")
    p.add_argument("--out", default="bred", help="where the plan's commands write")
    p.add_argument("--script", help="also write the plan as a shell script here")
    p.add_argument("--yaml", help="also write the mergekit YAML here (full-model merges)")
    p.add_argument("--record", metavar="MEASURED",
                   help="after running the plan: append its outcome to the ledger, e.g. benefit=0.3,forgetting=0.05")
    add_json(p, "print the plan as JSON")

    p = add_command(subparsers, "methods", help="list the registered breeding methods",
                    examples=["genehub methods", "genehub methods --kind model --json"], func=_methods)
    p.add_argument("--kind", choices=sorted({m.kind for m in list_methods()}))
    add_json(p, "print the methods as JSON")


def _breed(args: argparse.Namespace) -> int:
    from .. import zoo
    from ..breeding import BreedConfig, breed

    params = {name: getattr(args, f"param_{name}") for name in parameters()
              if getattr(args, f"param_{name}") is not None}
    if args.examples:
        examples: Any = [json.loads(line) for line in Path(args.examples).read_text().splitlines() if line.strip()]
    else:  # an extracted gene is measured on its zoo skill's test prompts
        examples = lambda skill: zoo.split_rows(skill, "test", 64)  # noqa: E731
    evidence = None
    if args.search:
        from ..breeding.evolve import evolve

        result = evolve(args.parents, args.method, SearchConfig(trials=args.search, skills=tuple(args.skills or ()),
                                                                objective=args.objective, subsample=args.subsample,
                                                                seed=args.seed),
                        host=args.host, base=args.base, tasks=zoo.search_tasks,
                        plots=Path(args.out).with_name(Path(args.out).name + "-search"), verify=not args.no_verify)
        params.update(result.best_recipe)
        evidence = result.evidence()
        print(f"search: best validation {result.best_value:.3f} vs default {result.default_value:.3f}; "
              f"plots in {result.plots_dir}")
    config = BreedConfig(out=args.out, params=params, host=args.host, base=args.base, seed=args.seed, name=args.name,
                         skill=args.skill, examples=examples, evidence=evidence, verify=not args.no_verify,
                         sign_key=args.sign)
    child = breed(args.parents, args.method, config)
    if args.json:
        print_json({"path": str(child.path), "kind": child.kind, "method": child.method, "recipe": child.recipe,
                    "scores": child.scores, "host_scores": child.host_scores, "license": child.report.license})
    else:
        print(f"bred {child.kind} {child.path} with {child.method} (licence {child.report.license})")
        if child.scores:
            print_table([{"skill": s, "host": child.host_scores.get(s), "child": v} for s, v in child.scores.items()])
    return 0


def _plan(args: argparse.Namespace) -> int:
    from ..breeding import plan
    from ..breeding.ledger import Ledger

    ledger = Ledger()
    result = plan(args.goal, args.recipient, args.donor, budget=args.budget, overlap=args.overlap, out=args.out,
                  ledger=ledger)
    if args.record:
        from ..errors import UsageError

        try:
            measured = {k.strip(): float(v) for k, v in (part.split("=") for part in args.record.split(","))}
        except ValueError:
            raise UsageError(f"Cannot read --record {args.record!r}.",
                             hint="Use e.g. --record benefit=0.3,forgetting=0.05,compute_s=12") from None
        ledger.append(result, measured=measured, artifact=args.out)
        print(f"recorded the outcome of {result.executed_strategy} in {ledger.path}")
    if args.script:
        Path(args.script).write_text(result.script())
    if args.yaml and result.mergekit_yaml:
        Path(args.yaml).write_text(result.mergekit_yaml)
    if args.json:
        print_json(result.to_dict())
        return 0
    verdict = "proceed" if result.proceed else f"flagged -> {result.executed_strategy}"
    print(f"strategy: {result.strategy} ({verdict})")
    for line in result.rationale:
        print(f"  - {line}")
    print("plan:")
    for cmd in result.commands:
        print(f"  {cmd}")
    for note in result.notes:
        print(f"  # {note}")
    if result.mergekit_yaml:
        print("mergekit yaml:\n" + "\n".join(f"  {line}" for line in result.mergekit_yaml.splitlines()))
    return 0


def _methods(args: argparse.Namespace) -> int:
    from ..breeding import list_methods

    methods = list_methods(args.kind)
    if args.json:
        print_json([m.to_dict() for m in methods])
        return 0
    print_table([{"name": m.name, "kind": m.kind, "params": ", ".join(p.name for p in m.params),
                  "constraints": ", ".join(m.constraints) or "-", "summary": m.summary} for m in methods])
    return 0
