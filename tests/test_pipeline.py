"""The compressor end to end: pipeline rules, size accounting, importers, calibration."""

from __future__ import annotations

import math

import numpy as np
import pytest

from compressor import huffman
from compressor.calibrate import activation_frac_bits
from compressor.errors import EieFormatError, EieInputError
from compressor.importers import load_layer
from compressor.pipeline import CompressOptions, compress_layer, compress_model
from compressor.sizes import layer_size, size_table
from tests.oracle import RefLayer
from tests.oracle import activation_frac_bits as ref_fa


def test_without_pruning_zeros_stay_zero_and_nonzeros_are_kept():
    rng = np.random.default_rng(0)
    w = rng.normal(0, 0.1, (40, 30)) * (rng.random((40, 30)) < 0.3)
    layer = compress_layer(w)
    codes = layer.decode()
    assert np.array_equal(codes != 0, w != 0)


def test_bias_is_never_pruned_but_a_zero_bias_stays_zero():
    rng = np.random.default_rng(1)
    w = rng.normal(0, 0.1, (20, 50))
    b = rng.normal(0, 0.001, 20)  # tiny: magnitude pruning would remove every one
    b[3] = 0.0
    layer = compress_layer(w, b, CompressOptions(density=0.1))
    bias_codes = layer.bias_codes()
    assert (bias_codes[np.arange(20) != 3] != 0).all()
    assert bias_codes[3] == 0
    assert np.count_nonzero(layer.decode()[:, :50]) == 100  # round(0.1 * 1000)


def test_density_threshold_and_balanced_options():
    rng = np.random.default_rng(2)
    w = rng.normal(0, 1, (64, 100))
    dense = compress_layer(w, options=CompressOptions(density=0.2, n_pes=8))
    assert dense.kept == 1280
    thr = compress_layer(w, options=CompressOptions(threshold=1.0))
    assert thr.kept == int(np.sum(np.abs(w) > np.std(w)))
    bal = compress_layer(w, options=CompressOptions(density=0.2, balanced=True, n_pes=8))
    assert len(set(np.count_nonzero(bal.v[bal.pe_offsets[p]:bal.pe_offsets[p + 1]])
                   for p in range(8))) == 1
    with pytest.raises(EieInputError, match="not both"):
        CompressOptions(density=0.2, threshold=1.0)
    with pytest.raises(EieInputError, match="needs a target density"):
        CompressOptions(balanced=True)


@pytest.mark.parametrize("bad,msg", [
    (np.array([[1.0, np.nan]]), "non-finite"),
    (np.array([[1.0, np.inf]]), "non-finite"),
    (np.zeros((0, 3)), "empty"),
    (np.ones(5), "2-D"),
])
def test_bad_weights(bad, msg):
    with pytest.raises(EieInputError, match=msg):
        compress_layer(bad)


@pytest.mark.parametrize("opts,msg", [({"density": 0.0}, r"\(0, 1\]"), ({"density": 1.5}, r"\(0, 1\]"),
                                      ({"wbits": 9}, "2..8"), ({"wbits": 1}, "2..8")])
def test_bad_options(opts, msg):
    with pytest.raises(EieInputError, match=msg):
        compress_layer(np.ones((4, 4)), options=CompressOptions(**opts))


def test_size_table_accounting():
    rng = np.random.default_rng(4)
    w = rng.laplace(0, 0.05, (300, 784))
    b = rng.normal(0, 0.01, 300)
    layer = compress_layer(w, b, CompressOptions(density=0.08, n_pes=1, regs=300, wbits=6, ibits=5))
    s = layer_size(layer)
    kept = round(0.08 * 300 * 784)
    assert s.kept == kept and s.weights == 300 * 784 and s.bias_values == 300
    weight_entries = s.entries
    assert s.weight_bits_pq == pytest.approx(6 * weight_entries / kept)
    assert s.index_bits_pq == pytest.approx(5 * weight_entries / kept)
    # Huffman bits per kept weight come from real Huffman streams of the weight columns.
    v = layer.v[layer.v != 0]
    assert s.weight_bits_huffman <= s.weight_bits_pq
    assert s.weight_bits_huffman >= huffman.entropy_bits(v, 64) * len(v) / kept - 1e-9
    assert s.ratio_huffman == pytest.approx(4 * 300 * 784 / s.bytes_huffman)
    assert s.percent_pq == pytest.approx(100 * s.bytes_pq / (4 * 300 * 784))
    tot = size_table([layer, layer])
    assert tot.loc["total", "weights"] == 2 * 300 * 784
    assert tot.loc["total", "ratio_huffman"] == pytest.approx(s.ratio_huffman)


