"""Compressing LLM-sized layers: the leaner prune / weight-sharing code paths give the very same bytes.

The golden digests below were computed with the code as it was before those paths were
rewritten (commit 9006fdd: magnitudes and candidate copies in pruning, a float64 copy of
weights and bias, float64 sorted values, distinct values, prefix sums and int64 labels in
weight sharing). Any change of an encoded byte, for any option these layers exercise, fails.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from compressor.pipeline import CompressOptions, compress_layer
from compressor.prune import _top_k_mask, prune_balanced, prune_to_density
from compressor.quantize import kmeans_1d, quantize
from compressor.train import share_layer
from tests.golden import layer_digest

GOLDEN = {
    "f32_d50_bias": "56224820d1c4af3122f6384e3adacfe2c5d2a4b3e6061b78ada69613ab80efd2",
    "f32_d50_nobias": "074098d93d814df6e46c59a227eee25e446692582d8896497d7cdbe4bbc32a8e",
    "f32_t_bias": "3c712478a1dbc3a268507015852446b09190f3bc1361d6c1f57e7e5a4ca566dd",
    "f32_bal": "f8f9d333a28f93ef2cc48da38b413883c8a2819ab5598f9e9d7ea1c0a19aa1a4",
    "f64_d10_opt": "f3f1eb94b5725929089c53c9e49532a33c9910fd22b215f402a0efa4fa1ac613",
    "f64_d50_rand": "3a8c4e07d0f689481b8d0349ce27dc3502b8887e4e212645501a75ac3205da2d",
    "ties_d40": "9fbec0e6e65c21dad5c6a0bef622193e6fa2ead2fbcce212ced3ae2a9d2befb6",
    "nomask_sparse": "9dc26d238df2a52c910cac6cfe4930bacf03b8fb4095c70019fcb8a19163be97",
    "big_1024x4096_d50": "1c3449a4fef47c111d445aad00b0f8553f19def3d6888b8b3de0e6801712400d",
}


def golden_layers() -> dict[str, object]:
    """The layers of GOLDEN, built from one generator in this order (do not reorder)."""
    rng = np.random.default_rng(0)
    w32 = rng.standard_normal((640, 1536), dtype=np.float32)
    b32 = rng.standard_normal(640, dtype=np.float32)
    out = {
        "f32_d50_bias": compress_layer(w32, b32, CompressOptions(density=0.5, n_pes=64)),
        "f32_d50_nobias": compress_layer(w32, None, CompressOptions(density=0.5, n_pes=64)),
        "f32_t_bias": compress_layer(w32, b32, CompressOptions(threshold=0.8, n_pes=32, regs=8)),
        "f32_bal": compress_layer(w32, b32, CompressOptions(density=0.3, balanced=True, n_pes=64)),
    }
    w64 = rng.standard_normal((300, 1000))
    out["f64_d10_opt"] = compress_layer(w64, None, CompressOptions(density=0.1, method="optimal", n_pes=16))
    out["f64_d50_rand"] = compress_layer(w64, rng.standard_normal(300),
                                         CompressOptions(density=0.5, init="random", seed=3, n_pes=8,
                                                         wbits=5, ibits=3))
    wq = (np.round(rng.standard_normal((512, 700)) * 4) / 4).astype(np.float32)  # many ties
    out["ties_d40"] = compress_layer(wq, None, CompressOptions(density=0.4, n_pes=64, init="density"))
    out["nomask_sparse"] = compress_layer(np.where(wq > 0.5, wq, 0), None, CompressOptions(n_pes=64))
    big = rng.standard_normal((1024, 4096), dtype=np.float32)
    out["big_1024x4096_d50"] = compress_layer(big, None, CompressOptions(density=0.5, n_pes=64))
    return out


def test_encoded_layers_are_byte_identical_to_the_old_code_paths():
    got = {name: layer_digest(layer) for name, layer in golden_layers().items()}
    assert got == GOLDEN


def _old_top_k(mag: np.ndarray, k: int) -> np.ndarray:
    """The definition: k largest by a full sort, ties by lowest flat index (stable sort)."""
    flat = mag.ravel()
    keep = np.zeros(flat.size, bool)
    keep[np.argsort(-flat, kind="stable")[:k]] = True
    return keep.reshape(mag.shape)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kind", ["normal", "ties", "zeros", "narrow", "tiny"])
def test_bit_histogram_selection_equals_a_full_sort(dtype, kind):
    rng = np.random.default_rng(["normal", "ties", "zeros", "narrow", "tiny"].index(kind))
    w = rng.standard_normal((300, 400))
    if kind == "ties":
        w = np.round(w * 3) / 3
    elif kind == "zeros":
        w[rng.random(w.shape) < 0.4] = 0.0
        w[rng.random(w.shape) < 0.1] = -0.0  # -0.0 ties with +0.0
    elif kind == "narrow":  # one exponent and leading mantissa bits: a single histogram bin
        w = (1.0 + rng.random(w.shape) * 1e-4) * rng.choice([-1.0, 1.0], w.shape)
    elif kind == "tiny":
        w = rng.laplace(0, 1e-30, w.shape)
    w = w.astype(dtype)
    for d in (0.001, 0.09, 0.5, 0.93):
        k = round(d * w.size)
        assert np.array_equal(_top_k_mask(w, k), _old_top_k(w, k))  # signed order
        assert np.array_equal(_top_k_mask(w, k, absolute=True), _old_top_k(np.abs(w), k))
        assert np.array_equal(prune_to_density(w, d), _old_top_k(np.abs(w), k))
    assert np.array_equal(prune_to_density(np.asfortranarray(w), 0.3), prune_to_density(w, 0.3))


def test_balanced_pruning_of_large_slices_keeps_the_same_count_per_pe():
    w = np.random.default_rng(2).standard_normal((512, 1024), dtype=np.float32)
    mask = prune_balanced(w, 0.25, 4)  # each PE's slice has 131072 weights: the histogram path
    for pe in range(4):
        rows = np.abs(w[pe::4])
        assert mask[pe::4].sum() == round(0.25 * 512 * 1024 / 4)
        assert rows[mask[pe::4]].min() >= rows[~mask[pe::4]].max()


def test_float32_weight_sharing_equals_sharing_their_float64_copy():
    rng = np.random.default_rng(4)
    w = rng.standard_normal((200, 300), dtype=np.float32)
    mask = rng.random(w.shape) < 0.6
    b32 = rng.standard_normal(200).astype(np.float32).astype(np.float64)  # float32 holds it exactly
    b64 = rng.standard_normal(200)  # it does not: the float64 path
    for bias in (None, b32, b64):
        for init in ("linear", "density", "random"):
            q32 = share_layer(w, bias, mask, wbits=4, init=init, seed=1)
            q64 = share_layer(w.astype(np.float64), bias, mask, wbits=4, init=init, seed=1)
            assert np.array_equal(q32.codes, q64.codes)
            assert q32.codebook.tobytes() == q64.codebook.tobytes()
    # and the layer-level codes are the per-value nearest centroids of kmeans_1d
    q = quantize(w, mask, wbits=3)
    cents, labels = kmeans_1d(w[mask].astype(np.float64), 7)
    assert np.array_equal(q.codebook[1:], cents)
    assert np.array_equal(q.codes[mask], labels + 1) and not q.codes[~mask].any()


def test_compressing_a_float32_layer_allocates_about_its_own_size():
    w = np.random.default_rng(0).standard_normal((1024, 2048), dtype=np.float32)  # 8.4 MB
    options = CompressOptions(density=0.5, n_pes=64)
    compress_layer(w[:64, :64].copy(), None, options)  # numba kernels loaded before tracing
    tracemalloc.start()
    compress_layer(w, None, options)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    # before: ~8x (abs, candidates, a float64 copy, sorted/distinct float64 values, prefix
    # sums, int64 labels); now mask + float32 kept values + codes + the encoding's arrays
    assert peak <= 1.5 * w.nbytes, f"peak {peak / 1e6:.1f} MB for {w.nbytes / 1e6:.1f} MB of weights"


@pytest.mark.slow
def test_llama_sized_layer_within_time_and_3x_memory():
    """4096 x 11008 float32 (180 MB): <= 10 s and peak RSS growth <= 3x the weights."""
    script = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_compress_scale.py"
    res = subprocess.run([sys.executable, str(script), "--child", "4096x11008", "--repeats", "1"],
                         capture_output=True, text=True, check=True, cwd=script.parent)
    out = json.loads(res.stdout.strip().splitlines()[-1])
    assert out["seconds"] <= 10.0
    assert out["peak_rss_mb"] <= 3 * out["weights_mb"]
    assert out["digest"] == "f1fe4885d310e434"  # the encoding of the code before the rewrite
