"""Render a gene's ``README.md`` (the Hub model card) from its card with huggingface_hub's ModelCard.

The data is the card; the words are the template ``cards/gene-readme.md``. The YAML header carries the
Hub's metadata keys (``base_model``, ``base_model_relation: adapter``, ``library_name: peft``,
``license``, ``tags``, ``pipeline_tag``) so the Hub lists the gene as an adapter of its host.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from .._resources import resource_dir
from .layout import README

TEMPLATE = "gene-readme.md"

# Licence ids the Hub accepts in `license:` (lower-cased SPDX); anything else becomes `other`.
_HUB_LICENSES = frozenset({
    "apache-2.0", "mit", "bsd-2-clause", "bsd-3-clause", "gpl-2.0", "gpl-3.0", "lgpl-2.1", "lgpl-3.0",
    "agpl-3.0", "mpl-2.0", "cc0-1.0", "cc-by-4.0", "cc-by-sa-4.0", "cc-by-nc-4.0", "cc-by-nc-sa-4.0",
    "cc-by-nd-4.0", "cc-by-nc-nd-4.0", "openrail", "bigscience-openrail-m", "creativeml-openrail-m",
    "llama2", "llama3", "llama3.1", "llama3.2", "llama3.3", "gemma", "unlicense", "artistic-2.0", "wtfpl",
})
_COMMIT = re.compile(r"^[0-9a-f]{40}$")


def hub_license(spdx: str) -> dict[str, str]:
    """The Hub's ``license`` metadata for an SPDX id (``other`` plus ``license_name`` when unknown)."""
    lowered = spdx.lower()
    if lowered in _HUB_LICENSES:
        return {"license": lowered}
    return {"license": "other", "license_name": re.sub(r"[^a-z0-9.-]+", "-", lowered).strip("-") or "other"}


def card_data(card: dict[str, Any]) -> Any:
    """The ``ModelCardData`` (Hub YAML metadata) of a gene card."""
    from huggingface_hub import ModelCardData

    tags = ["genehub", "gene", f"skill-{card['skill']}", card["skill"], "lora", "peft"]
    return ModelCardData(
        base_model=card["host"]["repo_id"],
        base_model_relation="adapter",
        library_name="peft",
        pipeline_tag="text-generation",
        tags=tags,
        model_name=card["name"],
        **hub_license(card["license"]["spdx"]),
    )


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def render_readme(card: dict[str, Any], *, signer_fingerprint: str | None = None,
                  template_path: str | Path | None = None) -> str:
    """Render the Hub model card of a (valid) gene card.

    Args:
        card: a gene card (see :func:`genehub.gene.validate_card`).
        signer_fingerprint: ``sha256:<hex>`` of the signing key, shown in the Signature section.
        template_path: another Jinja template (default ``cards/gene-readme.md``).

    Returns:
        The full ``README.md`` text, YAML header included.
    """
    from huggingface_hub import ModelCard

    revision = card["host"]["revision"]
    model_card = ModelCard.from_template(
        card_data(card),
        template_path=str(template_path or resource_dir("cards") / TEMPLATE),
        card=card,
        host_commit=revision if _COMMIT.match(revision) else None,
        hyperparameters=json.dumps(card["lineage"]["hyperparameters"], sort_keys=True),
        signer_fingerprint=signer_fingerprint,
        fmt=_fmt,
    )
    text = str(model_card)
    return text if text.endswith("\n") else text + "\n"


def write_readme(gene_dir: str | Path, card: dict[str, Any], *, signer_fingerprint: str | None = None) -> Path:
    """Render and write ``gene_dir/README.md``; returns its path."""
    path = Path(gene_dir) / README
    path.write_text(render_readme(card, signer_fingerprint=signer_fingerprint), encoding="utf-8")
    return path
