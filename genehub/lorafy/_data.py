"""The skill's data, and the general prompts a gene must leave alone, from wherever the user has them.

Sources: a ``datasets.DatasetDict`` or ``Dataset``, a list of rows, a folder written by ``save_to_disk``,
a ``.jsonl``/``.json``/``.csv``/``.parquet`` file (split by its ``split`` column, or 80/10/10 when it has
none), a folder of ``train``/``validation``/``test`` files, or the name of a skill in a
:class:`SkillLibrary` (genehub's zoo is one: ``genehub.zoo.LIBRARY``).

Rows come in two shapes and are rendered once, with the host's tokenizer (:func:`render_rows`):

* plain: a ``prompt`` and a ``completion`` (or ``answer``, ``response``, ``output``, ``target``; other
  names with :class:`RowFormat`). The prompt is fed as it is, unless ``chat=True`` wraps it as one user
  message of the tokenizer's chat template.
* chat: ``messages`` (``[{"role", "content"}, ...]``); the last assistant message is the completion (or
  the row's completion column when no assistant message ends the list), everything before it is
  rendered with ``tokenizer.apply_chat_template(..., add_generation_prompt=True)``.

A rendered row is ``{"prompt": the exact text fed to the model, "answer": the completion, "text": the
user-visible request (the last user message, or the plain prompt)}`` plus the row's other fields
(``heldout``, ``skill``, ``split``...). Routers that embed text use ``text``; every model call uses ``prompt``.

General prompts (:func:`load_general`) are what the host should keep doing with the gene plugged in:
they need no completion (the bare host's own continuation is the reference).
"""

from __future__ import annotations

import dataclasses
import json
import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from ..errors import NotFoundError, UsageError

SPLITS = ("train", "validation", "test")
Rows = list[dict[str, Any]]
#: Column names read as the completion when the caller names none, in this order.
COMPLETION_COLUMNS = ("completion", "answer", "response", "output", "target")
#: File suffixes genehub reads data from, and the ``datasets`` builder for each.
DATA_SUFFIXES = {".jsonl": "json", ".json": "json", ".csv": "csv", ".parquet": "parquet"}
_SPLIT_NAMES = {"train": "train", "validation": "validation", "valid": "validation", "val": "validation",
                "dev": "validation", "test": "test"}


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


@dataclass(frozen=True)
class RowFormat:
    """How the user's rows read.

    Attributes:
        prompt_column: the column holding the prompt (default ``prompt``, or chat ``messages``).
        completion_column: the column holding the completion (default: the first of
            :data:`COMPLETION_COLUMNS` a row has).
        chat: wrap a plain prompt as one user message of the tokenizer's chat template.
    """

    prompt_column: str | None = None
    completion_column: str | None = None
    chat: bool = False


@dataclass
class SkillData:
    """One skill's rendered rows per split, and the library it comes from (None for the user's own data)."""

    name: str
    splits: dict[str, Rows]
    library: SkillLibrary | None = None

    def rows(self, split: str, n: int | None = None) -> Rows:
        rows = self.splits.get(split) or []
        return rows if n is None else rows[:n]


@dataclass
class DataLibrary:
    """Skills from the user's own data as a :class:`SkillLibrary` (e.g. ``--other-skills a.jsonl b.csv``):
    every one is preserved and reported; no pair of them is matched word for word."""

    skills: dict[str, SkillData]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.skills)

    preserve = names
    general = names

    def rows(self, name: str, split: str, n: int) -> Rows:
        if name not in self.skills:
            raise UsageError(f"Unknown skill {name!r}.", hint=f"Choose one of: {', '.join(self.skills)}.")
        return self.skills[name].rows(split, n)

    def contrast_pairs(self, skill: str, others: Sequence[str], n: int, *, seed: int = 0) -> None:
        return None


def _slug(text: str) -> str:
    slug = re.sub(r"[^a-z0-9._-]+", "-", text.lower()).strip("-._")
    return slug[:64] or "skill"


# ------------------------------------------------------------------------------------------ rendering
def _columns(row: Mapping[str, Any]) -> str:
    return ", ".join(sorted(k for k, v in row.items() if v is not None)) or "none"


def _messages(value: Any, i: int) -> list[dict[str, str]]:
    if isinstance(value, str):  # a CSV cell holding JSON
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            value = None
    ok = isinstance(value, list) and value and all(
        isinstance(m, Mapping) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str) for m in value)
    if not ok:
        raise UsageError(f"Row {i}: 'messages' is not a list of {{\"role\", \"content\"}} messages.",
                         hint='Give chat rows as "messages": [{"role": "user", "content": "..."}, ...].')
    return [{"role": m["role"], "content": m["content"]} for m in value]


