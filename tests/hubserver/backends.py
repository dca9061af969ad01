"""Registry backends for the behaviour suite: the local registry, and the Hub in both server modes.

A :class:`Backend` gives a test the registry plus two things a test needs from outside the code under
test: ``plant(repo_id, files)`` commits raw bytes upstream (as an attacker or a broken publisher
would, bypassing genehub's and the client's checks) and ``sent_bytes()`` counts file bytes that
reached the registry (the Hub server's upload log; new objects in the local registry).
"""

from __future__ import annotations

import base64
import json
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from .fixtures import point_client_at
from .server import HubServer


@dataclass
class Backend:
    kind: str
    registry: Any
    spec: str  # what `--registry` / `registry=` would be given on the command line
    server: HubServer | None = None
    root: Path | None = None
    _seen: set[str] = field(default_factory=set)

    def plant(self, repo_id: str, files: dict[str, bytes], message: str = "planted") -> None:
        """Commit raw ``files`` on ``main`` without any client-side validation."""
        if self.server is None:
            tmp = self.root.parent / "planted"  # type: ignore[union-attr]
            tmp.mkdir(exist_ok=True)
            paths = {}
            for i, (name, data) in enumerate(files.items()):
                (tmp / str(i)).write_bytes(data)
                paths[name] = tmp / str(i)
            head = self.registry.snapshot(repo_id)
            self.registry.commit(repo_id, files=paths, deleted=[], message=message, parent=head.commit)
            return
        lines = [{"key": "header", "value": {"summary": message, "description": ""}}]
        lines += [{"key": "file", "value": {"path": name, "encoding": "base64",
                                             "content": base64.b64encode(data).decode()}} for name, data in files.items()]
        body = b"".join(json.dumps(line).encode() + b"\n" for line in lines)
        request = urllib.request.Request(f"{self.server.url}/api/models/{repo_id}/commit/main", data=body, method="POST",
                                         headers={"Authorization": f"Bearer {self.server.token}",
                                                  "Content-Type": "application/x-ndjson"})
        with urllib.request.urlopen(request) as response:
            assert response.status == 200

    def sent_bytes(self) -> int:
        """File-content bytes received by the registry so far."""
        if self.server is not None:
            return self.server.uploaded_bytes()
        return sum(p.stat().st_size for p in self.root.glob("*/*/objects/*"))  # type: ignore[union-attr]

    def downloads(self) -> list[str]:
        """Files whose bytes were served (Hub only; the local registry has no server)."""
        if self.server is None:
            return []
        return [r.split("/resolve/", 1)[1] for r in self.server.requests if r.startswith("GET") and "/resolve/" in r]


@pytest.fixture(params=["local", "hub-lfs", "hub-regular"])
def backend(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Backend]:
    """Each registry backend in turn, fresh per test."""
    from genehub.registry import HubRegistry, LocalRegistry

    if request.param == "local":
        root = tmp_path / "registry"
        yield Backend("local", LocalRegistry(root), str(root), root=root)
        return
    mode = request.param.split("-", 1)[1]
    with HubServer(tmp_path / "hub-data", mode=mode, lfs_threshold=1024) as server:
        point_client_at(monkeypatch, server, tmp_path, disable_xet=mode == "lfs")
        yield Backend(request.param, HubRegistry(server.url, backoff=0.01), server.url, server=server)
