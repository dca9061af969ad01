"""LoRA-fication: turn a donor model's skill into a gene for a host of the same family.

The stages, one module each, run in order by :func:`extract`:

1. :mod:`~genehub.lorafy.circuit` - activation patching finds the attention/MLP blocks that carry the skill;
2. :mod:`~genehub.lorafy.homology` - RepE reading vectors say whether the host's machinery matches there;
3. :mod:`~genehub.lorafy.distill` (or :mod:`~genehub.lorafy.svd`) - a LoRA on exactly those blocks;
4. :mod:`~genehub.lorafy.fidelity` - skill and other-skill accuracy with the gene on;
5. a gene directory (:func:`genehub.gene.write_gene`) that plain PEFT loads.

The data is the user's (:mod:`~genehub.lorafy._data`: files or datasets, plain or chat rows) or a library's;
:func:`adopt` wraps a LoRA made elsewhere as a gene, measured the same way.

Example:
    >>> from genehub import zoo
    >>> from genehub.lorafy import ExtractConfig, extract
    >>> z = zoo.build("tiny")
    >>> gene = extract(z.donors["sort"], z.host, zoo.skill_data("sort"), "genes/sort", ExtractConfig(steps=300))
"""

from __future__ import annotations

from ._data import (
    DataLibrary,
    RowFormat,
    SkillData,
    SkillLibrary,
    data_library,
    load_general,
    load_prompts,
    load_skill_data,
    render_rows,
)
from ._model import block_linears
from .adopt import AdoptConfig, adopt
from .circuit import Circuit, Component, locate_circuit
from .distill import DistillConfig, distill, lora_model
from .extract import METHODS, ExtractConfig, extract
from .fidelity import Fidelity, measure_fidelity
from .homology import Homology, ReadingVectors, causal_check, compare, reading_vectors, score_homology
from .svd import svd_gene, svd_lora

__all__ = [
    "METHODS", "AdoptConfig", "Circuit", "Component", "DataLibrary", "DistillConfig", "ExtractConfig", "Fidelity", "Homology",
    "ReadingVectors", "RowFormat", "SkillData", "SkillLibrary", "adopt", "block_linears", "causal_check", "compare",
    "data_library", "distill", "extract", "load_general", "load_prompts", "load_skill_data", "locate_circuit",
    "lora_model", "measure_fidelity", "reading_vectors", "render_rows", "score_homology", "svd_gene", "svd_lora",
]
