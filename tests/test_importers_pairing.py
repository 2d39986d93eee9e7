"""load_layers / load_layer: PyTorch names (``X.weight`` with ``X.bias``), layer order, chain checks."""

from __future__ import annotations

import numpy as np
import pytest

from compressor.errors import EieInputError
from compressor.importers import load_layer, load_layers

RNG = np.random.default_rng(3)


def mlp_state(sizes=(7, 6, 5, 4, 3, 3, 3, 3, 3, 3, 3, 2), *,
              last_bias: bool = False) -> dict[str, np.ndarray]:
    """A PyTorch ``nn.Sequential`` state_dict: Linear at 0, 2, 4, ... (ReLU between), indices past 9."""
    state = {}
    for i, (n, m) in enumerate(zip(sizes, sizes[1:], strict=False)):
        state[f"net.{2 * i}.weight"] = RNG.normal(size=(m, n)).astype(np.float32)
        if i < len(sizes) - 2 or last_bias:
            state[f"net.{2 * i}.bias"] = RNG.normal(size=m).astype(np.float32)
    return state


def check_layers(layers, state) -> None:
    prefixes = [k.removesuffix(".weight") for k in state if k.endswith(".weight")]
    assert [name for name, _, _ in layers] == prefixes  # net.10 after net.8: numbers compare as numbers
    for (name, w, b) in layers:
        assert w.dtype == np.float64 and np.array_equal(w, state[f"{name}.weight"])
        if f"{name}.bias" in state:
            assert np.array_equal(b, state[f"{name}.bias"])
        else:
            assert b is None


def test_npz_pytorch_names_pair_weights_with_biases_in_order(tmp_path):
    state = mlp_state()
    np.savez(tmp_path / "m.npz", **state)
    layers = load_layers(tmp_path / "m.npz")
    assert len(layers) == 11 and layers[-1][0] == "net.20"
    check_layers(layers, state)


def test_safetensors_pytorch_names_pair_weights_with_biases_in_order(tmp_path):
    st = pytest.importorskip("safetensors.numpy")
    state = mlp_state(last_bias=True)
    st.save_file(state, str(tmp_path / "m.safetensors"))  # stored sorted by name: net.10 before net.2
    check_layers(load_layers(tmp_path / "m.safetensors"), state)
    st.save_file({"fc1.weight": state["net.0.weight"], "fc1.bias": state["net.0.bias"],
                  "fc2.weight": state["net.2.weight"]}, str(tmp_path / "fc.safetensors"))
    assert [n for n, _, _ in load_layers(tmp_path / "fc.safetensors")] == ["fc1", "fc2"]


def test_a_bias_of_the_wrong_length_is_named(tmp_path):
    state = mlp_state((4, 6, 3))
    state["net.0.bias"] = np.ones(5, np.float32)
    np.savez(tmp_path / "m.npz", **state)
    with pytest.raises(EieInputError, match=r"m.npz\[net.0.bias\] \(the bias paired with net.0.weight\): "
                                            r"bias has shape \(5,\); the weights have 6 outputs"):
        load_layers(tmp_path / "m.npz")


def test_explicit_layers_pair_by_the_same_rule_unless_bias_is_given(tmp_path):
    state = mlp_state((4, 6, 5, 3), last_bias=True)
    np.savez(tmp_path / "m.npz", **state, other=np.ones(5))
    layers = load_layers(tmp_path / "m.npz", layer="net.2.weight,net.4")  # a module name means X.weight
    assert [n for n, _, _ in layers] == ["net.2", "net.4"]
    assert np.array_equal(layers[0][2], state["net.2.bias"])
    assert np.array_equal(layers[1][2], state["net.4.bias"])
    layers = load_layers(tmp_path / "m.npz", layer="net.2.weight,net.4.weight", bias="other,")
    assert np.array_equal(layers[0][2], np.ones(5)) and layers[1][2] is None  # given: no pairing
    with pytest.raises(EieInputError, match="--bias names 1 arrays for 2 layer"):
        load_layers(tmp_path / "m.npz", layer=["net.2.weight", "net.4.weight"], bias=["other"])
    with pytest.raises(EieInputError, match="no array named 'net.6.weight'"):
        load_layers(tmp_path / "m.npz", layer="net.6.weight")


