"""The local engine behind ``genehub serve``: requests batched into one :meth:`Composition.generate` each.

Every request becomes a :class:`Job` in the :class:`~genehub.serve.batching.Batcher`. A batch runs as one
mixed-gene ``generate`` (greedy) with as many new tokens as its longest request asks for; each row follows
its own limits (``max_tokens``, ``stop``, the end-of-sequence token), and the batch stops once every row is
done; requests with vLLM's ``min_tokens`` extension run as one ``generate`` per distinct value. Tokens reach
each request as they are decoded, so streamed requests stream for real.

Routing: a batch of routed requests that route on their own prompt lets the composition route inside its
forward pass; a batch holding streamed requests (whose gene must be known before the first byte goes out),
chat requests (routed on their last user message) or requests for a named gene or the bare host is routed
first with :meth:`Composition.route` and then generated with the genes fixed. Same decisions either way.
"""

from __future__ import annotations

import asyncio
import copy
import shutil
import tempfile
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from starlette.responses import JSONResponse, Response, StreamingResponse

from ..errors import GenehubError, IncompatibleError, RouterError, UsageError
from ..hosts import prompt_ids
from .admin import stage_verified_gene
from .batching import Batcher, Ticket
from .config import ServeConfig
from .models import Served, Target, check_gene_names, model_list, resolve_model
from .openai import (
    ChatCompletionRequest,
    CompletionRequest,
    RequestError,
    chunk_body,
    greedy_only,
    new_id,
    render_chat,
    response_body,
    sse,
    usage,
)

Kind = Literal["completion", "chat"]


@dataclass(frozen=True)
class Completion:
    """A finished request: the text, why it ended, token counts, and who served it."""

    text: str
    finish_reason: str
    prompt_tokens: int
    completion_tokens: int
    served: Served


@dataclass(eq=False)
class Job(Ticket):
    """One request in a batch. ``on_event`` (streaming) gets ``("start", Served)`` then ``("delta", text)``s."""

    prompt: str = ""
    route_text: str = ""
    target: Target = Target("route")
    max_tokens: int = 16
    stops: list[str] = field(default_factory=list)
    min_tokens: int = 0
    prompt_tokens: int = 0
    on_event: Callable[[str, Any], None] | None = None
    cancelled: bool = False


class _Row:
    """A job's progress inside a running batch: its tokens, its text, what it has streamed."""

    def __init__(self, job: Job, tokenizer: Any, eos: int | None, served: Served | None) -> None:
        self.job, self.tokenizer, self.eos, self.served = job, tokenizer, eos, served
        self.ids: list[int] = []
        self.text, self.sent, self.finish = "", 0, ""

    @property
    def done(self) -> bool:
        return bool(self.finish) or self.job.cancelled

    def step(self, token: int) -> None:
        if self.done:
            return
        if token == self.eos:
            self._end("stop")
            return
        self.ids.append(token)
        self.text = self.tokenizer.decode(self.ids, skip_special_tokens=True)
        hits = [i for i in (self.text.find(s) for s in self.job.stops) if i >= 0]
        if hits:
            self.text = self.text[:min(hits)]
            self._end("stop")
        elif len(self.ids) >= self.job.max_tokens:
            self._end("length")
        else:
            self._emit(self._safe_length())

    def _safe_length(self) -> int:
        """How much of the text can go out: not a half-decoded character, not what may start a stop string."""
        end = len(self.text)
        while end > self.sent and self.text[end - 1] == "\ufffd":
            end -= 1
        for stop in self.job.stops:
            for k in range(min(len(stop) - 1, end), 0, -1):
                if self.text[:end].endswith(stop[:k]):
                    end -= k
                    break
        return max(end, self.sent)

    def _emit(self, end: int) -> None:
        if self.job.on_event is not None and end > self.sent:
            self.job.on_event("delta", self.text[self.sent:end])
        self.sent = end

    def _end(self, reason: str) -> None:
        self.finish = reason
        self._emit(len(self.text))
        if self.served is not None:
            self.resolve(self.served)

    def resolve(self, served: Served) -> None:
        self.job.resolve(Completion(self.text, self.finish or "length", self.job.prompt_tokens, len(self.ids), served))


def _routed(decision: Any) -> Served:
    """What served a row the router chose for."""
    return Served(decision.gene, True, round(decision.confidence, 6))


