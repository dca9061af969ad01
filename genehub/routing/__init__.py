"""Routing and composition: plug genes into a host at inference behind a trained input-aware router.

    >>> from genehub.routing import Router, compose
    >>> router = Router.train(zoo.host, ["genes/sort", "genes/upper"], none_prompts=zoo.none_prompts)  # seconds
    >>> router.save("routers/sort-upper")
    >>> comp = compose(zoo.host, ["genes/sort", "genes/upper"], "routers/sort-upper", none_prompts=zoo.none_prompts)
    >>> for g in comp.generate(["sort cab:", "shout dog =", "copy cat:"]):
    ...     print(g.gene, g.text)
    sort-gene abc
    upper-gene DOG
    None cat
"""

from __future__ import annotations

from .compose import Composition, Generation, compose
from .config import RouterConfig
from .encoders import ConcatEncoder, Encoder, HostEncoder, SentenceEncoder, encoder_from_spec
from .features import host_features
from .genes import BASE_ADAPTER, NONE, adapter_name, load_genes, require_fit
from .prototype_router import PrototypeRouter
from .prototypes import GenePrototypes, build_routing, load_prototypes
from .router import NonePrompts, Router, RoutingDecision, validate_config
from .signing import sign_router, verify_router

__all__ = [
    "BASE_ADAPTER", "NONE", "Composition", "Generation", "NonePrompts", "Router", "RouterConfig", "RoutingDecision",
    "adapter_name", "compose", "host_features", "load_genes", "require_fit", "sign_router", "validate_config",
    "verify_router",
    "ConcatEncoder", "Encoder", "GenePrototypes", "HostEncoder", "PrototypeRouter", "SentenceEncoder",
    "build_routing", "encoder_from_spec", "load_prototypes",
]