def test_load_layer_pairs_a_pytorch_bias(tmp_path):
    w, b = RNG.normal(size=(3, 4)), RNG.normal(size=3)
    np.savez(tmp_path / "fc.npz", **{"fc.weight": w, "fc.bias": b, "x": np.ones(3)})
    for kwargs in ({}, {"layer": "fc.weight"}, {"layer": "fc"}):
        got_w, got_b = load_layer(tmp_path / "fc.npz", **kwargs)
        assert np.array_equal(got_w, w) and np.array_equal(got_b, b)
    assert np.array_equal(load_layer(tmp_path / "fc.npz", layer="fc.weight", bias="x")[1], np.ones(3))
    np.savez(tmp_path / "sd.npz", weight=w, bias=b)  # a bare nn.Linear's state_dict
    (name, got_w, got_b), = load_layers(tmp_path / "sd.npz")
    assert name == "sd" and np.array_equal(got_b, b)
    np.savez(tmp_path / "two.npz", **mlp_state((4, 3, 2)))
    with pytest.raises(EieInputError, match="holds 2 2-D arrays"):
        load_layer(tmp_path / "two.npz")


def test_ambiguous_order_is_refused_with_the_flag_to_give(tmp_path):
    w1, w2 = RNG.normal(size=(5, 4)), RNG.normal(size=(3, 5))
    np.savez(tmp_path / "ed.npz", **{"encoder.weight": w1, "decoder.weight": w2})
    with pytest.raises(EieInputError, match=r"order of its 2 weight matrices is ambiguous: their saved order "
                                            r"\(encoder.weight, decoder.weight\).*--layer decoder.weight,"
                                            "encoder.weight"):
        load_layers(tmp_path / "ed.npz")
    given = load_layers(tmp_path / "ed.npz", layer="encoder,decoder")
    assert [n for n, _, _ in given] == ["encoder", "decoder"]
    np.savez(tmp_path / "ho.npz", **{"hidden.weight": w1, "out.weight": w2})  # saved order = name order
    assert [n for n, _, _ in load_layers(tmp_path / "ho.npz")] == ["hidden", "out"]
    st = pytest.importorskip("safetensors.numpy")
    st.save_file({"hidden.weight": w1.astype(np.float32), "out.weight": w2.astype(np.float32)},
                 str(tmp_path / "ho.safetensors"))
    with pytest.raises(EieInputError, match=r"ambiguous: .safetensors files do not keep the model's order"):
        load_layers(tmp_path / "ho.safetensors")


def test_non_linear_weights_and_unnamed_matrices(tmp_path):
    np.savez(tmp_path / "cnn.npz", **{"conv.weight": np.ones((4, 1, 3, 3)), "fc.weight": np.ones((2, 4))})
    with pytest.raises(EieInputError, match=r"conv.weight has shape \(4, 1, 3, 3\), not a fully connected"):
        load_layers(tmp_path / "cnn.npz")
    np.savez(tmp_path / "plain.npz", a=np.ones((2, 3)), b=np.ones((3, 2)))
    with pytest.raises(EieInputError, match=r"holds 2 2-D arrays \(a, b\) and none named \*.weight"):
        load_layers(tmp_path / "plain.npz")
    np.savez(tmp_path / "one.npz", fc6=np.ones((2, 3)), fc6_b=np.zeros(2))
    assert load_layers(tmp_path / "one.npz")[0][0] == "fc6"
    notes: list[str] = []
    np.savez(tmp_path / "extra.npz", **mlp_state((4, 3)), step=np.ones(1))
    load_layers(tmp_path / "extra.npz", notes=notes)
    assert notes == [f"{tmp_path / 'extra.npz'}: arrays not part of any layer, ignored: step"]


def test_a_transposed_layer_gets_a_hint(tmp_path):
    state = mlp_state((8, 6, 4, 3))
    state["net.2.weight"] = state["net.2.weight"].T.copy()  # 6 x 4 instead of 4 x 6
    np.savez(tmp_path / "t.npz", **state)
    with pytest.raises(EieInputError, match=r"layer net.2.weight \(6 x 4\) takes 4 inputs but the layer "
                                            r"before it, net.0.weight, has 6 outputs; shapes must chain; "
                                            r"net.2.weight \(6 x 4\) fits the chain transposed"):
        load_layers(tmp_path / "t.npz")
    # a single layer: its bias gives it away
    np.savez(tmp_path / "one.npz", **{"fc.weight": np.ones((4, 6)), "fc.bias": np.ones(6)})
    with pytest.raises(EieInputError, match=r"one value per input: are the weights transposed"):
        load_layers(tmp_path / "one.npz")


def test_npy_and_unsupported_files(tmp_path):
    np.save(tmp_path / "w.npy", np.ones((3, 2)))
    np.save(tmp_path / "b.npy", np.ones(3))
    ((name, w, b),) = load_layers(tmp_path / "w.npy", bias=str(tmp_path / "b.npy"))
    assert name == "w" and w.shape == (3, 2) and b.shape == (3,)
    with pytest.raises(EieInputError, match="unsupported file type .txt"):
        load_layers(tmp_path / "w.txt")
