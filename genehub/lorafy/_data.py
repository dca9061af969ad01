"""The skill's data: prompt/answer rows in train/validation/test splits, from wherever the user has them.

A skill is given as a ``datasets.DatasetDict`` (or a ``Dataset``), a folder written by
``save_to_disk``, a ``.jsonl``/``.json``/``.parquet`` file (split by its ``split`` column, or 80/10/10
when it has none), a folder of ``train``/``validation``/``test`` files, or the name of a skill in a
:class:`SkillLibrary`. The other skills a gene must leave alone (the preservation term, the contrast
prompts and the fidelity table) come from a library too: genehub's zoo is one
(``genehub.zoo.LIBRARY``, plain-text skills any tokenizer reads).
"""

from __future__ import annotations

import dataclasses
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from ..errors import NotFoundError, UsageError

SPLITS = ("train", "validation", "test")
Rows = list[dict[str, Any]]


class SkillLibrary(Protocol):
    """Skills besides the one being extracted: what a gene must leave alone and what it is contrasted with.

    Attributes:
        names: every skill the library has.
        preserve: the skills a gene must leave alone when the caller names none (a host's skills).
        general: the skills to contrast with when there is nothing to preserve.
    """

    names: tuple[str, ...]
    preserve: tuple[str, ...]
    general: tuple[str, ...]

    def rows(self, name: str, split: str, n: int) -> Rows:
        """``n`` prompt/answer rows of one split of skill ``name`` (raises UsageError for an unknown skill)."""
        ...

    def contrast_pairs(self, skill: str, others: Sequence[str], n: int, *, seed: int = 0
                       ) -> tuple[list[str], list[str]] | None:
        """``n`` prompt pairs asking for ``skill`` and for one of ``others`` and differing in nothing else,
        or None when the library cannot match them (paired validation prompts are used instead)."""
        ...


@dataclass
class SkillData:
    """One skill's rows per split, and the library it comes from (None for the user's own data)."""

    name: str
    splits: dict[str, Rows]
    library: SkillLibrary | None = None

    def rows(self, split: str, n: int | None = None) -> Rows:
        rows = self.splits.get(split) or []
        return rows if n is None else rows[:n]


def _slug(text: str) -> str:
    slug = re.sub(r"[^a-z0-9._-]+", "-", text.lower()).strip("-._")
    return slug[:64] or "skill"


def _rows(dataset: Any) -> Rows:
    rows = [dict(r) for r in dataset]
    for i, row in enumerate(rows[:1]):
        if not isinstance(row.get("prompt"), str) or not isinstance(row.get("answer"), str):
            raise UsageError(f"Row {i} of the skill data has no string 'prompt' and 'answer' columns: {row!r}.",
                             hint="Give the skill's data as prompt/answer columns (rename yours with "
                                  "`dataset.rename_columns(...)`).")
    return rows


