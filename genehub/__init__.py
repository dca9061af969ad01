"""genehub: skills of language models as shareable, signed, composable LoRA genes.

The pipeline, on the zoo's tiny models (runs offline in about a minute)::

    import genehub
    from genehub import zoo

    z = zoo.build("tiny")                                   # host + donors, trained here, cached
    gene = genehub.extract(z.donors["sort"], z.host, zoo.skill_data("sort"), "genes/sort")   # circuit, homology, LoRA
    key = genehub.new_key("me"); genehub.TrustStore().add("me", key.public)
    genehub.sign_gene(gene, key="me")
    genehub.push(gene, "me/sort-gene")                      # local registry by default, or the Hub
    installed = genehub.pull("me/sort-gene", host=z.host)   # verified before it is installed
    router = genehub.Router.train(z.host, [installed.path], none_prompts=zoo.none_prompts)
    model = genehub.compose(z.host, [installed.path], router)
    for g in model.generate(["sort dcba:", "copy abc:"]):
        print(g.prompt, "->", g.text, "via", g.gene or "no gene")

Names are imported lazily, so ``import genehub`` stays fast and a command-line ``--help`` needs no torch.
"""

from __future__ import annotations

import importlib
from typing import Any

from ._version import __version__
from .errors import GenehubError

# public name -> module that defines it
_EXPORTS: dict[str, str] = {
    # gene format
    "Gene": "genehub.gene", "write_gene": "genehub.gene", "load_card": "genehub.gene", "validate_card": "genehub.gene",
    "sign_gene": "genehub.gene", "verify_gene": "genehub.gene", "new_key": "genehub.gene",
    "TrustStore": "genehub.gene",
    # hosts
    "describe_host": "genehub.hosts", "load_host": "genehub.hosts", "HostInfo": "genehub.hosts",
    # registry
    "push": "genehub.registry", "pull": "genehub.registry", "search": "genehub.registry",
    # LoRA-fication
    "extract": "genehub.lorafy", "ExtractConfig": "genehub.lorafy",
    # routing and composition
    "Router": "genehub.routing", "compose": "genehub.routing",
    # breeding and planning
    "breed": "genehub.breeding", "plan": "genehub.breeding", "check": "genehub.breeding",
}

__all__ = ["GenehubError", "__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'genehub' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
