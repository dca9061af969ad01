"""genehub's Gradio Space: browse genes, inspect their cards, and try them on a host.

The page (``app.build_app``) is built from two plain objects, so it runs anywhere and is tested without
a browser: a :class:`Catalog` of genes (a folder of gene directories, or a registry) and a
:class:`Playground` of hosts. ``spaces/genehub/app.py`` (the Hugging Face Space) and ``genehub space``
(local) both call :func:`create_app`::

    from genehub.space import create_app
    demo = create_app(registry="~/genes", hosts=["./zoo/host"])
    demo.launch()

To deploy it, ``export_space("build/space")`` (``genehub space --export build/space``) writes the Space
with genehub inside it; see ``spaces/genehub/README.md``.
"""

from __future__ import annotations

from .app import build_app
from .catalog import Catalog, DirectorySource, GeneEntry, GeneSource, Listing, inspect_gene
from .config import SpaceConfig, create_app, open_catalog
from .export import export_space
from .tryout import Playground, TryResult

__all__ = [
    "Catalog", "DirectorySource", "GeneEntry", "GeneSource", "Listing", "Playground", "SpaceConfig", "TryResult",
    "build_app", "create_app", "export_space", "inspect_gene", "open_catalog",
]
