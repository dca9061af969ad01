"""Homology: is the host's machinery comparable to the donor's where the skill lives? (RepE reading vectors)

Contrast pairs put a skill prompt beside a non-skill prompt. At each layer, the hidden state at the last
prompt token is read in both; the pair's difference points along "this is the skill". A model's
*reading vector* at a layer is the first principal component of the paired differences (uncentred, so
it is the dominant shared direction, as RepE's pair-sign trick arranges); the difference of means is
recorded too. A principal component has no sign, so the PCA score is the absolute cosine, while the
mean-difference score keeps its sign (a flipped mean difference is a real disagreement):

    pca_cosine(layer)       = |cos(pc1_donor(layer), pc1_host(layer))|        in [0, 1]
    mean_diff_cosine(layer) =  cos(mean_diff_donor(layer), mean_diff_host(layer))   in [-1, 1]

``aggregate`` is the mean ``pca_cosine`` over the circuit's layers.

A model compared with itself scores exactly 1.0. Models that share a basis (a fine-tune and its base)
score high; models trained from another random init score near 0, whatever they know.
The causal check patches the donor's circuit activations into the host and measures the host's skill
accuracy (interchange intervention).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from .._progress import progress_bar
from ..errors import ExtractionError
from ..evaluate import encode_rows
from ..hosts import model_device
from ._model import ComponentKey, capture, patch

METHOD = "repe-pca-cosine"
#: Homology of models of different widths or depths: linear CKA at matched relative depth.
CKA_METHOD = "repe-cka-relative-depth"


@dataclass(frozen=True)
class ReadingVectors:
    """Per-layer reading vectors of one model: ``pca[layer]`` and ``mean_diff[layer]`` (unit length)."""

    pca: torch.Tensor  # [num_layers, hidden]
    mean_diff: torch.Tensor  # [num_layers, hidden]
    num_pairs: int
    diffs: torch.Tensor | None = None  # [num_layers, num_pairs, hidden]: the paired differences themselves


@dataclass
class Homology:
    """Per-layer homology scores and their mean over the circuit's layers."""

    per_layer: list[dict[str, float]]
    aggregate: float
    layers: list[int]
    num_contrast_pairs: int
    causal_check: dict[str, Any] | None = None
    method: str = METHOD
    extra: dict[str, Any] = field(default_factory=dict)

    def to_card(self) -> dict[str, Any]:
        card: dict[str, Any] = {"method": self.method, "per_layer": self.per_layer,
                                "aggregate": round(self.aggregate, 6), "num_contrast_pairs": self.num_contrast_pairs}
        if self.causal_check is not None:
            card["causal_check"] = self.causal_check
        return card


@torch.no_grad()
def _last_token_states(model: Any, tokenizer: Any, prompts: Sequence[str], batch_size: int,
                       bar: Any = None) -> torch.Tensor:
    """``[num_layers, len(prompts), hidden]``: each layer's output at the last prompt token (``bar`` counts prompts)."""
    out = []
    for start in range(0, len(prompts), batch_size):
        if bar is not None:
            bar.update(len(prompts[start:start + batch_size]))
        chunk = list(prompts[start:start + batch_size])
        batch = encode_rows(tokenizer, [{"prompt": p, "answer": ""} for p in chunk],  # right-padded prompt + eos
                            device=model_device(model))
        lengths = batch["labels"].eq(-100).logical_and(batch["attention_mask"].bool()).sum(1)
        hidden = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                       output_hidden_states=True).hidden_states[1:]
        rows = torch.arange(len(chunk), device=lengths.device)
        out.append(torch.stack([h[rows, lengths - 1].float().cpu() for h in hidden]))
    return torch.cat(out, dim=1)