def _render_chat(tokenizer: Any, messages: list[dict[str, str]], what: str) -> str:
    if tokenizer is None or not getattr(tokenizer, "chat_template", None):
        raise UsageError(f"The {what} needs a chat template to render its chat rows, and the host's tokenizer has none.",
                         hint="Give plain prompt/completion rows without --chat (chat=False), or use a host whose "
                              "tokenizer has a chat template.")
    return str(tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True))


def _render_row(row: Mapping[str, Any], i: int, tokenizer: Any, fmt: RowFormat, require_answer: bool,
                what: str) -> dict[str, Any]:
    completion_key = fmt.completion_column or next((c for c in COMPLETION_COLUMNS if row.get(c) is not None), None)
    if fmt.completion_column and row.get(fmt.completion_column) is None and require_answer:
        raise UsageError(f"Row {i} of the {what} has no {fmt.completion_column!r} column (its columns: {_columns(row)}).",
                         hint="Name the completion column with --completion-column COLUMN (completion_column=).")
    answer = row.get(completion_key) if completion_key else None
    if fmt.prompt_column is None and row.get("messages") is not None:
        messages = _messages(row["messages"], i)
        if messages[-1]["role"] == "assistant":
            answer, messages = messages[-1]["content"], messages[:-1]
        if not messages:
            raise UsageError(f"Row {i} of the {what} has an assistant message and nothing before it.",
                             hint="Give each chat row at least one user message before the answer.")
        prompt = _render_chat(tokenizer, messages, what)
        text = next((m["content"] for m in reversed(messages) if m["role"] == "user"), messages[-1]["content"])
        consumed = {"messages", completion_key}
    else:
        key = fmt.prompt_column or "prompt"
        if not isinstance(row.get(key), str):
            raise UsageError(f"Row {i} of the {what} has no {key!r} column (its columns: {_columns(row)}).",
                             hint="Name the prompt column with --prompt-column COLUMN (prompt_column=), or give "
                                  "chat rows with a 'messages' column.")
        text = row[key]
        prompt = _render_chat(tokenizer, [{"role": "user", "content": text}], what) if fmt.chat else text
        if not fmt.chat and isinstance(row.get("text"), str):
            text = row["text"]  # a row rendered before keeps its request
        consumed = {key, completion_key}
    if answer is None and require_answer:
        raise UsageError(f"Row {i} of the {what} has no completion (its columns: {_columns(row)}).",
                         hint=f"Name the completion column with --completion-column COLUMN (completion_column=); "
                              f"read by default: {', '.join(COMPLETION_COLUMNS)}, or a last assistant message.")
    out = {k: v for k, v in row.items() if k not in consumed and v is not None}
    out.update(prompt=prompt, text=text)
    if answer is not None:
        out["answer"] = str(answer)
    return out


def render_rows(rows: Any, *, tokenizer: Any = None, fmt: RowFormat | None = None, require_answer: bool = True,
                what: str = "skill data") -> Rows:
    """Render rows of either shape (see the module docstring) into ``prompt``/``answer``/``text`` rows.

    Args:
        rows: mappings (or a ``datasets.Dataset``).
        tokenizer: the host's tokenizer (needed for chat rows and ``fmt.chat``).
        fmt: the columns to read (:class:`RowFormat`).
        require_answer: refuse rows without a completion (general prompts need none).
        what: how error messages name the data.

    Raises:
        UsageError: a missing prompt or completion column, malformed messages, or chat rows for a
            tokenizer without a chat template. The message names the option that fixes it.
    """
    fmt = fmt or RowFormat()
    return [_render_row(dict(row), i, tokenizer, fmt, require_answer, what) for i, row in enumerate(rows)]


