"""Benchmark: genes composed behind genehub's router vs oracle routing, static merges, X-LoRA, Arrow, bare host.

One process, side by side, on the same genes and the same test prompts (half of them written with
templates that neither the genes nor the router saw):

* per-skill exact-match accuracy of every method (the "none" column is the host's general skills);
* routing accuracy on the held-out-template prompts;
* latency as ratios to the bare host at batch 1, 8, 32, forward and 16-token generate: every method is
  timed in the same interleaved loop (A B C A B C ..., start rotated each round), and a ratio is the
  median over rounds of (method time / bare-host time in that round), so load from other processes hits
  every row alike; the router's share of a 16-token generation is measured the same way;
* scaling from 2 to 16+ genes: extra skills (``devowel``, the ``shift*`` family, ...) get a donor via
  ``zoo.train_donor`` with few steps, cached under ``cache_dir()/bench-donors``, and a gene via
  ``tests/_genes.py``.

    python bench/bench_routing.py --preset tiny --out bench/results/routing
    python bench/bench_routing.py --preset demo --scale 2 4 8 --out bench/results/routing-demo

Genes come from ``tests/_genes.py`` (SVD of donor-minus-host, then a short fine-tune, rank 16; all layers
and all linear modules, which Arrow needs: it fails on adapters restricted to some layers).
Writes ``OUT/routing.md`` (tables, command, machine), ``OUT/routing.json`` and ``OUT/scaling.png``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
sys.path.insert(0, str(HERE))

from _timing import interleaved, ratios, spread  # noqa: E402  (bench/ is on the path from here on)

EXTRA_SKILLS = ["upper", "sort", "devowel", *[f"shift{k}" for k in range(1, 13)], "add", "reverse"]
DEFAULT_SCALE = {"tiny": [2, 4, 8, 16]}  # other presets: 2 4 8 (bigger donors take longer to make)
COMP_GEN = {"max_new_tokens": 16, "min_new_tokens": 16}  # exactly 16 new tokens per row, every method
GEN = dict(COMP_GEN, do_sample=False)


def _genes_for(z: Any, skills: list[str], donor_steps: int) -> dict[str, Path]:
    from _genes import cached_gene

    from genehub._paths import cache_dir
    from genehub.zoo import train_donor

    out = {}
    for skill in skills:
        donor = z.donors.get(skill)
        if donor is None:
            donor = cache_dir() / "bench-donors" / z.root.name / f"donor-{skill}-s{donor_steps}"
            if not (donor / "config.json").is_file():
                print(f"  training a donor for {skill} ({donor_steps} steps, cached) ...", file=sys.stderr)
                train_donor(z.host, skill, donor, steps=donor_steps)
        out[skill] = cached_gene(z.host, donor, skill)
    return out


def _rows(skills: list[str], n: int) -> dict[str, list[dict[str, Any]]]:
    from genehub.zoo import general_dataset, skill_dataset

    rows = {s: list(skill_dataset(s, n_train=1, n_validation=1, n_test=n)["test"]) for s in skills}
    rows["none"] = list(general_dataset(n=n, split="test"))
    return rows


# ------------------------------------------------------------------------------------------- accuracy
def _accuracy(comp: Any, rows: dict[str, list], names_of: dict[str, str], others: dict[str, Any]) -> dict[str, Any]:
    from _routing_baselines import MERGES, add_merge

    from genehub.evaluate import exact_match

    model, tok = comp.model, comp.tokenizer

    def acc(names_fn: Callable[[str, list], list[str] | None], m: Any = model) -> dict[str, float]:
        return {s: round(sum(exact_match(m, tok, r, adapter_names=names_fn(s, r))) / len(r), 4) for s, r in rows.items()}

    table: dict[str, Any] = {
        "bare host": acc(lambda s, r: ["__base__"] * len(r)),
        "oracle routing": acc(lambda s, r: [names_of.get(s, "__base__")] * len(r)),
        "genehub router": acc(lambda s, r: comp.adapter_names(comp.route([x["prompt"] for x in r]))),
    }
    for method in MERGES:
        name = add_merge(model, list(names_of.values()), method)
        table[f"merge {method}"] = acc(lambda s, r, n=name: [n] * len(r))
        model.delete_adapter(name)
    for label, built in others.items():
        table[label] = built if isinstance(built, str) else acc(lambda s, r: None, built)
    return table


def _routing(comp: Any, rows: dict[str, list], names_of: dict[str, str]) -> dict[str, Any]:
    out = {}
    for which, keep in (("heldout", lambda r: r.get("heldout")), ("all", lambda r: True)):
        pairs = [(names_of.get(s, "none"), r["prompt"]) for s, rs in rows.items() for r in rs if keep(r)]
        decisions = comp.route([p for _, p in pairs])
        out[f"{which}_accuracy"] = round(sum((d.gene or "none") == lab for d, (lab, _) in zip(decisions, pairs)) / len(pairs), 4)
        out[f"num_{which}"] = len(pairs)
    return out


def _heldout_routing_at(comp: Any, rows: dict[str, list], names_of: dict[str, str], *, layer: int) -> float:
    """Held-out-template routing accuracy of the composition's router retrained at feature layer ``layer``."""
    from genehub.routing import Router
    from genehub.zoo import none_prompts

    router = Router.train(comp.host_info, list(comp.genes.values()), model=comp.model, tokenizer=comp.tokenizer,
                          layer=layer, none_prompts=none_prompts)
    held = [{"prompt": r["prompt"], "label": names_of.get(s, "none")} for s, rs in rows.items() for r in rs
            if r.get("heldout")]
    return round(router.evaluate(comp.model, comp.tokenizer, held), 4)


