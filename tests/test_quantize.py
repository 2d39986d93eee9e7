"""Tests for compressor.quantize (k-means weight sharing, code 0 = zero)."""

from __future__ import annotations

import itertools
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from compressor.errors import EieInputError
from compressor.quantize import (
    INITS,
    METHODS,
    Quantized,
    assign_codes,
    finetune_codebook,
    init_centroids,
    kmeans_1d,
    quantization_sse,
    quantize,
)

# Values on a coarse grid so duplicates and exact ties are common.
_grid = st.integers(-40, 40).map(lambda i: i / 8.0)
_wide = st.floats(-100.0, 100.0, allow_nan=False, allow_subnormal=False)
value_sets = arrays(np.float64, st.integers(1, 60), elements=st.one_of(_grid, _wide))


def _layer(seed: int, shape=(20, 30), zero_frac=0.3, dtype=np.float64):
    rng = np.random.default_rng(seed)
    w = (rng.standard_normal(shape) * 0.05).astype(dtype)
    w[rng.random(shape) < zero_frac] = 0.0
    return w


def _brute_force_sse(values: np.ndarray, k: int) -> float:
    """Least SSE over every split of the sorted values into <= k contiguous groups."""
    v = np.sort(values)
    n = v.size
    if n <= k:
        return 0.0  # every value its own cluster
    best = np.inf
    for cuts in itertools.combinations(range(1, n), k - 1):
        bounds = (0, *cuts, n)
        sse = 0.0
        for lo, hi in itertools.pairwise(bounds):
            group = v[lo:hi]
            sse += float(((group - group.mean()) ** 2).sum())
        best = min(best, sse)
    return best


# --------------------------------------------------------------------------- layer contract


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**16),
    wbits=st.integers(2, 8),
    init=st.sampled_from(INITS),
    method=st.sampled_from(METHODS),
    use_mask=st.booleans(),
    dtype=st.sampled_from([np.float32, np.float64]),
)
def test_quantize_code_contract(seed, wbits, init, method, use_mask, dtype):
    w = _layer(seed, shape=(12, 17), dtype=dtype)
    mask = np.random.default_rng(seed + 1).random(w.shape) < 0.7 if use_mask else None
    q = quantize(w, mask, wbits=wbits, init=init, method=method, seed=seed)
    kept = (w != 0) if mask is None else (w != 0) & mask
    assert q.codes.dtype == np.uint8 and q.codes.shape == w.shape
    assert q.codebook.dtype == np.float64 and q.codebook.shape == (2**wbits,)
    assert q.codebook[0] == 0.0
    assert np.all(q.codes[kept] >= 1) and np.all(q.codes[~kept] == 0)
    assert int(q.codes.max()) < 2**wbits
    dense = q.dense()
    assert np.all(dense[~kept] == 0.0)
    # each kept weight sits at its nearest non-zero-code centroid
    vals = w[kept].astype(np.float64)
    dist = np.abs(vals[:, None] - q.codebook[None, 1:])
    np.testing.assert_array_equal(np.abs(vals - dense[kept]), dist.min(axis=1))
    # and re-assigning with the same codebook reproduces the codes exactly
    assert np.array_equal(assign_codes(w, mask, q.codebook), q.codes)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**16), wbits=st.integers(2, 6), method=st.sampled_from(METHODS))
def test_dequantized_error_bounded_by_cluster_spread(seed, wbits, method):
    w = _layer(seed, shape=(15, 15))
    q = quantize(w, wbits=wbits, method=method, max_iter=10_000)
    kept = w != 0
    err = np.abs(w - q.dense())
    for code in np.unique(q.codes[kept]):
        members = w[q.codes == code]
        spread = members.max() - members.min()
        assert err[q.codes == code].max() <= spread + 1e-12


def test_all_zero_layer():
    q = quantize(np.zeros((4, 5), dtype=np.float32), wbits=3)
    assert np.array_equal(q.codebook, np.zeros(8))
    assert np.array_equal(q.codes, np.zeros((4, 5), dtype=np.uint8))
    assert np.array_equal(q.dense(), np.zeros((4, 5)))


def test_fully_masked_layer_is_all_zero_codes():
    w = _layer(3)
    q = quantize(w, np.zeros(w.shape, dtype=bool))
    assert not q.codes.any() and not q.codebook.any()


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("init", INITS)
def test_fewer_distinct_values_than_clusters(method, init):
    w = np.array([[0.5, 0.0, -1.25], [0.5, 2.0, 0.0], [-1.25, 0.5, 2.0]])
    q = quantize(w, wbits=4, init=init, method=method)
    # three distinct kept values, 15 clusters: reconstruction is exact
    assert np.array_equal(q.dense(), w)
    assert len({int(c) for c in q.codes[w != 0]}) == 3
    assert q.codebook.shape == (16,) and q.codebook[0] == 0.0
    centroids, labels = kmeans_1d(np.array([3.0, 1.0, 3.0]), 4, init=init, method=method)
    assert centroids.shape == (4,) and np.all(np.diff(centroids) >= 0)
    assert set(centroids.tolist()) == {1.0, 3.0}
    assert np.array_equal(centroids[labels], [3.0, 1.0, 3.0])


