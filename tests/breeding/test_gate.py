"""The compatibility gate: every check, every reason listed, the child's licence computed."""

from __future__ import annotations

import pytest
from _breeding import family, make_gene, make_model

import _tiny
from genehub.breeding import gate
from genehub.licenses import combine
from genehub.errors import IncompatibleError, UsageError


@pytest.fixture(scope="module")
def host_dir(tmp_path_factory):
    return _tiny.tiny_host(tmp_path_factory.mktemp("host") / "host")


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    return family(tmp_path_factory.mktemp("models"))


@pytest.mark.parametrize(
    ("licenses", "effective", "problem"),
    [
        ({"a": "MIT", "b": "apache-2.0"}, "Apache-2.0 AND MIT", None),
        ({"a": "Apache-2.0", "b": "Apache-2.0"}, "Apache-2.0", None),
        ({"a": "GPL-2.0-only OR MIT", "b": "Apache-2.0"}, "Apache-2.0 AND MIT", None),
        ({"a": "GPL-3.0-only", "b": "Apache-2.0"}, "Apache-2.0 AND GPL-3.0-only", None),
        ({"a": "CC-BY-NC-4.0", "b": "MIT"}, "CC-BY-NC-4.0 AND MIT", None),
        ({"a": "GPL-2.0-only", "b": "Apache-2.0"}, None, "patent"),
        ({"a": "GPL-2.0-only", "b": "GPL-3.0-only"}, None, "mutually incompatible"),
        ({"a": "CC-BY-NC-4.0", "b": "GPL-3.0-only"}, None, "non-commercial"),
        ({"a": "CC-BY-SA-4.0", "b": "CC-BY-NC-4.0"}, None, "same licence"),
        ({"a": "CC-BY-ND-4.0", "b": "MIT"}, None, "forbids derivatives"),
        ({"a": "llama3", "b": "MIT"}, None, "not a known SPDX"),
        ({"a": "LicenseRef-custom", "b": "MIT"}, None, "outside genehub's licence table"),
    ],
)
def test_licence_table(licenses, effective, problem):
    verdict = combine(licenses)
    assert verdict.effective == effective
    if problem is None:
        assert verdict.problems == ()
    else:
        assert any(problem in p for p in verdict.problems), verdict.problems


def test_compatible_genes_pass_and_record_the_childs_licence(tmp_path, host_dir):
    a = make_gene(tmp_path / "a", host_dir, name="a", license="MIT", restrictions=("research-only",))
    b = make_gene(tmp_path / "b", host_dir, name="b", skill="add", seed=1)
    report = gate.check([a, b], "ties", verify=False)
    assert report.ok, report.reasons
    assert [c.name for c in report.checks] == ["signatures", "licence", "data_use", "family", "tokenizer", "shapes"]
    assert report.license == "Apache-2.0 AND MIT"
    assert report.restrictions == ["research-only"]


def test_refusal_lists_every_failed_check_with_a_fix(tmp_path, host_dir):
    other_host = dict(_tiny.tiny_host_info(host_dir).to_dict(), tokenizer_fingerprint="sha256:" + "c" * 64)
    a = make_gene(tmp_path / "a", host_dir, name="a", license="GPL-2.0-only")
    b = make_gene(tmp_path / "b", host_dir, name="b", rank=8, host=other_host, restrictions=("no-derivatives",))
    with pytest.raises(IncompatibleError, match="gate refuses ties") as err:
        gate.require([a, b], "ties", verify=False)
    reasons = err.value.reasons
    assert [r.split(":")[0] for r in reasons] == ["licence", "data_use", "tokenizer", "shapes"]
    assert "patent" in reasons[0] and "drop one of these parents" in reasons[0]
    assert "no-derivatives" in reasons[1]
    assert "share a tokenizer" in reasons[2]
    assert "equal LoRA ranks" in reasons[3] and "svd" in reasons[3]
    # The same parents through a method that accepts any rank: the rank reason disappears, the rest stay.
    assert len(gate.check([a, b], "svd", verify=False).reasons) == 3


