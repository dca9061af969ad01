"""Compositions that route by the genes' own prototypes: nothing trained, genes added hot from their card
alone, the host part read inside the composed pass, "none" rows equal to the bare host."""

from __future__ import annotations

import shutil

import pytest
import torch

from _genes import late_gene
from genehub import zoo
from genehub.errors import UsageError, VerificationError
from genehub.hosts import describe_host, encode_prompts, load_host
from genehub.routing import PrototypeRouter, Router, compose
from genehub.routing.encoders import make_encoder
from genehub.routing.prototypes import ROUTING_FILE, build_routing

SKILLS = ("sort", "upper")


@pytest.fixture(scope="module")
def general():
    return [str(r["prompt"]) for r in zoo.general_dataset(n=256, split="train")]


@pytest.fixture(scope="module")
def encoder(tiny_zoo, general):
    model, tokenizer = load_host(tiny_zoo.host)
    # The default recipe: MiniLM and the host's states (layer 1 of the tiny host's 2).
    return make_encoder("default", general=general, model=model, tokenizer=tokenizer, host=describe_host(tiny_zoo.host))


@pytest.fixture(scope="module")
def routed(zoo_genes, tmp_path_factory, encoder, general):
    """Copies of the zoo's genes with routing blocks: on every block, and acting from block 1 on."""
    root = tmp_path_factory.mktemp("routed-genes")
    out = {}
    for skill in SKILLS:
        out[skill] = build_copy(zoo_genes[skill], root / skill, encoder, general)
        out[f"late-{skill}"] = late_gene(out[skill], root / f"late-{skill}", 1)
    return out


def build_copy(src, dst, encoder, general):
    dst = shutil.copytree(src, dst)
    build_routing(dst, encoder, general)
    return dst


def fresh(tiny_zoo, skill, n=24):
    return [r["prompt"] for r in tiny_zoo.test_sets((skill,))[skill] if not r["heldout"]][:n]


