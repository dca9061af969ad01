"""Benchmark gene extraction (genehub.lorafy) against mergekit-extract-lora on a zoo preset.

For each donor of the preset: the distilled gene (default config; 100 preservation rows per skill, the
earlier default; the top half of the layers instead of the circuit; lambda=0; q/v only; the defaults
before issue 5's fidelity work), the data-free SVD gene at the circuit, and `mergekit-extract-lora` (same
rank, every module) on the same donor/host, all scored on the same test prompts (half written with
held-out templates). Prints one table (method, size, skill accuracy, other-skill accuracy with the
worst drop on seen and held-out phrasings, time), then homology per layer for donor-vs-host (related)
and donor-vs-heterologous (unrelated).

    python bench/bench_extract.py --preset tiny
    python bench/bench_extract.py --preset demo --variants "distill,distill old-defaults"
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
OLD_DEFAULTS = dict(target_share=0.8, rank=8, alpha=16.0, init="random", lam=1.0, steps=300, lr=1e-2, batch_size=32)


def _mergekit(donor: Path, host: Path, out: Path, rank: int) -> tuple[Path, float] | None:
    exe = shutil.which("mergekit-extract-lora")
    if exe is None:
        return None
    start = time.perf_counter()
    proc = subprocess.run([exe, "--model", str(donor), "--base-model", str(host), "--out-path", str(out),
                           "--max-rank", str(rank), "--quiet"], capture_output=True, text=True)
    if proc.returncode != 0:
        print(f"mergekit-extract-lora failed: {proc.stderr[-800:]}", file=sys.stderr)
        return None
    return out, time.perf_counter() - start


def _score_adapter(adapter: Path, host: Path, test_rows, others) -> tuple[float, dict[str, float]]:
    from peft import PeftModel

    from genehub.hosts import load_host
    from genehub.zoo import accuracy

    base, tok = load_host(host)
    model = PeftModel.from_pretrained(base, str(adapter)).eval()
    return accuracy(model, tok, test_rows), {n: accuracy(model, tok, rows) for n, rows in others.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="tiny")
    parser.add_argument("--steps", type=int, help="distillation steps (default: ExtractConfig's)")
    parser.add_argument("--rank", type=int, help="LoRA rank (default: ExtractConfig's; alpha = 2 * rank)")
    parser.add_argument("--variants", help="comma-separated variant labels to run (default: all)")
    parser.add_argument("--skills", help="comma-separated donors to run (default: all of the preset's)")
    parser.add_argument("--n-other", type=int, default=100, help="test rows per other skill")
    parser.add_argument("--json", help="also write the rows to this JSON file")
    parser.add_argument("--out", help="write DIR/extract.md and DIR/extract.json (bench/run_all.py's convention)")
    args = parser.parse_args(argv)

    from genehub import zoo
    from genehub.cli._common import print_table
    from genehub.gene import load_card
    from genehub.hosts import load_host
    from genehub.lorafy import ExtractConfig, extract, load_skill_data, score_homology
    from genehub.lorafy._data import contrast_pairs, other_skills, zoo_rows

    z = zoo.build(args.preset)
    skills = args.skills.split(",") if args.skills else list(z.donors)
    rows, homology_rows = [], []
    work = Path(tempfile.mkdtemp(prefix="bench-extract-"))
    defaults = ExtractConfig()
    num_layers = load_host(z.host)[0].config.num_hidden_layers
    top_half = tuple(range(num_layers // 2, num_layers))
    variants = [
        ("distill", dict(method="distill")),
        ("distill n_preserve=100", dict(method="distill", n_preserve=100)),  # the default before this change
        (f"distill layers {','.join(map(str, top_half))}", dict(method="distill", layers=top_half)),
        ("distill lambda=0", dict(method="distill", lam=0.0)),
        ("distill q,v", dict(method="distill", modules=("q_proj", "v_proj"))),
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
    try:
        for skill in skills:
            donor = z.donors[skill]
            data = load_skill_data(skill)
            test = data.rows("test")
            others = zoo_rows(other_skills(data), "test", args.n_other)
            host_other = None
            for label, options in variants:
                start = time.perf_counter()
                path = extract(donor, z.host, skill, work / f"{skill}-{label.replace(' ', '_')}",
                               ExtractConfig(**{**sized, "n_other": args.n_other, **options}))
                seconds = time.perf_counter() - start
                card = load_card(path)
                fid = card["fidelity"]
                host_other = {k: v["host"] for k, v in fid["other_skills"].items()}
                gain = fid["skill"]["donor"] - fid["skill"]["host"]
                rows.append({
                    "skill": skill, "method": label, "layers": ",".join(map(str, card["adapter"]["layers"])),
                    "size KB": card["adapter"]["size_bytes"] / 1024,
                    "host": fid["skill"]["host"], "donor": fid["skill"]["donor"], "gene": fid["skill"]["gene"],
                    "recovered": (fid["skill"]["gene"] - fid["skill"]["host"]) / gain if gain > 0 else None,
                    "recovered seen": card["extra"]["lorafy"].get("recovered_share_seen"),
                    "other host": sum(host_other.values()) / len(host_other),
                    "other gene": sum(v["gene"] for v in fid["other_skills"].values()) / len(host_other),
                    "worst drop": max(v["host"] - v["gene"] for v in fid["other_skills"].values()),
                    "worst drop seen": card["extra"]["lorafy"]["worst_other_drop_by_template"]["seen"],
                    "worst drop held-out": card["extra"]["lorafy"]["worst_other_drop_by_template"]["heldout"],
                    "time s": seconds,
                })
            mk = _mergekit(donor, z.host, work / f"{skill}-mergekit", rank)
            if mk is not None:
                adapter, seconds = mk
                acc, other_acc = _score_adapter(adapter, z.host, test, others)
                size = sum(f.stat().st_size for f in adapter.glob("*.safetensors"))
                last = rows[-1]
                gain = last["donor"] - last["host"]
                rows.append({
                    "skill": skill, "method": f"mergekit-extract-lora r{rank}", "layers": "all",
                    "size KB": size / 1024, "host": last["host"], "donor": last["donor"], "gene": acc,
                    "recovered": (acc - last["host"]) / gain if gain > 0 else None,
                    "other host": last["other host"], "other gene": sum(other_acc.values()) / len(other_acc),
                    "worst drop": max(host_other[k] - other_acc[k] for k in other_acc), "time s": seconds,
                })
            # Homology per layer: related (donor vs its host) against unrelated (donor vs heterologous).
            donor_m, tok = load_host(donor)
            host_m, _ = load_host(z.host)
            hetero_m, _ = load_host(z.heterologous)
            left, right = contrast_pairs(data, other_skills(data), 64)
            related = score_homology(donor_m, host_m, tok, left, right)
            unrelated = score_homology(donor_m, hetero_m, tok, left, right)
            for r, u in zip(related.per_layer, unrelated.per_layer):
                homology_rows.append({"skill": skill, "layer": r["layer"], "related pca": r["pca_cosine"],
                                      "unrelated pca": u["pca_cosine"], "related mean-diff": r["mean_diff_cosine"],
                                      "unrelated mean-diff": u["mean_diff_cosine"]})
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"\nzoo preset {args.preset!r}, rank {rank}, {steps} distillation steps (old defaults: rank 8, 300); accuracies are exact match "
          "on held-out test prompts; 'other' = mean over the other host skills with the gene always on")
    print_table(rows)
    print("\nhomology per layer (|cos| of PCA reading vectors; signed cos of mean differences)")
    print_table(homology_rows)
    payload = {"preset": args.preset, "steps": steps, "rank": rank, "rows": rows, "homology": homology_rows}
    if args.json:
        Path(args.json).write_text(json.dumps(payload, indent=2) + "\n")
    if args.out:
        from genehub.demo.report import markdown_table

        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "extract.json").write_text(json.dumps(payload, indent=2) + "\n")
        (out / "extract.md").write_text(
            f"Command: `python bench/bench_extract.py --preset {args.preset}`; rank {rank}, {steps} distillation "
            "steps. Accuracies are exact match on held-out test prompts (half written with held-out templates); "
            "'other' = mean over the other host skills with the gene always on; 'recovered' = share of the "
            "donor's gain over the host.\n\n" + markdown_table(rows) +
            "\nHomology per layer (|cos| of PCA reading vectors; signed cos of mean differences), donor vs its "
            "own host (related) and vs the heterologous host (unrelated):\n\n" + markdown_table(homology_rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
