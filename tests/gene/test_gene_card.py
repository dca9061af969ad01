"""The gene card: schema, validation errors with JSON paths, and the Hub README (golden files)."""

from __future__ import annotations

import copy
import os
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from _tiny import tiny_host_info
from genehub.errors import CardValidationError, NotFoundError
from genehub.gene import card_errors, card_schema, dump_card, example_card, load_card, render_readme, save_card, validate_card

GOLDEN = Path(__file__).parent / "golden"
UPDATE_GOLDEN = os.environ.get("GENEHUB_UPDATE_GOLDEN") == "1"


@pytest.fixture
def card() -> dict:
    return example_card(tiny_host_info(), name="sort-gene", skill="sort")


def test_schema_is_draft_2020_12_with_id_and_version() -> None:
    import jsonschema

    schema = card_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"].startswith("https://") and "1.0" in schema["$id"]
    assert schema["properties"]["schema_version"] == {"const": "1.0", "description": schema["properties"]["schema_version"]["description"]}
    # The top-level names the other modules code against (docs/CONTRACTS.md).
    assert set(schema["required"]) == {"schema_version", "name", "version", "summary", "description", "skill", "host",
                                       "parents", "circuit", "homology", "fidelity", "adapter", "license", "data_use",
                                       "lineage", "files"}


def test_example_card_is_valid(card: dict) -> None:
    assert card_errors(card) == []
    assert validate_card(card) is card


def _set(path: str, value) -> Callable[[dict], None]:
    def edit(card: dict) -> None:
        *parents, last = path.split(".")
        node = card
        for key in parents:
            node = node[int(key)] if key.isdigit() else node[key]
        if value is _DELETE:
            del node[last]
        else:
            node[int(last) if last.isdigit() else last] = value
    return edit


_DELETE = object()

# (case id, edit, expected json path, message regex): one per kind of schema or cross-field violation.
VIOLATIONS = [
    ("missing-required", _set("lineage.seed", _DELETE), "$.lineage.seed", r"is required but missing"),
    ("missing-top-level", _set("homology", _DELETE), "$.homology", r"is required but missing"),
    ("wrong-type", _set("host.hidden_size", "32"), "$.host.hidden_size", r"'32' is not of type 'integer'"),
    ("below-minimum", _set("adapter.rank", 0), "$.adapter.rank", r"0 is less than the minimum of 1"),
    ("bad-enum", _set("parents.1.role", "mother"), "$.parents[1].role", r"'mother' is not one of"),
    ("bad-pattern-digest", lambda c: c["files"].update({"examples.jsonl": "md5:abc"}), "$.files['examples.jsonl']",
     r"'md5:abc' does not match"),
    ("card-lists-itself", lambda c: c["files"].update({"gene.json": "sha256:" + "0" * 64}), "$.files", r"should not be valid"),
    ("bad-version", _set("version", "v1"), "$.version", r"'v1' does not match"),
    ("unknown-field", _set("colour", "blue"), "$", r"'colour' was unexpected.*\$\.extra"),
    ("wrong-schema-version", _set("schema_version", "0.9"), "$.schema_version", r"'1.0' was expected"),
    ("cosine-out-of-range", _set("homology.aggregate", 1.5), "$.homology.aggregate", r"greater than the maximum of 1"),
    ("multi-line-summary", _set("summary", "two\nlines"), "$.summary", r"does not match"),
    ("bad-created", _set("lineage.created", "yesterday"), "$.lineage.created", r"does not match"),
    ("layer-outside-host", _set("adapter.layers", [0, 7]), "$.adapter.layers[1]", r"layer 7 does not exist: the host has 2 layers"),
    ("no-host-parent", _set("parents.0.role", "donor"), "$.parents", r"exactly one parent with role 'host', found 0"),
    ("host-parent-mismatch", _set("parents.0.revision", "sha256:" + "e" * 64), "$.parents[0].revision", r"differs from \$\.host\.revision"),
]


@pytest.mark.parametrize(("edit", "path", "match"), [v[1:] for v in VIOLATIONS], ids=[v[0] for v in VIOLATIONS])
def test_schema_violations_name_the_path(card: dict, edit, path: str, match: str) -> None:
    bad = copy.deepcopy(card)
    edit(bad)
    with pytest.raises(CardValidationError, match="is invalid") as info:
        validate_card(bad)
    paths = [p for p, _ in info.value.errors]
    assert path in paths, info.value.errors
    message = dict(info.value.errors)[path]
    assert re.search(match, message), message
    assert path in str(info.value) and "genehub card validate" in str(info.value)


def test_not_an_object_is_refused() -> None:
    with pytest.raises(CardValidationError) as info:
        validate_card(["not", "a", "card"])
    assert info.value.errors[0][0] == "$"


