"""Registries: push, pull and search genes on the Hugging Face Hub or in a local registry (the default).

    >>> from genehub.registry import push, pull, search, list_installed
    >>> push("genes/sort", "me/sort-gene")                       # local registry (home_dir()/registry)
    >>> push("genes/sort", "me/sort-gene", registry="hub")       # the Hub at HF_ENDPOINT, token HF_TOKEN
    >>> [g.repo_id for g in search(skill="sort")]
    ['me/sort-gene']
    >>> gene = pull("me/sort-gene@v0.1.0", host="zoo/host")      # verified, then installed atomically
    >>> PeftModel.from_pretrained(base, gene.path)

Both backends implement :class:`Registry`; ``push``/``pull``/``search`` are written once against it.
"""

from __future__ import annotations

from .base import Registry, RemoteFile, RepoHit, Snapshot, split_revision
from .hub import HubRegistry
from .local import LocalRegistry
from .pull import pull
from .push import PushResult, push
from .safety import DEFAULT_MAX_FILE_BYTES, PICKLE_SUFFIXES
from .search import GeneHit, info, search
from .select import open_registry
from .store import GeneStore, InstalledGene


def list_installed(*, store: GeneStore | None = None) -> list[InstalledGene]:
    """The genes installed in the gene store (``home_dir()/genes``)."""
    return (store or GeneStore()).list()


def installed(name: str, *, store: GeneStore | None = None) -> InstalledGene:
    """One installed gene, by repo id or gene name (raises NotFoundError)."""
    return (store or GeneStore()).get(name)


def remove(name: str, *, store: GeneStore | None = None) -> InstalledGene:
    """Uninstall a gene by repo id or gene name; returns what was removed."""
    return (store or GeneStore()).remove(name)


__all__ = [
    "DEFAULT_MAX_FILE_BYTES", "PICKLE_SUFFIXES", "GeneHit", "GeneStore", "HubRegistry", "InstalledGene",
    "LocalRegistry", "PushResult", "Registry", "RemoteFile", "RepoHit", "Snapshot", "info", "installed",
    "list_installed", "open_registry", "pull", "push", "remove", "search", "split_revision",
]
