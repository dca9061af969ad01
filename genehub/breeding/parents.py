"""Parents of a breeding: a gene (a :class:`~genehub.gene.Gene`) or a model directory, described once
without loading weights.

Everything downstream (the gate, the planner, the merge methods) reads a :class:`Parent`, never the
directory itself: its gene or its model's description, its host, its licence and data-use restrictions,
and the names and shapes of its tensors (from the safetensors header, so nothing is loaded).
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ..errors import NotFoundError
from ..gene import ADAPTER_CONFIG, ADAPTER_WEIGHTS, CARD, Gene
from ..hosts import HostInfo, describe_host, model_license, model_meta


@dataclass
class Parent:
    """One parent of a breeding.

    Attributes:
        path: the gene or model directory.
        kind: ``"gene"`` (a PEFT LoRA with ``gene.json``) or ``"model"`` (a ``save_pretrained`` causal LM).
        repo_id, revision: how the child's lineage names this parent.
        host: the host a gene was made for; a model's own description.
        license: SPDX expression.
        restrictions: data-use restrictions from the card (genes) or ``genehub.json`` (models).
        gene: the gene (genes only).
        signer: who signed it, once verified (None: not verified).
        lineage: repo ids this parent descends from (itself first), from cards and configs.
    """

    path: Path
    kind: Literal["gene", "model"]
    repo_id: str
    revision: str
    host: HostInfo
    license: str
    restrictions: list[str] = field(default_factory=list)
    gene: Gene | None = None
    signer: str | None = None
    lineage: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        return f"{self.repo_id} ({self.path.name})"

    @property
    def skill(self) -> str | None:
        if self.gene is not None:
            return self.gene.skill
        return model_meta(self.path).get("skill")

    def tensor_shapes(self) -> dict[str, tuple[int, ...]]:
        """``{tensor name: shape}`` read from the safetensors header(s), without loading any weights."""
        if self.gene is not None:
            return safetensors_shapes(self.path / ADAPTER_WEIGHTS)
        shapes: dict[str, tuple[int, ...]] = {}
        for file in sorted(self.path.glob("*.safetensors")):
            shapes.update(safetensors_shapes(file))
        return shapes

    def lora_rank(self) -> int | None:
        if self.gene is None:
            return None
        config = json.loads((self.path / ADAPTER_CONFIG).read_text())
        return int(config.get("r", 0)) or None


def safetensors_shapes(path: str | Path) -> dict[str, tuple[int, ...]]:
    """Tensor shapes from a safetensors file's JSON header (8-byte length + header; no tensor data read)."""
    path = Path(path)
    if not path.is_file():
        raise NotFoundError(f"No weights at {path}.", hint="Pass a complete gene or model directory.", path=str(path))
    with open(path, "rb") as fh:
        (length,) = struct.unpack("<Q", fh.read(8))
        header = json.loads(fh.read(length))
    return {name: tuple(meta["shape"]) for name, meta in header.items() if name != "__metadata__"}


def load_parent(ref: Any) -> Parent:
    """Describe a parent given a path (gene or model directory), a :class:`Parent`, a
    :class:`~genehub.gene.Gene`, or a verification result.

    A ``(path, genehub.gene.Verification)`` pair counts as an already-verified gene (not verified again).

    Raises:
        NotFoundError: the path holds neither ``gene.json`` nor ``config.json``.
    """
    if isinstance(ref, Parent):
        return ref
    signer = None
    if isinstance(ref, tuple) and len(ref) == 2 and hasattr(ref[1], "signer"):
        ref, signer = ref[0], ref[1].signer
    path = Path(ref)
    if isinstance(ref, Gene) or (path / CARD).is_file():
        gene = ref if isinstance(ref, Gene) else Gene.load(path)
        lineage = [f"gene:{gene.name}@{gene.version}", gene.host.repo_id]
        lineage += [p.repo_id for p in gene.parents if p.repo_id not in lineage]
        return Parent(path=path, kind="gene", repo_id=f"gene/{gene.name}", revision=gene.digest, host=gene.host,
                      license=gene.license, restrictions=list(gene.restrictions), gene=gene, signer=signer,
                      lineage=lineage)
    if (path / "config.json").is_file():
        info = describe_host(path)
        meta = model_meta(path)
        lineage = [info.repo_id]
        for key in ("parent", "base_model"):
            if meta.get(key) and meta[key] not in lineage:
                lineage.append(str(meta[key]))
        config = json.loads((path / "config.json").read_text())
        if config.get("_name_or_path") and config["_name_or_path"] not in lineage:
            lineage.append(str(config["_name_or_path"]))
        data_use = meta.get("data_use")
        return Parent(
            path=path, kind="model", repo_id=info.repo_id, revision=info.revision, host=info,
            license=model_license(path) or "NOASSERTION",
            restrictions=list(data_use.get("restrictions", [])) if isinstance(data_use, dict) else [],
            lineage=lineage,
        )
    raise NotFoundError(
        f"{path} is neither a gene (no gene.json) nor a model directory (no config.json).",
        hint="Pass gene directories (from `genehub extract` or `genehub pull`) or save_pretrained model folders.",
        path=str(path),
    )


def shared_ancestor(parents: list[Parent]) -> str | None:
    """The first repo id in every parent's lineage (their common base), or None when they share none."""
    if not parents:
        return None
    common = [r for r in parents[0].lineage if all(r in p.lineage for p in parents[1:])]
    return common[0] if common else None
