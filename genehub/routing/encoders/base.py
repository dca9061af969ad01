"""What every routing encoder is: prompts in, L2-normalised vectors out, and a spec that names the space.

An encoder first computes *raw* vectors (a sentence model's embedding, the host's pooled hidden states),
then subtracts its *center*, if it has one, and normalises. The center is the mean raw vector of a set
of prompts the host answers by itself (its general prompts): embeddings share a large common direction
that hides the differences between prompts, and removing it spreads them out. The center is part of
the space, so the spec records its digest and the prompts it came from, and the tensor travels with a
gene's prototypes.
"""

from __future__ import annotations

import copy
import hashlib
import json
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from ...errors import UsageError


def normalise(x: torch.Tensor) -> torch.Tensor:
    """Rows scaled to unit L2 norm (float32)."""
    return torch.nn.functional.normalize(x.float(), dim=-1)


def prompts_digest(prompts: Sequence[str]) -> str:
    """``sha256:<hex>`` of a list of prompts (order kept), as routing blocks record them."""
    return "sha256:" + hashlib.sha256(json.dumps(list(prompts), ensure_ascii=False).encode()).hexdigest()


def tensor_digest(t: torch.Tensor) -> str:
    """``sha256:<hex>`` of a tensor's float32 bytes (what a spec records for a tensor it needs)."""
    return "sha256:" + hashlib.sha256(t.detach().float().contiguous().numpy().tobytes()).hexdigest()


class Encoder(ABC):
    """Turns prompts into L2-normalised ``(n, dim)`` float32 vectors; :attr:`spec` says exactly which encoder."""

    @property
    @abstractmethod
    def spec(self) -> dict[str, Any]:
        """JSON-able description recorded in a gene card's routing block (``kind`` first)."""

    @property
    @abstractmethod
    def dim(self) -> int:
        """Length of one vector."""

    @property
    def name(self) -> str:
        """A short label for tables and logs."""
        return str(self.spec["kind"])

    @abstractmethod
    def encode(self, prompts: Sequence[str]) -> torch.Tensor:
        """``(len(prompts), dim)`` float32, each row of unit norm."""

    def tensors(self) -> dict[str, torch.Tensor]:
        """Tensors the encoder needs besides its spec (e.g. a center), stored beside the prototypes."""
        return {}


class CenteredEncoder(Encoder):
    """An encoder with an optional center: ``encode(p) = normalise(raw(p) - center)``.

    Subclasses implement :meth:`raw` and put :meth:`center_spec` under ``"center"`` in their spec.
    """

    center: torch.Tensor | None = None
    center_source: dict[str, Any]
    #: The raw vectors of the prompts the center came from (digest, vectors): building a gene's routing
    #: calibrates on those same prompts right after, so they are not encoded twice.
    _memo: tuple[str, torch.Tensor] | None = None

    def _set_center(self, center: torch.Tensor | None, source: Mapping[str, Any] | None) -> None:
        if center is not None and tuple(center.shape) != (self.dim,):
            raise UsageError(f"A center of shape {tuple(center.shape)} for vectors of size {self.dim}.",
                             hint="Make it with encoder.centered(prompts).")
        self.center = center.float() if center is not None else None
        self.center_source = dict(source or {})

    @abstractmethod
    def raw(self, prompts: Sequence[str]) -> torch.Tensor:
        """The vectors before centering and normalising."""

    def finish(self, raw: torch.Tensor) -> torch.Tensor:
        """Raw vectors (from :meth:`raw`, or read elsewhere the same way) centered and normalised."""
        return normalise(raw if self.center is None else raw.float() - self.center)

    def encode(self, prompts: Sequence[str]) -> torch.Tensor:
        if self._memo is not None and len(prompts) == len(self._memo[1]) and prompts_digest(list(prompts)) == self._memo[0]:
            return self.finish(self._memo[1])
        return self.finish(self.raw(prompts))

    def centered(self, prompts: Sequence[str]) -> CenteredEncoder:
        """A copy of this encoder whose center is the mean raw vector of ``prompts`` (e.g. the host's
        general prompts): the same prompts give the same center, so genes built with it share a space."""
        prompts = list(prompts)
        other = copy.copy(self)
        raw = self.raw(prompts)
        digest = prompts_digest(prompts)
        other._set_center(raw.mean(0), {"num_prompts": len(prompts), "prompts_digest": digest})
        other._memo = (digest, raw)
        return other

    def center_spec(self) -> dict[str, Any] | None:
        """The spec's ``center``: its digest and the prompts it is the mean of, or None."""
        if self.center is None:
            return None
        return {"digest": tensor_digest(self.center), **self.center_source}

    def tensors(self) -> dict[str, torch.Tensor]:
        return {} if self.center is None else {"center": self.center}
