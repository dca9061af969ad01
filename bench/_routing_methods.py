"""Routing methods measured side by side on cached vectors, for ``bench_routing_scale.py``.

A :class:`Space` holds one encoder's vector of every prompt of the bench (see ``_routing_scale_data``).
Prototype routing is genehub's own :class:`~genehub.routing.PrototypeRouter` over
:class:`~genehub.routing.prototypes.GenePrototypes` made from the skills' train prompts (what a gene's
``examples.jsonl`` holds) and calibrated on the general calibration families, exactly as
:func:`~genehub.routing.build_routing` makes them; the trained head is genehub's
:class:`~genehub.routing.Router` head (``_fit_head``: linear, balanced classes, standardised features)
fit on the same prompts with the calibration families as "none".
"""

from __future__ import annotations

import random
import statistics
from collections.abc import Callable, Sequence
from typing import Any

import torch

from genehub.routing.encoders import normalise
from genehub.routing.prototype_router import PrototypeRouter
from genehub.routing.prototypes import DEFAULT_EXEMPLAR_MATCH, MAX_EXEMPLARS, GenePrototypes, kmeans_prototypes

SIZES = (2, 4, 8, 16, 24, 32)


class Space:
    """One encoder's vectors of every prompt, looked up by prompt."""

    def __init__(self, name: str, vectors: dict[str, torch.Tensor], data: dict[str, Any]) -> None:
        self.name, self.data = name, data
        self.vectors = vectors
        self._memo: dict[Any, GenePrototypes] = {}

    def of(self, prompts: Sequence[str]) -> torch.Tensor:
        return normalise(torch.stack([self.vectors[p] for p in prompts]))

    @property
    def calibration(self) -> torch.Tensor:
        return self.of(self.data["general_calibration"])

    def gene(self, skill: str, *, k: int = 1, alpha: float = 0.01,
             match: float | None = DEFAULT_EXEMPLAR_MATCH) -> GenePrototypes:
        """The skill's prototypes (K-means K), exemplars (its train prompts' vectors, matched at cosine
        ``match``; None: prototypes alone) and threshold (conformal, target ``alpha``) from its train prompts."""
        key = (skill, k, alpha, match)
        if key not in self._memo:
            train = self.of(self.data["train"][skill])
            self._memo[key] = GenePrototypes.from_vectors(
                skill, {"kind": self.name, "dim": int(train.shape[1])}, kmeans_prototypes(train, k, seed=0),
                examples=self.data["train"][skill], general=self.data["general_calibration"],
                general_vectors=self.calibration, target_rate=alpha, clustering={"method": "kmeans", "k": k, "seed": 0},
                exemplars=kmeans_prototypes(train, MAX_EXEMPLARS) if match is not None else None, exemplar_match=match)
        return self._memo[key]

    def router(self, genes: Sequence[str], *, k: int = 1, alpha: float = 0.01,
               match: float | None = DEFAULT_EXEMPLAR_MATCH, background: bool = True,
               margin: float = 0.05) -> PrototypeRouter:
        return PrototypeRouter(None, [self.gene(s, k=k, alpha=alpha, match=match) for s in genes],
                               background=self.calibration if background else None, background_margin=margin)


def labelled(space: Space, genes: Sequence[str], split: str) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.cat([space.of(space.data[split][s]) for s in genes])
    y = torch.cat([torch.full((len(space.data[split][s]),), i) for i, s in enumerate(genes)])
    return x, y


def prototype_eval(space: Space, genes: Sequence[str], *, split: str = "test", **options: Any) -> dict[str, float]:
    """Held-out accuracy (closed: nearest gene; routed: the router's decision, "none" a miss) and the
    share of the general test families routed to some gene (false activation)."""
    router = space.router(genes, **options)
    x, y = labelled(space, genes, split)
    general = space.of(space.data["general_test"])
    return {"closed": float((router.similarities(x).argmax(1) == y).float().mean()),
            "routed": float((router.choose(x) == y).float().mean()),
            "far": float((router.choose(general) >= 0).float().mean())}


