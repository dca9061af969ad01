"""genehub's router in front of an OpenAI-compatible upstream (vLLM's multi-LoRA server).

vLLM serves many LoRA adapters on one base and lets the client pick one with the ``model`` field, but has
no router of its own. The front does only that: it routes each request (batched, like the local engine)
and forwards it to the upstream with ``model`` set to the chosen gene or to the base model, streaming
passed through chunk by chunk. Sampling is the upstream's: the front forwards every other field as sent.

The upstream must serve every gene under its genehub name (``genehub export vllm`` writes the launch
command that does) and a base model; :meth:`VllmFront.connect` checks this before serving.

The router is any object with ``route(prompts) -> decisions`` (each with ``.gene`` and ``.confidence``).
By default it is :class:`SentenceRouter`: the genes' routing prototypes read with the sentence encoder
alone (all-MiniLM-L6-v2; the sentence part of a gene's default routing block), so the front loads no
host and reads no hidden states. A trained head over the host's states (:class:`HostRouter`) stays
available (``--router head`` or a router directory); it loads the host on the front.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

from starlette.responses import JSONResponse, Response, StreamingResponse

from ..errors import RouterError, UsageError
from .batching import Batcher, Ticket
from .config import ServeConfig
from .models import BASE_SUFFIX, Served, check_gene_names, model_list, resolve_model
from .openai import ChatCompletionRequest, CompletionRequest, RequestError

Kind = Literal["completion", "chat"]
_PATHS = {"completion": "/v1/completions", "chat": "/v1/chat/completions"}


class PromptRouter(Protocol):
    """What the front needs from a router: a decision (``.gene``, ``.confidence``) per prompt."""

    def route(self, prompts: Sequence[str]) -> Sequence[Any]: ...


class HostRouter:
    """genehub's :class:`~genehub.routing.Router` with the host it reads, as a :class:`PromptRouter`."""

    def __init__(self, router: Any, model: Any, tokenizer: Any) -> None:
        self.router, self.model, self.tokenizer = router, model, tokenizer

    @classmethod
    def load(cls, host: str | Path, genes: Sequence[str | Path], router: str | Path | None = None,
             **router_options: Any) -> HostRouter:
        """Load the host and the router for ``genes`` (trained now, in seconds, when ``router`` is None)."""
        from ..hosts import load_host
        from ..routing import Router, load_genes

        model, tokenizer = load_host(host)
        if router is None:
            return cls(Router.train(host, list(genes), model=model, tokenizer=tokenizer, **router_options), model, tokenizer)
        loaded = Router.load(router)
        want = {gene.digest: name for name, gene in load_genes(genes, what='The front').items()}
        have = {g["revision"]: g["name"] for g in loaded.genes}
        if want != have:
            raise RouterError(f"The router {router} was trained for other genes ({sorted(have.values())}) than "
                              f"{sorted(want.values())} (or other revisions of them).",
                              hint="Retrain it with `genehub router train --host H --genes ...`, or omit --router.")
        return cls(loaded, model, tokenizer)

    @property
    def host_name(self) -> str:
        return str(self.router.host.repo_id)

    @property
    def gene_names(self) -> list[str]:
        return list(self.router.gene_names)

    def route(self, prompts: Sequence[str]) -> list[Any]:
        return self.router.route(self.model, self.tokenizer, list(prompts))


