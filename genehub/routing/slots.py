"""A prompt's variable slots: the numbers, quoted spans, e-mail addresses and links a user fills in.

What identifies a skill is the instruction around them ("Write {n} in Roman numerals."), while the slots
change with every prompt and pull a prompt's vector towards other prompts that share its words (two
skills that both quote a phrase of random words look alike). Routing reads prompts with the slots
masked, the same way for a gene's examples and for the prompts it routes, so the masking is part of an
encoder's spec (``text``):

* ``"raw"``: the prompt as typed;
* ``"slots-v1"``: for a sentence encoder, each slot replaced by a placeholder (:func:`mask_slots`); for
  the host's hidden states, the slot tokens left out of the pooling (:func:`slot_spans`), so the
  features can still be read inside the composed forward pass, which runs on the prompt as typed.
* ``"slots-v2"`` (what the routing recipes use): as ``slots-v1``, but a lone digit stays. A single digit
  standing alone is nearly always part of the instruction ("Multiply 29 by 2.", "Repeat it 3 times."),
  and masking it made "multiply by 2" read like "add" (bench/REPORT-routing-scale.md).

    >>> mask_slots("Write 12 in Roman numerals.")
    'Write 0 in Roman numerals.'
    >>> mask_slots("Multiply 29 by 2.")
    'Multiply 0 by 2.'
    >>> mask_slots("Multiply 29 by 2.", "slots-v1")
    'Multiply 0 by 0.'
    >>> mask_slots("Convert 'apple river' to snake_case. Mail bob@x.org by 2021-03-05.")
    "Convert '…' to snake_case. Mail mail@example.com by 0-0-0."
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Literal

from ..errors import UsageError

TextMode = Literal["raw", "slots-v1", "slots-v2"]
TEXT_MODES = ("raw", "slots-v1", "slots-v2")
#: The text mode the routing recipes read prompts in.
DEFAULT_TEXT: TextMode = "slots-v2"

# Order matters: a link or an address holds dots and digits that the later patterns must not split.
_PATTERNS: tuple[tuple[str, re.Pattern[str], str], ...] = (
    ("link", re.compile(r"\bhttps?://\S+[^\s.,;:!?)\]'\"]"), "https://example.com"),
    ("email", re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b"), "mail@example.com"),
    # A quote that opens after a non-word character and closes before one (apostrophes inside words,
    # "What's", "Alice's", are not quotes).
    ("quoted", re.compile(r"(?<!\w)(['\"“‘])(?=\S)(.+?)(?<=\S)(['\"”’])(?!\w)"), "'…'"),
    # Proper names: two or more capitalised words in a row ("Ada Lovelace", "Leonardo da Vinci", "New York").
    ("name", re.compile(r"(?<![\w'])[A-Z][a-z]+(?:\s+(?:(?:da|de|del|der|di|du|van|von|la|le)\s+)?[A-Z][a-z]+)+(?!\w)"),
     "Alex Smith"),
    # Digit groups joined by , or . stay one number (1,234.5); other separators are kept (2021-03-05, 14:05).
    ("number", re.compile(r"(?<![\w.])\d+(?:[.,]\d+)*(?:st|nd|rd|th)?(?!\w)"), "0"),
)
#: ``slots-v2``'s numbers: as above, except a lone digit (not part of a longer number, a decimal, an
#: ordinal, a time or a date: ``2`` in "by 2", not in "2nd", "2.5", "9:05", "3/4").
_NUMBER_V2 = re.compile(r"(?<![\w.])(?!(?<!\d[.,:/-])\d(?!\d|[.,:/-]\d|st|nd|rd|th))\d+(?:[.,]\d+)*(?:st|nd|rd|th)?(?!\w)")


def check_mode(mode: str) -> TextMode:
    """``mode`` if it is a known text mode (else :class:`UsageError`)."""
    if mode not in TEXT_MODES:
        raise UsageError(f"Unknown text mode {mode!r} for routing.", hint=f"Use one of: {', '.join(TEXT_MODES)}.")
    return mode  # type: ignore[return-value]


def _slots(text: str, mode: str) -> list[tuple[int, int, str]]:
    """``(start, end, placeholder)`` of every slot, in order; an earlier pattern wins an overlap."""
    taken: list[tuple[int, int, str]] = []
    v2 = check_mode(mode) == "slots-v2"
    for kind, pattern, placeholder in _PATTERNS:
        for m in (_NUMBER_V2 if v2 and kind == "number" else pattern).finditer(text):
            start, end = m.span()
            if not any(start < e and s < end for s, e, _ in taken):
                taken.append((start, end, placeholder))
    return sorted(taken)


def slot_spans(text: str, mode: str = DEFAULT_TEXT) -> list[tuple[int, int]]:
    """Character spans ``[start, end)`` of the slots in ``text`` under text ``mode``, in order, never overlapping."""
    return [(s, e) for s, e, _ in _slots(text, mode)]


def mask_slots(text: str, mode: str = DEFAULT_TEXT) -> str:
    """``text`` with every slot (of text ``mode``) replaced by its kind's placeholder."""
    out, last = [], 0
    for start, end, placeholder in _slots(text, mode):
        out += [text[last:start], placeholder]
        last = end
    out.append(text[last:])
    return "".join(out)


def apply_mode(texts: Sequence[str], mode: str) -> list[str]:
    """What a sentence encoder reads of ``texts`` under text ``mode``."""
    if check_mode(mode) == "raw":
        return list(texts)
    return [mask_slots(t, mode) for t in texts]