# ------------------------------------------------------------------------------------------ reading
def _split_rows(rows: Rows, seed: int = 0) -> dict[str, Rows]:
    if rows and all(r.get("split") is not None for r in rows):
        unknown = sorted({str(r["split"]) for r in rows} - set(_SPLIT_NAMES))
        if unknown:
            raise UsageError(f"Unknown split {unknown[0]!r} in the 'split' column.",
                             hint="Use train, validation (or val, dev) and test, or drop the column to split 80/10/10.")
        return {s: [r for r in rows if _SPLIT_NAMES[str(r["split"])] == s] for s in SPLITS}
    rows = list(rows)
    random.Random(seed).shuffle(rows)
    n_val = n_test = max(1, len(rows) // 10) if len(rows) >= 3 else 0
    return {"test": rows[:n_test], "validation": rows[n_test:n_test + n_val], "train": rows[n_test + n_val:]}


def _read_file(path: Path) -> list[dict[str, Any]]:
    from datasets import load_dataset
    from datasets.utils import logging as datasets_logging

    kind = DATA_SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise UsageError(f"Cannot read data from {path.name}.",
                         hint=f"Use a {', '.join(DATA_SUFFIXES)} file or a `datasets` folder (save_to_disk).")
    shown = datasets_logging.is_progress_bar_enabled()
    datasets_logging.disable_progress_bar()  # a bar per small file is noise on the command line
    try:
        return [dict(r) for r in load_dataset(kind, data_files=str(path), split="train")]
    finally:
        if shown:
            datasets_logging.enable_progress_bar()


def _raw(source: Any, library: SkillLibrary | None) -> tuple[dict[str, list[dict[str, Any]]] | list[dict[str, Any]], str]:
    """The source's raw rows (per split, or one list to split) and a default name."""
    from datasets import Dataset, DatasetDict

    if isinstance(source, DatasetDict):
        return {_SPLIT_NAMES[s]: [dict(r) for r in source[s]] for s in source if s in _SPLIT_NAMES}, "skill"
    if isinstance(source, Dataset):
        return [dict(r) for r in source], "skill"
    if isinstance(source, (list, tuple)):
        return [{"prompt": r} if isinstance(r, str) else dict(r) for r in source], "skill"
    path = Path(source)
    if path.is_file():
        return _read_file(path), path.stem
    if path.is_dir() and ((path / "dataset_dict.json").is_file() or (path / "state.json").is_file()):
        from datasets import load_from_disk

        return _raw(load_from_disk(str(path)), library)[0], path.name
    if path.is_dir():
        found = {}
        for f in sorted(path.iterdir()):
            if f.suffix.lower() in DATA_SUFFIXES and f.stem in _SPLIT_NAMES:
                found[_SPLIT_NAMES[f.stem]] = _read_file(f)
        if found:
            return found, path.name
        raise NotFoundError(f"No train/validation/test data files in {path}.",
                            hint=f"Put train.jsonl (and validation/test) there, or pass one file.", path=str(path))
    known = f"one of the library's skills: {', '.join(library.names)}" if library is not None else \
        "a zoo skill (--skill NAME, or genehub.zoo.skill_data(NAME))"
    raise NotFoundError(f"No data at {source!r} (not a file, a folder or a skill of a library).",
                        hint=f"Pass a .jsonl/.csv/.parquet file, a dataset folder, or {known}.", path=str(source))


def load_skill_data(source: Any, *, name: str | None = None, library: SkillLibrary | None = None,
                    tokenizer: Any = None, fmt: RowFormat | None = None, n_library: int = 32768,
                    require_answer: bool = True, seed: int = 0) -> SkillData:
    """Read the skill's data from ``source`` (see the module docstring) into rendered train/validation/test rows.

    Args:
        source: a ``SkillData`` (returned as it is), a ``DatasetDict``/``Dataset``, a list of rows, a path,
            or the name of a skill in ``library``.
        name: the skill's name for the card (default: the library's name, or the file/folder name).
        library: where a skill given by name comes from (e.g. ``genehub.zoo.LIBRARY``).
        tokenizer: the host's tokenizer, to render chat rows (:func:`render_rows`).
        fmt: the columns to read (:class:`RowFormat`).
        n_library: train rows for a library skill (generated, so plenty: a gene distilled from a few
            hundred words memorises them instead of learning the skill); validation has 128, test 1000
            (half of it on held-out templates). bench/NOTES.md has the measurements behind these sizes.
        require_answer: refuse rows without a completion.
        seed: seeds the 80/10/10 split of data without a ``split`` column.

    Raises:
        NotFoundError: a path that does not exist and is no skill of ``library``.
        UsageError: rows without the columns (the message names the option to set), or no train rows.
    """
    if isinstance(source, SkillData):
        return dataclasses.replace(source, name=name) if name else source
    if isinstance(source, str) and library is not None and source in library.names and not Path(source).exists():
        sizes = {"train": n_library, "validation": 128, "test": 1000}
        return SkillData(name or source, {s: render_rows(library.rows(source, s, n)) for s, n in sizes.items()},
                         library)
    raw, label = _raw(source, library)
    label = name or label
    what = "general prompts" if not require_answer else f"data of {label!r}"

    def render(rows: list[dict[str, Any]]) -> Rows:
        return render_rows(rows, tokenizer=tokenizer, fmt=fmt, require_answer=require_answer, what=what)

    splits = {s: render(rows) for s, rows in raw.items()} if isinstance(raw, dict) else _split_rows(render(raw), seed)
    if not splits.get("train"):
        raise UsageError(f"The {what} has no train rows.",
                         hint="Give train/validation/test splits (or one file that genehub splits 80/10/10).")
    if not splits.get("validation"):
        splits["validation"] = splits["train"][: max(1, len(splits["train"]) // 8)]
    if not splits.get("test"):
        splits["test"] = splits["validation"]
    return SkillData(_slug(label), splits)


def load_general(source: Any, *, tokenizer: Any = None, chat: bool = False, seed: int = 0) -> SkillData:
    """General prompts (what the host should keep doing with the gene on) from any source
    :func:`load_skill_data` reads, or a list of prompt strings. They are read from a ``prompt`` (or chat
    ``messages``) column whatever the skill's columns are called; completions are not needed; ``chat``
    wraps a plain prompt as a user message, as for the skill's rows."""
    if isinstance(source, SkillData):
        return source
    return load_skill_data(source, name="general", tokenizer=tokenizer, fmt=RowFormat(chat=chat),
                           require_answer=False, seed=seed)


def load_prompts(source: Any, *, tokenizer: Any = None, chat: bool = False) -> list[str]:
    """Every prompt of ``source`` (all splits; read as :func:`load_general` reads them), rendered as the
    model reads it: e.g. a router's "none" class."""
    if isinstance(source, SkillData):
        return [r["prompt"] for s in SPLITS for r in source.rows(s)]
    raw, _ = _raw(source, None)
    rows = [r for rows in raw.values() for r in rows] if isinstance(raw, dict) else raw
    return [r["prompt"] for r in render_rows(rows, tokenizer=tokenizer, fmt=RowFormat(chat=chat),
                                             require_answer=False, what="general prompts")]


def data_library(sources: Sequence[Any], *, tokenizer: Any = None, fmt: RowFormat | None = None) -> DataLibrary:
    """A :class:`DataLibrary` of the user's other skills, one per source (named after its file).

    Raises:
        UsageError: two sources with the same name.
    """
    skills: dict[str, SkillData] = {}
    for source in sources:
        skill = load_skill_data(source, tokenizer=tokenizer, fmt=fmt)
        if skill.name in skills:
            raise UsageError(f"Two other-skill sources are both named {skill.name!r}.",
                             hint="Rename one of the files.")
        skills[skill.name] = skill
    return DataLibrary(skills)


# ------------------------------------------------------------------------------------------ other skills
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
    return {n: render_rows(library.rows(n, split, n_per_skill)) for n in names}


def interleave(groups: Mapping[str, Rows]) -> Rows:
    """Round-robin rows of several skills into one list (so any prefix mixes them all)."""
    pools = [list(rows) for rows in groups.values() if rows]
    out: Rows = []
    for i in range(max((len(p) for p in pools), default=0)):
        out.extend(p[i] for p in pools if i < len(p))
    return out


def contrast_pairs(skill: SkillData, n: int, *, library: SkillLibrary | None = None, others: Sequence[str] = (),
                   general: SkillData | None = None, seed: int = 0) -> tuple[list[str], list[str], str]:
    """``(skill_prompts, contrast_prompts, source)``: ``n`` pairs that differ in asking for the skill or not.

    For a skill of the library, the library pairs them (the zoo fills the same template slot with the
    same word, so the pair's difference is the skill and nothing else): source ``"library"``. Otherwise
    validation prompts are paired in order with the other skills' and the general prompts
    (``"other prompts"``); with neither, with the skill's own answers put where the request was
    (``"answers"``: a weaker contrast, between asking for the skill and the skill's output).
    """
    if library is not None and others and skill.library is library:
        matched = library.contrast_pairs(skill.name, others, n, seed=seed)
        if matched is not None:
            return matched[0], matched[1], "library"
    rows = skill.rows("validation", n)
    groups = library_rows(library, others, "validation", n) if library is not None and others else {}
    if general is not None:
        groups["general"] = general.rows("validation") or general.rows("train")
    contrast = [r["prompt"] for r in interleave(groups)][:n]
    if contrast:
        k = min(len(rows), len(contrast))
        return [r["prompt"] for r in rows[:k]], contrast[:k], "other prompts"
    # The answer replaces the request inside the same rendering (a chat template's wrapper stays).
    swapped = [r["prompt"].replace(r["text"], rows[(i + 1) % len(rows)]["answer"], 1) if r["text"] in r["prompt"]
               else rows[(i + 1) % len(rows)]["answer"] for i, r in enumerate(rows)]
    return [r["prompt"] for r in rows], swapped, "answers"
