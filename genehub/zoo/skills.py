"""Synthetic skills: small string tasks with several phrasings each, as `datasets.Dataset`s.

Each skill has *seen* templates (in the train and validation splits) and *held-out* templates (only in
the test split, flagged ``heldout=True``), so recognising a skill is a real task for a router rather than
a lookup of one fixed prefix. The zoo's models themselves were pre-trained on every phrasing (as a
real LM knows many ways to ask), but nothing genehub trains (genes, routers) ever sees a held-out one.

Example:
    >>> from genehub.zoo import skills
    >>> ds = skills.skill_dataset("sort", n_train=8, n_test=4)
    >>> sorted(ds)
    ['test', 'train', 'validation']
"""

from __future__ import annotations

import random
import re
import string
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import UsageError

_LETTERS = string.ascii_lowercase
_VOWELS = set("aeiou")


def _word(rng: random.Random, lo: int = 3, hi: int = 7) -> str:
    return "".join(rng.choice(_LETTERS) for _ in range(rng.randint(lo, hi)))


@dataclass(frozen=True)
class Skill:
    """A synthetic skill: a generator of ``(fields, answer)`` and the templates that ask for it."""

    name: str
    make: Callable[[random.Random], tuple[dict[str, str], str]]
    templates: tuple[str, ...]
    heldout: tuple[str, ...]
    description: str

    def example(self, rng: random.Random, *, heldout: bool = False) -> dict[str, object]:
        fields, answer = self.make(rng)
        pool = self.heldout if heldout else self.templates
        template = rng.choice(pool)
        return {"prompt": template.format(**fields), "answer": answer, "skill": self.name,
                "template": template, "heldout": heldout}


def _unary(fn: Callable[[str], str], lo: int = 3, hi: int = 7):
    def make(rng: random.Random) -> tuple[dict[str, str], str]:
        x = _word(rng, lo, hi)
        return {"x": x}, fn(x)
    return make


def _add(rng: random.Random) -> tuple[dict[str, str], str]:
    a, b = rng.randint(0, 99), rng.randint(0, 99)
    return {"a": str(a), "b": str(b)}, str(a + b)


def _shift(k: int) -> Callable[[str], str]:
    return lambda x: "".join(_LETTERS[(_LETTERS.index(c) + k) % 26] for c in x)


def _build_registry() -> dict[str, Skill]:
    reg: dict[str, Skill] = {}

    def add(name, make, templates, heldout, description):
        reg[name] = Skill(name, make, tuple(templates), tuple(heldout), description)

    add("reverse", _unary(lambda x: x[::-1]), ["R:{x}=", "reverse {x}:", "{x} backwards ->"],
        ["flip {x} =", "mirror {x}:"], "Reverses a lowercase word.")
    add("upper", _unary(str.upper), ["U:{x}=", "upper {x}:", "{x} in caps ->"],
        ["shout {x} =", "capitalize {x}:"], "Upper-cases a lowercase word.")
    add("sort", _unary(lambda x: "".join(sorted(x))), ["S:{x}=", "sort {x}:", "{x} in order ->"],
        ["alphabetize {x} =", "arrange {x}:"], "Sorts the letters of a word alphabetically.")
    add("add", _add, ["A:{a}+{b}=", "add {a} and {b}:", "{a} plus {b} ->"],
        ["sum of {a},{b} =", "total {a} {b}:"], "Adds two numbers below 100.")
    # General skills: what the host does well and no gene is needed for (the router's "none").
    add("copy", _unary(lambda x: x), ["C:{x}=", "copy {x}:", "{x} again ->"],
        ["echo {x} =", "repeat {x}:"], "Copies a word.")
    add("length", _unary(lambda x: str(len(x)), 1, 9), ["L:{x}=", "length {x}:", "{x} has letters ->"],
        ["count {x} =", "size of {x}:"], "Counts the letters of a word.")
    add("double", _unary(lambda x: "".join(c + c for c in x), 2, 5), ["D:{x}=", "double {x}:", "{x} twice each ->"],
        ["stutter {x} =", "dup {x}:"], "Doubles every letter of a word.")
    add("devowel", _unary(lambda x: "".join(c for c in x if c not in _VOWELS) or "-"),
        ["V:{x}=", "devowel {x}:", "{x} no vowels ->"], ["strip vowels {x} =", "consonants {x}:"],
        "Removes the vowels of a word.")
    # A family of Caesar shifts: as many extra skills as a scaling experiment needs.
    for k in range(1, 13):
        add(f"shift{k}", _unary(_shift(k)), [f"Z{k}:{{x}}=", f"shift{k} {{x}}:", f"{{x}} rot{k} ->"],
            [f"caesar{k} {{x}} =", f"move {{x}} by {k}:"], f"Shifts every letter {k} places along the alphabet.")
    return reg