@pytest.mark.parametrize("method", METHODS)
def test_determinism_same_seed_same_bytes(method):
    w = _layer(11, shape=(30, 40), dtype=np.float32)
    a = quantize(w, wbits=5, init="random", method=method, seed=42)
    b = quantize(w.copy(), wbits=5, init="random", method=method, seed=42)
    assert a.codes.tobytes() == b.codes.tobytes()
    assert a.codebook.tobytes() == b.codebook.tobytes()


# --------------------------------------------------------------------------- k-means


def test_linear_init_beats_forgy_on_large_weights():
    """Deep Compression, section 3.2: Forgy crowds centroids near the peak of the
    bell, so the large (rare, important) weights are represented badly."""
    linear, forgy = [], []
    for seed in range(5):
        w = np.random.default_rng(100 + seed).standard_normal((64, 128)) * 0.05
        top = np.abs(w) >= np.quantile(np.abs(w), 0.95)
        for init, out in (("linear", linear), ("random", forgy)):
            q = quantize(w, wbits=4, init=init, seed=seed)
            out.append(quantization_sse(w[top], q.codebook, q.codes[top]))
    assert np.mean(linear) < 0.9 * np.mean(forgy)


@settings(max_examples=40, deadline=None)
@given(values=value_sets, k=st.integers(1, 8), init=st.sampled_from(INITS), seed=st.integers(0, 99))
def test_optimal_never_worse_than_lloyd(values, k, init, seed):
    c_l, l_l = kmeans_1d(values, k, init=init, seed=seed, method="lloyd")
    c_o, l_o = kmeans_1d(values, k, method="optimal")
    sse_l = quantization_sse(values, c_l, l_l)
    sse_o = quantization_sse(values, c_o, l_o)
    scale = float(np.sum((values - values.mean()) ** 2)) + 1.0
    assert sse_o <= sse_l + 1e-9 * scale
    for c in (c_l, c_o):
        assert c.shape == (k,) and np.all(np.diff(c) >= 0)


@settings(max_examples=40, deadline=None)
@given(
    values=arrays(np.float64, st.integers(1, 9), elements=st.one_of(_grid, _wide)),
    k=st.integers(1, 4),
)
def test_optimal_equals_brute_force(values, k):
    c, labels = kmeans_1d(values, k, method="optimal")
    expected = _brute_force_sse(values, k)
    got = quantization_sse(values, c, labels)
    assert got == pytest.approx(expected, rel=1e-9, abs=1e-9)


def test_optimal_brute_force_hand_example():
    # {0, 1, 10, 11, 12}: best 2-clustering is {0,1} | {10,11,12}, SSE 0.5 + 2 = 2.5
    c, labels = kmeans_1d(np.array([10.0, 0.0, 12.0, 1.0, 11.0]), 2, method="optimal")
    assert c.tolist() == [0.5, 11.0]
    assert labels.tolist() == [1, 0, 1, 0, 1]


def test_lloyd_finds_separated_clusters():
    rng = np.random.default_rng(0)
    groups = [rng.normal(mu, 0.01, 50) for mu in (-3.0, 0.5, 4.0)]
    values = np.concatenate(groups)
    for init in INITS:
        c, labels = kmeans_1d(values, 3, init=init, seed=1)
        np.testing.assert_allclose(c, [g.mean() for g in groups], rtol=1e-12)
        assert labels.tolist() == [0] * 50 + [1] * 50 + [2] * 50


@settings(max_examples=30, deadline=None)
@given(values=value_sets, k=st.integers(1, 8), init=st.sampled_from(INITS))
def test_kmeans_labels_are_nearest(values, k, init):
    c, labels = kmeans_1d(values, k, init=init)
    d = np.abs(values[:, None] - c[None, :])
    assert np.array_equal(d[np.arange(values.size), labels], d.min(axis=1))


def test_ties_go_to_the_lower_centroid():
    # 1.0 is exactly half-way between 0.5 and 1.5; 2.25 half-way between 1.5 and 3.0
    codebook = np.array([0.0, 1.5, 0.5, 3.0])  # unsorted on purpose (as after fine-tuning)
    w = np.array([[1.0, 2.25, 0.0, 3.5]])
    assert assign_codes(w, None, codebook).tolist() == [[2, 1, 0, 3]]
    # kmeans_1d follows the same rule: {0, 1, 2} in 2 clusters from linear init
    # {0, 2} puts 1 (the midpoint) with 0 and converges there
    c, labels = kmeans_1d(np.array([0.0, 1.0, 2.0]), 2, init="linear")
    assert labels.tolist() == [0, 0, 1] and c.tolist() == [0.5, 2.0]


