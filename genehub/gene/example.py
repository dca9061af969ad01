"""A minimal valid card for a host: what tests and examples start from before filling in real numbers."""

from __future__ import annotations

from typing import Any

from ..hosts import HostInfo
from .card import SCHEMA_VERSION

_PLACEHOLDER_DIGEST = "sha256:" + "0" * 64


def example_card(
    host: HostInfo | dict[str, Any],
    *,
    name: str = "example-gene",
    skill: str = "example",
    rank: int = 4,
    alpha: float = 8.0,
    target_modules: tuple[str, ...] = ("q_proj", "v_proj"),
    layers: tuple[int, ...] | None = None,
    license_spdx: str = "Apache-2.0",
    created: str = "2025-01-01T00:00:00Z",
) -> dict[str, Any]:
    """Build a small, schema-valid card for ``host`` with plausible placeholder measurements.

    ``files`` holds placeholder digests and ``adapter.size_bytes`` is 0: :func:`genehub.gene.write_gene`
    fills both from the files it writes.

    Args:
        host: the host the gene is for (``HostInfo`` or its dict).
        name: gene name (a slug).
        skill: skill name (a slug).
        rank: LoRA rank recorded under ``adapter``.
        alpha: LoRA alpha recorded under ``adapter``.
        target_modules: LoRA target modules.
        layers: adapted layers (default: all of the host's).
        license_spdx: SPDX id of the gene and of its parents.
        created: RFC 3339 creation time (fixed by default so renders are reproducible).

    Returns:
        A card dict that :func:`genehub.gene.validate_card` accepts.
    """
    from .._version import __version__

    host_dict = host.to_dict() if isinstance(host, HostInfo) else dict(host)
    all_layers = list(range(host_dict["num_layers"]))
    layers_list = list(layers) if layers is not None else all_layers
    donor_revision = "sha256:" + "1" * 64
    return {
        "schema_version": SCHEMA_VERSION,
        "name": name,
        "version": "0.1.0",
        "summary": f"Adds the '{skill}' skill to {host_dict['repo_id']}.",
        "description": f"A LoRA gene carrying the '{skill}' skill, transplanted from a donor model into the host.",
        "skill": skill,
        "host": host_dict,
        "parents": [
            {"role": "host", "repo_id": host_dict["repo_id"], "revision": host_dict["revision"], "license": license_spdx},
            {"role": "donor", "repo_id": f"local/{skill}-donor", "revision": donor_revision, "license": license_spdx},
        ],
        "circuit": {
            "method": "activation-patching",
            "layers": layers_list,
            "modules": list(target_modules),
            "components": [{"layer": layer, "kind": "attn", "score": 0.5} for layer in layers_list],
            "target_share": 0.8,
            "restored_share": 0.75,
        },
        "homology": {
            "method": "pca-cosine",
            "per_layer": [{"layer": layer, "pca_cosine": 0.9, "mean_diff_cosine": 0.8} for layer in layers_list],
            "aggregate": 0.85,
            "num_contrast_pairs": 32,
        },
        "fidelity": {
            "metric": "exact_match",
            "skill": {"host": 0.1, "donor": 0.9, "gene": 0.8},
            "other_skills": {},
            "num_test_prompts": 16,
        },
        "adapter": {
            "type": "lora",
            "rank": rank,
            "alpha": alpha,
            "target_modules": list(target_modules),
            "layers": layers_list,
            "size_bytes": 0,
        },
        "license": {"spdx": license_spdx, "rule": f"all parents are {license_spdx}, so the gene is too"},
        "data_use": {"restrictions": []},
        "lineage": {
            "recipe": "example",
            "hyperparameters": {"rank": rank, "alpha": alpha},
            "seed": 0,
            "genehub_version": __version__,
            "created": created,
        },
        "files": {
            "adapter_config.json": _PLACEHOLDER_DIGEST,
            "adapter_model.safetensors": _PLACEHOLDER_DIGEST,
            "examples.jsonl": _PLACEHOLDER_DIGEST,
        },
    }