# ------------------------------------------------------------------------------------------- latency
def _latency_fns(comp: Any, bare: Any, prompts: list[str], oracle: list[str | None], kind: str,
                 extra: dict[str, Any]) -> dict[str, Callable[[], Any]]:
    import torch

    tok = comp.tokenizer
    gen = dict(GEN, pad_token_id=tok.pad_token_id)

    def enc() -> dict[str, torch.Tensor]:
        e = comp._encode(prompts)
        if kind == "forward":
            e["position_ids"] = (e["attention_mask"].cumsum(-1) - 1).clamp(min=0)
        return e

    def run(model: Any, **kw: Any) -> Callable[[], Any]:
        def fn() -> Any:
            with torch.no_grad():
                return model(**enc(), **kw) if kind == "forward" else model.generate(**enc(), **gen, **kw)
        return fn

    from genehub.routing import Composition

    # The same genes and router on the same PeftModel, run by PEFT's mixed adapter batches.
    with_peft = Composition(comp.model, tok, comp.host_info, comp.genes, comp.router, engine="peft")
    fns: dict[str, Callable[[], Any]] = {"bare host": run(bare)}
    for suffix, c in (("", comp), (" (peft engine)", with_peft)):
        if kind == "forward":
            fns["genehub router" + suffix] = lambda c=c: c.logits(prompts)
            fns["oracle routing" + suffix] = lambda c=c: c.logits(prompts, genes=oracle)
        else:
            fns["genehub router" + suffix] = lambda c=c: c.generate(prompts, **COMP_GEN)
            fns["oracle routing" + suffix] = lambda c=c: c.generate(prompts, genes=oracle, **COMP_GEN)
    fns["router only"] = lambda: comp.route(prompts)
    for label, model in extra.items():
        fns[label] = run(model)
    return fns


