"""Circuit location by activation patching: which attention and MLP blocks carry the donor's skill?

For every decoder layer's attention output and MLP output, the donor's activation on a skill prompt is
patched into the host's forward pass on the same tokens, and we measure how much of the donor-vs-host
difference in the answer's log-probability it restores::

    score(c) = (logp_host+patch(c) - logp_host) / (logp_donor - logp_host)

(summed over the answer tokens of all prompts). Components are then added greedily, best first, and the
joint patch is re-measured until it restores ``target_share`` of the difference: that set is the circuit.

Scoring every component exactly costs one forward pass each, and growing the set one more per component:
fine for a few dozen blocks of a small model, hours for a real one on a CPU. So past
:data:`EXACT_MAX_COMPONENTS` components (``method="auto"``), each score is *attribution patching*'s linear
estimate (Nanda, 2023): ``(act_donor(c) - act_host(c)) . d logp / d act_host(c)``, every component from one
forward and backward pass of the host; and the size of the circuit is found by patching the top ``k``
components exactly, for ``k`` doubling and then bisected (about ``2 log2(n)`` passes). The selected set's
share is always measured by real patching.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from .._progress import progress_bar
from ..errors import ExtractionError
from ..evaluate import encode_rows
from ..hosts import model_device
from ._model import ComponentKey, all_components, answer_logprob, capture, patch

log = logging.getLogger(__name__)

#: Up to this many components (``method="auto"``), every one is scored by exact patching and the circuit is
#: grown one component at a time; beyond it, attribution scores and a search over the circuit's size.
EXACT_MAX_COMPONENTS = 16
METHODS = ("auto", "exact", "attribution")


@dataclass(frozen=True)
class Component:
    """One block and the share of the donor's advantage that patching it alone restores."""

    layer: int
    kind: str  # "attn" | "mlp"
    score: float

    @property
    def key(self) -> ComponentKey:
        return (self.layer, self.kind)


@dataclass
class Circuit:
    """The located circuit: every component's score and the smallest set that restores ``target_share``.

    Attributes:
        components: every scored component, best first.
        selected: the circuit, in the order it was grown.
        restored_share: the share of the donor-vs-host log-probability gap the selected set restores.
        curve: restored share after adding each selected component.
    """

    components: list[Component]
    selected: list[Component]
    target_share: float
    restored_share: float
    logprob_gap: float
    num_prompts: int
    curve: list[float] = field(default_factory=list)
    method: str = "activation-patching"

    @property
    def keys(self) -> list[ComponentKey]:
        return [c.key for c in self.selected]

    @property
    def layers(self) -> list[int]:
        return sorted({c.layer for c in self.selected})

    def to_card(self, modules: Sequence[str]) -> dict[str, Any]:
        """The card's ``circuit`` object (``modules``: the short names of the adapted linear layers)."""
        return {
            "method": self.method,
            "layers": self.layers,
            "modules": sorted(set(modules)),
            "components": [{"layer": c.layer, "kind": c.kind, "score": round(c.score, 6)} for c in self.components],
            "target_share": self.target_share,
            "restored_share": round(self.restored_share, 6),
        }


@torch.no_grad()
def _logprob(model: Any, batches: Sequence[Mapping[str, torch.Tensor]],
             patches: Sequence[Mapping[ComponentKey, torch.Tensor]] | None = None) -> float:
    total = 0.0
    for i, batch in enumerate(batches):
        values = patches[i] if patches is not None else {}
        with patch(model, values):
            logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        total += float(answer_logprob(logits, batch["labels"]).sum())
    return total


