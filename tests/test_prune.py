"""Tests for compressor.prune (magnitude pruning)."""

from __future__ import annotations

import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from compressor.errors import EieInputError
from compressor.prune import (
    apply_mask,
    density,
    iterative_prune,
    masked_update,
    prune_balanced,
    prune_by_threshold,
    prune_to_density,
)

# Small matrices with repeated values (ties) and zeros mixed in, float32 or float64.
_finite = st.floats(-4.0, 4.0, allow_nan=False, width=32)
matrices = st.tuples(
    st.integers(1, 12), st.integers(1, 12), st.sampled_from([np.float32, np.float64])
)
matrices = matrices.flatmap(
    lambda t: arrays(
        t[2], (t[0], t[1]), elements=st.one_of(_finite, st.sampled_from([0.0, 1.0, -1.0]))
    )
)
densities = st.floats(0.01, 1.0, exclude_min=False)


def _random(shape, seed=0, dtype=np.float64):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def _largest_kept(w: np.ndarray, mask: np.ndarray) -> bool:
    """Every kept |w| >= every pruned |w| (vacuous when one side is empty)."""
    kept, pruned = np.abs(w[mask]), np.abs(w[~mask])
    return kept.size == 0 or pruned.size == 0 or kept.min() >= pruned.max()


# --------------------------------------------------------------------------- prune_to_density


@settings(max_examples=40, deadline=None)
@given(w=matrices, d=densities)
def test_prune_to_density_keeps_exact_count_of_largest(w, d):
    mask = prune_to_density(w, d)
    assert mask.dtype == np.bool_ and mask.shape == w.shape
    assert int(mask.sum()) == round(d * w.size)
    assert _largest_kept(w, mask)


def test_prune_to_density_breaks_ties_by_flat_index():
    w = np.ones((3, 4))
    mask = prune_to_density(w, 0.5)  # 6 of 12 equal weights
    assert mask.ravel().tolist() == [True] * 6 + [False] * 6
    # a larger weight later in the matrix still wins over tied smaller ones
    w[2, 3] = 2.0
    mask = prune_to_density(w, 0.25)  # 3 kept: the 2.0, then the first two ones
    assert np.flatnonzero(mask.ravel()).tolist() == [0, 1, 11]


def test_prune_to_density_large_layer_uses_sampled_selection_correctly():
    # above the sampled-selection size: the answer must still match a full sort
    w = _random((600, 500), seed=3, dtype=np.float32)
    k = round(0.09 * w.size)
    mask = prune_to_density(w, 0.09)
    assert int(mask.sum()) == k
    assert np.abs(w[mask]).min() == np.sort(np.abs(w).ravel())[-k]


def test_prune_to_density_adversarial_layer_falls_back_correctly():
    # 512 x 512: the strided sample sees only every 4th column, here the big
    # weights, so its estimate leaves too few candidates and the exact fallback runs
    rng = np.random.default_rng(8)
    w = rng.random((512, 512))
    w[:, ::4] += 10.0
    mask = prune_to_density(w, 0.5)
    assert int(mask.sum()) == round(0.5 * w.size)
    assert _largest_kept(w, mask)


# --------------------------------------------------------------------------- prune_by_threshold


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("quality", [0.0, 0.5, 1.0, 2.5])
def test_prune_by_threshold_matches_numpy_rule(dtype, quality):
    w = _random((40, 30), seed=7, dtype=dtype)
    w[0, :5] = 0.0
    x = w.astype(np.float64)
    std = np.sqrt(np.mean((x - x.mean()) ** 2))  # population std, computed by hand
    expected = np.abs(x) > quality * std
    assert np.array_equal(prune_by_threshold(w, quality), expected)


def test_prune_by_threshold_quality_zero_keeps_all_nonzero():
    w = np.array([[0.0, 1.0], [-2.0, 0.0]])
    assert prune_by_threshold(w, 0.0).tolist() == [[False, True], [True, False]]


# --------------------------------------------------------------------------- prune_balanced


