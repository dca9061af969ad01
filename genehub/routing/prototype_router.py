"""A router with nothing to train: each gene brings its prototypes and threshold in its card.

The prompt is encoded once and compared with each gene's nearest prototype (cosine similarity). A gene
may take the prompt when its similarity is above the gene's calibrated threshold and, when the router
has a *background* (prompts the host answers by itself, e.g. general chat, in the same space), above
the prompt's similarity to the nearest of those plus a margin. Among the genes that may, the most
similar one is expressed; none is when no gene may. In top-k mode the k most similar such genes are
mixed with softmax weights over ``similarity / temperature``, so two genes share a prompt only when
they are about as close to it. Adding a gene stacks its prototypes under the others' and removing one
drops them: no training, and every other gene's boundary against "none" stays as it was.

    >>> router = PrototypeRouter.from_genes(["genes/roman", "genes/binary"], background=general_prompts)
    >>> router.route(["Could you show 14 as Roman numerals?", "Hello!"])[0].gene
    'roman-gene'
    >>> router.add("genes/upper")                                   # hot, milliseconds
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from ..errors import IncompatibleError, RouterError, UsageError
from .encoders import ConcatEncoder, Encoder, HostEncoder, encoder_from_spec, normalise, route_texts, spec_problems
from .genes import NONE
from .prototypes import GenePrototypes, encoder_tokenizer, load_prototypes, with_exemplars
from .router import RoutingDecision

DEFAULT_TEMPERATURE = 0.02
DEFAULT_BACKGROUND_MARGIN = 0.05


class PrototypeRouter:
    """Nearest-prototype routing over genes' routing blocks.

    Args:
        encoder: encodes prompts for :meth:`route` (None: only :meth:`decide` on vectors is available).
        genes: the genes' prototypes (all in the space of one encoder spec), keyed by adapter name.
        background: ``(m, dim)`` vectors of prompts that need no gene, in the same space (optional).
        background_margin: how much closer than the nearest background vector a gene must be.
        temperature: softmax temperature over similarities (cosine units) for confidences and top-k weights.
        tokenizer: the host's tokenizer, to read prompts formatted in its chat template as the user's
            message (default: the encoder's host part's, if any).
    """

    def __init__(self, encoder: Encoder | None = None, genes: Sequence[GenePrototypes] = (), *,
                 background: torch.Tensor | None = None, background_margin: float = DEFAULT_BACKGROUND_MARGIN,
                 temperature: float = DEFAULT_TEMPERATURE, tokenizer: Any = None) -> None:
        if temperature <= 0:
            raise UsageError(f"A temperature of {temperature} cannot weight genes.", hint="Pass a positive one, e.g. 0.02.")
        self.encoder = encoder
        self.tokenizer = tokenizer if tokenizer is not None or encoder is None else encoder_tokenizer(encoder)
        self.spec: dict[str, Any] | None = dict(encoder.spec) if encoder is not None else None
        self.temperature = temperature
        self.background_margin = float(background_margin)
        self.background: torch.Tensor | None = None
        self._genes: dict[str, GenePrototypes] = {}
        self._stack()
        for gene in genes:
            self.add(gene)
        if background is not None:
            self.set_background(background)

    @classmethod
    def from_genes(cls, genes: Sequence[str | Path | GenePrototypes], *, encoder: Encoder | None = None,
                   background: Sequence[str] | None = None, model: Any = None, tokenizer: Any = None, host: Any = None,
                   part: int | None = None, **options: Any) -> PrototypeRouter:
        """A router over gene folders (their routing blocks and files, checked), with the encoder the
        first one names unless ``encoder`` is given (``model``, ``tokenizer``, ``host`` for a host encoder).

        Args:
            background: prompts the host answers by itself (encoded once here), or None.
            part: read only this part of the genes' concat encoder (each gene's prototypes and threshold
                for that part, :meth:`GenePrototypes.part`), e.g. the sentence model where the host's
                hidden states are out of reach.
            options: ``background_margin``, ``temperature``.
        """
        if not genes:
            raise UsageError("A router needs at least one gene.", hint="Pass gene folders with a routing block.")
        loaded = [g if isinstance(g, GenePrototypes) else load_prototypes(g) for g in genes]
        if part is not None:
            loaded = [g.part(part) for g in loaded]
        if encoder is None:
            encoder = encoder_from_spec(loaded[0].encoder, model=model, tokenizer=tokenizer, host=host,
                                        tensors=loaded[0].encoder_tensors)
        router = cls(encoder, loaded, tokenizer=tokenizer, **options)
        if background:
            router.set_background(encoder.encode(route_texts(router.tokenizer, list(background))))
        return router

    # ----------------------------------------------------------------------------------------- genes
    @property
    def gene_names(self) -> list[str]:
        return list(self._genes)

    def thresholds(self) -> dict[str, float]:
        """Each gene's calibrated threshold."""
        return {name: g.threshold for name, g in self._genes.items()}

    def add(self, gene: GenePrototypes | str | Path) -> None:
        """Add a gene's prototypes (a loaded :class:`GenePrototypes` or a gene folder).

        Raises:
            UsageError: a gene of that name is already here.
            IncompatibleError: its prototypes are in another encoder's space.
        """
        if not isinstance(gene, GenePrototypes):
            gene = load_prototypes(gene)
        if gene.name in self._genes or gene.name == NONE:
            raise UsageError(f"The router already has a gene called {gene.name!r}.", hint="Remove it first, or rename one.")
        self._check_space(gene.encoder, f"Gene {gene.name}'s prototypes")
        self._genes[gene.name] = gene
        self._stack()

    def remove(self, name: str) -> None:
        """Drop a gene's prototypes; the other genes' decisions against "none" are unchanged."""
        if name not in self._genes:
            raise RouterError(f"The router has no gene {name!r}.", hint=f"Its genes: {', '.join(self._genes) or 'none'}.")
        del self._genes[name]
        self._stack()

    def set_background(self, vectors: torch.Tensor | None) -> None:
        """Vectors (this router's encoder) of prompts that need no gene; None removes the background."""
        if vectors is not None and self.spec is not None and vectors.shape[-1] != int(self.spec["dim"]):
            raise UsageError(f"Background vectors of size {vectors.shape[-1]} in a space of size {self.spec['dim']}.",
                             hint="Encode the background prompts with this router's encoder.")
        self.background = normalise(vectors) if vectors is not None else None

    def _check_space(self, spec: Mapping[str, Any], what: str) -> None:
        if self.spec is None:
            self.spec = dict(spec)
        problems = spec_problems(spec, self.spec)
        if problems:
            raise IncompatibleError(f"{what} are in another encoder's space than this router's: {'; '.join(problems[:3])}.",
                                    reasons=problems,
                                    hint="Rebuild its routing with this router's encoder (`genehub.routing.build_routing`).")

    def _stack(self) -> None:
        genes = list(self._genes.values())
        dim = int(self.spec["dim"]) if self.spec else 0
        self._matrix = torch.cat([g.prototypes for g in genes]) if genes else torch.zeros(0, dim)
        self._owner = torch.cat([torch.full((len(g.prototypes),), i, dtype=torch.long) for i, g in enumerate(genes)]) \
            if genes else torch.zeros(0, dtype=torch.long)
        self._thresholds = torch.tensor([g.threshold for g in genes], dtype=torch.float32)
        # Exemplars, like the prototypes: one matrix, each row's gene, and each gene's match similarity.
        kept = [(i, g) for i, g in enumerate(genes) if g.exemplar_match is not None]
        self._exemplars = torch.cat([g.exemplars for _, g in kept]) if kept else None
        if kept:
            self._exemplar_owner = torch.cat([torch.full((len(g.exemplars),), i, dtype=torch.long) for i, g in kept])
            self._exemplar_match = torch.tensor([g.exemplar_match if g.exemplar_match is not None else 2.0
                                                 for g in genes], dtype=torch.float32)

    # ----------------------------------------------------------------------------------------- routing
    def similarities(self, vectors: torch.Tensor) -> torch.Tensor:
        """``(n, genes)``: each prompt's score for each gene: its cosine similarity to the gene's nearest
        prototype, or to its nearest exemplar where that is a near-duplicate (at least the gene's match
        similarity: :func:`~genehub.routing.prototypes.gene_scores`)."""
        x = normalise(vectors)
        out = self._nearest(x @ self._matrix.T, self._owner)
        if self._exemplars is None:
            return out
        return with_exemplars(out, self._nearest(x @ self._exemplars.T, self._exemplar_owner), self._exemplar_match)

    def _nearest(self, sims: torch.Tensor, owner: torch.Tensor) -> torch.Tensor:
        """``(n, genes)``: the largest of each gene's columns of ``sims`` (-2 for a gene with none)."""
        out = torch.full((len(sims), len(self._genes)), -2.0)
        return out.scatter_reduce(1, owner.expand(len(sims), -1), sims, reduce="amax", include_self=True)

    def eligible(self, vectors: torch.Tensor, similarities: torch.Tensor | None = None) -> torch.Tensor:
        """``(n, genes)`` bool: the gene is within its threshold (and beats the background by the margin)."""
        sims = self.similarities(vectors) if similarities is None else similarities
        ok = sims > self._thresholds
        if self.background is not None and len(self.background):
            nearest = (normalise(vectors) @ self.background.T).max(dim=1).values
            ok &= sims > (nearest + self.background_margin)[:, None]
        return ok

    def choose(self, vectors: torch.Tensor) -> torch.Tensor:
        """``(n,)`` index of the gene each prompt goes to (-1: none)."""
        sims = self.similarities(vectors)
        ok = self.eligible(vectors, sims)
        best = sims.masked_fill(~ok, -9.0).argmax(dim=1) if len(self._genes) else torch.zeros(len(sims), dtype=torch.long)
        return best.masked_fill(~ok.any(dim=1), -1)

    def decide(self, prompts: Sequence[str], vectors: torch.Tensor, *, top_k: int = 1) -> list[RoutingDecision]:
        """Decisions for prompts whose vectors (this router's encoder) are already computed.

        ``probabilities`` is a softmax over ``similarity / temperature`` of the genes that may take the
        prompt (1.0 for ``"none"`` when none may), so its largest entry is the decision.
        """
        if len(prompts) != len(vectors):
            raise UsageError(f"{len(prompts)} prompts but {len(vectors)} vectors.", hint="Pass one vector per prompt.")
        if top_k < 1:
            raise UsageError(f"top_k={top_k} picks no gene.", hint="Use top_k >= 1.")
        names = list(self._genes)
        sims = self.similarities(vectors)
        ok = self.eligible(vectors, sims)
        probs = torch.softmax(sims.masked_fill(~ok, float("-inf")) / self.temperature, dim=1).nan_to_num(0.0)
        out = []
        for prompt, p, row_ok, s in zip(prompts, probs.tolist(), ok.tolist(), sims.tolist(), strict=True):
            table = {n: round(v, 6) for n, v in zip(names, p)}
            if not any(row_ok):
                out.append(RoutingDecision(prompt, None, 1.0, {**table, NONE: 1.0}))
                continue
            order = sorted((i for i in range(len(names)) if row_ok[i]), key=lambda i: -s[i])
            weights = {names[order[0]]: 1.0}
            if top_k > 1:
                top = order[:top_k]
                total = sum(p[i] for i in top)
                weights = {names[i]: p[i] / total for i in top}
            out.append(RoutingDecision(prompt, names[order[0]], p[order[0]], {**table, NONE: 0.0}, weights))
        return out

    def route(self, prompts: Sequence[str], *, top_k: int = 1) -> list[RoutingDecision]:
        """Encode ``prompts`` once and decide a gene (or none) for each (a prompt formatted in the host's
        chat template is read as its user message)."""
        if self.encoder is None:
            raise RouterError("This router has no encoder to read prompts with.",
                              hint="Build it with an encoder, or call decide() with vectors.")
        if not prompts:
            return []
        texts = route_texts(self.tokenizer, list(prompts))
        return self.decide(texts, self.encoder.encode(texts), top_k=top_k)

    def host_part(self) -> tuple[HostEncoder, int | None] | None:
        """The encoder's host part and its index in a concat encoder (None for a host encoder alone), or
        None when the encoder reads no hidden states."""
        if isinstance(self.encoder, HostEncoder):
            return self.encoder, None
        if isinstance(self.encoder, ConcatEncoder):
            found = [(p, i) for i, p in enumerate(self.encoder.parts) if isinstance(p, HostEncoder)]
            if len(found) == 1:
                return found[0]
        return None

    def vectors_from_host(self, texts: Sequence[str], pooled: torch.Tensor,
                          others: Sequence[torch.Tensor | None] | None = None) -> torch.Tensor:
        """The router's vectors for ``texts`` given their host part's pooled states (read elsewhere, e.g.
        inside a composition's forward pass) and the other parts' vectors (computed here when None)."""
        found = self.host_part()
        if found is None:
            raise RouterError("This router's encoder reads no hidden states.", hint="Use route() instead.")
        host, index = found
        vectors = host.finish(pooled)
        if index is None:
            return vectors
        assert isinstance(self.encoder, ConcatEncoder)
        parts = list(others) if others is not None else [None] * len(self.encoder.parts)
        parts = [vectors if i == index else (v if v is not None else p.encode(texts))
                 for i, (p, v) in enumerate(zip(self.encoder.parts, parts))]
        return self.encoder.combine(parts)

    def evaluate(self, rows: Sequence[Mapping[str, str]]) -> float:
        """Share of ``{"prompt", "label"}`` rows routed to their label (``"none"`` for no gene)."""
        decisions = self.route([r["prompt"] for r in rows])
        return sum((d.gene or NONE) == r["label"] for d, r in zip(decisions, rows)) / max(len(rows), 1)
