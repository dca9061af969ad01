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
import string
from collections.abc import Callable, Sequence
from dataclasses import dataclass

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


def skill_splits(name: str, *, n_train: int = 512, n_validation: int = 128, n_test: int = 200,
                 seed: int = 0) -> dict[str, list[dict[str, object]]]:
    """One skill's train/validation/test rows as plain lists (what :func:`skill_dataset` wraps).

    train and validation use the seen templates; test mixes seen and held-out templates half and half
    (column ``heldout``). Splits use disjoint random streams.
    """
    get_skill(name)  # fail early on an unknown name
    base = seed * 1000 + sum(map(ord, name))
    return {
        "train": sample([name], n_train, seed=base + 1),
        "validation": sample([name], n_validation, seed=base + 2),
        "test": sample([name], n_test, seed=base + 3, heldout_share=0.5),
    }


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
