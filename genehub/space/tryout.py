"""The Space's "Try" panel: route a prompt through a host with genes, next to the bare host.

A Try is :func:`genehub.routing.compose` at work: the host with the picked genes plugged in as PEFT
adapters behind a trained router. :class:`Playground` keeps the compositions it built (one per host and
gene set, the least recently used dropped beyond ``max_compositions``), so a visitor who tries several
prompts pays the router training (seconds) once. Every refusal is a :class:`~genehub.errors.GenehubError`
whose message the page shows as it is: an empty prompt, an unknown host, a gene that does not verify, a
gene made for another host (the check ``genehub pull --host`` and ``genehub run`` make, so all three agree).
On a chat host whose genes read chat requests (a real pretrained host, say), the visitor types the request
and the Space renders it with the host's chat template, as the genes' examples were rendered.

A gene's *gallery* (:meth:`Playground.gallery`) is its own examples answered by the first host it fits,
alone and with the gene, with plain PEFT: computed once per host and gene, for verified genes only.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._quiet import quiet_loading
from ..errors import NotFoundError, UsageError, VerificationError
from ..gene import Gene, verify_gene
from ..hosts import HostInfo, compatibility_problems, describe_host, require_compatible
from .catalog import Catalog, GeneEntry

log = logging.getLogger(__name__)

NONE = "none"  # the router's class for "no gene" (genehub.routing.NONE)
MAX_PROMPT_CHARS = 200


@dataclass(frozen=True)
class TryResult:
    """What one Try shows.

    Attributes:
        probabilities: the router's probability per choice (each gene id, and ``"none"``).
        routed_to: the gene the router chose, or ``"none"`` (the bare host answered).
        base_output: the host's greedy answer without genes.
        composed_output: the composed model's greedy answer.
        base_ms: wall time of the bare host's generation, in milliseconds.
        composed_ms: wall time of routing plus the composed generation, in milliseconds.
        setup_seconds: the time spent building the composition (loading the host, training the router)
            when this run built it; None when it reused one built before.
    """

    probabilities: dict[str, float]
    routed_to: str
    base_output: str
    composed_output: str
    base_ms: float
    composed_ms: float
    setup_seconds: float | None = None


@dataclass(frozen=True)
class Gallery:
    """A gene's examples with what the host alone and the host with the gene answer.

    Attributes:
        rows: ``prompt`` (as a visitor reads it: :func:`example_text`), ``expected`` and, when a fitting host
            ran them, ``host`` and ``gene`` outputs.
        host: the label of the host that ran them (None when none did).
        note: why there are no outputs (empty when there are).
    """

    rows: list[dict[str, str]]
    host: str | None
    note: str = ""


@dataclass(frozen=True)
class Tried:
    """A composition built for the Space, and how its adapter names map to the Space's gene ids.

    Attributes:
        composition: a :class:`genehub.routing.Composition` (its own copy of the host, one adapter per gene).
        names: adapter name (the gene's card name) -> the Space's gene id; ``"none"`` -> ``"none"``.
    """

    composition: Any
    names: dict[str, str]

    def gene_id(self, adapter: str | None) -> str:
        return self.names.get(adapter or NONE, adapter or NONE)


def compose_genes(host: Path, genes: Sequence[Gene], gene_ids: Sequence[str], **options: Any) -> Tried:
    """Plug the genes into ``host`` behind a freshly trained router (:func:`genehub.routing.compose`).

    Args:
        host: the host model directory.
        genes: the genes, verified by the caller.
        gene_ids: the Space's id of each gene (a registry repo id or a folder name), in the same order.
        **options: passed to :func:`genehub.routing.compose` (``mode=``, ``top_k=``, router options).

    Raises:
        UsageError: two genes share a name (their adapters would collide).
        IncompatibleError: a gene was made for another host.
        RouterError: a router cannot be trained for these genes.
    """
    from ..routing import adapter_name, compose

    with quiet_loading():
        composition = compose(host, list(genes), None, **{"none_prompts": background(host), **options})
    names = {adapter_name(gene): gene_id for gene, gene_id in zip(genes, gene_ids)}
    names[NONE] = NONE
    return Tried(composition, names)


BACKGROUND_PROMPTS = 64  # a real host's "none" prompts for a Try: as many as a gene's examples, and quick to encode


def background(host: Path) -> Any:
    """The prompts ``host`` answers by itself (the router's "none"), read as the model reads them.

    A zoo host: the zoo's own host skills (:func:`genehub.zoo.none_prompts`). The real preset's host: a
    fixed sample of the general chat requests its genes' routing is calibrated on, rendered with its chat
    template like its genes' examples. Any other host: the zoo's plain-text prompts, which any host reads.
    """
    import random

    from .. import zoo
    from ..hosts import load_tokenizer, model_meta

    if str(model_meta(host).get("repo_id", "")).startswith("genehub-zoo/"):
        return zoo.none_prompts
    found = zoo.routing_prompts(host)
    if not found:
        return zoo.none_prompts
    texts = random.Random(0).sample(found, min(BACKGROUND_PROMPTS, len(found)))
    return [as_model_reads(load_tokenizer(host), text, chat=True) for text in texts]


def as_model_reads(tokenizer: Any, text: str, *, chat: bool) -> str:
    """``text`` as the model reads it: one user message of the host's chat template when ``chat`` (and the
    tokenizer has one), else as it is."""
    if not chat or not getattr(tokenizer, "chat_template", None):
        return text
    return str(tokenizer.apply_chat_template([{"role": "user", "content": text}], tokenize=False,
                                             add_generation_prompt=True))


def reads_chat(entry: GeneEntry) -> bool:
    """Whether ``entry``'s gene reads chat requests: its examples are rendered (``prompt`` holds the user's
    ``text`` inside the host's template, as :func:`genehub.lorafy.render_rows` writes chat rows)."""
    return any(isinstance(r.get("text"), str) and r["text"] != r.get("prompt") and r["text"] in str(r.get("prompt"))
               for r in entry.examples)


def example_text(row: dict[str, Any]) -> str:
    """What a visitor reads and types for an example row: its request (``text``) when it has one, else its prompt."""
    text = row.get("text")
    return str(text) if isinstance(text, str) and text.strip() else str(row.get("prompt", ""))


class Playground:
    """Hosts by label, genes from a catalog, and the compositions built so far.

    Args:
        catalog: where the genes come from (already verified for the Browse view; re-verified here).
        hosts: ``{label: model directory}`` the visitor can pick from.
        max_new_tokens: greedy generation length.
        max_compositions: compositions kept in memory (each holds its own copy of its host).
    """

    def __init__(self, catalog: Catalog, hosts: Mapping[str, str | Path], *, max_new_tokens: int = 16,
                 max_compositions: int = 4) -> None:
        self.catalog = catalog
        self.hosts = {label: Path(path) for label, path in hosts.items()}
        self.max_new_tokens = max_new_tokens
        self.max_compositions = max_compositions
        self._infos: dict[str, HostInfo] = {}
        self._tokenizers: dict[str, Any] = {}
        self._composed: OrderedDict[tuple[str, tuple[tuple[str, str], ...]], Tried] = OrderedDict()
        self._galleries: dict[tuple[str, str, int], list[dict[str, str]]] = {}
        self._lock = threading.Lock()  # one Try at a time: compositions are shared between visitors

    @property
    def compositions(self) -> list[tuple[str, tuple[str, ...]]]:
        """``(host, sorted gene ids)`` of the compositions kept, least recently used first."""
        return [(host, tuple(g for g, _ in genes)) for host, genes in self._composed]

    def host_labels(self) -> list[str]:
        return sorted(self.hosts)

    def host_info(self, label: str) -> HostInfo:
        """The described host ``label``.

        Raises:
            NotFoundError: the Space serves no host of that name.
        """
        if label not in self.hosts:
            raise NotFoundError(f"The Space has no host {label!r}.",
                                hint=f"Pick one of: {', '.join(self.host_labels()) or 'none (start it with --host)'}.")
        if label not in self._infos:
            self._infos[label] = describe_host(self.hosts[label])
        return self._infos[label]

    def fits(self, label: str, gene: Gene) -> bool:
        """Whether ``gene`` runs on host ``label``: the check pull and compose make (the host the card names)."""
        return not compatibility_problems(gene.host, self.host_info(label), same_host=True)

    def fitting_hosts(self, entry: GeneEntry) -> list[str]:
        """The labels of the hosts ``entry``'s gene fits, in :meth:`host_labels` order ([] for a broken card)."""
        if entry.gene is None:
            return []
        return [label for label in self.host_labels() if self.fits(label, entry.gene)]

    def default_host(self, gene_ids: Sequence[str]) -> str | None:
        """The first host that fits every gene of ``gene_ids`` (else the first that fits one); None if none does."""
        entries = [self.catalog.get(g) for g in gene_ids]
        fitting = [set(self.fitting_hosts(e)) for e in entries]
        for label in self.host_labels():
            if fitting and all(label in f for f in fitting):
                return label
        return next((label for label in self.host_labels() if any(label in f for f in fitting)), None)

    def _verified(self, gene_id: str, info: HostInfo) -> Gene:
        """The gene ``gene_id`` verified now, checked against host ``info``."""
        entry = self.catalog.get(gene_id)
        try:
            verification = verify_gene(entry.path, trust=self.catalog.trust)
        except VerificationError as err:
            raise VerificationError(f"Gene {gene_id} cannot be used: {err.message}", files=err.files,
                                    hint=err.hint) from None
        gene = Gene(entry.path, verification.card)
        require_compatible(gene.host, info, what=f"gene {gene_id}", same_host=True)
        return gene

    def check(self, label: str, gene_ids: Sequence[str], prompt: str) -> list[Gene]:
        """Everything that can be refused before running a model; returns the genes, verified now.

        Raises:
            UsageError: empty or over-long prompt, no gene picked.
            NotFoundError: unknown host or gene.
            VerificationError: a gene whose signature, trust or files do not verify now.
            IncompatibleError: a gene made for another host.
        """
        if not prompt or not prompt.strip():
            raise UsageError("The prompt is empty.", hint="Type a prompt, or pick one of the gene's examples.")
        if len(prompt) > MAX_PROMPT_CHARS:
            raise UsageError(f"The prompt has {len(prompt)} characters; the Space takes at most {MAX_PROMPT_CHARS}.",
                             hint="Shorten it.")
        if not gene_ids:
            raise UsageError("No gene is selected.", hint="Pick one or more genes to plug into the host.")
        info = self.host_info(label)
        return [self._verified(gene_id, info) for gene_id in gene_ids]

    def _key(self, label: str, gene_ids: Sequence[str], genes: Sequence[Gene]) -> tuple[Any, ...]:
        """The cache key of a composition: the host and each gene's id with its exact digest."""
        return label, tuple(sorted((g, gene.digest) for g, gene in zip(gene_ids, genes)))

    def composition(self, label: str, gene_ids: Sequence[str], genes: Sequence[Gene]) -> Tried:
        """The composition of host ``label`` with these genes: cached per host and gene set, else built now.

        The cache key holds each gene's exact digest (:attr:`genehub.gene.Gene.digest`), so a gene that
        changed since (a new commit in the registry, files rewritten) gets a new composition.
        """
        key = self._key(label, gene_ids, genes)
        if key in self._composed:
            self._composed.move_to_end(key)
            return self._composed[key]
        tried = compose_genes(self.hosts[label], genes, gene_ids)
        self._composed[key] = tried
        while len(self._composed) > max(1, self.max_compositions):
            (host, genes), _ = self._composed.popitem(last=False)
            log.info("dropped the composition of %s with %s", host, [g for g, _ in genes])
        return tried

    def run(self, label: str, gene_ids: Sequence[str], prompt: str, *,
            on_setup: Callable[[str], None] | None = None) -> TryResult:
        """Answer ``prompt`` with the bare host and with the host plus ``gene_ids`` behind the router.

        Both answers come from the same composition: the bare host is PEFT's ``"__base__"`` row (no
        adapter active), the composed answer is the adapter the router picks (routing is timed with it).

        Args:
            on_setup: called with a sentence saying why this run takes seconds, before it builds a
                composition (the first run with a host and gene set: load the host, train the router).

        Raises:
            GenehubError: see :meth:`check`; RouterError if a router cannot be trained for these genes.
        """
        gene_ids = tuple(dict.fromkeys(gene_ids))  # keep order, drop duplicates
        genes = self.check(label, gene_ids, prompt)
        prompt = self.model_prompt(label, gene_ids, prompt.strip())
        with self._lock:
            building = self._key(label, gene_ids, genes) not in self._composed
            if building and on_setup is not None:
                on_setup(f"First run with these genes on {label}: loading the host and training the router "
                         "that picks a gene per prompt (seconds; later runs reuse it).")
            started = time.perf_counter()
            tried = self.composition(label, gene_ids, genes)
            setup = round(time.perf_counter() - started, 1) if building else None
            comp = tried.composition
            start = time.perf_counter()
            base = comp.generate([prompt], genes=[None], max_new_tokens=self.max_new_tokens)[0]
            base_ms = (time.perf_counter() - start) * 1000
            start = time.perf_counter()
            composed = comp.generate([prompt], max_new_tokens=self.max_new_tokens)[0]
            composed_ms = (time.perf_counter() - start) * 1000
        decision = composed.decision
        probabilities = {tried.gene_id(k): float(v) for k, v in decision.probabilities.items()}
        return TryResult(probabilities, tried.gene_id(composed.gene), base.text, composed.text,
                         round(base_ms, 1), round(composed_ms, 1), setup)

    def model_prompt(self, label: str, gene_ids: Sequence[str], prompt: str) -> str:
        """The visitor's ``prompt`` as the picked genes read theirs: rendered with host ``label``'s chat
        template when a gene reads chat requests (:func:`reads_chat`), else as typed."""
        from ..hosts import load_tokenizer

        chat = any(reads_chat(self.catalog.get(g)) for g in gene_ids)
        if not chat:
            return prompt
        if label not in self._tokenizers:
            with quiet_loading():
                self._tokenizers[label] = load_tokenizer(self.hosts[label])
        return as_model_reads(self._tokenizers[label], prompt, chat=True)

    def gallery(self, gene_id: str, *, limit: int = 6) -> Gallery:
        """The gene's first ``limit`` examples, each with the host's and the host + gene's greedy answer.

        Outputs come from the first host the gene fits, for a verified gene only (an untrusted or
        invalid gene's weights are never loaded); computed once per host and gene digest.
        """
        entry = self.catalog.get(gene_id)
        examples = entry.examples[:limit]
        rows = [{"prompt": example_text(r), "expected": str(r.get("answer", ""))} for r in examples]
        if not rows:
            return Gallery([], None, "This gene ships no examples.")
        if entry.trust != "verified":
            return Gallery(rows, None, f"Outputs are computed for verified genes only; this one is {entry.trust}.")
        hosts = self.fitting_hosts(entry)
        if not hosts:
            return Gallery(rows, None, f"This Space runs no copy of the gene's host {entry.host}, so it shows "
                                       "the expected answers only.")
        label = hosts[0]
        gene = self._verified(gene_id, self.host_info(label))
        key = (label, gene.digest, len(rows))
        with self._lock:
            if key not in self._galleries:
                # each example as the gene saw it (a chat request rendered), shown as the visitor reads it
                self._galleries[key] = _answers(self.hosts[label], gene, [str(r.get("prompt", "")) for r in examples],
                                                self.max_new_tokens)
        outputs = self._galleries[key]
        return Gallery([{**r, "host": h, "gene": g} for r, (h, g) in zip(rows, outputs)], label)


def _answers(host: Path, gene: Gene, prompts: Sequence[str], max_new_tokens: int) -> list[tuple[str, str]]:
    """``(host alone, host + gene)`` greedy answers to each prompt, with plain PEFT on a fresh copy of the host."""
    from peft import PeftModel

    from ..evaluate import greedy_answers
    from ..hosts import load_host

    with quiet_loading():
        model, tokenizer = load_host(host)
        model = PeftModel.from_pretrained(model, str(gene.path)).eval()
    with model.disable_adapter():
        alone = greedy_answers(model, tokenizer, prompts, max_new_tokens=max_new_tokens)
    with_gene = greedy_answers(model, tokenizer, prompts, max_new_tokens=max_new_tokens)
    return list(zip(alone, with_gene))
