"""ONNX import (compressor.onnx_import): chains of Gemm / MatMul+Add layers, and hostile files.

Every model is built here with ``onnx.helper``; nothing is downloaded. Accepted
models are checked weight by weight, and against ``onnx.reference`` running the
same graph; refusals must name the file and the node or tensor at fault.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compressor.errors import EieError, EieFormatError, EieInputError
from compressor.importers import load_layer, load_layers
from compressor.onnx_import import OnnxChain, parse_onnx, read_onnx

onnx = pytest.importorskip("onnx")  # the test extra installs it
from onnx import TensorProto, helper, numpy_helper  # noqa: E402
from onnx.reference import ReferenceEvaluator  # noqa: E402

RNG = np.random.default_rng(42)


def f32(*shape: int) -> np.ndarray:
    return RNG.normal(0, 0.5, shape).astype(np.float32)


def make(nodes: list, inits: dict[str, np.ndarray], x_dims: list | None = None, y_dims: list | None = None,
         *, inputs: list[str] = ("x",), outputs: list[str] = ("y",), opset: int = 17):
    """A model from nodes and named initializer arrays, with float inputs ``x`` and output ``y``."""
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info(name, TensorProto.FLOAT, x_dims) for name in inputs],
        [helper.make_tensor_value_info(name, TensorProto.FLOAT, y_dims) for name in outputs],
        initializer=[numpy_helper.from_array(a, name) for name, a in inits.items()])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def save(tmp_path, model, name: str = "m.onnx"):
    path = tmp_path / name
    path.write_bytes(model.SerializeToString())
    return path


def gemm_mlp(sizes=(12, 8, 6, 3), *, tail: str | None = None, last_relu: bool = False):
    """Gemm (transB=1, PyTorch's export) + Relu layers; returns the model and the (W, b) per layer."""
    nodes, inits, params, cur = [], {}, [], "x"
    for i, (n, m) in enumerate(zip(sizes, sizes[1:], strict=False)):
        w, b = f32(m, n), f32(m)
        inits[f"fc{i}.weight"], inits[f"fc{i}.bias"] = w, b
        params.append((w, b))
        nodes.append(helper.make_node("Gemm", [cur, f"fc{i}.weight", f"fc{i}.bias"], [f"h{i}"], name=f"fc{i}",
                                      transB=1))
        cur = f"h{i}"
        if i < len(sizes) - 2 or last_relu:
            nodes.append(helper.make_node("Relu", [cur], [f"r{i}"], name=f"relu{i}"))
            cur = f"r{i}"
    if tail:
        nodes.append(helper.make_node(tail, [cur], ["t"], name="tail"))
        cur = "t"
    nodes[-1].output[0] = "y"
    return make(nodes, inits, [1, sizes[0]], [1, sizes[-1]]), params


def forward(chain: OnnxChain, x: np.ndarray) -> np.ndarray:
    h = x.reshape(-1).astype(np.float64)
    for (_, w, b), relu in zip(chain.layers, chain.relu, strict=True):
        h = w.astype(np.float64) @ h + (0 if b is None else b)
        h = np.maximum(h, 0) if relu else h
    return h


def assert_matches_reference(model, chain: OnnxChain, x_shape) -> None:
    x = RNG.normal(size=x_shape).astype(np.float32)
    ref = ReferenceEvaluator(model).run(None, {"x": x})[0].reshape(-1)
    np.testing.assert_allclose(forward(chain, x), ref, rtol=1e-5, atol=1e-5)


# ----------------------------------------------------------------------------- accepted models


def test_gemm_relu_mlp_weights_biases_and_order(tmp_path):
    model, params = gemm_mlp()
    chain = read_onnx(save(tmp_path, model))
    assert [name for name, _, _ in chain.layers] == ["fc0", "fc1", "fc2"]
    for (_, w, b), (w0, b0) in zip(chain.layers, params, strict=True):
        assert w.dtype == np.float32 and np.array_equal(w, w0)  # transB=1: stored outputs x inputs
        assert b.dtype == np.float32 and np.array_equal(b, b0)
    assert chain.relu == [True, True, False] and chain.tail is None and chain.notes == []
    assert (chain.input_name, chain.output_name) == ("x", "y")
    assert_matches_reference(model, chain, (1, 12))


def test_matmul_add_is_transposed_and_bias_on_either_side(tmp_path):
    b1, b2 = f32(8, 5), f32(5, 3)  # ONNX MatMul weights are inputs x outputs
    c1, c2 = f32(5), f32(1, 3)
    model = make([helper.make_node("MatMul", ["x", "B1"], ["p1"], name="mm1"),
                  helper.make_node("Add", ["p1", "C1"], ["a1"], name="add1"),
                  helper.make_node("Relu", ["a1"], ["r1"], name="relu1"),
                  helper.make_node("MatMul", ["r1", "B2"], ["p2"], name="mm2"),
                  helper.make_node("Add", ["C2", "p2"], ["y"], name="add2")],
                 {"B1": b1, "C1": c1, "B2": b2, "C2": c2}, [1, 8], [1, 3])
    chain = read_onnx(save(tmp_path, model))
    (n1, w1, bias1), (n2, w2, bias2) = chain.layers
    assert (n1, n2) == ("mm1", "mm2")
    assert np.array_equal(w1, b1.T) and np.array_equal(bias1, c1)
    assert np.array_equal(w2, b2.T) and np.array_equal(bias2, c2.reshape(3))
    assert chain.relu == [True, False]
    assert_matches_reference(model, chain, (1, 8))


def test_matmul_without_add_has_no_bias(tmp_path):
    b = f32(4, 2)
    chain = read_onnx(save(tmp_path, make([helper.make_node("MatMul", ["x", "B"], ["y"])], {"B": b})))
    assert chain.layers[0][0] == "B" and chain.layers[0][2] is None  # unnamed node: named by its weight


def test_gemm_trans_b_0_alpha_beta_and_scalar_c(tmp_path):
    b1, c1 = f32(6, 4), f32(4)  # transB=0: B is inputs x outputs
    b2 = f32(3, 4)
    model = make([helper.make_node("Gemm", ["x", "B1", "C1"], ["g1"], name="g1", alpha=0.5, beta=-2.0),
                  helper.make_node("Relu", ["g1"], ["r1"]),
                  helper.make_node("Gemm", ["r1", "B2", "C2"], ["y"], name="g2", transB=1, alpha=3.0)],
                 {"B1": b1, "C1": c1, "B2": b2, "C2": np.array([0.25], np.float32)}, [2, 6], [2, 3])
    chain = read_onnx(save(tmp_path, model))
    (_, w1, bias1), (_, w2, bias2) = chain.layers
    np.testing.assert_allclose(w1, 0.5 * b1.T, rtol=1e-7)
    np.testing.assert_allclose(bias1, -2.0 * c1, rtol=1e-7)
    np.testing.assert_allclose(w2, 3.0 * b2, rtol=1e-7)
    np.testing.assert_allclose(bias2, np.full(3, 0.25))  # C broadcast from a scalar
    assert any("alpha=0.5" in n and "'B1'" in n for n in chain.notes)
    assert_matches_reference(model, chain, (1, 6))


def test_gemm_trans_a_on_the_graph_input(tmp_path):
    b = f32(5, 2)
    model = make([helper.make_node("Gemm", ["x", "B"], ["y"], name="g", transA=1)], {"B": b}, [5, 1], [1, 2])
    chain = read_onnx(save(tmp_path, model))
    assert np.array_equal(chain.layers[0][1], b.T) and any("transA=1" in n for n in chain.notes)
    assert_matches_reference(model, chain, (5, 1))


def test_weights_from_constant_nodes_and_16_and_64_bit_floats(tmp_path):
    w16, w64 = f32(4, 6).astype(np.float16), RNG.normal(size=(2, 4))
    nodes = [helper.make_node("Constant", [], ["W1"], value=numpy_helper.from_array(w16, "w16")),
             helper.make_node("Constant", [], ["C1"], value_floats=[0.5, 1.5, -1.0, 2.0]),
             helper.make_node("Gemm", ["x", "W1", "C1"], ["h"], name="a", transB=1),
             helper.make_node("Relu", ["h"], ["r"]),
             helper.make_node("Gemm", ["r", "W2"], ["y"], name="b", transB=1)]
    model = make(nodes, {"W2": w64})
    chain = read_onnx(save(tmp_path, model))
    (_, w1, b1), (_, w2, b2) = chain.layers
    assert w1.dtype == w2.dtype == np.float32
    assert np.array_equal(w1, w16.astype(np.float32)) and np.array_equal(b1, [0.5, 1.5, -1.0, 2.0])
    assert np.array_equal(w2, w64.astype(np.float32)) and b2 is None
    # float16 also as 16-bit patterns in int32_data (make_tensor's encoding), and bfloat16
    t = helper.make_tensor("W", TensorProto.FLOAT16, [2, 3], w16[:2, :3].reshape(-1).tolist())
    t_bf = helper.make_tensor("W", TensorProto.BFLOAT16, [2, 3], [1.0, -2.0, 0.5, 3.0, 0.0, -0.25])
    for tensor, want in ((t, w16[:2, :3].astype(np.float32)),
                         (t_bf, np.array([[1.0, -2.0, 0.5], [3.0, 0.0, -0.25]], np.float32))):
        g = helper.make_graph([helper.make_node("Gemm", ["x", "W"], ["y"], transB=1)], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, None)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [tensor])
        got = parse_onnx(helper.make_model(g).SerializeToString(), "t.onnx").layers[0][1]
        assert np.array_equal(got, want)