@settings(max_examples=40, deadline=None)
@given(
    m=st.integers(1, 14),
    n=st.integers(1, 9),
    n_pes=st.integers(1, 20),
    d=densities,
    seed=st.integers(0, 2**16),
)
def test_prune_balanced_equal_count_per_pe(m, n, n_pes, d, seed):
    w = _random((m, n), seed=seed)
    mask = prune_balanced(w, d, n_pes)
    k = round(d * m * n / n_pes)
    for pe in range(n_pes):
        rows = np.arange(pe, m, n_pes)
        slice_size = rows.size * n
        assert int(mask[rows].sum()) == min(k, slice_size)
        assert _largest_kept(w[rows], mask[rows])


def test_prune_balanced_hand_example():
    # 5 rows over 2 PEs (m not a multiple): PE0 rows 0,2,4, PE1 rows 1,3; k=round(.4*10/2)=2
    w = np.array([[9.0, 1.0], [1.0, 2.0], [8.0, 7.0], [3.0, 4.0], [0.5, 0.1]])
    mask = prune_balanced(w, 0.4, 2)
    assert mask.tolist() == [
        [True, False],
        [False, False],
        [True, False],
        [True, True],
        [False, False],
    ]


def test_prune_balanced_more_pes_than_rows():
    w = _random((3, 4), seed=1)
    mask = prune_balanced(w, 0.5, 8)  # k = round(0.5*12/8) = 1 per PE; PEs 3..7 own no rows
    assert mask.sum(axis=1).tolist() == [1, 1, 1]
    assert np.array_equal(np.argmax(np.abs(w), axis=1), np.argmax(mask, axis=1))


def test_prune_balanced_one_pe_equals_global_pruning():
    w = _random((9, 7), seed=2)
    assert np.array_equal(prune_balanced(w, 0.3, 1), prune_to_density(w, 0.3))


# --------------------------------------------------------------------------- masks and updates


def test_apply_mask_returns_new_zeroed_array():
    w = _random((4, 5), seed=4, dtype=np.float32)
    before = w.copy()
    mask = prune_to_density(w, 0.4)
    out = apply_mask(w, mask)
    assert out.dtype == np.float32 and out is not w
    assert np.all(out[~mask] == 0.0) and np.array_equal(out[mask], w[mask])
    assert np.array_equal(w, before)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**16), lr=st.floats(0.001, 10.0))
def test_masked_update_never_revives(seed, lr):
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((6, 5))
    mask = rng.random((6, 5)) < 0.5
    w[~mask] = 0.0
    for _ in range(3):
        grad = rng.standard_normal((6, 5)) * 5
        expected = w[mask] - lr * grad[mask]
        out = masked_update(w, grad, mask, lr)
        assert out is w  # in place
        assert np.all(w[~mask] == 0.0)
        np.testing.assert_allclose(w[mask], expected, rtol=1e-12, atol=1e-12)


def test_masked_update_zeroes_nonzero_pruned_entries():
    w = np.ones((2, 2), dtype=np.float32)
    mask = np.array([[True, False], [False, True]])
    masked_update(w, np.ones((2, 2), dtype=np.float32), mask, 0.5)
    assert w.tolist() == [[0.5, 0.0], [0.0, 0.5]]


def test_density_of_mask_and_weights():
    assert density(np.array([[True, False, False, False]])) == 0.25
    assert density(np.array([[0.0, 2.0], [0.0, -1.0]])) == 0.5


# --------------------------------------------------------------------------- iterative_prune


@pytest.mark.parametrize("n_pes", [None, 3])
def test_iterative_prune_mask_monotone_and_final_density(n_pes):
    rng = np.random.default_rng(5)
    w0 = rng.standard_normal((10, 12))
    seen: list[np.ndarray] = []

    def retrain(w, mask):
        assert np.all(w[~mask] == 0.0)  # pruned weights arrive zeroed
        seen.append(mask.copy())
        # a careless "trainer" that moves every weight, pruned ones included
        return w + rng.standard_normal(w.shape)

    schedule = [0.5, 0.3, 0.3, 0.1]
    w, mask = iterative_prune(w0, schedule, retrain, n_pes=n_pes)
    assert len(seen) == len(schedule)
    for earlier, later in zip(seen, seen[1:], strict=False):
        assert not np.any(later & ~earlier)  # nothing pruned comes back
    assert np.array_equal(seen[-1], mask)
    assert np.all(w[~mask] == 0.0)
    if n_pes is None:
        assert int(mask.sum()) == round(0.1 * w0.size)
    else:
        k = round(0.1 * 10 * 12 / 3)
        assert [int(mask[pe::3].sum()) for pe in range(3)] == [k, k, k]
    assert not np.shares_memory(w, w0)


