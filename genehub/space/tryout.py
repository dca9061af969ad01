"""The Space's "Try" panel: route a prompt through a host with genes, next to the bare host.

:class:`Playground` keeps loaded hosts and trained routers between calls (training a router head takes
seconds, loading a host less), so a visitor who tries several prompts pays that once. Every refusal is a
:class:`~genehub.errors.GenehubError` whose message the page shows as it is: an empty prompt, an unknown
host, a gene that does not verify, a gene made for another host.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import NotFoundError, UsageError, VerificationError
from ..gene import verify_gene
from ..hosts import HostInfo, describe_host, require_compatible
from .catalog import Catalog

log = logging.getLogger(__name__)

BASE = "__base__"  # PEFT's adapter name for "no adapter"
NONE = "none"  # the router's class for "no gene"
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
    """

    probabilities: dict[str, float]
    routed_to: str
    base_output: str
    composed_output: str
    base_ms: float
    composed_ms: float


@dataclass
class Composition:
    """A host with genes loaded as PEFT adapters, and the router that picks one per prompt.

    Attributes:
        router: a trained ``genehub.routing.Router`` for the genes.
        model: a ``PeftModel`` over its own copy of the host, one adapter per gene (named as the router's classes).
        tokenizer: the host's tokenizer.
        names: router class (adapter name) -> the Space's gene id; ``"none"`` -> ``"none"``.
    """

    router: Any
    model: Any
    tokenizer: Any
    names: dict[str, str]


def compose_genes(host: Path, gene_dirs: Sequence[Path], gene_ids: Sequence[str], *, router_model: Any,
                  tokenizer: Any) -> Composition:
    """Train a router for the genes on ``host`` and load them as adapters of one PEFT model.

    Uses ``genehub.routing.Router`` for the decision and PEFT's mixed-batch ``adapter_names`` contract
    (``"__base__"`` for none) for generation.

    Raises:
        UsageError: two genes share a name, or a gene has no examples.
        IncompatibleError: a gene was made for another host.
    """
    from peft import PeftModel

    from ..hosts import load_host
    from ..routing.genes import load_gene
    from ..routing.router import Router

    refs = [load_gene(d) for d in gene_dirs]
    router = Router.train(host, refs, model=router_model, tokenizer=tokenizer)
    base, _ = load_host(host)  # its own copy: PEFT injects adapters into the modules it wraps
    model = PeftModel.from_pretrained(base, str(refs[0].path), adapter_name=refs[0].name)
    for ref in refs[1:]:
        model.load_adapter(str(ref.path), adapter_name=ref.name)
    model.eval()
    names = {ref.name: gene_id for ref, gene_id in zip(refs, gene_ids)}
    names[NONE] = NONE
    return Composition(router, model, tokenizer, names)


class Playground:
    """Hosts by label, genes from a catalog, and the composed models built so far.

    Args:
        catalog: where the genes come from (already verified for the Browse view; re-verified here).
        hosts: ``{label: model directory}`` the visitor can pick from.
        max_new_tokens: greedy generation length.
    """

    def __init__(self, catalog: Catalog, hosts: Mapping[str, str | Path], *, max_new_tokens: int = 16) -> None:
        self.catalog = catalog
        self.hosts = {label: Path(path) for label, path in hosts.items()}
        self.max_new_tokens = max_new_tokens
        self._infos: dict[str, HostInfo] = {}
        self._models: dict[str, tuple[Any, Any]] = {}
        self._composed: dict[tuple[str, tuple[str, ...]], Composition] = {}
        self._lock = threading.Lock()  # one generation at a time: models are shared between visitors

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

    def check(self, label: str, gene_ids: Sequence[str], prompt: str) -> list[Path]:
        """Everything that can be refused before running a model; returns the genes' directories.

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
        dirs = []
        for gene_id in gene_ids:
            entry = self.catalog.get(gene_id)
            try:
                verify_gene(entry.path, trust=self.catalog.trust)
            except VerificationError as err:
                raise VerificationError(f"Gene {gene_id} cannot be used: {err.message}", files=err.files,
                                        hint=err.hint) from None
            require_compatible(entry.card["host"], info, what=f"gene {gene_id}")
            dirs.append(entry.path)
        return dirs

    def _host_model(self, label: str) -> tuple[Any, Any]:
        if label not in self._models:
            from ..hosts import load_host

            self._models[label] = load_host(self.hosts[label])
        return self._models[label]

    def _composition(self, label: str, gene_ids: tuple[str, ...], dirs: list[Path]) -> Composition:
        key = (label, gene_ids)
        if key not in self._composed:
            model, tokenizer = self._host_model(label)
            self._composed[key] = compose_genes(self.hosts[label], dirs, gene_ids, router_model=model,
                                                tokenizer=tokenizer)
        return self._composed[key]

    def run(self, label: str, gene_ids: Sequence[str], prompt: str) -> TryResult:
        """Answer ``prompt`` with the bare host and with the host plus ``gene_ids`` behind the router.

        Raises:
            GenehubError: see :meth:`check`; RouterError if a router cannot be trained for these genes.
        """
        gene_ids = tuple(dict.fromkeys(gene_ids))  # keep order, drop duplicates
        dirs = self.check(label, gene_ids, prompt)
        prompt = prompt.strip()
        from ..zoo import greedy_answers

        with self._lock:
            model, tokenizer = self._host_model(label)
            start = time.perf_counter()
            base = greedy_answers(model, tokenizer, [prompt], max_new_tokens=self.max_new_tokens)[0]
            base_ms = (time.perf_counter() - start) * 1000
            composed = self._composition(label, gene_ids, dirs)
            start = time.perf_counter()
            probabilities, routed, output = _route_and_generate(composed, model, prompt,
                                                                max_new_tokens=self.max_new_tokens)
            composed_ms = (time.perf_counter() - start) * 1000
        return TryResult(probabilities, routed, base, output, round(base_ms, 1), round(composed_ms, 1))


def _route_and_generate(composed: Composition, bare_model: Any, prompt: str, *,
                        max_new_tokens: int) -> tuple[dict[str, float], str, str]:
    """Route ``prompt`` with the bare host's features, then generate with the chosen adapter (or none)."""
    from ..zoo import greedy_answers

    decision = composed.router.route(bare_model, composed.tokenizer, [prompt])[0]
    adapter = decision.gene or BASE
    output = greedy_answers(composed.model, composed.tokenizer, [prompt], max_new_tokens=max_new_tokens,
                            adapter_names=[adapter])[0]
    probabilities = {composed.names.get(k, k): float(v) for k, v in decision.probabilities.items()}
    return probabilities, composed.names.get(decision.gene or NONE, NONE), output
