"""The router: held-out accuracy on the tiny zoo, its artefact (schema, digest, signature), class removal."""

from __future__ import annotations

import json

import pytest
import torch

from genehub import zoo
from genehub.errors import CardValidationError, UntrustedSignerError, VerificationError
from genehub.hosts import load_host
from genehub.gene import Gene
from genehub.routing import Router, host_features, sign_router, verify_router


def heldout_rows(z, genes):
    """Prompts written with templates that neither the genes nor the router ever saw, labelled by class."""
    rows = []
    for skill, path in genes.items():
        name = Gene.load(path).name
        rows += [{"prompt": r["prompt"], "label": name} for r in z.test_sets((skill,))[skill] if r["heldout"]]
    rows += [{"prompt": r["prompt"], "label": "none"}
             for r in zoo.general_dataset(n=200, split="test") if r["heldout"]]
    return rows


@pytest.fixture(scope="module")
def host(tiny_zoo):
    return load_host(tiny_zoo.host)


@pytest.fixture(scope="module")
def router(tiny_zoo, zoo_genes, host):
    model, tok = host
    return Router.train(tiny_zoo.host, list(zoo_genes.values()), model=model, tokenizer=tok,
                        none_prompts=zoo.none_prompts, eval_rows=heldout_rows(tiny_zoo, zoo_genes))


def test_router_reaches_high_accuracy_on_heldout_templates(router, tiny_zoo, zoo_genes, host):
    rows = heldout_rows(tiny_zoo, zoo_genes)
    assert {r["label"] for r in rows} == {"sort-gene", "upper-gene", "none"}
    assert not any(r["prompt"] in {e["prompt"] for e in Gene.load(zoo_genes["sort"]).examples()} for r in rows)
    # Measured 0.970 on these 305 prompts with the default "none" class (0.964 with 64 per skill); chance is 1/3.
    assert router.accuracy["heldout"] >= 0.9
    assert router.evaluate(*host, rows) == router.accuracy["heldout"]
    assert router.accuracy["validation"] >= 0.95
    assert router.training["seconds"] < 30  # retraining the head is seconds, the host is untouched


def test_zoo_none_class_is_every_host_skill_no_gene_covers(router):
    from genehub.zoo import GENERAL_SKILLS, HOST_SKILLS, none_rows

    rows = none_rows(["sort", "upper"], per_skill=8)
    assert {r["skill"] for r in rows} == set(HOST_SKILLS) - {"sort", "upper"}
    assert all(r["answer"] for r in rows) and not any(r["heldout"] for r in rows)
    assert {r["skill"] for r in none_rows(HOST_SKILLS, per_skill=2)} == set(GENERAL_SKILLS)
    # The router fixture was given the zoo's none prompts: its "none" class holds them all.
    assert router.training["num_examples"]["none"] == 256 * (len(HOST_SKILLS) - 2)


def test_a_router_without_none_prompts_is_refused(tiny_zoo, zoo_genes, host):
    from genehub.errors import UsageError

    with pytest.raises(UsageError, match="none_prompts"):
        Router.train(tiny_zoo.host, list(zoo_genes.values()), model=host[0], tokenizer=host[1])
    given = Router.train(tiny_zoo.host, [zoo_genes["sort"]], model=host[0], tokenizer=host[1],
                         none_prompts=["copy abc:", "L:hello="], steps=5)
    assert given.training["num_examples"]["none"] == 2


def test_features_do_not_depend_on_batch_padding(host):
    model, tok = host
    alone = host_features(model, tok, ["S:ab="], layer=2)
    padded = host_features(model, tok, ["S:ab=", "a much longer prompt to pad against:"], layer=2)[:1]
    torch.testing.assert_close(alone, padded, rtol=1e-4, atol=1e-5)


def test_save_load_roundtrip_gives_same_decisions(router, host, tmp_path):
    path = router.save(tmp_path / "r")
    config = json.loads((path / "router.json").read_text())
    assert config["classes"] == ["sort-gene", "upper-gene", "none"]
    assert config["training"]["data_digest"].startswith("sha256:")
    assert all(g["revision"].startswith("sha256:") for g in config["genes"])
    loaded = Router.load(path)
    prompts = ["sort abc:", "U:qq=", "copy xyz:"]
    assert [d.gene for d in loaded.route(*host, prompts)] == [d.gene for d in router.route(*host, prompts)]
    a = loaded.route(*host, prompts)[0].probabilities
    b = router.route(*host, prompts)[0].probabilities
    assert a == pytest.approx(b, abs=1e-6)


@pytest.mark.parametrize("edit,match", [
    (lambda c: c.update(threshold=1.5), r"\$\.threshold"),
    (lambda c: c.update(classes=["upper-gene", "sort-gene", "none"]), r"\$\.classes"),
    (lambda c: c["genes"][0].update(revision="v1"), r"\$\.genes\[0\]\.revision"),
    (lambda c: c.pop("host"), "host"),
])
def test_invalid_config_is_refused(router, tmp_path, edit, match):
    path = router.save(tmp_path / "r")
    config = json.loads((path / "router.json").read_text())
    edit(config)
    (path / "router.json").write_text(json.dumps(config))
    with pytest.raises(CardValidationError, match=match):
        Router.load(path)


def test_tampered_weights_are_refused(router, tmp_path):
    path = router.save(tmp_path / "r")
    data = bytearray((path / "router.safetensors").read_bytes())
    data[-1] ^= 0xFF
    (path / "router.safetensors").write_bytes(bytes(data))
    with pytest.raises(VerificationError, match="differs from the digest"):
        Router.load(path)


def test_signed_router_verifies_and_detects_changes(router, tmp_path):
    from genehub.gene import TrustStore, new_key

    path = router.save(tmp_path / "r")
    key = new_key("me")
    sign_router(path, key="me")
    with pytest.raises(UntrustedSignerError):
        verify_router(path)
    TrustStore().add("me", key.public)
    signer, loaded = verify_router(path)
    assert signer == "me" and loaded.classes == router.classes
    config = json.loads((path / "router.json").read_text())
    config["threshold"] = 0.1
    (path / "router.json").write_text(json.dumps(config))
    with pytest.raises(VerificationError, match="does not match its signature"):
        verify_router(path)


def test_without_drops_a_class_and_renormalises(router, host):
    feats = host_features(*host, ["sort abc:", "U:qq="], layer=router.layer, pooling=router.pooling)
    full = router.probabilities(feats)
    less = router.without("sort-gene")
    assert less.classes == ["upper-gene", "none"]
    torch.testing.assert_close(less.probabilities(feats), full[:, 1:] / full[:, 1:].sum(-1, keepdim=True))
