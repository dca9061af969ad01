"""What the Space shows, as plain values: tables (DataFrames), markdown, a figure and an SVG.

Every function takes catalog entries (or numbers) and returns something a Gradio component displays,
so the page's content is tested without a browser.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from typing import Any

from ..gene import README, render_readme
from .catalog import Catalog, GeneEntry
from .genepage import code, scrub, text

BROWSE_COLUMNS = ["gene", "host", "skill", "homology", "fidelity", "license", "signature", "signer"]
_TRUST_BADGE = {"verified": "verified", "untrusted": "untrusted", "invalid": "invalid"}


def _num(value: Any) -> float | None:
    return round(float(value), 3) if isinstance(value, int | float) else None


def browse_table(entries: Sequence[GeneEntry]) -> Any:
    """One row per gene: host, skill, homology aggregate, gene fidelity on its skill, licence, trust.

    Returns:
        A ``pandas.DataFrame`` with :data:`BROWSE_COLUMNS`.
    """
    import pandas as pd

    rows = []
    for e in entries:
        rows.append({
            "gene": e.gene_id,
            "host": e.host,
            "skill": e.skill,
            "homology": _num(e.gene.homology.aggregate) if e.gene is not None else None,
            "fidelity": _num(e.gene.fidelity.gene) if e.gene is not None else None,
            "license": e.license,
            "signature": _TRUST_BADGE[e.trust],
            "signer": e.signer or ("-" if e.trust == "invalid" else "unknown key"),
        })
    return pd.DataFrame(rows, columns=BROWSE_COLUMNS)


_FRONT_MATTER = re.compile(r"\A---\n.*?\n---\n", re.S)


def card_markdown(entry: GeneEntry) -> str:
    """The gene's Hub card (README without its YAML header) with a status banner on top.

    Rendered from the card (the signed ``gene.json``) with genehub's current template, so every gene's
    page reads the same way whichever genehub signed it; the gene's own README.md when the card cannot
    be read.
    """
    banner = status_markdown(entry)
    readme = entry.path / README
    if entry.gene is not None:
        body = render_readme(entry.gene.card, signer_fingerprint=entry.fingerprint)
    elif readme.is_file():
        body = readme.read_text(encoding="utf-8")
    else:
        body = "_This gene has no readable card._"
    return banner + "\n\n" + _FRONT_MATTER.sub("", body, count=1).strip() + "\n"


def status_markdown(entry: GeneEntry) -> str:
    """One paragraph that names the gene: its signature status, who signed it, why it is not trusted if not."""
    named = code(entry.gene_id) + (f" ({text(entry.gene.name)} {text(entry.gene.version)})" if entry.gene else "")
    if entry.trust == "verified":
        return f"{named}: **Signature: verified.** Signed by {code(entry.signer)}, key {code(entry.fingerprint)}."
    key = f"key {code(entry.fingerprint)}" if entry.fingerprint else "no readable key"
    return f"{named}: **Signature: {entry.trust}** ({key}). {text(entry.reason, 1000)}"


def signer_markdown(entry: GeneEntry) -> str:
    """The signer and the fingerprint of its key (what to compare with the publisher's)."""
    who = f"`{entry.signer}` (in your trust store)" if entry.signer else "not in your trust store"
    return (f"**Signer:** {who}  \n**Key fingerprint:** `{entry.fingerprint or 'none (unsigned)'}`  \n"
            f"**Status:** {entry.trust}")


def homology_figure(entry: GeneEntry) -> Any:
    """A grouped bar chart of the card's per-layer homology (PCA cosine and mean-difference cosine).

    Returns:
        A matplotlib ``Figure`` (empty axes with a note when the card has no homology).
    """
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    homology = entry.gene.homology if entry.gene is not None else None
    per_layer = homology.per_layer if homology is not None else ()
    fig = Figure(figsize=(6, 3), dpi=100)
    ax = fig.add_subplot()
    if homology is None or not per_layer:
        ax.text(0.5, 0.5, "no homology in this card", ha="center", va="center")
        ax.set_axis_off()
        return fig
    layers = [int(r["layer"]) for r in per_layer]
    width = 0.38
    xs = range(len(layers))
    ax.bar([x - width / 2 for x in xs], [r["pca_cosine"] for r in per_layer], width, label="PCA cosine")
    ax.bar([x + width / 2 for x in xs], [r["mean_diff_cosine"] for r in per_layer], width, label="mean-difference cosine")
    ax.set_xticks(list(xs), [str(x) for x in layers])
    ax.set_xlabel("layer")
    ax.set_ylabel("cosine")
    ax.set_ylim(min(0.0, *(r["pca_cosine"] for r in per_layer), *(r["mean_diff_cosine"] for r in per_layer)), 1.0)
    ax.axhline(homology.aggregate, color="grey", linestyle="--", linewidth=1,
               label=f"aggregate {homology.aggregate:.2f}")
    ax.set_title(f"Homology of {entry.gene_id} with its host, per layer")
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig


def fidelity_table(entry: GeneEntry) -> Any:
    """Host vs donor vs host+gene on the gene's skill, then host vs host+gene on the other skills.

    Returns:
        A ``pandas.DataFrame`` with columns ``skill, host, donor, host + gene, gain``.
    """
    import pandas as pd

    rows = []
    if entry.gene is not None:
        fid = entry.gene.fidelity
        rows.append({"skill": entry.skill, "host": _num(fid.host), "donor": _num(fid.donor), "host + gene": _num(fid.gene)})
        for name, row in sorted(fid.other_skills.items()):
            rows.append({"skill": f"{name} (other)", "host": _num(row.get("host")), "donor": None,
                         "host + gene": _num(row.get("gene"))})
    for row in rows:
        row["gain"] = (round(row["host + gene"] - row["host"], 3)
                       if row["host + gene"] is not None and row["host"] is not None else None)
    return pd.DataFrame(rows, columns=["skill", "host", "donor", "host + gene", "gain"])


def lineage_edges(entry: GeneEntry, catalog: Catalog | None = None, *, depth: int = 3) -> list[tuple[str, str, str]]:
    """``(parent, child, role)`` edges from the card's parents, following parent genes found in ``catalog``."""
    edges: list[tuple[str, str, str]] = []
    seen: set[str] = set()
    by_name = {}
    if catalog is not None:
        for e in catalog.entries():
            by_name[e.gene_id] = e
            if e.gene is not None:
                by_name.setdefault(e.gene.name, e)

    def walk(node: GeneEntry, label: str, level: int) -> None:
        if label in seen or level > depth or node.gene is None:
            return
        seen.add(label)
        for parent in node.gene.parents:
            edges.append((parent.repo_id, label, parent.role))
            if parent.role == "parent_gene" and parent.repo_id in by_name:
                walk(by_name[parent.repo_id], parent.repo_id, level + 1)

    walk(entry, entry.gene_id, 0)
    return edges


_ROLE_COLOURS = {"host": "#dbeafe", "donor": "#fde68a", "parent_gene": "#d1fae5", "gene": "#fbcfe8"}


def lineage_svg(entry: GeneEntry, catalog: Catalog | None = None) -> str:
    """The lineage as a layered SVG graph: ancestors on the left, the gene on the right, edges labelled by role."""
    edges = lineage_edges(entry, catalog)
    recipe = str(entry.card["lineage"]["recipe"]) if entry.gene is not None else "?"
    # Depth of a node = longest path to the gene; the gene is column 0 (drawn rightmost).
    depth = {entry.gene_id: 0}
    role = {entry.gene_id: "gene"}
    for _ in range(len(edges) + 1):
        for parent, child, r in edges:
            if child in depth and depth.get(parent, -1) < depth[child] + 1:
                depth[parent] = depth[child] + 1
                role.setdefault(parent, r)
    columns = max(depth.values()) + 1
    by_col: dict[int, list[str]] = {}
    for node, d in sorted(depth.items()):
        by_col.setdefault(d, []).append(node)
    box_w, box_h, gap_x, gap_y = 230, 44, 90, 24
    rows = max(len(v) for v in by_col.values())
    width = columns * box_w + (columns - 1) * gap_x + 20
    height = rows * (box_h + gap_y) + 30
    pos = {}
    for d, nodes in by_col.items():
        x = 10 + (columns - 1 - d) * (box_w + gap_x)
        offset = (rows - len(nodes)) * (box_h + gap_y) / 2
        for i, node in enumerate(nodes):
            pos[node] = (x, 20 + offset + i * (box_h + gap_y))
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12" role="img" '
             f'aria-label="lineage of {html.escape(entry.gene_id)}">',
             '<defs><marker id="arrow" markerWidth="8" markerHeight="8" refX="8" refY="4" orient="auto">'
             '<path d="M0,0 L8,4 L0,8 z" fill="#555"/></marker></defs>']
    for parent, child, r in edges:
        (x1, y1), (x2, y2) = pos[parent], pos[child]
        sx, sy, ex, ey = x1 + box_w, y1 + box_h / 2, x2, y2 + box_h / 2
        parts.append(f'<line x1="{sx}" y1="{sy}" x2="{ex}" y2="{ey}" stroke="#555" marker-end="url(#arrow)"/>')
        parts.append(f'<text x="{(sx + ex) / 2}" y="{(sy + ey) / 2 - 4}" text-anchor="middle" fill="#333">'
                     f'{html.escape(r)}</text>')
    for node, (x, y) in pos.items():
        colour = _ROLE_COLOURS.get(role.get(node, "gene"), "#eee")
        label = node if len(node) <= 32 else node[:30] + "…"
        sub = f"recipe: {recipe}" if node == entry.gene_id else role.get(node, "")
        parts.append(f'<rect x="{x}" y="{y}" width="{box_w}" height="{box_h}" rx="6" fill="{colour}" stroke="#333"/>')
        parts.append(f'<text x="{x + box_w / 2}" y="{y + 18}" text-anchor="middle" font-weight="bold">'
                     f'{html.escape(label)}</text>')
        parts.append(f'<text x="{x + box_w / 2}" y="{y + 34}" text-anchor="middle" fill="#444">{html.escape(sub)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def router_label(probabilities: dict[str, float]) -> dict[str, float]:
    """The router's decision for ``gr.Label``: each choice's probability, drawn as a bar with its percentage."""
    return {k: round(float(v), 4) for k, v in sorted(probabilities.items(), key=lambda kv: -kv[1])}


def error_markdown(err: BaseException) -> str:
    """A readable error box for the page: the message (which says what to do next), no traceback, no path."""
    return f"**⚠️ {type(err).__name__}:** {html.escape(scrub(str(err)), quote=False)}"
