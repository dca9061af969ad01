"""Fidelity: does the gene do what the donor does, and leave the host's other skills alone?

On held-out test prompts: the skill's score for the host, the donor and the host with the gene, and every
other skill's score for the host and for the host with the gene always on. The score is teacher-forced
exact match, or a scorer's judgement of a greedy generation (:func:`genehub.evaluate.get_scorer`); the
card records which. General prompts (what the host should keep doing) are scored by agreement with the
bare host: the share on which the model's greedy continuation is the bare host's own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .._progress import progress_bar
from ..evaluate import EXACT_MATCH, Scorer, exact_match, metric_name, reference_rows, scores

#: The fidelity table's row for the general prompts (scored by agreement with the bare host).
GENERAL = "general"


@dataclass
class Fidelity:
    """Scores measured on test prompts (0-1; ``metric`` says how; the general row is agreement with the host)."""

    host: float
    donor: float | None
    gene: float
    other_skills: dict[str, dict[str, float]]
    num_test_prompts: int
    metric: str = EXACT_MATCH
    by_template: dict[str, dict[str, float | None]] | None = None
    other_by_template: dict[str, dict[str, dict[str, float]]] | None = None

    def worst_other_drop_on(self, group: str) -> float | None:
        """:attr:`worst_other_drop` on one template group (``"seen"`` or ``"heldout"``) of the other skills."""
        rows = (self.other_by_template or {}).get(group)
        if not rows:
            return None
        return max([v["host"] - v["gene"] for v in rows.values()] + [0.0])

    def recovered_on(self, group: str) -> float | None:
        """:attr:`recovered` on one template group of :attr:`by_template` (``"seen"`` or ``"heldout"``)."""
        row = (self.by_template or {}).get(group)
        if not row or row.get("donor") is None or row["donor"] - row["host"] <= 0:
            return None
        return (row["gene"] - row["host"]) / (row["donor"] - row["host"])

    @property
    def recovered(self) -> float | None:
        """Share of the donor's gain over the host that the gene recovers (None without a donor gain)."""
        if self.donor is None or self.donor - self.host <= 0:
            return None
        return (self.gene - self.host) / (self.donor - self.host)

    @property
    def worst_other_drop(self) -> float:
        """The largest accuracy drop of another skill with the gene on (0 when none drops)."""
        return max([v["host"] - v["gene"] for v in self.other_skills.values()] + [0.0])

    def to_card(self) -> dict[str, Any]:
        return {"metric": self.metric,
                "skill": {"host": round(self.host, 6), "donor": None if self.donor is None else round(self.donor, 6),
                          "gene": round(self.gene, 6)},
                "other_skills": {k: {"host": round(v["host"], 6), "gene": round(v["gene"], 6)}
                                 for k, v in sorted(self.other_skills.items())},
                "num_test_prompts": self.num_test_prompts}


def _mean(values: Sequence[float]) -> float:
    return sum(values) / max(len(values), 1)


def template_means(hits: Sequence[float], rows: Sequence[Mapping[str, Any]]) -> dict[str, float] | None:
    """``{"seen": rate, "heldout": rate}``: the share of hits among the rows written with seen templates and
    among those written with held-out ones (each row's ``heldout`` flag); None unless the rows mix both."""
    flags = [bool(r.get("heldout", False)) for r in rows]
    if all(flags) or not any(flags):
        return None
    return {group: _mean([h for h, f in zip(hits, flags) if f == want])
            for group, want in (("seen", False), ("heldout", True))}


def measure_fidelity(gene_model: Any, tokenizer: Any, test_rows: Sequence[Mapping[str, Any]], *,
                     donor: Any = None, other_tests: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
                     host_scores: Mapping[str, float] | None = None, scorer: Scorer | None = None,
                     general: Sequence[str] = (), general_tokens: int = 32, progress: bool = False) -> Fidelity:
    """Measure host, donor and host+gene on the skill's test rows, and host vs host+gene on other skills.

    Args:
        gene_model: the host wrapped in a ``PeftModel`` with the gene (the host is the same model with
            the adapter disabled).
        test_rows: the skill's held-out prompts and answers.
        donor: the donor model (its score is recorded; None leaves it out).
        other_tests: ``{skill: rows}`` of other skills.
        host_scores: host scores already measured (``{skill: score}``), to skip re-measuring them.
        scorer: how a row is scored (None: teacher-forced exact match).
        general: general prompts, reported as the other skill ``"general"``: agreement of the greedy
            continuation (up to ``general_tokens`` tokens) with the bare host's.
        progress: show a bar over the evaluations (a model on a skill's rows; on a terminal).
    """
    host_scores = dict(host_scores or {})
    other_tests = dict(other_tests or {})

    def score(model: Any, rows: Sequence[Mapping[str, Any]]) -> list[float]:
        return scores(model, tokenizer, rows, scorer)

    test_rows = list(test_rows)
    bar = progress_bar(desc="fidelity", total=2 + (donor is not None) + 2 * len(other_tests), unit="eval",
                       enabled=progress)
    with gene_model.disable_adapter():
        hits = {"host": score(gene_model, test_rows)}
    hits["gene"] = score(gene_model, test_rows)
    bar.update(2)
    if donor is not None:
        hits["donor"] = score(donor, test_rows)
        bar.update(1)

    # Prompts flagged ``heldout`` use templates the distillation never saw: reported apart.
    groups = {who: template_means(h, test_rows) for who, h in hits.items()}
    by_template = None
    if groups["host"] is not None:
        by_template = {group: {who: groups[who][group] if who in groups else None for who in ("host", "donor", "gene")}
                       for group in ("seen", "heldout")}
    # Other skills, host vs gene, also split by template group when the rows say which is which.
    others, other_by_template = {}, {"seen": {}, "heldout": {}}
    for name, rows in other_tests.items():
        rows = list(rows)
        gene_hits = score(gene_model, rows)
        bar.update(1)
        gene_groups = template_means(gene_hits, rows)
        host_hits = None
        if gene_groups is not None or name not in host_scores:
            with gene_model.disable_adapter():
                host_hits = score(gene_model, rows)
            host_scores.setdefault(name, _mean(host_hits))
            bar.update(1)
        else:  # measured before: one evaluation fewer
            bar.total -= 1
            bar.refresh()
        others[name] = {"host": host_scores[name], "gene": _mean(gene_hits)}
        if gene_groups is not None:
            host_groups = template_means(host_hits, rows)
            for group in ("seen", "heldout"):
                other_by_template[group][name] = {"host": host_groups[group], "gene": gene_groups[group]}
    if general:
        with gene_model.disable_adapter():
            reference = reference_rows(gene_model, tokenizer, list(general), max_new_tokens=general_tokens)
            host_agrees = exact_match(gene_model, tokenizer, reference)
        others[GENERAL] = {"host": _mean(host_agrees), "gene": _mean(exact_match(gene_model, tokenizer, reference))}
    bar.close()
    return Fidelity(host=_mean(hits["host"]), donor=_mean(hits["donor"]) if donor is not None else None,
                    gene=_mean(hits["gene"]), other_skills=others, num_test_prompts=len(test_rows),
                    metric=metric_name(scorer), by_template=by_template,
                    other_by_template=other_by_template if other_by_template["seen"] else None)