def test_leading_flatten_dropout_identity_and_trailing_softmax_accepted_with_notes(tmp_path):
    w, b = f32(3, 12), f32(3)
    model = make([helper.make_node("Flatten", ["x"], ["f"], name="flat"),
                  helper.make_node("Dropout", ["f"], ["d", "mask"], name="drop"),
                  helper.make_node("Identity", ["d"], ["i"], name="id"),
                  helper.make_node("Gemm", ["i", "W", "B"], ["g"], name="fc", transB=1),
                  helper.make_node("Softmax", ["g"], ["y"], name="sm")],
                 {"W": w, "B": b}, [1, 3, 4], [1, 3])
    chain = read_onnx(save(tmp_path, model))
    assert chain.tail == "Softmax" and chain.relu == [False]
    notes = " | ".join(chain.notes)
    for part in ("Flatten node 'flat'", "of 12 features", "Dropout node 'drop'", "Identity node 'id'",
                 "Softmax node 'sm'", "top-1"):
        assert part in notes
    x = RNG.normal(size=(1, 3, 4)).astype(np.float32)
    ref = ReferenceEvaluator(model).run(None, {"x": x})[0].reshape(-1)
    assert np.argmax(forward(chain, x)) == np.argmax(ref)
    log_model, _ = gemm_mlp((5, 4, 2), tail="LogSoftmax")
    assert read_onnx(save(tmp_path, log_model, "log.onnx")).tail == "LogSoftmax"


