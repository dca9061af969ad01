"""Genes: a PEFT LoRA directory plus a schema-checked card, a Hub README and a signature.

    >>> from genehub.gene import Gene, write_gene, sign_gene, new_key, TrustStore
    >>> write_gene("genes/sort", peft_model_or_adapter_dir=peft_model, card=card, examples=rows)
    >>> key = new_key("me"); TrustStore().add("me", key.public)
    >>> sign_gene("genes/sort", key="me")
    >>> gene = Gene.load("genes/sort")
    >>> gene.verify().signer, gene.skill, gene.host.repo_id
    ('me', 'sort', 'genehub-zoo/tiny-host')

See docs/CONTRACTS.md for the layout and the card's fields; schemas/gene-card.schema.json is the truth.
"""

from __future__ import annotations

from .card import SCHEMA_VERSION, card_errors, card_schema, dump_card, load_card, save_card, validate_card
from .example import example_card
from .gene import CardAdapter, CardFidelity, CardHomology, CardParent, CardView, Gene
from .keys import KeyPaths, fingerprint, new_key
from .layout import (
    ADAPTER_CONFIG,
    ADAPTER_WEIGHTS,
    CARD,
    DIGESTED_FILES,
    EXAMPLES,
    GENE_FILES,
    README,
    SIGNATURE,
    file_digest,
)
from .modelcard import render_readme, write_readme
from .signing import Verification, hashing_config, sign_gene, verify_gene
from .trust import TrustedKey, TrustStore
from .write import write_gene

__all__ = [
    "ADAPTER_CONFIG", "ADAPTER_WEIGHTS", "CARD", "DIGESTED_FILES", "EXAMPLES", "GENE_FILES", "README",
    "SCHEMA_VERSION", "SIGNATURE", "CardAdapter", "CardFidelity", "CardHomology", "CardParent", "CardView", "Gene",
    "KeyPaths", "TrustStore", "TrustedKey", "Verification", "card_errors",
    "card_schema", "dump_card", "example_card", "file_digest", "fingerprint", "hashing_config", "load_card",
    "new_key", "render_readme", "save_card", "sign_gene", "validate_card", "verify_gene", "write_gene",
    "write_readme",
]
