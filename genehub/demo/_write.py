"""Writes the demo's outputs: the table (printed and as Markdown), results.json and the plots."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..cli._common import print_table
from .report import markdown_table, plot_accuracy_bars, plot_confusion, plot_homology


def write_outputs(out: Path, zoo: Any, skills: list[str], measured: dict[str, Any], installed: dict[str, Path],
                  timings: dict[str, float], *, registry_spec: str) -> Any:
    from ..gene import load_card
    from .run import DemoResult

    acc = measured["accuracy"]
    models = list(acc)
    all_skills = list(acc["host"])
    rows = [{"skill": s, **{m: acc[m][s] for m in models}} for s in all_skills]
    cards = {skill: load_card(path) for skill, path in installed.items()}
    sizes = {skill: (path / "adapter_model.safetensors").stat().st_size for skill, path in installed.items()}
    gene_rows = [{"gene": cards[s]["name"], "skill": s, "adapter bytes": sizes[s],
                  "layers": ",".join(map(str, cards[s]["adapter"]["layers"])),
                  "homology": cards[s]["homology"]["aggregate"], "host": acc["host"][s],
                  "donor": acc[f"donor-{s}"][s], "gene alone": acc[f"gene-{s}"][s],
                  "composition": acc["composition"][s]} for s in skills]
    time_rows = [{"stage": k, "seconds": v} for k, v in timings.items()] + [
        {"stage": "total", "seconds": round(sum(timings.values()), 2)}]

    print()
    print("Held-out exact-match accuracy per skill (rows: skills; columns: models)")
    print_table(rows, ["skill", *models])
    print()
    print(f"Routing accuracy: {measured['routing_accuracy']:.3f} on all test prompts, "
          f"{measured['routing_accuracy_heldout']:.3f} on prompts written with held-out templates")
    print()
    print_table(gene_rows)
    print()
    print_table(time_rows)

    plots_dir = out / "plots"
    plots_dir.mkdir(exist_ok=True)
    homology = {cards[s]["name"]: [(p["layer"], p["pca_cosine"]) for p in cards[s]["homology"]["per_layer"]]
                for s in skills}
    plots = {
        "accuracy": plot_accuracy_bars(acc, plots_dir / "accuracy.png"),
        "homology": plot_homology(homology, plots_dir / "homology.png"),
        "confusion": plot_confusion(measured["confusion"]["labels"], measured["confusion"]["matrix"],
                                    plots_dir / "router-confusion.png"),
    }
    space = f"genehub space --registry {registry_spec} --trust {out / 'config' / 'trust'} --zoo {zoo.preset}"
    report = out / "report.md"
    report.write_text(
        f"# genehub demo ({zoo.preset} preset)\n\nEvery number was measured in this run.\n\n"
        "## Held-out accuracy per skill\n\n" + markdown_table(rows, ["skill", *models]) +
        f"\n![accuracy](plots/accuracy.png)\n\n## Routing\n\nRouting accuracy {measured['routing_accuracy']:.3f} "
        f"on all test prompts, {measured['routing_accuracy_heldout']:.3f} on held-out templates.\n\n"
        "![confusion](plots/router-confusion.png)\n\n## Genes\n\n" + markdown_table(gene_rows) +
        "\n![homology](plots/homology.png)\n\n## Sample outputs of the composition\n\n" +
        markdown_table(measured["samples"]) + "\n## Where the time went\n\n" + markdown_table(time_rows) +
        f"\n## Try it\n\n```bash\n{space}\n```\n"
    )
    (out / "results.json").write_text(json.dumps(
        {"preset": zoo.preset, "accuracy": acc, "routing_accuracy": measured["routing_accuracy"],
         "routing_accuracy_heldout": measured["routing_accuracy_heldout"], "confusion": measured["confusion"],
         "gene_sizes": {cards[s]["name"]: sizes[s] for s in skills}, "timings": timings,
         "samples": measured["samples"]}, indent=2) + "\n")
    print()
    print(f"Report: {report}")
    print(f"Open the Space on what the demo built:\n  {space}")
    return DemoResult(out=out, accuracy=acc, routing_accuracy=measured["routing_accuracy"],
                      routing_accuracy_heldout=measured["routing_accuracy_heldout"],
                      gene_sizes={cards[s]["name"]: sizes[s] for s in skills}, timings=timings, report=report,
                      plots=plots, space_command=space)