def test_relu_after_the_last_layer_is_accepted_with_a_note(tmp_path):
    model, _ = gemm_mlp((6, 4, 3), last_relu=True)
    chain = read_onnx(save(tmp_path, model))
    assert chain.relu == [True, True]
    assert any("last layer" in n and "max(0, y)" in n for n in chain.notes)


def test_reshape_leading_is_checked_against_the_first_layer(tmp_path):
    w = f32(2, 6)
    shape = np.array([1, 6], np.int64)
    model = make([helper.make_node("Reshape", ["x", "S"], ["r"], name="rs"),
                  helper.make_node("Gemm", ["r", "W"], ["y"], name="fc", transB=1)], {"S": shape, "W": w},
                 [1, 2, 3])
    assert read_onnx(save(tmp_path, model)).layers[0][1].shape == (2, 6)
    bad = make([helper.make_node("Reshape", ["x", "S"], ["r"], name="rs"),
                helper.make_node("Gemm", ["r", "W"], ["y"], name="fc", transB=1)],
               {"S": np.array([1, 7], np.int64), "W": w})
    with pytest.raises(EieInputError, match=r"Gemm node 'fc' takes 6 inputs but the graph input 'x' gives 7"):
        read_onnx(save(tmp_path, bad, "bad.onnx"))


def test_load_layers_and_load_layer_read_onnx(tmp_path):
    model, params = gemm_mlp((6, 4, 3), tail="Softmax")
    path = save(tmp_path, model)
    notes: list[str] = []
    layers = load_layers(path, notes=notes)
    assert [n for n, _, _ in layers] == ["fc0", "fc1"] and layers[0][1].dtype == np.float64
    assert np.array_equal(layers[1][1], params[1][0]) and any("Softmax" in n for n in notes)
    with pytest.raises(EieInputError, match="chain of 2 layers"):
        load_layer(path)
    with pytest.raises(EieInputError, match="taken from its graph"):
        load_layers(path, layer="fc0")
    single, (wb,) = gemm_mlp((6, 4))
    w, b = load_layer(save(tmp_path, single, "one.onnx"))
    assert np.array_equal(w, wb[0]) and np.array_equal(b, wb[1])


