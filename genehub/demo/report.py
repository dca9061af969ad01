"""The demo's report: one table printed and written as Markdown, and PNG plots beside it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any


def markdown_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None) -> str:
    """Rows as a GitHub-flavoured Markdown table (floats with 3 decimals, None as '-')."""
    if not rows:
        return "(nothing)\n"
    columns = list(columns or rows[0].keys())

    def fmt(v: Any) -> str:
        if v is None:
            return "-"
        return f"{v:.3f}" if isinstance(v, float) else str(v)

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(fmt(r.get(c)) for c in columns) + " |" for r in rows]
    return "\n".join(lines) + "\n"


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
