"""How a misbehaving loopback Hub lies (see :meth:`hubserver.server.HubServer.lie`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Lies:
    """How a misbehaving Hub rewrites its answers. Every hook gets the requested repo id and returns the
    (possibly) altered answer; the defaults change nothing.

    Attributes:
        serve_as: requested repo -> repo actually served (ids in the answers rewritten to the requested one).
        revisions: requested revision -> revision actually resolved (``{"main": "v0.1.0"}``: a rollback).
        info: ``(repo_id, model JSON) -> JSON`` for ``/api/models/REPO[/revision/REV]`` (bytes: sent raw).
        tree: ``(repo_id, tree items) -> items`` for the tree listing ``snapshot_download`` reads.
        file: ``(repo_id, filename, headers, body) -> (headers, body)`` for ``/resolve/`` (HEAD and GET).
        models: ``(rows) -> rows`` for ``/api/models`` (search).
    """

    serve_as: dict[str, str] = field(default_factory=dict)
    revisions: dict[str, str] = field(default_factory=dict)
    info: Callable[[str, Any], Any] | None = None
    tree: Callable[[str, list[Any]], list[Any]] | None = None
    file: Callable[[str, str, dict[str, str], bytes], tuple[dict[str, str], bytes]] | None = None
    models: Callable[[list[Any]], list[Any]] | None = None
