"""Routing prototypes in a gene's card and the prototype router: built from examples, checked, hot-added."""

from __future__ import annotations

import dataclasses
import json
import shutil
import time

import pytest
import torch

from _tiny import tiny_lora
from genehub import zoo
from genehub.errors import CardValidationError, IncompatibleError, UsageError, VerificationError
from genehub.gene import card_errors, example_card, load_card, new_key, sign_gene, verify_gene, write_gene
from genehub.gene.trust import TrustStore
from genehub.hosts import describe_host, load_host
from genehub.routing.encoders import HostEncoder, encoder_from_spec
from genehub.routing.features import host_features
from genehub.routing.prototype_router import PrototypeRouter
from genehub.routing.prototypes import (
    DEFAULT_EXEMPLAR_MATCH,
    ROUTING_FILE,
    GenePrototypes,
    build_routing,
    conformal_threshold,
    kmeans_prototypes,
    load_prototypes,
)

SKILLS = ("sort", "upper", "reverse", "add")


# ------------------------------------------------------------------------------------------------ pieces
def test_one_prototype_is_the_normalised_mean():
    x = torch.randn(20, 8)
    x = x / x.norm(dim=1, keepdim=True)
    mean = x.mean(0)
    assert torch.allclose(kmeans_prototypes(x, 1)[0], mean / mean.norm(), atol=1e-6)


def test_kmeans_finds_the_clusters_and_keeps_every_distinct_example_at_large_k():
    torch.manual_seed(0)
    axes = torch.eye(6)[:3]
    x = torch.cat([axes[i] + 0.05 * torch.randn(30, 6) for i in range(3)])
    protos = kmeans_prototypes(x, 3, seed=1)
    # each true direction has a prototype within a small angle
    assert (axes @ protos.T).max(dim=1).values.min() > 0.98
    assert len(kmeans_prototypes(x[:5], 64)) == 5


@pytest.mark.parametrize("rate", [0.01, 0.05, 0.2])
def test_conformal_threshold_holds_the_rate_on_new_prompts_like_the_calibration(rate):
    gen = torch.Generator().manual_seed(0)
    calibration, fresh = torch.randn(2000, generator=gen), torch.randn(200_000, generator=gen)
    threshold, rank = conformal_threshold(calibration, rate)
    assert (calibration > threshold).float().mean() <= rate
    assert (fresh > threshold).float().mean() <= rate + 0.005
    assert (fresh > threshold).float().mean() >= rate / 2  # not needlessly strict either


def test_a_rate_below_one_over_n_uses_the_largest_score():
    scores = torch.tensor([0.1, 0.5, 0.3])
    assert conformal_threshold(scores, 0.01) == (0.5, 3)
    with pytest.raises(UsageError, match="not a rate"):
        conformal_threshold(scores, 1.5)


# ------------------------------------------------------------------------------------------------ genes
@pytest.fixture(scope="module")
def host(tiny_zoo):
    model, tokenizer = load_host(tiny_zoo.host)
    return model, tokenizer, describe_host(tiny_zoo.host)


@pytest.fixture(scope="module")
def encoder(host):
    model, tokenizer, info = host
    return HostEncoder(model, tokenizer, host=info, layer=1, pooling="mean+last", template="none")


@pytest.fixture(scope="module")
def general():
    return [r["prompt"] for r in zoo.general_dataset(n=300, split="train")]


@pytest.fixture(scope="module")
def made_genes(tmp_path_factory, tiny_zoo):
    """Unsigned genes on the zoo host (random LoRAs: routing reads only card, examples and prototypes)."""
    root = tmp_path_factory.mktemp("proto-genes")
    info = describe_host(tiny_zoo.host)
    lora = tiny_lora(tiny_zoo.host)
    out = {}
    for skill in SKILLS:
        rows = [{"prompt": r["prompt"], "answer": r["answer"]} for r in zoo.skill_dataset(skill, n_train=64)["train"]]
        card = example_card(info, name=f"{skill}-gene", skill=skill)
        out[skill] = write_gene(root / skill, peft_model_or_adapter_dir=lora, card=card, examples=rows)
    return out


