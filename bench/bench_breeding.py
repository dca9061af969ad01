"""Benchmark: breeding two genes with conflicting skills, per skill, on held-out test prompts.

Rows: each parent alone (gene on the host, and the full donor), every registered gene-merge method with
its default coefficients, every full-model merge of the donors with defaults, and the evolved recipe of
each searched method. The evolved recipe is checked against every default merge on the objective it
optimised (mean validation accuracy over the skills), and on the test prompts.

    python bench/bench_breeding.py --preset tiny --trials 24 --out bench/results/breeding

Writes ``breeding.md`` (the table), ``breeding.json`` and the search plots. Genes default to
``extract:lora`` of each donor against the host (rank ``--rank``); pass ``--genes A B`` to use others.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any


def _accuracies(model: Any, tokenizer: Any, tasks: dict[str, list]) -> dict[str, float]:
    from genehub.evaluate import accuracy

    return {s: round(accuracy(model, tokenizer, rows), 4) for s, rows in tasks.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="tiny")
    parser.add_argument("--genes", nargs=2, help="two gene directories (default: extracted from the zoo donors)")
    parser.add_argument("--rank", type=int, default=16, help="rank of the extracted genes")
    parser.add_argument("--trials", type=int, default=24, help="search trials per searched method")
    parser.add_argument("--population", type=int, default=8)
    parser.add_argument("--subsample", type=int, default=48, help="validation prompts per skill per trial")
    parser.add_argument("--search", nargs="+", default=["linear", "cat", "ties", "dare_ties", "model:linear"],
                        help="methods whose recipe is evolved")
    parser.add_argument("--objective", choices=["mean", "min"], default="mean", help="what the search maximises")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="bench/results/breeding")
    args = parser.parse_args(argv)

    from genehub import zoo
    from genehub._tables import markdown_table
    from genehub.breeding import BreedConfig, breed, list_methods
    from genehub.breeding._adapters import AdapterPool
    from genehub.breeding.evolve import SearchConfig, evolve
    from genehub.breeding.parents import load_parent
    from genehub.hosts import load_host

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    z = zoo.build(args.preset)
    skills = sorted(z.donors)[:2]
    donors = [z.donors[s] for s in skills]
    n_test = z.manifest["n_test"]
    tasks = zoo.search_tasks(skills, n_validation=200, n_test=n_test)
    test = {s: t for s, (_, t) in tasks.items()}
    rows: list[dict[str, Any]] = []
    start = time.perf_counter()

    def add(name: str, kind: str, scores: dict[str, float], **extra: Any) -> None:
        rows.append({"name": name, "kind": kind, **{s: scores[s] for s in skills},
                     "mean": round(sum(scores.values()) / len(scores), 4), "min": min(scores.values()), **extra})
        print(f"{name:32s} " + "  ".join(f"{s}={scores[s]:.3f}" for s in skills), flush=True)

    host_model, tok = load_host(z.host)
    add("host alone", "baseline", _accuracies(host_model, tok, test))
    for s, d in zip(skills, donors):
        m, t = load_host(d)
        add(f"donor-{s} (full model)", "baseline", _accuracies(m, t, test))

    if args.genes:
        genes = [Path(g) for g in args.genes]
    else:
        genes = [breed([d], "extract:lora", BreedConfig(out=out / f"gene-{s}", base=z.host, skill=s,
                                                        params={"rank": args.rank},
                                                        examples=zoo.split_rows(s, "test", 64))).path
                 for s, d in zip(skills, donors)]
    pool = AdapterPool(z.host, genes)
    for name, s in zip(pool.names, skills):
        pool.model.set_adapter(name)
        add(f"gene-{s} alone (rank {args.rank})", "parent", _accuracies(pool.model, pool.tokenizer, test))

    defaults: dict[str, float] = {}
    for method in list_methods("adapter"):
        if "one_parent" in method.constraints:  # fold: not a merge of the two genes
            continue
        pool.mix(method, weights=method.defaults(2)["weights"], seed=args.seed)
        scores = _accuracies(pool.model, pool.tokenizer, test)
        pool.drop()
        add(f"{method.name} (default)", "gene merge", scores)
    for method in list_methods("model"):
        scorer = method.trial([load_parent(d) for d in donors], host=None, base=z.host, seed=args.seed)
        try:
            scores = {s: round(v, 4) for s, v in scorer(method.defaults(2), test).items()}
        finally:
            scorer.close()
        add(f"{method.name} (default)", "model merge", scores)

    # Validation objective of every default merge, on the same subsample the search uses.
    config = SearchConfig(trials=args.trials, population=args.population, skills=tuple(skills),
                          subsample=args.subsample, seed=args.seed, objective=args.objective)
    searches = []
    for name in args.search:
        parents = donors if name.startswith("model:") else genes
        result = evolve(parents, name, config, host=z.host, base=z.host, tasks=tasks, plots=out / f"search-{name.replace(':', '_')}",
                        verify=False)
        add(f"{name} (evolved, {args.trials} trials)", "evolved", {s: round(v, 4) for s, v in result.best_test.items()},
            validation=round(result.best_value, 4), default_validation=round(result.default_value, 4),
            recipe=result.best_recipe)
        searches.append(result)

    # Each searched method's default recipe is its first trial; compare the best evolved recipe with all of them.
    best = max(searches, key=lambda r: r.best_value) if searches else None
    default_vals = {r.method: r.default_value for r in searches}
    checks = []
    if best:
        beaten = all(best.best_value > v for v in default_vals.values())
        checks.append(f"evolved {best.method} validation {best.best_value:.3f} vs default recipes "
                      + ", ".join(f"{k} {v:.3f}" for k, v in default_vals.items())
                      + (": beats every default" if beaten else ": does NOT beat every default"))
        key = args.objective
        default_test_best = max((r for r in rows if "(default)" in r["name"]), key=lambda r: r[key])
        vals = list(best.best_test.values())
        evolved_test = round(min(vals) if key == "min" else sum(vals) / len(vals), 4)
        checks.append(f"test {key}: evolved {best.method} {evolved_test:.3f} vs best default merge "
                      f"{default_test_best['name']} {default_test_best[key]:.3f}")
    both = max((r for r in rows if r["kind"] in ("gene merge", "model merge", "evolved")), key=lambda r: r["min"])
    checks.append(f"keeping both skills: the best merge on the weaker skill is {both['name']} (min {both['min']:.3f}; "
                  f"host alone {rows[0]['min']:.3f})")
    parents_alone = [r for r in rows if r["kind"] == "parent"]
    for s in skills:
        top_parent = max(r[s] for r in parents_alone)
        top_merge = max(r[s] for r in rows if r["kind"] in ("gene merge", "model merge", "evolved"))
        checks.append(f"{s}: best single gene {top_parent:.3f} vs best merge {top_merge:.3f}"
                      + (" -> keeping genes separate (routing) still wins on this skill" if top_parent > top_merge else ""))
    try:
        import importlib.util

        routing = importlib.util.find_spec("genehub.routing") is not None
    except ModuleNotFoundError:
        routing = False
    checks.append("routing composition: " + ("available; run bench/bench_routing.py for its row" if routing else
                                             "not in this checkout; each gene alone is its upper bound per skill"))
    elapsed = round(time.perf_counter() - start, 1)
    md = [f"# Breeding benchmark ({args.preset} zoo, skills {', '.join(skills)}, {n_test} held-out test prompts each)", "",
          f"Command: `python bench/bench_breeding.py {' '.join(argv or sys.argv[1:])}` ({elapsed} s on this machine)", "",
          f"Search objective: {args.objective} of the skills' validation accuracy.", "",
          markdown_table([{"row": r["name"], **r} for r in rows], ["row", "kind", *skills, "mean", "min"]).rstrip("\n")]
    md += ["", *[f"- {c}" for c in checks], ""]
    (out / "breeding.md").write_text("\n".join(md))
    (out / "breeding.json").write_text(json.dumps({"rows": rows, "checks": checks, "seconds": elapsed}, indent=2, default=str))
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