def test_iterative_prune_monotone_even_when_retrain_zeroes_kept_weights():
    # a degenerate trainer drives every kept weight to exactly 0: at the next step
    # kept and pruned weights all have |w| = 0, and still only kept ones may stay
    w0 = _random((4, 4), seed=9)
    first = prune_to_density(w0, 0.5)
    masks: list[np.ndarray] = []

    def retrain(w, mask):
        masks.append(mask)
        return np.zeros_like(w)

    _, mask = iterative_prune(w0, [0.5, 0.5], retrain)
    assert np.array_equal(masks[0], first)
    assert np.array_equal(mask, first)


def test_iterative_prune_identity_retrain_matches_one_shot():
    # without retraining, pruning to 50 % then 20 % keeps the same weights as 20 % at once
    w0 = _random((8, 9), seed=6)
    w, mask = iterative_prune(w0, [0.5, 0.2], lambda w, m: w)
    assert np.array_equal(mask, prune_to_density(w0, 0.2))
    assert np.array_equal(w, np.where(mask, w0, 0.0))


# --------------------------------------------------------------------------- bad input


def _bad(kind):
    w = np.ones((3, 3))
    if kind == "nan":
        w[1, 2] = np.nan
    elif kind == "inf":
        w[0, 1] = np.inf
    elif kind == "empty":
        w = np.ones((0, 3))
    elif kind == "1-D":
        w = np.ones(4)
    elif kind == "int":
        w = np.ones((2, 2), dtype=np.int64)
    return w


@pytest.mark.parametrize(
    ("kind", "words"),
    [
        ("nan", ["1 non-finite", "(1, 2)"]),
        ("inf", ["1 non-finite", "(0, 1)"]),
        ("empty", ["empty"]),
        ("1-D", ["2-D"]),
        ("int", ["floating"]),
    ],
)
def test_bad_weights_raise(kind, words):
    for call in (
        lambda w: prune_to_density(w, 0.5),
        lambda w: prune_by_threshold(w, 1.0),
        lambda w: prune_balanced(w, 0.5, 2),
    ):
        with pytest.raises(EieInputError) as err:
            call(_bad(kind))
        for word in words:
            assert word in str(err.value)


@pytest.mark.parametrize("d", [0, 0.0, 1.5, -0.1, float("nan")])
def test_bad_density_raises(d):
    w = np.ones((2, 2))
    with pytest.raises(EieInputError, match="density"):
        prune_to_density(w, d)
    with pytest.raises(EieInputError, match="density"):
        prune_balanced(w, d, 2)


@pytest.mark.parametrize("q", [-0.5, float("nan"), float("inf")])
def test_bad_quality_raises(q):
    with pytest.raises(EieInputError, match="quality"):
        prune_by_threshold(np.ones((2, 2)), q)


def test_other_bad_arguments_raise():
    w = np.ones((2, 3))
    with pytest.raises(EieInputError, match="n_pes"):
        prune_balanced(w, 0.5, 0)
    with pytest.raises(EieInputError, match="shape"):
        apply_mask(w, np.ones((3, 2), dtype=bool))
    with pytest.raises(EieInputError, match="bool"):
        apply_mask(w, np.ones((2, 3)))
    with pytest.raises(EieInputError, match="grad"):
        masked_update(w, np.ones((3, 2)), np.ones((2, 3), dtype=bool), 0.1)
    with pytest.raises(EieInputError, match="non-increasing"):
        iterative_prune(w, [0.3, 0.5], lambda w, m: w)
    with pytest.raises(EieInputError, match="densities"):
        iterative_prune(w, [], lambda w, m: w)
    with pytest.raises(EieInputError, match="retrain returned"):
        iterative_prune(w, [0.5], lambda w, m: w[:1])
    with pytest.raises(EieInputError, match="empty"):
        density(np.ones((0, 2)))


# --------------------------------------------------------------------------- speed


@pytest.mark.slow
def test_alexnet_fc6_prunes_fast():
    w = _random((4096, 9216), seed=0, dtype=np.float32) * 0.01
    t = time.perf_counter()
    mask = prune_to_density(w, 0.09)
    elapsed = time.perf_counter() - t
    assert int(mask.sum()) == round(0.09 * w.size)
    assert elapsed < 1.0