def reading_vectors(model: Any, tokenizer: Any, skill_prompts: Sequence[str], contrast_prompts: Sequence[str],
                    *, batch_size: int = 64, bar: Any = None) -> ReadingVectors:
    """Reading vectors of ``model`` from pairs ``(skill_prompts[i], contrast_prompts[i])`` (``bar`` counts prompts)."""
    n = min(len(skill_prompts), len(contrast_prompts))
    if n < 2:
        raise ExtractionError(f"Homology needs at least 2 contrast pairs, got {n}.",
                              hint="Give more skill prompts or contrast prompts.")
    diffs = (_last_token_states(model, tokenizer, skill_prompts[:n], batch_size, bar)
             - _last_token_states(model, tokenizer, contrast_prompts[:n], batch_size, bar))  # [L, n, H]
    mean = diffs.mean(dim=1)
    _, _, vh = torch.linalg.svd(diffs, full_matrices=False)
    pca = vh[:, 0, :]
    return ReadingVectors(pca=pca, mean_diff=torch.nn.functional.normalize(mean, dim=-1), num_pairs=n, diffs=diffs)


def linear_cka(x: torch.Tensor, y: torch.Tensor) -> float:
    """Linear CKA (Kornblith et al., 2019) of two representations of the same ``n`` items, ``(n, d1)`` and
    ``(n, d2)``: 1 when one is a rotation and scaling of the other, whatever their widths."""
    x = (x - x.mean(0)).double()
    y = (y - y.mean(0)).double()
    cross = (y.T @ x).norm() ** 2
    norm = (x.T @ x).norm() * (y.T @ y).norm()
    return min(1.0, float(cross / norm)) if norm > 0 else 0.0


def matched_layer(layer: int, layers: int, other_layers: int) -> int:
    """The layer of a model with ``other_layers`` layers at the same relative depth as ``layer`` of ``layers``."""
    return min(other_layers - 1, max(0, round((layer + 1) * other_layers / layers) - 1))


def compare(donor_vectors: ReadingVectors, host_vectors: ReadingVectors, *, layers: Sequence[int] | None = None) -> Homology:
    """Cosines of two models' reading vectors per layer, aggregated (mean |PCA cosine|) over ``layers``, and the
    linear CKA of their paired differences.

    Models of one family (same depth and width) are compared layer by layer, and the aggregate is the mean
    PCA cosine. Models of different widths or depths (another family) have no common basis for a cosine, so
    each donor layer is compared by CKA with the host layer at the same relative depth (``host_layer``), and
    the aggregate is the mean CKA (``method`` says which).
    """
    if donor_vectors.pca.shape != host_vectors.pca.shape:
        return _compare_across(donor_vectors, host_vectors, layers)
    pca = torch.nn.functional.cosine_similarity(donor_vectors.pca, host_vectors.pca, dim=-1).abs().clamp(0, 1)
    mean = torch.nn.functional.cosine_similarity(donor_vectors.mean_diff, host_vectors.mean_diff, dim=-1).clamp(-1, 1)
    per_layer = []
    for i in range(pca.shape[0]):
        row = {"layer": i, "pca_cosine": round(float(pca[i]), 6), "mean_diff_cosine": round(float(mean[i]), 6)}
        if donor_vectors.diffs is not None and host_vectors.diffs is not None:
            row["cka"] = round(linear_cka(donor_vectors.diffs[i], host_vectors.diffs[i]), 6)
        per_layer.append(row)
    chosen = sorted(set(layers)) if layers else list(range(pca.shape[0]))
    aggregate = float(pca[chosen].mean())
    return Homology(per_layer=per_layer, aggregate=max(-1.0, min(1.0, aggregate)), layers=chosen,
                    num_contrast_pairs=donor_vectors.num_pairs)


def _compare_across(donor_vectors: ReadingVectors, host_vectors: ReadingVectors,
                    layers: Sequence[int] | None) -> Homology:
    if donor_vectors.diffs is None or host_vectors.diffs is None or donor_vectors.num_pairs != host_vectors.num_pairs:
        raise ExtractionError("The models' hidden states differ in shape, and their paired differences are not "
                              "there to compare by CKA.",
                              hint="Compute both with reading_vectors on the same contrast pairs.")
    n_donor, n_host = donor_vectors.pca.shape[0], host_vectors.pca.shape[0]
    per_layer = []
    for i in range(n_donor):
        j = matched_layer(i, n_donor, n_host)
        per_layer.append({"layer": i, "host_layer": j,
                          "cka": round(linear_cka(donor_vectors.diffs[i], host_vectors.diffs[j]), 6)})
    chosen = sorted(set(layers)) if layers else list(range(n_donor))
    aggregate = sum(per_layer[i]["cka"] for i in chosen) / len(chosen)
    return Homology(per_layer=per_layer, aggregate=aggregate, layers=chosen,
                    num_contrast_pairs=donor_vectors.num_pairs, method=CKA_METHOD)


