"""Routing and composition: plug genes into a host at inference behind a trained input-aware router.

    >>> from genehub.routing import Router, compose
    >>> router = Router.train(zoo.host, ["genes/sort", "genes/upper"])   # seconds
    >>> router.save("routers/sort-upper")
    >>> comp = compose(zoo.host, ["genes/sort", "genes/upper"], "routers/sort-upper")
    >>> for g in comp.generate(["sort cab:", "shout dog =", "copy cat:"]):
    ...     print(g.gene, g.text)
    sort-gene abc
    upper-gene DOG
    None cat
"""

from __future__ import annotations

from .compose import Composition, Generation, compose
from .encoders import ConcatEncoder, Encoder, HostEncoder, SentenceEncoder, encoder_from_spec
from .features import host_features
from .genes import BASE_ADAPTER, NONE, GeneRef, gene_revision, load_gene, require_fit
from .prototype_router import PrototypeRouter
from .prototypes import GenePrototypes, build_routing, load_prototypes
from .router import Router, RoutingDecision, default_none_rows, validate_config
from .signing import sign_router, verify_router

__all__ = [
    "BASE_ADAPTER", "NONE", "Composition", "GeneRef", "Generation", "Router", "RoutingDecision", "compose",
    "default_none_rows", "gene_revision", "host_features", "load_gene", "require_fit", "sign_router", "validate_config", "verify_router",
    "ConcatEncoder", "Encoder", "GenePrototypes", "HostEncoder", "PrototypeRouter", "SentenceEncoder",
    "build_routing", "encoder_from_spec", "load_prototypes",
]
