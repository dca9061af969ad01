"""Parents of a breeding: a gene directory or a model directory, described once without loading weights.

Everything downstream (the gate, the planner, the merge methods) reads a :class:`Parent`, never the
directory itself: its card or config, its host description, its licence and data-use restrictions, and
the names and shapes of its tensors (from the safetensors header, so nothing is loaded).
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ..errors import NotFoundError

_ADAPTER_WEIGHTS = "adapter_model.safetensors"


@dataclass
class Parent:
    """One parent of a breeding.

    Attributes:
        path: the gene or model directory.
        kind: ``"gene"`` (a PEFT LoRA with ``gene.json``) or ``"model"`` (a ``save_pretrained`` causal LM).
        repo_id, revision: how the child's lineage names this parent.
        host: the host description (a gene's ``card["host"]``; a model's own :class:`~genehub.hosts.HostInfo`).
        license: SPDX expression.
        restrictions: data-use restrictions from the card (genes) or ``genehub.json`` (models).
        card: the gene card (genes only).
        signer: who signed it, once verified (None: not verified).
        lineage: repo ids this parent descends from (itself first), from cards and configs.
    """

    path: Path
    kind: Literal["gene", "model"]
    repo_id: str
    revision: str
    host: dict[str, Any]
    license: str
    restrictions: list[str] = field(default_factory=list)
    card: dict[str, Any] | None = None
    signer: str | None = None
    lineage: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        return f"{self.repo_id} ({self.path.name})"

    @property
    def skill(self) -> str | None:
        if self.card:
            return self.card.get("skill")
        meta = _model_meta(self.path)
        return meta.get("skill")

    def tensor_shapes(self) -> dict[str, tuple[int, ...]]:
        """``{tensor name: shape}`` read from the safetensors header(s), without loading any weights."""
        if self.kind == "gene":
            return safetensors_shapes(self.path / _ADAPTER_WEIGHTS)
        shapes: dict[str, tuple[int, ...]] = {}
        for file in sorted(self.path.glob("*.safetensors")):
            shapes.update(safetensors_shapes(file))
        return shapes

    def lora_rank(self) -> int | None:
        if self.kind != "gene":
            return None
        config = json.loads((self.path / "adapter_config.json").read_text())
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


def _model_meta(path: Path) -> dict[str, Any]:
    meta = path / "genehub.json"
    return json.loads(meta.read_text()) if meta.is_file() else {}


def _readme_license(path: Path) -> str | None:
    # A Hub snapshot states its licence in the README's YAML front matter.
    readme = path / "README.md"
    if not readme.is_file():
        return None
    text = readme.read_text(encoding="utf-8", errors="replace")
    if not text.startswith("---"):
        return None
    import yaml

    try:
        front = yaml.safe_load(text.split("---", 2)[1]) or {}
    except yaml.YAMLError:
        return None
    value = front.get("license")
    return str(value) if value else None


def load_parent(ref: Any) -> Parent:
    """Describe a parent given a path (gene or model directory), a :class:`Parent`, or a verification result.

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
    if (path / "gene.json").is_file():
        from ..gene.card import load_card

        card = load_card(path)
        lineage = [f"gene:{card['name']}@{card['version']}", card["host"]["repo_id"]]
        lineage += [p["repo_id"] for p in card["parents"] if p["repo_id"] not in lineage]
        return Parent(
            path=path, kind="gene", repo_id=f"gene/{card['name']}", revision=_gene_revision(path),
            host=dict(card["host"]), license=card["license"]["spdx"],
            restrictions=list(card["data_use"]["restrictions"]), card=card, signer=signer,
            lineage=lineage,
        )
    if (path / "config.json").is_file():
        from ..hosts import describe_host

        info = describe_host(path)
        meta = _model_meta(path)
        lineage = [info.repo_id]
        for key in ("parent", "base_model"):
            if meta.get(key) and meta[key] not in lineage:
                lineage.append(str(meta[key]))
        config = json.loads((path / "config.json").read_text())
        if config.get("_name_or_path") and config["_name_or_path"] not in lineage:
            lineage.append(str(config["_name_or_path"]))
        return Parent(
            path=path, kind="model", repo_id=info.repo_id, revision=info.revision, host=info.to_dict(),
            license=str(meta.get("license") or _readme_license(path) or "NOASSERTION"),
            restrictions=list(meta.get("data_use", {}).get("restrictions", [])) if isinstance(meta.get("data_use"), dict) else [],
            lineage=lineage,
        )
    raise NotFoundError(
        f"{path} is neither a gene (no gene.json) nor a model directory (no config.json).",
        hint="Pass gene directories (from `genehub extract` or `genehub pull`) or save_pretrained model folders.",
        path=str(path),
    )


def _gene_revision(path: Path) -> str:
    # A gene's identity is the digest of its card, which pins every payload digest in turn.
    from ..gene.layout import file_digest

    return file_digest(path / "gene.json")


def shared_ancestor(parents: list[Parent]) -> str | None:
    """The first repo id in every parent's lineage (their common base), or None when they share none."""
    if not parents:
        return None
    common = [r for r in parents[0].lineage if all(r in p.lineage for p in parents[1:])]
    return common[0] if common else None