SKILLS: dict[str, Skill] = _build_registry()
#: Skills the zoo's host is pre-trained on (sort and add stay weak: that is what donors fix).
HOST_SKILLS: tuple[str, ...] = ("reverse", "upper", "sort", "add", "copy", "length", "double")
#: The host's general skills: prompts for which no gene should be expressed.
GENERAL_SKILLS: tuple[str, ...] = ("copy", "length", "double")


def get_skill(name: str) -> Skill:
    try:
        return SKILLS[name]
    except KeyError:
        raise UsageError(f"Unknown skill {name!r}.", hint=f"Choose one of: {', '.join(SKILLS)}.") from None


def sample(skill_names: Sequence[str], n: int, *, seed: int, heldout_share: float = 0.0) -> list[dict[str, object]]:
    """``n`` examples drawn round-robin from ``skill_names`` (deterministic for a seed)."""
    rng = random.Random(seed)
    skills = [get_skill(s) for s in skill_names]
    return [skills[i % len(skills)].example(rng, heldout=rng.random() < heldout_share) for i in range(n)]


_SPLIT_STREAMS = {"train": 1, "validation": 2, "test": 3}


def split_rows(name: str, split: str, n: int, *, seed: int = 0) -> list[dict[str, object]]:
    """``n`` rows of one split of one skill (the first ``n`` of any larger draw of that split).

    train and validation use the seen templates; test mixes seen and held-out templates half and half
    (column ``heldout``). Splits use disjoint random streams.
    """
    get_skill(name)  # fail early on an unknown name
    if split not in _SPLIT_STREAMS:
        raise UsageError(f"Unknown split {split!r}.", hint=f"Use one of: {', '.join(_SPLIT_STREAMS)}.")
    stream = seed * 1000 + sum(map(ord, name)) + _SPLIT_STREAMS[split]
    return sample([name], n, seed=stream, heldout_share=0.5 if split == "test" else 0.0)


def skill_splits(name: str, *, n_train: int = 512, n_validation: int = 128, n_test: int = 200,
                 seed: int = 0) -> dict[str, list[dict[str, object]]]:
    """One skill's train/validation/test rows as plain lists (what :func:`skill_dataset` wraps)."""
    sizes = {"train": n_train, "validation": n_validation, "test": n_test}
    return {split: split_rows(name, split, n, seed=seed) for split, n in sizes.items()}


def skill_dataset(name: str, *, n_train: int = 512, n_validation: int = 128, n_test: int = 200, seed: int = 0):
    """A ``datasets.DatasetDict`` (train/validation/test) of one skill's rows (see :func:`skill_splits`)."""
    from datasets import Dataset, DatasetDict

    splits = skill_splits(name, n_train=n_train, n_validation=n_validation, n_test=n_test, seed=seed)
    return DatasetDict({k: Dataset.from_list(v) for k, v in splits.items()})


def general_dataset(*, n: int = 256, seed: int = 0, split: str = "train"):
    """Prompts of the host's general skills (the router's "none" class), as a ``datasets.Dataset``."""
    from datasets import Dataset

    offset = {"train": 11, "validation": 12, "test": 13}[split]
    heldout = 0.5 if split == "test" else 0.0
    return Dataset.from_list(sample(GENERAL_SKILLS, n, seed=seed * 1000 + offset, heldout_share=heldout))