class Head:
    """A trained linear head (genehub's :class:`~genehub.routing.Router` head) over one space's vectors."""

    def __init__(self, space: Space, genes: Sequence[str], *, threshold: float = 0.5, seed: int = 0) -> None:
        from genehub.routing.router import _fit_head

        xs = [space.of(space.data["train"][s]) for s in genes] + [space.calibration]
        x = torch.cat(xs)
        y = torch.cat([torch.full((len(v),), i) for i, v in enumerate(xs)])
        self.mean, self.std = x.mean(0), x.std(0).clamp(min=1e-4)
        self.weight, self.bias = _fit_head((x - self.mean) / self.std, y, len(genes) + 1, steps=300, lr=0.05,
                                           weight_decay=1e-2, seed=seed)
        self.genes, self.threshold, self.space = list(genes), threshold, space

    def choose(self, x: torch.Tensor, *, closed: bool = False) -> torch.Tensor:
        p = torch.softmax(((x - self.mean) / self.std) @ self.weight.T + self.bias, dim=1)
        if closed:
            return p[:, :-1].argmax(1)
        top, idx = p.max(1)
        return idx.masked_fill((top < self.threshold) | (idx == len(self.genes)), -1)


def head_eval(space: Space, genes: Sequence[str], *, split: str = "test") -> dict[str, float]:
    head = Head(space, genes)
    x, y = labelled(space, genes, split)
    return {"closed": float((head.choose(x, closed=True) == y).float().mean()),
            "routed": float((head.choose(x) == y).float().mean()),
            "far": float((head.choose(space.of(space.data["general_test"])) >= 0).float().mean())}


def whitened_nearest(space: Space, genes: Sequence[str], x: torch.Tensor, *, shrinkage: float = 0.1) -> torch.Tensor:
    """``(n,)`` the nearest gene of each row of ``x`` after whitening by the genes' pooled within-gene
    covariance of their train vectors (LDA's metric; ``shrinkage`` toward the identity): directions along
    which a gene's own phrasings vary count less, those that tell genes apart more. Closed (no "none")."""
    train = [space.of(space.data["train"][s]) for s in genes]
    within = torch.cat([t - t.mean(0) for t in train]).double()
    cov = within.T @ within / len(within)
    cov = (1 - shrinkage) * cov + shrinkage * cov.diagonal().mean() * torch.eye(len(cov), dtype=cov.dtype)
    values, vectors = torch.linalg.eigh(cov)
    w = (vectors @ torch.diag(values.clamp(min=1e-10) ** -0.5) @ vectors.T).float()
    centers = normalise(torch.stack([t.mean(0) for t in train]) @ w)
    return (normalise(x @ w) @ centers.T).argmax(1)


def draws(skills: Sequence[str], n: int, count: int, seed: int = 0) -> list[list[str]]:
    """``count`` random sets of ``n`` skills (all of them once when ``n`` is their number)."""
    if n >= len(skills):
        return [sorted(skills)]
    rng = random.Random(seed * 100 + n)
    return [sorted(rng.sample(list(skills), n)) for _ in range(count)]


def summarise(rows: list[dict[str, float]]) -> dict[str, float]:
    out: dict[str, float] = {}
    for key in ("closed", "routed"):
        vals = [r[key] for r in rows]
        out[f"{key}_mean"], out[f"{key}_worst"] = statistics.mean(vals), min(vals)
    fars = [r["far"] for r in rows]
    out["far_mean"], out["far_worst"] = statistics.mean(fars), max(fars)
    return out


def scaling(method: Callable[[list[str]], dict[str, float]], skills: Sequence[str], sizes: Sequence[int],
            n_draws: int) -> dict[int, dict[str, float]]:
    return {n: summarise([method(g) for g in draws(skills, n, n_draws)]) for n in sizes if n <= len(skills)}
