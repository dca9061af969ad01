"""Serving: genes behind an OpenAI-compatible HTTP server, on genehub's engine or in front of vLLM.

    >>> from genehub.serve import LocalBackend, ServeConfig, ServerThread, create_app
    >>> backend = LocalBackend.load(zoo.host, ["genes/sort", "genes/upper"], config=ServeConfig(admin_token="s3cret"))
    >>> with ServerThread(create_app(backend, backend.config)) as server:
    ...     httpx.post(server.url + "/v1/completions",
    ...                json={"model": "genehub-zoo/tiny-host", "prompt": "sort cab:", "max_tokens": 4}).json()["genehub"]
    {'gene': 'sort-gene', 'routed': True, 'confidence': 0.99...}

The same genes on vLLM's multi-LoRA engine, with genehub's router in front::

    genehub export vllm --host HOST --genes G1 G2 --out vllm-export && sh vllm-export/launch.sh --port 8001
    genehub serve --backend vllm --upstream http://127.0.0.1:8001 --host HOST --genes G1 G2

Modules: :mod:`~genehub.serve.openai` (the wire format), :mod:`~genehub.serve.models` (what ``model``
means), :mod:`~genehub.serve.batching` (the batching queue), :mod:`~genehub.serve.local` (the local
engine), :mod:`~genehub.serve.front` (the vLLM front), :mod:`~genehub.serve.vllm` (the export),
:mod:`~genehub.serve.admin` (hot add and remove of verified genes), :mod:`~genehub.serve.app` (the HTTP
app) and :mod:`~genehub.serve.launch` (uvicorn).
"""

from __future__ import annotations

from .app import create_app
from .batching import Batcher, BatchStats
from .config import ServeConfig
from .front import HostRouter, PromptRouter, VllmFront
from .launch import ServerThread, run
from .local import LocalBackend
from .models import Served, Target, resolve_model
from .openai import RequestError, render_chat
from .vllm import VllmExport, export_vllm

__all__ = [
    "BatchStats", "Batcher", "HostRouter", "LocalBackend", "PromptRouter", "RequestError", "ServeConfig", "Served",
    "ServerThread", "Target", "VllmExport", "VllmFront", "create_app", "export_vllm", "render_chat", "resolve_model",
    "run",
]
