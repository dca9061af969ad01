"""Where the Space gets its genes and hosts: a config read from arguments or the environment.

On Hugging Face Spaces the app is configured with Space variables:

| variable | meaning | default |
| --- | --- | --- |
| ``GENEHUB_REGISTRY`` | a folder of genes, a local registry, ``hub``, or a Hub endpoint URL | the local registry |
| ``GENEHUB_HOSTS`` | host model directories for Try, separated by ``os.pathsep`` | none |
| ``GENEHUB_ZOO`` | also serve this preset's hosts for Try: ``smollm2`` (the real host and Gemma), ``tiny``/``demo`` | unset |
| ``GENEHUB_TRUST`` | the trust store folder (``NAME.pub`` files) | ``config_dir()/trust`` |
| ``GENEHUB_SPACE_DATA`` | where the genes and hosts come from: a name in :data:`DATA_SOURCES` | ``registry`` |

The *data source* turns a config into a :class:`SpaceData` (the catalog of genes and the hosts for Try).
``registry`` reads the four variables above; another source (a preset of real models and genes, say)
is one function added with :func:`register_data_source`, and the same page shows it.

When the data holds a pretrained host and genes that fit it (``GENEHUB_ZOO=smollm2`` with SmolLM2 genes in
the registry), the page opens on such a gene and Try on that host: a visitor first sees English.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import NotFoundError, UsageError
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
        zoo: a preset whose host and heterologous host are offered in Try too (:func:`zoo_hosts`).
        trust: the trust store folder (default: genehub's own trust store).
        max_new_tokens: greedy generation length in Try.
        data: the data source, a name in :data:`DATA_SOURCES` (default ``registry``: the fields above).
    """

    registry: str | None = None
    hosts: list[str] = field(default_factory=list)
    zoo: str | None = None
    trust: str | None = None
    max_new_tokens: int = 16
    data: str = "registry"

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> SpaceConfig:
        """Read ``GENEHUB_REGISTRY``, ``GENEHUB_HOSTS``, ``GENEHUB_ZOO``, ``GENEHUB_TRUST``, ``GENEHUB_SPACE_DATA``."""
        env = os.environ if environ is None else environ
        hosts = [h for h in env.get("GENEHUB_HOSTS", "").split(os.pathsep) if h]
        return cls(registry=env.get("GENEHUB_REGISTRY") or None, hosts=hosts, zoo=env.get("GENEHUB_ZOO") or None,
                   trust=env.get("GENEHUB_TRUST") or None, data=env.get("GENEHUB_SPACE_DATA") or "registry")


@dataclass
class SpaceData:
    """What one Space shows: a catalog of genes and the hosts Try runs them on.

    Attributes:
        catalog: the genes (verified against the catalog's trust store).
        hosts: ``{label: model directory}`` offered in Try and used for the gene page's gallery.
    """

    catalog: Catalog
    hosts: dict[str, Path] = field(default_factory=dict)


def registry_data(config: SpaceConfig) -> SpaceData:
    """The default data source: ``config.registry``'s genes, ``config.hosts`` and the zoo's hosts."""
    return SpaceData(open_catalog(config.registry, trust=config.trust), host_dirs(config))


#: data sources by name: ``config -> SpaceData`` (``SpaceConfig.data`` / ``GENEHUB_SPACE_DATA`` picks one)
DATA_SOURCES: dict[str, Callable[[SpaceConfig], SpaceData]] = {"registry": registry_data}


def register_data_source(name: str, source: Callable[[SpaceConfig], SpaceData]) -> None:
    """Add a data source the Space can be started on (``SpaceConfig(data=name)``)."""
    DATA_SOURCES[name] = source


def load_data(config: SpaceConfig) -> SpaceData:
    """The :class:`SpaceData` of ``config``'s data source.

    Raises:
        UsageError: no data source of that name.
    """
    if config.data not in DATA_SOURCES:
        raise UsageError(f"The Space has no data source {config.data!r}.",
                         hint=f"Set GENEHUB_SPACE_DATA to one of: {', '.join(sorted(DATA_SOURCES))}.")
    return DATA_SOURCES[config.data](config)


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

    paths = [Path(h).expanduser() for h in config.hosts] + (zoo_hosts(config.zoo) if config.zoo else [])
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


def zoo_hosts(preset: str) -> list[Path]:
    """The host and heterologous host of a zoo preset: ``smollm2`` (the real preset: SmolLM2-135M-Instruct and
    Gemma-3-270M, imported from their PyPI packages on first use) or a tiny zoo preset (built if needed)."""
    from .. import zoo
    from ..zoo import real

    if preset == real.PRESET.name:
        return [real.host_path(), real.heterologous_path()]
    built = zoo.build(preset, progress=False)
    return [built.host, built.heterologous]


def create_app(config: SpaceConfig | None = None, *, data: SpaceData | None = None, **overrides: Any) -> Any:
    """Build the Space's ``gr.Blocks`` from a config (default: :meth:`SpaceConfig.from_env`).

    Args:
        config: what to serve.
        data: the genes and hosts to show (default: those of ``config``'s data source, :func:`load_data`).
        **overrides: fields of :class:`SpaceConfig` to replace (``registry=``, ``hosts=``, ...).
    """
    from .app import build_app
    from .tryout import Playground

    config = config or SpaceConfig.from_env()
    for key, value in overrides.items():
        setattr(config, key, value)
    data = data or load_data(config)
    return build_app(data.catalog, Playground(data.catalog, data.hosts, max_new_tokens=config.max_new_tokens))

