"""Compose genes on a host at inference: every row of a batch gets the gene its router picks, or none.

One host in memory, every gene loaded as a named PEFT adapter, and one forward pass per batch in which
every row expresses its own gene. Two engines run such a mixed batch with the same result per row:
``"fused"`` (:mod:`genehub.routing.fused`: the batch's rows grouped by gene, each gene run on its own
rows over the prompt, each LoRA layer's genes concatenated and rows masked in one-token steps; faster
than PEFT's per-adapter loop, see bench/REPORT.md) and ``"peft"`` (PEFT's mixed adapter batches,
``adapter_names`` per row and ``"__base__"`` for the bare host). Genes are added and removed at run time
(``load_adapter`` / ``delete_adapter``) without reloading the host; adding one retrains the router head
(seconds), removing one drops its class.

The router is either the genes' own prototypes (:class:`~genehub.routing.PrototypeRouter`, the default
when every gene's card has a routing block: nothing to train, a gene added hot brings its prototypes)
or a trained head (:class:`~genehub.routing.Router`, trained again when a gene is added); the composition
drives both the same way (:mod:`genehub.routing.drivers`).

Routing normally reads the bare host up to the router's feature layer before the composed pass. When no
gene acts before that layer (e.g. the default prototype encoder's host layer 12 and genes on blocks 15
and up), the fused engine routes inside the composed pass instead: the router reads the layer on the way
up and the genes are switched on from there, so routing costs only what else the router reads (the
sentence model, the head) (:attr:`Composition.routes_in_pass`).

    >>> comp = compose(host, ["genes/roman", "genes/upper"], none_prompts=general)   # routes by their cards
    >>> [(g.gene, g.text) for g in comp.generate(["Write 12 in Roman numerals.", "Hello!"])]
    [('roman-gene', 'XII'), (None, 'Hello! How can I help you today?')]
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch

from ..errors import RouterError, UsageError
from ..gene import Gene
from ..hosts import HostInfo, describe_host, encode_prompts, load_host, model_device, pad_token_id
from .drivers import Driver, HeadDriver, PrototypeDriver, has_routing, prototype_driver
from .features import features_in_pass, first_adapted_block
from .fused import FusedGenes
from .genes import BASE_ADAPTER, adapter_name, load_genes, require_fit
from .prototype_router import PrototypeRouter
from .router import NonePrompts, Router, RoutingDecision

log = logging.getLogger(__name__)

Mode = Literal["top1", "topk"]
Engine = Literal["auto", "fused", "peft"]
ENGINES = ("auto", "fused", "peft")
_MAX_MIXES = 32  # merged top-k adapters kept at once


@dataclass(frozen=True)
class Generation:
    """One generated row: the prompt, the text after it, and the routing decision it was made under."""

    prompt: str
    text: str
    gene: str | None
    decision: RoutingDecision | None


class Composition:
    """A host with genes plugged in and a router choosing among them per prompt (see :func:`compose`)."""

    def __init__(self, model: Any, tokenizer: Any, host_info: HostInfo, genes: dict[str, Gene],
                 router: Router | PrototypeRouter | Driver, *, mode: Mode = "top1", top_k: int = 2, engine: Engine = "auto",
                 route_in_pass: bool = True, router_options: dict[str, Any] | None = None) -> None:
        if engine not in ENGINES:
            raise UsageError(f"Unknown engine {engine!r}.", hint=f"Use one of: {', '.join(ENGINES)}.")
        self.model = model
        self.tokenizer = tokenizer
        self.host_info = host_info
        self._genes = genes
        self.mode = mode
        self.top_k = top_k
        self.engine = engine
        self.route_in_pass = route_in_pass
        self._mixes: dict[str, str] = {}
        self._fused: FusedGenes | None = None
        self._first_gene_block = -1
        self._driver: Driver = (router if isinstance(router, Driver)
                                else PrototypeDriver(router) if isinstance(router, PrototypeRouter)
                                else HeadDriver(router, router_options))
        self._driver.check(genes, host_info)
        self._refresh_engine()

    @property
    def router(self) -> Router | PrototypeRouter:
        """The router: the genes' prototypes (:class:`PrototypeRouter`) or a trained head (:class:`Router`)."""
        return self._driver.router

    def _refresh_engine(self) -> None:
        """Rebuild the fused engine's concatenated weights (after genes were added or removed).

        ``engine="auto"`` uses the fused engine when it can run every gene and PEFT's mixed batches
        otherwise (logged); ``"fused"`` raises instead. :attr:`active_engine` says which one runs.
        """
        self._fused, self._first_gene_block = None, -1
        if self.engine == "peft":
            return
        reason = FusedGenes.supported(self.model, list(self._genes)) if self.engine == "auto" else None
        if reason is not None:
            log.warning("Composing with PEFT's mixed adapter batches: %s.", reason)
            return
        self._fused = FusedGenes(self.model, list(self._genes))
        self._first_gene_block = first_adapted_block(self.model, [layer.module for layer in self._fused.layers])

    @property
    def active_engine(self) -> str:
        """``"fused"`` or ``"peft"``: the engine that runs mixed batches now."""
        return "fused" if self._fused is not None else "peft"

    @property
    def routes_in_pass(self) -> bool:
        """Whether routed ``logits``/``generate`` calls decide inside their own forward pass.

        They can when no gene acts before the router's feature layer (``router.layer <=`` the first
        decoder block a gene adapts) and the fused engine runs: the first blocks of the pass are then the
        bare host's, so the router reads its features there, and the genes are switched on for the rest
        of the pass. Routing then costs the router's head alone, where otherwise it costs a separate pass
        of the bare host up to its layer. Same decisions and outputs either way (tested).
        """
        layer = self._driver.layer
        return self.route_in_pass and self._fused is not None and layer is not None and layer <= self._first_gene_block

    @property
    def genes(self) -> dict[str, Gene]:
        """The genes plugged in, by adapter name."""
        return dict(self._genes)

    # ------------------------------------------------------------------------------------------ routing
    def route(self, prompts: Sequence[str], *, encoding: dict[str, torch.Tensor] | None = None
              ) -> list[RoutingDecision]:
        """The router's decision for each prompt (gene or ``None``, confidence, per-class probabilities).

        Args:
            encoding: the prompts already tokenized (``logits`` and ``generate`` share theirs).
        """
        return self._driver.route(self.model, self.tokenizer, list(prompts), top_k=self._top_k, encoding=encoding)

    @property
    def _top_k(self) -> int:
        return self.top_k if self.mode == "topk" else 1

    def adapter_names(self, decisions: Sequence[RoutingDecision]) -> list[str]:
        """PEFT ``adapter_names`` for decisions: the gene, ``"__base__"``, or a merged top-k mix."""
        return [self._adapter_for(d) for d in decisions]

    def gene_weights(self, decision: RoutingDecision) -> dict[str, float]:
        """``{gene: weight}`` a row expresses: ``{}`` for none, the gene at 1.0 in top-1 mode, the top genes'
        weights (rounded to 0.05, so PEFT's cached merges can be reused) in top-k mode."""
        if decision.gene is None:
            return {}
        if self.mode == "topk":
            weights = {g: round(w * 20) / 20 for g, w in decision.weights.items() if round(w * 20)}
            if len(weights) > 1:
                return weights
        return {decision.gene: 1.0}

    def _adapter_for(self, decision: RoutingDecision) -> str:
        if decision.gene is None:
            return BASE_ADAPTER
        weights = self.gene_weights(decision)
        if len(weights) <= 1:
            # Top-1 (or top-k where one gene has all the weight): the gene itself, at full strength.
            return next(iter(weights))
        key = ",".join(f"{g}={w:.2f}" for g, w in sorted(weights.items()))
        if key not in self._mixes:
            if len(self._mixes) >= _MAX_MIXES:
                self._drop_mixes()
            name = "mix_" + hashlib.sha256(key.encode()).hexdigest()[:10]
            # "cat" stacks the LoRAs: exactly sum_i w_i * B_i A_i, no approximation.
            self.model.add_weighted_adapter(list(weights), list(weights.values()), adapter_name=name,
                                            combination_type="cat")
            self._mixes[key] = name
        return self._mixes[key]

    def _drop_mixes(self) -> None:
        for name in self._mixes.values():
            self.model.delete_adapter(name)
        self._mixes.clear()

    def _names_for(self, prompts: Sequence[str], genes: Sequence[str | None] | None,
                   encoding: dict[str, torch.Tensor] | None = None) -> tuple[list[str], list[RoutingDecision | None]]:
        if genes is None:
            decisions: list[RoutingDecision | None] = list(self.route(prompts, encoding=encoding))
            if self._fused is not None:  # the fused engine mixes top-k genes itself: no merged adapters
                return [d.gene or BASE_ADAPTER for d in decisions], decisions  # type: ignore[union-attr]
            return self.adapter_names(decisions), decisions  # type: ignore[arg-type]
        if len(genes) != len(prompts):
            raise UsageError(f"{len(genes)} genes for {len(prompts)} prompts.", hint="Pass one gene (or None) per prompt.")
        unknown = sorted({g for g in genes if g is not None and g not in self._genes})
        if unknown:
            raise UsageError(f"No gene {unknown} in this composition.", hint=f"Its genes: {', '.join(self._genes)}.")
        return [g or BASE_ADAPTER for g in genes], [None] * len(prompts)

    # ------------------------------------------------------------------------------------------ running
    def _encode(self, prompts: Sequence[str]) -> dict[str, torch.Tensor]:
        # One encoding rule for every stage (BOS unless the prompt starts with it), left-padded.
        return encode_prompts(self.tokenizer, list(prompts), device=model_device(self.model))

    def _rows(self, names: Sequence[str], decisions: Sequence[RoutingDecision | None]) -> list[dict[str, float]]:
        """``{gene: weight}`` per row for the fused engine (empty: the bare host)."""
        return [self.gene_weights(d) if d is not None else ({} if n == BASE_ADAPTER else {n: 1.0})
                for n, d in zip(names, decisions)]

    @contextmanager
    def _expressing(self, enc: dict[str, torch.Tensor], names: Sequence[str],
                    decisions: Sequence[RoutingDecision | None]) -> Iterator[tuple[dict[str, Any], torch.Tensor | None]]:
        """Run the block with each row expressing its gene.

        Yields the model's inputs (``enc`` plus the engine's extra kwargs) and, when the fused engine put
        rows of the same gene next to each other (so that each gene runs on its own slice of the batch),
        the permutation that puts the outputs back in the prompts' order (else ``None``).
        """
        if self._fused is None:
            yield {**enc, "adapter_names": list(names)}, None
            return
        rows = self._rows(names, decisions)
        order = self._fused.group_order(rows)
        if order == sorted(order):
            with self._fused.apply(rows):
                yield dict(enc), None
            return
        index = torch.tensor(order, device=enc["input_ids"].device)
        with self._fused.apply([rows[i] for i in order]):
            yield {k: v[index] for k, v in enc.items()}, torch.argsort(index)

    def _run(self, prompts: Sequence[str], enc: dict[str, torch.Tensor], genes: Sequence[str | None] | None,
             call: Callable[[dict[str, Any], torch.Tensor | None], torch.Tensor],
             on_route: Callable[[list[RoutingDecision]], None] | None = None
             ) -> tuple[torch.Tensor, list[str], list[RoutingDecision | None]]:
        """``call(inputs, back)`` with each row expressing its gene (``genes``, or the router's choice,
        handed to ``on_route`` as soon as it is made: inside the pass, or before it).

        ``back`` is the permutation that puts the model's rows back in the prompts' order (``None`` when
        they are in it). Returns the output rows in the prompts' order, the adapter name per row and the decisions.
        """
        plan = self._driver.in_pass(self.model, self.tokenizer, prompts, enc, top_k=self._top_k) \
            if genes is None and self.routes_in_pass else None
        if plan is not None:
            decisions: list[RoutingDecision] = []
            fused = self._fused
            assert fused is not None  # routes_in_pass needs the fused engine
            with ExitStack() as stack:
                def express(features: torch.Tensor) -> None:  # called inside the pass, at the router's layer
                    decisions.extend(plan.decide(features))
                    if on_route is not None:
                        on_route(list(decisions))
                    stack.enter_context(fused.apply([self.gene_weights(d) for d in decisions]))

                stack.enter_context(features_in_pass(self.model, enc["attention_mask"], layer=plan.layer,
                                                     pooling=plan.pooling, then=express, pool_mask=plan.pool_mask))
                out = call(enc, None)
            if len(decisions) != len(prompts):
                raise RouterError(f"The forward pass never reached the router's layer {plan.layer}.",
                                  hint="Compose with route_in_pass=False.")
            return out, [d.gene or BASE_ADAPTER for d in decisions], list(decisions)
        names, decisions_ = self._names_for(prompts, genes, enc)
        if on_route is not None and genes is None:
            on_route(list(decisions_))  # type: ignore[arg-type]
        with self._expressing(enc, names, decisions_) as (inputs, back):
            out = call(inputs, back)
        return (out if back is None else out[back]), names, decisions_

    @torch.no_grad()
    def logits(self, prompts: Sequence[str], *, genes: Sequence[str | None] | None = None) -> torch.Tensor:
        """Next-token logits ``(batch, seq, vocab)`` of one mixed-batch forward (left-padded).

        Args:
            genes: one gene name (or ``None`` for the bare host) per prompt, instead of the router's choice.
        """
        enc = self._encode(prompts)
        enc["position_ids"] = (enc["attention_mask"].cumsum(-1) - 1).clamp(min=0)
        return self._run(prompts, enc, genes, lambda inputs, _: self.model(**inputs).logits)[0]

    @torch.no_grad()
    def generate(self, prompts: Sequence[str], *, max_new_tokens: int = 16,
                 genes: Sequence[str | None] | None = None, on_step: Callable[[list[int]], None] | None = None,
                 on_route: Callable[[list[RoutingDecision]], None] | None = None,
                 **generate_kwargs: Any) -> list[Generation]:
        """Route each prompt and generate greedily, the whole batch in one mixed-adapter ``generate``.

        Args:
            prompts: the batch.
            max_new_tokens: tokens to generate per row.
            genes: one gene name (or ``None``) per prompt, overriding the router (oracle routing).
            on_step: called after each decoding step with the new token id of every prompt, in the prompts'
                order (rows that have finished get the pad token); for streaming.
            on_route: called once with the router's decision for every prompt, in order, as soon as they
                are made (inside the pass when it routes there): before the first new token. Not called
                when ``genes`` is given.
            **generate_kwargs: passed to ``generate`` (e.g. ``min_new_tokens``).

        Returns:
            One :class:`Generation` per prompt, in order.
        """
        prompts = list(prompts)
        enc = self._encode(prompts)
        out, names, decisions = self._run(prompts, enc, genes, lambda inputs, back: self.model.generate(
            **inputs, max_new_tokens=max_new_tokens, do_sample=False, eos_token_id=self.tokenizer.eos_token_id,
            pad_token_id=pad_token_id(self.tokenizer), streamer=None if on_step is None else _Steps(on_step, back),
            **generate_kwargs), on_route)
        new = out[:, enc["input_ids"].shape[1]:]
        texts = [self.tokenizer.decode(row, skip_special_tokens=True) for row in new]
        return [Generation(p, t, None if n == BASE_ADAPTER else (d.gene if d else n), d)
                for p, t, n, d in zip(prompts, texts, names, decisions)]

    # ------------------------------------------------------------------------------------------ hot swap
    def add_gene(self, gene: str | Path | Gene, *, router: Router | PrototypeRouter | None = None) -> str:
        """Plug a gene in while the composition runs; returns its adapter name.

        The host is not reloaded: the adapter is loaded beside the others. A prototype router takes the
        gene's prototypes from its card (milliseconds, no training); a trained head is trained again on
        the bare host's features (seconds) unless a ``router`` for the new gene set is given.

        Raises:
            IncompatibleError: the gene was made for another host, tokenizer or shapes (nothing changes).
            UsageError: a gene of that name is already plugged in, or it has no routing block and the
                composition routes by prototypes.
        """
        gene = gene if isinstance(gene, Gene) else Gene.load(gene)
        name = adapter_name(gene)
        if name in self._genes:
            raise UsageError(f"Gene {name} is already plugged in.", hint="Remove it first with remove_gene.")
        require_fit(gene, self.host_info, self.model)
        self.model.load_adapter(str(gene.path), adapter_name=name)
        genes = {**self._genes, name: gene}
        try:
            if router is not None:
                driver: Driver = (PrototypeDriver(router) if isinstance(router, PrototypeRouter)
                                  else HeadDriver(router, getattr(self._driver, "options", None)))
            else:
                driver = self._driver.with_gene(name, gene, genes, model=self.model, tokenizer=self.tokenizer,
                                                host_info=self.host_info)
            driver.check(genes, self.host_info)
        except BaseException:
            if name in self._driver.gene_names and isinstance(self._driver, PrototypeDriver):
                self._driver.without(name)  # its prototypes went in before the check failed
            self.model.delete_adapter(name)
            raise
        self._drop_mixes()
        self._genes, self._driver = genes, driver
        self._refresh_engine()
        return name

    def remove_gene(self, name: str) -> None:
        """Unplug a gene while the composition runs: its adapter is deleted and its router class dropped."""
        if name not in self._genes:
            raise UsageError(f"No gene {name!r} in this composition.", hint=f"Its genes: {', '.join(self._genes)}.")
        if len(self._genes) == 1:
            raise UsageError("Cannot remove the last gene of a composition.", hint="Use the bare host instead.")
        self._drop_mixes()
        self.model.delete_adapter(name)
        self._driver = self._driver.without(name)
        self._genes = {k: v for k, v in self._genes.items() if k != name}
        self._refresh_engine()