def locate_circuit(
    donor: Any,
    host: Any,
    tokenizer: Any,
    rows: Sequence[Mapping[str, Any]],
    *,
    target_share: float = 0.8,
    batch_size: int = 32,
    method: str = "auto",
    progress: bool = False,
) -> Circuit:
    """Find the components of ``donor`` that carry its advantage over ``host`` on ``rows``.

    Args:
        donor: the model that has the skill (same architecture and tokenizer as ``host``).
        host: the model that should receive it.
        tokenizer: the shared tokenizer.
        rows: skill prompts with their answers (``prompt``/``answer``), e.g. the validation split.
        target_share: the share of the log-probability gap the circuit must restore (0-1].
        batch_size: prompts per forward pass.
        method: ``"exact"`` (every component patched alone, the circuit grown one at a time), ``"attribution"``
            (linear estimates, the circuit's size searched with exact patches) or ``"auto"`` (exact up to
            :data:`EXACT_MAX_COMPONENTS` components).
        progress: show a bar over the components scored (on a terminal).

    Returns:
        A :class:`Circuit`; ``selected`` is never empty.

    Raises:
        ExtractionError: the donor is no better than the host on these prompts (nothing to transplant).

    Example:
        >>> circuit = locate_circuit(donor, host, tok, skill["validation"][:64])
        >>> circuit.layers
        [1]
    """
    if not 0 < target_share <= 1:
        raise ExtractionError(f"target_share must be in (0, 1], got {target_share}.", hint="Use e.g. 0.8.")
    if method not in METHODS:
        raise ExtractionError(f"Unknown circuit method {method!r}.", hint=f"Choose one of: {', '.join(METHODS)}.")
    rows = list(rows)
    if not rows:
        raise ExtractionError("No skill prompts to locate the circuit with.", hint="Give the skill some validation rows.")
    keys = all_components(host)
    device = model_device(host)
    batches = [encode_rows(tokenizer, rows[s:s + batch_size], device=device) for s in range(0, len(rows), batch_size)]
    donor_acts: list[dict[ComponentKey, torch.Tensor]] = []
    donor_lp = 0.0
    with torch.no_grad():
        for batch in batches:
            with capture(donor, keys) as cache:
                logits = donor(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
            donor_lp += float(answer_logprob(logits, batch["labels"]).sum())
            donor_acts.append(dict(cache))
    host_lp = _logprob(host, batches)
    gap = donor_lp - host_lp
    if gap <= 1e-3 * len(rows):
        raise ExtractionError(
            f"The donor is no better than the host on the skill (answer log-prob {donor_lp:.2f} vs {host_lp:.2f}).",
            hint="Check that --donor really has the skill and --host lacks it (swap them if reversed).")

    def restored(selection: Sequence[ComponentKey]) -> float:
        patched = _logprob(host, batches, [{k: acts[k] for k in selection} for acts in donor_acts])
        return (patched - host_lp) / gap

    exact = method == "exact" or (method == "auto" and len(keys) <= EXACT_MAX_COMPONENTS)
    if exact:
        bar = progress_bar(keys, desc="circuit", unit="component", enabled=progress)
        scores = {key: restored([key]) for key in bar}
    else:
        scores = _attribution(host, batches, donor_acts, keys)
        scores = {key: value / gap for key, value in scores.items()}
    scored = sorted((Component(layer, kind, scores[(layer, kind)]) for layer, kind in keys),
                    key=lambda c: (-c.score, c.layer, c.kind))
    if exact:
        selected, curve = _grow(scored, restored, target_share)
    else:
        selected, curve = _search(scored, restored, target_share)
    return Circuit(components=scored, selected=selected, target_share=target_share, restored_share=curve[-1],
                   logprob_gap=gap / len(rows), num_prompts=len(rows), curve=curve,
                   method="activation-patching" if exact else "attribution-patching")


def _grow(scored: Sequence[Component], restored: Any, target_share: float) -> tuple[list[Component], list[float]]:
    """Add components best first, measuring the joint patch each time, until ``target_share`` is restored."""
    selected: list[Component] = []
    curve: list[float] = []
    for component in scored:
        selected.append(component)
        curve.append(restored([c.key for c in selected]))
        if curve[-1] >= target_share:
            break
    best = max(range(len(curve)), key=lambda i: (curve[i], -i))
    if curve[best] < target_share:
        _warn_short(target_share, curve[best], best + 1)
        selected, curve = selected[: best + 1], curve[: best + 1]
    return selected, curve


def _search(scored: Sequence[Component], restored: Any, target_share: float) -> tuple[list[Component], list[float]]:
    """The smallest top-``k`` (by score) whose joint patch restores ``target_share``: ``k`` doubles until it
    does, then is bisected. ``curve`` holds the share at each ``k`` tried, in the order tried."""
    measured: dict[int, float] = {}

    def share(k: int) -> float:
        if k not in measured:
            measured[k] = restored([c.key for c in scored[:k]])
        return measured[k]

    k = 1
    while k < len(scored) and share(k) < target_share:
        k = min(2 * k, len(scored))
    if share(k) < target_share:
        best = max(measured, key=lambda n: (measured[n], -n))
        _warn_short(target_share, measured[best], best)
        k = best
    else:
        low = max((n for n in measured if n < k and measured[n] < target_share), default=0)
        while k - low > 1:
            mid = (low + k) // 2
            if share(mid) >= target_share:
                k = mid
            else:
                low = mid
    curve = list(measured.values())
    curve.append(curve.pop(list(measured).index(k)))  # the chosen set's share last
    return list(scored[:k]), curve


def _warn_short(target_share: float, best: float, n: int) -> None:
    log.warning("No set of attention/MLP blocks restores %.0f%% of the donor's advantage (best %.0f%% with %d "
                "blocks); the rest lives in the embeddings or the final norm.", 100 * target_share, 100 * best, n)


def _attribution(host: Any, batches: Sequence[Mapping[str, torch.Tensor]],
                 donor_acts: Sequence[Mapping[ComponentKey, torch.Tensor]],
                 keys: Sequence[ComponentKey]) -> dict[ComponentKey, float]:
    """Attribution patching: ``sum (act_donor - act_host) . d(answer logprob)/d(act_host)`` per component,
    from one forward and backward pass of the host per batch (the linear estimate of patching each alone)."""
    totals = {key: 0.0 for key in keys}
    embed = host.get_input_embeddings()
    for batch, acts in zip(batches, donor_acts):
        with torch.enable_grad(), capture(host, keys, keep_graph=True) as cache:
            inputs = embed(batch["input_ids"]).detach().requires_grad_(True)  # so every activation has a graph
            logits = host(inputs_embeds=inputs, attention_mask=batch["attention_mask"]).logits
            outputs = [cache[key] for key in keys]
            grads = torch.autograd.grad(answer_logprob(logits, batch["labels"]).sum(), outputs)
        for key, out, grad in zip(keys, outputs, grads):
            totals[key] += float(((acts[key].to(out.dtype) - out.detach()) * grad).sum())
    return totals