def score_homology(donor: Any, host: Any, tokenizer: Any, skill_prompts: Sequence[str],
                   contrast_prompts: Sequence[str], *, layers: Sequence[int] | None = None,
                   host_tokenizer: Any = None, host_prompts: tuple[Sequence[str], Sequence[str]] | None = None,
                   progress: bool = False) -> Homology:
    """Homology of ``donor`` and ``host`` on the skill, per layer and over ``layers`` (the circuit).

    Args:
        donor, host: causal LMs of one family (same depth and width).
        tokenizer: the donor's tokenizer (and the host's unless ``host_tokenizer`` is given).
        skill_prompts: prompts that call for the skill.
        contrast_prompts: matched prompts that do not (paired by position with ``skill_prompts``).
        layers: the layers to aggregate over (default: all).
        host_tokenizer: the host's tokenizer when it is not the donor's (another family).
        host_prompts: the same pairs as the host reads them (e.g. rendered with its own chat template),
            for a host of another family.
        progress: show a bar over the prompts read from both models (on a terminal).

    Example:
        >>> score_homology(host, host, tok, skill, other).aggregate
        1.0
    """
    n = min(len(skill_prompts), len(contrast_prompts))
    host_skill, host_contrast = host_prompts or (skill_prompts, contrast_prompts)
    with progress_bar(desc="homology", total=4 * n, unit="prompt", enabled=progress) as bar:
        donor_vectors = reading_vectors(donor, tokenizer, skill_prompts, contrast_prompts, bar=bar)
        host_vectors = reading_vectors(host, host_tokenizer or tokenizer, host_skill, host_contrast, bar=bar)
    return compare(donor_vectors, host_vectors, layers=layers)


@torch.no_grad()
def causal_check(donor: Any, host: Any, tokenizer: Any, rows: Sequence[Mapping[str, Any]],
                 components: Sequence[ComponentKey], *, batch_size: int = 64, progress: bool = False) -> dict[str, Any]:
    """Skill exact-match of the host, of the host with the donor's circuit activations patched in, and of the donor.

    Teacher-forced (like :func:`genehub.evaluate.exact_match`): the donor runs on the same prompt + answer
    tokens and its circuit outputs replace the host's at every position. ``progress`` shows a bar over
    the prompts (on a terminal).
    """
    keys = list(components)
    hits = {"host": 0, "patched": 0, "donor": 0}
    rows = list(rows)
    bar = progress_bar(desc="causal check", total=len(rows), unit="prompt", enabled=progress)
    for start in range(0, len(rows), batch_size):
        chunk = rows[start:start + batch_size]
        bar.update(len(chunk))
        batch = encode_rows(tokenizer, chunk, device=model_device(host))
        inputs = {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]}
        with capture(donor, keys) as cache:
            donor_logits = donor(**inputs).logits
        with patch(host, dict(cache)):
            patched_logits = host(**inputs).logits
        host_logits = host(**inputs).logits
        target = batch["labels"][:, 1:]
        scored = target != -100
        for name, logits in (("host", host_logits), ("patched", patched_logits), ("donor", donor_logits)):
            hits[name] += int(((logits[:, :-1].argmax(-1) == target) | ~scored).all(1).sum())
    bar.close()
    n = max(len(rows), 1)
    return {"metric": "exact_match", "host": hits["host"] / n, "patched": hits["patched"] / n,
            "donor": hits["donor"] / n, "components": [f"{layer}.{kind}" for layer, kind in keys],
            "num_prompts": len(rows)}