@pytest.fixture
def genes(made_genes, tmp_path, encoder, general):
    """Copies of the genes with routing built (K=4 prototypes), one folder each."""
    out = {}
    for skill, path in made_genes.items():
        out[skill] = shutil.copytree(path, tmp_path / skill)
        build_routing(out[skill], encoder, general, prototypes=4)
    return out


def fresh(tiny_zoo, skill, n=40):
    """Test prompts of the seen templates (new words). The tiny character-level host does not carry a
    skill across templates; held-out phrasings are measured on the real host (slow test, benchmark)."""
    return [r["prompt"] for r in tiny_zoo.test_sets((skill,))[skill] if not r["heldout"]][:n]


def test_build_routing_writes_a_schema_valid_block_and_a_digested_file(genes, encoder, general):
    card = load_card(genes["sort"])
    block = card["routing"]
    assert block["encoder"] == encoder.spec
    assert block["prototypes"]["count"] == 4 and block["prototypes"]["dim"] == encoder.dim
    assert block["calibration"]["num_prompts"] == len(general)
    assert block["calibration"]["rate"] <= block["calibration"]["target_rate"]
    assert ROUTING_FILE in card["files"]
    loaded = load_prototypes(genes["sort"])
    assert loaded.prototypes.shape == (4, encoder.dim)
    assert torch.allclose(loaded.prototypes.norm(dim=1), torch.ones(4), atol=1e-5)
    # the threshold really is the calibrated quantile of the general prompts' similarities
    sims = (encoder.encode(general) @ loaded.prototypes.T).max(dim=1).values
    assert (sims > loaded.threshold).float().mean() <= block["calibration"]["target_rate"]


@pytest.mark.parametrize("edit, match", [
    (lambda b: b.update(method="mean"), "method"),
    (lambda b: b.update(threshold=1.5), "threshold"),
    (lambda b: b["encoder"].update(layer=-1), "encoder"),
    (lambda b: b["prototypes"].update(file="other.safetensors"), "prototypes"),
    (lambda b: b.update(surprise=1), "surprise"),
    (lambda b: b["calibration"].pop("prompts_digest"), "prompts_digest"),
])
def test_schema_refuses_a_bad_routing_block(genes, edit, match):
    card = load_card(genes["sort"])
    edit(card["routing"])
    errors = card_errors(card)
    assert errors and any(match in path + msg for path, msg in errors), errors


def test_a_routing_block_needs_its_file_digest(genes):
    card = load_card(genes["sort"])
    del card["files"][ROUTING_FILE]
    assert any("routing.safetensors" in path for path, _ in card_errors(card)), card_errors(card)


def test_tampered_prototype_file_is_caught_by_the_card_and_the_signature(genes, tmp_path):
    from safetensors.torch import load_file, save_file

    gene = genes["upper"]
    key = new_key("alice")
    TrustStore().add("alice", key.public)
    sign_gene(gene, key="alice")
    assert verify_gene(gene).signer == "alice"
    t = load_file(str(gene / ROUTING_FILE))
    save_file({"prototypes": -t["prototypes"]}, str(gene / ROUTING_FILE))  # same shape, other vectors
    with pytest.raises(VerificationError, match="differs from the digest") as err:
        load_prototypes(gene)
    assert err.value.files == [ROUTING_FILE]
    with pytest.raises(VerificationError) as err:
        verify_gene(gene)
    assert ROUTING_FILE in err.value.files


def test_building_routing_removes_a_stale_signature(made_genes, tmp_path, encoder, general):
    gene = shutil.copytree(made_genes["sort"], tmp_path / "g")
    key = new_key("bob")
    TrustStore().add("bob", key.public)
    sign_gene(gene, key="bob")
    build_routing(gene, encoder, general, prototypes=1)
    assert not (gene / "gene.sig").exists()
    sign_gene(gene, key="bob")
    assert verify_gene(gene).card["routing"]["prototypes"]["count"] == 1


