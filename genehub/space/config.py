"""Where the Space gets its genes and hosts: a config read from arguments or the environment.

On Hugging Face Spaces the app is configured with Space variables:

| variable | meaning | default |
| --- | --- | --- |
| ``GENEHUB_REGISTRY`` | a folder of genes, a local registry, ``hub``, or a Hub endpoint URL | the local registry |
| ``GENEHUB_HOSTS`` | host model directories for Try, separated by ``os.pathsep`` | none |
| ``GENEHUB_ZOO`` | also serve the zoo's host(s) of this preset (``tiny``/``demo``) for Try | unset |
| ``GENEHUB_TRUST`` | the trust store folder (``NAME.pub`` files) | ``config_dir()/trust`` |
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import NotFoundError
from ..gene import TrustStore
from .catalog import Catalog

if TYPE_CHECKING:
    from ..registry import Registry


@dataclass
class SpaceConfig:
    """What one Space serves.

    Attributes:
        registry: a folder of gene directories, a local registry folder, ``"hub"`` or a Hub endpoint URL;
            ``None`` is the default local registry (``home_dir()/registry``).
        hosts: host model directories offered in Try.
        zoo: a zoo preset whose host and heterologous host are offered in Try too (built if needed).
        trust: the trust store folder (default: genehub's own trust store).
        max_new_tokens: greedy generation length in Try.
    """

    registry: str | None = None
    hosts: list[str] = field(default_factory=list)
    zoo: str | None = None
    trust: str | None = None
    max_new_tokens: int = 16

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> SpaceConfig:
        """Read ``GENEHUB_REGISTRY``, ``GENEHUB_HOSTS``, ``GENEHUB_ZOO`` and ``GENEHUB_TRUST``."""
        env = os.environ if environ is None else environ
        hosts = [h for h in env.get("GENEHUB_HOSTS", "").split(os.pathsep) if h]
        return cls(registry=env.get("GENEHUB_REGISTRY") or None, hosts=hosts, zoo=env.get("GENEHUB_ZOO") or None,
                   trust=env.get("GENEHUB_TRUST") or None)


def open_catalog(registry: str | Registry | None = None, *, trust: str | Path | TrustStore | None = None,
                 cache: str | Path | None = None) -> Catalog:
    """A :class:`Catalog` over ``registry`` (see :class:`SpaceConfig`), verified against ``trust``.

    Args:
        registry: a folder of genes, a local registry folder, ``local``, ``hub``, a Hub endpoint URL, or a
            ``genehub.registry.Registry``.
        trust: the trust store (a folder or a ``TrustStore``; default genehub's).
        cache: where genes fetched from a registry are kept (default ``cache_dir()/space``).

    Raises:
        NotFoundError: the registry folder does not exist.
    """
    from .sources import open_source

    store = trust if isinstance(trust, TrustStore) else TrustStore(trust)
    return Catalog(open_source(registry, cache=cache, trust=store), trust=store)


def host_dirs(config: SpaceConfig) -> dict[str, Path]:
    """``{label: directory}`` of the hosts to offer, labelled by the repo id each host records."""
    from ..hosts import describe_host

    paths = [Path(h).expanduser() for h in config.hosts]
    if config.zoo:
        from .. import zoo

        built = zoo.build(config.zoo, progress=False)
        paths += [built.host, built.heterologous]
    labels: dict[str, Path] = {}
    for path in paths:
        if not (path / "config.json").is_file():
            raise NotFoundError(f"Host {path} is not a model directory (no config.json).",
                                hint="Pass a folder written by save_pretrained, or --zoo tiny.", path=str(path))
        label = describe_host(path).repo_id
        if label in labels and labels[label] != path:
            label = f"{label} ({path})"
        labels[label] = path
    return labels


def create_app(config: SpaceConfig | None = None, **overrides: Any) -> Any:
    """Build the Space's ``gr.Blocks`` from a config (default: :meth:`SpaceConfig.from_env`).

    Args:
        config: what to serve.
        **overrides: fields of :class:`SpaceConfig` to replace (``registry=``, ``hosts=``, ...).
    """
    from .app import build_app
    from .tryout import Playground

    config = config or SpaceConfig.from_env()
    for key, value in overrides.items():
        setattr(config, key, value)
    catalog = open_catalog(config.registry, trust=config.trust)
    playground = Playground(catalog, host_dirs(config), max_new_tokens=config.max_new_tokens)
    return build_app(catalog, playground)

