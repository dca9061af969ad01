"""``pull --host``: a gene installs only on a host with its architecture, shapes and tokenizer."""

from __future__ import annotations

import shutil

import pytest

from genehub.errors import IncompatibleError
from genehub.registry import LocalRegistry, list_installed, pull, push


@pytest.fixture
def host_with_tokenizer(registry_genes, tmp_path):
    """The genes' tiny host plus a saved tokenizer (describe_host needs one); same weights and revision."""
    from genehub.zoo.tokenizer import build_tokenizer

    host = shutil.copytree(registry_genes.host, tmp_path / "tiny-host")
    build_tokenizer().save_pretrained(host)
    return host


def test_pull_checks_the_host(registry_genes, trust_alice, host_with_tokenizer, tmp_path):
    from genehub.gene import load_card, sign_gene, write_gene
    from genehub.hosts import describe_host

    reg = LocalRegistry(tmp_path / "reg")
    push(registry_genes.v1, "alice/sort-gene", registry=reg)  # made for a tokenizer this host does not have
    with pytest.raises(IncompatibleError, match="tokenizer_fingerprint"):
        pull("alice/sort-gene", registry=reg, host=host_with_tokenizer)
    assert list_installed() == []

    card = load_card(registry_genes.v1)
    card["host"] = describe_host(host_with_tokenizer).to_dict()
    card["version"] = "0.3.0"
    fitting = write_gene(tmp_path / "fitting", peft_model_or_adapter_dir=registry_genes.v1, card=card,
                         examples=[{"prompt": "sort: 2 1", "answer": "1 2"}])
    sign_gene(fitting, key=registry_genes.keys["alice"].private, repo_id="alice/sort-gene-fit")
    push(fitting, "alice/sort-gene-fit", registry=reg)
    gene = pull("alice/sort-gene-fit", registry=reg, host=host_with_tokenizer)
    assert [g.repo_id for g in list_installed()] == ["alice/sort-gene-fit"] and gene.version == "0.3.0"
