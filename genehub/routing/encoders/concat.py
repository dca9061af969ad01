"""Several routing encoders side by side (e.g. the sentence model and the host's own states)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from ...errors import UsageError
from .base import Encoder, normalise


class ConcatEncoder(Encoder):
    """Several encoders side by side: each part normalised and weighted, the whole normalised again.

    With weights ``w_i`` the cosine of two concatenated vectors is ``sum w_i^2 cos_i / sum w_i^2``.
    """

    def __init__(self, parts: Sequence[Encoder], weights: Sequence[float] | None = None) -> None:
        if len(parts) < 2:
            raise UsageError("A concatenated encoder needs at least two parts.", hint="Use the encoder itself.")
        self.parts = list(parts)
        self.weights = [float(w) for w in (weights or [1.0] * len(parts))]
        if len(self.weights) != len(self.parts) or any(w <= 0 for w in self.weights):
            raise UsageError("One positive weight per part is needed.", hint="Pass weights like [1.0, 1.0].")

    @property
    def spec(self) -> dict[str, Any]:
        return {"kind": "concat", "parts": [p.spec for p in self.parts], "weights": self.weights, "dim": self.dim}

    @property
    def dim(self) -> int:
        return sum(p.dim for p in self.parts)

    @property
    def name(self) -> str:
        return " + ".join(p.name for p in self.parts)

    def encode(self, prompts: Sequence[str]) -> torch.Tensor:
        return self.combine([p.encode(prompts) for p in self.parts])

    def combine(self, parts: Sequence[torch.Tensor]) -> torch.Tensor:
        """The concatenated vectors from each part's own (unit) vectors, in part order."""
        return concat_vectors(parts, self.weights)

    def slices(self) -> list[slice]:
        """Where each part's coordinates sit in a concatenated vector."""
        out, start = [], 0
        for part in self.parts:
            out.append(slice(start, start + part.dim))
            start += part.dim
        return out

    def tensors(self) -> dict[str, torch.Tensor]:
        return {f"parts.{i}.{k}": t for i, p in enumerate(self.parts) for k, t in p.tensors().items()}


def concat_vectors(parts: Sequence[torch.Tensor], weights: Sequence[float] | None = None) -> torch.Tensor:
    """What :class:`ConcatEncoder` computes, from the parts' already normalised vectors."""
    weights = weights or [1.0] * len(parts)
    return normalise(torch.cat([w * normalise(p) for p, w in zip(parts, weights)], dim=-1))
