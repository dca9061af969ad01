"""The OpenAI wire format genehub's server speaks: request schemas, response and chunk bodies, error bodies.

Requests are validated here (pydantic) so that every backend sees the same checked fields; what a backend
cannot honour is refused by the backend with a :class:`RequestError`, which the app turns into an
OpenAI-style ``{"error": {"message", "type", "param", "code"}}`` body with its HTTP status.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ..errors import UsageError


class RequestError(UsageError):
    """A request the server refuses: an HTTP status and an OpenAI error body.

    Attributes:
        status: the HTTP status (400 bad request, 401/403 admin, 404 unknown model, 409 conflict...).
        param: the request field at fault, when there is one.
        code: a short machine-readable code (``"model_not_found"``, ``"context_length_exceeded"``...).
    """

    def __init__(self, status: int, message: str, *, hint: str | None = None, param: str | None = None,
                 code: str | None = None, type: str = "invalid_request_error") -> None:
        super().__init__(message, hint=hint)
        self.status, self.param, self.code, self.type = status, param, code, type

    def body(self) -> dict[str, Any]:
        return error_body(str(self), type=self.type, param=self.param, code=self.code)


def error_body(message: str, *, type: str = "invalid_request_error", param: str | None = None,
               code: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": type, "param": param, "code": code}}


# ------------------------------------------------------------------------------------------------ requests
class _Request(BaseModel):
    """Fields both endpoints share. Unknown fields are accepted and ignored (clients send many)."""

    model_config = ConfigDict(extra="allow")

    model: str = Field(min_length=1)
    max_tokens: int | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, ge=0)
    top_p: float | None = Field(default=None, gt=0, le=1)
    n: int = Field(default=1, ge=1)
    stream: bool = False
    stream_options: dict[str, Any] | None = None
    stop: str | list[str] | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    logprobs: Any = None
    seed: int | None = None
    user: str | None = None
    min_tokens: int = Field(default=0, ge=0)  # vLLM's extension: no end-of-sequence before this many tokens

    @property
    def stops(self) -> list[str]:
        stop = [self.stop] if isinstance(self.stop, str) else list(self.stop or [])
        return [s for s in stop if s]

    @property
    def include_usage(self) -> bool:
        return bool((self.stream_options or {}).get("include_usage"))


class CompletionRequest(_Request):
    """``POST /v1/completions``: one prompt (a string, or a list holding one string)."""

    prompt: str | list[str]
    echo: bool = False
    best_of: int | None = None
    suffix: str | None = None

    @property
    def text(self) -> str:
        if isinstance(self.prompt, str):
            return self.prompt
        if len(self.prompt) != 1:
            raise RequestError(400, f"Got {len(self.prompt)} prompts in one request.", param="prompt",
                               hint="Send one prompt per request; concurrent requests are batched together.")
        return self.prompt[0]


class ContentPart(BaseModel):
    model_config = ConfigDict(extra="allow")

    type: str
    text: str | None = None


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[ContentPart] | None = None

    @property
    def text(self) -> str:
        if self.content is None or isinstance(self.content, str):
            return self.content or ""
        if any(p.type != "text" for p in self.content):
            raise RequestError(400, "Only text content parts are supported.", param="messages",
                               hint="Send each message's content as a string or as parts of type 'text'.")
        return "".join(p.text or "" for p in self.content)


class ChatCompletionRequest(_Request):
    """``POST /v1/chat/completions``."""

    messages: list[ChatMessage] = Field(min_length=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)

    @property
    def token_limit(self) -> int | None:
        return self.max_completion_tokens or self.max_tokens

    @property
    def route_text(self) -> str:
        """What a chat request is routed on: its last user message (the router was trained on prompts)."""
        users = [m for m in self.messages if m.role == "user"]
        return (users[-1] if users else self.messages[-1]).text


def render_chat(tokenizer: Any, messages: list[ChatMessage]) -> str:
    """The prompt for ``messages``: the tokenizer's chat template when it has one, else ``role: content``
    lines followed by ``assistant:`` (what a plain causal LM continues)."""
    rows = [{"role": m.role, "content": m.text} for m in messages]
    if getattr(tokenizer, "chat_template", None):
        return str(tokenizer.apply_chat_template(rows, tokenize=False, add_generation_prompt=True))
    return "\n".join(f"{r['role']}: {r['content']}" for r in rows) + "\nassistant:"


def greedy_only(req: _Request) -> None:
    """Refuse what a greedy, one-choice engine cannot honour (instead of silently ignoring it)."""
    problems = [
        ("temperature", req.temperature not in (None, 0), "this server decodes greedily: send temperature 0 or omit it"),
        ("n", req.n != 1, "send n=1 (one choice per request)"),
        ("logprobs", req.logprobs not in (None, False, 0), "log-probabilities are not returned: omit logprobs"),
        ("presence_penalty", req.presence_penalty not in (None, 0), "penalties are not supported: omit them"),
        ("frequency_penalty", req.frequency_penalty not in (None, 0), "penalties are not supported: omit them"),
        ("echo", getattr(req, "echo", False), "echo is not supported: omit it"),
        ("best_of", getattr(req, "best_of", None) not in (None, 1), "best_of is not supported: omit it"),
        ("suffix", getattr(req, "suffix", None), "suffix is not supported: omit it"),
    ]
    for param, bad, fix in problems:
        if bad:
            raise RequestError(400, f"Unsupported value for {param}: {getattr(req, param)!r}.", param=param,
                               hint=f"genehub's local engine: {fix}.")
    if len(req.stops) > 4:
        raise RequestError(400, f"{len(req.stops)} stop sequences given.", param="stop", hint="Send at most 4.")


# ------------------------------------------------------------------------------------------------ responses
def new_id(kind: Literal["completion", "chat"]) -> str:
    return ("cmpl-" if kind == "completion" else "chatcmpl-") + uuid.uuid4().hex


def usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    return {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens}


def response_body(kind: Literal["completion", "chat"], *, id: str, model: str, text: str, finish_reason: str,
                  prompt_tokens: int, completion_tokens: int, genehub: dict[str, Any]) -> dict[str, Any]:
    """A whole (non-streamed) completion or chat completion, with the ``genehub`` field saying who served it."""
    if kind == "completion":
        choice: dict[str, Any] = {"index": 0, "text": text, "logprobs": None, "finish_reason": finish_reason}
        obj = "text_completion"
    else:
        choice = {"index": 0, "message": {"role": "assistant", "content": text}, "logprobs": None,
                  "finish_reason": finish_reason}
        obj = "chat.completion"
    return {"id": id, "object": obj, "created": int(time.time()), "model": model, "choices": [choice],
            "usage": usage(prompt_tokens, completion_tokens), "genehub": genehub}


def chunk_body(kind: Literal["completion", "chat"], *, id: str, model: str, genehub: dict[str, Any],
               text: str | None = None, finish_reason: str | None = None, role: bool = False,
               usage_: dict[str, int] | None = None) -> dict[str, Any]:
    """One streamed chunk: a text delta, the closing ``finish_reason``, or (``usage_``) the usage chunk."""
    if usage_ is not None:
        choices: list[dict[str, Any]] = []
    elif kind == "completion":
        choices = [{"index": 0, "text": text or "", "logprobs": None, "finish_reason": finish_reason}]
    else:
        delta: dict[str, Any] = {"role": "assistant", "content": ""} if role else {}
        if text:
            delta["content"] = text
        choices = [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}]
    body = {"id": id, "object": "text_completion" if kind == "completion" else "chat.completion.chunk",
            "created": int(time.time()), "model": model, "choices": choices, "genehub": genehub}
    if usage_ is not None:
        body["usage"] = usage_
    return body


def sse(data: dict[str, Any] | str) -> bytes:
    """One server-sent event: ``data: <json>`` (or ``data: [DONE]``) and a blank line."""
    payload = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)
    return f"data: {payload}\n\n".encode()
