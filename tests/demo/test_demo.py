"""The main job end to end on the tiny preset: every stage runs, the outputs are computed and readable."""

from __future__ import annotations

import json

import pytest

from genehub.demo import DemoConfig, run_demo


@pytest.fixture(scope="module")
def demo(tmp_path_factory, tiny_zoo):
    out = tmp_path_factory.mktemp("demo")
    # Few distillation steps keep the default run fast; quality at full length is the bench's business.
    return run_demo(DemoConfig(preset="tiny", out=out, steps=60, progress=False))


def test_outputs_exist_and_plots_open(demo):
    from PIL import Image

    assert demo.report.is_file() and (demo.out / "results.json").is_file()
    for name in ("accuracy", "homology", "confusion"):
        with Image.open(demo.plots[name]) as image:
            image.verify()
            assert image.size[0] > 200


def test_table_values_are_computed_in_the_run(demo, tiny_zoo):
    results = json.loads((demo.out / "results.json").read_text())
    skills = list(tiny_zoo.donors)
    # The host and donor rows re-measure what the zoo measured when it was built (same test prompts).
    for model in ["host", *(f"donor-{s}" for s in skills)]:
        for skill, value in results["accuracy"][model].items():
            assert value == pytest.approx(tiny_zoo.accuracies[model][skill], abs=1e-6), (model, skill)
    for skill in skills:
        gene, host = results["accuracy"][f"gene-{skill}"][skill], results["accuracy"]["host"][skill]
        assert gene != host  # the gene changes the model where it should
    assert 0.5 <= results["routing_accuracy"] <= 1.0
    total = sum(map(sum, results["confusion"]["matrix"]))
    assert total == sum(len(ds) for ds in tiny_zoo.test_sets().values())
    assert set(results["timings"]) >= {"zoo", "extract", "sign", "push", "search", "pull+verify", "router", "evaluate"}


def test_report_and_pulled_genes_are_verified(demo):
    from genehub.gene import TrustStore, verify_gene
    from genehub.registry import GeneStore

    text = demo.report.read_text()
    assert "| skill |" in text and "Routing accuracy" in text and "genehub space" in demo.space_command
    trust = TrustStore(demo.out / "config" / "trust")
    pulled = GeneStore(demo.out / "genes").list()
    assert len(pulled) == 2
    for gene in pulled:
        assert verify_gene(gene.path, trust=trust).signer == "genehub-demo"
