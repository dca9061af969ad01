"""One object for one gene: where it is, what its card says (typed), what pins it, and its examples.

Everything that handles a gene holds a :class:`Gene`: the router and the composition, the registry's
installed genes, the Space's rows, breeding's parents. The card stays the schema-checked dict
(``gene.card``); :class:`CardView` only gives its most used fields types, so no caller writes
``card["host"]["repo_id"]`` again. Search hits on a registry (a card, no directory) hold a ``CardView``.

    >>> gene = Gene.load("genes/sort")
    >>> gene.name, gene.skill, gene.host.repo_id, gene.adapter.rank
    ('sort-gene', 'sort', 'genehub-zoo/tiny-host', 16)
    >>> gene.digest                       # sha256 over card, adapter and examples
    'sha256:...'
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from ..errors import CardValidationError, NotFoundError
from ..hosts import HostInfo
from .card import load_card, validate_card
from .layout import ADAPTER_CONFIG, ADAPTER_WEIGHTS, CARD, EXAMPLES, PINNED_FILES, dir_digest


@dataclass(frozen=True)
class CardParent:
    """One entry of the card's ``parents``: a model or gene this gene was made from."""

    role: str
    repo_id: str
    revision: str
    license: str


@dataclass(frozen=True)
class CardAdapter:
    """The card's ``adapter``: the PEFT LoRA stored beside it."""

    type: str
    rank: int
    alpha: float
    target_modules: tuple[str, ...]
    layers: tuple[int, ...]
    size_bytes: int


@dataclass(frozen=True)
class CardFidelity:
    """The card's ``fidelity``: the skill metric of host, donor (None if not measured) and host + gene,
    and ``{skill: {"host", "gene"}}`` for the other skills."""

    metric: str
    host: float | None
    donor: float | None
    gene: float | None
    other_skills: Mapping[str, Mapping[str, float]]
    num_test_prompts: int


@dataclass(frozen=True)
class CardHomology:
    """The card's ``homology``: the aggregate score and ``{"layer", "pca_cosine", "mean_diff_cosine"}`` rows."""

    method: str
    aggregate: float
    per_layer: tuple[Mapping[str, Any], ...]
    num_contrast_pairs: int


class CardView:
    """Typed fields over a validated gene card (``self.card``, the dict, holds everything else).

    Args:
        card: a card that :func:`genehub.gene.validate_card` accepts.
    """

    def __init__(self, card: dict[str, Any]) -> None:
        self.card = card

    @classmethod
    def of(cls, card: Any, *, source: str = "gene card") -> CardView:
        """Validate ``card`` (raises :class:`~genehub.errors.CardValidationError`) and view it."""
        return cls(validate_card(card, source=source))

    @property
    def name(self) -> str:
        """The gene's name (a slug)."""
        return str(self.card["name"])

    @property
    def version(self) -> str:
        return str(self.card["version"])

    @property
    def skill(self) -> str:
        """The skill it carries (a slug)."""
        return str(self.card["skill"])

    @property
    def summary(self) -> str:
        return str(self.card["summary"])

    @property
    def license(self) -> str:
        """Its SPDX licence expression."""
        return str(self.card["license"]["spdx"])

    @property
    def license_rule(self) -> str:
        """How the licence follows from the parents' licences."""
        return str(self.card["license"]["rule"])

    @property
    def restrictions(self) -> tuple[str, ...]:
        """Its data-use restrictions."""
        return tuple(self.card["data_use"]["restrictions"])

    @cached_property
    def host(self) -> HostInfo:
        """The host the gene was made for."""
        return HostInfo.from_dict(self.card["host"])

    @cached_property
    def parents(self) -> tuple[CardParent, ...]:
        return tuple(CardParent(p["role"], p["repo_id"], p["revision"], p["license"]) for p in self.card["parents"])

    @cached_property
    def adapter(self) -> CardAdapter:
        a = self.card["adapter"]
        return CardAdapter(a["type"], int(a["rank"]), float(a["alpha"]), tuple(a["target_modules"]),
                           tuple(a["layers"]), int(a["size_bytes"]))

    @cached_property
    def fidelity(self) -> CardFidelity:
        f = self.card["fidelity"]
        skill = f["skill"]
        return CardFidelity(f["metric"], skill.get("host"), skill.get("donor"), skill.get("gene"),
                            dict(f["other_skills"]), int(f["num_test_prompts"]))

    @cached_property
    def homology(self) -> CardHomology:
        h = self.card["homology"]
        return CardHomology(h["method"], float(h["aggregate"]), tuple(h["per_layer"]), int(h["num_contrast_pairs"]))

    @property
    def routing(self) -> dict[str, Any] | None:
        """The card's routing block (what a router needs to know about the gene), or None.

        The hook for routing data carried by the gene itself (e.g. prototypes of its prompts): the
        schema has no such block yet, so today this is always None.
        """
        block = self.card.get("routing")
        return block if isinstance(block, dict) else None

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name} {self.version}, skill {self.skill}, host {self.host.repo_id})"