class _AllDone:
    """A ``generate`` stopping criterion: stop the whole batch once every row is done (rows have their own
    limits; ``generate`` only knows the longest)."""

    def __init__(self, rows: list[_Row]) -> None:
        self.rows = rows

    def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
        import torch

        return torch.full((input_ids.shape[0],), all(r.done for r in self.rows), dtype=torch.bool,
                          device=input_ids.device)


class LocalBackend:
    """``genehub serve`` on a :class:`~genehub.routing.Composition` in this process.

    Args:
        composition: the host with its genes and router (see :func:`genehub.routing.compose`).
        config: batching, limits, name and admin token.
        trust: the trust store hot-added genes must verify against (default: the user's).
    """

    def __init__(self, composition: Any, config: ServeConfig | None = None, *, trust: Any | None = None) -> None:
        self.comp = composition
        self.config = config or ServeConfig()
        self.name = self.config.name or composition.host_info.repo_id
        check_gene_names(self.name, composition.genes)
        self.trust = trust
        self.context = int(getattr(composition.model.config, "max_position_embeddings", 0) or 2048)
        self.max_prompt_tokens = self.config.max_prompt_tokens or self.context - 1
        # The batch thread owns the composition's tokenizer; requests are counted with a copy of it
        # (a fast tokenizer must not be used from two threads at once).
        self._tokenizer = copy.deepcopy(composition.tokenizer)
        self._lock = threading.Lock()  # one batch or one gene change at a time
        self._staging = Path(tempfile.mkdtemp(prefix="genehub-serve-"))
        self._staged: dict[str, Path] = {}
        self.batcher: Batcher[Job] = Batcher(self._run_batch, max_batch=self.config.max_batch,
                                             window_s=self.config.window_s, name="genehub-serve-batcher")

    @classmethod
    def load(cls, host: str | Path, genes: list[str | Path], router: str | Path | None = None, *,
             config: ServeConfig | None = None, engine: str = "auto", verify: bool = False,
             trust: Any | None = None, none_prompts: Any = None) -> LocalBackend:
        """Compose ``genes`` on ``host`` behind ``router`` (trained now when None) and serve that.

        Args:
            none_prompts: what the host does alone, for the router trained now or when a gene is added
                (see :class:`genehub.routing.Router`).
            verify: refuse to start unless every gene verifies against the trust store (genes added
                later through the admin endpoints always must).
        """
        from ..gene import verify_gene
        from ..routing import compose

        if verify:
            for gene in genes:
                verify_gene(gene, trust=trust)
        # none_prompts also trains the router again when a gene is added through the admin endpoints.
        return cls(compose(host, genes, router, engine=engine, none_prompts=none_prompts), config,  # type: ignore[arg-type]
                   trust=trust)

    # ------------------------------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        self.batcher.start()

    def close(self) -> None:
        self.batcher.close()
        shutil.rmtree(self._staging, ignore_errors=True)

    @property
    def genes(self) -> list[str]:
        return list(self.comp.genes)

    def models(self) -> dict[str, Any]:
        return model_list(self.name, self.genes)

    def stats(self) -> dict[str, Any]:
        return {"backend": "local", "engine": self.comp.active_engine, "genes": self.genes,
                "batches": self.batcher.stats.to_dict()}

    # ------------------------------------------------------------------------------------------ requests
    def job(self, kind: Kind, req: CompletionRequest | ChatCompletionRequest) -> Job:
        """Check a request against the server's limits and turn it into a :class:`Job` (or raise 4xx)."""
        greedy_only(req)
        target = resolve_model(req.model, self.name, self.genes)
        if isinstance(req, CompletionRequest):
            prompt = route_text = req.text
            limit = req.max_tokens or self.config.default_max_tokens
        else:
            try:
                prompt = render_chat(self._tokenizer, req.messages)
            except RequestError:
                raise
            except Exception as err:  # the host's chat template refused these messages (jinja raises its own errors)
                raise RequestError(400, f"The host's chat template cannot render these messages ({err}).",
                                   param="messages", hint="Send the roles the template expects.") from None
            route_text, limit = req.route_text, req.token_limit
        if not prompt:
            raise RequestError(400, "The prompt is empty.", param="prompt", hint="Send a non-empty prompt.")
        n_prompt = len(prompt_ids(self._tokenizer, prompt))  # as the composition will encode it
        if n_prompt > self.max_prompt_tokens:
            raise RequestError(400, f"The prompt is {n_prompt} tokens, over this server's limit of "
                                    f"{self.max_prompt_tokens}.", param="prompt" if kind == "completion" else "messages",
                               code="context_length_exceeded", hint="Shorten the prompt.")
        if limit is None:  # a chat request without a limit: what the context has left
            limit = min(self.config.max_tokens, self.context - n_prompt)
        if limit > self.config.max_tokens:
            raise RequestError(400, f"max_tokens {limit} is over this server's limit of {self.config.max_tokens}.",
                               param="max_tokens", hint=f"Ask for at most {self.config.max_tokens} tokens.")
        if n_prompt + limit > self.context:
            raise RequestError(400, f"This model's context is {self.context} tokens, but the prompt ({n_prompt}) "
                                    f"plus max_tokens ({limit}) need {n_prompt + limit}.", param="max_tokens",
                               code="context_length_exceeded", hint="Lower max_tokens or shorten the prompt.")
        if req.min_tokens > limit:
            raise RequestError(400, f"min_tokens {req.min_tokens} is over max_tokens {limit}.", param="min_tokens",
                               hint="Ask for min_tokens <= max_tokens.")
        return Job(prompt=prompt, route_text=route_text, target=target, max_tokens=limit, stops=req.stops,
                   min_tokens=req.min_tokens, prompt_tokens=n_prompt)

    async def respond(self, kind: Kind, req: CompletionRequest | ChatCompletionRequest, body: dict[str, Any]) -> Response:
        """Answer a parsed request: a JSON body, or a stream of server-sent events."""
        job = self.job(kind, req)
        rid = new_id(kind)
        if not req.stream:
            done: Completion = await self.batcher.submit(job)
            out = response_body(kind, id=rid, model=req.model, text=done.text, finish_reason=done.finish_reason,
                                prompt_tokens=done.prompt_tokens, completion_tokens=done.completion_tokens,
                                genehub=done.served.to_dict())
            return JSONResponse(out, headers={"X-Genehub-Gene": done.served.header})
        events: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        loop = asyncio.get_running_loop()

        def post(kind_: str, value: Any) -> None:  # from the batch thread
            try:
                loop.call_soon_threadsafe(events.put_nowait, (kind_, value))
            except RuntimeError:  # the loop is gone (server shutting down): nobody is listening
                job.cancelled = True

        job.on_event = post
        self.batcher.put(job).add_done_callback(lambda f: post("end", f))
        first, value = await events.get()
        if first == "end":  # failed before it started (e.g. its gene was removed meanwhile)
            value.result()
        served: Served = value
        return StreamingResponse(self._stream(kind, rid, req, job, served, events), media_type="text/event-stream",
                                 headers={"X-Genehub-Gene": served.header, "Cache-Control": "no-cache"})

    async def _stream(self, kind: Kind, rid: str, req: Any, job: Job, served: Served,
                      events: asyncio.Queue[tuple[str, Any]]) -> AsyncIterator[bytes]:
        meta = served.to_dict()
        try:
            if kind == "chat":
                yield sse(chunk_body(kind, id=rid, model=req.model, genehub=meta, role=True))
            while True:
                event, value = await events.get()
                if event == "delta":
                    yield sse(chunk_body(kind, id=rid, model=req.model, genehub=meta, text=value))
                    continue
                try:
                    done: Completion = value.result()
                except Exception as err:  # the batch failed after the stream began: say so in the stream
                    message = str(err) if isinstance(err, GenehubError) else f"The batch failed ({type(err).__name__}: {err})."
                    yield sse({"error": {"message": message, "type": "server_error", "param": None, "code": None}})
                    return
                yield sse(chunk_body(kind, id=rid, model=req.model, genehub=meta, finish_reason=done.finish_reason))
                if req.include_usage:
                    yield sse(chunk_body(kind, id=rid, model=req.model, genehub=meta,
                                         usage_=usage(done.prompt_tokens, done.completion_tokens)))
                yield sse("[DONE]")
                return
        finally:
            job.cancelled = True  # a client that went away stops holding its batch open

    # ------------------------------------------------------------------------------------------ batches
    def _run_batch(self, jobs: list[Job]) -> None:
        with self._lock:
            genes = set(self.comp.genes)
            live = []
            for job in jobs:
                if job.cancelled:
                    job.fail(RequestError(499, "The client went away."))
                elif job.target.kind == "gene" and job.target.gene not in genes:
                    job.fail(RequestError(404, f"Gene {job.target.gene!r} was removed from this server.",
                                          param="model", code="model_not_found", hint="Ask for another model."))
                else:
                    live.append(job)
            # Rows of one generate share its min_new_tokens: one generate per distinct min_tokens.
            for min_tokens in sorted({j.min_tokens for j in live}):
                self._generate([j for j in live if j.min_tokens == min_tokens])

    def _generate(self, jobs: list[Job]) -> None:
        from transformers import StoppingCriteriaList

        from ..routing.encoders import user_messages

        comp = self.comp
        # The composition routes the batch itself (inside its pass where it can) when every job is routed on
        # what the composition would read of its prompt: the prompt itself, or the one user message it formats.
        messages = user_messages(comp.tokenizer, [j.prompt for j in jobs])
        routes_itself = all(j.target.kind == "route" and j.route_text in (j.prompt, m) for j, m in zip(jobs, messages))
        served: list[Served | None] = [None] * len(jobs)
        genes: list[str | None] | None = None
        if not routes_itself:
            routed = [i for i, j in enumerate(jobs) if j.target.kind == "route"]
            decisions = comp.route([jobs[i].route_text for i in routed]) if routed else []
            for i, d in zip(routed, decisions):
                served[i] = _routed(d)
            for i, j in enumerate(jobs):
                if j.target.kind != "route":
                    served[i] = Served(j.target.gene, False)
            genes = [s.gene for s in served]  # type: ignore[union-attr]
            for j, s in zip(jobs, served):
                if j.on_event is not None:
                    j.on_event("start", s)
        rows = [_Row(j, comp.tokenizer, comp.tokenizer.eos_token_id, s) for j, s in zip(jobs, served)]

        def on_route(decisions: list[Any]) -> None:  # the composition's own decisions, before the first token
            for row, d in zip(rows, decisions):
                row.served = _routed(d)
                if row.job.on_event is not None:
                    row.job.on_event("start", row.served)

        def on_step(tokens: list[int]) -> None:
            for row, token in zip(rows, tokens):
                row.step(token)

        extra = {"min_new_tokens": jobs[0].min_tokens} if jobs[0].min_tokens else {}
        comp.generate([j.prompt for j in jobs], max_new_tokens=max(j.max_tokens for j in jobs), genes=genes,
                      on_step=on_step, on_route=on_route if routes_itself else None,
                      stopping_criteria=StoppingCriteriaList([_AllDone(rows)]), **extra)
        for row in rows:  # rows that have not ended yet (a client gone); each was served before its first token
            assert row.served is not None
            row.resolve(row.served)

    # ------------------------------------------------------------------------------------------ admin
    def add_gene(self, path: str) -> dict[str, Any]:
        """Plug in the verified copy of the gene at ``path`` (see :func:`stage_verified_gene`)."""
        from ..gene import Gene
        from ..routing import adapter_name

        staged, verification = stage_verified_gene(path, self._staging, trust=self.trust)
        try:
            ref = Gene.load(staged)
            check_gene_names(self.name, [adapter_name(ref)])
            with self._lock:
                name = self.comp.add_gene(ref)
        except BaseException as err:
            shutil.rmtree(staged, ignore_errors=True)
            if isinstance(err, IncompatibleError):
                raise RequestError(409, str(err), param="path", code="gene_incompatible") from None
            if isinstance(err, (UsageError, RouterError)) and not isinstance(err, RequestError):
                raise RequestError(409, str(err), param="path", code="gene_conflict") from None
            raise
        self._staged[name] = staged
        return {"added": name, "revision": ref.digest, "signer": verification.signer, "genes": self.genes}

    def remove_gene(self, name: str) -> dict[str, Any]:
        """Unplug gene ``name``; requests already queued for it are answered 404."""
        if name not in self.comp.genes:
            raise RequestError(404, f"No gene {name!r} on this server.", code="model_not_found",
                               hint=f"Its genes: {', '.join(self.genes)}.")
        with self._lock:
            try:
                self.comp.remove_gene(name)
            except UsageError as err:
                raise RequestError(409, str(err), code="gene_conflict") from None
        staged = self._staged.pop(name, None)
        if staged is not None:
            shutil.rmtree(staged, ignore_errors=True)
        return {"removed": name, "genes": self.genes}
