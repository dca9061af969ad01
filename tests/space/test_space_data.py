"""The Space's data layer without a browser: catalog statuses, filters, tables, chart, lineage, refusals."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from _tiny import tiny_host_info
from genehub.errors import IncompatibleError, NotFoundError, UsageError, VerificationError
from genehub.gene import Gene, TrustStore, example_card, validate_card
from genehub.space import Catalog, GeneEntry, Playground, SpaceConfig, open_catalog, views
from genehub.space import tryout
from _space import gene_shelf, publish_shelf

HOST = "genehub-zoo/tiny-host"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def shelf(tmp_path_factory: pytest.TempPathFactory, tiny_zoo) -> dict:
    return gene_shelf(tmp_path_factory, tiny_zoo)


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
    card = example_card(tiny_host_info(), skill="upper")
    card["fidelity"].update(fidelity)
    entry = GeneEntry(gene_id="g", path=Path("."), gene=Gene(Path("."), validate_card(card)), trust="verified")
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
    assert text.startswith("`sort-gene` (sort-gene 0.1.0): **Signature: verified.** Signed by `alice`")
    assert "# sort-gene 0.1.0" in text and "base_model_relation" not in text  # YAML header stripped
    bad = views.card_markdown(catalog.get("tampered-sort"))
    assert bad.startswith("`tampered-sort` (sort-gene 0.1.0): **Signature: invalid**")
    assert "differs from what alice signed" in bad
    assert str(catalog.get("tampered-sort").path) in catalog.get("tampered-sort").reason
    assert str(catalog.get("tampered-sort").path) not in bad  # the visitor is not shown where the server keeps it


def _entry(gene_id: str, parents: list[tuple[str, str]]) -> GeneEntry:
    card = example_card(tiny_host_info())
    card["parents"] = [{"role": r, "repo_id": p, "revision": "sha256:" + "0" * 64, "license": "MIT"} for r, p in parents]
    card["lineage"]["recipe"] = "ties"
    return GeneEntry(gene_id=gene_id, path=Path("."), gene=Gene(Path("."), card), trust="verified")


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


def test_router_label_sorted() -> None:
    label = views.router_label({"none": 0.1, "sort-gene": 0.70001, "upper-gene": 0.2})
    assert list(label.items()) == [("sort-gene", 0.7), ("upper-gene", 0.2), ("none", 0.1)]


def test_missing_things_are_not_found(tmp_path: Path, catalog: Catalog) -> None:
    with pytest.raises(NotFoundError, match="No folder .*nowhere: '.*nowhere' was read as a folder of genes"):
        open_catalog(str(tmp_path / "nowhere"))
    with pytest.raises(NotFoundError, match="No gene 'nope'.*Pick one of the listed genes"):
        catalog.get("nope")


@pytest.fixture(scope="module")
def playground(shelf: dict) -> Playground:
    """One Playground for the Try tests: the composition a test builds is reused by the next (as in the Space)."""
    catalog = Catalog.from_dirs([shelf["genes"]], trust=TrustStore(shelf["trust"]))
    return Playground(catalog, {HOST: shelf["zoo"].host, "other/narrow-host": shelf["foreign"]}, max_new_tokens=12)


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


def _count_builds(monkeypatch, *, fake: bool = False) -> list[tuple[str, ...]]:
    """Record the gene ids of every composition the Playground builds (``fake``: build nothing real)."""
    built: list[tuple[str, ...]] = []
    real = tryout.compose_genes

    def counting(host, dirs, gene_ids, **options):
        built.append(tuple(gene_ids))
        return object() if fake else real(host, dirs, gene_ids, **options)

    monkeypatch.setattr(tryout, "compose_genes", counting)
    return built


def test_compositions_are_cached_per_host_and_exact_gene_set(catalog: Catalog, shelf: dict, tmp_path: Path,
                                                             monkeypatch) -> None:
    import shutil

    built = _count_builds(monkeypatch, fake=True)
    playground = Playground(catalog, {HOST: shelf["zoo"].host}, max_compositions=2)
    sort, upper = Gene.load(shelf["genes"] / "sort-gene"), Gene.load(shelf["genes"] / "upper-gene")
    first = playground.composition(HOST, ["sort-gene", "upper-gene"], [sort, upper])
    assert playground.composition(HOST, ["upper-gene", "sort-gene"], [upper, sort]) is first  # any order
    playground.composition(HOST, ["sort-gene"], [sort])
    assert built == [("sort-gene", "upper-gene"), ("sort-gene",)]
    # the same gene id with other files (a new commit, files rewritten) is another composition
    changed = Path(shutil.copytree(sort, tmp_path / "sort-gene"))
    with (changed / "examples.jsonl").open("a") as fh:
        fh.write('{"prompt": "sort zyx:", "answer": "xyz"}\n')
    playground.composition(HOST, ["sort-gene"], [Gene.load(changed)])
    assert built[-1] == ("sort-gene",) and len(built) == 3
    # bounded: the least recently used went first
    assert playground.compositions == [(HOST, ("sort-gene",)), (HOST, ("sort-gene",))]
    assert playground.composition(HOST, ["sort-gene", "upper-gene"], [sort, upper]) is not first and len(built) == 4


@pytest.mark.parametrize("backend", ["local", "hub-lfs"], indirect=True)
def test_registry_source_on_every_backend(backend, shelf: dict, tmp_path: Path, monkeypatch) -> None:
    sort = shelf["genes"] / "sort-gene"
    pickled = {p.name: p for p in sorted(sort.iterdir())} | {"adapter_model.bin": sort / "adapter_model.safetensors"}
    publish_shelf(shelf, backend.registry, extra={"zoo/pickled-sort": pickled})
    catalog = open_catalog(backend.spec, trust=shelf["trust"], cache=tmp_path / "space-cache")
    entries = {e.gene_id: e for e in catalog.entries()}
    assert {g: e.trust for g, e in entries.items()} == {
        "zoo/pickled-sort": "invalid", "zoo/rogue-upper": "untrusted", "zoo/sort-gene": "verified",
        "zoo/tampered-sort": "invalid", "zoo/upper-gene": "verified"}
    assert "pickle-format files (adapter_model.bin)" in entries["zoo/pickled-sort"].reason
    assert "adapter_model.safetensors differs" in entries["zoo/tampered-sort"].reason
    assert catalog.source.label == backend.registry.location
    head = backend.registry.snapshot("zoo/sort-gene").commit
    sort_entry = entries["zoo/sort-gene"]
    assert sort_entry.pull_command == f"genehub pull zoo/sort-gene@{head} --registry {backend.spec}"
    assert sort_entry.path == tmp_path / "space-cache" / "zoo--sort-gene" / head
    assert (sort_entry.signer, len(sort_entry.examples)) == ("alice", 20)
    # A reload lists the registry again but downloads nothing again: copies are kept per commit.
    assert backend.kind == "local" or any(d.endswith("adapter_model.safetensors") for d in backend.downloads())
    downloads = []
    monkeypatch.setattr(catalog.source.registry, "download", lambda snap, names, dest: downloads.append(snap.repo_id))
    catalog.refresh()
    assert catalog.get("zoo/sort-gene").trust == "verified" and catalog.get("zoo/sort-gene").path == sort_entry.path
    assert downloads == []


def _requirements(text: str) -> tuple[list[str], dict]:
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    reqs = [Requirement(line) for line in lines if not line.startswith("-")]
    return [line for line in lines if line.startswith("-")], {canonicalize_name(r.name): r.specifier for r in reqs}


def test_space_requirements_are_genehubs_dependencies_with_cpu_torch() -> None:
    import tomllib

    options, space = _requirements((ROOT / "spaces/genehub/requirements.txt").read_text())
    _, project = _requirements("\n".join(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]))
    assert options == ["--extra-index-url https://download.pytorch.org/whl/cpu"]
    assert "genehub" not in space  # not on PyPI: the export carries the package
    assert str(project["torch"]) == "==2.13.0" and str(space["torch"]) == "==2.13.0+cpu"
    assert not space["torch"].contains("2.13.0")  # the CUDA build of PyPI would not do
    assert {n: str(s) for n, s in space.items() if n != "torch"} == {n: str(s) for n, s in project.items() if n != "torch"}


def test_exported_space_runs_on_the_genehub_it_carries(tmp_path: Path, shelf: dict, capsys) -> None:
    from genehub.cli import main

    dest = tmp_path / "space"
    assert main(["space", "--export", str(dest)]) == 0
    assert f"hf upload OWNER/NAME {dest} . --repo-type space" in capsys.readouterr().out
    assert sorted(p.name for p in dest.iterdir()) == ["README.md", "app.py", "cards", "genehub", "requirements.txt",
                                                       "schemas"]
    assert not list(dest.rglob("__pycache__"))
    assert main(["space", "--export", str(dest)]) == 1 and "--overwrite" in capsys.readouterr().err
    assert main(["space", "--export", str(dest), "--overwrite"]) == 0
    # The Space runs `python app.py` in its folder, with none of this checkout on its path.
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "SPACE_ID")}
    env.update(GENEHUB_REGISTRY=str(shelf["genes"]), GENEHUB_TRUST=str(shelf["trust"]), GRADIO_ANALYTICS_ENABLED="False")
    code = ("import app, genehub\nfrom genehub._resources import schema_path\n"
            "print(genehub.__file__)\nprint(schema_path('gene-card.schema.json'))\n"
            "from genehub.space import open_catalog\nimport os\n"
            "catalog = open_catalog(os.environ['GENEHUB_REGISTRY'], trust=os.environ['GENEHUB_TRUST'])\n"
            "print(type(app.demo).__name__, [(e.gene_id, e.trust) for e in catalog.entries()])")
    run = subprocess.run([sys.executable, "-c", code], cwd=dest, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    package, schema, app = run.stdout.splitlines()[-3:]
    assert Path(package).is_relative_to(dest) and Path(schema).is_relative_to(dest)
    assert app == ("Blocks [('rogue-upper', 'untrusted'), ('sort-gene', 'verified'), ('tampered-sort', 'invalid'), "
                   "('upper-gene', 'verified')]")