# ----------------------------------------------------------------------------- refusals


def refused(tmp_path, model, err, pattern: str, name: str = "m.onnx") -> str:
    path = save(tmp_path, model, name)
    with pytest.raises(err, match=pattern) as info:
        read_onnx(path)
    assert str(path) in str(info.value)
    return str(info.value)


def test_conv_is_refused_naming_the_node(tmp_path):
    model = make([helper.make_node("Conv", ["x", "K"], ["c"], name="conv1"),
                  helper.make_node("Flatten", ["c"], ["f"]),
                  helper.make_node("Gemm", ["f", "W"], ["y"], transB=1)],
                 {"K": f32(2, 1, 3, 3), "W": f32(3, 8)})
    refused(tmp_path, model, EieInputError, r"Conv node 'conv1' is not supported: convolution")


def test_branch_is_refused(tmp_path):
    w1, w2, w3 = f32(4, 6), f32(3, 4), f32(3, 4)
    model = make([helper.make_node("Gemm", ["x", "W1"], ["h"], name="fc1", transB=1),
                  helper.make_node("Relu", ["h"], ["r"], name="relu"),
                  helper.make_node("Gemm", ["r", "W2"], ["a"], name="left", transB=1),
                  helper.make_node("Gemm", ["r", "W3"], ["b"], name="right", transB=1),
                  helper.make_node("Add", ["a", "b"], ["y"], name="join")],
                 {"W1": w1, "W2": w2, "W3": w3})
    refused(tmp_path, model, EieInputError,
            r"tensor 'r' feeds 2 nodes \(Gemm node 'left', Gemm node 'right'\): a branch")
    side = make([helper.make_node("Gemm", ["x", "W1"], ["y"], name="fc1", transB=1),
                 helper.make_node("Relu", ["y"], ["z"], name="extra")], {"W1": w1},
                outputs=["y"])
    refused(tmp_path, side, EieInputError, r"graph output 'y' also feeds Relu node 'extra'", "side.onnx")


def test_missing_relu_between_layers_is_refused(tmp_path):
    model = make([helper.make_node("Gemm", ["x", "W1"], ["h"], name="fc1", transB=1),
                  helper.make_node("Gemm", ["h", "W2"], ["y"], name="fc2", transB=1)],
                 {"W1": f32(4, 6), "W2": f32(3, 4)})
    refused(tmp_path, model, EieInputError, r"Gemm node 'fc1' and Gemm node 'fc2' have no Relu between them")


