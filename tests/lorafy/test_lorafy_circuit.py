"""Circuit location: a donor fine-tuned only at known layers is found at exactly those layers."""

from __future__ import annotations

import pytest

from genehub.errors import ExtractionError


@pytest.fixture(scope="session")
def layer1_donor(tiny_zoo, tmp_path_factory):
    """The tiny host fine-tuned on sort with every layer but layer 1 frozen (a few seconds)."""
    from genehub import zoo

    return zoo.train_donor(tiny_zoo.host, "sort", tmp_path_factory.mktemp("donor") / "layer1-sort",
                           steps=120, layers=(1,))


@pytest.fixture(scope="session")
def layer1_models(tiny_zoo, layer1_donor):
    from genehub.hosts import load_host

    host, tok = load_host(tiny_zoo.host)
    donor, _ = load_host(layer1_donor)
    return host, donor, tok


def _rows(n=48):
    from genehub.zoo import skill_data

    return skill_data("sort").rows("validation", n)


def test_finds_the_only_fine_tuned_layer(layer1_models):
    from genehub.lorafy import locate_circuit

    host, donor, tok = layer1_models
    circuit = locate_circuit(donor, host, tok, _rows(), target_share=0.8)
    assert circuit.layers == [1]
    assert {c.layer for c in circuit.components[:2]} == {1}
    # Layer 0 is bit-identical in donor and host, so patching it changes nothing.
    for c in circuit.components:
        if c.layer == 0:
            assert abs(c.score) < 1e-4
    assert circuit.restored_share >= 0.8


@pytest.mark.parametrize("share", [0.3, 0.99])
def test_target_share_controls_size(layer1_models, share):
    from genehub.lorafy import locate_circuit

    host, donor, tok = layer1_models
    circuit = locate_circuit(donor, host, tok, _rows(), target_share=share)
    assert circuit.restored_share >= share
    joint_needed = circuit.components[0].score < share
    assert len(circuit.selected) == (2 if joint_needed else 1)
    if joint_needed:  # both blocks of layer 1 are the donor's whole change: patching them restores it all
        assert circuit.restored_share == pytest.approx(1.0, abs=1e-3)


def test_card_view_records_every_component(layer1_models):
    from genehub.lorafy import locate_circuit

    host, donor, tok = layer1_models
    card = locate_circuit(donor, host, tok, _rows(16)).to_card(["q_proj", "down_proj"])
    assert sorted((c["layer"], c["kind"]) for c in card["components"]) == [(0, "attn"), (0, "mlp"), (1, "attn"), (1, "mlp")]
    assert card["modules"] == ["down_proj", "q_proj"] and card["target_share"] == 0.8


def test_no_advantage_is_refused(layer1_models):
    from genehub.lorafy import locate_circuit

    host, _, tok = layer1_models
    with pytest.raises(ExtractionError, match="no better than the host"):
        locate_circuit(host, host, tok, _rows(8))


def test_attribution_finds_the_same_layer_and_measures_its_share_exactly(layer1_models):
    from genehub.lorafy import locate_circuit

    host, donor, tok = layer1_models
    exact = locate_circuit(donor, host, tok, _rows(), target_share=0.8, method="exact")
    fast = locate_circuit(donor, host, tok, _rows(), target_share=0.8, method="attribution")
    assert fast.method == "attribution-patching" and exact.method == "activation-patching"
    assert fast.layers == exact.layers == [1]
    # Layer 0 is bit-identical in donor and host: its activation difference, hence its estimate, is zero.
    assert all(abs(c.score) < 1e-6 for c in fast.components if c.layer == 0)
    # The selected set's share is a real patch, not an estimate: the same set restores the same share.
    same = [c.key for c in fast.selected] == [c.key for c in exact.selected]
    assert fast.restored_share >= 0.8 and (not same or fast.restored_share == pytest.approx(exact.restored_share))


def test_unknown_circuit_method_is_refused(layer1_models):
    from genehub.lorafy import locate_circuit

    host, donor, tok = layer1_models
    with pytest.raises(ExtractionError, match="Unknown circuit method"):
        locate_circuit(donor, host, tok, _rows(8), method="guess")
