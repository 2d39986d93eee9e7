"""Magnitude pruning, the first stage of Deep Compression.

Pruning removes the weights of smallest magnitude and records which ones were
removed in a boolean mask (True = kept). The mask, not the zeros, is the source
of truth: a kept weight may legitimately be 0.0, and retraining must keep the
pruned weights at exactly 0 (:func:`masked_update`, :func:`iterative_prune`).

Three rules are offered:

* :func:`prune_to_density` keeps a fixed fraction of the layer (reproducible
  densities such as the papers' 9 % for AlexNet fc6/fc7);
* :func:`prune_by_threshold` is the rule of Deep Compression itself: keep
  ``|w| > quality * std(w)``;
* :func:`prune_balanced` keeps the same count in every EIE PE's row slice, so
  that no PE becomes the straggler the others wait for.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numba
import numpy as np

from compressor.errors import EieInputError
from compressor.validate import check_density, check_finite, check_mask, check_pes, check_weights

__all__ = [
    "prune_to_density",
    "prune_by_threshold",
    "prune_balanced",
    "apply_mask",
    "masked_update",
    "iterative_prune",
    "density",
]

# From this many elements on, the k-th largest is found by a histogram of the values' bit
# patterns (see _top_k_mask_by_bits); below it a plain np.partition is already fast.
_HIST_SELECT_MIN = 1 << 16
_HIST_BITS = 16  # bins of the first pass: the top 16 bits of the order key


# --------------------------------------------------------------------------- selection


@numba.njit(cache=True, inline="always")
def _order_key(bits, sign, ones, absolute):  # pragma: no cover - numba
    """An unsigned key ordered as the float whose bit pattern is ``bits`` (IEEE 754, finite).

    ``absolute``: ordered as the magnitude (the sign bit cleared). Otherwise negative values
    (sign set) count down from the middle and positive ones up from it; -0.0 is keyed as +0.0,
    so that the two tie as they compare equal.
    """
    x = np.uint64(bits)
    if absolute:
        return x & (ones ^ sign)
    if x == sign:
        x = np.uint64(0)
    if x & sign:
        return ones ^ x
    return x | sign


@numba.njit(cache=True)
def _key_histogram(bits, sign, ones, absolute, shift, hist):  # pragma: no cover - numba
    for i in range(bits.shape[0]):
        hist[_order_key(bits[i], sign, ones, absolute) >> shift] += 1


@numba.njit(cache=True)
def _keys_in_bin(bits, sign, ones, absolute, shift, b, out):  # pragma: no cover - numba
    j = 0
    for i in range(bits.shape[0]):
        key = _order_key(bits[i], sign, ones, absolute)
        if key >> shift == b:
            out[j] = key
            j += 1


@numba.njit(cache=True)
def _mark_top(bits, sign, ones, absolute, t, need, keep):  # pragma: no cover - numba
    """keep[i] = key > t, or key == t for the first ``need`` ties in flat order."""
    for i in range(bits.shape[0]):
        key = _order_key(bits[i], sign, ones, absolute)
        if key > t:
            keep[i] = True
        elif key == t and need > 0:
            keep[i] = True
            need -= 1
        else:
            keep[i] = False


def _top_k_mask_by_bits(values: np.ndarray, k: int, absolute: bool) -> np.ndarray:
    """:func:`_top_k_mask` for float32 / float64 arrays without sorting or copying them.

    Finite floats order as their bit patterns do once mapped to unsigned keys
    (:func:`_order_key`), so the k-th largest is found in three passes over the data: a
    histogram of the keys' top 16 bits tells the one bin holding it, that bin's keys (a
    small fraction for real weights) are partitioned exactly, and a last pass writes the
    mask. Nothing of the array's size is allocated but the mask: pruning a 180 MB layer no
    longer needs its magnitudes (180 MB) and candidate copies besides.
    """
    flat = np.ascontiguousarray(values).reshape(-1)  # row-major: ties break by flat index
    width = flat.dtype.itemsize * 8
    bits = flat.view(np.uint32 if width == 32 else np.uint64)
    sign, ones = np.uint64(1 << (width - 1)), np.uint64((1 << width) - 1)
    shift = np.uint64(width - _HIST_BITS)
    hist = np.zeros(1 << _HIST_BITS, np.int64)
    _key_histogram(bits, sign, ones, absolute, shift, hist)
    from_top = np.cumsum(hist[::-1])  # from_top[i]: entries in the i + 1 highest bins
    top = int(np.searchsorted(from_top, k))  # the first i with from_top[i] >= k
    b = hist.size - 1 - top
    rank = k - int(from_top[top] - hist[b])  # the k-th largest is the rank-th largest of bin b
    keys = np.empty(int(hist[b]), np.uint64)
    _keys_in_bin(bits, sign, ones, absolute, shift, np.uint64(b), keys)
    t = keys.size - rank
    keys.partition(t)
    threshold = keys[t]
    need = rank - int(np.count_nonzero(keys > threshold))
    keep = np.empty(flat.size, dtype=bool)
    _mark_top(bits, sign, ones, absolute, threshold, need, keep)
    return keep.reshape(values.shape)


def _top_k_mask(mag: np.ndarray, k: int, *, absolute: bool = False) -> np.ndarray:
    """Bool mask (same shape as ``mag``) of the k largest entries (of ``|mag|`` with
    ``absolute``, without building it).

    Ties at the cut-off are broken by flat (row-major) index, lowest first, so
    the result does not depend on the selection algorithm's internal order.
    """
    n = mag.size
    if k <= 0:
        return np.zeros(mag.shape, dtype=bool)
    if k >= n:
        return np.ones(mag.shape, dtype=bool)
    if n >= _HIST_SELECT_MIN and mag.dtype in (np.float32, np.float64):
        return _top_k_mask_by_bits(mag, k, absolute)
    flat = (np.abs(mag) if absolute else mag).ravel()
    t = np.partition(flat, n - k)[n - k].item()
    keep = flat > t
    need = k - int(np.count_nonzero(keep))
    if need > 0:
        ties = np.flatnonzero(flat == t)
        keep[ties[:need]] = True
    return keep.reshape(mag.shape)


def _balanced_mask(mag: np.ndarray, dens: float, n_pes: int, *, absolute: bool = False) -> np.ndarray:
    """Per-PE top-k over interleaved row slices (row i belongs to PE i mod n_pes), of ``|mag|``
    with ``absolute``."""
    m, n = mag.shape
    k = round(dens * m * n / n_pes)
    mask = np.zeros(mag.shape, dtype=bool)
    for pe in range(min(n_pes, m)):  # PEs beyond m own no rows and keep nothing
        rows = mag[pe::n_pes]
        mask[pe::n_pes] = _top_k_mask(np.ascontiguousarray(rows), min(k, rows.size), absolute=absolute)
    return mask


# --------------------------------------------------------------------------- public API


def prune_to_density(weights: np.ndarray, density: float) -> np.ndarray:
    """Mask keeping the ``round(density * size)`` weights of largest magnitude.

    Ties at the cut-off keep the lowest flat indices, so the mask is fully
    deterministic. ``density`` must be in (0, 1].
    """
    w = check_weights(weights)
    d = check_density(density)
    return _top_k_mask(w, round(d * w.size), absolute=True)


def prune_by_threshold(weights: np.ndarray, quality: float) -> np.ndarray:
    """Deep Compression's rule: keep ``|w| > quality * std(weights)``.

    The standard deviation is taken over the whole layer (population std,
    accumulated in float64 so float32 layers are not biased by rounding).
    ``quality >= 0``; quality 0 keeps every non-zero weight.
    """
    w = check_weights(weights)
    try:
        q = float(quality)
    except (TypeError, ValueError):
        raise EieInputError(f"quality must be a finite number >= 0, got {quality!r}") from None
    if not math.isfinite(q) or q < 0.0:
        raise EieInputError(f"quality must be a finite number >= 0, got {quality!r}")
    threshold = q * float(np.std(w, dtype=np.float64))
    return np.abs(w) > threshold


def prune_balanced(weights: np.ndarray, density: float, n_pes: int) -> np.ndarray:
    """Load-balance-aware pruning for an EIE array of ``n_pes`` PEs.

    Rows are interleaved over PEs as in EIE (row i -> PE i mod n_pes). Every
    PE's slice keeps the same number ``k = round(density * m * n / n_pes)`` of
    its largest-magnitude weights (capped at the slice size, so a PE with fewer
    rows when m is not a multiple of n_pes may keep fewer, and a PE with no rows
    keeps nothing). Equal per-PE work is what removes EIE's load imbalance.
    """
    w = check_weights(weights)
    d = check_density(density)
    pes = check_pes(n_pes)
    return _balanced_mask(w, d, pes, absolute=True)


def apply_mask(weights: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """New array equal to ``weights`` with every pruned entry exactly 0 (dtype kept)."""
    w = check_weights(weights)
    m = check_mask(mask, w.shape)
    return np.where(m, w, w.dtype.type(0))


def masked_update(weights: np.ndarray, grad: np.ndarray, mask: np.ndarray, lr: float) -> np.ndarray:
    """One SGD step ``w -= lr * grad`` that leaves pruned weights at exactly 0.

    Used while retraining a pruned layer: the gradient of a pruned weight is
    not zero in general, so without the mask it would come back to life.
    Updates ``weights`` in place and returns it.
    """
    w = check_weights(weights)
    m = check_mask(mask, w.shape)
    if not isinstance(grad, np.ndarray) or grad.shape != w.shape:
        shape = getattr(grad, "shape", type(grad).__name__)
        raise EieInputError(f"grad has shape {shape}, expected {w.shape} (the weights' shape)")
    check_finite(grad, "grad")
    if not isinstance(lr, int | float | np.number) or not math.isfinite(float(lr)):
        raise EieInputError(f"lr must be a finite number, got {lr!r}")
    if not w.flags.writeable:
        raise EieInputError("weights must be writeable: masked_update works in place")
    step = np.multiply(grad, lr, dtype=w.dtype)
    step[~m] = 0  # pruned weights get no update...
    w -= step
    w[~m] = 0  # ...and are forced to exact zero even if they were not zero before
    return w


def iterative_prune(
    weights: np.ndarray,
    densities: Sequence[float],
    retrain: Callable[[np.ndarray, np.ndarray], np.ndarray],
    *,
    n_pes: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Prune and retrain in several steps, as Deep Compression does.

    For each target density of the non-increasing schedule: prune the current
    weights (balanced over ``n_pes`` PEs if given), zero the pruned ones and
    call ``retrain(weights, mask)``, which returns new weights. A weight pruned
    once stays pruned (selection only ranks still-kept weights), and whatever
    ``retrain`` does to pruned entries is undone by re-applying the mask.
    ``weights`` is not modified. Returns ``(weights, mask)``.
    """
    w = check_weights(weights).copy()
    try:
        schedule = [float(d) for d in densities]
    except (TypeError, ValueError):
        raise EieInputError(f"densities must be a sequence of numbers, got {densities!r}") from None
    if not schedule:
        raise EieInputError("densities is empty: give at least one target density")
    for i, d in enumerate(schedule):
        check_density(d, f"densities[{i}]")
        if i and d > schedule[i - 1]:
            raise EieInputError(
                f"densities must be non-increasing, but densities[{i}]={d!r} > "
                f"densities[{i - 1}]={schedule[i - 1]!r}"
            )
    pes = None if n_pes is None else check_pes(n_pes)
    if not callable(retrain):
        raise EieInputError(f"retrain must be callable, got {type(retrain).__name__}")

    mask = np.ones(w.shape, dtype=bool)
    for step, d in enumerate(schedule):
        # Already-pruned weights rank below every kept one (magnitudes are >= 0),
        # so with a non-increasing schedule the new mask is a subset of the old.
        score = np.where(mask, np.abs(w), -1.0).astype(w.dtype, copy=False)
        if pes is None:
            new = _top_k_mask(score, round(d * w.size))
        else:
            new = _balanced_mask(score, d, pes)
        mask &= new
        w = np.where(mask, w, w.dtype.type(0))
        out = retrain(w, mask.copy())
        if not isinstance(out, np.ndarray) or out.shape != w.shape:
            shape = getattr(out, "shape", type(out).__name__)
            raise EieInputError(
                f"retrain returned shape {shape} at step {step}, expected {w.shape}"
            )
        check_finite(out, f"weights returned by retrain at step {step}")
        w = np.where(mask, out, 0).astype(w.dtype, copy=False)
    return w, mask


def density(mask_or_weights: np.ndarray) -> float:
    """Fraction kept: True entries of a bool mask, or non-zero entries of weights."""
    a = np.asarray(mask_or_weights)
    if a.size == 0:
        raise EieInputError(f"density of an empty array (shape {a.shape}) is undefined")
    return float(np.count_nonzero(a)) / a.size