def test_other_refusals_name_the_node_or_tensor(tmp_path):
    w = f32(3, 4)
    two_inputs = make([helper.make_node("Gemm", ["x", "W"], ["y"], transB=1)], {}, inputs=["x", "W"])
    refused(tmp_path, two_inputs, EieInputError, r"2 inputs \('x', 'W'\)")
    computed = make([helper.make_node("Transpose", ["Wt"], ["W"], name="t"),
                     helper.make_node("Gemm", ["x", "W"], ["y"], name="fc", transB=1)], {"Wt": w.T.copy()})
    refused(tmp_path, computed, EieInputError,
            r"Gemm node 'fc': its weight input B 'W' is not a constant .* computed by Transpose node 't'")
    sigmoid = make([helper.make_node("Gemm", ["x", "W"], ["h"], transB=1),
                    helper.make_node("Sigmoid", ["h"], ["y"], name="act")], {"W": w})
    refused(tmp_path, sigmoid, EieInputError, r"Sigmoid node 'act' is not supported: EIE's only non-line")
    relu_first = make([helper.make_node("Relu", ["x"], ["r"], name="r0"),
                       helper.make_node("Gemm", ["r", "W"], ["y"], transB=1)], {"W": w})
    refused(tmp_path, relu_first, EieInputError, r"Relu node 'r0' acts on the graph input")
    chain = make([helper.make_node("Gemm", ["x", "W1"], ["h"], name="fc1", transB=1),
                  helper.make_node("Relu", ["h"], ["r"]),
                  helper.make_node("Gemm", ["r", "W2"], ["y"], name="fc2", transB=1)],
                 {"W1": f32(5, 6), "W2": f32(3, 4)})
    refused(tmp_path, chain, EieInputError,
            r"Gemm node 'fc2' takes 4 inputs but the layer before it, Gemm node 'fc1', has 5 outputs")
    bias = make([helper.make_node("MatMul", ["x", "W"], ["h"], name="mm"),
                 helper.make_node("Add", ["h", "C"], ["y"], name="add")], {"W": w, "C": f32(3)})
    refused(tmp_path, bias, EieInputError,
            r"Add node 'add': bias initializer 'C' has shape \(3,\); the layer has 4 outputs")
    softmax0 = make([helper.make_node("Gemm", ["x", "W"], ["h"], transB=1),
                     helper.make_node("Softmax", ["h"], ["y"], name="sm", axis=0)], {"W": w})
    refused(tmp_path, softmax0, EieInputError, r"Softmax node 'sm' normalises over axis 0")
    for dtype in (np.int32, np.int64, np.bool_):
        ints = make([helper.make_node("Gemm", ["x", "W"], ["y"], name="g", transB=1)],
                    {"W": np.ones((3, 4), dtype)})
        refused(tmp_path, ints, EieInputError, r"initializer 'W', the weight input B of Gemm node 'g', has "
                                               r"data type (int32|int64|bool); it must be float16, bfloat16")
    for mode, ok in ((False, True), (True, False)):
        drop = make([helper.make_node("Dropout", ["x", "", "T"], ["d"], name="drop"),
                     helper.make_node("Gemm", ["d", "W"], ["y"], transB=1)], {"T": np.array(mode), "W": w})
        if ok:
            assert read_onnx(save(tmp_path, drop, "drop.onnx")).layers[0][1].shape == (3, 4)
        else:
            refused(tmp_path, drop, EieInputError, r"Dropout node 'drop' is in training mode", "drop.onnx")
    unknown_attr = make([helper.make_node("Gemm", ["x", "W"], ["y"], name="g", transB=1, foo=1)], {"W": w})
    refused(tmp_path, unknown_attr, EieInputError, r"Gemm node 'g' has attribute 'foo'")


def test_broken_graphs_are_format_errors(tmp_path):
    w = f32(3, 4)
    model = make([helper.make_node("Gemm", ["x", "W"], ["y"], name="ZZZZ", transB=1)], {"W": w})
    data = model.SerializeToString().replace(b"ZZZZ", b"\xff\xfeZZ")  # protobuf hands it out as bytes
    with pytest.raises(EieFormatError, match=r"bad.onnx: a name in node #0 is not valid UTF-8"):
        parse_onnx(data, "bad.onnx")
    dangling = make([helper.make_node("Gemm", ["x", "W", "nowhere"], ["y"], name="g", transB=1)], {"W": w})
    refused(tmp_path, dangling, EieFormatError, r"input 'nowhere' of Gemm node 'g' is not defined")
    twice = make([helper.make_node("Gemm", ["x", "W"], ["y"], name="g", transB=1),
                  helper.make_node("Relu", ["x"], ["y"], name="r")], {"W": w})
    refused(tmp_path, twice, EieFormatError, r"tensor 'y' is defined twice \(by Relu node 'r'\)",
            "twice.onnx")
    dead = make([helper.make_node("Gemm", ["x", "W"], ["y"], name="g", transB=1),
                 helper.make_node("Relu", ["W"], ["unused"], name="dead")], {"W": w})
    refused(tmp_path, dead, EieInputError, r"Relu node 'dead' is not on the chain from input 'x'",
            "dead.onnx")


