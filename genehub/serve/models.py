"""What the ``model`` field of a request means on genehub's server.

One server has one host and its genes, and offers three kinds of model id:

- ``NAME`` (the host's name, e.g. ``genehub-zoo/tiny-host``): route; the router picks a gene (or none)
  for each request;
- a gene's name (e.g. ``sort-gene``): that gene, whatever the router would say (oracle routing);
- ``NAME:base``: the bare host, no gene.

Anything else is an unknown model (404, as OpenAI answers).
"""

from __future__ import annotations

import time
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any, Literal

from .openai import RequestError

BASE_SUFFIX = ":base"


@dataclass(frozen=True)
class Target:
    """Where a request goes: ``route`` (the router decides), ``gene`` (that gene) or ``base`` (no gene)."""

    kind: Literal["route", "gene", "base"]
    gene: str | None = None


@dataclass(frozen=True)
class Served:
    """Who served a request: the gene (``None``: the bare host), and whether and how sure the router was."""

    gene: str | None
    routed: bool
    confidence: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"gene": self.gene, "routed": self.routed, "confidence": self.confidence}

    @property
    def header(self) -> str:
        """The ``X-Genehub-Gene`` header value: the gene's name, or ``none``."""
        return self.gene or "none"


def resolve_model(model: str, name: str, genes: Collection[str]) -> Target:
    """The :class:`Target` of a request's ``model`` field, or a 404 naming the models there are."""
    if model == name:
        return Target("route")
    if model == name + BASE_SUFFIX:
        return Target("base")
    if model in genes:
        return Target("gene", model)
    raise RequestError(404, f"The model {model!r} does not exist on this server.", param="model",
                       code="model_not_found",
                       hint=f"Use {name!r} (routed), {name + BASE_SUFFIX!r} (bare host) or a gene: "
                            f"{', '.join(sorted(genes)) or '(none)'}.")


def check_gene_names(name: str, genes: Collection[str]) -> None:
    """Refuse a gene whose name would shadow the routed or bare model id."""
    clash = sorted(g for g in genes if g in (name, name + BASE_SUFFIX))
    if clash:
        raise RequestError(409, f"Gene {clash[0]!r} has the name of this server's model.", code="name_conflict",
                           hint="Serve under another name (--name) or rename the gene in its gene.json.")


def model_list(name: str, genes: Collection[str]) -> dict[str, Any]:
    """The ``GET /v1/models`` body: the routed id, the bare host, then each gene (OpenAI's list format,
    with a ``genehub`` field saying which kind each id is)."""
    now = int(time.time())

    def entry(model_id: str, kind: str, parent: str | None) -> dict[str, Any]:
        return {"id": model_id, "object": "model", "created": now, "owned_by": "genehub", "root": name,
                "parent": parent, "genehub": {"kind": kind}}

    rows = [entry(name, "router", None), entry(name + BASE_SUFFIX, "base", None)]
    rows += [entry(g, "gene", name) for g in sorted(genes)]
    return {"object": "list", "data": rows}
