"""load_named_layers: transformer layers selected by glob patterns over Hugging Face module names."""

from __future__ import annotations

import numpy as np
import pytest

from compressor.errors import EieFormatError, EieInputError
from compressor.importers import load_layers, load_named_layers

st = pytest.importorskip("safetensors.numpy")
RNG = np.random.default_rng(21)
H, F = 8, 12  # hidden and FFN sizes of the toy models


def bert_state(layers: int = 12) -> dict[str, np.ndarray]:
    """A BERT encoder's tensors (with LayerNorms, embeddings and an int64 position_ids buffer)."""
    s = {"embeddings.word_embeddings.weight": RNG.normal(size=(30, H)).astype(np.float32),
         "embeddings.LayerNorm.weight": np.ones(H, np.float32),
         "embeddings.position_ids": np.arange(16, dtype=np.int64)[None]}
    for i in range(layers):
        pre = f"encoder.layer.{i}"
        for mod, (m, n) in {"attention.self.query": (H, H), "attention.self.key": (H, H),
                            "attention.self.value": (H, H), "attention.output.dense": (H, H),
                            "intermediate.dense": (F, H), "output.dense": (H, F)}.items():
            s[f"{pre}.{mod}.weight"] = RNG.normal(size=(m, n)).astype(np.float32)
            s[f"{pre}.{mod}.bias"] = RNG.normal(size=m).astype(np.float32)
        s[f"{pre}.attention.output.LayerNorm.weight"] = np.ones(H, np.float32)
        s[f"{pre}.attention.output.LayerNorm.bias"] = np.zeros(H, np.float32)
    return s


def llama_state(layers: int = 11) -> dict[str, np.ndarray]:
    """A LLaMA decoder's tensors: projections without biases, RMSNorm scales."""
    s = {"model.embed_tokens.weight": RNG.normal(size=(30, H)).astype(np.float32),
         "lm_head.weight": RNG.normal(size=(30, H)).astype(np.float32),
         "model.norm.weight": np.ones(H, np.float32)}
    for i in range(layers):
        pre = f"model.layers.{i}"
        for mod, (m, n) in {"self_attn.q_proj": (H, H), "self_attn.k_proj": (4, H),
                            "self_attn.v_proj": (4, H), "self_attn.o_proj": (H, H), "mlp.gate_proj": (F, H),
                            "mlp.up_proj": (F, H), "mlp.down_proj": (H, F)}.items():
            s[f"{pre}.{mod}.weight"] = RNG.normal(size=(m, n)).astype(np.float32)
        s[f"{pre}.input_layernorm.weight"] = np.ones(H, np.float32)
    return s


@pytest.fixture(params=[".safetensors", ".npz"])
def save(request, tmp_path):
    """Write a state dict as the parametrised file type; return its path."""
    def write(state: dict[str, np.ndarray], name: str = "model"):
        path = tmp_path / f"{name}{request.param}"
        if request.param == ".npz":
            np.savez(path, **state)
        else:
            st.save_file(state, str(path))
        return path
    return write


def test_bert_intermediate_layers_pair_weights_with_biases_in_natural_order(save):
    state = bert_state()
    path = save(state)
    notes: list[str] = []
    layers = load_named_layers(path, ["encoder.layer.*.intermediate.dense"], notes=notes)
    assert [name for name, _, _ in layers] == [f"encoder.layer.{i}.intermediate.dense" for i in range(12)]
    for name, w, b in layers:  # layer 10 after layer 9: numbers compare as numbers
        assert w.dtype == np.float64 and w.shape == (F, H)
        assert np.array_equal(w, state[f"{name}.weight"]) and np.array_equal(b, state[f"{name}.bias"])
    assert "12 layer(s) matched encoder.layer.*.intermediate.dense" in notes[0]


def test_several_patterns_no_chain_check_each_layer_once(save):
    path = save(bert_state(3))
    pats = ("encoder.layer.*.attention.self.*, encoder.layer.*.output.dense, "
            "encoder.layer.1.attention.self.query")
    layers = load_named_layers(path, pats)
    names = [n for n, _, _ in layers]
    assert len(names) == len(set(names)) == 3 * 3 + 3 * 2  # q, k, v; attention.output.dense and output.dense
    assert names[:5] == ["encoder.layer.0.attention.output.dense", "encoder.layer.0.attention.self.key",
                         "encoder.layer.0.attention.self.query", "encoder.layer.0.attention.self.value",
                         "encoder.layer.0.output.dense"]
    # 8 x 12 then 12 x 8 shapes do not chain, and that is fine here
    assert {w.shape for _, w, _ in layers} == {(H, H), (H, F)}