def test_init_centroids():
    values = np.array([4.0, -2.0, 1.0, 0.0, 3.0, 3.0, 10.0])
    np.testing.assert_allclose(init_centroids(values, 4, "linear", 0), [-2.0, 2.0, 6.0, 10.0])
    dens = init_centroids(values, 3, "density", 0)
    # centres of 3 equal-probability bins, 1/6, 3/6, 5/6 of sorted [-2, 0, 1, 3, 3, 4, 10]
    np.testing.assert_allclose(dens, [0.0, 3.0, 4.0])
    r = init_centroids(values, 4, "random", 7)
    assert np.all(np.diff(r) > 0) and set(r.tolist()) <= set(values.tolist())
    assert np.array_equal(r, init_centroids(values, 4, "random", 7))


# --------------------------------------------------------------------------- fine-tuning and SSE


def test_finetune_codebook_sums_gradients_per_code():
    codebook = np.array([0.0, -0.5, 0.25, 1.0])
    codes = np.array([[1, 0, 2], [2, 2, 3], [0, 1, 1]], dtype=np.uint8)
    grad = np.array([[0.1, 9.0, 0.2], [0.3, -0.1, 0.4], [-7.0, 0.5, 0.6]])
    # by hand: code 1 -> 0.1 + 0.5 + 0.6 = 1.2; code 2 -> 0.2 + 0.3 - 0.1 = 0.4; code 3 -> 0.4
    expected = np.array([0.0, -0.5 - 0.1 * 1.2, 0.25 - 0.1 * 0.4, 1.0 - 0.1 * 0.4])
    out = finetune_codebook(codebook, codes, grad, 0.1)
    np.testing.assert_allclose(out, expected, rtol=0, atol=1e-15)
    assert out[0] == 0.0 and codebook[1] == -0.5  # input untouched


def test_quantization_sse_hand_example():
    values = np.array([1.0, 2.0, 4.0])
    assert quantization_sse(values, np.array([1.5, 4.0]), np.array([0, 0, 1])) == 0.5


def test_quantized_rejects_bad_codebook():
    with pytest.raises(EieInputError, match="codebook"):
        Quantized(codes=np.zeros((2, 2), np.uint8), codebook=np.ones(4), wbits=2)


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"wbits": 1}, ["wbits", "2..8"]),
        ({"wbits": 9}, ["wbits", "2..8"]),
        ({"init": "kmeans++"}, ["init", "linear", "density", "random"]),
        ({"method": "fast"}, ["method", "lloyd", "optimal"]),
    ],
)
def test_bad_arguments_raise(kwargs, words):
    with pytest.raises(EieInputError) as err:
        quantize(_layer(0), **kwargs)
    for word in words:
        assert word in str(err.value)


def test_bad_arrays_raise():
    w = _layer(0)
    bad = w.copy()
    bad[2, 3] = np.nan
    with pytest.raises(EieInputError, match=r"1 non-finite.*\(2, 3\)"):
        quantize(bad)
    with pytest.raises(EieInputError, match="2-D"):
        quantize(np.ones(5))
    with pytest.raises(EieInputError, match="shape"):
        quantize(w, np.ones((2, 2), dtype=bool))
    with pytest.raises(EieInputError, match="non-finite"):
        kmeans_1d(np.array([1.0, np.inf]), 2)
    with pytest.raises(EieInputError, match="shape"):
        finetune_codebook(np.zeros(4), np.zeros((2, 2), np.uint8), np.zeros((3, 2)), 0.1)
    with pytest.raises(EieInputError, match="codes"):
        finetune_codebook(np.zeros(4), np.full((2, 2), 4, np.uint8), np.zeros((2, 2)), 0.1)
    with pytest.raises(EieInputError, match="labels"):
        quantization_sse(np.ones(3), np.ones(2), np.array([0, 1]))


# --------------------------------------------------------------------------- speed


@pytest.mark.slow
@pytest.mark.parametrize(("method", "limit"), [("lloyd", 3.0), ("optimal", 15.0)])
def test_alexnet_fc6_quantizes_fast(method, limit):
    rng = np.random.default_rng(0)
    w = (rng.standard_normal((4096, 9216)) * 0.01).astype(np.float32)
    w[np.abs(w) < np.quantile(np.abs(w[::97]), 0.91)] = 0.0  # ~9 % density
    quantize(w[:64, :64], method=method)  # numba compilation outside the timing
    t = time.perf_counter()
    q = quantize(w, method=method)
    assert time.perf_counter() - t < limit
    assert np.all((q.codes != 0) == (w != 0))
