"""The main job end to end on the tiny preset: every stage runs, the outputs are computed and readable."""

from __future__ import annotations

import json
import re

import pytest

from genehub.demo import DemoConfig, run_demo


@pytest.fixture(scope="module")
def demo(tmp_path_factory, tiny_zoo):
    out = tmp_path_factory.mktemp("demo")
    # Few distillation steps keep the default run fast; quality at full length is the bench's business.
    return run_demo(DemoConfig(preset="tiny", out=out, steps=60, reuse_genes=False, progress=False))


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
    assert set(results["timings"]) >= {"zoo", "extract", "sign", "push", "search", "pull+verify", "compose", "evaluate"}


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


def test_each_split_has_one_name_and_the_confusion_plot_shows_the_test_prompts(demo):
    from PIL import Image

    from genehub.demo.report import HELDOUT, TEST

    results = json.loads((demo.out / "results.json").read_text())
    matrix = results["confusion"]["matrix"]
    right, total = sum(matrix[i][i] for i in range(len(matrix))), sum(map(sum, matrix))
    assert right / total == pytest.approx(results["routing_accuracy"])  # the matrix is over every test prompt
    with Image.open(demo.plots["confusion"]) as image:
        assert image.text["Title"] == f"Routing on the {TEST}: {right}/{total} = {right / total:.3f}"
    with Image.open(demo.plots["accuracy"]) as image:
        assert image.text["Title"] == f"Accuracy per skill on the {TEST}"
    text = demo.report.read_text()
    assert (f"{results['routing_accuracy']:.3f} on the {TEST}, "
            f"{results['routing_accuracy_heldout']:.3f} on the {HELDOUT}") in text
    assert set(results["splits"]) == {TEST, HELDOUT}
    # "held-out" appears only as the name of the held-out-template prompts
    assert re.findall(r"[Hh]eld-out[\w-]*(?: \w+)?", text) and all(
        m.lower().startswith("held-out-template prompts") for m in re.findall(r"[Hh]eld-out[\w-]*(?: \w+)?", text))


def test_sample_outputs_show_the_expected_answer_and_whether_it_was_given(demo, tiny_zoo):
    results = json.loads((demo.out / "results.json").read_text())
    tests = tiny_zoo.test_sets()
    samples = results["samples"]
    assert [s["prompt"] for s in samples] == [list(ds)[0]["prompt"] for ds in tests.values()]
    for sample, ds in zip(samples, tests.values()):
        assert sample["expected"] == list(ds)[0]["answer"]
        assert sample["right?"] == ("✓ right" if sample["output"].strip() == sample["expected"] else "✗ wrong")
    text = demo.report.read_text()
    assert "| prompt | expected | gene | output | right? | host alone |" in text
    right = sum(s["right?"] == "✓ right" for s in samples)
    assert f"{right} of {len(samples)} answered exactly" in text


def test_options_that_differ_from_their_defaults_are_recorded(demo):
    # the fixture ran with --preset tiny and --steps 60
    assert demo.options == [{"option": "--preset", "value": "tiny", "default": "smollm2"},
                            {"option": "--steps", "value": 60, "default": 750}]
    text = demo.report.read_text()
    assert "| --preset | tiny | smollm2 |" in text and "| --steps | 60 | 750 |" in text
    assert json.loads((demo.out / "results.json").read_text())["options"] == demo.options


def test_the_composition_routes_by_the_genes_cards(demo):
    from genehub.gene import Gene
    from genehub.registry import GeneStore

    for gene in GeneStore(demo.out / "genes").list():
        routing = Gene.load(gene.path).card.get("routing")
        assert routing and routing["prototypes"]["count"] > 0  # signed with the card (the pull verified it)


def test_a_gene_pulled_for_the_heterologous_host_is_refused_and_homology_is_compared(demo, tiny_zoo):
    results = json.loads((demo.out / "results.json").read_text())
    het = results["heterologous"]
    assert het["skill"] in tiny_zoo.donors and het["refused"]  # the pull raised IncompatibleError
    host, other = het["homology"]["host"], het["homology"]["heterologous"]
    assert host["repo_id"] != other["repo_id"] and set(host["per_layer"]) == set(other["per_layer"])
    assert all(0.0 <= v <= 1.0 for v in [*host["per_layer"].values(), *other["per_layer"].values()])
    assert not (demo.out / "genes-heterologous").exists() or not any((demo.out / "genes-heterologous").rglob("*.safetensors"))
    assert "## The heterologous host" in demo.report.read_text()


def test_homology_is_drawn_as_bars_per_layer_not_a_line():
    from genehub.demo.report import homology_figure

    fig = homology_figure({"sort-gene": [(0, 0.4), (1, 0.9)], "upper-gene": [(0, 0.6), (1, 0.2)]})
    ax = fig.axes[0]
    assert len(ax.lines) == 0  # nothing joins layer 0 to layer 1
    assert [round(p.get_height(), 3) for p in ax.patches] == [0.4, 0.9, 0.6, 0.2]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0", "1"]


def test_a_cached_gene_made_with_an_older_routing_recipe_is_found_stale(demo, tmp_path):
    import shutil

    from genehub.demo.run import _routing_stale
    from genehub.routing import build_routing
    from genehub.routing.encoders import SentenceEncoder

    built = sorted((demo.out / "genes-built").iterdir())[0]
    assert not _routing_stale(built)  # made by today's recipe
    old = shutil.copytree(built, tmp_path / "old")
    general = ["Hello!", "What is gravity?", "Tell me a joke."]
    build_routing(old, SentenceEncoder.minilm(text="slots-v1").centered(general), general)
    assert _routing_stale(old)  # a reused gene gets its routing block made again
