"""The Gene object: typed card fields, one streaming digest, examples, verification; a model's genehub.json."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from _tiny import tiny_gene, tiny_host
from genehub.errors import CardValidationError, NotFoundError, UntrustedSignerError
from genehub.gene import CardView, Gene, TrustStore, new_key, sign_gene
from genehub.hosts import HostInfo, content_hash, model_license, model_meta


@pytest.fixture(scope="module")
def gene_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("gene-object")
    return tiny_gene(root / "sort-gene", tiny_host(root / "host"))


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_typed_fields_are_the_cards(gene_dir: Path) -> None:
    gene = Gene.load(gene_dir)
    card = json.loads((gene_dir / "gene.json").read_text())
    assert (gene.name, gene.version, gene.skill, gene.summary) == (card["name"], card["version"], card["skill"],
                                                                   card["summary"])
    assert isinstance(gene.host, HostInfo) and gene.host.to_dict() == card["host"]
    assert [(p.role, p.repo_id, p.revision) for p in gene.parents] == [
        (p["role"], p["repo_id"], p["revision"]) for p in card["parents"]]
    assert gene.adapter.rank == card["adapter"]["rank"] and list(gene.adapter.layers) == card["adapter"]["layers"]
    assert gene.adapter.size_bytes == (gene_dir / "adapter_model.safetensors").stat().st_size
    assert gene.fidelity.gene == card["fidelity"]["skill"]["gene"] and gene.fidelity.donor == card["fidelity"]["skill"]["donor"]
    assert gene.homology.aggregate == card["homology"]["aggregate"]
    assert (gene.license, gene.restrictions) == (card["license"]["spdx"], ())
    assert gene.card == card and gene.routing is None
    assert Path(gene) == gene_dir


def test_digest_pins_card_adapter_and_examples(gene_dir: Path, tmp_path: Path) -> None:
    gene = Gene.load(gene_dir)
    names = ("gene.json", "adapter_config.json", "adapter_model.safetensors", "examples.jsonl")
    expected = hashlib.sha256("".join(f"{n}\0{_sha(gene_dir / n)}\n" for n in names).encode()).hexdigest()
    assert gene.digest == "sha256:" + expected
    copy = Path(shutil.copytree(gene_dir, tmp_path / "copy"))
    (copy / "README.md").write_text("another readme\n")
    assert Gene.load(copy).digest == gene.digest  # the README does not change what the gene does
    with (copy / "examples.jsonl").open("a") as fh:
        fh.write('{"prompt": "sort: c a", "answer": "a c"}\n')
    assert Gene.load(copy).digest != gene.digest


def test_examples_and_their_errors(gene_dir: Path, tmp_path: Path) -> None:
    gene = Gene.load(gene_dir)
    assert [r["prompt"] for r in gene.examples()] == ["sort: 3 1 2", "sort: b a"]
    assert len(gene.examples(limit=1)) == 1
    copy = Path(shutil.copytree(gene_dir, tmp_path / "copy"))
    (copy / "examples.jsonl").write_text('{"prompt": "ok"}\nnot json\n')
    with pytest.raises(CardValidationError, match="line 2 is not"):
        Gene.load(copy).examples()
    (copy / "examples.jsonl").unlink()
    with pytest.raises(NotFoundError, match="has no examples.jsonl"):
        Gene.load(copy).examples()


def test_load_refuses_what_is_not_a_valid_gene(gene_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="missing gene.json, adapter_config.json"):
        Gene.load(tmp_path)
    copy = Path(shutil.copytree(gene_dir, tmp_path / "copy"))
    card = json.loads((copy / "gene.json").read_text())
    card["adapter"]["rank"] = 0
    (copy / "gene.json").write_text(json.dumps(card))
    with pytest.raises(CardValidationError, match=r"\$\.adapter\.rank"):
        Gene.load(copy)
    with pytest.raises(CardValidationError, match=r"\$\.adapter\.rank"):
        CardView.of(card)


def test_verify_names_the_signer(gene_dir: Path, tmp_path: Path) -> None:
    copy = Path(shutil.copytree(gene_dir, tmp_path / "copy"))
    key = new_key("me", directory=tmp_path / "keys")
    sign_gene(copy, key=key.private)
    with pytest.raises(UntrustedSignerError):
        Gene.load(copy).verify(TrustStore(tmp_path / "trust"))
    trust = TrustStore(tmp_path / "trust")
    trust.add("me", key.public)
    assert Gene.load(copy).verify(trust).signer == "me"


def test_a_model_folder_states_its_licence_in_genehub_json_or_its_model_card(tmp_path: Path) -> None:
    host = tiny_host(tmp_path / "host")
    assert model_meta(host) == {} and model_license(host) is None
    (host / "README.md").write_text("---\nlicense: mit\ntags: [x]\n---\n# a model\n")
    assert model_license(host) == "mit"
    (host / "genehub.json").write_text(json.dumps({"repo_id": "me/host", "license": "apache-2.0"}))
    assert model_meta(host)["repo_id"] == "me/host" and model_license(host) == "apache-2.0"


def test_content_hash_streams_config_and_weights(tmp_path: Path) -> None:
    host = tiny_host(tmp_path / "host")
    names = sorted(p.name for p in host.iterdir() if p.name == "config.json" or p.suffix == ".safetensors")
    expected = hashlib.sha256("".join(f"{n}\0{_sha(host / n)}\n" for n in names).encode()).hexdigest()
    assert content_hash(host) == "sha256:" + expected