def _latency(comp: Any, bare: Any, rows: dict[str, list], names_of: dict[str, str], batches: list[int],
             reps: int, gen_reps: int, extra: dict[str, Any]) -> dict[str, Any]:
    pool = [(s, r["prompt"]) for s, rs in rows.items() for r in rs]
    out: dict[str, Any] = {}
    for b in batches:
        batch = [pool[(i * 7) % len(pool)] for i in range(b)]
        prompts, oracle = [p for _, p in batch], [names_of.get(s) for s, _ in batch]
        entry: dict[str, Any] = {}
        for kind, n in (("forward", reps), ("generate", gen_reps)):
            times, errors = interleaved(_latency_fns(comp, bare, prompts, oracle, kind, extra), n)
            entry[kind] = ratios(times, "bare host")
            entry[kind].update({k: {"error": v} for k, v in errors.items()})
            if kind == "generate":
                share = spread([r / g for r, g in zip(times["router only"], times["genehub router"])])
                entry["router_share_of_generate"] = share["median"]
                entry["router_share_of_generate_p25_p75"] = [share["p25"], share["p75"]]
        out[str(b)] = entry
        print(f"  batch {b}: genehub forward x{entry['forward']['genehub router']['ratio']}, generate "
              f"x{entry['generate']['genehub router']['ratio']}, router share {entry['router_share_of_generate']:.1%}",
              file=sys.stderr)
    return out


# ------------------------------------------------------------------------------------------- scaling
def _scaling(z: Any, skills: list[str], counts: list[int], args: argparse.Namespace, bare: Any) -> list[dict[str, Any]]:
    import gc

    from genehub import zoo
    from genehub.gene import Gene
    from genehub.routing import adapter_name, compose

    order = skills + [s for s in EXTRA_SKILLS if s not in skills]
    results = []
    for n in counts:
        if n > len(order):
            results.append({"genes": n, "error": f"only {len(order)} skills available"})
            continue
        genes = _genes_for(z, order[:n], args.donor_steps)
        comp = compose(z.host, list(genes.values()), none_prompts=zoo.none_prompts)
        names = {s: adapter_name(Gene.load(p)) for s, p in genes.items()}
        rows = _rows(order[:n], args.n_test)
        acc = _accuracy_pair(comp, rows, names)
        entry = {"genes": n, "router_train_seconds": comp.router.training["seconds"], **_routing(comp, rows, names), **acc}
        for b, kind in ((32, "forward"), (8, "generate")):
            pool = [(s, r["prompt"]) for s, rs in rows.items() for r in rs]
            batch = [pool[(i * 7) % len(pool)] for i in range(b)]
            prompts, oracle = [p for _, p in batch], [names.get(s) for s, _ in batch]
            fns = _latency_fns(comp, bare, prompts, oracle, kind, {})
            times, _ = interleaved({k: fns[k] for k in ("bare host", "genehub router", "router only")},
                                   args.reps if kind == "forward" else args.gen_reps)
            timed = ratios(times, "bare host")
            entry[f"{kind}_b{b}_ratio"] = timed["genehub router"]["ratio"]
            entry[f"router_ms_b{b}"] = timed["router only"]["ms"]
            if kind == "generate":
                share = spread([r / g for r, g in zip(times["router only"], times["genehub router"])])
                entry["router_share_of_generate_b8"] = share["median"]
                entry["router_share_of_generate_b8_p25_p75"] = [share["p25"], share["p75"]]
        results.append(entry)
        print(f"  scaling {json.dumps(entry)}", file=sys.stderr)
        del comp
        gc.collect()
    return results