class Gene(CardView):
    """A gene directory, read once: its validated card (typed), and its files on demand.

    Use :meth:`load`; ``os.fspath(gene)`` is the directory, which ``PeftModel.from_pretrained`` loads.
    """

    def __init__(self, path: str | Path, card: dict[str, Any]) -> None:
        super().__init__(card)
        self.path = Path(path)

    @classmethod
    def load(cls, path: str | Path) -> Gene:
        """Read the gene at ``path`` (its card is validated; the signature is not checked: see :meth:`verify`).

        Raises:
            NotFoundError: no card or no adapter there.
            CardValidationError: the card violates the schema.
        """
        path = Path(path)
        missing = [n for n in (CARD, ADAPTER_CONFIG, ADAPTER_WEIGHTS) if not (path / n).is_file()]
        if missing:
            raise NotFoundError(f"{path} is not a gene directory (missing {', '.join(missing)}).",
                                hint="Pass a folder written by `write_gene`, `genehub extract` or `genehub pull`.",
                                path=str(path))
        return cls(path, load_card(path))

    def __fspath__(self) -> str:
        return str(self.path)

    def __repr__(self) -> str:
        return f"Gene({self.name} {self.version} at {self.path})"

    @cached_property
    def digest(self) -> str:
        """``sha256:<hex>`` pinning the gene exactly: its card (which records the payload digests) and the
        payload itself (adapter config, weights, examples). Computed once, streaming."""
        return dir_digest(self.path, PINNED_FILES)

    def examples(self, limit: int | None = None) -> list[dict[str, Any]]:
        """The ``examples.jsonl`` rows (``{"prompt", "answer"}``: what the skill looks like; a router's data).

        Raises:
            NotFoundError: the gene has no examples file.
            CardValidationError: a line is not a JSON object with a string ``prompt``.
        """
        path = self.path / EXAMPLES
        if not path.is_file():
            raise NotFoundError(f"Gene {self.name} has no {EXAMPLES}.",
                                hint="Rewrite it with `genehub.gene.write_gene`, which writes the examples.",
                                path=str(path))
        rows: list[dict[str, Any]] = []
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if limit is not None and len(rows) >= limit:
                break
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError:
                row = None
            if not isinstance(row, dict) or not isinstance(row.get("prompt"), str):
                raise CardValidationError(f"{path} line {number} is not a {{\"prompt\": ...}} object.",
                                          errors=[(f"{EXAMPLES}:{number}", "not a JSON object with a string prompt")],
                                          hint="Rewrite the gene with `genehub.gene.write_gene`.")
            rows.append(row)
        return rows

    def verify(self, trust: Any = None) -> Any:
        """Check the signature, the signer's trust and the card's digests (:func:`genehub.gene.verify_gene`).

        Returns:
            The :class:`~genehub.gene.Verification` (signer, fingerprint, card).
        """
        from .signing import verify_gene

        return verify_gene(self.path, trust=trust)
