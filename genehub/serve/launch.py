"""Run an app under uvicorn: in the foreground (the CLI) or on a background thread (tests, benchmarks).

    >>> with ServerThread(create_app(backend)) as server:     # a free loopback port
    ...     httpx.get(server.url + "/v1/models").json()
"""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

from ..errors import UsageError


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as err:
        sock.close()
        raise UsageError(f"Cannot listen on {host}:{port} ({err.strerror}).",
                         hint="Pick another --port (or stop what is using it).") from None
    sock.listen(2048)
    return sock


def _uvicorn(app: Any, log_level: str) -> Any:
    import uvicorn

    return uvicorn.Server(uvicorn.Config(app, log_level=log_level, access_log=False, timeout_graceful_shutdown=5))


def run(app: Any, *, host: str = "127.0.0.1", port: int = 8000, log_level: str = "info") -> None:
    """Serve ``app`` until interrupted (Ctrl-C)."""
    sock = _bind(host, port)
    _uvicorn(app, log_level).run(sockets=[sock])


class ServerThread:
    """``app`` served by uvicorn on a background thread, on ``host`` and a free port (or ``port``).

    Attributes:
        url: ``http://HOST:PORT`` once started.
    """

    def __init__(self, app: Any, *, host: str = "127.0.0.1", port: int = 0, log_level: str = "warning") -> None:
        self.app, self.host, self.port, self.log_level = app, host, port, log_level
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self.url = ""

    def start(self, timeout: float = 60) -> ServerThread:
        sock = _bind(self.host, self.port)
        self.port = sock.getsockname()[1]
        self.url = f"http://{self.host}:{self.port}"
        self._server = _uvicorn(self.app, self.log_level)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]}, daemon=True,
                                        name=f"uvicorn-{self.port}")
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the server on {self.url} did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
            if self._thread is not None:
                self._thread.join(30)
            self._server = self._thread = None

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
