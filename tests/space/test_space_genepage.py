"""The gene page's facts without a browser: version history, downloads, how to use it, no server paths;
and where the Space's data comes from."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from _space import HOST, gene_shelf, publish_shelf
from _tiny import tiny_host_info
from genehub.errors import UsageError
from genehub.gene import Gene, TrustStore, example_card, sign_gene, validate_card
from genehub.registry import LocalRegistry, push
from genehub.space import (Catalog, GeneEntry, Playground, SpaceConfig, SpaceData, create_app, genepage, load_data,
                           open_catalog, register_data_source)


@pytest.fixture(scope="module")
def shelf(tmp_path_factory: pytest.TempPathFactory, tiny_zoo) -> dict:
    return gene_shelf(tmp_path_factory, tiny_zoo)


def _next_version(shelf: dict, out: Path, version: str, summary: str) -> Path:
    """A copy of sort-gene with another version and summary, signed by alice for zoo/sort-gene."""
    gene = Path(shutil.copytree(shelf["genes"] / "sort-gene", out))
    card = json.loads((gene / "gene.json").read_text())
    card.update(version=version, summary=summary)
    (gene / "gene.json").write_text(json.dumps(card, indent=2))
    sign_gene(gene, key=shelf["keys"]["alice"].private, repo_id="zoo/sort-gene", previous=shelf["genes"] / "sort-gene")
    return gene


def test_the_version_history_lists_each_release_newest_first(shelf: dict, tmp_path: Path) -> None:
    registry = LocalRegistry(tmp_path / "registry")
    trust = TrustStore(shelf["trust"])
    push(shelf["genes"] / "sort-gene", "zoo/sort-gene", registry=registry, trust=trust)
    push(_next_version(shelf, tmp_path / "v2", "0.2.0", "Sorts letters, now better."), "zoo/sort-gene",
         registry=registry, trust=trust)
    catalog = open_catalog(str(registry.root), trust=shelf["trust"], cache=tmp_path / "cache")
    entry = catalog.get("zoo/sort-gene")
    assert (entry.trust, entry.gene.version) == ("verified", "0.2.0")  # the head is the new release
    versions = catalog.versions("zoo/sort-gene")
    tags = registry.tags("zoo/sort-gene")
    assert [(v.version, v.commit) for v in versions] == [("0.2.0", tags["v0.2.0"]), ("0.1.0", tags["v0.1.0"])]
    assert versions[0].summary == "Sorts letters, now better." and versions[1].summary.startswith("Test gene")
    assert [v.created for v in versions] == ["2025-01-01T00:00:00Z"] * 2
    rows = genepage.versions_table(entry, versions).to_dict("records")
    assert [(r["version"], r["on this page"]) for r in rows] == [("0.2.0", "yes"), ("0.1.0", "")]
    assert genepage.facts(entry, registry=True, versions=versions)["version"] == "0.2.0 (2 released versions)"
    assert "| 0.2.0 (2 released versions) |" in genepage.header_markdown(entry, registry=True, versions=versions)


@pytest.mark.parametrize("backend", ["local", "hub-lfs"], indirect=True)
def test_downloads_as_the_registry_counts_them(backend, shelf: dict, tmp_path: Path) -> None:
    from hubserver.lies import Lies

    publish_shelf(shelf, backend.registry)
    if backend.server is not None:
        backend.server.lie(Lies(info=lambda repo_id, data: {**data, "downloads": 1234}))
    catalog = open_catalog(backend.spec, trust=shelf["trust"], cache=tmp_path / "cache")
    count = catalog.downloads("zoo/sort-gene")
    shown = genepage.facts(catalog.get("zoo/sort-gene"), registry=True, downloads=count)["downloads"]
    if backend.server is None:
        assert count is None and shown == "not counted by this registry"
    else:
        assert count == 1234 and shown == "1,234 (last 30 days, as the registry counts them)"
    assert f"| {shown} |" in genepage.header_markdown(catalog.get("zoo/sort-gene"), registry=True, downloads=count)


def test_a_folder_of_genes_has_one_version_and_no_downloads(shelf: dict) -> None:
    catalog = Catalog.from_dirs([shelf["genes"]], trust=TrustStore(shelf["trust"]))
    entry = catalog.get("sort-gene")
    assert catalog.versions("sort-gene") == [] and catalog.downloads("sort-gene") is None
    shown = genepage.facts(entry)
    assert shown["downloads"] == "not counted (a folder of genes)" and "a folder keeps no history" in shown["version"]
    assert genepage.versions_table(entry, []).to_dict("records") == [
        {"version": "0.1.0", "created": "2025-01-01", "commit": "-", "summary": entry.gene.summary,
         "on this page": "yes"}]


def _entry(repo_id: str, revision: str) -> GeneEntry:
    card = example_card(tiny_host_info())
    card["host"].update(repo_id=repo_id, revision=revision)
    card["parents"][0].update(repo_id=repo_id, revision=revision)
    return GeneEntry(gene_id="me/g", path=Path("."), gene=Gene(Path("."), validate_card(card)), trust="verified",
                     pull_command="genehub pull me/g@" + "1" * 40 + " --registry hub", revision="1" * 40)


@pytest.mark.parametrize("repo_id, revision, load, pull_host", [
    ("HuggingFaceTB/SmolLM2-135M", "a" * 40,
     'from_pretrained("HuggingFaceTB/SmolLM2-135M", revision="' + "a" * 40 + '")', "PATH/TO/SmolLM2-135M"),
    ("local/my-host", "sha256:" + "b" * 64, 'from_pretrained("PATH/TO/my-host")  # local/my-host', "PATH/TO/my-host"),
    (HOST, "sha256:" + "c" * 64, 'from_pretrained("./zoo/host")  # genehub-zoo/tiny-host', "./zoo/host"),
])
def test_the_peft_snippet_loads_the_host_the_card_names(repo_id: str, revision: str, load: str, pull_host: str) -> None:
    entry = _entry(repo_id, revision)
    use = genepage.use_markdown(entry)
    assert load in use and 'PeftModel.from_pretrained(base, "PATH/TO/GENE")' in use
    if revision.startswith("sha256:"):  # a folder, not a Hub repo: the page says how to get it
        assert "is a model folder, not a Hub repo" in use
        assert ("genehub zoo build --preset tiny --out ./zoo" in use) == (repo_id == HOST)
    command = genepage.pull_command(entry)
    assert command.splitlines()[-1] == f"genehub pull me/g@{'1' * 40} --registry hub --host {pull_host}"


@pytest.mark.parametrize("message, shown", [
    ("Gene g (/root/.cache/genehub/space/abc/zoo--g/123) does not fit", "Gene g (…/123) does not fit"),
    ("see /srv/genes/x.safetensors; and https://hub.example.org/a/b", "see …/x.safetensors; and https://hub.example.org/a/b"),
    ("genehub-zoo/tiny-host at sha256:ab and 1/2 and /tmp", "genehub-zoo/tiny-host at sha256:ab and 1/2 and /tmp"),
])
def test_server_paths_are_scrubbed(message: str, shown: str) -> None:
    assert genepage.scrub(message) == shown


def test_a_gene_whose_host_is_not_served_shows_its_expected_answers(shelf: dict) -> None:
    catalog = Catalog.from_dirs([shelf["genes"]], trust=TrustStore(shelf["trust"]))
    gallery = Playground(catalog, {"other/narrow-host": shelf["foreign"]}).gallery("sort-gene")
    assert gallery.host is None and "runs no copy of the gene's host genehub-zoo/tiny-host" in gallery.note
    table = genepage.gallery_table(gallery).to_dict("records")
    assert [(r["prompt"], r["expected"]) for r in table] == [(x["prompt"], x["answer"])
                                                            for x in catalog.get("sort-gene").examples[:6]]
    assert {r["host + gene"] for r in table} == {"-"}


def test_the_data_source_is_a_parameter(shelf: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    from genehub.space import DATA_SOURCES

    with pytest.raises(UsageError, match="no data source 'nope'.*GENEHUB_SPACE_DATA to one of: registry"):
        load_data(SpaceConfig(data="nope"))
    assert SpaceConfig.from_env({"GENEHUB_SPACE_DATA": "shelf"}).data == "shelf"
    seen = []

    def shelf_data(config: SpaceConfig) -> SpaceData:
        seen.append(config.data)
        catalog = Catalog.from_dirs([shelf["genes"]], trust=TrustStore(shelf["trust"]))
        return SpaceData(catalog, {HOST: shelf["zoo"].host})

    monkeypatch.setitem(DATA_SOURCES, "placeholder", shelf_data)  # restored after the test
    register_data_source("placeholder", shelf_data)
    demo = create_app(SpaceConfig(data="placeholder"))
    assert seen == ["placeholder"] and type(demo).__name__ == "Blocks"
    genes = next(b for b in demo.blocks.values() if getattr(b, "elem_id", None) == "gene")
    assert genes.value == "sort-gene"  # the first verified gene of that data, not the first by name


def test_a_mistyped_registry_url_is_refused_as_one() -> None:
    with pytest.raises(UsageError, match="'htp:/bad' looks like a URL with the scheme `htp:`"):
        open_catalog("htp:/bad")


def _picked(demo: object, elem_id: str) -> object:
    return next(b for b in demo.blocks.values() if getattr(b, "elem_id", None) == elem_id)  # type: ignore[attr-defined]


def test_the_page_opens_on_the_real_host_with_a_real_gene(shelf: dict, tmp_path: Path,
                                                          tmp_path_factory: pytest.TempPathFactory) -> None:
    """With the zoo's genes and a real English gene (named to sort last) and both hosts served, the gene
    page and Try open on the real gene and SmolLM2, and its examples are offered as English requests."""
    from _real import real_gene
    from _space import REAL_HOST
    from genehub.space import build_app

    made = real_gene(tmp_path_factory)
    trust = TrustStore(tmp_path / "trust")
    trust.add("alice", shelf["keys"]["alice"].public)
    trust.add("real-test", made.trust / "real-test.pub")
    genes = tmp_path / "genes"
    for name in ("sort-gene", "upper-gene"):
        shutil.copytree(shelf["genes"] / name, genes / name)
    shutil.copytree(made.gene, genes / "weekday-gene")
    catalog = Catalog.from_dirs([genes], trust=trust)
    assert [e.trust for e in catalog.entries()] == ["verified"] * 3
    hosts = {HOST: shelf["zoo"].host, REAL_HOST: made.host}
    demo = build_app(catalog, Playground(catalog, hosts))
    assert (_picked(demo, "gene").value, _picked(demo, "host").value) == ("weekday-gene", REAL_HOST)
    assert _picked(demo, "genes-picked").value == ["weekday-gene"]
    requests = [value for _, value in _picked(demo, "example").choices]
    texts = [r["text"] for r in catalog.get("weekday-gene").examples[:5]]
    assert requests == texts and not any("<|im_start|>" in r for r in requests)
    # without the real host, the same genes open on a zoo gene and the zoo's host
    demo = build_app(catalog, Playground(catalog, {HOST: shelf["zoo"].host}))
    assert (_picked(demo, "gene").value, _picked(demo, "host").value) == ("sort-gene", HOST)


def test_the_space_config_serves_the_real_preset(tmp_path_factory: pytest.TempPathFactory) -> None:
    """What spaces/genehub/app.py builds from its variables: GENEHUB_ZOO=smollm2 serves SmolLM2 and Gemma, and
    with SmolLM2 genes in GENEHUB_REGISTRY the page and Try open on such a gene and SmolLM2."""
    from _real import REPO_ID, real_gene
    from _space import REAL_HETEROLOGOUS, REAL_HOST
    from genehub.space.config import host_dirs

    made = real_gene(tmp_path_factory)
    env = {"GENEHUB_REGISTRY": str(made.registry), "GENEHUB_TRUST": str(made.trust), "GENEHUB_ZOO": "smollm2"}
    config = SpaceConfig.from_env(env)
    hosts = host_dirs(config)
    assert sorted(hosts) == sorted([REAL_HOST, REAL_HETEROLOGOUS])
    # registry_data's catalog, with its fetched copies in a temporary folder instead of genehub's cache
    catalog = open_catalog(config.registry, trust=config.trust, cache=tmp_path_factory.mktemp("space-cache"))
    demo = create_app(config, data=SpaceData(catalog, hosts))
    assert (_picked(demo, "gene").value, _picked(demo, "host").value) == (REPO_ID, REAL_HOST)
