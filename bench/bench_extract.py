"""Benchmark gene extraction (genehub.lorafy) against mergekit-extract-lora on a zoo preset.

For each donor of the preset: the distilled gene (default config; 1000 preservation rows per skill, the
earlier default; the top half of the layers instead of the circuit; lambda=0; q/v only; rank 4; the defaults
before issue 5's fidelity work), the data-free SVD gene at the circuit, and `mergekit-extract-lora` at
several ranks (every module) on the same donor/host, all scored on the same test prompts (half written
with held-out templates, reported apart as 'seen' and 'held-out'). Prints one table (method, size, skill
accuracy, other-skill accuracy with the worst drop on seen and held-out phrasings, time); a reference
donor fine-tuned like the zoo's but only on the data's templates (what a gene can learn from); homology
per layer for donor-vs-host (related) and donor-vs-heterologous (unrelated); and the issue's targets.

    python bench/bench_extract.py --preset tiny
    python bench/bench_extract.py --preset demo --variants "distill,distill lambda=0" --mergekit-ranks 8,16
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


# ExtractConfig's defaults before issue 5's fidelity work, kept as a baseline row.
OLD_DEFAULTS = dict(target_share=0.8, rank=8, alpha=16.0, init="random", lam=1.0, steps=300, lr=1e-2, batch_size=32,
                    n_preserve=100)


def _mergekit(donor: Path, host: Path, out: Path, rank: int) -> tuple[Path, float] | None:
    # The console script sits beside the interpreter (a venv's bin/), which need not be on PATH.
    exe = shutil.which("mergekit-extract-lora") or shutil.which("mergekit-extract-lora", path=str(Path(sys.executable).parent))
    if exe is None:
        return None
    start = time.perf_counter()
    proc = subprocess.run([exe, "--model", str(donor), "--base-model", str(host), "--out-path", str(out),
                           "--max-rank", str(rank), "--quiet"], capture_output=True, text=True)
    if proc.returncode != 0:
        print(f"mergekit-extract-lora failed: {proc.stderr[-800:]}", file=sys.stderr)
        return None
    return out, time.perf_counter() - start


def _row(skill: str, method: str, layers: str, size_bytes: int, fid, seconds: float) -> dict:
    """One table row from a :class:`genehub.lorafy.fidelity.Fidelity` (a gene's card, or a mergekit adapter)."""
    hosts = [v["host"] for v in fid.other_skills.values()]
    return {
        "skill": skill, "method": method, "layers": layers, "size KB": size_bytes / 1024,
        "host": fid.host, "donor": fid.donor, "gene": fid.gene,
        "gene seen": fid.by_template["seen"]["gene"], "donor seen": fid.by_template["seen"]["donor"],
        "recovered": fid.recovered, "recovered seen": fid.recovered_on("seen"),
        "other host": sum(hosts) / len(hosts),
        "other gene": sum(v["gene"] for v in fid.other_skills.values()) / len(hosts),
        "worst drop": fid.worst_other_drop, "worst drop seen": fid.worst_other_drop_on("seen"),
        "worst drop held-out": fid.worst_other_drop_on("heldout"), "time s": seconds,
    }


def _card_fidelity(card: dict):
    """The :class:`~genehub.lorafy.fidelity.Fidelity` an extracted gene's card records."""
    from genehub.lorafy.fidelity import Fidelity

    fid, lorafy = card["fidelity"], card["extra"]["lorafy"]
    return Fidelity(host=fid["skill"]["host"], donor=fid["skill"]["donor"], gene=fid["skill"]["gene"],
                    other_skills=fid["other_skills"], num_test_prompts=fid["num_test_prompts"],
                    by_template=lorafy["fidelity_by_template"], other_by_template=lorafy["other_skills_by_template"])


def _adapter_fidelity(adapter: Path, host: Path, test_rows, others, gene_fid):
    """Fidelity of any PEFT adapter on ``host``, measured like a gene's; the donor's figures are the gene's."""
    from peft import PeftModel

    from genehub.hosts import load_host
    from genehub.lorafy.fidelity import measure_fidelity

    base, tok = load_host(host)
    model = PeftModel.from_pretrained(base, str(adapter)).eval()
    fid = measure_fidelity(model, tok, test_rows, other_tests=others)
    fid.donor = gene_fid.donor
    for group, row in fid.by_template.items():
        row["donor"] = gene_fid.by_template[group]["donor"]
    return fid


def _data_templates_donor(preset: str, zoo_dir, skill: str, test_rows) -> dict:
    """A donor fine-tuned like the zoo's, but only on the templates the skill's data has (``heldout_share=0``).

    The zoo's donors were fine-tuned on every phrasing of their skill, held-out templates included, while
    a gene is distilled from the skill's data (seen templates only). This reference shows how much of the
    donor's accuracy on held-out templates comes from having been trained on them.
    """
    import copy

    from genehub.hosts import load_host
    from genehub.lorafy.fidelity import template_means
    from genehub.evaluate import exact_match
    from genehub.zoo import PRESETS
    from genehub.zoo.train import train

    host, tok = load_host(zoo_dir.host)
    donor = copy.deepcopy(host)
    train(donor, tok, PRESETS[preset].donor_config(skill, heldout_share=0.0))
    return template_means(exact_match(donor, tok, test_rows), test_rows)


def _targets(rows: list[dict], homology_rows: list[dict]) -> list[dict]:
    """The issue's targets for each skill's default ``distill`` gene (and the rank-4 one's size), from this run's rows."""
    out = []

    def add(skill, target, goal, measured, met):
        out.append({"skill": skill, "target": target, "goal": goal, "measured": measured,
                    "met": "n/a" if met is None else ("yes" if met else "**no**")})

    def fmt(x):
        return "-" if x is None else f"{x:.3f}"

    for skill in dict.fromkeys(r["skill"] for r in rows):
        mine = {r["method"]: r for r in rows if r["skill"] == skill}
        gene = mine.get("distill")
        if gene is not None:
            for key, label in (("recovered", "all test prompts"), ("recovered seen", "data's templates")):
                value = gene[key]
                add(skill, f"recovers >= 90% of the donor's gain ({label})", ">= 0.90", fmt(value),
                    None if value is None else value >= 0.9)
            for key, label in (("worst drop", "all"), ("worst drop seen", "data's templates"),
                               ("worst drop held-out", "held-out templates")):
                add(skill, f"other skills lose <= 5 points ({label})", "<= 0.05", fmt(gene[key]), gene[key] <= 0.05)
        if "distill lambda=0" in mine:
            add(skill, "other skills, lambda = 0 (reported)", "-", fmt(mine["distill lambda=0"]["worst drop"]), None)
        merged = sorted((r for r in rows if r["skill"] == skill and r["method"].startswith("mergekit")),
                        key=lambda r: r["size KB"])
        for method in ("distill", "distill rank 4"):
            if method not in mine or not merged:
                continue
            small = mine[method]
            for key, label in (("gene seen", "data's templates"), ("gene", "all test prompts")):
                target = f"{method}: 10x smaller than mergekit at equal fidelity ({label})"
                match = next((r for r in merged if r[key] >= small[key]), None)
                if match is None:
                    add(skill, target, ">= 10x", f"no mergekit rank reached {small[key]:.3f}", None)
                    continue
                ratio = match["size KB"] / small["size KB"]
                add(skill, target, ">= 10x", f"{ratio:.1f}x ({match['method']}: {match['size KB']:.0f} KB, "
                    f"{match[key]:.3f}; gene {small['size KB']:.0f} KB, {small[key]:.3f})", ratio >= 10)
        layers = [h for h in homology_rows if h["skill"] == skill]
        for key in ("pca", "mean-diff"):
            if layers:
                margin = min(h[f"related {key}"] - h[f"unrelated {key}"] for h in layers)
                add(skill, f"homology ({key}): related > unrelated on every layer", "> 0",
                    f"min margin {margin:.3f}", margin > 0)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="tiny")
    parser.add_argument("--steps", type=int, help="distillation steps (default: ExtractConfig's)")
    parser.add_argument("--rank", type=int, help="LoRA rank (default: ExtractConfig's; alpha = 2 * rank)")
    parser.add_argument("--variants", help="comma-separated variant labels to run (default: all)")
    parser.add_argument("--skills", help="comma-separated donors to run (default: all of the preset's)")
    parser.add_argument("--n-other", type=int, default=None, help="test rows per other skill (default: ExtractConfig's)")
    parser.add_argument("--mergekit-ranks", default="4,8,16,32",
                        help="ranks of mergekit-extract-lora to run (comma-separated; '' for none)")
    parser.add_argument("--no-reference-donor", action="store_true",
                        help="skip the reference donor fine-tuned on the data's templates only")
    parser.add_argument("--json", help="also write the rows to this JSON file")
    parser.add_argument("--out", help="write DIR/extract.md and DIR/extract.json (bench/run_all.py's convention)")
    args = parser.parse_args(argv)

    from genehub import zoo
    from genehub._tables import markdown_table, print_table
    from genehub.gene import load_card
    from genehub.hosts import load_host
    from genehub.lorafy import ExtractConfig, extract, score_homology
    from genehub.lorafy._data import contrast_pairs, library_rows, other_skills

    z = zoo.build(args.preset)
    skills = args.skills.split(",") if args.skills else list(z.donors)
    rows, homology_rows = [], []
    work = Path(tempfile.mkdtemp(prefix="bench-extract-"))
    defaults = ExtractConfig()
    num_layers = load_host(z.host)[0].config.num_hidden_layers
    top_half = tuple(range(num_layers // 2, num_layers))
    variants = [
        ("distill", dict(method="distill")),
        ("distill n_preserve=1000", dict(method="distill", n_preserve=1000)),  # the default before this change
        (f"distill layers {','.join(map(str, top_half))}", dict(method="distill", layers=top_half)),
        ("distill lambda=0", dict(method="distill", lam=0.0)),
        ("distill q,v", dict(method="distill", modules=("q_proj", "v_proj"))),
        ("distill rank 4", dict(method="distill", rank=4, alpha=8.0)),
        ("distill old-defaults", dict(method="distill", **OLD_DEFAULTS)),
        ("svd@circuit", dict(method="svd")),
    ]
    if args.variants:
        keep = set(args.variants.split(","))
        variants = [v for v in variants if v[0] in keep]
    sized = {k: v for k, v in (("rank", args.rank), ("steps", args.steps)) if v is not None}
    if args.rank is not None:
        sized["alpha"] = 2.0 * args.rank
    rank = args.rank or defaults.rank
    steps = args.steps or defaults.steps
    mk_ranks = [int(r) for r in args.mergekit_ranks.split(",") if r.strip()]
    n_other = args.n_other or defaults.n_other
    references = []
    try:
        for skill in skills:
            donor = z.donors[skill]
            data = zoo.skill_data(skill)
            test = data.rows("test")
            others = library_rows(zoo.LIBRARY, other_skills(data, zoo.LIBRARY), "test", n_other)
            for label, options in variants:
                start = time.perf_counter()
                path = extract(donor, z.host, data, work / f"{skill}-{label.replace(' ', '_')}",
                               ExtractConfig(**{**sized, "n_other": n_other, **options}))
                seconds = time.perf_counter() - start
                card = load_card(path)
                gene_fid = _card_fidelity(card)
                rows.append(_row(skill, label, ",".join(map(str, card["adapter"]["layers"])),
                                 card["adapter"]["size_bytes"], gene_fid, seconds))
            for mk_rank in mk_ranks:
                mk = _mergekit(donor, z.host, work / f"{skill}-mergekit-r{mk_rank}", mk_rank)
                if mk is None:
                    break
                adapter, seconds = mk
                size = sum(f.stat().st_size for f in adapter.glob("*.safetensors"))
                rows.append(_row(skill, f"mergekit-extract-lora r{mk_rank}", "all", size,
                                 _adapter_fidelity(adapter, z.host, test, others, gene_fid), seconds))
            if not args.no_reference_donor:
                start = time.perf_counter()
                ref = _data_templates_donor(args.preset, z, skill, test)
                by_template = gene_fid.by_template
                references.append({"skill": skill, "zoo donor seen": by_template["seen"]["donor"],
                                   "zoo donor held-out": by_template["heldout"]["donor"],
                                   "data-templates donor seen": ref["seen"],
                                   "data-templates donor held-out": ref["heldout"],
                                   "host seen": by_template["seen"]["host"],
                                   "host held-out": by_template["heldout"]["host"],
                                   "time s": time.perf_counter() - start})
            # Homology per layer: related (donor vs its host) against unrelated (donor vs heterologous).
            donor_m, tok = load_host(donor)
            host_m, _ = load_host(z.host)
            hetero_m, _ = load_host(z.heterologous)
            left, right = contrast_pairs(data, zoo.LIBRARY, other_skills(data, zoo.LIBRARY), 64)
            related = score_homology(donor_m, host_m, tok, left, right)
            unrelated = score_homology(donor_m, hetero_m, tok, left, right)
            for r, u in zip(related.per_layer, unrelated.per_layer):
                homology_rows.append({"skill": skill, "layer": r["layer"], "related pca": r["pca_cosine"],
                                      "unrelated pca": u["pca_cosine"], "related mean-diff": r["mean_diff_cosine"],
                                      "unrelated mean-diff": u["mean_diff_cosine"]})
    finally:
        shutil.rmtree(work, ignore_errors=True)
    targets = _targets(rows, homology_rows)
    print(f"\nzoo preset {args.preset!r}, rank {rank}, {steps} distillation steps (old defaults: rank 8, 300); accuracies are exact match "
          "on held-out test prompts; 'other' = mean over the other host skills with the gene always on")
    print_table(rows)
    if references:
        print("\nreference: the zoo's donor (fine-tuned on every template) against one fine-tuned the same way on the "
              "data's templates only")
        print_table(references)
    print("\nhomology per layer (|cos| of PCA reading vectors; signed cos of mean differences)")
    print_table(homology_rows)
    print("\nagainst the issue's targets (the default 'distill' gene)")
    print_table(targets)
    payload = {"preset": args.preset, "steps": steps, "rank": rank, "rows": rows, "homology": homology_rows,
               "reference_donors": references, "targets": targets}
    if args.json:
        Path(args.json).write_text(json.dumps(payload, indent=2) + "\n")
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "extract.json").write_text(json.dumps(payload, indent=2) + "\n")
        reference_md = ""
        if references:
            reference_md = (
                "\nReference donors: the zoo's donor was fine-tuned on every template of its skill, held-out ones "
                "included; the second was fine-tuned the same way (same recipe and seed) on the data's templates "
                "only, as the gene is distilled:\n\n" + markdown_table(references))
        (out / "extract.md").write_text(
            f"Command: `python bench/bench_extract.py --preset {args.preset}`; rank {rank}, {steps} distillation "
            "steps. Accuracies are exact match on held-out test prompts (half written with held-out templates); "
            "'seen' columns use only the test prompts written with the data's templates (new words); "
            "'other' = mean over the other host skills with the gene always on; 'recovered' = share of the "
            "donor's gain over the host.\n\n" + markdown_table(rows) + reference_md +
            "\nHomology per layer (|cos| of PCA reading vectors; signed cos of mean differences), donor vs its "
            "own host (related) and vs the heterologous host (unrelated):\n\n" + markdown_table(homology_rows) +
            "\nAgainst the issue's targets (the default `distill` gene; sizes against the smallest "
            "mergekit-extract-lora output whose skill accuracy is at least the gene's):\n\n" + markdown_table(targets))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
