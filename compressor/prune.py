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

# Above this many elements the k-th largest magnitude is found on a candidate
# subset (see _kth_largest); below it a plain np.partition is already fast.
_SAMPLED_SELECT_MIN = 1 << 18
_SAMPLE_SIZE = 1 << 16


# --------------------------------------------------------------------------- selection


def _kth_largest(mag: np.ndarray, k: int) -> float:
    """The k-th largest entry of the 1-D array ``mag`` (1 <= k <= mag.size).

    np.partition over tens of millions of elements costs ~0.5 s, so for large
    arrays a strided sample first gives a lower bound that (with a generous
    binomial margin) leaves slightly more than k candidates; only those are
    partitioned. The answer is exact either way: if the bound turns out too
    high (fewer than k candidates) we fall back to the full partition.
    """
    n = mag.size
    if n >= _SAMPLED_SELECT_MIN:
        sample = mag[:: n // _SAMPLE_SIZE]
        s = sample.size
        frac = k / n
        # rank in the sample that should, with ~6 sigma to spare, sit below the k-th largest
        rank = math.ceil(frac * s + 6.0 * math.sqrt(s * frac * (1.0 - frac)) + 16)
        if rank < s:
            lower = np.partition(sample, s - rank)[s - rank]
            candidates = mag[mag >= lower]
            if candidates.size >= k:
                return np.partition(candidates, candidates.size - k)[candidates.size - k].item()
    return np.partition(mag, n - k)[n - k].item()


def _top_k_mask(mag: np.ndarray, k: int) -> np.ndarray:
    """Bool mask (same shape as ``mag``) of the k largest entries.

    Ties at the cut-off are broken by flat (row-major) index, lowest first, so
    the result does not depend on the selection algorithm's internal order.
    """
    flat = mag.ravel()
    n = flat.size
    if k <= 0:
        return np.zeros(mag.shape, dtype=bool)
    if k >= n:
        return np.ones(mag.shape, dtype=bool)
    t = _kth_largest(flat, k)
    keep = flat > t
    need = k - int(np.count_nonzero(keep))
    if need > 0:
        ties = np.flatnonzero(flat == t)
        keep[ties[:need]] = True
    return keep.reshape(mag.shape)


def _balanced_mask(mag: np.ndarray, dens: float, n_pes: int) -> np.ndarray:
    """Per-PE top-k over interleaved row slices (row i belongs to PE i mod n_pes)."""
    m, n = mag.shape
    k = round(dens * m * n / n_pes)
    mask = np.zeros(mag.shape, dtype=bool)
    for pe in range(min(n_pes, m)):  # PEs beyond m own no rows and keep nothing
        rows = mag[pe::n_pes]
        mask[pe::n_pes] = _top_k_mask(np.ascontiguousarray(rows), min(k, rows.size))
    return mask


# --------------------------------------------------------------------------- public API


def prune_to_density(weights: np.ndarray, density: float) -> np.ndarray:
    """Mask keeping the ``round(density * size)`` weights of largest magnitude.

    Ties at the cut-off keep the lowest flat indices, so the mask is fully
    deterministic. ``density`` must be in (0, 1].
    """
    w = check_weights(weights)
    d = check_density(density)
    return _top_k_mask(np.abs(w), round(d * w.size))


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
    return _balanced_mask(np.abs(w), d, pes)


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