def test_llama_projections_have_no_bias_and_dtype_is_kept_as_asked(save):
    state = llama_state()
    path = save(state)
    layers = load_named_layers(path, ["model.layers.*.mlp.up_proj", "model.layers.*.self_attn.q_proj.weight"],
                               dtype=np.float32)
    assert [n for n, _, _ in layers][:3] == ["model.layers.0.mlp.up_proj", "model.layers.0.self_attn.q_proj",
                                             "model.layers.1.mlp.up_proj"]
    assert [n for n, _, _ in layers][-1] == "model.layers.10.self_attn.q_proj"
    assert all(b is None and w.dtype == np.float32 for _, w, b in layers)
    assert np.array_equal(layers[0][1], state["model.layers.0.mlp.up_proj.weight"])


def test_a_pattern_matching_nothing_names_existing_and_closest_names(save):
    path = save(llama_state(2))
    with pytest.raises(EieInputError) as e:
        load_named_layers(path, ["model.layers.*.mlp.up_proj", "model.layers.*.mlp.upproj"])
    msg = str(e.value)
    assert str(path) in msg and "'model.layers.*.mlp.upproj'" in msg
    assert "e.g. lm_head, model.embed_tokens, model.layers.0.input_layernorm" in msg
    assert "the closest name is 'model.layers.0.mlp.up_proj'" in msg


def test_a_pattern_naming_a_tensor_that_is_no_module_weight_says_so(save):
    path = save(bert_state(1))
    with pytest.raises(EieInputError, match=r"it matches 'embeddings.position_ids', which is not a module's "
                                            r"weight"):
        load_named_layers(path, "embeddings.position_ids")


def test_a_one_d_weight_is_refused(save):
    path = save(bert_state(2))
    with pytest.raises(EieInputError, match=r"the pattern 'encoder.layer.\*.attention.output.\*' matched "
                                            r"encoder.layer.0.attention.output.LayerNorm.weight, a 1-D "
                                            r"tensor of shape \(8,\)"):
        load_named_layers(path, "encoder.layer.*.attention.output.*")


def test_a_three_d_weight_is_refused_with_its_shape(save):
    state = llama_state(1)
    state["model.layers.0.mlp.experts.weight"] = np.zeros((4, F, H), np.float32)
    path = save(state)
    with pytest.raises(EieInputError, match=r"matched model.layers.0.mlp.experts.weight, a 3-D tensor of "
                                            r"shape \(4, 12, 8\)"):
        load_named_layers(path, "model.layers.*.mlp.*")


def test_a_bias_of_the_wrong_length_is_named(save):
    state = bert_state(1)
    state["encoder.layer.0.output.dense.bias"] = np.zeros(5, np.float32)
    path = save(state)
    with pytest.raises(EieInputError, match=r"\[encoder.layer.0.output.dense.bias\] \(the bias paired with "
                                            r"encoder.layer.0.output.dense.weight\): bias has shape \(5,\)"):
        load_named_layers(path, "encoder.layer.0.output.dense")


def test_non_finite_weights_are_named(save):
    state = llama_state(1)
    state["model.layers.0.mlp.down_proj.weight"][2, 3] = np.inf
    path = save(state)
    with pytest.raises(EieInputError, match=r"\[model.layers.0.mlp.down_proj.weight\]: weights contains 1 "
                                            r"non-finite value.*index \(2, 3\)"):
        load_named_layers(path, "model.layers.0.mlp.*")


def test_unreadable_missing_and_unsupported_files(tmp_path):
    bad = tmp_path / "broken.safetensors"
    bad.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all")
    with pytest.raises(EieFormatError, match=r"broken.safetensors: not a readable .safetensors file"):
        load_named_layers(bad, "x")
    bad_npz = tmp_path / "broken.npz"
    bad_npz.write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(EieFormatError, match=r"broken.npz: not a readable .npz archive"):
        load_named_layers(bad_npz, "x")
    with pytest.raises(EieInputError, match=r"missing.safetensors: no such file"):
        load_named_layers(tmp_path / "missing.safetensors", "x")
    np.save(tmp_path / "w.npy", np.ones((2, 2)))
    with pytest.raises(EieInputError, match=r"w.npy: layers are selected by name pattern in .npz and "
                                            r".safetensors files, not .npy files"):
        load_named_layers(tmp_path / "w.npy", "x")


def test_empty_patterns_are_refused(save):
    path = save(bert_state(1))
    for pats in ("", "a,,b", []):
        with pytest.raises(EieInputError, match="empty layer name pattern"):
            load_named_layers(path, pats)


def test_the_chain_loader_is_unchanged(tmp_path):
    # load_layers still refuses a transformer's non-chaining projections as a model
    st.save_file({f"fc{i}.weight": RNG.normal(size=(4, 6)).astype(np.float32) for i in (1, 2)},
                 str(tmp_path / "m.safetensors"))
    with pytest.raises(EieInputError, match="fc2"):
        load_layers(tmp_path / "m.safetensors")
    assert [n for n, _, _ in load_named_layers(tmp_path / "m.safetensors", "fc*")] == ["fc1", "fc2"]
