"""The real preset's data: language skills in many phrasings, and general prompts in families."""

from __future__ import annotations

import pytest

from genehub.errors import UsageError
from genehub.zoo import general, language


def test_every_skill_has_phrasings_held_out_and_distinct_answers():
    assert len(language.SKILLS) >= 24
    for skill in language.SKILLS.values():
        assert len(skill.templates) + len(skill.heldout) >= 10 and skill.heldout
        assert not set(skill.templates) & set(skill.heldout)
        rows = language.skill_splits(skill.name, n_train=32, n_validation=4, n_test=16)
        answers = {r["completion"] for r in rows["train"]}
        assert len(answers) > 3, f"{skill.name} answers barely vary: {answers}"
        for row in rows["train"] + rows["test"]:
            (message,) = row["messages"]
            assert message["role"] == "user" and "{" not in message["content"]
            assert (row["template"] in skill.heldout) == row["heldout"]
        assert not any(r["heldout"] for r in rows["train"] + rows["validation"])
        assert sum(r["heldout"] for r in rows["test"]) == 8


@pytest.mark.parametrize(("skill", "content", "answer"), [
    ("roman", "Write 14 in Roman numerals.", "XIV"),
    ("time_12h", "Convert 00:05 to 12-hour time.", "12:05 AM"),
    ("ordinal", "Give the ordinal for 22.", "22nd"),
])
def test_answers_are_computed(skill, content, answer):
    # The generator and the template agree: find a row whose prompt is this one and check its answer.
    spec = language.get_skill(skill)
    import random

    rng = random.Random(0)
    for _ in range(20000):
        row = spec.example(rng)
        if row["messages"][0]["content"] == content:
            assert row["completion"] == answer
            return
    pytest.fail(f"{content!r} never generated")


def test_splits_are_deterministic_and_disjoint_streams():
    a = language.skill_splits("acronym", n_train=50, n_validation=50, n_test=50)
    b = language.skill_splits("acronym", n_train=50, n_validation=50, n_test=50)
    assert a == b
    contents = {split: [r["messages"][0]["content"] for r in rows] for split, rows in a.items()}
    assert contents["train"] != contents["validation"]


def test_unknown_skill_names_the_choices():
    with pytest.raises(UsageError, match="Choose one of: roman"):
        language.get_skill("juggling")


def test_general_prompts_split_by_family():
    assert set(general.CALIBRATION_FAMILIES) | set(general.TEST_FAMILIES) == set(general.FAMILIES)
    assert not set(general.CALIBRATION_FAMILIES) & set(general.TEST_FAMILIES)
    rows = general.general_prompts(44, families=general.TEST_FAMILIES, seed=3)
    assert {r["family"] for r in rows} == set(general.TEST_FAMILIES)
    assert all("{" not in r["messages"][0]["content"] for r in rows)
    assert len({r["messages"][0]["content"] for r in rows}) > 30
