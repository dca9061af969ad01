"""Benchmark gene extraction on the real preset (SmolLM2-135M-Instruct host, language-skill donors).

For each donor of the preset (``genehub.zoo.real``: the host fine-tuned on one skill, merged into a full
model), every figure from this one run, on the same test prompts (half of them in phrasings that neither
the donor's fine-tune nor the extraction saw, reported apart as "seen" and "held-out"):

- variants: the default gene (``real.extract_config()``: rank 8 at the circuit, SVD start, distilled with
  the host's own continuations of general prompts as preservation; cached by recipe like the demo's, so a
  demo run first makes this quick), the SVD start alone (no distillation), and ``mergekit-extract-lora``
  at several ranks (every module of every layer);
- skill accuracy of host, donor and each variant, and the share of the donor's gain each recovers;
- what the host must keep doing, with the gene always on and routed (by the prototypes in the genes' cards,
  as the demo composes them): the other donor's skill, and general prompts of families no extraction or
  router saw, scored by agreement with the bare host's greedy continuation (teacher-forced);
- homology of the donor with its host and with Gemma-3-270M (another family: other width, depth and
  vocabulary), linear CKA of the paired differences per layer at matched relative depth;
- the issue's targets, each with its measured figure and whether it is met.

    python bench/bench_extract_real.py                     # both demo donors
    python bench/bench_extract_real.py --skills roman --mergekit-ranks 8,32 --out bench/results
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_extract import _mergekit  # noqa: E402


def _skill_scores(model, tok, rows, adapter_names=None) -> dict[str, float]:
    """Exact match on all rows, on the seen phrasings and on the held-out ones."""
    from genehub.evaluate import exact_match

    hits = exact_match(model, tok, rows, adapter_names=adapter_names)
    groups = {"all": hits, "seen": [h for h, r in zip(hits, rows) if not r.get("heldout")],
              "held-out": [h for h, r in zip(hits, rows) if r.get("heldout")]}
    return {k: sum(v) / len(v) for k, v in groups.items() if v}


def _tokens(model, tok, rows, adapter_names=None) -> float:
    """Mean share of the answer tokens predicted (teacher-forced): token-level agreement on general rows."""
    from genehub.evaluate import token_match

    values = token_match(model, tok, rows, adapter_names=adapter_names)
    return sum(values) / len(values)


def _recovered(host: float, donor: float, gene: float) -> float | None:
    return None if donor - host <= 0 else (gene - host) / (donor - host)


def _adapter_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.glob("*.safetensors"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--skills", help="comma-separated donor skills (default: the preset's demo donors)")
    parser.add_argument("--mergekit-ranks", default="8,32", help="ranks for mergekit-extract-lora (default 8,32)")
    parser.add_argument("--n-general", type=int, default=64, help="general test prompts (default 64)")
    parser.add_argument("--out", help="write DIR/extract-real.md and DIR/extract-real.json")
    args = parser.parse_args(argv)

    import torch
    from peft import PeftModel

    from genehub._tables import markdown_table, print_table
    from genehub.demo.run import DemoConfig, _extract_gene, _real_plan, homology_across
    from genehub.evaluate import reference_rows
    from genehub.gene import Gene
    from genehub.hosts import load_host
    from genehub.lorafy import extract
    from genehub.routing import adapter_name, compose
    from genehub.zoo import real

    torch.set_grad_enabled(True)
    plan = _real_plan(DemoConfig())
    skills = args.skills.split(",") if args.skills else list(plan.donors)
    if args.skills:
        plan.donors = {s: real.donor(s) for s in skills}
    work = Path(tempfile.mkdtemp(prefix="bench-extract-real-"))
    host, tok = load_host(plan.host)
    tests = plan.tests(host, tok)  # the donors' skills + "general" (the host's own continuations as answers)
    general = tests.pop("general")[: args.n_general]
    timings: dict[str, float] = {}

    genes: dict[str, Path] = {}
    for skill in skills:
        start = time.perf_counter()
        genes[skill] = _extract_gene(plan, skill, work / "genes" / skill, DemoConfig())
        timings[f"gene {skill} (cached or extracted)"] = round(time.perf_counter() - start, 1)

    rows, kept = [], []
    for skill in skills:
        test = tests[skill]
        others = {s: r for s, r in tests.items() if s != skill}
        donor, _ = load_host(plan.donors[skill])
        donor_scores = _skill_scores(donor, tok, test)
        host_scores = _skill_scores(host, tok, test)
        host_other = {s: _skill_scores(host, tok, r)["all"] for s, r in others.items()}
        host_general = _skill_scores(host, tok, general)["all"]
        host_general_tokens = _tokens(host, tok, general)
        del donor

        variants: dict[str, Path] = {"gene (default)": genes[skill]}
        start = time.perf_counter()
        svd = extract(plan.donors[skill], plan.host, plan.skill_data(skill), work / "svd" / skill,
                      replace(plan.extract, method="svd", progress=False), general=plan.general)
        timings[f"svd {skill}"] = round(time.perf_counter() - start, 1)
        variants["svd start only"] = svd
        for rank in [int(r) for r in args.mergekit_ranks.split(",") if r]:
            made = _mergekit(plan.donors[skill], plan.host, work / f"mergekit-{skill}-r{rank}", rank)
            if made is not None:
                variants[f"mergekit-extract-lora r{rank}"] = made[0]
                timings[f"mergekit {skill} r{rank}"] = round(made[1], 1)

        for label, folder in variants.items():
            model = PeftModel.from_pretrained(load_host(plan.host)[0], str(folder)).eval()
            gene_scores = _skill_scores(model, tok, test)
            other = {s: _skill_scores(model, tok, r)["all"] for s, r in others.items()}
            general_on = _skill_scores(model, tok, general)["all"]
            general_on_tokens = _tokens(model, tok, general)
            rows.append({"skill": skill, "variant": label, "size KB": round(_adapter_bytes(folder) / 1024, 1),
                         "host": host_scores["all"], "donor": donor_scores["all"], "gene": gene_scores["all"],
                         "gene seen": gene_scores["seen"], "gene held-out": gene_scores["held-out"],
                         "recovered": _recovered(host_scores["all"], donor_scores["all"], gene_scores["all"]),
                         "recovered seen": _recovered(host_scores["seen"], donor_scores["seen"], gene_scores["seen"]),
                         "recovered held-out": _recovered(host_scores["held-out"], donor_scores["held-out"],
                                                          gene_scores["held-out"]),
                         "general host": host_general, "general on": general_on,
                         "general tokens host": host_general_tokens, "general tokens on": general_on_tokens,
                         "other skill drop on": max((host_other[s] - other[s] for s in other), default=0.0)})
            del model
        kept.append(skill)

    # Routed: both genes behind the prototype router their cards' routing blocks make (as the demo composes them).
    composition = compose(plan.host, [genes[s] for s in skills], "prototypes", none_prompts=plan.none_prompts)
    names = {s: adapter_name(Gene.load(genes[s])) for s in skills}
    routed: dict[str, dict[str, float]] = {}
    for name, test in [*tests.items(), ("general", general)]:
        decisions = composition.route([r["prompt"] for r in test])
        got = _skill_scores(composition.model, tok, test, adapter_names=composition.adapter_names(decisions))
        routed[name] = {"host": _skill_scores(host, tok, test)["all"], "routed": got["all"],
                        "host tokens": _tokens(host, tok, test),
                        "routed tokens": _tokens(composition.model, tok, test,
                                                 adapter_names=composition.adapter_names(decisions)),
                        "to a gene": sum(d.gene is not None for d in decisions) / len(decisions),
                        "right gene": sum((d.gene == names.get(name)) for d in decisions) / len(decisions)}
    routed_rows = [{"prompts": k, **v} for k, v in routed.items()]

    # Homology of each donor with its host (related) and with Gemma-3-270M (another family).
    homology_rows = []
    for skill in skills:
        circuit = Gene.load(genes[skill]).card["adapter"]["layers"]
        found = homology_across(plan, skill)
        per = {"related": found["host"]["per_layer"], "unrelated": found["heterologous"]["per_layer"]}
        for layer in sorted(per["related"]):
            homology_rows.append({"skill": skill, "layer": layer, "circuit": "yes" if layer in circuit else "",
                                  "related (SmolLM2 host)": per["related"][layer],
                                  "unrelated (Gemma-3-270M)": per["unrelated"][layer],
                                  "margin": per["related"][layer] - per["unrelated"][layer]})

    targets = _targets(rows, routed, homology_rows)
    print("\nSkill accuracy (exact match) and what the host keeps doing with the gene always on")
    print_table(rows)
    print("\nRouted (both genes behind a router; general prompts of families no router saw)")
    print_table(routed_rows)
    print("\nHomology per layer (linear CKA, matched relative depth)")
    print_table(homology_rows)
    print("\nTargets")
    print_table(targets)
    print_table([{"stage": k, "seconds": v} for k, v in timings.items()])
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "extract-real.json").write_text(json.dumps({"rows": rows, "routed": routed, "homology": homology_rows,
                                                           "targets": targets, "timings": timings}, indent=2) + "\n")
        (out / "extract-real.md").write_text(
            "## Variants\n\n" + markdown_table(rows) + "\n## Routed\n\n" + markdown_table(routed_rows) +
            "\n## Homology\n\n" + markdown_table(homology_rows) + "\n## Targets\n\n" + markdown_table(targets))
    shutil.rmtree(work, ignore_errors=True)
    return 0


def _targets(rows: list[dict], routed: dict, homology_rows: list[dict]) -> list[dict]:
    """Issue 17's targets for each donor's default gene, from this run's figures."""
    out = []

    def add(target: str, goal: str, measured: str, met: bool | None) -> None:
        out.append({"target": target, "goal": goal, "measured": measured,
                    "met": "n/a" if met is None else ("yes" if met else "**no**")})

    for skill in dict.fromkeys(r["skill"] for r in rows):
        mine = {r["variant"]: r for r in rows if r["skill"] == skill}
        gene = mine["gene (default)"]
        for key, goal in (("recovered seen", 0.9), ("recovered held-out", 0.8), ("recovered", None)):
            value = gene[key]
            add(f"{skill}: {key} of the donor's gain", "-" if goal is None else f">= {goal:.2f}",
                "-" if value is None else f"{value:.3f}", None if goal is None or value is None else value >= goal)
        drop = gene["general host"] - gene["general on"]
        add(f"{skill}: general prompts, gene always on (whole 24-token continuation)", "<= 0.05 drop", f"{drop:.3f}",
            drop <= 0.05)
        drop = gene["general tokens host"] - gene["general tokens on"]
        add(f"{skill}: general prompts, gene always on (per token)", "<= 0.05 drop", f"{drop:.3f}", drop <= 0.05)
        add(f"{skill}: other skill, gene always on", "<= 0.05 drop", f"{gene['other skill drop on']:.3f}",
            gene["other skill drop on"] <= 0.05)
        merged = sorted((r for r in rows if r["skill"] == skill and r["variant"].startswith("mergekit")),
                        key=lambda r: r["size KB"])
        match = next((r for r in merged if r["gene"] >= gene["gene"]), None)
        if match is None:
            add(f"{skill}: <= 1/10 of mergekit-extract-lora at equal fidelity", ">= 10x",
                f"no mergekit rank reached {gene['gene']:.3f}" if merged else "mergekit not run", None)
        else:
            ratio = match["size KB"] / gene["size KB"]
            add(f"{skill}: <= 1/10 of mergekit-extract-lora at equal fidelity", ">= 10x",
                f"{ratio:.1f}x ({match['variant']} {match['size KB']:.0f} KB at {match['gene']:.3f}; gene "
                f"{gene['size KB']:.0f} KB at {gene['gene']:.3f})", ratio >= 10)
        layers = [h for h in homology_rows if h["skill"] == skill and h["circuit"]]
        if layers:
            margin = min(h["margin"] for h in layers)
            add(f"{skill}: homology related > unrelated (Gemma) at every circuit layer", "> 0",
                f"min margin {margin:.3f}", margin > 0)
    r = routed["general"]
    for key, label in (("", "whole continuation"), (" tokens", "per token")):
        drop = r["host" + key] - r["routed" + key]
        add(f"general prompts, routed ({label})", "<= 0.01 drop", f"{drop:.3f}", drop <= 0.01)
    return out


if __name__ == "__main__":
    raise SystemExit(main())