def test_models_of_other_shapes_and_families_are_refused(tmp_path, models):
    wide = make_model(tmp_path / "wide", hidden=48, repo_id="zoo/wide")
    report = gate.check([models["host"], wide], "model:ties")
    assert not report.ok
    failed = {c.name for c in report.checks if not c.passed}
    assert failed == {"shapes"}
    assert "hidden_size=48" in " ".join(report.reasons)
    # An ensemble combines no weights: only provenance checks apply.
    assert gate.check([models["host"], wide], gate.ENSEMBLE).ok


def test_homologous_models_pass_for_weight_merges(models):
    report = gate.check([models["donor_a"], models["donor_b"]], "model:dare_ties")
    assert report.ok, report.reasons
    assert report.license == "Apache-2.0"
    assert any("content hash" in n for n in report.checks[0].notes)
    refused = gate.check([models["donor_a"], models["donor_b"]], "model:ties", unsigned_models="refuse")
    assert [c.name for c in refused.checks if not c.passed] == ["signatures"]


def test_mixing_genes_and_models_is_refused(tmp_path, host_dir, models):
    g = make_gene(tmp_path / "g", host_dir)
    report = gate.check([g, models["host"]], "ties", verify=False)
    assert any("mix genes and full models" in r for r in report.reasons)


@pytest.mark.parametrize(
    ("restrictions_a", "restrictions_b", "license_b", "reason"),
    [
        (("only-eu",), ("only-us",), "Apache-2.0", "different scopes"),
        (("non-commercial",), (), "GPL-3.0-only", "cannot be added to a GPL-licensed child"),
        (("no-merging",), (), "Apache-2.0", "may not be merged"),
        (("only-eu",), ("only-eu",), "Apache-2.0", None),
    ],
)
def test_data_use_restrictions(tmp_path, host_dir, restrictions_a, restrictions_b, license_b, reason):
    a = make_gene(tmp_path / "a", host_dir, name="a", restrictions=restrictions_a)
    b = make_gene(tmp_path / "b", host_dir, name="b", restrictions=restrictions_b, license=license_b)
    data_use = gate.check([a, b], "cat", verify=False).checks[2]
    assert data_use.name == "data_use"
    if reason is None:
        assert data_use.passed
    else:
        assert not data_use.passed and reason in " ".join(data_use.reasons)


def test_signatures_are_verified_and_tampering_is_named(tmp_path, host_dir):
    from genehub.gene import TrustStore, new_key, sign_gene, verify_gene

    key = new_key("breeder")
    TrustStore().add("breeder", key.public)
    a = make_gene(tmp_path / "a", host_dir, name="a")
    b = make_gene(tmp_path / "b", host_dir, name="b", seed=1)
    unsigned = make_gene(tmp_path / "c", host_dir, name="c", seed=2)
    sign_gene(a, key="breeder")
    sign_gene(b, key="breeder")
    ok = gate.check([a, b], "ties")
    assert ok.ok and all(p.signer == "breeder" for p in ok.parents)
    # An already-verified gene is accepted as a (path, Verification) pair.
    assert gate.check([(a, verify_gene(a)), b], "ties").ok
    (b / "examples.jsonl").write_text('{"prompt": "evil", "answer": "x"}\n')
    report = gate.check([a, b, unsigned], "ties")
    sig = report.checks[0]
    assert not sig.passed and len(sig.reasons) == 2
    assert "examples.jsonl" in sig.reasons[0] and "not signed" in sig.reasons[1]


def test_unknown_method_and_empty_parents():
    with pytest.raises(UsageError, match="Unknown breeding method 'frobnicate'"):
        gate.check(["x"], "frobnicate")
    with pytest.raises(UsageError, match="at least one parent"):
        gate.check([], "ties")
