"""A prompt's variable slots: masked for a sentence encoder, left out of the host's mean."""

from __future__ import annotations

import pytest

from genehub.errors import UsageError
from genehub.routing.slots import apply_mode, mask_slots, slot_spans


@pytest.mark.parametrize("text, masked", [
    ("Write 12 in Roman numerals.", "Write 0 in Roman numerals."),
    ("Rewrite 2021-03-05 as MM/DD/YYYY.", "Rewrite 0-0-0 as MM/DD/YYYY."),
    ("Convert 14:05 to 12-hour time.", "Convert 0:0 to 0-hour time."),
    ("Sort 71, 43, 70 please", "Sort 0, 0, 0 please"),
    ("Add commas to 1,234,567.5 and the 3rd one", "Add commas to 0 and the 0 one"),
    ("Convert 'apple river' to snake_case.", "Convert '…' to snake_case."),
    ('Say "hello there" twice', "Say '…' twice"),
    ("What's Alice's favourite colour?", "What's Alice's favourite colour?"),
    ("Initials of Ada Lovelace and Leonardo da Vinci?", "Initials of Alex Smith and Alex Smith?"),
    ("Domain of bob.smith@mail.example.org?", "Domain of mail@example.com?"),
    ("Read https://example.org/a?b=1, then 'x 2'.", "Read https://example.com, then '…'."),
    ("Hello!", "Hello!"),
    ("v2 and abc12 stay", "v2 and abc12 stay"),
])
def test_slots_are_masked_and_the_instruction_is_kept(text, masked):
    assert mask_slots(text, "slots-v1") == masked
    spans = slot_spans(text, "slots-v1")
    assert all(a < b <= c for (a, b), (c, _) in zip(spans, spans[1:])) and all(s < e for s, e in spans)
    assert (mask_slots(text, "slots-v1") == text) == (spans == [])


@pytest.mark.parametrize("text, v1, v2", [
    ("Multiply 29 by 2.", "Multiply 0 by 0.", "Multiply 0 by 2."),
    ("Compute 2 x 108.", "Compute 0 x 0.", "Compute 2 x 0."),
    ("Repeat 'ok' 3 times", "Repeat '…' 0 times", "Repeat '…' 3 times"),
    ("Double 45.", "Double 0.", "Double 0."),
    ("The 3rd of 7.5 and 1,5 and 2021-03-05", "The 0 of 0 and 0 and 0-0-0", "The 0 of 0 and 0 and 0-0-0"),
    ("Convert 9:05 to 12-hour time.", "Convert 0:0 to 0-hour time.", "Convert 0:0 to 0-hour time."),
    ("Is 3/4 more than 1 half?", "Is 0/0 more than 0 half?", "Is 0/0 more than 1 half?"),
])
def test_slots_v2_keeps_a_lone_digit_the_instruction_holds(text, v1, v2):
    assert mask_slots(text, "slots-v1") == v1
    assert mask_slots(text, "slots-v2") == mask_slots(text) == v2  # v2 is the recipes' mode


def test_modes():
    assert apply_mode(["Write 12 in words."], "raw") == ["Write 12 in words."]
    assert apply_mode(["Write 12 in words by 2."], "slots-v1") == ["Write 0 in words by 0."]
    assert apply_mode(["Write 12 in words by 2."], "slots-v2") == ["Write 0 in words by 2."]
    with pytest.raises(UsageError, match="Unknown text mode"):
        apply_mode(["x"], "slots-v9")
