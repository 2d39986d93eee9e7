"""Pruning rules for transformers: Wanda (per-row |W| * ||X_j||), N:M structured sparsity, and their
place in CompressOptions / compress_layer."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from compressor.errors import EieInputError
from compressor.pipeline import CompressOptions, compress_layer, compress_model, prune_mask
from compressor.prune import input_norms_of, prune_n_m, prune_to_density, prune_wanda, wanda_scores

RNG = np.random.default_rng(11)


def _w(m=16, n=32, seed=0, dtype=np.float64):
    return np.random.default_rng(seed).standard_normal((m, n)).astype(dtype)


# --------------------------------------------------------------------------- input norms


def test_input_norms_are_l2_over_tokens_in_float64():
    x = np.array([[3.0, 0.0, 1.0], [4.0, 2.0, -1.0]], np.float32)
    norms = input_norms_of(x)
    assert norms.dtype == np.float64
    assert np.allclose(norms, [5.0, 2.0, np.sqrt(2.0)])


@pytest.mark.parametrize(("x", "message"), [
    (np.ones(5), r"2-D \(tokens x inputs\) array, got shape \(5,\)"),
    (np.ones((0, 4)), r"no calibration token \(shape \(0, 4\)\)"),
    (np.array([[1.0, np.nan]]), r"non-finite value"),
    (np.array([["a", "b"]]), r"real numbers, got dtype <U1"),
    ([[1.0, 2.0]], r"must be a numpy array"),
])
def test_input_norms_refuse_bad_activations(x, message):
    with pytest.raises(EieInputError, match=message):
        input_norms_of(x, name="fc")


# --------------------------------------------------------------------------- Wanda


@settings(max_examples=30, deadline=None)
@given(m=st.integers(1, 9), n=st.integers(1, 20), d=st.floats(0.05, 1.0), seed=st.integers(0, 99))
def test_wanda_keeps_exactly_the_top_fraction_of_every_row(m, n, d, seed):
    rng = np.random.default_rng(seed)
    w = np.round(rng.standard_normal((m, n)), 1)  # ties included
    norms = rng.random(n) * 3
    mask = prune_wanda(w, norms, d)
    k = round(d * n)
    assert mask.dtype == np.bool_ and mask.shape == w.shape
    assert (mask.sum(axis=1) == k).all()
    score = np.abs(w) * norms
    for i in range(m):  # every kept score >= every pruned score of the row
        kept, pruned = score[i, mask[i]], score[i, ~mask[i]]
        assert kept.size == 0 or pruned.size == 0 or kept.min() >= pruned.max()


def test_wanda_ties_keep_the_lowest_columns():
    mask = prune_wanda(np.ones((2, 6)), np.ones(6), 0.5)
    assert mask.tolist() == [[True] * 3 + [False] * 3] * 2


def test_wanda_differs_from_magnitude_when_input_norms_vary():
    w = _w(64, 128)
    norms = np.exp(np.random.default_rng(1).normal(0, 2, 128))  # a few channels dominate
    wanda = prune_wanda(w, norms, 0.5)
    per_row_magnitude = prune_wanda(w, np.ones(128), 0.5)
    changed = np.count_nonzero(wanda != per_row_magnitude)
    assert changed > 0.1 * w.size
    # the large-norm channels are kept far more often than the small ones
    order = np.argsort(norms)
    assert wanda[:, order[-16:]].mean() > 0.9 > 0.1 > wanda[:, order[:16]].mean()


def test_wanda_with_constant_norms_is_per_row_magnitude_pruning():
    w = _w(12, 40, seed=3)
    for c in (1.0, 0.37, 250.0):
        mask = prune_wanda(w, np.full(40, c), 0.25)
        for i in range(12):  # per row, exactly what magnitude pruning of that row keeps
            assert np.array_equal(mask[i], prune_to_density(w[i:i + 1], 0.25)[0])


def test_wanda_is_deterministic():
    w, norms = _w(30, 50, seed=5), np.random.default_rng(5).random(50)
    masks = [prune_wanda(w.copy(), norms.copy(), 0.4) for _ in range(3)]
    assert all(np.array_equal(masks[0], m) for m in masks[1:])


@pytest.mark.parametrize(("norms", "message"), [
    (None, r"layer 'q': Wanda needs calibration activations"),
    (np.ones(7), r"layer 'q': input norms must be 8 real numbers .* got dtype float64 shape \(7,\)"),
    (np.ones((8, 1)), r"shape \(8, 1\)"),
    (np.array([1, 2, 3, 4, 5, 6, 7, np.inf]), r"layer 'q': input norms contains 1 non-finite"),
    (np.array([1, 2, 3, -4, 5, 6, 7, 8.0]), r"must be >= 0 .* got -4.0 at input 3"),
])
def test_wanda_refuses_missing_or_bad_norms(norms, message):
    with pytest.raises(EieInputError, match=message):
        prune_wanda(_w(4, 8), norms, 0.5, name="q")


def test_wanda_refuses_a_bad_density():
    with pytest.raises(EieInputError, match=r"density must be in \(0, 1\]"):
        prune_wanda(_w(4, 8), np.ones(8), 1.5)


# --------------------------------------------------------------------------- N:M


@pytest.mark.parametrize(("n", "m"), [(2, 4), (4, 8), (1, 4), (3, 4)])
def test_n_m_keeps_exactly_n_largest_of_every_group(n, m):
    w = _w(10, 8 * m, seed=n + m, dtype=np.float32)
    mask = prune_n_m(w, n, m)
    groups, mags = mask.reshape(10, 8, m), np.abs(w).reshape(10, 8, m)
    assert (groups.sum(axis=2) == n).all()
    kept_min = np.where(groups, mags, np.inf).min(axis=2)
    pruned_max = np.where(groups, -np.inf, mags).max(axis=2)
    assert (kept_min >= pruned_max).all()
    assert mask.sum() == w.size * n // m


def test_n_m_ties_keep_the_lowest_columns_and_scores_override_magnitude():
    assert prune_n_m(np.ones((1, 8)), 2, 4).tolist() == [[True, True, False, False] * 2]
    w = np.array([[4.0, 3.0, 2.0, 1.0]])
    assert prune_n_m(w, 2, 4).tolist() == [[True, True, False, False]]
    scores = np.array([[0.0, 1.0, 5.0, 9.0]])
    assert prune_n_m(w, 2, 4, scores).tolist() == [[False, False, True, True]]


def test_n_m_with_wanda_scores_differs_from_magnitude():
    w = _w(32, 64, seed=8)
    norms = np.exp(np.random.default_rng(8).normal(0, 2, 64))
    by_wanda = prune_n_m(w, 2, 4, wanda_scores(w, norms))
    assert (by_wanda.reshape(32, 16, 4).sum(axis=2) == 2).all()
    assert not np.array_equal(by_wanda, prune_n_m(w, 2, 4))
    assert np.array_equal(prune_n_m(w, 2, 4, wanda_scores(w, np.full(64, 3.0))), prune_n_m(w, 2, 4))


def test_n_m_is_deterministic():
    w = np.round(_w(20, 40, seed=9), 1)
    assert np.array_equal(prune_n_m(w, 2, 4), prune_n_m(w.copy(), 2, 4))


@pytest.mark.parametrize(("args", "message"), [
    ((4, 4), r"N:M pattern 4:4 must have 1 <= N < M"),
    ((5, 4), r"N:M pattern 5:4 must have 1 <= N < M"),
    ((0, 4), r"N:M pattern 0:4 must have 1 <= N < M"),
    ((2.0, 4), r"N of the N:M pattern must be an integer, got 2.0"),
    ((True, 4), r"N of the N:M pattern must be an integer"),
])
def test_n_m_refuses_bad_patterns(args, message):
    with pytest.raises(EieInputError, match=message):
        prune_n_m(_w(4, 8), *args)


def test_n_m_refuses_a_row_length_it_does_not_divide_naming_the_tensor():
    with pytest.raises(EieInputError, match=r"layer 'encoder.layer.0.output.dense': the 2:4 pattern does "
                                            r"not divide the row length 10 \(weights 3 x 10\)"):
        prune_n_m(_w(3, 10), 2, 4, name="encoder.layer.0.output.dense")
    with pytest.raises(EieInputError, match=r"^the 4:8 pattern does not divide the row length 12"):
        prune_n_m(_w(3, 12), 4, 8)


def test_n_m_refuses_scores_of_the_wrong_shape_or_non_finite():
    with pytest.raises(EieInputError, match=r"scores must be a real array of the weights' shape \(4, 8\), "
                                            r"got \(4, 4\)"):
        prune_n_m(_w(4, 8), 2, 4, np.ones((4, 4)))
    bad = np.ones((4, 8))
    bad[1, 2] = np.nan
    with pytest.raises(EieInputError, match=r"scores contains 1 non-finite value.*index \(1, 2\)"):
        prune_n_m(_w(4, 8), 2, 4, bad)


# --------------------------------------------------------------------------- pipeline


def test_default_options_prune_as_before():
    w = _w(40, 64, seed=12)
    assert CompressOptions().prune_method == "magnitude" and CompressOptions().nm == (2, 4)
    mask = prune_mask(w, CompressOptions(density=0.3))
    assert np.array_equal(mask, prune_to_density(w, 0.3))


def test_compress_layer_with_wanda_and_n_m():
    w, b = _w(64, 96, seed=13), RNG.standard_normal(64)
    norms = np.exp(RNG.normal(0, 1.5, 96))
    wanda = compress_layer(w, b, CompressOptions(density=0.5, prune_method="wanda"), name="fc",
                           input_norms=norms)
    codes = wanda.decode()[:, :96]
    assert np.array_equal(codes != 0, prune_wanda(w, norms, 0.5))
    nm = compress_layer(w, None, CompressOptions(prune_method="n:m", nm=(2, 4)), name="fc")
    assert ((nm.decode() != 0).reshape(64, 24, 4).sum(axis=2) == 2).all()
    nm_wanda = compress_layer(w, None, CompressOptions(prune_method="n:m", nm=[4, 8]), input_norms=norms)
    assert np.array_equal(nm_wanda.decode() != 0, prune_n_m(w, 4, 8, wanda_scores(w, norms)))
    model = compress_model([("a", w, b), ("b", _w(8, 64), None)],
                           [CompressOptions(density=0.5, prune_method="wanda"), CompressOptions(density=0.5)],
                           input_norms=[norms, None])
    assert np.array_equal(model.layers[0].decode()[:, :96] != 0, prune_wanda(w, norms, 0.5))
    assert model.provenance["compress_options"][0]["prune_method"] == "wanda"


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"prune_method": "movement"}, r"prune_method 'movement' is not one of magnitude, wanda, n:m"),
    ({"prune_method": "wanda"}, r"Wanda pruning .* give a density"),
    ({"prune_method": "wanda", "density": 0.5, "balanced": True}, r"no threshold or balanced"),
    ({"prune_method": "n:m", "density": 0.5}, r"keeps 2 of every 4 inputs \(density 0.5\): give no density"),
    ({"prune_method": "n:m", "nm": (4, 2)}, r"N:M pattern 4:2 must have 1 <= N < M"),
    ({"nm": "2:4"}, r"nm = '2:4' must be a pair \(N, M\)"),
])
def test_options_refuse_inconsistent_pruning(kwargs, message):
    with pytest.raises(EieInputError, match=message):
        CompressOptions(**kwargs)


def test_compress_layer_refuses_missing_or_unused_norms():
    w = _w(8, 16)
    with pytest.raises(EieInputError, match=r"layer 'attn': Wanda needs calibration activations"):
        compress_layer(w, None, CompressOptions(density=0.5, prune_method="wanda"), name="attn")
    with pytest.raises(EieInputError, match=r"input norms are used by Wanda and N:M pruning, not by"):
        compress_layer(w, None, CompressOptions(density=0.5), input_norms=np.ones(16))
    with pytest.raises(EieInputError, match=r"give a mask or input norms to prune by, not both"):
        compress_layer(w, None, CompressOptions(density=0.5, prune_method="wanda"),
                       mask=np.ones((8, 16), bool), input_norms=np.ones(16))
    with pytest.raises(EieInputError, match=r"2 sets of input norms for 1 layer"):
        compress_model([("a", w, None)], input_norms=[None, None])


def test_large_layers_are_pruned_block_by_block_with_the_same_result():
    rng = np.random.default_rng(14)
    w = np.round(rng.standard_normal((700, 2048)), 2).astype(np.float32)  # 1.4M weights: two blocks
    norms = rng.random(2048)
    score = np.abs(w).astype(np.float64) * norms
    want = np.zeros(w.shape, bool)  # the definition: per row, a stable sort of the negated scores
    np.put_along_axis(want, np.argsort(-score, axis=1, kind="stable")[:, :1024], True, axis=1)
    assert np.array_equal(prune_wanda(w, norms, 0.5), want)
    groups = np.abs(w).astype(np.float64).reshape(700, 512, 4)
    want_nm = np.zeros(groups.shape, bool)
    np.put_along_axis(want_nm, np.argsort(-groups, axis=2, kind="stable")[:, :, :2], True, axis=2)
    assert np.array_equal(prune_n_m(w, 2, 4), want_nm.reshape(700, 2048))
