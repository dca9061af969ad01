"""The Space's data layer without a browser: catalog statuses, filters, tables, chart, lineage, refusals."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from genehub.errors import IncompatibleError, NotFoundError, UsageError, VerificationError
from genehub.gene import TrustStore
from genehub.space import Catalog, GeneEntry, Playground, SpaceConfig, open_catalog, views
from test_space_fixtures import build_gene_shelf, foreign_host


@pytest.fixture(scope="session")
def shelf(tmp_path_factory: pytest.TempPathFactory, tiny_zoo) -> dict:
    root = tmp_path_factory.mktemp("space-shelf")
    built = build_gene_shelf(root, tiny_zoo)
    built["foreign"] = foreign_host(root / "foreign-host")
    built["zoo"] = tiny_zoo
    return built


@pytest.fixture
def catalog(shelf: dict) -> Catalog:
    return Catalog.from_dirs([shelf["genes"]], trust=TrustStore(shelf["trust"]))


@pytest.mark.parametrize("gene_id, trust, signer, reason", [
    ("sort-gene", "verified", "alice", ""),
    ("upper-gene", "verified", "alice", ""),
    ("rogue-upper", "untrusted", None, "not in the trust store"),
    ("tampered-sort", "invalid", None, "adapter_model.safetensors differs"),
])
def test_catalog_status(catalog: Catalog, gene_id: str, trust: str, signer: str | None, reason: str) -> None:
    entry = catalog.get(gene_id)
    assert (entry.trust, entry.signer) == (trust, signer)
    assert reason in entry.reason if reason else entry.reason == ""
    assert entry.fingerprint and entry.fingerprint.startswith("sha256:")
    assert entry.host == "genehub-zoo/tiny-host"
    assert len(entry.examples) == 20 and entry.examples[0]["prompt"]


def test_untrusted_key_fingerprint_is_the_signers(catalog: Catalog, shelf: dict) -> None:
    from genehub.gene import fingerprint

    assert catalog.get("rogue-upper").fingerprint == fingerprint(shelf["keys"]["mallory"].public)
    assert catalog.get("sort-gene").fingerprint == fingerprint(shelf["keys"]["alice"].public)


@pytest.mark.parametrize("query, filters, expected", [
    ("", {}, ["rogue-upper", "sort-gene", "tampered-sort", "upper-gene"]),
    ("upper", {}, ["rogue-upper", "upper-gene"]),
    ("UPPER rogue", {}, ["rogue-upper"]),
    ("", {"skill": "sort"}, ["sort-gene", "tampered-sort"]),
    ("", {"trust": "verified"}, ["sort-gene", "upper-gene"]),
    ("", {"trust": "invalid"}, ["tampered-sort"]),
    ("", {"license": "Apache-2.0", "skill": "upper", "trust": "untrusted"}, ["rogue-upper"]),
    ("", {"host": "genehub-zoo/tiny-host", "skill": "sort"}, ["sort-gene", "tampered-sort"]),
    ("", {"host": "other/host"}, []),
    ("nothing-like-this", {}, []),
])
def test_search_filters(catalog: Catalog, query: str, filters: dict, expected: list[str]) -> None:
    assert [e.gene_id for e in catalog.search(query, **filters)] == expected


def test_choices(catalog: Catalog) -> None:
    assert catalog.choices() == {"host": ["genehub-zoo/tiny-host"], "skill": ["sort", "upper"],
                                 "license": ["Apache-2.0"], "trust": ["verified", "untrusted", "invalid"]}


def test_browse_table_shows_card_numbers(catalog: Catalog) -> None:
    table = views.browse_table(catalog.entries())
    assert list(table.columns) == views.BROWSE_COLUMNS
    row = table.set_index("gene").loc["sort-gene"]
    card = catalog.get("sort-gene").card
    assert row["fidelity"] == pytest.approx(card["fidelity"]["skill"]["gene"], abs=1e-3)
    assert row["homology"] == pytest.approx(card["homology"]["aggregate"], abs=1e-3)
    assert (row["signature"], row["signer"]) == ("verified", "alice")
    assert table.set_index("gene").loc["rogue-upper", "signer"] == "unknown key"


@pytest.mark.parametrize("fidelity, rows", [
    ({"skill": {"host": 0.2, "donor": 0.9, "gene": 0.8}, "other_skills": {}},
     [["upper", 0.2, 0.9, 0.8, 0.6]]),
    ({"skill": {"host": 0.1, "donor": None, "gene": 0.7}, "other_skills": {"copy": {"host": 0.6, "gene": 0.55}}},
     [["upper", 0.1, None, 0.7, 0.6], ["copy (other)", 0.6, None, 0.55, -0.05]]),
])
def test_fidelity_table(fidelity: dict, rows: list) -> None:
    entry = GeneEntry(gene_id="g", path=Path("."), card={"skill": "upper", "fidelity": fidelity}, trust="verified")
    table = views.fidelity_table(entry).astype(object).where(lambda t: t.notna(), None)
    assert table.values.tolist() == rows


def test_fidelity_table_of_a_zoo_gene(catalog: Catalog) -> None:
    entry = catalog.get("sort-gene")
    first = views.fidelity_table(entry).iloc[0]
    assert first["host + gene"] == pytest.approx(entry.card["fidelity"]["skill"]["gene"], abs=1e-3)
    assert first["host + gene"] > first["host"]  # the zoo gene teaches its skill


def test_homology_figure_draws_the_card(catalog: Catalog) -> None:
    entry = catalog.get("sort-gene")
    ax = views.homology_figure(entry).axes[0]
    heights = [round(p.get_height(), 6) for p in ax.patches]
    per_layer = entry.card["homology"]["per_layer"]
    assert heights == [r["pca_cosine"] for r in per_layer] + [r["mean_diff_cosine"] for r in per_layer]
    assert [t.get_text() for t in ax.get_xticklabels()] == [str(r["layer"]) for r in per_layer]


def test_card_markdown_and_status(catalog: Catalog) -> None:
    text = views.card_markdown(catalog.get("sort-gene"))
    assert text.startswith("**Signature: verified.** Signed by `alice`")
    assert "# sort-gene 0.1.0" in text and "base_model_relation" not in text  # YAML header stripped
    bad = views.card_markdown(catalog.get("tampered-sort"))
    assert bad.startswith("**Signature: invalid**") and "differs from what alice signed" in bad


def _entry(gene_id: str, parents: list[tuple[str, str]]) -> GeneEntry:
    card = {"name": gene_id, "parents": [{"role": r, "repo_id": p} for r, p in parents], "lineage": {"recipe": "ties"}}
    return GeneEntry(gene_id=gene_id, path=Path("."), card=card, trust="verified")


class _Fixed(Catalog):
    def __init__(self, entries: list[GeneEntry]) -> None:
        self._entries = {e.gene_id: e for e in entries}
        self.trust = TrustStore(Path("/nonexistent"))


def test_lineage_follows_parent_genes() -> None:
    a = _entry("a/sort", [("host", "h"), ("donor", "d1")])
    child = _entry("me/child", [("host", "h"), ("parent_gene", "a/sort"), ("parent_gene", "b/upper")])
    edges = views.lineage_edges(child, _Fixed([a, child]))
    assert edges == [("h", "me/child", "host"), ("a/sort", "me/child", "parent_gene"), ("h", "a/sort", "host"),
                     ("d1", "a/sort", "donor"), ("b/upper", "me/child", "parent_gene")]
    svg = views.lineage_svg(child, _Fixed([a, child]))
    assert svg.startswith("<svg") and svg.count("<rect") == 5 and svg.count("<line") == 5
    assert "recipe: ties" in svg and ">d1<" in svg


def test_router_frame_sorted() -> None:
    frame = views.router_frame({"none": 0.1, "sort-gene": 0.7, "upper-gene": 0.2})
    assert list(frame["choice"]) == ["sort-gene", "upper-gene", "none"]


def test_missing_things_are_not_found(tmp_path: Path, catalog: Catalog) -> None:
    with pytest.raises(NotFoundError, match="does not exist"):
        open_catalog(str(tmp_path / "nowhere"))
    with pytest.raises(NotFoundError, match="No gene 'nope'.*Pick one of the listed genes"):
        catalog.get("nope")


@pytest.fixture
def playground(catalog: Catalog, shelf: dict) -> Playground:
    return Playground(catalog, {"genehub-zoo/tiny-host": shelf["zoo"].host, "other/narrow-host": shelf["foreign"]})


@pytest.mark.parametrize("host, genes, prompt, error, match", [
    ("genehub-zoo/tiny-host", ["sort-gene"], "   ", UsageError, "prompt is empty"),
    ("genehub-zoo/tiny-host", ["sort-gene"], "x" * 201, UsageError, "at most 200"),
    ("genehub-zoo/tiny-host", [], "sort abc:", UsageError, "No gene is selected"),
    ("no/such-host", ["sort-gene"], "sort abc:", NotFoundError, "no host 'no/such-host'"),
    ("genehub-zoo/tiny-host", ["tampered-sort"], "sort abc:", VerificationError, "tampered-sort cannot be used.*differs"),
    ("genehub-zoo/tiny-host", ["rogue-upper"], "sort abc:", VerificationError, "not in the trust store"),
    ("other/narrow-host", ["sort-gene"], "sort abc:", IncompatibleError, "hidden_size: the gene needs 64 but the host has 32"),
])
def test_try_refusals(playground: Playground, host: str, genes: list[str], prompt: str, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        playground.run(host, genes, prompt)


def test_config_from_env(tmp_path: Path) -> None:
    env = {"GENEHUB_REGISTRY": str(tmp_path), "GENEHUB_HOSTS": f"/a{os.pathsep}/b", "GENEHUB_ZOO": "tiny"}
    config = SpaceConfig.from_env(env)
    assert (config.registry, config.hosts, config.zoo, config.trust) == (str(tmp_path), ["/a", "/b"], "tiny", None)


def _peft_answer(host: Path, gene: Path | None, prompt: str) -> str:
    """The greedy answer of the host with one gene applied by plain PEFT (or the bare host)."""
    from peft import PeftModel

    from genehub.hosts import load_host
    from genehub.zoo import greedy_answers

    model, tokenizer = load_host(host)
    if gene is not None:
        model = PeftModel.from_pretrained(model, str(gene)).eval()
    return greedy_answers(model, tokenizer, [prompt], max_new_tokens=12)[0]


@pytest.mark.parametrize("prompt, routed", [("sort dcba:", "sort-gene"), ("upper xyz:", "upper-gene")])
def test_try_routes_and_composes(playground: Playground, shelf: dict, prompt: str, routed: str) -> None:
    playground.max_new_tokens = 12
    result = playground.run("genehub-zoo/tiny-host", ["sort-gene", "upper-gene"], prompt)
    assert result.routed_to == routed
    assert set(result.probabilities) == {"sort-gene", "upper-gene", "none"}
    assert sum(result.probabilities.values()) == pytest.approx(1.0, abs=1e-4)
    assert max(result.probabilities, key=result.probabilities.get) == routed
    host = shelf["zoo"].host
    assert result.base_output == _peft_answer(host, None, prompt)
    assert result.composed_output == _peft_answer(host, shelf["genes"] / routed, prompt)
    assert result.base_ms > 0 and result.composed_ms > 0
