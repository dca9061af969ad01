"""Composition: mixed batches equal each gene alone, hot add/remove, and mismatched genes refused."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from _genes import late_gene
from genehub.errors import IncompatibleError, RouterError, UsageError
from genehub.gene import Gene
from genehub.routing import compose
from genehub.zoo import none_prompts, skill_dataset

PROMPTS = {"sort": ["sort hello:", "S:qwerty="], "upper": ["upper abcde:", "U:zyx="], None: ["copy abc:", "L:hello="]}


@pytest.fixture(scope="module", params=["fused", "peft"])
def comp(tiny_zoo, zoo_genes, request):
    return compose(tiny_zoo.host, [zoo_genes["sort"], zoo_genes["upper"]], engine=request.param,
                   none_prompts=none_prompts)


def _bare_logits(host, prompts):
    from genehub.hosts import load_host

    model, tok = load_host(host)
    tok.padding_side = "left"
    enc = tok(prompts, return_tensors="pt", padding=True)
    pos = (enc["attention_mask"].cumsum(-1) - 1).clamp(min=0)
    with torch.no_grad():
        return model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"], position_ids=pos).logits


def test_mixed_batch_rows_equal_each_gene_alone_and_none_equals_bare_host(comp, tiny_zoo):
    prompts = [p for ps in PROMPTS.values() for p in ps]
    skill_of = [s for s, ps in PROMPTS.items() for _ in ps]
    assign = [None if s is None else f"{s}-gene" for s in skill_of]
    mixed = comp.logits(prompts, genes=assign)
    mask = comp.tokenizer(prompts, return_tensors="pt", padding=True)["attention_mask"].bool()
    bare = _bare_logits(tiny_zoo.host, prompts)
    for gene in ("sort-gene", "upper-gene", None):
        alone = comp.logits(prompts, genes=[gene] * len(prompts)) if gene else bare
        for i, g in enumerate(assign):
            if g == gene:
                torch.testing.assert_close(mixed[i][mask[i]], alone[i][mask[i]], rtol=1e-4, atol=1e-5)
    # The genes do change the host (or the equalities above would prove nothing).
    sort_alone = comp.logits(prompts, genes=["sort-gene"] * len(prompts))
    assert (sort_alone[0][mask[0]] - bare[0][mask[0]]).abs().max() > 1e-2


def test_mixed_generate_equals_each_gene_alone(comp):
    prompts = [p for ps in PROMPTS.values() for p in ps]
    assign = [None if s is None else f"{s}-gene" for s, ps in PROMPTS.items() for _ in ps]
    mixed = [g.text for g in comp.generate(prompts, genes=assign, max_new_tokens=8)]
    for gene in ("sort-gene", "upper-gene", None):
        alone = [g.text for g in comp.generate(prompts, genes=[gene] * len(prompts), max_new_tokens=8)]
        assert [m for m, g in zip(mixed, assign) if g == gene] == [a for a, g in zip(alone, assign) if g == gene]


def test_routed_generation_solves_each_skill(comp):
    rows = {s: list(skill_dataset(s, n_train=1, n_validation=1, n_test=40)["test"]) for s in ("sort", "upper")}
    for skill, test in rows.items():
        out = comp.generate([r["prompt"] for r in test], max_new_tokens=10)
        assert sum(o.gene == f"{skill}-gene" for o in out) / len(out) >= 0.9
        assert sum(o.text == r["answer"] for o, r in zip(out, test)) / len(out) >= 0.5
        assert all(abs(sum(o.decision.probabilities.values()) - 1) < 1e-4 for o in out)


def force_path(monkeypatch, path: str) -> None:
    """Make the fused engine run its multi-token calls on one path: ``slices`` (each gene on its rows),
    ``gathered`` (every gene's rows at once, batched products) or ``masked`` (every row through every gene)."""
    from genehub.routing import fused as fused_module

    # The tiny host's calls are below the size from which grouped rows run as slices.
    monkeypatch.setattr(fused_module, "GROUPED_MIN_SAVED", 0 if path == "slices" else 10**15)
    if path == "masked":
        monkeypatch.setattr(fused_module, "GATHERED_DEVICES", ())


def lower_rank(src, dst, rank: int):
    """A copy of gene ``src`` whose LoRA keeps only its first ``rank`` rank columns (a gene of another rank)."""
    from safetensors.torch import load_file, save_file

    dst = Path(shutil.copytree(src, dst))
    weights = load_file(str(dst / "adapter_model.safetensors"))
    cut = {k: (v[:rank] if "lora_A" in k else v[:, :rank]).contiguous() for k, v in weights.items()}
    save_file(cut, str(dst / "adapter_model.safetensors"))
    config = json.loads((dst / "adapter_config.json").read_text())
    config["r"] = rank
    (dst / "adapter_config.json").write_text(json.dumps(config))
    return dst


PATHS = ["slices", "gathered", "masked"]


@pytest.mark.parametrize("path", PATHS)
def test_fused_engine_equals_peft_mixed_batches(tiny_zoo, zoo_genes, monkeypatch, path, tmp_path):
    force_path(monkeypatch, path)
    rank = json.loads((Path(zoo_genes["upper"]) / "adapter_config.json").read_text())["r"]
    # genes of different ranks: the engine pads each layer's genes to its largest rank
    genes = [zoo_genes["sort"], lower_rank(zoo_genes["upper"], tmp_path / "upper", rank // 2)]
    fused = compose(tiny_zoo.host, genes, engine="fused", none_prompts=none_prompts)
    peft = compose(tiny_zoo.host, genes, fused.router, engine="peft")
    prompts = [p for pair in zip(*PROMPTS.values()) for p in pair]  # interleaved: sort, upper, none, sort, ...
    mask = fused.tokenizer(prompts, return_tensors="pt", padding=True)["attention_mask"].bool()
    a, b = fused.logits(prompts), peft.logits(prompts)  # routed: sort, upper and none rows in one batch
    for i in range(len(prompts)):
        torch.testing.assert_close(a[i][mask[i]], b[i][mask[i]], rtol=1e-4, atol=1e-5)
    assert [g.text for g in fused.generate(prompts, max_new_tokens=8)] == \
        [g.text for g in peft.generate(prompts, max_new_tokens=8)]
    # A weighted row is exactly sum_i w_i B_i A_i: PEFT's "cat" merge of the same weights.
    enc = fused._encode(prompts)
    pos = (enc["attention_mask"].cumsum(-1) - 1).clamp(min=0)
    peft.model.add_weighted_adapter(["sort-gene", "upper-gene"], [0.6, 0.4], adapter_name="mix", combination_type="cat")
    with torch.no_grad():
        merged = peft.model(**enc, position_ids=pos, adapter_names=["mix"] * len(prompts)).logits
        with fused._fused.apply([{"sort-gene": 0.6, "upper-gene": 0.4}] * len(prompts)):
            mixed = fused.model(**enc, position_ids=pos).logits
    torch.testing.assert_close(mixed[mask], merged[mask], rtol=1e-4, atol=1e-5)
    # Rows in any order (masked products, or each gene's rows gathered by index) equal the same rows grouped
    # by gene (one slice per gene).
    rows = [{"sort-gene": 1.0}, {}, {"sort-gene": 0.6, "upper-gene": 0.4}, {"upper-gene": 1.0}, {}, {"sort-gene": 1.0}]
    order = fused._fused.group_order(rows)
    assert order == [0, 5, 1, 4, 2, 3]
    index = torch.tensor(order)
    with torch.no_grad():
        with fused._fused.apply(rows):
            interleaved = fused.model(**enc, position_ids=pos).logits
        with fused._fused.apply([rows[i] for i in order]):
            grouped = fused.model(input_ids=enc["input_ids"][index], attention_mask=enc["attention_mask"][index],
                                  position_ids=pos[index]).logits
    torch.testing.assert_close(grouped[mask[index]], interleaved[index][mask[index]], rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(interleaved[2][mask[2]], merged[2][mask[2]], rtol=1e-4, atol=1e-5)
    # After a fused call the LoRA layers run PEFT's own forward again.
    assert not any("forward" in vars(m) for m in fused.model.modules())
    assert fused.active_engine == "fused" and peft.active_engine == "peft"


def test_auto_engine_falls_back_to_peft_when_fused_cannot_run(tiny_zoo, zoo_genes, caplog):
    comp = compose(tiny_zoo.host, [zoo_genes["sort"], zoo_genes["upper"]], none_prompts=none_prompts)  # engine="auto"
    assert comp.active_engine == "fused"
    prompts = [p for ps in PROMPTS.values() for p in ps]
    want = [g.text for g in comp.generate(prompts, max_new_tokens=8)]
    lora = next(m for m in comp.model.modules() if hasattr(m, "lora_A") and "sort-gene" in m.lora_A)
    lora.forward = lora.forward  # as another library's wrapper would
    with caplog.at_level("WARNING", logger="genehub.routing.compose"):
        comp._refresh_engine()
    assert comp.active_engine == "peft" and "already wrapped" in caplog.text
    assert [g.text for g in comp.generate(prompts, max_new_tokens=8)] == want
    del lora.forward


def test_fused_engine_refuses_what_it_cannot_run(tiny_zoo, zoo_genes, tmp_path):
    from peft import LoraConfig, get_peft_model

    from genehub.hosts import load_host
    from genehub.routing.fused import FusedGenes

    model, _ = load_host(tiny_zoo.host)
    dora = get_peft_model(model, LoraConfig(r=2, target_modules=["q_proj"], use_dora=True), adapter_name="d")
    with pytest.raises(RouterError, match="DoRA") as err:
        FusedGenes(dora, ["d"])
    assert "engine='peft'" in err.value.hint
    # A LoRA layer whose forward another library already wrapped is left alone too.
    model, _ = load_host(tiny_zoo.host)
    lora = get_peft_model(model, LoraConfig(r=2, target_modules=["q_proj"]), adapter_name="g")
    wrapped = next(m for n, m in lora.named_modules() if n.endswith("layers.0.self_attn.q_proj"))
    wrapped.forward = wrapped.forward
    with pytest.raises(RouterError, match="already wrapped"):
        FusedGenes(lora, ["g"])


def test_topk_mode_mixes_genes_by_router_weight(tiny_zoo, zoo_genes):
    comp = compose(tiny_zoo.host, [zoo_genes["sort"], zoo_genes["upper"]], mode="topk", top_k=2, threshold=0.0,
                   engine="peft", none_prompts=none_prompts)
    decisions = comp.route(PROMPTS["sort"] + PROMPTS["upper"])
    names = comp.adapter_names(decisions)
    for d, n in zip(decisions, names):
        assert n in (d.gene, *(v for v in comp._mixes.values()))
        assert abs(sum(d.weights.values()) - 1) < 1e-6 or "none" in d.probabilities
    out = comp.generate(PROMPTS["sort"], max_new_tokens=8)
    assert len(out) == 2
    # The fused engine mixes the same weights itself (no merged adapters) and writes the same text.
    fused = compose(tiny_zoo.host, [zoo_genes["sort"], zoo_genes["upper"]], comp.router, mode="topk", top_k=2)
    prompts = [p for ps in PROMPTS.values() for p in ps]
    assert [g.text for g in fused.generate(prompts, max_new_tokens=8)] == \
        [g.text for g in comp.generate(prompts, max_new_tokens=8)]
    assert not fused._mixes


def test_hot_add_and_remove_gene_without_reloading_the_host(tiny_zoo, zoo_genes):
    comp = compose(tiny_zoo.host, [zoo_genes["sort"]], none_prompts=none_prompts)
    base = comp.model.get_base_model()
    assert {d.gene for d in comp.route(PROMPTS["upper"])} <= {None, "sort-gene"}
    comp.add_gene(zoo_genes["upper"])
    assert comp.model.get_base_model() is base
    assert set(comp.genes) == {"sort-gene", "upper-gene"}
    assert [d.gene for d in comp.route(PROMPTS["upper"])] == ["upper-gene", "upper-gene"]
    assert [g.gene for g in comp.generate(PROMPTS["upper"], max_new_tokens=6)] == ["upper-gene", "upper-gene"]
    comp.remove_gene("sort-gene")
    assert "sort-gene" not in comp.model.peft_config
    assert all(d.gene in (None, "upper-gene") for d in comp.route(PROMPTS["sort"]))
    assert comp.router.classes == ["upper-gene", "none"]
    with pytest.raises(UsageError, match="last gene"):
        comp.remove_gene("upper-gene")
    with pytest.raises(UsageError, match="already plugged in"):
        comp.add_gene(zoo_genes["upper"])


def _edited_gene(src, dst, edit):
    shutil.copytree(src, dst)
    card = json.loads((dst / "gene.json").read_text())
    edit(card)
    (dst / "gene.json").write_text(json.dumps(card))
    return dst


@pytest.mark.parametrize("field,value,match", [
    ("tokenizer_fingerprint", "sha256:" + "0" * 64, "tokenizer_fingerprint"),
    ("hidden_size", 32, "hidden_size: the gene needs 32"),
    ("repo_id", "someone/other-host", "host: the gene was made for 'someone/other-host'"),
])
def test_gene_for_another_host_is_refused_naming_the_mismatch(tiny_zoo, zoo_genes, tmp_path, field, value, match):
    def edit(card):
        card["host"][field] = value
        if field == "repo_id":
            card["host"]["revision"] = "sha256:" + "1" * 64
            card["parents"][0].update(repo_id=value, revision=card["host"]["revision"])
    bad = _edited_gene(zoo_genes["upper"], tmp_path / "bad", edit)
    with pytest.raises(IncompatibleError, match=match) as info:
        compose(tiny_zoo.host, [zoo_genes["sort"], bad])
    assert "upper-gene" in str(info.value)
    comp = compose(tiny_zoo.host, [zoo_genes["sort"]], none_prompts=none_prompts)
    with pytest.raises(IncompatibleError, match=match):
        comp.add_gene(bad)
    assert set(comp.model.peft_config) == {"sort-gene"}


def test_gene_on_the_heterologous_host_is_refused(tiny_zoo, zoo_genes):
    with pytest.raises(IncompatibleError, match="the gene was made for 'genehub-zoo/tiny-host'"):
        compose(tiny_zoo.heterologous, [zoo_genes["sort"]])


def test_gene_with_other_shapes_is_refused(tiny_zoo, zoo_genes, tmp_path):
    from _tiny import tiny_host, tiny_lora

    small = tiny_host(tmp_path / "small")
    bad = shutil.copytree(zoo_genes["sort"], tmp_path / "bad")
    lora = tiny_lora(small)
    lora.save_pretrained(tmp_path / "lora")
    for name in ("adapter_config.json", "adapter_model.safetensors"):
        shutil.copy(tmp_path / "lora" / name, bad / name)
    with pytest.raises(IncompatibleError, match="expects input size 32 but the host has 64"):
        compose(tiny_zoo.host, [bad])


def test_router_for_other_genes_is_refused(tiny_zoo, zoo_genes):
    from genehub.routing import Router

    router = Router.train(tiny_zoo.host, [zoo_genes["sort"]], none_prompts=none_prompts)
    with pytest.raises(RouterError, match=r"does not know: \['upper-gene'\]"):
        compose(tiny_zoo.host, [zoo_genes["sort"], zoo_genes["upper"]], router)
    assert Gene.load(zoo_genes["sort"]).digest == router.genes[0]["revision"]


def test_router_features_through_the_composition_equal_the_bare_host_and_leave_no_hooks(comp, tiny_zoo):
    from genehub.hosts import load_host
    from genehub.routing import host_features

    prompts = [p for ps in PROMPTS.values() for p in ps]
    bare = host_features(*load_host(tiny_zoo.host), prompts, layer=comp.router.layer, pooling="mean+last")
    lora_modules = [m for n, m in comp.model.named_modules() if n.endswith("q_proj") and hasattr(m, "lora_A")]
    hooks_before = sum(len(m._forward_pre_hooks) for m in lora_modules)
    via_comp = host_features(comp.model, comp.tokenizer, prompts, layer=comp.router.layer, pooling="mean+last")
    torch.testing.assert_close(via_comp, bare, rtol=1e-4, atol=1e-5)
    # The capture hook stops the pass early: the per-row "__base__" hooks must still be removed.
    assert sum(len(m._forward_pre_hooks) for m in lora_modules) == hooks_before
    # An active gene is really there (so the bypass is what made the features equal).
    assert comp.model.active_adapters and comp.logits(prompts[:1], genes=["sort-gene"]).abs().sum() > 0
    # The composition's own tokenization is reused by the router and gives the same decisions.
    enc = comp._encode(prompts)
    assert [d.gene for d in comp.route(prompts, encoding=enc)] == [d.gene for d in comp.route(prompts)]


@pytest.fixture(scope="module")
def late_genes(zoo_genes, tmp_path_factory):
    root = tmp_path_factory.mktemp("late-genes")
    return {s: late_gene(zoo_genes[s], root / s, 1) for s in ("sort", "upper")}


@pytest.mark.parametrize("path", PATHS)
def test_routing_inside_the_forward_pass_equals_routing_in_its_own_pass(tiny_zoo, late_genes, monkeypatch, path):
    from genehub.routing import router as router_module
    from genehub.routing.features import feature_module

    force_path(monkeypatch, path)

    genes = [late_genes["sort"], late_genes["upper"]]
    # the genes start at block 1, the router reads block 0's output
    one = compose(tiny_zoo.host, genes, layer=1, none_prompts=none_prompts)
    two = compose(tiny_zoo.host, genes, one.router, route_in_pass=False)
    assert one.routes_in_pass and not two.routes_in_pass
    prompts = [p for pair in zip(*PROMPTS.values()) for p in pair]  # interleaved: rows of one gene not grouped
    want = two.generate(prompts, max_new_tokens=8)
    assert [g.gene for g in want] == [f"{s}-gene" if s else None for _ in range(2) for s in PROMPTS]
    want_logits = two.logits(prompts)
    topk_in_pass, topk_own_pass = (compose(tiny_zoo.host, genes, one.router, mode="topk", route_in_pass=flag)
                                   for flag in (True, False))
    assert topk_in_pass.routes_in_pass and not topk_own_pass.routes_in_pass
    want_topk = topk_own_pass.generate(prompts, max_new_tokens=8)

    def no_second_pass(*args, **kwargs):
        raise AssertionError("routed in a pass of its own")

    monkeypatch.setattr(router_module, "host_features", no_second_pass)
    got = one.generate(prompts, max_new_tokens=8)
    assert [(g.gene, g.text) for g in got] == [(g.gene, g.text) for g in want]
    for a, b in zip(got, want):
        assert a.decision.probabilities == pytest.approx(b.decision.probabilities, abs=1e-5)
    mask = one.tokenizer(prompts, return_tensors="pt", padding=True)["attention_mask"].bool()
    torch.testing.assert_close(one.logits(prompts)[mask], want_logits[mask], rtol=1e-4, atol=1e-5)
    # Nothing is left behind: no capture hook, every LoRA layer back to PEFT's forward.
    assert not feature_module(one.model, 1)._forward_hooks
    assert all("forward" not in vars(layer.module) for layer in one._fused.layers)
    # Oracle genes still bypass the router, in either mode.
    assert [g.gene for g in one.generate(prompts[:2], genes=[None, "upper-gene"], max_new_tokens=2)] == [None, "upper-gene"]
    # Top-k rows (each a weighted mix of genes) too.
    got = topk_in_pass.generate(prompts, max_new_tokens=8)
    assert any(len(g.decision.weights) > 1 for g in got)
    assert [(g.gene, g.text, g.decision.weights) for g in got] == [(g.gene, g.text, g.decision.weights) for g in want_topk]


def test_routing_runs_its_own_pass_when_a_gene_acts_before_the_router_layer(tiny_zoo, zoo_genes, late_genes):
    from genehub.routing.features import first_adapted_block

    comp = compose(tiny_zoo.host, [late_genes["upper"]], layer=1, none_prompts=none_prompts)
    assert comp.routes_in_pass and first_adapted_block(comp.model, [m.module for m in comp._fused.layers]) == 1
    comp.add_gene(zoo_genes["sort"])  # adapts block 0, which the router reads through
    assert not comp.routes_in_pass
    assert [g.gene for g in comp.generate(PROMPTS["sort"], max_new_tokens=4)] == ["sort-gene", "sort-gene"]
    comp.remove_gene("sort-gene")
    assert comp.routes_in_pass
    # reads block 1's output
    assert not compose(tiny_zoo.host, [late_genes["upper"]], layer=2, none_prompts=none_prompts).routes_in_pass
    assert not compose(tiny_zoo.host, [late_genes["upper"]], layer=1, engine="peft", none_prompts=none_prompts).routes_in_pass


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (run where one is)")
def test_engines_agree_on_cuda(tiny_zoo, zoo_genes):
    genes = [zoo_genes["sort"], zoo_genes["upper"]]
    fused = compose(tiny_zoo.host, genes, engine="fused", none_prompts=none_prompts)
    peft = compose(tiny_zoo.host, genes, fused.router, engine="peft")
    prompts = [p for ps in PROMPTS.values() for p in ps]
    on_cpu = [(g.gene, g.text) for g in fused.generate(prompts, max_new_tokens=8)]
    fused.model.to("cuda")
    peft.model.to("cuda")
    mask = fused.tokenizer(prompts, return_tensors="pt", padding=True)["attention_mask"].bool()
    a, b = fused.logits(prompts).cpu(), peft.logits(prompts).cpu()
    assert fused._fused.layers[0].a_cat.is_cuda  # the engine followed the model to the GPU
    for i in range(len(prompts)):
        torch.testing.assert_close(a[i][mask[i]], b[i][mask[i]], rtol=1e-3, atol=1e-4)
    assert [(g.gene, g.text) for g in fused.generate(prompts, max_new_tokens=8)] == on_cpu
    assert [(g.gene, g.text) for g in peft.generate(prompts, max_new_tokens=8)] == on_cpu


@pytest.mark.parametrize("path", PATHS)
def test_on_step_hands_each_rows_tokens_in_the_prompts_order(tiny_zoo, zoo_genes, monkeypatch, path):
    force_path(monkeypatch, path)
    comp = compose(tiny_zoo.host, [zoo_genes["sort"], zoo_genes["upper"]], none_prompts=none_prompts)
    prompts = [p for pair in zip(*PROMPTS.values()) for p in pair]  # interleaved: the grouped path reorders rows
    steps: list[list[int]] = []
    for genes in ([None if s is None else f"{s}-gene" for _ in range(2) for s in PROMPTS], None):  # oracle, routed
        steps.clear()
        out = comp.generate(prompts, genes=genes, max_new_tokens=8, on_step=steps.append)
        eos = comp.tokenizer.eos_token_id
        rows = [[step[i] for step in steps] for i in range(len(prompts))]
        rows = [row[:row.index(eos)] if eos in row else row for row in rows]
        assert [comp.tokenizer.decode(r, skip_special_tokens=True) for r in rows] == [g.text for g in out]
        assert len({g.text for g in out}) > 3 and 1 <= len(steps) <= 8