class SentenceRouter:
    """The genes' prototypes in the sentence encoder's space, as a :class:`PromptRouter` (no host needed).

    A gene whose routing block is the sentence encoder's is read as it is; one whose block concatenates
    the sentence encoder with the host's states is read through its sentence part (that part's
    prototypes and threshold, :meth:`~genehub.routing.prototypes.GenePrototypes.part`). A gene with no
    such block gets prototypes made here from its ``examples.jsonl`` with the same sentence encoder,
    calibrated on the background prompts.
    """

    def __init__(self, router: Any, host_name: str) -> None:
        self.router, self.host_name = router, host_name

    @classmethod
    def load(cls, host: str | Path, genes: Sequence[str | Path], *, background: Any = None) -> SentenceRouter:
        """The router for ``genes`` (folders); ``background``: prompts the host answers by itself (a list,
        or a function of the genes' skills and ``seed``), the router's "none" side."""
        from ..gene import Gene
        from ..hosts import describe_host
        from ..routing import PrototypeRouter, adapter_name, load_genes
        from transformers import AutoTokenizer

        from ..routing.encoders import SentenceEncoder, encoder_from_spec, make_encoder, route_texts
        from ..routing.prototypes import GenePrototypes, load_prototypes

        loaded: dict[str, Gene] = load_genes(genes, what="The front")
        # The host's tokenizer only (no weights): prompts formatted in its chat template are read as the
        # user's message, as the genes' prototypes were.
        tokenizer = AutoTokenizer.from_pretrained(str(host))
        if callable(background):
            background = background([g.skill for g in loaded.values()], seed=0)
        background = route_texts(tokenizer, list(background or []))
        readable: dict[str, Any] = {}
        for name, gene in loaded.items():
            if isinstance(gene.card.get("routing"), dict):
                protos = load_prototypes(gene.path, card=gene.card)
                sentence = _sentence_part(protos)
                if sentence is not None:
                    readable[name] = sentence
        encoder = None
        if readable:
            first = next(iter(readable.values()))
            encoder = encoder_from_spec(first.encoder, tensors=first.encoder_tensors)
        missing = [n for n in loaded if n not in readable]
        if missing:
            if not background:
                raise UsageError(f"Genes {missing} have no routing block the front can read without the host.",
                                 hint="Give them one (`genehub router card GENE --host HOST --general FILE`), or "
                                      "pass --general FILE so the front can make one from their examples.")
            encoder = encoder or make_encoder("minilm", general=background)
            assert isinstance(encoder, SentenceEncoder)
            for name in missing:
                prompts = route_texts(tokenizer, [str(r["prompt"]) for r in loaded[name].examples()])
                readable[name] = GenePrototypes.build(adapter_name(loaded[name]), encoder, prompts, background)
        router = PrototypeRouter(encoder, [readable[n] for n in loaded], tokenizer=tokenizer)
        if background:
            router.set_background(encoder.encode(background))
        return cls(router, describe_host(host).repo_id)

    @property
    def gene_names(self) -> list[str]:
        return list(self.router.gene_names)

    def route(self, prompts: Sequence[str]) -> list[Any]:
        return self.router.route(list(prompts))


def _sentence_part(protos: Any) -> Any:
    """A gene's prototypes in the sentence encoder's space (its block, or its block's sentence part), or None."""
    if protos.encoder.get("kind") == "sentence-transformers":
        return protos
    for i, part in enumerate(protos.encoder.get("parts") or []):
        if part.get("kind") == "sentence-transformers":
            return protos.part(i)
    return None


@dataclass(eq=False)
class _RouteTicket(Ticket):
    text: str = ""


