"""The files of a gene directory, and their digests.

A gene is a plain PEFT adapter directory plus a card, a Hub README, router examples and a signature::

    adapter_config.json        PEFT LoRA config
    adapter_model.safetensors  LoRA weights (safetensors only, never pickles)
    gene.json                  the card (schemas/gene-card.schema.json)
    README.md                  Hub model card rendered from gene.json
    examples.jsonl             {"prompt": ..., "answer": ...} lines that express the skill
    routing.safetensors        optional: routing prototypes the card's ``routing`` block describes
    gene.sig                   model_signing bundle over every other file (not itself signed)
"""

from __future__ import annotations

from pathlib import Path

from .._digest import dir_digest, file_digest

ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_WEIGHTS = "adapter_model.safetensors"
CARD = "gene.json"
README = "README.md"
EXAMPLES = "examples.jsonl"
SIGNATURE = "gene.sig"
ROUTING = "routing.safetensors"

#: Files whose sha256 the card records under ``files`` (the card cannot hold its own digest).
DIGESTED_FILES = (ADAPTER_CONFIG, ADAPTER_WEIGHTS, EXAMPLES, ROUTING)
#: Every file a complete gene has besides its signature.
GENE_FILES = (ADAPTER_CONFIG, ADAPTER_WEIGHTS, CARD, README, EXAMPLES)
#: What pins a gene's behaviour exactly: its card (which records the payload digests) and the payload.
PINNED_FILES = (CARD, ADAPTER_CONFIG, ADAPTER_WEIGHTS, EXAMPLES)

__all__ = ["ADAPTER_CONFIG", "ADAPTER_WEIGHTS", "CARD", "DIGESTED_FILES", "EXAMPLES", "GENE_FILES", "PINNED_FILES",
           "README", "SIGNATURE", "digest_mismatches", "dir_digest", "file_digest", "file_digests"]


def file_digests(gene_dir: str | Path, names: tuple[str, ...] = DIGESTED_FILES) -> dict[str, str]:
    """Digests of ``names`` in ``gene_dir``; a missing file is left out."""
    gene_dir = Path(gene_dir)
    return {name: file_digest(gene_dir / name) for name in names if (gene_dir / name).is_file()}


def digest_mismatches(gene_dir: str | Path, recorded: dict[str, str]) -> list[str]:
    """Names whose file is missing or whose digest differs from ``recorded`` (the card's ``files``)."""
    gene_dir = Path(gene_dir)
    bad = []
    for name, expected in sorted(recorded.items()):
        path = gene_dir / name
        if not path.is_file() or file_digest(path) != expected:
            bad.append(name)
    return bad