def _split_rows(rows: Rows, seed: int = 0) -> dict[str, Rows]:
    if rows and all("split" in r for r in rows):
        return {s: [r for r in rows if r["split"] == s] for s in SPLITS}
    rows = list(rows)
    random.Random(seed).shuffle(rows)
    n_val = n_test = max(1, len(rows) // 10)
    return {"test": rows[:n_test], "validation": rows[n_test:n_test + n_val], "train": rows[n_test + n_val:]}


def _read_file(path: Path) -> Rows:
    from datasets import load_dataset

    kind = {".jsonl": "json", ".json": "json", ".parquet": "parquet"}.get(path.suffix)
    if kind is None:
        raise UsageError(f"Cannot read skill data from {path.name}.", hint="Use a .jsonl, .json or .parquet file.")
    return _rows(load_dataset(kind, data_files=str(path), split="train"))


def load_skill_data(source: Any, *, name: str | None = None, library: SkillLibrary | None = None,
                    n_library: int = 32768) -> SkillData:
    """Read the skill's data from ``source`` (see the module docstring) into train/validation/test rows.

    Args:
        source: a ``SkillData`` (returned as it is), a ``DatasetDict``/``Dataset``, a path, or the name of
            a skill in ``library``.
        name: the skill's name for the card (default: the library's name, or the file/folder name).
        library: where a skill given by name comes from (e.g. ``genehub.zoo.LIBRARY``).
        n_library: train rows for a library skill (generated, so plenty: a gene distilled from a few
            hundred words memorises them instead of learning the skill); validation has 128, test 1000
            (half of it on held-out templates). bench/NOTES.md has the measurements behind these sizes.

    Raises:
        NotFoundError: a path that does not exist and is no skill of ``library``.
        UsageError: data without prompt/answer columns or without a train split.
    """
    from datasets import Dataset, DatasetDict

    if isinstance(source, SkillData):
        return dataclasses.replace(source, name=name) if name else source
    if isinstance(source, str) and library is not None and source in library.names and not Path(source).exists():
        sizes = {"train": n_library, "validation": 128, "test": 1000}
        return SkillData(name or source, {s: _rows(library.rows(source, s, n)) for s, n in sizes.items()}, library)
    if isinstance(source, DatasetDict):
        splits = {s: _rows(source[s]) for s in SPLITS if s in source}
        label = name or "skill"
    elif isinstance(source, Dataset):
        splits, label = _split_rows(_rows(source)), name or "skill"
    else:
        path = Path(source)
        label = name or path.stem
        if path.is_file():
            splits = _split_rows(_read_file(path))
        elif (path / "dataset_dict.json").is_file():
            from datasets import load_from_disk

            loaded = load_from_disk(str(path))
            splits = {s: _rows(loaded[s]) for s in SPLITS if s in loaded}
        elif path.is_dir():
            splits = {}
            for split in SPLITS:
                files = [f for f in path.glob(f"{split}.*") if f.suffix in (".jsonl", ".json", ".parquet")]
                if files:
                    splits[split] = _read_file(files[0])
        else:
            known = f"one of the library's skills: {', '.join(library.names)}" if library is not None else \
                "a zoo skill as genehub.zoo.skill_data(NAME)"
            raise NotFoundError(f"No skill data at {source!r} (not a file, a folder or a skill of a library).",
                                hint=f"Pass a .jsonl/.parquet file, a dataset folder, or {known}.", path=str(source))
    if not splits.get("train"):
        raise UsageError(f"The skill data {label!r} has no train rows.",
                         hint="Give train/validation/test splits (or one file that genehub splits 80/10/10).")
    if not splits.get("validation"):
        splits["validation"] = splits["train"][: max(1, len(splits["train"]) // 8)]
    if not splits.get("test"):
        splits["test"] = splits["validation"]
    return SkillData(_slug(label), splits)


def other_skills(skill: SkillData, library: SkillLibrary, names: Sequence[str] | None = None) -> tuple[str, ...]:
    """The library's skills the gene must leave alone: ``names``, or the library's default, except this one.

    Raises:
        UsageError: a name the library does not have.
    """
    chosen = tuple(names) if names is not None else library.preserve
    unknown = [n for n in chosen if n not in library.names]
    if unknown:
        raise UsageError(f"Unknown skill {unknown[0]!r}.", hint=f"Choose one of: {', '.join(library.names)}.")
    return tuple(n for n in chosen if n != skill.name)


def library_rows(library: SkillLibrary, names: Sequence[str], split: str, n_per_skill: int) -> dict[str, Rows]:
    """``{skill: rows}`` of the library skills' ``split`` (validation/test rows never overlap with train)."""
    return {n: _rows(library.rows(n, split, n_per_skill)) for n in names}


def interleave(groups: dict[str, Rows]) -> Rows:
    """Round-robin rows of several skills into one list (so any prefix mixes them all)."""
    pools = [list(rows) for rows in groups.values() if rows]
    out: Rows = []
    for i in range(max((len(p) for p in pools), default=0)):
        out.extend(p[i] for p in pools if i < len(p))
    return out


def contrast_pairs(skill: SkillData, library: SkillLibrary, contrast_skills: Sequence[str], n: int, *,
                   seed: int = 0) -> tuple[list[str], list[str]]:
    """``(skill_prompts, contrast_prompts)``: ``n`` pairs that differ only in which skill they ask for.

    For a skill of the library, the library pairs them (the zoo fills the same template slot with the
    same word, so the pair's difference is the skill and nothing else). For other data, validation
    prompts are paired in order with the contrast skills' prompts.
    """
    if skill.library is library:
        matched = library.contrast_pairs(skill.name, contrast_skills, n, seed=seed)
        if matched is not None:
            return matched
    prompts = [r["prompt"] for r in skill.rows("validation", n)]
    others = [r["prompt"] for r in interleave(library_rows(library, contrast_skills, "validation", n))]
    k = min(len(prompts), len(others))
    return prompts[:k], others[:k]
