"""Pruning, the first stage of Deep Compression: magnitude, Wanda and N:M structured rules.

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

For transformers, whose activations have a few channels far larger than the rest,
two rules from the LLM pruning literature:

* :func:`prune_wanda` (Sun et al. 2023, "A Simple and Effective Pruning Approach for
  Large Language Models"): score ``|W_ij| * ||X_j||_2``, the L2 norm of input channel j
  over calibration tokens (:func:`input_norms_of`), keeping the top fraction of each
  output row (Wanda's comparison group);
* :func:`prune_n_m`: N:M structured sparsity, ``n`` kept in every group of ``m``
  consecutive inputs of a row (2:4 is what sparse tensor cores run), by ``|W|`` or by
  given scores such as Wanda's (:func:`wanda_scores`).
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
    "input_norms_of",
    "wanda_scores",
    "prune_wanda",
    "prune_n_m",
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


# --------------------------------------------------------------------------- Wanda and N:M


def _where(name: str | None) -> str:
    return f"layer {name!r}: " if name is not None else ""


def input_norms_of(activations: np.ndarray, name: str | None = None) -> np.ndarray:
    """Per input channel, the L2 norm over calibration tokens of a ``tokens x n`` array
    (float64 ``(n,)``): Wanda's ``||X_j||_2``.

    Accumulated in float64 so that float32 activations of many tokens lose nothing.
    """
    where = _where(name)
    if not isinstance(activations, np.ndarray):
        raise EieInputError(f"{where}activations must be a numpy array (tokens x inputs), got "
                            f"{type(activations).__name__}")
    if activations.ndim != 2:
        raise EieInputError(f"{where}activations must be a 2-D (tokens x inputs) array, got shape "
                            f"{activations.shape}")
    if activations.dtype.kind not in "fiu":
        raise EieInputError(f"{where}activations must be real numbers, got dtype {activations.dtype}")
    if activations.shape[0] == 0:
        raise EieInputError(f"{where}activations hold no calibration token (shape {activations.shape}); "
                            "Wanda needs at least one")
    check_finite(activations, f"{where}activations")
    x = activations.astype(np.float64, copy=False)
    return np.sqrt(np.einsum("ij,ij->j", x, x))


def _check_norms(input_norms: object, n: int, name: str | None) -> np.ndarray:
    where = _where(name)
    if input_norms is None:
        raise EieInputError(f"{where}Wanda needs calibration activations: pass the input norms of "
                            "the layer's inputs (input_norms_of(activations), activations tokens x "
                            f"{n})")
    norms = np.asarray(input_norms)
    if norms.dtype.kind not in "fiu" or norms.shape != (n,):
        raise EieInputError(f"{where}input norms must be {n} real numbers (one per input channel), got "
                            f"dtype {norms.dtype} shape {norms.shape}")
    check_finite(norms, f"{where}input norms")
    if np.any(norms < 0):
        i = int(np.argmax(norms < 0))
        raise EieInputError(f"{where}input norms must be >= 0 (they are L2 norms), got "
                            f"{float(norms[i])!r} at input {i}")
    return norms.astype(np.float64, copy=False)


def wanda_scores(weights: np.ndarray, input_norms: np.ndarray, *, name: str | None = None) -> np.ndarray:
    """Wanda's importance ``|W_ij| * ||X_j||_2`` (float64, the weights' shape)."""
    w = check_weights(weights, f"{_where(name)}weights" if name else "weights")
    norms = _check_norms(input_norms, w.shape[1], name)
    return _scores(w, norms)


def _scores(w: np.ndarray, norms: np.ndarray) -> np.ndarray:
    """``|w| * norms`` per input column, in float64 (rows of ``w`` as given)."""
    return np.abs(w).astype(np.float64, copy=False) * norms[None, :]


def _top_k_per_row(scores: np.ndarray, k: int) -> np.ndarray:
    """Mask of the k largest scores of every row; ties keep the lowest column first."""
    m, n = scores.shape
    if k <= 0:
        return np.zeros(scores.shape, dtype=bool)
    if k >= n:
        return np.ones(scores.shape, dtype=bool)
    t = np.partition(scores, n - k, axis=1)[:, n - k : n - k + 1]
    keep = scores > t
    need = k - np.count_nonzero(keep, axis=1)
    ties = scores == t
    keep |= ties & (np.cumsum(ties, axis=1) <= need[:, None])
    return keep


def prune_wanda(weights: np.ndarray, input_norms: np.ndarray, density: float, *,
                name: str | None = None) -> np.ndarray:
    """Wanda: in every output row keep the ``round(density * n)`` weights of largest
    ``|W_ij| * ||X_j||_2`` (:func:`wanda_scores`; ``input_norms`` from :func:`input_norms_of`).

    Comparing within a row, not the whole layer, is what Wanda found to matter for LLMs. With
    equal norms it keeps what per-row magnitude pruning keeps. Ties keep the lowest column.
    ``name`` (the layer's) goes into error messages. Scores are formed a block of rows at a time,
    so a large layer needs no float64 copy of itself.
    """
    d = check_density(density)
    w = check_weights(weights, f"{_where(name)}weights" if name else "weights")
    norms = _check_norms(input_norms, w.shape[1], name)
    m, n = w.shape
    k = round(d * n)
    mask = np.empty(w.shape, dtype=bool)
    step = _rows_per_block(n)
    for r in range(0, m, step):
        block = _scores(w[r:r + step], norms)
        mask[r:r + block.shape[0]] = _top_k_per_row(block, k)
    return mask


def _rows_per_block(n: int) -> int:
    """Rows of an ``n``-column layer processed at once by the per-row rules (~1M values)."""
    return max(1, (1 << 20) // n)


def _check_int(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise EieInputError(f"{what} must be an integer, got {value!r}")
    return int(value)


def check_n_m(n: object, m: object) -> tuple[int, int]:
    """An N:M pattern: integers with ``1 <= n < m`` (n >= m would keep every weight)."""
    n_, m_ = _check_int(n, "N of the N:M pattern"), _check_int(m, "M of the N:M pattern")
    if m_ < 2 or not 1 <= n_ < m_:
        raise EieInputError(f"N:M pattern {n!r}:{m!r} must have 1 <= N < M (N kept in every group of "
                            "M consecutive inputs)")
    return n_, m_


def prune_n_m(weights: np.ndarray, n: int, m: int, scores: np.ndarray | None = None, *,
              name: str | None = None) -> np.ndarray:
    """N:M structured sparsity: in every row, each group of ``m`` consecutive inputs keeps its
    ``n`` largest weights by ``|W|``, or by ``scores`` (same shape, e.g. :func:`wanda_scores`).

    Returns the bool mask (True = kept): exactly ``n`` per group, density ``n / m``. Ties keep
    the lowest column of the group. The row length must be a multiple of ``m``.
    """
    n, m = check_n_m(n, m)
    w = check_weights(weights, f"{_where(name)}weights" if name else "weights")
    rows, cols = w.shape
    if cols % m:
        raise EieInputError(f"{_where(name)}the {n}:{m} pattern does not divide the row length {cols} "
                            f"(weights {rows} x {cols}): it needs a multiple of {m} inputs")
    if scores is None:
        key = w
    else:
        if not isinstance(scores, np.ndarray) or scores.shape != w.shape or scores.dtype.kind not in "fiu":
            shape = getattr(scores, "shape", type(scores).__name__)
            raise EieInputError(f"{_where(name)}scores must be a real array of the weights' shape "
                                f"{w.shape}, got {shape}")
        check_finite(scores, f"{_where(name)}scores")
        key = scores  # as float64 below, block by block: negated, unsigned scores would wrap around
    mask = np.empty(w.shape, dtype=bool)
    step = _rows_per_block(cols)
    for r in range(0, rows, step):  # a block of rows at a time: no float64 copy of a large layer
        block = key[r:r + step]
        block = np.abs(block) if scores is None else block
        block = block.astype(np.float64, copy=False).reshape(-1, cols // m, m)
        # a stable sort of the negated scores puts the largest first and ties in column order
        order = np.argsort(-block, axis=2, kind="stable")[:, :, :n]
        part = np.zeros(block.shape, dtype=bool)
        np.put_along_axis(part, order, True, axis=2)
        mask[r:r + step] = part.reshape(-1, cols)
    return mask