class VllmFront:
    """A backend for :func:`~genehub.serve.app.create_app` that routes here and generates upstream.

    Args:
        upstream: the upstream server's base URL (``http://127.0.0.1:8001``).
        router: a :class:`PromptRouter`.
        genes: the gene names the router chooses among (the upstream must serve each).
        name: the routed model id (``NAME:base`` is the bare host, as on the local engine).
        config: batching of routing decisions.
        base_model: the upstream's id for the bare host (default: found with :meth:`connect`).
        timeout: seconds to wait for the upstream's answer.
    """

    def __init__(self, upstream: str, router: PromptRouter, genes: Sequence[str], *, name: str,
                 config: ServeConfig | None = None, base_model: str | None = None, timeout: float = 600) -> None:
        if not upstream.startswith(("http://", "https://")):
            raise UsageError(f"Upstream {upstream!r} is not an http(s) URL.", hint="Pass e.g. --upstream http://127.0.0.1:8001.")
        self.upstream, self.router, self.name = upstream.rstrip("/"), router, name
        self.genes = list(genes)
        check_gene_names(name, self.genes)
        self.config = config or ServeConfig(name=name)
        self.base_model = base_model
        self.timeout = timeout
        self._client: Any = None
        self.batcher: Batcher[_RouteTicket] = Batcher(self._route_batch, max_batch=self.config.max_batch,
                                                      window_s=self.config.window_s, name="genehub-front-router")

    @classmethod
    def load(cls, upstream: str, host: str | Path, genes: Sequence[str | Path], router: str | Path | None = None, *,
             config: ServeConfig | None = None, base_model: str | None = None,
             none_prompts: Any = None) -> VllmFront:
        """A front for ``genes``, checked against the upstream (:meth:`connect`).

        Args:
            router: ``None`` or ``"prototypes"``: the genes' prototypes read with the sentence encoder
                (:class:`SentenceRouter`, no host loaded); ``"head"``: a head on the host's states trained
                now; a directory: that trained router (:class:`HostRouter`, loads the host).
            none_prompts: what the host answers by itself (a list or a function of the genes' skills).
        """
        from ..routing import load_genes

        names = list(load_genes(genes, what='The front'))
        routing: Any
        if router in (None, "prototypes"):
            routing = SentenceRouter.load(host, genes, background=none_prompts)
        else:
            routing = HostRouter.load(host, genes, None if router == "head" else router, none_prompts=none_prompts)
        config = config or ServeConfig()
        front = cls(upstream, routing, names, name=config.name or routing.host_name, config=config, base_model=base_model)
        front.connect()
        return front

    # ------------------------------------------------------------------------------------------ lifecycle
    def connect(self) -> str:
        """Check that the upstream serves every gene and find its base model id; returns that id.

        Raises:
            UsageError: the upstream cannot be reached, or lacks a gene or a base model.
        """
        import httpx

        try:
            reply = httpx.get(self.upstream + "/v1/models", timeout=30)
            reply.raise_for_status()
            rows = reply.json()["data"]
        except (httpx.HTTPError, ValueError, KeyError, TypeError) as err:
            raise UsageError(f"Cannot list the models of the upstream {self.upstream} ({err}).",
                             hint="Start it first (the launch.sh that `genehub export vllm` wrote) and check --upstream.") from None
        served = {str(r.get("id")): r for r in rows if isinstance(r, dict) and isinstance(r.get("id"), str)}
        missing = [g for g in self.genes if g not in served]
        if missing:
            raise UsageError(f"The upstream {self.upstream} does not serve the genes {missing} "
                             f"(it serves: {', '.join(sorted(served))}).",
                             hint="Launch it with the adapters of `genehub export vllm --genes ...` for the same genes.")
        if self.base_model is None:
            self.base_model = _base_model(served, self.genes, self.upstream)
        elif self.base_model not in served:
            raise UsageError(f"The upstream does not serve the base model {self.base_model!r}.",
                             hint=f"Pick one of: {', '.join(sorted(served))}.")
        return self.base_model

    def start(self) -> None:
        import httpx

        if self.base_model is None:
            self.connect()
        self._client = httpx.AsyncClient(timeout=httpx.Timeout(self.timeout, connect=10))
        self.batcher.start()

    def close(self) -> None:
        self.batcher.close()

    async def aclose(self) -> None:
        """Close the upstream connections (the app calls this on its own event loop, before :meth:`close`)."""
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def models(self) -> dict[str, Any]:
        return model_list(self.name, self.genes)

    def stats(self) -> dict[str, Any]:
        return {"backend": "vllm-front", "upstream": self.upstream, "base_model": self.base_model,
                "genes": self.genes, "batches": self.batcher.stats.to_dict()}

    # ------------------------------------------------------------------------------------------ routing
    def _route_batch(self, tickets: list[_RouteTicket]) -> None:
        decisions = self.router.route([t.text for t in tickets])
        for ticket, decision in zip(tickets, decisions, strict=True):
            if decision.gene is not None and decision.gene not in self.genes:
                ticket.fail(RouterError(f"The router chose {decision.gene!r}, which the front does not serve.",
                                        hint="Give the front the router trained for its --genes."))
            else:
                ticket.resolve(decision)

    async def _serve_as(self, req: CompletionRequest | ChatCompletionRequest) -> tuple[Served, str]:
        target = resolve_model(req.model, self.name, self.genes)
        if target.kind == "gene":
            return Served(target.gene, False), str(target.gene)
        if target.kind == "base":
            return Served(None, False), str(self.base_model)
        text = req.text if isinstance(req, CompletionRequest) else req.route_text
        decision = await self.batcher.submit(_RouteTicket(text=text))
        served = Served(decision.gene, True, round(float(decision.confidence), 6))
        return served, decision.gene or str(self.base_model)

    # ------------------------------------------------------------------------------------------ forwarding
    async def respond(self, kind: Kind, req: CompletionRequest | ChatCompletionRequest, body: dict[str, Any]) -> Response:
        import httpx

        served, upstream_model = await self._serve_as(req)
        headers = {"X-Genehub-Gene": served.header}
        request = self._client.build_request("POST", self.upstream + _PATHS[kind], json={**body, "model": upstream_model})
        try:
            reply = await self._client.send(request, stream=True)
        except httpx.HTTPError as err:
            raise RequestError(502, f"The upstream {self.upstream} did not answer ({type(err).__name__}: {err}).",
                               type="server_error", hint="Check that the upstream server is running.") from None
        if reply.status_code != 200 or not req.stream:
            content = await reply.aread()
            await reply.aclose()
            if reply.status_code != 200:  # the upstream's own error (e.g. a prompt over its context), as it said it
                return Response(content, status_code=reply.status_code, headers=headers,
                                media_type=reply.headers.get("content-type", "application/json"))
            return JSONResponse(self._annotate(json.loads(content), req.model, served), headers=headers)
        return StreamingResponse(self._relay(reply, req.model, served), media_type="text/event-stream",
                                 headers={**headers, "Cache-Control": "no-cache"})

    @staticmethod
    def _annotate(data: Any, model: str, served: Served) -> Any:
        if isinstance(data, dict):
            data["model"] = model  # the id the client asked for; which gene served it is in "genehub"
            data["genehub"] = served.to_dict()
        return data

    async def _relay(self, reply: Any, model: str, served: Served) -> AsyncIterator[bytes]:
        try:
            async for line in reply.aiter_lines():
                if line.startswith("data:") and line[5:].strip() not in ("", "[DONE]"):
                    try:
                        line = "data: " + json.dumps(self._annotate(json.loads(line[5:]), model, served), ensure_ascii=False)
                    except ValueError:
                        pass  # not JSON: pass it on as the upstream sent it
                yield (line + "\n").encode()
        finally:
            await reply.aclose()


def _base_model(served: dict[str, dict[str, Any]], genes: Sequence[str], upstream: str) -> str:
    """The upstream's id for the bare host: the one marked ``base`` (a genehub server), else the one model
    that is neither a gene nor an adapter of another (vLLM lists LoRA adapters with a ``parent``)."""
    marked = [i for i, r in served.items() if isinstance(r.get("genehub"), dict) and r["genehub"].get("kind") == "base"]
    if len(marked) == 1:
        return marked[0]
    bases = [i for i, r in served.items() if i not in genes and not r.get("parent") and not i.endswith(BASE_SUFFIX)]
    if len(bases) != 1:
        raise UsageError(f"Cannot tell which model of the upstream {upstream} is the bare host (candidates: {bases}).",
                         hint="Pass --base-model NAME (vLLM's --served-model-name).")
    return bases[0]
