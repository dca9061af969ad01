"""GPT-2 genes (LoRA on Conv1D layers) compose: they fit their host, and the fused engine runs them
exactly as PEFT's mixed batches do (GPT-2 stores those weights transposed; PEFT's ``fan_in_fan_out``)."""

from __future__ import annotations

import pytest
import torch

from genehub.errors import IncompatibleError
from genehub.routing import compose

PROMPTS = ["last of owl:", "hello there.", "fig ends with ->", "good morning!", "final letter of zip:"]


@pytest.fixture(scope="module")
def gpt2_genes(tmp_path_factory):
    from _byo import random_gene, tiny_model

    root = tmp_path_factory.mktemp("gpt2-genes")
    host = tiny_model("gpt2", root / "host")
    return host, [random_gene(host, root / name, name=f"{name}-gene", seed=seed) for name, seed in (("a", 1), ("b", 2))]


@pytest.fixture(scope="module")
def engines(gpt2_genes):
    host, genes = gpt2_genes
    return {engine: compose(host, genes, engine=engine, none_prompts=["hello there.", "good morning!", "hi."] * 4)
            for engine in ("fused", "peft")}


def test_the_fused_engine_runs_gpt2_genes(engines):
    from peft.tuners.lora import Linear

    comp = engines["fused"]
    assert comp.active_engine == "fused"
    layers = [m for m in comp.model.modules() if isinstance(m, Linear)]
    assert layers and all(type(m.base_layer).__name__ == "Conv1D" and m.fan_in_fan_out for m in layers)


@pytest.mark.parametrize("mode", ["top1", "mixed"])
def test_fused_equals_peft_on_a_gpt2_host(engines, mode):
    genes = ["a-gene", None, "b-gene", "a-gene", None] if mode == "mixed" else ["b-gene"] * len(PROMPTS)
    fused = engines["fused"].logits(PROMPTS, genes=genes)
    peft = engines["peft"].logits(PROMPTS, genes=genes)
    mask = engines["fused"]._encode(PROMPTS)["attention_mask"].bool()
    for i in range(len(PROMPTS)):
        torch.testing.assert_close(fused[i][mask[i]], peft[i][mask[i]], rtol=1e-4, atol=1e-5)
    # The genes change the host, so the equality says something.
    bare = engines["peft"].logits(PROMPTS, genes=[None] * len(PROMPTS))
    assert (fused[0][mask[0]] - bare[0][mask[0]]).abs().max() > 1e-2
    texts = {e: [g.text for g in c.generate(PROMPTS, genes=genes, max_new_tokens=6)] for e, c in engines.items()}
    assert texts["fused"] == texts["peft"]


def test_gpt2_genes_fit_their_host_and_a_gene_of_another_width_is_named(gpt2_genes, tmp_path):
    from _byo import random_gene, tiny_model

    from genehub.gene import Gene
    from genehub.hosts import load_host
    from genehub.routing.genes import shape_problems

    host, genes = gpt2_genes
    model, _ = load_host(host)
    assert shape_problems(Gene.load(genes[0]), model) == []  # Conv1D modules are modules the host has
    wide = tiny_model("gpt2", tmp_path / "wide", hidden=32)
    problems = shape_problems(Gene.load(random_gene(wide, tmp_path / "w", name="w-gene", seed=3)), model)
    assert problems and "transformer.h.0.attn.c_attn: the gene expects input size 32 but the host has 64" in problems
    with pytest.raises(IncompatibleError, match="hidden_size"):
        compose(host, [tmp_path / "w"], none_prompts=["hi."] * 4)
