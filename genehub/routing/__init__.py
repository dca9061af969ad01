"""Routing and composition: plug genes into a host at inference, each prompt routed to its gene or to none.

Each gene's card carries its routing prototypes (:mod:`~genehub.routing.prototypes`), so a composition
routes with nothing to train, and a gene added later brings its own; a trained head over the host's
states (:class:`Router`) stays available.

    >>> from genehub.routing import compose, route_gene
    >>> for gene in ["genes/roman", "genes/upper"]:          # genehub extract does this itself
    ...     route_gene(gene, general_prompts, host="hosts/smollm2")
    >>> comp = compose("hosts/smollm2", ["genes/roman", "genes/upper"], none_prompts=general_prompts)
    >>> for g in comp.generate(chat(["Write 14 in Roman numerals.", "Shout 'hello'.", "Hello!"])):
    ...     print(g.gene, g.text)
    roman-gene XIV
    upper-gene HELLO
    None Hello! How can I help you today?
    >>> comp.add_gene("genes/binary")                         # hot, from its card: milliseconds to route
"""

from __future__ import annotations

from .compose import Composition, Generation, compose
from .config import RouterConfig
from .encoders import ConcatEncoder, Encoder, HostEncoder, SentenceEncoder, encoder_from_spec, make_encoder
from .features import host_features
from .genes import BASE_ADAPTER, NONE, adapter_name, load_genes, require_fit
from .prototype_router import PrototypeRouter
from .prototypes import GenePrototypes, build_routing, load_prototypes, route_gene
from .router import NonePrompts, Router, RoutingDecision, validate_config
from .signing import sign_router, verify_router

__all__ = [
    "BASE_ADAPTER", "NONE", "Composition", "Generation", "NonePrompts", "Router", "RouterConfig", "RoutingDecision",
    "adapter_name", "compose", "host_features", "load_genes", "require_fit", "sign_router", "validate_config",
    "verify_router",
    "ConcatEncoder", "Encoder", "GenePrototypes", "HostEncoder", "PrototypeRouter", "SentenceEncoder",
    "build_routing", "encoder_from_spec", "load_prototypes", "make_encoder", "route_gene",
]
