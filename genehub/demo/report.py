"""The demo's report: its tables (printed and as Markdown in report.md), results.json and PNG plots.

Two sets of prompts are measured, and each has one name everywhere (tables, plots, report, results.json):
:data:`TEST` is every prompt of the skills' test splits; :data:`HELDOUT` is the part of them written
with templates that no training step saw. Every plot states in its title which one it shows, and the
PNGs carry that title in their metadata too.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from .._tables import markdown_table, print_table

#: every prompt of the skills' test splits (seen and held-out templates alike)
TEST = "test prompts"
#: the test prompts written with templates that no training step saw
HELDOUT = "held-out-template prompts"
SPLITS = {TEST: "every prompt of the skills' test splits, whatever template wrote it",
          HELDOUT: f"the {TEST} written with templates that neither the zoo nor extraction trained on"}
RIGHT, WRONG = "✓ right", "✗ wrong"


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
    options: list[dict[str, Any]] = field(default_factory=list)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: Path) -> Path:
    """Write ``fig`` as a PNG whose ``Title`` metadata is the axes' title (what the plot claims to show)."""
    title = fig.axes[0].get_title() if fig.axes else ""
    fig.tight_layout()
    fig.savefig(path, dpi=110, metadata={"Title": title})
    _pyplot().close(fig)
    return path


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
    ax.set_title(f"Accuracy per skill on the {TEST}")
    ax.legend(fontsize=7, ncols=3, loc="upper center", bbox_to_anchor=(0.5, -0.12))
    return _save(fig, path)


def homology_figure(per_gene: Mapping[str, Sequence[tuple[int, float]]]) -> Any:
    """Bars of each gene's homology per layer, grouped by layer: layers are separate places, not a continuum."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.5))
    layers = sorted({int(layer) for points in per_gene.values() for layer, _ in points})
    width = 0.8 / max(len(per_gene), 1)
    for i, (name, points) in enumerate(per_gene.items()):
        by_layer = dict(points)
        xs = [j - 0.4 + width * (i + 0.5) for j, layer in enumerate(layers) if layer in by_layer]
        ax.bar(xs, [by_layer[layer] for layer in layers if layer in by_layer], width, label=name)
    ax.set_xticks(range(len(layers)), [str(layer) for layer in layers])
    ax.set_xlabel("layer")
    ax.set_ylabel("cosine of reading vectors")
    ax.set_ylim(0, 1.05)
    ax.set_title("Homology of donor and host per layer")
    ax.legend(fontsize=7)
    return fig


def plot_homology(per_gene: Mapping[str, Sequence[tuple[int, float]]], path: Path) -> Path:
    """:func:`homology_figure` written to ``path``."""
    return _save(homology_figure(per_gene), path)


def plot_confusion(labels: Sequence[str], matrix: Sequence[Sequence[int]], path: Path) -> Path:
    """Router confusion matrix over the :data:`TEST` prompts: rows are the right gene, columns the chosen one."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(1.2 * len(labels) + 2, 1.1 * len(labels) + 1.5))
    ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(len(labels)), labels, rotation=30, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    for i, row in enumerate(matrix):
        for j, value in enumerate(row):
            ax.text(j, i, str(value), ha="center", va="center", fontsize=9)
    total = sum(map(sum, matrix))
    right = sum(matrix[i][i] for i in range(len(labels)))
    ax.set_xlabel("router chose")
    ax.set_ylabel("right gene")
    ax.set_title(f"Routing on the {TEST}: {right}/{total} = {right / max(total, 1):.3f}")
    return _save(fig, path)