def none_prompts(covered: Sequence[str], *, seed: int = 0, per_skill: int = 256) -> list[str]:
    """Prompts for a router's "none" class: every host skill that no gene covers (seen phrasings).

    What the host already does without a gene is exactly what "none" means, and the more of it a router
    sees, the less it takes an unfamiliar phrasing of a host skill for a gene's skill (bench/REPORT.md).
    When the genes cover every host skill, the general skills stand in. Pass it to
    :meth:`genehub.routing.Router.train` (or :func:`genehub.routing.compose`) as ``none_prompts``: the
    router calls it with its genes' skills, again whenever a gene is added.
    """
    return [str(r["prompt"]) for r in none_rows(covered, seed=seed, per_skill=per_skill)]


def none_rows(covered: Sequence[str], *, seed: int = 0, per_skill: int = 256) -> list[dict[str, object]]:
    """The rows (prompt, answer, skill) behind :func:`none_prompts`."""
    skills = [s for s in HOST_SKILLS if s not in set(covered)] or list(GENERAL_SKILLS)
    return sample(skills, per_skill * len(skills), seed=seed * 1000 + 11)  # seen phrasings only


class ZooSkills:
    """The zoo's skills as a :class:`genehub.lorafy.SkillLibrary`: what a gene extracted on a zoo model
    must leave alone (the host's skills), the prompts it is contrasted with, and a skill's own splits."""

    names: tuple[str, ...] = tuple(SKILLS)
    preserve: tuple[str, ...] = HOST_SKILLS
    general: tuple[str, ...] = GENERAL_SKILLS

    def __repr__(self) -> str:
        return "genehub.zoo.LIBRARY"

    def rows(self, name: str, split: str, n: int) -> list[dict[str, object]]:
        return split_rows(name, split, n)

    def contrast_pairs(self, skill: str, others: Sequence[str], n: int, *, seed: int = 0
                       ) -> tuple[list[str], list[str]] | None:
        """``n`` prompt pairs that fill the same template slot with the same word (``"S:{x}="`` vs
        ``"C:{x}="``, ``"sort {x}:"`` vs ``"copy {x}:"``), so the pair differs in the skill asked and
        nothing else; None when no other skill's templates line up with this one's."""
        own = get_skill(skill)
        fields = set(re.findall(r"{(\w+)}", own.templates[0]))
        pool = [get_skill(s) for s in others
                if set(re.findall(r"{(\w+)}", get_skill(s).templates[0])) == fields
                and len(get_skill(s).templates) == len(own.templates)]
        if not pool:
            return None
        rng = random.Random(seed + 7)
        left, right = [], []
        for i in range(n):
            values, _ = own.make(rng)
            j = rng.randrange(len(own.templates))
            left.append(own.templates[j].format(**values))
            right.append(pool[i % len(pool)].templates[j].format(**values))
        return left, right


#: The zoo's skills, for :func:`genehub.lorafy.extract` (``library=``) and :func:`skill_data`.
LIBRARY = ZooSkills()


def skill_data(name: str) -> Any:
    """A zoo skill as :func:`genehub.lorafy.extract` takes it: its splits, and the zoo as its library
    (the skills the gene must leave alone and is contrasted with)."""
    from ..lorafy import load_skill_data

    return load_skill_data(name, library=LIBRARY)


def search_tasks(skills: Sequence[str], *, n_validation: int = 200, n_test: int = 200
                 ) -> dict[str, tuple[list[dict[str, object]], list[dict[str, object]]]]:
    """``{skill: (validation rows, test rows)}`` of zoo skills, for :func:`genehub.breeding.evolve.evolve`
    (``tasks=search_tasks``): recipes are searched on validation prompts and the winner is tested apart."""
    return {s: (split_rows(s, "validation", n_validation), split_rows(s, "test", n_test)) for s in skills}