# ------------------------------------------------------------------------------------------------ router
def test_router_routes_new_prompts_and_a_gene_added_hot_from_its_card_alone(genes, encoder, tiny_zoo, general):
    router = PrototypeRouter.from_genes([genes[s] for s in ("sort", "upper", "reverse")], encoder=encoder)
    prompts = {s: fresh(tiny_zoo, s) for s in SKILLS}

    def accuracy(skill):
        decisions = router.route(prompts[skill])
        return sum(d.gene == f"{skill}-gene" for d in decisions) / len(decisions)

    before = {s: accuracy(s) for s in ("sort", "upper", "reverse")}
    assert min(before.values()) >= 0.6, before
    assert accuracy("add") == 0.0
    start = time.perf_counter()
    router.add(genes["add"])  # the folder: card + routing.safetensors, nothing else is read
    added_ms = 1000 * (time.perf_counter() - start)
    assert router.gene_names[-1] == "add-gene"
    assert accuracy("add") >= 0.6
    assert min(accuracy(s) for s in before) >= 0.6
    start = time.perf_counter()
    router.remove("add-gene")
    assert 1000 * (time.perf_counter() - start) < 50 and added_ms < 50
    assert accuracy("add") == 0.0


def test_none_when_no_gene_is_within_its_threshold(genes, encoder, tiny_zoo):
    router = PrototypeRouter.from_genes([genes["sort"], genes["upper"]], encoder=encoder)
    sort_prompts = fresh(tiny_zoo, "sort", 10)
    x = encoder.encode(sort_prompts)
    sims = router.similarities(x)[:, 0]
    # lift sort's threshold above every one of these prompts' similarity: they must all become "none"
    raised = dataclasses.replace(load_prototypes(genes["sort"]), threshold=float(sims.max()) + 1e-4)
    strict = PrototypeRouter(encoder, [raised])
    assert all(d.gene is None and d.probabilities["none"] == 1.0 for d in strict.decide(sort_prompts, x))
    alone = dataclasses.replace(raised, exemplars=None)  # by its prototype alone, which scores 1 against itself
    assert all(d.gene == "sort-gene" for d in PrototypeRouter(encoder, [alone]).decide(sort_prompts, x * 0 + raised.prototypes[0]))


def test_background_prompts_turn_lookalikes_into_none(genes, encoder, tiny_zoo):
    sort_prompts = fresh(tiny_zoo, "sort", 10)
    router = PrototypeRouter.from_genes([genes["sort"]], encoder=encoder, background=sort_prompts)
    # the prompts are their own background (similarity 1): nothing beats that by the margin
    assert all(d.gene is None for d in router.route(sort_prompts))


def test_top_k_mixes_the_closest_genes_with_weights_that_sum_to_one(genes, encoder, tiny_zoo):
    router = PrototypeRouter.from_genes([genes[s] for s in SKILLS], encoder=encoder, temperature=1.0)
    for d in router.route(fresh(tiny_zoo, "upper", 10), top_k=2):
        if d.gene is not None:
            assert abs(sum(d.weights.values()) - 1) < 1e-6 and d.gene in d.weights
            assert d.weights[d.gene] == max(d.weights.values())


def test_genes_in_another_encoders_space_are_refused(genes, host):
    model, tokenizer, info = host
    other = HostEncoder(model, tokenizer, host=info, layer=2, pooling="mean+last", template="none")
    router = PrototypeRouter(other)
    with pytest.raises(IncompatibleError, match="layer"):
        router.add(genes["sort"])
    router = PrototypeRouter.from_genes([genes["sort"]], encoder=None, model=model, tokenizer=tokenizer, host=info)
    with pytest.raises(UsageError, match="already has"):
        router.add(genes["sort"])


def test_encoder_rebuilt_from_a_spec_gives_the_same_vectors(encoder, host):
    model, tokenizer, info = host
    again = encoder_from_spec(encoder.spec, model=model, tokenizer=tokenizer, host=info)
    prompts = ["sort cab:", "shout dog ="]
    assert torch.equal(again.encode(prompts), encoder.encode(prompts))
    wanted = host_features(model, tokenizer, prompts, layer=1, pooling="mean+last")
    assert torch.allclose(encoder.encode(prompts), wanted / wanted.norm(dim=1, keepdim=True), atol=1e-6)
    with pytest.raises(IncompatibleError, match="revision"):
        encoder_from_spec({**encoder.spec, "host": {**encoder.spec["host"], "revision": "sha256:" + "0" * 64}},
                          model=model, tokenizer=tokenizer, host=info)