def sample_rows(samples: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The composition's sample outputs with the expected answer and whether the output is exactly it."""
    rows = []
    for s in samples:
        expected = s.get("expected")
        mark = "-" if expected is None else (RIGHT if s["output"].strip() == str(expected).strip() else WRONG)
        row = {"prompt": _one_line(s["prompt"]), "expected": expected, "gene": s.get("gene") or "none",
               "output": _one_line(s["output"]), "right?": mark}
        if "host alone" in s:
            row["host alone"] = _one_line(s["host alone"])
        rows.append(row)
    return rows


def _one_line(text: str) -> str:
    """A generation as one table cell: line breaks shown as ⏎."""
    return " ⏎ ".join(part for part in str(text).splitlines() if part.strip()) if "\n" in str(text) else str(text)


def changed_options(config: Any, *, steps_default: int | None = None) -> list[dict[str, Any]]:
    """The options of a run (a :class:`~genehub.demo.DemoConfig`) that differ from their defaults.

    ``out`` and ``progress`` change where and how the report is written, and ``reuse_genes`` whether a gene of
    the same recipe is made again, not what it measures: left out.
    ``steps`` unset means the preset's distillation steps (``steps_default``), which is what is compared.
    """
    defaults = type(config)()
    rows = []
    for f in fields(config):
        if f.name in ("out", "progress", "reuse_genes"):
            continue
        value, default = getattr(config, f.name), getattr(defaults, f.name)
        if f.name == "steps":
            value, default = (steps_default if value is None else value), steps_default
        if value != default:
            shown = "a local registry in the output folder" if default is None and f.name == "registry" else default
            rows.append({"option": f"--{f.name.replace('_', '-')}", "value": value, "default": shown})
    return rows


def heterologous_rows(found: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Per layer: the CKA homology of the donor with the host its gene was made for and with the
    heterologous host (at the same relative depth), and whether the related pair is above."""
    related, other = found["homology"]["host"]["per_layer"], found["homology"]["heterologous"]["per_layer"]
    return [{"layer": layer, "donor vs host": related[layer], "donor vs heterologous": other[layer],
             "related above?": "yes" if related[layer] > other[layer] else "no"} for layer in related]


def write_outputs(out: Path, zoo: Any, skills: list[str], measured: dict[str, Any], installed: dict[str, Path],
                  timings: dict[str, float], *, registry_spec: str, config: Any = None) -> DemoResult:
    """Print the tables, write report.md, results.json and the plots into ``out``; returns what was written.

    ``config`` (the run's :class:`~genehub.demo.DemoConfig`) puts the options that differ from their
    defaults into the report, so a figure can be traced to how it was made.
    """
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
    samples = sample_rows(measured["samples"])
    options = changed_options(config, steps_default=zoo.extract.steps) if config is not None else []
    het = measured.get("heterologous")
    het_rows = heterologous_rows(het) if het else []
    het_text = ""
    if het:
        names = {role: het["homology"][role]["repo_id"] for role in ("host", "heterologous")}
        verdict = f"refused: {het['refused']}" if het["refused"] else "ACCEPTED (a defect: it was made for another host)"
        het_text = (f"\n## The heterologous host\n\nPulling the {het['skill']} gene for {names['heterologous']}: "
                    f"{verdict}\n\nHomology of donor-{het['skill']} with {names['host']} (related) and with "
                    f"{names['heterologous']} (unrelated): linear CKA of the paired differences of the skill's "
                    f"prompts and general prompts, layer by layer; the other model's layer is taken at the same "
                    f"relative depth when depths differ ({het['homology']['heterologous']['method']}).\n\n"
                    + markdown_table(het_rows))
    routing = (f"Routing accuracy: {measured['routing_accuracy']:.3f} on the {TEST}, "
               f"{measured['routing_accuracy_heldout']:.3f} on the {HELDOUT}")

    print()
    print(f"Exact-match accuracy per skill on the {TEST} (rows: skills; columns: models)")
    print_table(rows, ["skill", *models])
    print()
    print(routing)
    print()
    print_table(gene_rows)
    print()
    print_table(samples)
    print()
    print_table(time_rows)
    if het_rows:
        print()
        print(f"Pull for the heterologous host: {'refused: ' + het['refused'] if het['refused'] else 'ACCEPTED'}")
        print_table(het_rows)

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
    space = (f"genehub space --registry {registry_spec} --trust {out / 'config' / 'trust'} "
             f"--host {zoo.host} --host {zoo.heterologous}")
    glossary = "".join(f"- **{name}**: {meaning}.\n" for name, meaning in SPLITS.items())
    ran = ("Options that differ from their defaults:\n\n" + markdown_table(options, ["option", "value", "default"])
           if options else "Every option at its default.\n")
    right = sum(1 for s in samples if s["right?"] == RIGHT)
    report = out / "report.md"
    report.write_text(
        f"# genehub demo ({zoo.preset} preset)\n\nEvery number was measured in this run.\n\n{ran}\n{glossary}\n"
        f"## Accuracy per skill on the {TEST}\n\n" + markdown_table(rows, ["skill", *models]) +
        f"\n![accuracy](plots/accuracy.png)\n\n## Routing\n\n{routing}.\n\n"
        f"![confusion on the {TEST}](plots/router-confusion.png)\n\n## Genes\n\n" + markdown_table(gene_rows) +
        f"\n![homology](plots/homology.png)\n\n## Sample outputs of the composition\n\n"
        f"One prompt per skill from the {TEST}; {right} of {len(samples)} answered exactly.\n\n" +
        markdown_table(samples) + het_text + "\n## Where the time went\n\n" + markdown_table(time_rows) +
        f"\n## Try it\n\n```bash\n{space}\n```\n"
    )
    (out / "results.json").write_text(json.dumps(
        {"preset": zoo.preset, "options": options, "splits": SPLITS, "accuracy": acc,
         "routing_accuracy": measured["routing_accuracy"],
         "routing_accuracy_heldout": measured["routing_accuracy_heldout"], "confusion": measured["confusion"],
         "gene_sizes": {genes[s].name: sizes[s] for s in skills}, "timings": timings, "heterologous": het,
         "samples": samples}, indent=2, ensure_ascii=False) + "\n")
    print()
    print(f"Report: {report}")
    print(f"Open the Space on what the demo built:\n  {space}")
    return DemoResult(out=out, accuracy=acc, routing_accuracy=measured["routing_accuracy"],
                      routing_accuracy_heldout=measured["routing_accuracy_heldout"],
                      gene_sizes={genes[s].name: sizes[s] for s in skills}, timings=timings, report=report,
                      plots=plots, space_command=space, options=options)
