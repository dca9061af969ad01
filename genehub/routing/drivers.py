"""How a composition drives its router: the trained head, or the genes' own prototypes.

:class:`~genehub.routing.Composition` takes either router and asks the same five things of it, through
a driver: which genes it knows, a decision per prompt in a pass of its own, a plan to decide *inside*
the composed forward pass (the layer to read, the tokens to pool, and what to do with the pooled
states), and a new driver when a gene is added or removed.

* :class:`HeadDriver` drives a trained :class:`~genehub.routing.Router` (a linear head on the host's
  states): adding a gene trains the head again (seconds).
* :class:`PrototypeDriver` drives a :class:`~genehub.routing.PrototypeRouter`: each gene brings its
  prototypes and threshold in its card, so adding a gene adds them (milliseconds, no training). When the
  router's encoder has a host part (the default: the sentence model and the host's states), the host
  part is read inside the composed pass wherever no gene acts below its layer, so routing costs the
  sentence model alone; the sentence part runs before the pass.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from ..errors import IncompatibleError, RouterError, UsageError
from ..gene import Gene
from ..hosts import HostInfo, require_compatible
from .encoders import chat_texts, encode_with_offsets, route_texts, user_messages
from .genes import NONE
from .prototype_router import PrototypeRouter
from .prototypes import load_prototypes
from .router import NonePrompts, Router, RoutingDecision


@dataclass(frozen=True)
class InPass:
    """A plan to route inside a forward pass: pool layer ``layer`` (``pooling``, over ``pool_mask``, or
    every real token when None) and hand the pooled states to ``decide``."""

    layer: int
    pooling: str
    pool_mask: torch.Tensor | None
    decide: Callable[[torch.Tensor], list[RoutingDecision]]


class Driver(ABC):
    """What a composition needs from a router (see the module's docstring)."""

    router: Any

    @property
    @abstractmethod
    def gene_names(self) -> list[str]:
        """The genes the router chooses among (adapter names)."""

    @property
    @abstractmethod
    def layer(self) -> int | None:
        """The host layer the router reads (None: it reads no hidden states)."""

    @abstractmethod
    def check(self, genes: Mapping[str, Gene], host_info: HostInfo) -> None:
        """Raise :class:`RouterError` / :class:`IncompatibleError` unless the router fits these genes and host."""

    @abstractmethod
    def route(self, model: Any, tokenizer: Any, prompts: Sequence[str], *, top_k: int,
              encoding: dict[str, torch.Tensor] | None = None) -> list[RoutingDecision]:
        """A decision per prompt, in a pass of the router's own."""

    @abstractmethod
    def in_pass(self, model: Any, tokenizer: Any, prompts: Sequence[str], encoding: dict[str, torch.Tensor], *,
                top_k: int) -> InPass | None:
        """A plan to decide inside the composed pass over ``encoding`` (None: it cannot, route first)."""

    @abstractmethod
    def with_gene(self, name: str, gene: Gene, genes: Mapping[str, Gene], *, model: Any, tokenizer: Any,
                  host_info: HostInfo) -> Driver:
        """The driver once ``gene`` is plugged in as ``name`` (``genes``: all of them, the new one included)."""

    @abstractmethod
    def without(self, name: str) -> Driver:
        """The driver once gene ``name`` is unplugged."""


class HeadDriver(Driver):
    """Drives a trained :class:`Router` (options: :meth:`Router.train`'s, to train it again when a gene is added)."""

    def __init__(self, router: Router, options: Mapping[str, Any] | None = None) -> None:
        self.router, self.options = router, dict(options or {})

    @property
    def gene_names(self) -> list[str]:
        return self.router.gene_names

    @property
    def layer(self) -> int | None:
        return self.router.layer

    def check(self, genes: Mapping[str, Gene], host_info: HostInfo) -> None:
        require_compatible(self.router.host, host_info, what="router")
        want = {g["name"]: g["revision"] for g in self.router.genes}
        have = {name: gene.digest for name, gene in genes.items()}
        if want != have:
            missing = sorted(set(have) - set(want))
            extra = sorted(set(want) - set(have))
            changed = sorted(n for n in set(want) & set(have) if want[n] != have[n])
            parts = [f"genes it does not know: {missing}" if missing else "",
                     f"genes it expects but are not plugged in: {extra}" if extra else "",
                     f"genes at another revision: {changed}" if changed else ""]
            raise RouterError("The router was trained for other genes (" + "; ".join(p for p in parts if p) + ").",
                              hint="Retrain it with `genehub router train --host H --genes ...` or pass router=None.")

    def route(self, model: Any, tokenizer: Any, prompts: Sequence[str], *, top_k: int,
              encoding: dict[str, torch.Tensor] | None = None) -> list[RoutingDecision]:
        return self.router.route(model, tokenizer, list(prompts), top_k=top_k, encoding=encoding)

    def in_pass(self, model: Any, tokenizer: Any, prompts: Sequence[str], encoding: dict[str, torch.Tensor], *,
                top_k: int) -> InPass | None:
        return InPass(self.router.layer, self.router.pooling, None,
                      lambda features: self.router.decide(list(prompts), features, top_k=top_k))

    def with_gene(self, name: str, gene: Gene, genes: Mapping[str, Gene], *, model: Any, tokenizer: Any,
                  host_info: HostInfo) -> Driver:
        router = Router.train(host_info, list(genes.values()), model=model, tokenizer=tokenizer, **self.options)
        return HeadDriver(router, self.options)

    def without(self, name: str) -> Driver:
        return HeadDriver(self.router.without(name), self.options)


class PrototypeDriver(Driver):
    """Drives a :class:`PrototypeRouter` over the genes' routing blocks (no training, ever).

    Args:
        router: the router.
        background: prompts the host answers by itself: a list, or a function of the genes' skills (and
            ``seed``) such as :func:`genehub.zoo.none_prompts`, called again when genes change (each
            prompt is encoded once: a gene added later only drops the prompts of its skill).
        skills: ``{gene: skill}`` of the router's genes.
    """

    def __init__(self, router: PrototypeRouter, background: NonePrompts | None = None,
                 skills: Mapping[str, str] | None = None) -> None:
        self.router = router
        self.background = background
        self.skills = dict(skills or {})
        self._vectors: dict[str, torch.Tensor] = {}
        if background is not None:
            self._set_background()

    def _set_background(self) -> None:
        source, skills = self.background, list(self.skills.values())
        prompts = [str(p) for p in (source(list(skills), seed=0) if callable(source) else source or [])]
        if not prompts:
            self.router.set_background(None)
            return
        texts = route_texts(self.router.tokenizer, prompts)
        new = sorted({t for t in texts if t not in self._vectors})
        if new:
            assert self.router.encoder is not None
            self._vectors.update(zip(new, self.router.encoder.encode(new)))
        self.router.set_background(torch.stack([self._vectors[t] for t in texts]))

    @property
    def gene_names(self) -> list[str]:
        return self.router.gene_names

    @property
    def layer(self) -> int | None:
        found = self.router.host_part()
        return None if found is None else found[0].layer

    def check(self, genes: Mapping[str, Gene], host_info: HostInfo) -> None:
        if sorted(self.router.gene_names) != sorted(genes):
            raise RouterError(f"The prototype router has genes {sorted(self.router.gene_names)}, the composition "
                              f"{sorted(genes)}.", hint="Build the router from the same genes (or pass router=None).")
        found = self.router.host_part()
        if found is not None and found[0].host != {"repo_id": host_info.repo_id, "revision": host_info.revision}:
            raise IncompatibleError(f"The router reads the states of {found[0].host['repo_id']}, not of "
                                    f"{host_info.repo_id}.", reasons=[f"encoder host: {found[0].host}"],
                                    hint="Build the genes' routing on this host (`genehub router card`).")

    def route(self, model: Any, tokenizer: Any, prompts: Sequence[str], *, top_k: int,
              encoding: dict[str, torch.Tensor] | None = None) -> list[RoutingDecision]:
        return self.router.route(list(prompts), top_k=top_k)

    def in_pass(self, model: Any, tokenizer: Any, prompts: Sequence[str], encoding: dict[str, torch.Tensor], *,
                top_k: int) -> InPass | None:
        """The plan to read the host part inside the pass. With a chat-template encoder the pass reads what
        the encoder reads only for prompts that are one user turn formatted as it formats them; the other
        rows of the batch (a raw completion prompt, several turns) are routed first, in a pass of the
        router's own over those rows alone, and the rest inside the pass (None when no row can be)."""
        found = self.router.host_part()
        if found is None:
            return None
        host, index = found
        prompts = list(prompts)
        offsets = encode_with_offsets(tokenizer, prompts)
        if not torch.equal(offsets["input_ids"], encoding["input_ids"].cpu()):
            return None  # tokenized another way than the encoder would: route in its own pass
        texts = list(prompts)
        inside = list(range(len(prompts)))
        if host.template == "chat":
            messages = user_messages(tokenizer, prompts)
            turns = [i for i, m in enumerate(messages) if m is not None]
            formatted = chat_texts(tokenizer, [messages[i] for i in turns], "chat") if turns else []
            inside = [i for i, text in zip(turns, formatted) if text == prompts[i]]
            if not inside:
                return None
            texts = [messages[i] if i in inside else p for i, p in enumerate(prompts)]  # type: ignore[misc]
        outside = [i for i in range(len(prompts)) if i not in inside]
        early = self.router.route([prompts[i] for i in outside], top_k=top_k) if outside else []
        read = [texts[i] for i in inside]
        mask = host.pool_mask(prompts, texts, offsets)  # an outside row pools its whole prompt, unread
        others = None
        if index is not None:  # the other parts (the sentence model) read the prompts before the pass
            parts = self.router.encoder.parts  # type: ignore[union-attr]
            others = [None if i == index else p.encode(read) for i, p in enumerate(parts)]

        def decide(pooled: torch.Tensor) -> list[RoutingDecision]:
            rows = pooled[torch.tensor(inside, device=pooled.device)] if outside else pooled
            chosen = self.router.decide(read, self.router.vectors_from_host(read, rows, others), top_k=top_k)
            out: list[RoutingDecision | None] = [None] * len(prompts)
            for i, d in [*zip(inside, chosen), *zip(outside, early)]:
                out[i] = d
            return out  # type: ignore[return-value]

        return InPass(host.layer, host.pooling, mask.to(encoding["attention_mask"].device), decide)

    def with_gene(self, name: str, gene: Gene, genes: Mapping[str, Gene], *, model: Any, tokenizer: Any,
                  host_info: HostInfo) -> Driver:
        if not isinstance(gene.card.get("routing"), Mapping):
            raise UsageError(f"Gene {gene.name} has no routing block, and this composition routes by the genes' "
                             "prototypes.", hint=f"Give it one with `genehub router card {gene.path} --host HOST "
                                                 "--general FILE`, then add it again.")
        self.router.add(load_prototypes(gene.path, card=gene.card))
        self.skills[name] = gene.skill
        if callable(self.background):
            self._set_background()
        return self

    def without(self, name: str) -> Driver:
        self.router.remove(name)
        self.skills.pop(name, None)
        if callable(self.background):
            self._set_background()
        return self


def has_routing(genes: Sequence[Gene]) -> bool:
    """Whether every gene carries a routing block (then a composition routes by their prototypes)."""
    return all(isinstance(g.card.get("routing"), Mapping) for g in genes)


def prototype_driver(genes: Mapping[str, Gene], *, model: Any, tokenizer: Any, host_info: HostInfo,
                     background: NonePrompts | None) -> PrototypeDriver:
    """A driver of the prototype router over ``genes``' routing blocks (checked against their files), its
    encoder rebuilt from the first block on this host, with ``background`` (see :class:`PrototypeDriver`)."""
    loaded = [load_prototypes(g.path, card=g.card) for g in genes.values()]
    router = PrototypeRouter.from_genes(loaded, model=model, tokenizer=tokenizer, host=host_info)
    unknown = sorted(set(router.gene_names) - set(genes))
    if unknown or NONE in router.gene_names:
        raise RouterError(f"Routing blocks name genes {unknown} the composition does not have.",
                          hint="Rebuild the genes' routing.")
    return PrototypeDriver(router, background, {name: g.skill for name, g in genes.items()})
