"""``breed``: one call from parents and a registry method to a child gene (or model) with its lineage.

Every breeding passes the gate first, then the method runs itself (:meth:`BreedingMethod.run`). A child
gene is measured (exact match on its parents' examples, against the host alone), and its card records
every parent with its revision, the method and its coefficients, density, seed and the fitness
evidence, so the merge can be made again. The helpers below are what the methods share.

Example:
    >>> from genehub.breeding import BreedConfig, breed
    >>> config = BreedConfig(out="genes/sort-add", host="zoo/host", params={"weights": [0.8, 0.6]}, seed=0)
    >>> child = breed(["genes/sort", "genes/add"], "dare_ties", config)           # doctest: +SKIP
    >>> child.scores                                                               # doctest: +SKIP
    {'sort': 0.71, 'add': 0.64}
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..hosts import MODEL_META
from .methods import BreedConfig, BreedingMethod, resolve
from .parents import Parent, load_parent


@dataclass
class Child:
    """What :func:`breed` made.

    Attributes:
        path: the child gene or model directory.
        kind: ``"gene"`` or ``"model"``.
        method: the registry name used.
        recipe: the coefficients used (weights, density, t, rank, seed...).
        scores: ``{skill: exact match}`` of the child on its parents' examples (genes), when measured.
        host_scores: the same for the host alone.
        report: the gate's report.
    """

    path: Path
    kind: str
    method: str
    recipe: dict[str, Any]
    scores: dict[str, float] = field(default_factory=dict)
    host_scores: dict[str, float] = field(default_factory=dict)
    report: Any = None


def breed(parents: Sequence[Any], method: str | BreedingMethod, config: BreedConfig) -> Child:
    """Breed ``parents`` with a registry method, as ``config`` says.

    Args:
        parents: gene directories (adapter methods, ``fold``) or model directories (``model:*``,
            ``extract:lora``), :class:`~genehub.gene.Gene` objects, or ``(path, Verification)`` pairs.
        method: a registry name (a short name resolves by the parents' kind) or a :class:`BreedingMethod`.
        config: where the child goes, the method's parameters, the host or base, and the rest
            (:class:`BreedConfig`).

    Returns:
        A :class:`Child`.

    Raises:
        IncompatibleError: the gate refused (every reason listed).
        UsageError: missing ``host``/``base``/``examples``, wrong number of parents, unknown parameters.
        BreedingError: the backend failed.
    """
    described = [load_parent(p) for p in parents]
    return resolve(method, described).run(described, config)


# ----- what the methods share ------------------------------------------------------------------------

def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9._-]+", "-", text.lower()).strip("-._")[:64] or "child"


def now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def score(model: Any, tokenizer: Any, by_skill: Mapping[str, Sequence[Mapping[str, Any]]]) -> dict[str, float]:
    """``{skill: exact match}`` of ``model`` on each skill's rows (rounded to 4 places)."""
    from ..evaluate import accuracy

    return {s: round(accuracy(model, tokenizer, rows), 4) for s, rows in by_skill.items() if rows}


def write_child_gene(out: Path, peft_model: Any, card: dict[str, Any], examples: Sequence[Mapping[str, Any]],
                     sign_key: str | None) -> None:
    """Write the child gene (validated card, README) and sign it when a key is given."""
    from ..gene import sign_gene, write_gene

    write_gene(out, peft_model_or_adapter_dir=peft_model, card=card, examples=examples)
    if sign_key:
        sign_gene(out, key=sign_key)


def write_model_meta(out: Path, report: Any, *, parent: str, lineage: dict[str, Any], **fields: Any) -> None:
    """Write ``genehub.json`` beside a bred model: its id, licence, data-use restrictions and lineage."""
    meta = {"repo_id": f"local/{slug(out.name)}", "role": "bred", "license": report.license,
            "license_rule": report.license_rule, "data_use": {"restrictions": report.restrictions},
            "parent": parent, **fields, "lineage": lineage}
    (out / MODEL_META).write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")


def require_host(method: BreedingMethod, config: BreedConfig, parents: list[Parent]) -> Any:
    """The described host the parent genes plug into (``config.host``), each parent checked against it."""
    from ..errors import UsageError
    from ..hosts import describe_host, require_compatible

    if config.host is None:
        raise UsageError(f"{method.name} needs the host model the genes plug into.", hint="Pass --host HOST_DIR.")
    info = describe_host(config.host)
    for p in parents:
        require_compatible(p.host, info, what=f"parent gene {p.label}")
    return info
