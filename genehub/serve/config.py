"""The server's settings: one dataclass that the CLI fills in and every part of the server reads."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ServeConfig:
    """How ``genehub serve`` batches, what it accepts, and who may change its genes.

    Attributes:
        name: the routed model id (default: the host's repo id); ``NAME:base`` is the bare host.
        max_batch: the most requests in one batch.
        batch_window_ms: how long the first request of a batch waits for others.
        max_prompt_tokens: longest prompt accepted (default: the host's context length minus one).
        max_tokens: most new tokens one request may ask for.
        default_max_tokens: new tokens when a completion request does not say (OpenAI's default is 16;
            a chat request without a limit gets the context left, up to ``max_tokens``).
        admin_token: bearer token of the admin endpoints; ``None`` turns them off.
    """

    name: str | None = None
    max_batch: int = 32
    batch_window_ms: float = 5.0
    max_prompt_tokens: int | None = None
    max_tokens: int = 512
    default_max_tokens: int = 16
    admin_token: str | None = None

    @property
    def window_s(self) -> float:
        return self.batch_window_ms / 1000
