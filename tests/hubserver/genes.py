"""Signed tiny genes for the registry tests, built once per session (a random 2-layer Llama + LoRA)."""

from __future__ import annotations

import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest


@pytest.fixture(scope="session")
def registry_genes(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    """alice's sort gene v0.1.0 and v0.2.0 (same adapter, new examples), mallory's copy, and the host."""
    from _tiny import tiny_gene, tiny_host
    from genehub.gene import load_card, new_key, sign_gene, write_gene

    root = tmp_path_factory.mktemp("registry-genes")
    keys = {name: new_key(name, directory=root / "keys") for name in ("alice", "mallory")}
    host = tiny_host(root / "host")
    v1 = tiny_gene(root / "v1" / "sort-gene", host)
    sign_gene(v1, key=keys["alice"].private)
    card = load_card(v1)
    card["version"] = "0.2.0"
    v2 = write_gene(root / "v2" / "sort-gene", peft_model_or_adapter_dir=v1, card=card,
                    examples=[{"prompt": "sort: 9 8", "answer": "8 9"}])
    sign_gene(v2, key=keys["alice"].private)
    mallory = Path(shutil.copytree(v1, root / "mallory" / "sort-gene"))
    sign_gene(mallory, key=keys["mallory"].private)
    return SimpleNamespace(keys=keys, host=host, v1=v1, v2=v2, mallory=mallory)


@pytest.fixture
def trust_alice(registry_genes: SimpleNamespace):
    """The default trust store (per test, see conftest) trusting alice only."""
    from genehub.gene import TrustStore

    store = TrustStore()
    store.add("alice", registry_genes.keys["alice"].public)
    return store