def _accuracy_pair(comp: Any, rows: dict[str, list], names_of: dict[str, str]) -> dict[str, Any]:
    from genehub.evaluate import exact_match

    def acc(s: str, names: list[str]) -> float:
        return sum(exact_match(comp.model, comp.tokenizer, rows[s], adapter_names=names)) / len(rows[s])

    ratios = []
    for s in names_of:
        oracle = acc(s, [names_of[s]] * len(rows[s]))
        routed = acc(s, comp.adapter_names(comp.route([r["prompt"] for r in rows[s]])))
        ratios.append(routed / oracle if oracle else 1.0)
    return {"composed_over_oracle_mean": round(statistics.mean(ratios), 4),
            "composed_over_oracle_min": round(min(ratios), 4)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="tiny", help="zoo preset (tiny, demo)")
    parser.add_argument("--out", default="bench/results/routing", help="where routing.md/json go")
    parser.add_argument("--n-test", type=int, default=100, help="test prompts per skill (half held-out templates)")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--reps", type=int, default=15, help="interleaved rounds per forward measurement")
    parser.add_argument("--gen-reps", type=int, default=9, help="interleaved rounds per generate measurement")
    parser.add_argument("--scale", type=int, nargs="*", default=None,
                        help="gene counts for the scaling table (default: 2 4 8 16 on tiny, 2 4 8 otherwise)")
    parser.add_argument("--donor-steps", type=int, default=150, help="training steps of the extra donors")
    parser.add_argument("--xlora-steps", type=int, default=300, help="X-LoRA classifier training steps")
    parser.add_argument("--no-xlora", action="store_true", help="skip X-LoRA (it is reported as not run)")
    parser.add_argument("--no-host-sizes", action="store_true",
                        help="skip the latency-vs-host-size section (random-weight hosts up to ~13M parameters)")
    args = parser.parse_args(argv)
    scale = args.scale if args.scale is not None else DEFAULT_SCALE.get(args.preset, [2, 4, 8])

    import torch
    from _routing_baselines import build_arrow, train_xlora, xlora_training_rows
    from _routing_report import render

    from genehub import zoo
    from genehub.gene import Gene
    from genehub.hosts import load_host
    from genehub.routing import adapter_name, compose

    started, load_before = time.perf_counter(), os.getloadavg()
    torch.manual_seed(0)
    z = zoo.build(args.preset, progress=False)
    skills = list(z.donors)
    genes = _genes_for(z, skills, args.donor_steps)
    names_of = {s: adapter_name(Gene.load(p)) for s, p in genes.items()}
    rows = _rows(skills, args.n_test)
    comp = compose(z.host, list(genes.values()), none_prompts=zoo.none_prompts)
    bare = load_host(z.host)[0].eval()
    report: dict[str, Any] = {
        "command": "python bench/bench_routing.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "machine": {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
                    "cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(), "python": platform.python_version(),
                    "torch": torch.__version__, "load_average_before": [round(x, 2) for x in load_before]},
        "preset": args.preset, "skills": skills, "genes": names_of, "n_test": args.n_test,
        "router": {"layer": comp.router.layer, "pooling": comp.router.pooling,
                   "train_seconds": comp.router.training["seconds"]},
    }
    others: dict[str, Any] = {}
    arrow = build_arrow(z.host, genes)
    others["arrow (top-2, all-layer genes)"] = arrow if isinstance(arrow, str) else arrow[0]
    if args.no_xlora:
        others["x-lora"] = "not run (--no-xlora)"
    else:
        print("  training X-LoRA's classifier ...", file=sys.stderr)
        none_rows = zoo.none_rows(skills)  # the router's "none" prompts, with their answers
        xmodel, _, info = train_xlora(z.host, genes, xlora_training_rows(genes, none_rows), steps=args.xlora_steps)
        others["x-lora"] = xmodel
        report["xlora"] = info
    report["accuracy"] = _accuracy(comp, rows, names_of, others)
    report["routing"] = _routing(comp, rows, names_of)
    if comp.router.layer != 1:
        report["routing"]["layer1_heldout_accuracy"] = _heldout_routing_at(comp, rows, names_of, layer=1)
    timed = {k: v for k, v in others.items() if not isinstance(v, str)}
    report["latency"] = _latency(comp, bare, rows, names_of, args.batches, args.reps, args.gen_reps, timed)
    del others, timed
    report["scaling"] = _scaling(z, skills, scale, args, bare)
    if not args.no_host_sizes:
        from _routing_hostsize import host_size_latency

        print("  latency against host size ...", file=sys.stderr)
        pool = [r["prompt"] for rs in rows.values() for r in rs]
        report["host_sizes"] = host_size_latency(pool, [b for b in args.batches if b > 1] or args.batches,
                                                 args.reps, args.gen_reps)
    report["machine"]["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    report["seconds"] = round(time.perf_counter() - started, 1)

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "routing.json").write_text(json.dumps(report, indent=2) + "\n")
    text = render(report, out)
    (out / "routing.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