@pytest.fixture
def no_training(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a router was trained")

    monkeypatch.setattr(Router, "train", refuse)


def test_genes_with_routing_blocks_compose_behind_their_prototypes_with_nothing_trained(tiny_zoo, routed, no_training):
    comp = compose(tiny_zoo.host, [routed["sort"], routed["upper"]], none_prompts=zoo.none_prompts)
    assert isinstance(comp.router, PrototypeRouter) and comp.router.gene_names == ["sort-gene", "upper-gene"]
    for skill in SKILLS:
        decisions = comp.route(fresh(tiny_zoo, skill))
        assert sum(d.gene == f"{skill}-gene" for d in decisions) / len(decisions) >= 0.5, skill
    none = zoo.none_prompts(list(SKILLS))[:60]
    assert sum(d.gene is None for d in comp.route(none)) / len(none) >= 0.9
    prompts = fresh(tiny_zoo, "sort", 4) + fresh(tiny_zoo, "upper", 4)
    routed_rows = comp.generate(prompts, max_new_tokens=6)
    oracle = comp.generate(prompts, genes=[g.gene for g in routed_rows], max_new_tokens=6)
    assert [g.text for g in routed_rows] == [g.text for g in oracle]


def test_a_gene_added_hot_is_routed_from_its_card_alone(tiny_zoo, routed, no_training):
    comp = compose(tiny_zoo.host, [routed["sort"]], none_prompts=zoo.none_prompts)
    upper = fresh(tiny_zoo, "upper")
    assert all(d.gene != "upper-gene" for d in comp.route(upper))
    name = comp.add_gene(routed["upper"])  # its card and routing.safetensors: no training (no_training)
    assert name == "upper-gene" and comp.router.gene_names == ["sort-gene", "upper-gene"]
    decisions = comp.route(upper)
    assert sum(d.gene == "upper-gene" for d in decisions) / len(decisions) >= 0.5
    hits = [p for p, d in zip(upper, decisions) if d.gene == "upper-gene"][:3]
    assert [g.text for g in comp.generate(hits, max_new_tokens=6)] == \
        [g.text for g in comp.generate(hits, genes=["upper-gene"] * len(hits), max_new_tokens=6)]
    comp.remove_gene("upper-gene")
    assert comp.router.gene_names == ["sort-gene"] and all(d.gene != "upper-gene" for d in comp.route(upper))


def test_a_gene_without_routing_block_is_refused_hot_and_changes_nothing(tiny_zoo, routed, zoo_genes, no_training):
    comp = compose(tiny_zoo.host, [routed["sort"]], none_prompts=zoo.none_prompts)
    with pytest.raises(UsageError, match="no routing block"):
        comp.add_gene(zoo_genes["upper"])
    assert list(comp.genes) == ["sort-gene"] and "upper-gene" not in comp.model.peft_config
    assert comp.router.gene_names == ["sort-gene"]


def test_prototypes_only_when_every_gene_has_them(tiny_zoo, routed, zoo_genes):
    mixed = [routed["sort"], zoo_genes["upper"]]
    assert isinstance(compose(tiny_zoo.host, mixed, none_prompts=zoo.none_prompts).router, Router)
    with pytest.raises(UsageError, match=r"\['upper-gene'\] have no routing block"):
        compose(tiny_zoo.host, mixed, "prototypes")
    head = compose(tiny_zoo.host, [routed["sort"], routed["upper"]], "head", none_prompts=zoo.none_prompts)
    assert isinstance(head.router, Router)


def test_a_tampered_prototype_file_stops_the_composition(tiny_zoo, routed, tmp_path):
    from safetensors.torch import load_file, save_file

    gene = shutil.copytree(routed["upper"], tmp_path / "upper")
    tensors = load_file(str(gene / ROUTING_FILE))
    save_file({**tensors, "prototypes": -tensors["prototypes"]}, str(gene / ROUTING_FILE))
    with pytest.raises(VerificationError, match="differs from the digest"):
        compose(tiny_zoo.host, [routed["sort"], gene], none_prompts=zoo.none_prompts)


def test_host_part_read_inside_the_pass_equals_its_own_pass_and_none_rows_equal_the_bare_host(
        tiny_zoo, routed, monkeypatch):
    from genehub.routing.encoders import host as host_module

    genes = [routed["late-sort"], routed["late-upper"]]
    inside = compose(tiny_zoo.host, genes, none_prompts=zoo.none_prompts)
    own = compose(tiny_zoo.host, genes, inside.router, route_in_pass=False)
    assert inside.routes_in_pass and not own.routes_in_pass
    prompts = [p for pair in zip(fresh(tiny_zoo, "sort", 4), fresh(tiny_zoo, "upper", 4), ["copy abc:", "L:hello=",
                                                                                       "copy xyz:", "L:abc="])
               for p in pair]
    want = own.generate(prompts, max_new_tokens=8)
    want_logits = own.logits(prompts)
    assert {g.gene for g in want} >= {None, "sort-gene", "upper-gene"}

    def no_second_pass(*args, **kwargs):
        raise AssertionError("the host part ran a pass of its own")

    monkeypatch.setattr(host_module, "host_features", no_second_pass)
    got = inside.generate(prompts, max_new_tokens=8)
    assert [(g.gene, g.text) for g in got] == [(g.gene, g.text) for g in want]
    for a, b in zip(got, want):
        assert a.decision.probabilities == pytest.approx(b.decision.probabilities, abs=1e-5)
    got_logits = inside.logits(prompts)
    monkeypatch.undo()

    model, tokenizer = load_host(tiny_zoo.host)
    enc = encode_prompts(tokenizer, prompts)
    mask = enc["attention_mask"].bool()
    torch.testing.assert_close(got_logits[mask], want_logits[mask], rtol=1e-4, atol=1e-5)
    with torch.no_grad():
        bare = model(**enc, position_ids=(enc["attention_mask"].cumsum(-1) - 1).clamp(min=0)).logits
    bare_text = [tokenizer.decode(row[enc["input_ids"].shape[1]:], skip_special_tokens=True) for row in model.generate(
        **enc, max_new_tokens=8, do_sample=False, pad_token_id=tokenizer.pad_token_id)]
    none_rows = [i for i, g in enumerate(got) if g.gene is None]
    for i in none_rows:
        torch.testing.assert_close(got_logits[i][mask[i]], bare[i][mask[i]], rtol=1e-4, atol=1e-5)
        assert got[i].text == bare_text[i]
    gene_row = next(i for i, g in enumerate(got) if g.gene is not None)  # the genes do change the host
    assert (got_logits[gene_row][mask[gene_row]] - bare[gene_row][mask[gene_row]]).abs().max() > 1e-2


def test_chat_turns_route_inside_the_pass_and_raw_prompts_beside_it_in_a_pass_over_them_alone(tmp_path, monkeypatch):
    from _byo import GENERAL, routed_chat_genes, tiny_model
    from genehub.routing.encoders import chat_texts
    from genehub.routing.encoders import host as host_module

    host = tiny_model("llama", tmp_path / "host")
    genes = routed_chat_genes(host, tmp_path / "genes")
    inside = compose(host, genes, none_prompts=GENERAL)
    own = compose(host, genes, inside.router, route_in_pass=False)
    assert inside.routes_in_pass and not own.routes_in_pass
    _, tokenizer = load_host(host)
    turns = chat_texts(tokenizer, ["last of owl:", "first letter of zip:", "last of fig:", "hello there."], "chat")
    prompts = [turns[0], "first letter of cab:", turns[1], "last of egg:", turns[2], turns[3]]  # rows 1 and 3 raw
    want = own.generate(prompts, max_new_tokens=6)
    assert {g.gene for g in want} >= {"last-gene", "first-gene"}

    read, events = [], []
    real = host_module.host_features

    def counted(model, tokenizer, texts, **kwargs):
        read.append(list(texts))
        return real(model, tokenizer, texts, **kwargs)

    monkeypatch.setattr(host_module, "host_features", counted)
    got = inside.generate(prompts, max_new_tokens=6, on_route=lambda d: events.append([x.gene for x in d]),
                          on_step=lambda tokens: events.append("step"))
    assert len(read) == 1 and len(read[0]) == 2  # a pass of the router's own over the two raw prompts only
    assert [(g.gene, g.text) for g in got] == [(g.gene, g.text) for g in want]
    for a, b in zip(got, want):
        assert a.decision.probabilities == pytest.approx(b.decision.probabilities, abs=1e-5)
    assert events[0] == [g.gene for g in got] and events[1:] == ["step"] * 6  # decisions before the first token
    read.clear()
    inside.generate(turns, max_new_tokens=2)
    assert read == []  # every row a chat turn: no pass of its own at all
    events.clear()
    inside.generate(prompts, genes=[None] * 6, max_new_tokens=2, on_route=events.append)
    assert events == []  # genes given: no decision to hand over