def test_a_card_with_prototypes_of_another_shape_is_refused(genes):
    card = json.loads((genes["sort"] / "gene.json").read_text())
    gene = load_prototypes(genes["sort"])
    card["routing"]["prototypes"]["count"] = 5
    with pytest.raises(CardValidationError, match="shape"):
        load_prototypes(genes["sort"], card=card)
    assert gene.prototypes.shape[0] == 4


def test_a_centered_encoder_travels_with_the_prototypes(made_genes, tmp_path, host, encoder, general):
    model, tokenizer, info = host
    centered = encoder.centered(general)
    gene = shutil.copytree(made_genes["upper"], tmp_path / "upper")
    build_routing(gene, centered, general, prototypes=2)
    loaded = load_prototypes(gene)
    assert torch.equal(loaded.encoder_tensors["center"], centered.center)
    assert loaded.encoder["center"]["num_prompts"] == len(general)
    rebuilt = PrototypeRouter.from_genes([gene], model=model, tokenizer=tokenizer, host=info).encoder
    prompts = ["upper dog:", "sort cab:"]
    assert torch.equal(rebuilt.encode(prompts), centered.encode(prompts))
    assert not torch.allclose(centered.encode(prompts), encoder.encode(prompts))
    with pytest.raises(IncompatibleError, match="center"):
        PrototypeRouter(encoder).add(gene)


class _OffSchemaEncoder:
    """An encoder whose spec the card schema does not know (to make the card's validation fail)."""

    spec = {"kind": "mystery", "dim": 3}
    dim = 3

    def encode(self, prompts):
        return torch.nn.functional.normalize(torch.randn(len(prompts), 3), dim=1)

    def tensors(self):
        return {}


def test_a_failed_build_leaves_the_gene_as_it_was(made_genes, tmp_path, general):
    gene = shutil.copytree(made_genes["sort"], tmp_path / "g")
    before = {p.name: p.read_bytes() for p in gene.iterdir()}
    with pytest.raises(CardValidationError, match="routing"):
        build_routing(gene, _OffSchemaEncoder(), general)
    assert {p.name: p.read_bytes() for p in gene.iterdir()} == before
    (gene / "examples.jsonl").write_text('{"prompt": "sort cab:"}\nnot json\n')
    with pytest.raises(CardValidationError, match="line 2"):  # read by Gene.examples, the one reader
        build_routing(gene, _OffSchemaEncoder(), general)


def test_a_concat_block_carries_each_parts_prototype_and_threshold(made_genes, tmp_path, host, general):
    from genehub.routing.encoders import ConcatEncoder, SentenceEncoder

    model, tokenizer, info = host
    minilm = SentenceEncoder.minilm(text="slots-v1").centered(general)
    states = HostEncoder(model, tokenizer, host=info, layer=1, pooling="mean", template="none").centered(general)
    both = shutil.copytree(made_genes["sort"], tmp_path / "both")
    alone = shutil.copytree(made_genes["sort"], tmp_path / "alone")
    build_routing(both, ConcatEncoder([minilm, states]), general)
    build_routing(alone, minilm, general)
    whole, part, want = load_prototypes(both), load_prototypes(both).part(0), load_prototypes(alone)
    assert whole.parts == 2 and len(whole.block["calibration"]["parts"]) == 2
    # One prototype: the part's coordinates of the concatenated mean are the part's own mean.
    assert torch.allclose(part.prototypes, want.prototypes, atol=1e-5)
    assert part.threshold == pytest.approx(want.threshold, abs=1e-5) and part.encoder == want.encoder
    assert torch.equal(part.encoder_tensors["center"], want.encoder_tensors["center"])
    # A router that reads only the sentence part needs no host, and decides as the sentence-only gene does.
    prompts = fresh_prompts = ["sort cab:", "upper dog:", "Hello there"]
    by_part = PrototypeRouter.from_genes([both], part=0, background=general)
    by_own = PrototypeRouter.from_genes([alone], background=general)
    assert [d.probabilities for d in by_part.route(prompts)] == [d.probabilities for d in by_own.route(fresh_prompts)]
    with pytest.raises(UsageError, match="no part 2"):
        whole.part(2)


