"""Signed tiny genes for the registry tests, built once per session (a random 2-layer Llama + LoRA)."""

from __future__ import annotations

import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest


@pytest.fixture(scope="session")
def registry_genes(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    """Genes signed with ``sign_gene``'s default repo id (``<key name>/<gene name>``):

    - ``v1``, ``v2``: alice's sort gene 0.1.0 and 0.2.0 (same adapter, new examples), for alice/sort-gene;
    - ``upper``: alice's upper gene 0.1.0, for alice/upper-gene (another gene by the same trusted key);
    - ``mallory``: a copy of v1 signed by mallory (``keys["mallory"]``) with a key file she named
      ``alice.pem``, so it claims alice/sort-gene (a key's file name is only a label; trust decides);
    - ``host``, ``keys`` and ``signed_for(repo_id)``: a copy of v1 alice signed for another repo.
    """
    from _tiny import tiny_gene, tiny_host
    from genehub.gene import load_card, new_key, sign_gene, write_gene

    root = tmp_path_factory.mktemp("registry-genes")
    # mallory names her key file alice.pem: a key's name is only a label, the trust store decides
    keys = {"alice": new_key("alice", directory=root / "keys"), "mallory": new_key("alice", directory=root / "mallory")}
    host = tiny_host(root / "host")
    v1 = tiny_gene(root / "v1" / "sort-gene", host)
    sign_gene(v1, key=keys["alice"].private)
    card = load_card(v1)
    card["version"] = "0.2.0"
    card.pop("identity", None)
    v2 = write_gene(root / "v2" / "sort-gene", peft_model_or_adapter_dir=v1, card=card,
                    examples=[{"prompt": "sort: 9 8", "answer": "8 9"}])
    sign_gene(v2, key=keys["alice"].private)
    upper = tiny_gene(root / "upper" / "upper-gene", host, name="upper-gene", skill="upper")
    sign_gene(upper, key=keys["alice"].private)
    mallory = Path(shutil.copytree(v1, root / "mallory-gene" / "sort-gene"))
    sign_gene(mallory, key=keys["mallory"].private)
    made: dict[str, Path] = {}

    def signed_for(repo_id: str) -> Path:
        """A copy of v1 that alice signed for ``repo_id`` (push sends a gene only to the repo it is signed for)."""
        if repo_id not in made:
            copy = Path(shutil.copytree(v1, root / "for" / repo_id.replace("/", "--")))
            sign_gene(copy, key=keys["alice"].private, repo_id=repo_id)
            made[repo_id] = copy
        return made[repo_id]

    return SimpleNamespace(keys=keys, host=host, v1=v1, v2=v2, upper=upper, mallory=mallory, signed_for=signed_for)


@pytest.fixture
def trust_alice(registry_genes: SimpleNamespace):
    """The default trust store (per test, see conftest) trusting alice only."""
    from genehub.gene import TrustStore

    store = TrustStore()
    store.add("alice", registry_genes.keys["alice"].public)
    return store