class _Steps:
    """A ``generate`` streamer that hands each step's new tokens to ``on_step``, rows in the prompts' order."""

    def __init__(self, on_step: Callable[[list[int]], None], back: torch.Tensor | None) -> None:
        self.on_step, self.back, self.prompt_seen = on_step, None if back is None else back.cpu(), False

    def put(self, value: torch.Tensor) -> None:
        if not self.prompt_seen:  # generate's first call hands over the prompts themselves
            self.prompt_seen = True
            return
        self.on_step((value if self.back is None else value[self.back]).tolist())

    def end(self) -> None:
        pass


def compose(host: str | Path, genes: Sequence[str | Path | Gene],
            router: Router | PrototypeRouter | str | Path | None = None, *, mode: Mode = "top1", top_k: int = 2,
            engine: Engine = "auto", route_in_pass: bool = True, model: Any | None = None, tokenizer: Any | None = None,
            none_prompts: NonePrompts | None = None, **router_options: Any) -> Composition:
    """Plug ``genes`` into ``host`` behind a router.

    Args:
        host: the host directory.
        genes: gene directories (or loaded :class:`~genehub.gene.Gene` objects), each checked against the host
            before loading.
        router: a :class:`PrototypeRouter` or a trained :class:`Router`; a router directory; ``"prototypes"``
            (the genes' routing blocks: nothing to train); ``"head"`` (train a head now, seconds); or
            ``None``: prototypes when every gene has a routing block, else a head.
        mode: ``"top1"`` (each row gets its top gene) or ``"topk"`` (the top ``top_k`` genes, weighted by
            the router's probabilities; exact: ``sum_i w_i B_i A_i``).
        engine: ``"fused"`` (each LoRA layer's genes in one masked pair of products, see
            :mod:`genehub.routing.fused`), ``"peft"`` (PEFT's mixed adapter batches; top-k mixes are
            merged with PEFT's ``cat`` combination and cached), or ``"auto"`` (the default: fused when
            it can run every gene, else PEFT's). Same outputs per row; fused is faster.
        route_in_pass: route inside the forward pass when no gene acts before the router's feature
            layer (see :attr:`Composition.routes_in_pass`); ``False`` always runs the router's own pass.
        model, tokenizer: the bare host already loaded (it becomes the composition's ``PeftModel``).
        none_prompts: prompts the host answers without a gene (a list, or a function of the genes' skills
            and ``seed``, e.g. :func:`genehub.zoo.none_prompts`): a head's "none" class, and the prototype
            router's background (a gene must beat the nearest of them by a margin; without them only the
            genes' thresholds guard against false activation).
        **router_options: passed to :meth:`Router.train` (now and when a gene is added later).

    Returns:
        A :class:`Composition`.

    Raises:
        IncompatibleError: a gene (or the router) was made for another host, tokenizer or shapes; the
            message names the gene and each mismatch.
        RouterError: the router was trained for other genes or revisions.
        UsageError: ``router="prototypes"`` and a gene has no routing block.
    """
    from peft import PeftModel

    if mode not in ("top1", "topk"):
        raise UsageError(f"Unknown mode {mode!r}.", hint="Use 'top1' or 'topk'.")
    by_name = load_genes(genes, what="compose")
    host_info = describe_host(host)
    for gene in by_name.values():
        require_fit(gene, host_info)  # the card's host, before spending time on loading the model
    kind = router if router in ("prototypes", "head") else None
    if router is None:
        kind = "prototypes" if has_routing(list(by_name.values())) else "head"
    if kind == "prototypes" and not has_routing(list(by_name.values())):
        missing = [n for n, g in by_name.items() if not has_routing([g])]
        raise UsageError(f"Genes {missing} have no routing block to route by.",
                         hint="Give them one with `genehub router card GENE --host HOST --general FILE`, or use "
                              "a trained head (router='head').")
    if model is None or tokenizer is None:
        model, tokenizer = load_host(host)
    for gene in by_name.values():
        require_fit(gene, host_info, model)
    if kind is None and isinstance(router, (str, Path)):
        router = Router.load(router)
    (first, first_gene), *rest = by_name.items()
    peft_model = PeftModel.from_pretrained(model, str(first_gene.path), adapter_name=first)
    for name, gene in rest:
        peft_model.load_adapter(str(gene.path), adapter_name=name)
    peft_model.eval()
    options = {**router_options, "none_prompts": none_prompts} if none_prompts is not None else dict(router_options)
    if kind == "head":
        router = Router.train(host_info, list(by_name.values()), model=peft_model, tokenizer=tokenizer, **options)
    elif kind == "prototypes":
        if none_prompts is None:
            log.warning("Routing by prototypes without background prompts: only each gene's threshold keeps "
                        "general prompts from its gene (pass none_prompts= what the host answers alone).")
        router = prototype_driver(by_name, model=peft_model, tokenizer=tokenizer, host_info=host_info,
                                  background=none_prompts)
    elif isinstance(router, PrototypeRouter):
        router = PrototypeDriver(router, none_prompts, {name: g.skill for name, g in by_name.items()}) \
            if none_prompts is not None else router
    assert isinstance(router, (Router, PrototypeRouter, Driver))
    return Composition(peft_model, tokenizer, host_info, by_name, router, mode=mode, top_k=top_k, engine=engine,
                       route_in_pass=route_in_pass, router_options=options)
