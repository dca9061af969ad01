"""genehub's Gradio Space: browse genes, open each gene's page, and try genes on a host.

The page (``app.build_app``) is built from two plain objects, so it runs anywhere and is tested without
a browser: a :class:`Catalog` of genes (a folder of gene directories, or a registry) and a
:class:`Playground` of hosts. Where both come from is the Space's *data source* (:class:`SpaceData`,
picked by name from :data:`DATA_SOURCES`; ``registry`` by default). ``spaces/genehub/app.py`` (the
Hugging Face Space) and ``genehub space`` (local) both call :func:`create_app`::

    from genehub.space import create_app
    demo = create_app(registry="~/genes", hosts=["./zoo/host"])
    demo.launch()

To deploy it, ``export_space("build/space")`` (``genehub space --export build/space``) writes the Space
with genehub inside it; see ``spaces/genehub/README.md``.
"""

from __future__ import annotations

from .app import build_app
from .catalog import Catalog, DirectorySource, GeneEntry, GeneSource, Listing, Version, inspect_gene
from .config import DATA_SOURCES, SpaceConfig, SpaceData, create_app, load_data, open_catalog, register_data_source
from .export import export_space
from .tryout import Gallery, Playground, TryResult

__all__ = [
    "DATA_SOURCES", "Catalog", "DirectorySource", "Gallery", "GeneEntry", "GeneSource", "Listing", "Playground",
    "SpaceConfig", "SpaceData", "TryResult", "Version", "build_app", "create_app", "export_space", "inspect_gene",
    "load_data", "open_catalog", "register_data_source",
]
