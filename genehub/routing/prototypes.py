"""Routing prototypes: a gene says, in its own signed folder, which prompts are its.

From a gene's examples (prompts of the phrasings it was made from) an encoder
(:mod:`genehub.routing.encoders`) makes vectors, and spherical k-means reduces them to K prototypes.
The examples' own vectors are kept too, as exemplars. A prompt's score for the gene is its cosine
similarity to the nearest prototype, or to the nearest exemplar when that one is a near-duplicate (at
least the match similarity, :func:`gene_scores`): the prototype carries what the gene's phrasings share,
so it generalises to new phrasings, and a prompt in one of the gene's own phrasings goes to the gene
even when that phrasing sits nearer another gene's prototype. A prompt belongs to the gene when its
score is above the gene's threshold, which is calibrated on general prompts (what the host answers by
itself): the threshold is the conformal quantile of their scores that holds the share of them taken for
this gene to a target rate. The prototypes go to ``routing.safetensors`` in the gene folder (its digest
joins the card's ``files``, so the signature and the card cover it) and the card's ``routing`` block
records the encoder, the prototypes, the threshold and how both were made, so any router can route to a
gene it never saw, from its card alone (:class:`genehub.routing.prototype_router.PrototypeRouter`).

    >>> enc = SentenceEncoder.minilm()
    >>> block = build_routing("genes/roman", enc, general_prompts)       # writes routing.safetensors
    >>> load_prototypes("genes/roman").threshold
    0.41...
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..errors import CardValidationError, NotFoundError, UsageError, VerificationError
from ..gene.layout import ROUTING
from .encoders import ConcatEncoder, Encoder, HostEncoder, make_encoder, normalise, prompts_digest, route_texts
from .genes import adapter_name

ROUTING_FILE = ROUTING
TENSOR = "prototypes"
EXEMPLARS = "exemplars"
ENCODER_PREFIX = "encoder."
METHOD = "nearest-prototype"
CALIBRATION = "conformal-quantile"
DEFAULT_PROTOTYPES = 1
DEFAULT_TARGET_RATE = 0.01
#: How similar a prompt must be to one of a gene's exemplars to count as that example's phrasing: with the
#: slots masked, two prompts of one phrasing are near-duplicates and prompts of two phrasings are not (the
#: routing bench sweeps it: bench/REPORT-routing-scale.md). None: the prototypes alone, no exemplars kept.
DEFAULT_EXEMPLAR_MATCH: float | None = 0.97
#: At most this many exemplars per gene (more examples are reduced to this many by k-means).
MAX_EXEMPLARS = 256


# ------------------------------------------------------------------------------------------------ prototypes
def kmeans_prototypes(vectors: torch.Tensor, k: int, *, seed: int = 0, iterations: int = 30) -> torch.Tensor:
    """``(min(k, n), dim)`` unit prototypes of ``vectors`` by spherical k-means (k-means++ start).

    ``k=1`` is the normalised mean (LoraRetriever's task embedding); ``k >= n`` keeps every distinct
    vector (nearest neighbour).
    """
    x = normalise(vectors)
    if len(x) == 0:
        raise UsageError("No vectors to build prototypes from.", hint="Pass at least one example prompt.")
    if k < 1:
        raise UsageError(f"Cannot build {k} prototypes.", hint="Use at least 1.")
    x = torch.unique(x, dim=0)
    if k == 1:
        return normalise(x.mean(0, keepdim=True))
    if k >= len(x):
        return x
    gen = torch.Generator().manual_seed(seed)
    centers = [x[int(torch.randint(len(x), (1,), generator=gen))]]
    for _ in range(1, k):  # k-means++: far points are more likely to start a cluster
        dist = 1 - (x @ torch.stack(centers).T).max(dim=1).values  # to the nearest center
        weights = dist.clamp(min=0) ** 2
        if float(weights.sum()) <= 0:
            break  # every vector is already a center
        centers.append(x[int(torch.multinomial(weights, 1, generator=gen))])
    c = torch.stack(centers)
    for _ in range(iterations):
        assign = (x @ c.T).argmax(dim=1)
        new = torch.zeros_like(c).index_add_(0, assign, x)
        empty = torch.bincount(assign, minlength=len(c)) == 0
        new[empty] = c[empty]  # an empty cluster keeps its center
        new = normalise(new)
        if torch.allclose(new, c):
            break
        c = new
    return c


def similarity(x: torch.Tensor, prototypes: torch.Tensor) -> torch.Tensor:
    """``(n,)`` cosine similarity of each row of ``x`` to its nearest prototype (inputs unit-norm)."""
    return (x @ prototypes.T).max(dim=1).values


def gene_scores(x: torch.Tensor, prototypes: torch.Tensor, exemplars: torch.Tensor | None = None, *,
                match: float | None = None) -> torch.Tensor:
    """``(n,)`` each unit row of ``x``'s score for one gene: its cosine similarity to the nearest
    prototype, or to the nearest exemplar where that is at least ``match`` (and higher)."""
    score = similarity(x, prototypes)
    if exemplars is None or match is None:
        return score
    return with_exemplars(score, similarity(x, exemplars), match)


def with_exemplars(score: torch.Tensor, near: torch.Tensor, match: float | torch.Tensor) -> torch.Tensor:
    """The exemplar rule: the nearest exemplar's similarity ``near`` replaces the prototype score where it
    is at least ``match`` (a gene's, or one per gene's column) and higher."""
    return torch.where(near >= match, torch.maximum(score, near), score)


def conformal_threshold(scores: torch.Tensor, target_rate: float) -> tuple[float, int]:
    """The threshold that at most a ``target_rate`` share of prompts like ``scores``' exceeds.

    Split-conformal: with ``n`` calibration scores, the ``ceil((n + 1) * (1 - target_rate))``-th smallest
    score is exceeded by a new exchangeable prompt with probability at most ``target_rate``. When ``n`` is
    too small for that rank (``target_rate < 1 / (n + 1)``), the largest score is used and the guarantee
    is only ``1 / (n + 1)``. Returns ``(threshold, rank)``; a prompt is the gene's when its score is
    strictly above the threshold.
    """
    if not 0 < target_rate < 1:
        raise UsageError(f"A target rate of {target_rate} is not a rate.", hint="Pass a share in (0, 1), e.g. 0.01.")
    n = len(scores)
    if n == 0:
        raise UsageError("No general prompts to calibrate the threshold on.",
                         hint="Pass prompts the host answers by itself (e.g. general chat questions).")
    rank = min(n, math.ceil((n + 1) * (1 - target_rate)))
    return float(torch.sort(scores.float()).values[rank - 1]), rank


# ------------------------------------------------------------------------------------------------ gene side
@dataclass(frozen=True)
class GenePrototypes:
    """One gene as a prototype router sees it: its prototypes, threshold and encoder spec (from its card)."""

    name: str
    prototypes: torch.Tensor
    threshold: float
    encoder: dict[str, Any]
    block: dict[str, Any]
    encoder_tensors: dict[str, torch.Tensor] = field(default_factory=dict)
    exemplars: torch.Tensor | None = None

    @property
    def exemplar_match(self) -> float | None:
        """The similarity to an exemplar that counts as its phrasing (None: no exemplars)."""
        return float(self.block[EXEMPLARS]["match"]) if self.exemplars is not None and EXEMPLARS in self.block else None

    def scores(self, x: torch.Tensor) -> torch.Tensor:
        """``(n,)`` the gene's score of each unit row of ``x`` (:func:`gene_scores`)."""
        return gene_scores(x, self.prototypes, self.exemplars, match=self.exemplar_match)

    @property
    def parts(self) -> int:
        """How many parts its encoder has that a router can read alone (0: not a concat encoder)."""
        return len(self.encoder["parts"]) if self.encoder.get("kind") == "concat" else 0

    def part(self, index: int) -> GenePrototypes:
        """This gene in the space of one part of its concat encoder: the prototypes' coordinates of that
        part, renormalised (for one prototype: exactly the part's own mean prototype), and the part's
        threshold from ``calibration.parts``."""
        if not 0 <= index < self.parts:
            raise UsageError(f"Gene {self.name}'s routing encoder has no part {index}.",
                             hint="Read a part of a concat encoder only.")
        start = sum(int(p["dim"]) for p in self.encoder["parts"][:index])
        spec = dict(self.encoder["parts"][index])
        prefix = f"parts.{index}."
        tensors = {k[len(prefix):]: t for k, t in self.encoder_tensors.items() if k.startswith(prefix)}
        threshold = float(self.block["calibration"]["parts"][index]["threshold"])
        cut = slice(start, start + int(spec["dim"]))
        exemplars = normalise(self.exemplars[:, cut]) if self.exemplars is not None else None
        return GenePrototypes(self.name, normalise(self.prototypes[:, cut]), threshold, spec, self.block, tensors,
                              exemplars)

    def file_tensors(self) -> dict[str, torch.Tensor]:
        """What ``routing.safetensors`` holds: the prototypes, the exemplars (if any) and the encoder's
        tensors (``encoder.*``)."""
        out = {TENSOR: self.prototypes, **{f"{ENCODER_PREFIX}{k}": t.float().contiguous()
                                           for k, t in self.encoder_tensors.items()}}
        if self.exemplars is not None:
            out[EXEMPLARS] = self.exemplars
        return out

    @classmethod
    def build(cls, name: str, encoder: Encoder, examples: Sequence[str], general: Sequence[str], *,
              prototypes: int = DEFAULT_PROTOTYPES, target_rate: float = DEFAULT_TARGET_RATE,
              exemplar_match: float | None = DEFAULT_EXEMPLAR_MATCH, seed: int = 0) -> GenePrototypes:
        """Encode ``examples``, cluster them into prototypes, keep them as exemplars and calibrate the
        threshold on ``general``.

        Args:
            name: the gene's name.
            encoder: the encoder (its spec is recorded).
            examples: prompts of the phrasings the gene was made from (never held-out test prompts).
            general: prompts the host answers by itself, for the threshold.
            prototypes: K, the number of k-means prototypes.
            target_rate: the share of general prompts allowed above the threshold.
            exemplar_match: the similarity to an example that counts as its phrasing (None: no exemplars).
            seed: seeds k-means.
        """
        examples, general = list(examples), list(general)
        if not examples:
            raise UsageError(f"Gene {name} has no example prompts to build prototypes from.",
                             hint="Give it examples (examples.jsonl) of the prompts it is for.")
        vectors = encoder.encode(examples)
        return cls.from_vectors(name, encoder.spec, kmeans_prototypes(vectors, prototypes, seed=seed),
                                examples=examples, general=general, general_vectors=encoder.encode(general),
                                target_rate=target_rate, clustering={"method": "kmeans", "k": prototypes, "seed": seed},
                                encoder_tensors=encoder.tensors(),
                                exemplars=kmeans_prototypes(vectors, MAX_EXEMPLARS, seed=seed)
                                if exemplar_match is not None else None, exemplar_match=exemplar_match)

    @classmethod
    def from_vectors(cls, name: str, spec: Mapping[str, Any], prototypes: torch.Tensor, *, examples: Sequence[str],
                     general: Sequence[str], general_vectors: torch.Tensor, target_rate: float,
                     clustering: Mapping[str, Any],
                     encoder_tensors: Mapping[str, torch.Tensor] | None = None, exemplars: torch.Tensor | None = None,
                     exemplar_match: float | None = DEFAULT_EXEMPLAR_MATCH) -> GenePrototypes:
        """:meth:`build` from vectors already encoded (the benchmark reuses its cached encodings);
        ``exemplars``: unit vectors of the examples (None, or ``exemplar_match`` None: prototypes alone)."""
        if exemplar_match is not None and not -1 < exemplar_match <= 1:
            raise UsageError(f"An exemplar match of {exemplar_match} is not a cosine similarity.",
                             hint="Use a value in (-1, 1], e.g. 0.97, or None for the prototypes alone.")
        if exemplar_match is None:
            exemplars = None
        general_vectors = normalise(general_vectors)
        exemplars = normalise(exemplars).float().contiguous() if exemplars is not None else None
        scores = gene_scores(general_vectors, prototypes, exemplars, match=exemplar_match)
        threshold, rank = conformal_threshold(scores, target_rate)
        calibration: dict[str, Any] = {
            "method": CALIBRATION, "target_rate": target_rate, "rank": rank,
            "rate": round(float((scores > threshold).float().mean()), 6),
            "num_prompts": len(general), "prompts_digest": prompts_digest(general),
        }
        if spec.get("kind") == "concat":  # each part's own threshold, for a router that reads it alone
            calibration["parts"], start = [], 0
            for part in spec["parts"]:
                cut = slice(start, start + int(part["dim"]))
                start = cut.stop
                part_scores = gene_scores(normalise(general_vectors[:, cut]), normalise(prototypes[:, cut]),
                                          normalise(exemplars[:, cut]) if exemplars is not None else None,
                                          match=exemplar_match)
                t, r = conformal_threshold(part_scores, target_rate)
                calibration["parts"].append({"threshold": round(t, 6), "rank": r,
                                             "rate": round(float((part_scores > t).float().mean()), 6)})
        block = {
            "method": METHOD,
            "encoder": dict(spec),
            "prototypes": {"file": ROUTING_FILE, "tensor": TENSOR, "count": int(prototypes.shape[0]),
                           "dim": int(prototypes.shape[1]), "clustering": dict(clustering)},
            "threshold": round(threshold, 6),
            "calibration": calibration,
            "examples": {"num_prompts": len(examples), "digest": prompts_digest(examples)},
        }
        if exemplars is not None:
            block[EXEMPLARS] = {"tensor": EXEMPLARS, "count": int(exemplars.shape[0]), "match": exemplar_match}
        # The stored threshold is rounded: use exactly what the card says.
        return cls(name=name, prototypes=prototypes.float().contiguous(), threshold=block["threshold"],
                   encoder=dict(spec), block=block, encoder_tensors=dict(encoder_tensors or {}), exemplars=exemplars)


def load_prototypes(gene_dir: str | Path, card: Mapping[str, Any] | None = None) -> GenePrototypes:
    """A gene's prototypes from its folder: the card's routing block, and ``routing.safetensors`` checked
    against the digest the card records and the shape the block states.

    Args:
        gene_dir: the gene folder.
        card: its card, already loaded and validated (read from the folder when None).

    Raises:
        NotFoundError: the card has no routing block, or the file is missing.
        VerificationError: the file differs from the card's digest (tampered or stale).
        CardValidationError: the file holds something else than the block says.
    """
    from safetensors import safe_open

    from ..gene import load_card
    from ..gene.layout import file_digest

    gene_dir = Path(gene_dir)
    card = card if card is not None else load_card(gene_dir)
    block = card.get("routing")
    name = str(card["name"])
    if not isinstance(block, Mapping):
        raise NotFoundError(f"Gene {name} has no routing block in its card.",
                            hint="Give it one with `genehub.routing.build_routing(GENE_DIR, encoder, general_prompts)`.",
                            path=str(gene_dir))
    path = gene_dir / ROUTING_FILE
    if not path.is_file():
        raise NotFoundError(f"Gene {name} has a routing block but no {ROUTING_FILE}.",
                            hint="Pull the gene again, or rebuild its routing with `genehub.routing.build_routing`.",
                            path=str(path))
    recorded = card.get("files", {}).get(ROUTING_FILE)
    if recorded is None or file_digest(path) != recorded:
        raise VerificationError(f"{path} differs from the digest in gene {name}'s card.", files=[ROUTING_FILE],
                                hint="Do not route with it; pull the gene again (or rebuild its routing and re-sign).")
    with safe_open(str(path), framework="pt") as fh:
        keys = set(fh.keys())
        named = {TENSOR} | ({EXEMPLARS} if EXEMPLARS in block else set())
        if not named <= keys or any(k not in named and not k.startswith(ENCODER_PREFIX) for k in keys):
            raise CardValidationError(f"{path} holds {sorted(keys)}, not {sorted(named)} and the encoder's tensors.",
                                      errors=[("$.routing.prototypes", "file contents differ")],
                                      hint="Rebuild the gene's routing with `genehub.routing.build_routing`.")
        protos = fh.get_tensor(TENSOR).float()
        exemplars = fh.get_tensor(EXEMPLARS).float() if EXEMPLARS in block else None
        extra = {k[len(ENCODER_PREFIX):]: fh.get_tensor(k).float() for k in keys if k not in named}
    want = (block["prototypes"]["count"], block["prototypes"]["dim"])
    if tuple(protos.shape) != want or want[1] != block["encoder"]["dim"]:
        raise CardValidationError(f"{path} holds prototypes of shape {tuple(protos.shape)}, the card says {want}.",
                                  errors=[("$.routing.prototypes", "shape differs from the file")],
                                  hint="Rebuild the gene's routing with `genehub.routing.build_routing`.")
    if exemplars is not None and tuple(exemplars.shape) != (block[EXEMPLARS]["count"], want[1]):
        raise CardValidationError(f"{path} holds exemplars of shape {tuple(exemplars.shape)}, the card says "
                                  f"{(block[EXEMPLARS]['count'], want[1])}.",
                                  errors=[("$.routing.exemplars", "shape differs from the file")],
                                  hint="Rebuild the gene's routing with `genehub.routing.build_routing`.")
    return GenePrototypes(name=adapter_name(name), prototypes=normalise(protos), threshold=float(block["threshold"]),
                          encoder=dict(block["encoder"]), block=dict(block), encoder_tensors=extra,
                          exemplars=normalise(exemplars) if exemplars is not None else None)


def encoder_tokenizer(encoder: Encoder) -> Any:
    """The host tokenizer an encoder reads with (its host part's), or None."""
    parts = encoder.parts if isinstance(encoder, ConcatEncoder) else [encoder]
    return next((p.tokenizer for p in parts if isinstance(p, HostEncoder)), None)


def build_routing(gene_dir: str | Path, encoder: Encoder, general: Sequence[str], *,
                  examples: Sequence[str] | None = None, prototypes: int = DEFAULT_PROTOTYPES,
                  target_rate: float = DEFAULT_TARGET_RATE, exemplar_match: float | None = DEFAULT_EXEMPLAR_MATCH,
                  seed: int = 0, tokenizer: Any = None) -> dict[str, Any]:
    """Give a gene folder its routing: ``routing.safetensors``, the card's ``routing`` block and the
    file's digest under ``files``, and the README rendered again.

    The card changes, so a signature over the old one no longer holds: ``gene.sig`` is removed, and the
    gene must be signed again (``genehub sign DIR --key NAME``). Nothing changes if a step fails.

    Args:
        gene_dir: the gene folder.
        encoder: the encoder whose space the prototypes live in.
        general: prompts the host answers by itself, to calibrate the threshold.
        examples: the prompts to build prototypes from (default: the gene's ``examples.jsonl``).
        prototypes, target_rate, exemplar_match, seed: see :meth:`GenePrototypes.build`.
        tokenizer: the host's tokenizer (default: the encoder's host part's, if any): examples and
            general prompts formatted in its chat template are read as the user's message
            (:func:`~genehub.routing.encoders.route_texts`), as routers read prompts.

    Returns:
        The routing block written into the card.
    """
    import copy

    from ..gene import dump_card, load_card, validate_card, write_readme
    from ..gene.layout import CARD, SIGNATURE, file_digest

    gene_dir = Path(gene_dir)
    card = load_card(gene_dir)
    if examples is None:
        from ..gene import Gene

        examples = [row["prompt"] for row in Gene.load(gene_dir).examples()]  # the one reader of examples.jsonl
    tokenizer = tokenizer if tokenizer is not None else encoder_tokenizer(encoder)
    examples, general = route_texts(tokenizer, list(examples)), route_texts(tokenizer, list(general))
    gene = GenePrototypes.build(str(card["name"]), encoder, examples, general, prototypes=prototypes,
                                target_rate=target_rate, exemplar_match=exemplar_match, seed=seed)
    from safetensors.torch import save_file

    # Stage the file and the card beside the originals; swap both in only once both are valid.
    staged = []
    try:
        for suffix in (".safetensors", ".json"):
            fd, name = tempfile.mkstemp(prefix=".routing.", suffix=suffix, dir=gene_dir)
            os.close(fd)
            staged.append(Path(name))
        save_file(gene.file_tensors(), str(staged[0]), metadata={"format": "pt", "kind": "genehub-routing"})
        new = copy.deepcopy(card)
        new["routing"] = gene.block
        new["files"][ROUTING_FILE] = file_digest(staged[0])
        validate_card(new, source=f"card for {gene_dir}")
        staged[1].write_text(dump_card(new), encoding="utf-8")
        os.replace(staged[0], gene_dir / ROUTING_FILE)
        os.replace(staged[1], gene_dir / CARD)
    finally:
        for path in staged:
            path.unlink(missing_ok=True)
    write_readme(gene_dir, new)
    (gene_dir / SIGNATURE).unlink(missing_ok=True)  # it signed the old card
    return gene.block


def route_gene(gene_dir: str | Path, general: Sequence[str], *, encoder: str | Encoder = "default",
               host: str | Path | None = None, model: Any = None, tokenizer: Any = None,
               **options: Any) -> dict[str, Any]:
    """:func:`build_routing` with one of the encoder recipes (:func:`~genehub.routing.encoders.make_encoder`):
    what ``genehub extract`` does at its end, and ``genehub router card`` for genes made elsewhere.

    Args:
        gene_dir: the gene folder.
        general: prompts the host answers by itself (center, thresholds).
        encoder: a recipe (``default``, ``minilm``, ``host:LAYER``) or an encoder already made.
        host: the host folder (loaded when the recipe reads it, or to read formatted prompts).
        model, tokenizer: the host already loaded.
        **options: passed to :func:`build_routing` (``prototypes``, ``target_rate``, ``exemplar_match``,
            ``seed``).
    """
    from ..hosts import describe_host, load_host

    if isinstance(encoder, str):
        info = None
        if host is not None:
            info = describe_host(host)
            if (model is None or tokenizer is None) and encoder != "minilm":
                model, tokenizer = load_host(host)
            elif tokenizer is None:
                from transformers import AutoTokenizer

                tokenizer = AutoTokenizer.from_pretrained(str(host))
        encoder = make_encoder(encoder, general=general, model=model, tokenizer=tokenizer, host=info)
    return build_routing(gene_dir, encoder, general, tokenizer=tokenizer, **options)
