"""Licences of parents and children: SPDX expressions parsed with ``license-expression``, a small rule table.

A bred gene or model is a derivative work of every parent, so its licence is the conjunction (AND) of
the licences chosen from each parent's expression (an ``A OR B`` parent lets us pick the option that
fits). The rules below are the well-known incompatibilities that matter for model weights; anything the
table does not know (a ``LicenseRef-``, a custom model licence) is refused until a person records an
SPDX expression for it, because guessing is how licence violations happen.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from functools import cache
from typing import Any

#: Families of licences, by what they demand of a derivative. Matched against SPDX ids (case-insensitive).
_FAMILIES: tuple[tuple[str, str], ...] = (
    ("no_derivatives", r"^CC-BY(-NC)?-ND-"),
    ("noncommercial_sharealike", r"^CC-BY-NC-SA-"),
    ("noncommercial", r"^CC-BY-NC-"),
    ("sharealike", r"^CC-BY-SA-"),
    ("gpl2_only", r"^GPL-2\.0(-only)?$"),
    ("strong_copyleft", r"^(A?GPL-[23]\.0(-only|-or-later)?|GPL-2\.0-or-later)$"),
    ("weak_copyleft", r"^(LGPL-[23]\.[01](-only|-or-later)?|MPL-2\.0|EPL-[12]\.0|CDDL-1\.[01])$"),
    ("permissive", r"^(MIT|MIT-0|Apache-2\.0|BSD-[234]-Clause.*|ISC|Zlib|Unlicense|CC0-1\.0|CC-BY-[34]\.0|"
                   r"BSL-1\.0|PSF-2\.0|Python-2\.0|0BSD|OpenRAIL|CreativeML-OpenRAIL-M|BigScience-OpenRAIL-M|"
                   r"OpenRAIL\+\+|Artistic-2\.0|WTFPL)$"),
)

# Pairs of families (or exact ids) that cannot be combined into one derivative, with the reason.
_CONFLICTS: tuple[tuple[str, str, str], ...] = (
    ("gpl2_only", "Apache-2.0", "GPL-2.0-only cannot absorb Apache-2.0's patent terms"),
    ("gpl2_only", "strong_copyleft", "GPL-2.0-only and GPL/AGPL-3.0 are mutually incompatible"),
    ("gpl2_only", "LGPL-3.0", "GPL-2.0-only cannot absorb LGPL-3.0"),
    ("gpl2_only", "noncommercial", "the GPL forbids the extra non-commercial restriction"),
    ("strong_copyleft", "noncommercial", "the GPL forbids the extra non-commercial restriction"),
    ("gpl2_only", "sharealike", "CC-BY-SA and GPL-2.0 each demand their own licence for the whole"),
    ("strong_copyleft", "sharealike", "CC-BY-SA and the GPL each demand their own licence for the whole"),
    ("strong_copyleft", "noncommercial_sharealike", "the GPL forbids the extra non-commercial restriction"),
    ("gpl2_only", "noncommercial_sharealike", "the GPL forbids the extra non-commercial restriction"),
    ("sharealike", "noncommercial", "CC-BY-SA requires the same licence; the NC term adds a restriction"),
    ("sharealike", "noncommercial_sharealike", "two different share-alike licences cannot both govern the whole"),
    ("EPL-1.0", "strong_copyleft", "EPL-1.0 and the GPL are incompatible"),
    ("EPL-1.0", "gpl2_only", "EPL-1.0 and the GPL are incompatible"),
)


@cache
def _licensing() -> Any:
    from license_expression import get_spdx_licensing

    return get_spdx_licensing()


def family(spdx_id: str) -> str | None:
    """The family of one SPDX licence id (``"permissive"``, ``"strong_copyleft"``...), or None if unknown."""
    for name, pattern in _FAMILIES:
        if re.match(pattern, spdx_id, flags=re.IGNORECASE):
            return name
    return None


def normalize(expression: str) -> str:
    """The canonical SPDX rendering of ``expression`` (``apache-2.0`` -> ``Apache-2.0``).

    Raises:
        ValueError: the expression does not parse or names an unknown licence.
    """
    info = _licensing().validate(expression)
    unknown = [str(sym) for sym in info.invalid_symbols]
    # A LicenseRef-... is valid SPDX syntax for a licence outside the list; the rule table judges it.
    if info.errors and not (unknown and all(u.startswith("LicenseRef-") for u in unknown)):
        raise ValueError("; ".join(info.errors))
    return str(info.normalized_expression or _licensing().parse(expression).render())


def _choices(expression: str) -> list[tuple[str, ...]]:
    """The ways to satisfy ``expression``: each a tuple of licence ids that all apply (disjunctive form)."""
    from license_expression import AND, OR

    parsed = _licensing().parse(expression)

    def walk(node: Any) -> list[tuple[str, ...]]:
        if isinstance(node, OR):
            return [c for arg in node.args for c in walk(arg)]
        if isinstance(node, AND):
            return [tuple(itertools.chain.from_iterable(combo)) for combo in itertools.product(*(walk(a) for a in node.args))]
        return [(str(node.render()),)]

    return walk(parsed)


def _matches(spdx_id: str, key: str) -> bool:
    base = spdx_id.split(" WITH ")[0]
    return family(base) == key or base.lower() == key.lower() or base.lower().startswith(key.lower() + "-")


def _conflicts(ids: tuple[str, ...]) -> list[str]:
    problems = []
    for a, b in itertools.combinations(sorted(set(ids)), 2):
        for left, right, why in _CONFLICTS:
            if (_matches(a, left) and _matches(b, right)) or (_matches(b, left) and _matches(a, right)):
                problems.append(f"{a} + {b}: {why}")
                break
    return problems


@dataclass(frozen=True)
class LicenseVerdict:
    """The outcome of combining parents' licences.

    Attributes:
        effective: the child's SPDX expression (None when no compatible choice exists).
        rule: how ``effective`` was derived, for the card's ``license.rule``.
        problems: every reason the combination is refused, each saying what would fix it.
    """

    effective: str | None
    rule: str
    problems: tuple[str, ...]


def combine(licenses: dict[str, str]) -> LicenseVerdict:
    """Decide whether parents' licences allow one derivative, and compute the child's licence.

    Args:
        licenses: ``{parent label: SPDX expression}``.

    Returns:
        A :class:`LicenseVerdict`; ``problems`` is empty when breeding is allowed.

    Example:
        >>> combine({"a": "MIT", "b": "apache-2.0"}).effective
        'MIT AND Apache-2.0'
    """
    problems: list[str] = []
    options: dict[str, list[tuple[str, ...]]] = {}
    for label, expression in licenses.items():
        try:
            normalized = normalize(expression)
        except ValueError as err:
            problems.append(f"licence of {label}: {expression!r} is not a known SPDX expression ({err}); "
                            "record the parent's licence as an SPDX id (https://spdx.org/licenses) in its card")
            continue
        usable = []
        for choice in _choices(normalized):
            unknown = [i for i in choice if family(i.split(" WITH ")[0]) is None]
            nd = [i for i in choice if family(i) == "no_derivatives"]
            if not unknown and not nd:
                usable.append(choice)
        if not usable:
            why = "forbids derivatives (a -ND licence)" if any(family(i) == "no_derivatives" for c in _choices(normalized) for i in c) \
                else "is outside genehub's licence table"
            problems.append(f"licence of {label}: {normalized} {why}; use a parent under a licence that allows "
                            "derivative works, or get the rights holder's permission and relicense it")
            continue
        options[label] = usable
    if problems:
        return LicenseVerdict(None, "refused", tuple(problems))

    best_conflicts: list[str] | None = None
    for combo in itertools.product(*options.values()):
        ids = tuple(dict.fromkeys(itertools.chain.from_iterable(combo)))
        conflicts = _conflicts(ids)
        if not conflicts:
            effective = str(_licensing().parse(" AND ".join(f"({i})" if " " in i else i for i in ids)).simplify().render())
            picked = [f"{label}: {' AND '.join(c)}" for label, c in zip(options, combo)
                      if len(options[label]) > 1]
            rule = "conjunction of every parent's licence (the child is a derivative of each)"
            if picked:
                rule += "; chose " + ", ".join(picked)
            return LicenseVerdict(effective, rule, ())
        if best_conflicts is None or len(conflicts) < len(best_conflicts):
            best_conflicts = conflicts
    fixes = [f"licences conflict: {c}; drop one of these parents or pick parents under compatible licences"
             for c in best_conflicts or []]
    return LicenseVerdict(None, "refused", tuple(fixes))