def test_calibration_matches_reference():
    rng = np.random.default_rng(5)
    layers = [("a", rng.normal(0, 0.3, (30, 20)), rng.normal(0, 0.1, 30)),
              ("b", rng.normal(0, 0.3, (10, 30)), None)]
    calib = np.abs(rng.normal(0, 2, (16, 20)))
    model = compress_model(layers, CompressOptions(n_pes=4), calibration=calib)
    refs = [RefLayer(lay.decode(), lay.codebook, lay.has_bias) for lay in model.layers]
    assert model.fa == ref_fa(refs, calib) == activation_frac_bits(list(model.layers), calib)
    assert model.provenance["calibrated"] is True
    with pytest.raises(EieInputError, match="chain"):
        compress_model([("a", np.ones((3, 4)), None), ("b", np.ones((2, 5)), None)])


def test_importers(tmp_path):
    rng = np.random.default_rng(6)
    w = rng.normal(0, 1, (8, 5)).astype(np.float32)
    b = rng.normal(0, 1, 8)
    np.save(tmp_path / "w.npy", w)
    np.save(tmp_path / "b.npy", b)
    np.savez(tmp_path / "m.npz", fc=w, fc_b=b, other=np.ones((2, 2)))
    got_w, got_b = load_layer(tmp_path / "w.npy", bias=str(tmp_path / "b.npy"))
    assert np.array_equal(got_w, w) and np.array_equal(got_b, b)
    got_w, got_b = load_layer(tmp_path / "m.npz", layer="fc", bias="fc_b")
    assert np.array_equal(got_w, w) and np.array_equal(got_b, b)
    with pytest.raises(EieInputError, match="no array named 'nope'; it holds fc, fc_b, other"):
        load_layer(tmp_path / "m.npz", layer="nope")
    with pytest.raises(EieInputError, match="2 2-D arrays"):
        load_layer(tmp_path / "m.npz")
    with pytest.raises(EieInputError, match=r"must have shape \(8,\)"):
        load_layer(tmp_path / "m.npz", layer="fc", bias="other")
    (tmp_path / "p.npy").write_bytes(b"\x93NUMPY" + b"garbage")
    with pytest.raises(EieFormatError, match="p.npy"):
        load_layer(tmp_path / "p.npy")
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(EieFormatError, match="obj.npy"):
        load_layer(tmp_path / "obj.npy")
    with pytest.raises(EieInputError, match="unsupported file type"):
        load_layer(tmp_path / "w.txt")


def test_safetensors_import(tmp_path):
    st = pytest.importorskip("safetensors.numpy")  # the test extra installs it
    rng = np.random.default_rng(7)
    w = rng.normal(0, 1, (6, 4)).astype(np.float32)
    st.save_file({"fc.weight": w, "fc.bias": np.ones(6, np.float32)}, str(tmp_path / "m.safetensors"))
    got_w, got_b = load_layer(tmp_path / "m.safetensors", layer="fc.weight", bias="fc.bias")
    assert np.array_equal(got_w, w) and np.array_equal(got_b, np.ones(6))
    with pytest.raises(EieInputError, match="no tensor named 'x'"):
        load_layer(tmp_path / "m.safetensors", layer="x")
    (tmp_path / "bad.safetensors").write_bytes(b"\xff" * 16)
    with pytest.raises(EieFormatError, match="bad.safetensors"):
        load_layer(tmp_path / "bad.safetensors", layer="x")


def test_frac_bits_rule():
    from compressor.fixedpoint import frac_bits, to_fixed

    assert [frac_bits(x) for x in (0, 0.3, 0.999, 1.0, 1.5, 2.0, 32767.0)] == [15, 15, 15, 14, 14, 13, 0]
    with pytest.raises(EieInputError, match="does not fit 16-bit"):
        frac_bits(40000.0)
    assert to_fixed(np.array([0.5, -0.5, 10.0]), 14).tolist() == [8192, -8192, 32767]
    assert math.floor(-0.5 * 2**14 + 0.5) == -8192  # round half up, as the contract writes it
