"""The demo's report: its tables (printed and as Markdown in report.md), results.json and PNG plots."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._tables import markdown_table, print_table


@dataclass
class DemoResult:
    """What the demo measured, and where it wrote it."""

    out: Path
    accuracy: dict[str, dict[str, float]]
    routing_accuracy: float
    routing_accuracy_heldout: float
    gene_sizes: dict[str, int]
    timings: dict[str, float]
    report: Path
    plots: dict[str, Path] = field(default_factory=dict)
    space_command: str = ""


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_accuracy_bars(accuracy: Mapping[str, Mapping[str, float]], path: Path) -> Path:
    """Grouped bars: for each skill, the accuracy of every model (host, donors, genes, composition)."""
    plt = _pyplot()
    models = list(accuracy)
    skills = sorted({s for acc in accuracy.values() for s in acc})
    width = 0.8 / max(len(models), 1)
    fig, ax = plt.subplots(figsize=(max(6, 1.3 * len(skills)), 3.8))
    for i, model in enumerate(models):
        xs = [j + i * width for j in range(len(skills))]
        ax.bar(xs, [accuracy[model].get(s, 0.0) for s in skills], width, label=model)
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(skills))], skills)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("exact-match accuracy")
    ax.set_title("Held-out accuracy per skill")
    ax.legend(fontsize=7, ncols=3, loc="upper center", bbox_to_anchor=(0.5, -0.12))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_homology(per_gene: Mapping[str, Sequence[tuple[int, float]]], path: Path,
                  unrelated: Mapping[str, Sequence[tuple[int, float]]] | None = None) -> Path:
    """Homology score per layer for each gene (and, dashed, against an unrelated host when given)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for name, points in per_gene.items():
        ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=name)
    for name, points in (unrelated or {}).items():
        ax.plot([p[0] for p in points], [p[1] for p in points], marker="x", linestyle="--", label=f"{name} (unrelated host)")
    ax.set_xlabel("layer")
    ax.set_ylabel("cosine of reading vectors")
    ax.set_ylim(-0.05, 1.05)
    ax.set_title("Homology of donor and host per layer")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_confusion(labels: Sequence[str], matrix: Sequence[Sequence[int]], path: Path) -> Path:
    """Router confusion matrix: rows are the right gene, columns the chosen one."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(1.2 * len(labels) + 2, 1.1 * len(labels) + 1.5))
    ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(len(labels)), labels, rotation=30, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    for i, row in enumerate(matrix):
        for j, value in enumerate(row):
            ax.text(j, i, str(value), ha="center", va="center", fontsize=9)
    ax.set_xlabel("router chose")
    ax.set_ylabel("right gene")
    ax.set_title("Routing on held-out prompts")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_outputs(out: Path, zoo: Any, skills: list[str], measured: dict[str, Any], installed: dict[str, Path],
                  timings: dict[str, float], *, registry_spec: str) -> DemoResult:
    """Print the tables, write report.md, results.json and the plots into ``out``; returns what was written."""
    from ..gene import ADAPTER_WEIGHTS, Gene

    acc = measured["accuracy"]
    models = list(acc)
    all_skills = list(acc["host"])
    rows = [{"skill": s, **{m: acc[m][s] for m in models}} for s in all_skills]
    genes = {skill: Gene.load(path) for skill, path in installed.items()}
    sizes = {skill: (path / ADAPTER_WEIGHTS).stat().st_size for skill, path in installed.items()}
    gene_rows = [{"gene": genes[s].name, "skill": s, "adapter bytes": sizes[s],
                  "layers": ",".join(map(str, genes[s].adapter.layers)),
                  "homology": genes[s].homology.aggregate, "host": acc["host"][s],
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
    homology = {genes[s].name: [(p["layer"], p["pca_cosine"]) for p in genes[s].homology.per_layer]
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
         "gene_sizes": {genes[s].name: sizes[s] for s in skills}, "timings": timings,
         "samples": measured["samples"]}, indent=2) + "\n")
    print()
    print(f"Report: {report}")
    print(f"Open the Space on what the demo built:\n  {space}")
    return DemoResult(out=out, accuracy=acc, routing_accuracy=measured["routing_accuracy"],
                      routing_accuracy_heldout=measured["routing_accuracy_heldout"],
                      gene_sizes={genes[s].name: sizes[s] for s in skills}, timings=timings, report=report,
                      plots=plots, space_command=space)
