"""The HTTP surface of ``genehub serve``: OpenAI's endpoints, genehub's admin endpoints, OpenAI-style errors.

    POST /v1/completions            POST /v1/chat/completions        GET /v1/models
    GET  /admin/genes               POST /admin/genes {"path": DIR}  DELETE /admin/genes/NAME
    GET  /health                    GET  /genehub/stats

The app parses and validates each request (malformed JSON, missing or ill-typed fields: 400 with the
fields named) and hands it to a backend: :class:`~genehub.serve.local.LocalBackend` (genehub's engine)
or :class:`~genehub.serve.front.VllmFront` (route here, generate on vLLM). Every error, including
unknown paths, is an OpenAI error body ``{"error": {"message", "type", "param", "code"}}``.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Protocol

from fastapi import FastAPI, Request
from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse, Response

from ..errors import GenehubError
from .admin import check_token
from .config import ServeConfig
from .openai import ChatCompletionRequest, CompletionRequest, RequestError, error_body

#: Largest request body read (a prompt is bounded in tokens long before this).
MAX_BODY_BYTES = 4 << 20


class Backend(Protocol):
    """What the app needs from an engine (local) or a front (vLLM)."""

    name: str

    def start(self) -> None: ...
    def close(self) -> None: ...
    def models(self) -> dict[str, Any]: ...
    def stats(self) -> dict[str, Any]: ...
    async def respond(self, kind: Any, req: Any, body: dict[str, Any]) -> Response: ...


async def _json_body(request: Request) -> dict[str, Any]:
    size = request.headers.get("content-length")
    if size is not None and size.isdigit() and int(size) > MAX_BODY_BYTES:
        raise RequestError(413, f"The request body is {size} bytes, over {MAX_BODY_BYTES}.", hint="Send a smaller request.")
    raw = await request.body()
    if len(raw) > MAX_BODY_BYTES:
        raise RequestError(413, f"The request body is over {MAX_BODY_BYTES} bytes.", hint="Send a smaller request.")
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as err:
        raise RequestError(400, f"The request body is not valid JSON ({err}).", code="invalid_json",
                           hint="Send a JSON object with Content-Type: application/json.") from None
    if not isinstance(body, dict):
        raise RequestError(400, f"The request body is a JSON {type(body).__name__}, not an object.",
                           code="invalid_json", hint="Send a JSON object.")
    return body


def _validate(model: type[BaseModel], body: dict[str, Any]) -> Any:
    try:
        return model.model_validate(body)
    except ValidationError as err:
        problems = [f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in err.errors()[:5]]
        first = err.errors()[0]["loc"] if err.errors() else ()
        raise RequestError(400, "Invalid request: " + "; ".join(problems) + ".",
                           param=str(first[0]) if first else None,
                           hint="See the OpenAI API reference for this endpoint's fields.") from None


def create_app(backend: Backend, config: ServeConfig | None = None) -> FastAPI:
    """The FastAPI app serving ``backend`` (started and closed with the app).

    Args:
        backend: a :class:`~genehub.serve.local.LocalBackend` or :class:`~genehub.serve.front.VllmFront`.
        config: for the admin token (admin is off without one).
    """
    config = config or ServeConfig()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        backend.start()
        try:
            yield
        finally:
            if hasattr(backend, "aclose"):
                await backend.aclose()
            backend.close()

    app = FastAPI(title="genehub serve", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.backend = backend

    @app.exception_handler(RequestError)
    async def _request_error(_: Request, err: RequestError) -> JSONResponse:
        return JSONResponse(err.body(), status_code=err.status)

    @app.exception_handler(GenehubError)
    async def _genehub_error(_: Request, err: GenehubError) -> JSONResponse:
        return JSONResponse(error_body(str(err)), status_code=400)

    @app.exception_handler(HTTPException)
    async def _http_error(request: Request, err: HTTPException) -> JSONResponse:
        message = f"{request.method} {request.url.path}: {err.detail}."
        return JSONResponse(error_body(message, code=str(err.status_code)), status_code=err.status_code)

    @app.exception_handler(Exception)
    async def _internal_error(_: Request, err: Exception) -> JSONResponse:
        return JSONResponse(error_body(f"Internal error ({type(err).__name__}: {err}).", type="server_error"),
                            status_code=500)

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok", "model": backend.name}

    @app.get("/genehub/stats")
    async def stats() -> dict[str, Any]:
        return backend.stats()

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        return backend.models()

    @app.post("/v1/completions")
    async def completions(request: Request) -> Response:
        body = await _json_body(request)
        return await backend.respond("completion", _validate(CompletionRequest, body), body)

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> Response:
        body = await _json_body(request)
        return await backend.respond("chat", _validate(ChatCompletionRequest, body), body)

    def _admin(request: Request) -> Any:
        check_token(request.headers.get("authorization"), config.admin_token)
        if not hasattr(backend, "add_gene"):
            raise RequestError(501, f"{type(backend).__name__} cannot change its genes while it runs.",
                               hint="Export the genes again (`genehub export vllm`) and restart the upstream.")
        return backend

    @app.get("/admin/genes")
    async def admin_list(request: Request) -> dict[str, Any]:
        return {"genes": _admin(request).genes}

    @app.post("/admin/genes")
    async def admin_add(request: Request) -> dict[str, Any]:
        target = _admin(request)
        body = await _json_body(request)
        path = body.get("path")
        if not isinstance(path, str) or not path:
            raise RequestError(400, "Missing 'path'.", param="path",
                               hint='Send {"path": "/abs/path/to/gene"} (a directory on the server).')
        return await run_in_threadpool(target.add_gene, path)

    @app.delete("/admin/genes/{name}")
    async def admin_remove(name: str, request: Request) -> dict[str, Any]:
        return await run_in_threadpool(_admin(request).remove_gene, name)

    return app
