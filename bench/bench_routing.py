"""Benchmark: genes composed behind genehub's router vs oracle routing, static merges, Arrow and the bare host.

One run, side by side, on the same genes and the same test prompts (half of them written with templates
that neither the genes nor the router saw). Per-skill exact-match accuracy; routing accuracy on the
held-out-template prompts; forward and generate latency as ratios to the bare host at batch 1, 8, 32;
and how routing accuracy and router latency change from 2 to N genes (extra skills are the zoo's
``shift*`` family: a donor per skill via ``zoo.train_donor``, cached under ``cache_dir()/bench-donors``).

    python bench/bench_routing.py --preset tiny --scale 2 4 8 16 --out bench/results/routing

Genes come from ``tests/_genes.py`` (SVD of donor-minus-host, then a short fine-tune; all layers and
all linear modules, which Arrow needs: it fails on adapters restricted to some layers) until
LoRA-fication lands. X-LoRA is listed but not run yet (see ``--xlora``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

MERGES = {"linear": {}, "ties": {"density": 0.5}, "dare_ties": {"density": 0.5}, "svd": {}}


def _timed(fn: Any, reps: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _genes_for(z: Any, skills: list[str]) -> dict[str, Path]:
    from _genes import cached_gene

    from genehub._paths import cache_dir
    from genehub.zoo import train_donor

    out = {}
    for skill in skills:
        donor = z.donors.get(skill)
        if donor is None:
            donor = cache_dir() / "bench-donors" / z.root.name / f"donor-{skill}"
            if not (donor / "config.json").is_file():
                print(f"  training a donor for {skill} (cached) ...", file=sys.stderr)
                train_donor(z.host, skill, donor)
        out[skill] = cached_gene(z.host, donor, skill)
    return out


def _rows(z: Any, skills: list[str], n: int) -> dict[str, list[dict[str, Any]]]:
    from genehub.zoo import general_dataset, skill_dataset

    rows = {s: list(skill_dataset(s, n_train=1, n_validation=1, n_test=n)["test"]) for s in skills}
    rows["none"] = list(general_dataset(n=n, split="test"))
    return rows


def _accuracy_table(comp: Any, rows: dict[str, list], skills: list[str], names_of: dict[str, str]) -> dict[str, Any]:
    from genehub.zoo import exact_match

    model, tok = comp.model, comp.tokenizer
    result: dict[str, dict[str, float]] = {}

    def acc(names_fn: Any) -> dict[str, float]:
        return {s: round(sum(exact_match(model, tok, r, adapter_names=names_fn(s, r))) / len(r), 4) for s, r in rows.items()}

    result["bare host"] = acc(lambda s, r: ["__base__"] * len(r))
    result["oracle routing"] = acc(lambda s, r: [names_of.get(s, "__base__")] * len(r))
    result["genehub router"] = acc(lambda s, r: comp.adapter_names(comp.route([x["prompt"] for x in r])))
    for method, kw in MERGES.items():
        name = f"merge_{method}"
        genes = [names_of[s] for s in skills]
        model.add_weighted_adapter(genes, [1.0] * len(genes), adapter_name=name, combination_type=method, **kw)
        result[f"merge {method}"] = acc(lambda s, r, n=name: [n] * len(r))
        model.delete_adapter(name)
    return result


def _routing_accuracy(comp: Any, rows: dict[str, list], names_of: dict[str, str]) -> dict[str, Any]:
    held = [(names_of.get(s, "none"), r["prompt"]) for s, rs in rows.items() for r in rs if r.get("heldout")]
    start = time.perf_counter()
    decisions = comp.route([p for _, p in held])
    seconds = time.perf_counter() - start
    hits = sum((d.gene or "none") == label for d, (label, _) in zip(decisions, held))
    return {"heldout_accuracy": round(hits / len(held), 4), "num_heldout": len(held),
            "route_ms_per_prompt": round(1000 * seconds / len(held), 3)}


def _latency(comp: Any, rows: dict[str, list], names_of: dict[str, str], batches: list[int], reps: int,
             arrow: Any | None) -> dict[str, Any]:
    import torch

    pool = [(s, r["prompt"]) for s, rs in rows.items() for r in rs]
    out: dict[str, Any] = {}
    model, tok = comp.model, comp.tokenizer
    for b in batches:
        batch = [pool[(i * 7) % len(pool)] for i in range(b)]
        prompts = [p for _, p in batch]
        oracle = [names_of.get(s) for s, _ in batch]
        enc = comp._encode(prompts)
        pos = (enc["attention_mask"].cumsum(-1) - 1).clamp(min=0)
        gen = dict(max_new_tokens=16, min_new_tokens=16, do_sample=False, pad_token_id=tok.pad_token_id)

        def fwd(names: list[str] | None) -> Any:
            with torch.no_grad():
                if names is None:
                    with model.disable_adapter():
                        return model(**enc, position_ids=pos)
                return model(**enc, position_ids=pos, adapter_names=names)

        def gen_bare() -> Any:
            with torch.no_grad(), model.disable_adapter():
                return model.generate(**enc, **gen)

        one = next(iter(comp.genes))
        fwd(None)  # warm the allocator before the first timed row
        t = {
            "bare host": (_timed(lambda: fwd(None), reps), _timed(gen_bare, max(1, reps // 3))),
            "genehub router": (_timed(lambda: comp.logits(prompts), reps),
                               _timed(lambda: comp.generate(prompts, max_new_tokens=16, min_new_tokens=16), max(1, reps // 3))),
            "oracle routing": (_timed(lambda: comp.logits(prompts, genes=oracle), reps),
                               _timed(lambda: comp.generate(prompts, genes=oracle, max_new_tokens=16, min_new_tokens=16), max(1, reps // 3))),
            "router only": (_timed(lambda: comp.route(prompts), reps), None),
            "static merge (one adapter)": (_timed(lambda: comp.logits(prompts, genes=[one] * b), reps), None),
        }
        if arrow is not None:
            def arrow_fwd() -> Any:
                with torch.no_grad():
                    return arrow(**enc, position_ids=pos)
            t["arrow"] = (_timed(arrow_fwd, reps), None)
        bare_f, bare_g = t["bare host"]
        out[str(b)] = {k: {"forward_ms": round(1000 * f, 3), "forward_ratio": round(f / bare_f, 3),
                           "generate_ms": round(1000 * g, 3) if g else None,
                           "generate_ratio": round(g / bare_g, 3) if g else None} for k, (f, g) in t.items()}
        out[str(b)]["router share of 16-token generate"] = round(t["router only"][0] / t["genehub router"][1], 4)
    return out


def _arrow(z: Any, genes: dict[str, Path], rows: dict[str, list]) -> tuple[Any, dict[str, float]] | tuple[None, str]:
    try:
        from peft import ArrowConfig, create_arrow_model

        from genehub.hosts import load_host
        from genehub.zoo import accuracy

        base, tok = load_host(z.host)
        model = create_arrow_model(base, task_specific_adapter_paths=[str(p) for p in genes.values()],
                                   arrow_config=ArrowConfig(top_k=min(2, len(genes))))
        model.eval()
        return model, {s: round(accuracy(model, tok, r), 4) for s, r in rows.items()}
    except Exception as err:  # report, do not hide: Arrow is a comparison, not genehub's code
        return None, f"{type(err).__name__}: {err}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="tiny")
    parser.add_argument("--n-test", type=int, default=100, help="test prompts per skill (half held-out templates)")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--reps", type=int, default=9)
    parser.add_argument("--scale", type=int, nargs="*", default=[2, 4, 8, 16], help="gene counts for scaling")
    parser.add_argument("--out", default="bench/results/routing")
    args = parser.parse_args(argv)

    import torch

    from genehub import zoo
    from genehub.routing import compose, load_gene

    torch.manual_seed(0)
    z = zoo.build(args.preset)
    skills = list(z.donors)
    genes = _genes_for(z, skills)
    names_of = {s: load_gene(p).name for s, p in genes.items()}
    rows = _rows(z, skills, args.n_test)
    comp = compose(z.host, list(genes.values()))
    report: dict[str, Any] = {"preset": args.preset, "skills": skills, "n_test": args.n_test,
                              "router": {"layer": comp.router.layer, "pooling": comp.router.pooling,
                                         "train_seconds": comp.router.training["seconds"]}}
    report["accuracy"] = _accuracy_table(comp, rows, skills, names_of)
    arrow, arrow_acc = _arrow(z, genes, rows)
    report["accuracy"]["arrow (all-layer genes)"] = arrow_acc
    report["accuracy"]["x-lora"] = "not run (needs training its classifier; XLoraConfig with keys '0','1',..., use_cache=False)"
    report["routing"] = _routing_accuracy(comp, rows, names_of)
    report["latency"] = _latency(comp, rows, names_of, args.batches, args.reps, arrow)

    scaling = []
    extra = [f"shift{k}" for k in range(1, 13)]
    for n in args.scale:
        sk = (skills + extra)[:n]
        g = _genes_for(z, sk)
        c = compose(z.host, list(g.values()))
        r = _rows(z, sk, args.n_test)
        nm = {s: load_gene(p).name for s, p in g.items()}
        entry = {"genes": n, "router_train_seconds": c.router.training["seconds"], **_routing_accuracy(c, r, nm)}
        scaling.append(entry)
        print(json.dumps(entry), file=sys.stderr)
    report["scaling"] = scaling

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "routing.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