def test_nan_and_overflowing_weights_are_refused_naming_the_tensor(tmp_path):
    w = f32(3, 4)
    w[1, 2] = np.nan
    model = make([helper.make_node("Gemm", ["x", "fc.weight"], ["y"], transB=1)], {"fc.weight": w})
    refused(tmp_path, model, EieInputError, r"initializer 'fc.weight' contains 1 non-finite value.*\(1, 2\)")
    big = np.full((3, 4), 1e300)  # float64: finite, but not as float32
    model = make([helper.make_node("Gemm", ["x", "W"], ["y"], name="g", transB=1)], {"W": big})
    refused(tmp_path, model, EieInputError, r"initializer 'W' \(Gemm node 'g'\): 12 value\(s\) are too large "
                                            "for float32", "big.onnx")
    scaled = make([helper.make_node("Gemm", ["x", "W"], ["y"], name="g", transB=1, alpha=float("inf"))],
                  {"W": f32(3, 4)})
    refused(tmp_path, scaled, EieInputError, r"Gemm node 'g': attribute alpha=inf is not finite", "inf.onnx")


def test_external_data_is_refused_without_opening_it(tmp_path):
    model = make([helper.make_node("Gemm", ["x", "W"], ["y"], transB=1)], {"W": f32(3, 4)})
    t = model.graph.initializer[0]
    t.ClearField("raw_data")
    t.data_location = TensorProto.EXTERNAL
    for key, value in (("location", "/dev/zero"), ("offset", "0"), ("length", "48")):
        entry = t.external_data.add()
        entry.key, entry.value = key, value
    refused(tmp_path, model, EieInputError, r"initializer 'W' is stored in an external data file")


def test_corrupt_truncated_and_empty_files(tmp_path):
    data = gemm_mlp()[0].SerializeToString()
    for name, blob in (("trunc.onnx", data[: len(data) // 2]), ("junk.onnx", b"\xff" * 40),
                       ("empty.onnx", b"")):
        path = tmp_path / name
        path.write_bytes(blob)
        with pytest.raises(EieFormatError, match=f"{path}: not (a readable )?(an )?ONNX model"):
            read_onnx(path)
    with pytest.raises(EieInputError, match="no such file"):
        read_onnx(tmp_path / "missing.onnx")


def test_sizes_are_bounded_before_any_allocation(tmp_path):
    # A tensor declaring 10^12 x 10^12 values with 48 bytes of data: refused from its header alone.
    model = make([helper.make_node("Gemm", ["x", "W"], ["y"], transB=1)], {"W": f32(3, 4)})
    model.graph.initializer[0].dims[:] = [10**12, 10**12]
    refused(tmp_path, model, EieFormatError,
            r"initializer 'W' has shape \(1000000000000, 1000000000000\) "
            r"\(1,000,000,000,000,000,000,000,000 values of float\) but holds 48 bytes")
    model.graph.initializer[0].dims[:] = [3, -4]
    refused(tmp_path, model, EieFormatError, r"initializer 'W' has a negative dimension", "neg.onnx")
    path = save(tmp_path, gemm_mlp()[0], "big.onnx")
    with pytest.raises(EieInputError, match=r"big.onnx: .* bytes is more than the 100 bytes"):
        read_onnx(path, max_bytes=100)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(op=st.sampled_from(["flip", "truncate", "flip+truncate"]),
       positions=st.lists(st.integers(0, 10**6), min_size=1, max_size=8), cut=st.floats(0, 1))
def test_mutated_bytes_raise_only_project_errors(op, positions, cut):
    data = bytearray(FUZZ_SEED)
    if "flip" in op:
        for p in positions:
            p %= 8 * len(data)
            data[p >> 3] ^= 1 << (p & 7)
    if "truncate" in op:
        data = data[: int(cut * len(data))]
    try:
        chain = parse_onnx(bytes(data), "fuzz.onnx")
    except EieError as e:
        assert "fuzz.onnx" in str(e)
        return
    for _, w, b in chain.layers:  # what loads is usable
        assert w.dtype == np.float32 and np.isfinite(w).all() and (b is None or b.shape == (w.shape[0],))


FUZZ_SEED = gemm_mlp((6, 5, 4, 3), tail="Softmax")[0].SerializeToString()


def test_fuzz_target_seed_and_cases(tmp_path):
    fuzz_onnx = pytest.importorskip("benchmarks.fuzz_onnx")
    assert fuzz_onnx.check_onnx(fuzz_onnx.seed_onnx(), tmp_path / "seed.onnx") == "ok"
    rng = np.random.default_rng(0)
    verdicts = [fuzz_onnx.check_onnx(fuzz_onnx.random_onnx_case(rng)[1], tmp_path / "case.onnx")
                for _ in range(40)]
    assert set(verdicts) <= {"ok", "error"} and "error" in verdicts
