"""How a router is trained: where its features come from, its head's schedule, and its threshold.

Kept apart from :mod:`genehub.routing.router` (which needs torch) so that the command line reads the
defaults from here without loading a model library.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import UsageError


@dataclass(frozen=True)
class RouterConfig:
    """Options of :meth:`genehub.routing.Router.train`.

    Attributes:
        layer: feature layer (None: three quarters of the way up the host; bench/NOTES.md has how the
            default was chosen). At or below the first block any gene adapts, a composition routes
            inside its own forward pass.
        pooling: ``"mean"``, ``"last"`` or ``"mean+last"`` over the prompt's positions.
        threshold: minimum top probability to express a gene.
        steps, lr, weight_decay: the head's training (full-batch AdamW).
        validation_share: share of each class held out to measure ``accuracy["validation"]``.
        seed: seeds the split, the head, and a "none" prompts function.
    """

    layer: int | None = None
    pooling: str = "last"
    threshold: float = 0.5
    steps: int = 300
    lr: float = 0.05
    weight_decay: float = 1e-2
    validation_share: float = 0.2
    seed: int = 0

    def with_options(self, options: Mapping[str, Any]) -> RouterConfig:
        """This config with ``options`` (field names) replaced.

        Raises:
            UsageError: an option that is not a field.
        """
        unknown = sorted(set(options) - {f.name for f in dataclasses.fields(self)})
        if unknown:
            raise UsageError(f"Unknown router option {', '.join(unknown)}.",
                             hint="Use the fields of genehub.routing.RouterConfig: "
                                  + ", ".join(f.name for f in dataclasses.fields(self)) + ".")
        return dataclasses.replace(self, **options)
