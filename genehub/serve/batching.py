"""A batching queue: requests that arrive within a short window run as one batch on one worker thread.

The engine behind it (a :class:`~genehub.routing.Composition`, or a router) is not thread-safe and is
fastest on whole batches, so every request goes through one queue. The worker blocks for the first
request, then keeps collecting until ``window_s`` has passed since it arrived or ``max_batch`` requests
are in, and hands the batch to ``run``. Each request carries its own future, which ``run`` resolves
(possibly before the whole batch has finished); whatever ``run`` leaves unresolved gets its exception.

    >>> batcher = Batcher(run_batch, max_batch=32, window_s=0.005)
    >>> batcher.start()
    >>> result = await batcher.submit(ticket)          # from an asyncio handler
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

log = logging.getLogger(__name__)


@dataclass(eq=False)
class Ticket:
    """One request in the queue: its future is resolved by the batch that runs it."""

    future: Future = field(default_factory=Future, init=False, repr=False)

    def resolve(self, value: Any) -> None:
        if not self.future.done():
            self.future.set_result(value)

    def fail(self, error: BaseException) -> None:
        if not self.future.done():
            self.future.set_exception(error)


T = TypeVar("T", bound=Ticket)


@dataclass
class BatchStats:
    """What the batcher has run: batches, requests, and the largest batch (the proof that it batches)."""

    batches: int = 0
    requests: int = 0
    largest: int = 0
    sizes: dict[int, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"batches": self.batches, "requests": self.requests, "largest": self.largest,
                "sizes": {str(k): v for k, v in sorted(self.sizes.items())}}


_STOP = object()


class Batcher(Generic[T]):
    """Collect tickets for up to ``window_s`` (or until ``max_batch``) and run them together.

    Args:
        run: called on the worker thread with each batch; resolves each ticket's future.
        max_batch: the most tickets in one batch.
        window_s: how long the first ticket of a batch waits for others.
        name: the worker thread's name.
    """

    def __init__(self, run: Callable[[list[T]], None], *, max_batch: int = 32, window_s: float = 0.005,
                 name: str = "genehub-batcher") -> None:
        if max_batch < 1 or window_s < 0:
            raise ValueError("max_batch must be >= 1 and window_s >= 0")
        self._run, self.max_batch, self.window_s, self.name = run, max_batch, window_s, name
        self._queue: queue.Queue[Any] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.stats = BatchStats()

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
            self._thread.start()

    def close(self, timeout: float | None = 30) -> None:
        """Stop after the batch that is running; tickets still queued fail."""
        if self._thread is not None:
            self._queue.put(_STOP)
            self._thread.join(timeout)
            self._thread = None

    def put(self, ticket: T) -> Future:
        """Queue ``ticket`` (from any thread); returns its future."""
        if self._thread is None:
            raise RuntimeError("the batcher is not running; call start() first")
        self._queue.put(ticket)
        return ticket.future

    async def submit(self, ticket: T) -> Any:
        """Queue ``ticket`` and wait for its result (from an asyncio task)."""
        return await asyncio.wrap_future(self.put(ticket))

    def _collect(self, first: T) -> tuple[list[T], bool]:
        batch, deadline = [first], time.monotonic() + self.window_s
        while len(batch) < self.max_batch:
            try:
                item = self._queue.get(timeout=max(deadline - time.monotonic(), 0))
            except queue.Empty:
                break
            if item is _STOP:
                return batch, True
            batch.append(item)
        return batch, False

    def _loop(self) -> None:
        stop = False
        while not stop:
            first = self._queue.get()
            if first is _STOP:
                break
            batch, stop = self._collect(first)
            with self._lock:
                self.stats.batches += 1
                self.stats.requests += len(batch)
                self.stats.largest = max(self.stats.largest, len(batch))
                self.stats.sizes[len(batch)] = self.stats.sizes.get(len(batch), 0) + 1
            try:
                self._run(batch)
            except BaseException as err:  # one bad batch must not kill the server
                log.exception("A batch of %d failed", len(batch))
                for ticket in batch:
                    ticket.fail(err)
            for ticket in batch:
                ticket.fail(RuntimeError("the batch finished without answering this request"))
        while True:  # whatever is still queued will not run
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is not _STOP:
                item.fail(RuntimeError("the server is shutting down"))