def _unit(*rows):
    x = torch.tensor(rows, dtype=torch.float32)
    return x / x.norm(dim=1, keepdim=True)


def test_a_prompt_in_one_of_a_genes_own_phrasings_goes_to_it_even_nearer_another_genes_prototype():
    # Gene a: most examples near e0, one phrasing (3 examples) along e1; gene b: along e1 + 0.75 e2, so
    # a's mean sits farther from e1 (cosine 0.68) than b's does (0.80).
    a = _unit([1, 0.3, 0, 0], [1, 0.3, 0.05, 0], [1, 0.3, 0, 0.05], [1, 0.32, 0, 0], [1, 0.28, 0, 0],
              [0, 1, 0, 0], [0.02, 1, 0, 0], [0, 1, 0.02, 0])
    b = _unit([0, 1, 0.75, 0], [0, 1, 0.8, 0.05], [0.05, 1, 0.7, 0])
    general = _unit([0, 0, 0, 1], [0, 0, 0.2, 1], [0.1, 0, 0, 1], [0, 0.1, 0, 1])
    spec = {"kind": "test", "dim": 4}

    def gene(name, vectors, match):
        return GenePrototypes.from_vectors(name, spec, kmeans_prototypes(vectors, 1), examples=[name] * len(vectors),
                                           general=["g"] * len(general), general_vectors=general, target_rate=0.25,
                                           clustering={"method": "kmeans", "k": 1, "seed": 0}, exemplars=vectors,
                                           exemplar_match=match)

    own = _unit([0, 1, 0.01, 0], [0.01, 1, 0, 0])  # a's own off-center phrasing
    alone = PrototypeRouter(None, [gene("a", a, None), gene("b", b, None)])
    assert alone.choose(own).tolist() == [1, 1]  # by the prototypes alone it goes to b
    both = PrototypeRouter(None, [gene("a", a, 0.97), gene("b", b, 0.97)])
    assert both.choose(own).tolist() == [0, 0]
    new = _unit([0.2, 1, 0.3, 0])  # no example's phrasing: the prototypes decide, as before
    assert both.choose(new).tolist() == alone.choose(new).tolist() == [1]
    assert both.choose(_unit([0, 1, 0.78, 0.02])).tolist() == [1]  # b's own prompts stay b's
    # The router scores each gene exactly as the gene's own calibration did.
    x = torch.cat([own, new, general, a, b])
    want = torch.stack([g.scores(x) for g in (gene("a", a, 0.97), gene("b", b, 0.97))], dim=1)
    assert torch.allclose(both.similarities(x), want, atol=1e-6)
    with pytest.raises(UsageError, match="not a cosine"):
        gene("a", a, 1.5)


def test_exemplars_travel_in_the_routing_file_and_are_checked(genes, tmp_path, encoder, general):
    gene = load_prototypes(genes["sort"])  # built with the default exemplars
    assert gene.exemplars is not None and gene.block["exemplars"] == {
        "tensor": "exemplars", "count": len(gene.exemplars), "match": DEFAULT_EXEMPLAR_MATCH}
    assert not card_errors(load_card(genes["sort"]))
    x = encoder.encode(general)
    assert torch.allclose(PrototypeRouter(encoder, [gene]).similarities(x)[:, 0], gene.scores(x), atol=1e-6)
    alone = shutil.copytree(genes["sort"], tmp_path / "alone")
    build_routing(alone, encoder, general, exemplar_match=None)
    assert "exemplars" not in load_card(alone)["routing"] and load_prototypes(alone).exemplars is None
    broken = shutil.copytree(genes["sort"], tmp_path / "broken")
    card = json.loads((broken / "gene.json").read_text())
    card["routing"]["exemplars"]["count"] += 1  # the card no longer says what the file holds
    (broken / "gene.json").write_text(json.dumps(card))
    with pytest.raises(CardValidationError, match="exemplars of shape"):
        load_prototypes(broken, card=card)
