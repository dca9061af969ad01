"""The skill's data: prompt/answer rows in train/validation/test splits, from wherever the user has them.

A skill is given as a ``datasets.DatasetDict`` (or a ``Dataset``), a folder written by
``save_to_disk``, a ``.jsonl``/``.json``/``.parquet`` file (split by its ``split`` column, or 80/10/10
when it has none), a folder of ``train``/``validation``/``test`` files, or, as a convenience, the name
of a zoo skill. Other skills (for the preservation term, the contrast prompts and the fidelity table)
default to the zoo's skills, which are plain text any tokenizer can read.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import NotFoundError, UsageError

SPLITS = ("train", "validation", "test")
Rows = list[dict[str, Any]]


@dataclass
class SkillData:
    """One skill's rows per split. ``zoo`` is True when it is a zoo skill (other skills then come from the zoo)."""

    name: str
    splits: dict[str, Rows]
    zoo: bool = False

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


def load_skill_data(source: Any, *, name: str | None = None, n_zoo: int = 32768) -> SkillData:
    """Read the skill's data from ``source`` (see the module docstring) into train/validation/test rows.

    Args:
        source: a ``DatasetDict``/``Dataset``, a path, or a zoo skill name.
        name: the skill's name for the card (default: the zoo name, or the file/folder name).
        n_zoo: train rows for a zoo skill (generated, so plenty: a gene distilled from a few hundred
            words memorises them instead of learning the skill, and 3000 steps of 32 rows from 4096 reached
            0.86 on the demo sort donor's templates against 0.90 from 32768); validation has 128, test 1000 (half
            of it on held-out templates; with 200, one prompt moved a seen-template figure by 1 point).

    Raises:
        NotFoundError: a path that does not exist and is no zoo skill.
        UsageError: data without prompt/answer columns or without a train split.
    """
    from datasets import Dataset, DatasetDict

    from ..zoo import skills as zoo_skills

    if isinstance(source, str) and source in zoo_skills.SKILLS and not Path(source).exists():
        splits = zoo_skills.skill_splits(source, n_train=n_zoo, n_validation=128, n_test=1000)
        return SkillData(name or source, {s: _rows(splits[s]) for s in SPLITS}, zoo=True)
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
            raise NotFoundError(f"No skill data at {source!r} (not a file, a folder or a zoo skill).",
                                hint=f"Pass a .jsonl/.parquet file, a dataset folder, or one of the zoo skills: "
                                     f"{', '.join(zoo_skills.SKILLS)}.", path=str(source))
    if not splits.get("train"):
        raise UsageError(f"The skill data {label!r} has no train rows.",
                         hint="Give train/validation/test splits (or one file that genehub splits 80/10/10).")
    if not splits.get("validation"):
        splits["validation"] = splits["train"][: max(1, len(splits["train"]) // 8)]
    if not splits.get("test"):
        splits["test"] = splits["validation"]
    return SkillData(_slug(label), splits, zoo=False)


def other_skills(skill: SkillData, names: tuple[str, ...] | None = None) -> tuple[str, ...]:
    """The zoo skills the gene must leave alone: ``names``, or every host skill except this one."""
    from ..zoo import skills as zoo_skills

    chosen = names if names is not None else zoo_skills.HOST_SKILLS
    for n in chosen:
        zoo_skills.get_skill(n)
    return tuple(n for n in chosen if n != skill.name)


def zoo_rows(names: tuple[str, ...], split: str, n_per_skill: int) -> dict[str, Rows]:
    """``{skill: rows}`` of zoo skills' ``split`` (validation/test rows never overlap with train)."""
    from ..zoo import skills as zoo_skills

    out = {}
    for n in names:
        splits = zoo_skills.skill_splits(n, n_train=n_per_skill, n_validation=n_per_skill, n_test=n_per_skill)
        out[n] = _rows(splits[split])
    return out


def interleave(groups: dict[str, Rows]) -> Rows:
    """Round-robin rows of several skills into one list (so any prefix mixes them all)."""
    pools = [list(rows) for rows in groups.values() if rows]
    out: Rows = []
    for i in range(max((len(p) for p in pools), default=0)):
        out.extend(p[i] for p in pools if i < len(p))
    return out


def contrast_pairs(skill: SkillData, contrast_skills: tuple[str, ...], n: int, *, seed: int = 0) -> tuple[list[str], list[str]]:
    """``(skill_prompts, contrast_prompts)``: ``n`` pairs that differ only in which skill they ask for.

    For a zoo skill each pair fills the same template slot (``"S:{x}="`` vs ``"C:{x}="``, ``"sort {x}:"``
    vs ``"copy {x}:"``) with the same word, so the pair's difference is the skill and nothing else. For
    other data, validation prompts are paired in order with other skills' prompts.
    """
    from ..zoo import skills as zoo_skills

    if skill.zoo:
        own = zoo_skills.get_skill(skill.name)
        rng = random.Random(seed + 7)
        fields = set(re.findall(r"{(\w+)}", own.templates[0]))
        pool = [zoo_skills.get_skill(s) for s in contrast_skills
                if set(re.findall(r"{(\w+)}", zoo_skills.get_skill(s).templates[0])) == fields
                and len(zoo_skills.get_skill(s).templates) == len(own.templates)]
        if pool:
            left, right = [], []
            for i in range(n):
                values, _ = own.make(rng)
                j = rng.randrange(len(own.templates))
                left.append(own.templates[j].format(**values))
                right.append(pool[i % len(pool)].templates[j].format(**values))
            return left, right
    prompts = [r["prompt"] for r in skill.rows("validation", n)]
    others = [r["prompt"] for r in interleave(zoo_rows(contrast_skills, "validation", n))]
    k = min(len(prompts), len(others))
    return prompts[:k], others[:k]