@pytest.mark.parametrize("text", ['{"name": "x",', "", "[1, 2", "{'single': 'quotes'}"], ids=["truncated", "empty", "open-array", "python-repr"])
def test_malformed_json_card(tmp_path: Path, text: str) -> None:
    (tmp_path / "gene.json").write_text(text)
    with pytest.raises(CardValidationError, match=r"is not valid JSON: .* at line 1 column \d+") as info:
        load_card(tmp_path)
    assert info.value.errors[0][0] == "$"


def test_load_and_save_round_trip(tmp_path: Path, card: dict) -> None:
    path = save_card(card, tmp_path)
    assert path == tmp_path / "gene.json"
    assert load_card(tmp_path) == card == load_card(path)
    assert path.read_text() == dump_card(card)
    card["adapter"]["alpha"] = -1
    with pytest.raises(CardValidationError, match=r"\$\.adapter\.alpha"):
        save_card(card, tmp_path / "other.json")
    assert not (tmp_path / "other.json").exists()
    with pytest.raises(NotFoundError, match="No gene card"):
        load_card(tmp_path / "nowhere")


# ---- the Hub README ------------------------------------------------------------------------------

SIGNER = "sha256:" + "c" * 64


def _golden_card() -> dict:
    card = example_card(tiny_host_info(), name="sort-gene", skill="sort", license_spdx="Apache-2.0")
    card["lineage"]["genehub_version"] = "0.1.0"  # independent of the installed version
    card["fidelity"]["other_skills"] = {"reverse": {"host": 0.5, "gene": 0.48}}
    card["data_use"]["restrictions"] = ["no medical advice"]
    return card


@pytest.mark.parametrize(("golden", "signer"), [("gene-readme.md", None), ("gene-readme-signed.md", SIGNER)],
                         ids=["unsigned", "signed"])
def test_readme_matches_golden(golden: str, signer: str | None) -> None:
    text = render_readme(_golden_card(), signer_fingerprint=signer)
    path = GOLDEN / golden
    if UPDATE_GOLDEN:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert path.is_file(), f"missing golden {path}: run with GENEHUB_UPDATE_GOLDEN=1"
    assert text == path.read_text(encoding="utf-8"), "README rendering changed: review and run with GENEHUB_UPDATE_GOLDEN=1"


def test_readme_hub_metadata_parses_back() -> None:
    from huggingface_hub import ModelCard

    card = _golden_card()
    card["host"]["repo_id"] = card["parents"][0]["repo_id"] = "acme/tiny-host"
    parsed = ModelCard(render_readme(card, signer_fingerprint=SIGNER))
    data = parsed.data.to_dict()
    assert data["base_model"] == card["host"]["repo_id"]
    assert data["base_model_relation"] == "adapter"
    assert 'from_pretrained("acme/tiny-host")' in parsed.text
    assert data["library_name"] == "peft"
    assert data["license"] == "apache-2.0"
    assert data["pipeline_tag"] == "text-generation"
    assert {"genehub", "sort"} <= set(data["tags"])
    body = parsed.text
    assert "| reverse (other) | 0.500 | - | 0.480 |" in body
    assert "| 0 | 0.900 | 0.800 |" in body
    assert SIGNER in body and "no medical advice" in body


def test_readme_of_a_gene_for_a_local_folder_says_how_to_name_the_host() -> None:
    from huggingface_hub import ModelCard

    card = _golden_card()
    assert card["host"]["repo_id"] == "local/tiny-host"
    parsed = ModelCard(render_readme(card))
    assert parsed.data.to_dict()["base_model"] == "local/tiny-host"  # what registry search filters on
    assert 'from_pretrained("local/tiny-host")' not in parsed.text
    assert "--host-repo-id OWNER/NAME" in parsed.text and 'from_pretrained("path/to/tiny-host")' in parsed.text


@pytest.mark.parametrize(("spdx", "expected"), [
    ("MIT", {"license": "mit"}),
    ("LicenseRef-Custom", {"license": "other", "license_name": "licenseref-custom"}),
    ("Apache-2.0 AND MIT", {"license": "other", "license_name": "apache-2.0-and-mit"}),
])
def test_unknown_licenses_become_other(card: dict, spdx: str, expected: dict) -> None:
    from huggingface_hub import ModelCard

    card["license"]["spdx"] = spdx
    validate_card(card)
    data = ModelCard(render_readme(card)).data.to_dict()
    assert {k: data.get(k) for k in expected} == expected


@pytest.mark.parametrize("revision, load, folder_note", [
    ("a" * 40, 'from_pretrained("local/tiny-host", revision="' + "a" * 40 + '")', False),
    ("sha256:" + "b" * 64, 'from_pretrained("path/to/tiny-host")  # the host\'s folder', True),
])
def test_readme_peft_snippet_loads_the_host_the_card_names(revision: str, load: str, folder_note: bool) -> None:
    card = _golden_card()
    card["host"]["revision"] = card["parents"][0]["revision"] = revision
    text = render_readme(validate_card(card))
    assert load in text
    assert ("is a model folder, not a Hub repo" in text) is folder_note
