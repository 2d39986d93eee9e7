"""Weight sharing by 1-D k-means, the second stage of Deep Compression.

Each layer gets a codebook of ``2**wbits`` floats. Code 0 is reserved for the
value 0.0 (docs/ARCHITECTURE.md section 2: it is what pruned weights and EIE's
padding entries decode to), so the kept weights are clustered into
``2**wbits - 1`` centroids that take codes 1..2**wbits-1.

Clustering is exactly one-dimensional, which we exploit: after one sort, every
cluster is a contiguous run of the sorted values whose boundaries are the
midpoints between consecutive centroids. A Lloyd iteration is then k binary
searches plus k prefix-sum differences (O(k log n)), and the exact optimum can
be found by dynamic programming over the sorted values (``method="optimal"``).

Assignment rule, used everywhere (Lloyd, the optimal method's final labels and
:func:`assign_codes`), so that all three agree bit for bit: a value goes to the
nearest centroid; a value exactly half-way between two goes to the lower one;
among equal centroids the first (lowest code) wins.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba
import numpy as np

from compressor.errors import EieInputError
from compressor.validate import check_finite, check_mask, check_weights

__all__ = [
    "INITS",
    "METHODS",
    "Quantized",
    "init_centroids",
    "kmeans_1d",
    "quantize",
    "assign_codes",
    "finetune_codebook",
    "quantization_sse",
]

INITS = ("linear", "density", "random")
METHODS = ("lloyd", "optimal")

# The optimal method stores a k x d int32 table of split points (d = distinct
# values). Refuse instead of exhausting memory (2**28 entries = 1 GiB).
_OPTIMAL_MAX_TABLE = 1 << 28


# --------------------------------------------------------------------------- result type


@dataclass(frozen=True)
class Quantized:
    """A weight-shared layer: per-weight codes and the codebook they index."""

    codes: np.ndarray  # uint8, same shape as the weights; 0 = zero / pruned
    codebook: np.ndarray  # float64[2**wbits], codebook[0] == 0.0
    wbits: int

    def __post_init__(self) -> None:
        _check_wbits(self.wbits)
        if not isinstance(self.codes, np.ndarray) or self.codes.dtype != np.uint8:
            raise EieInputError("Quantized.codes must be a uint8 numpy array")
        cb = self.codebook
        if not isinstance(cb, np.ndarray) or cb.shape != (2**self.wbits,):
            shape = getattr(cb, "shape", None)
            raise EieInputError(
                f"Quantized.codebook must have shape ({2**self.wbits},) for wbits={self.wbits}, "
                f"got {shape}"
            )
        if cb[0] != 0.0:
            raise EieInputError(f"Quantized.codebook[0] must be 0.0 (reserved), got {cb[0]!r}")
        if self.codes.size and int(self.codes.max()) >= 2**self.wbits:
            raise EieInputError(
                f"Quantized.codes holds {int(self.codes.max())}, not below 2**wbits={2**self.wbits}"
            )

    def dense(self) -> np.ndarray:
        """The quantized float64 matrix, ``codebook[codes]``."""
        return self.codebook[self.codes]


# --------------------------------------------------------------------------- validation


def _check_wbits(wbits: object) -> int:
    if isinstance(wbits, bool) or not isinstance(wbits, int | np.integer) or not 2 <= wbits <= 8:
        raise EieInputError(f"wbits must be an integer in 2..8, got {wbits!r}")
    return int(wbits)


def _check_choice(value: object, allowed: tuple[str, ...], name: str) -> str:
    if value not in allowed:
        raise EieInputError(f"unknown {name} {value!r}; allowed: {', '.join(allowed)}")
    return str(value)


def _check_values(values: object, name: str = "values") -> np.ndarray:
    """1-D, non-empty, finite real values, returned as float64."""
    if not isinstance(values, np.ndarray):
        raise EieInputError(f"{name} must be a numpy array, got {type(values).__name__}")
    if values.ndim != 1:
        raise EieInputError(f"{name} must be 1-D, got shape {values.shape}")
    if values.size == 0:
        raise EieInputError(f"{name} is empty")
    if values.dtype.kind not in "fiu":
        raise EieInputError(f"{name} must be real numbers, got dtype {values.dtype}")
    check_finite(values, name)
    return values.astype(np.float64, copy=False)


def _check_k(k: object) -> int:
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise EieInputError(f"k (number of clusters) must be an integer >= 1, got {k!r}")
    return int(k)


# --------------------------------------------------------------------------- assignment


def _midpoints(sorted_centroids: np.ndarray) -> np.ndarray:
    # 0.5*a + 0.5*b cannot overflow; numba's _lloyd uses the identical expression
    # so both compute the very same boundaries.
    return 0.5 * sorted_centroids[:-1] + 0.5 * sorted_centroids[1:]


def _nearest(values: np.ndarray, sorted_centroids: np.ndarray) -> np.ndarray:
    """Index of the nearest centroid (ties to the lower one), O(n log k)."""
    # side="left" counts boundaries strictly below the value: a value equal to a
    # boundary stays with the lower centroid.
    return np.searchsorted(_midpoints(sorted_centroids), values, side="left")


# --------------------------------------------------------------------------- initialisation


def _pad_distinct(uniq: np.ndarray, k: int) -> np.ndarray:
    """All distinct values, then the largest repeated until there are k centroids.

    This is the documented rule for "fewer distinct values than clusters": every
    distinct value gets its own centroid (zero error) and the spare ones
    duplicate the largest value, which keeps the centroids sorted. With the
    assignment rule (first of equal centroids wins) the spares are never used.
    """
    return np.concatenate([uniq, np.full(k - uniq.size, uniq[-1])])


def _init_sorted(sv: np.ndarray, k: int, init: str, seed: int) -> np.ndarray:
    """Initial centroids (float64) from sorted values ``sv`` (float32 or float64)."""
    if init == "linear":
        # The paper's default: large weights matter most and are rare, so only an
        # evenly spaced grid is sure to put centroids out in the tails.
        return np.linspace(np.float64(sv[0]), np.float64(sv[-1]), k)
    if init == "density":
        # Evenly spaced over the CDF: centre of each of k equal-probability bins.
        return np.quantile(sv.astype(np.float64, copy=False), (np.arange(k) + 0.5) / k)
    # Forgy: k distinct values drawn at random (distinct, so no cluster starts empty).
    uniq = _distinct_sorted(sv).astype(np.float64, copy=False)
    if uniq.size <= k:
        return _pad_distinct(uniq, k)
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(uniq, size=k, replace=False))


def _distinct_sorted(sv: np.ndarray) -> np.ndarray:
    keep = np.empty(sv.size, dtype=bool)
    keep[0] = True
    np.not_equal(sv[1:], sv[:-1], out=keep[1:])
    return sv[keep]


def init_centroids(values: np.ndarray, k: int, init: str, seed: int) -> np.ndarray:
    """Initial centroids (float64[k], ascending) for 1-D k-means.

    ``linear``: evenly spaced over [min, max] (the paper's default, best for
    the large, rare weights); ``density``: evenly spaced over the CDF
    (quantiles); ``random``: Forgy, k distinct values sampled with ``seed``
    (if there are fewer than k distinct values: all of them, then the largest
    repeated).
    """
    v = _check_values(values)
    k = _check_k(k)
    init = _check_choice(init, INITS, "init")
    sv = np.sort(v)
    return _init_sorted(sv, k, init, int(seed))


# --------------------------------------------------------------------------- Lloyd (numba)


@numba.njit(cache=True)
def _split_points(sv: np.ndarray, c: np.ndarray, splits: np.ndarray) -> None:
    """splits[j]..splits[j+1] = sorted positions of cluster j (values <= boundary go low)."""
    n = sv.size
    k = c.size
    splits[0] = 0
    splits[k] = n
    for j in range(1, k):
        b = 0.5 * c[j - 1] + 0.5 * c[j]
        # first index whose value is > b (binary search, like searchsorted side="right")
        lo = splits[j - 1]
        hi = n
        while lo < hi:
            mid = (lo + hi) >> 1
            if sv[mid] <= b:
                lo = mid + 1
            else:
                hi = mid
        splits[j] = lo


# Lloyd's prefix sums are kept at every _PREFIX_STRIDE-th position only (the rest are
# re-added from the nearest one on demand): n / 64 floats instead of n + 1.
_PREFIX_STRIDE = 64


@numba.njit(cache=True)
def _prefix_at(sv: np.ndarray, shift: float, chk: np.ndarray, i: int) -> float:
    """The running sum of ``sv[t] - shift`` over t < i, continued from the checkpoint below i
    in the same order of additions as the full prefix array, so bit for bit its value."""
    c = i // _PREFIX_STRIDE
    acc = chk[c]
    for t in range(c * _PREFIX_STRIDE, i):
        acc += np.float64(sv[t]) - shift
    return acc


@numba.njit(cache=True)
def _lloyd(sv: np.ndarray, c0: np.ndarray, max_iter: int, tol: float) -> tuple[np.ndarray, int]:
    """Lloyd's algorithm on sorted values (float32 or float64); returns (centroids, iterations).

    Means come from prefix sums of the values shifted by their median (less
    cancellation), accumulated in float64, so an iteration costs O(k log n); only every
    64th prefix sum is stored (:func:`_prefix_at`), which keeps the memory at n / 64
    floats and lets float32 values be clustered as they are (float64 arithmetic on
    them is exact to convert, so the result equals that of their float64 copy). An empty
    cluster keeps its old centroid (deterministic; in 1-D this keeps the centroids
    sorted). Stops when the assignment no longer changes, the largest centroid move is
    <= tol, or after max_iter updates. The labels implied by the returned
    centroids are always their nearest-centroid assignment.
    """
    n = sv.size
    k = c0.size
    shift = np.float64(sv[n // 2])
    chk = np.empty(n // _PREFIX_STRIDE + 1)
    acc = 0.0
    for i in range(n):
        if i % _PREFIX_STRIDE == 0:
            chk[i // _PREFIX_STRIDE] = acc
        acc += np.float64(sv[i]) - shift
    if n % _PREFIX_STRIDE == 0:
        chk[n // _PREFIX_STRIDE] = acc
    c = c0.copy()
    splits = np.empty(k + 1, dtype=np.int64)
    new_splits = np.empty(k + 1, dtype=np.int64)
    prefix = np.empty(k + 1)
    _split_points(sv, c, splits)
    it = 0
    while it < max_iter:
        it += 1
        move = 0.0
        for j in range(k + 1):
            prefix[j] = _prefix_at(sv, shift, chk, splits[j])
        for j in range(k):
            lo = splits[j]
            hi = splits[j + 1]
            if hi > lo:
                m = shift + (prefix[j + 1] - prefix[j]) / (hi - lo)
                # a mean lies within its cluster's range; clamp away rounding drift
                m = min(max(m, np.float64(sv[lo])), np.float64(sv[hi - 1]))
                move = max(move, abs(m - c[j]))
                c[j] = m
        _split_points(sv, c, new_splits)
        same = True
        for j in range(k + 1):
            if new_splits[j] != splits[j]:
                same = False
            splits[j] = new_splits[j]
        if same or move <= tol:
            break
    return c, it


# --------------------------------------------------------------------------- optimal (numba)


@numba.njit(cache=True, inline="always")
def _ssq(j: int, i: int, cw: np.ndarray, cs: np.ndarray, cq: np.ndarray) -> float:
    """Weighted squared error of points j..i (inclusive) around their mean."""
    w = cw[i + 1] - cw[j]
    s = cs[i + 1] - cs[j]
    r = (cq[i + 1] - cq[j]) - s * s / w
    return r if r > 0.0 else 0.0


@numba.njit(cache=True)
def _optimal_splits(x: np.ndarray, wt: np.ndarray, k: int) -> np.ndarray:
    """Exact 1-D k-means over distinct sorted points ``x`` with counts ``wt`` (size d > k).

    D[q][i] = least error of points 0..i in q+1 clusters
            = min_j D[q-1][j-1] + ssq(j, i).
    The best j is monotone in i, so each row is filled by divide and conquer
    (O(d log d) per row, as Ckmeans.1d.dp's log-linear variant). Scanning j
    downwards, ssq(j, i) only grows and D[q-1][j-1] never drops below
    D[q-1][jlow-1], which gives an early exit. Returns the start index of each
    of the k clusters (ascending).
    """
    d = x.size
    shift = x[d // 2]
    cw = np.zeros(d + 1)
    cs = np.zeros(d + 1)
    cq = np.zeros(d + 1)
    for i in range(d):
        y = x[i] - shift
        cw[i + 1] = cw[i] + wt[i]
        cs[i + 1] = cs[i] + wt[i] * y
        cq[i + 1] = cq[i] + wt[i] * y * y
    prev = np.empty(d)
    cur = np.empty(d)
    for i in range(d):
        prev[i] = _ssq(0, i, cw, cs, cq)
    jtab = np.zeros((k, d), dtype=np.int32)
    stack = np.empty((128, 4), dtype=np.int64)
    for q in range(1, k):
        # row q needs i >= q (each cluster non-empty) and i <= d-k+q (room for the rest)
        imin = q
        imax = d - k + q
        top = 0
        stack[0, 0] = imin
        stack[0, 1] = imax
        stack[0, 2] = q
        stack[0, 3] = imax
        top = 1
        while top > 0:
            top -= 1
            ilo = stack[top, 0]
            ihi = stack[top, 1]
            jlo = stack[top, 2]
            jhi = stack[top, 3]
            i = (ilo + ihi) >> 1
            jlow = max(jlo, q)
            jhigh = min(jhi, i)
            best = np.inf
            bestj = jhigh
            floor_prev = prev[jlow - 1]
            for j in range(jhigh, jlow - 1, -1):
                s = _ssq(j, i, cw, cs, cq)
                if s + floor_prev >= best:
                    break  # no smaller j can beat best
                v = s + prev[j - 1]
                if v < best:
                    best = v
                    bestj = j
            cur[i] = best
            jtab[q, i] = bestj
            if i + 1 <= ihi:
                stack[top, 0] = i + 1
                stack[top, 1] = ihi
                stack[top, 2] = bestj
                stack[top, 3] = jhi
                top += 1
            if ilo <= i - 1:
                stack[top, 0] = ilo
                stack[top, 1] = i - 1
                stack[top, 2] = jlo
                stack[top, 3] = bestj
                top += 1
        prev, cur = cur, prev
    starts = np.empty(k, dtype=np.int64)
    i = d - 1
    for q in range(k - 1, -1, -1):
        j = jtab[q, i] if q > 0 else 0
        starts[q] = j
        i = j - 1
    return starts


@numba.njit(cache=True)
def _weighted_means(x: np.ndarray, wt: np.ndarray, starts: np.ndarray) -> np.ndarray:
    k = starts.size
    d = x.size
    c = np.empty(k)
    for q in range(k):
        lo = starts[q]
        hi = starts[q + 1] if q + 1 < k else d
        sw = 0.0
        sx = 0.0
        for i in range(lo, hi):
            sw += wt[i]
            sx += wt[i] * x[i]
        c[q] = min(max(sx / sw, x[lo]), x[hi - 1])
    return c


# --------------------------------------------------------------------------- k-means


def kmeans_1d(
    values: np.ndarray,
    k: int,
    *,
    init: str = "linear",
    method: str = "lloyd",
    seed: int = 0,
    max_iter: int = 100,
    tol: float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """1-D k-means: ``(centroids float64[k] ascending, labels int64 per value)``.

    ``method="lloyd"``: Lloyd's algorithm from ``init`` (see
    :func:`init_centroids`). ``method="optimal"``: the exact minimum of the
    total squared error by dynamic programming (``init``/``seed``/``max_iter``
    are ignored). With at most k distinct values, each distinct value is its
    own centroid and the spare centroids repeat the largest value (never
    used by any label). Labels are always the nearest centroid (ties low).
    """
    v = _check_values(values)
    k = _check_k(k)
    init = _check_choice(init, INITS, "init")
    method = _check_choice(method, METHODS, "method")
    max_iter = _check_max_iter(max_iter)
    if not isinstance(tol, int | float | np.number) or not (float(tol) >= 0.0) or math.isinf(tol):
        raise EieInputError(f"tol must be a finite number >= 0, got {tol!r}")

    sv = np.sort(v)
    centroids = _fit_sorted(sv, k, init, method, int(seed), int(max_iter), float(tol))
    return centroids, _nearest(v, centroids).astype(np.int64)


def _check_max_iter(max_iter: object) -> int:
    if isinstance(max_iter, bool) or not isinstance(max_iter, int | np.integer) or max_iter < 0:
        raise EieInputError(f"max_iter must be an integer >= 0, got {max_iter!r}")
    return int(max_iter)


def _fit_sorted(sv: np.ndarray, k: int, init: str, method: str, seed: int, max_iter: int,
                tol: float) -> np.ndarray:
    """Centroids (float64[k], ascending) of sorted, finite values ``sv`` (float32 or float64:
    float32 values give exactly the centroids of their float64 copy, at half the memory)."""
    n_distinct = 1 + int(np.count_nonzero(sv[1:] != sv[:-1]))
    if n_distinct <= k:
        centroids = _pad_distinct(_distinct_sorted(sv).astype(np.float64), k)
    elif method == "lloyd":
        c0 = _init_sorted(sv, k, init, seed)
        centroids, _ = _lloyd(sv, c0.astype(np.float64), max_iter, tol)
    else:
        table = k * n_distinct
        if table > _OPTIMAL_MAX_TABLE:
            raise EieInputError(
                f"method 'optimal' with k={k} over {n_distinct} distinct values needs a "
                f"{table * 4 / 2**30:.1f} GiB table (limit {_OPTIMAL_MAX_TABLE * 4 / 2**30:.0f} "
                "GiB); use method 'lloyd' or fewer bits"
            )
        # Collapse duplicates into weighted points: the DP runs over distinct values.
        first = np.flatnonzero(np.r_[True, sv[1:] != sv[:-1]])
        counts = np.diff(np.r_[first, sv.size]).astype(np.float64)
        uniq = sv[first].astype(np.float64)
        starts = _optimal_splits(uniq, counts, k)
        centroids = _weighted_means(uniq, counts, starts)
    # Lloyd iterations and the optimal partition keep the centroids sorted; the
    # sort guards the interval assignment against any rounding surprise.
    return np.sort(centroids)


# --------------------------------------------------------------------------- layer-level API


@numba.njit(cache=True)
def _count_kept(w, mask, has_mask):  # pragma: no cover - numba
    """Entries that are non-zero and (with ``has_mask``) in the mask."""
    m, n = w.shape
    count = 0
    for i in range(m):
        for j in range(n):
            if w[i, j] != 0 and (not has_mask or mask[i, j]):
                count += 1
    return count


@numba.njit(cache=True)
def _gather_kept(w, mask, has_mask, out):  # pragma: no cover - numba
    """The kept entries (as :func:`_count_kept` counts them) into ``out``, row-major."""
    m, n = w.shape
    pos = 0
    for i in range(m):
        for j in range(n):
            x = w[i, j]
            if x != 0 and (not has_mask or mask[i, j]):
                out[pos] = x
                pos += 1


@numba.njit(cache=True)
def _assign_kept(w, mask, has_mask, mids, codes):  # pragma: no cover - numba
    """codes[i, j] = 1 + index of the nearest centroid of every kept entry: the number of
    midpoints strictly below the value (np.searchsorted side="left", as :func:`_nearest`)."""
    m, n = w.shape
    for i in range(m):
        for j in range(n):
            x = w[i, j]
            if x != 0 and (not has_mask or mask[i, j]):
                xf = np.float64(x)
                lo = 0
                hi = mids.shape[0]
                while lo < hi:
                    mid = (lo + hi) >> 1
                    if mids[mid] < xf:
                        lo = mid + 1
                    else:
                        hi = mid
                codes[i, j] = lo + 1


def _bias_column(bias: object, m: int) -> np.ndarray:
    b = np.asarray(bias)
    if b.dtype.kind not in "fiu" or b.shape != (m,):
        raise EieInputError(f"bias must be a real vector of {m} values (one per output row), got dtype "
                            f"{b.dtype} shape {b.shape}")
    b = b.astype(np.float64)
    check_finite(b, "bias")
    return b


def quantize(
    weights: np.ndarray,
    mask: np.ndarray | None = None,
    *,
    wbits: int = 4,
    init: str = "linear",
    method: str = "lloyd",
    seed: int = 0,
    max_iter: int = 100,
    bias: np.ndarray | None = None,
) -> Quantized:
    """Share weights: cluster the kept weights into ``2**wbits - 1`` centroids.

    Kept weights are ``(weights != 0) & mask`` (mask None = every weight); they
    take codes 1..2**wbits-1, everything else code 0, which decodes to 0.0. A
    layer with no kept weight gets an all-zero codebook and all-zero codes.
    ``bias`` (one value per row) is appended as the last column, never masked (a zero
    stays code 0), and shares the codebook: the pipeline's bias column.

    Memory: only the kept values are copied (as float32 for a float32 layer whose bias,
    if any, float32 holds exactly: the centroids are those of the float64 values bit for
    bit), sorted in place, and the codes are written straight from the weights, so a
    float32 layer needs about its own size again, not five float64 copies of it.
    """
    w = check_weights(weights)
    wbits = _check_wbits(wbits)
    init = _check_choice(init, INITS, "init")
    method = _check_choice(method, METHODS, "method")
    max_iter = _check_max_iter(max_iter)
    if w.dtype not in (np.float32, np.float64):  # float16, longdouble: the kernels take these two
        w = w.astype(np.float64)
    has_mask = mask is not None
    mask = check_mask(mask, w.shape) if has_mask else np.zeros((0, 0), dtype=bool)
    m, n = w.shape
    b = None if bias is None else _bias_column(bias, m)
    exact32 = b is None or np.array_equal(b.astype(np.float32).astype(np.float64), b)
    dtype = np.float32 if w.dtype == np.float32 and exact32 else np.float64
    n_w = _count_kept(w, mask, has_mask)
    b_kept = None if b is None else b != 0
    values = np.empty(n_w + (0 if b is None else int(np.count_nonzero(b_kept))), dtype)
    _gather_kept(w, mask, has_mask, values)
    if b is not None:
        values[n_w:] = b[b_kept]
    codebook = np.zeros(2**wbits, dtype=np.float64)
    codes = np.zeros((m, n + int(b is not None)), dtype=np.uint8)
    if values.size:
        values.sort()
        centroids = _fit_sorted(values, 2**wbits - 1, init, method, int(seed), max_iter, 0.0)
        del values
        mids = _midpoints(centroids)
        _assign_kept(w, mask, has_mask, mids, codes[:, :n])
        if b is not None:
            codes[b_kept, n] = (_nearest(b[b_kept], centroids) + 1).astype(np.uint8)
        codebook[1:] = centroids
    return Quantized(codes=codes, codebook=codebook, wbits=wbits)


def assign_codes(weights: np.ndarray, mask: np.ndarray | None, codebook: np.ndarray) -> np.ndarray:
    """Codes for ``weights`` under an existing codebook (uint8, same shape).

    Kept weights (non-zero and in ``mask``) get the nearest non-zero code's
    centroid (ties: lower value, then lower code); the rest get code 0. Used to
    re-encode weights after retraining with a fixed or fine-tuned codebook.
    """
    w = check_weights(weights)
    cb = np.asarray(codebook, dtype=np.float64)
    if cb.ndim != 1 or cb.size < 2 or cb.size > 256:
        raise EieInputError(
            f"codebook must be 1-D with 2..256 entries (code 0 plus centroids), got shape "
            f"{cb.shape}"
        )
    check_finite(cb, "codebook")
    kept = w != 0
    if mask is not None:
        kept &= check_mask(mask, w.shape)
    codes = np.zeros(w.shape, dtype=np.uint8)
    if kept.any():
        cents = cb[1:]
        # A fine-tuned codebook need not be sorted: assign over the sorted order
        # and map back (stable sort, so equal centroids resolve to the lower code).
        order = np.argsort(cents, kind="stable")
        idx = _nearest(w[kept].astype(np.float64), cents[order])
        codes[kept] = (order[idx] + 1).astype(np.uint8)
    return codes


def finetune_codebook(
    codebook: np.ndarray, codes: np.ndarray, grad: np.ndarray, lr: float
) -> np.ndarray:
    """One step of the paper's centroid fine-tuning; returns a new float64 codebook.

    The gradient of centroid c is the sum of dL/dW over the weights with code
    c (weight sharing ties them together); the step is ``codebook - lr * g``.
    Code 0 is the fixed zero, so codebook[0] stays 0.0. ``grad`` is the dense
    dL/dW array of any framework, same shape as ``codes``.
    """
    cb = np.asarray(codebook, dtype=np.float64)
    if cb.ndim != 1 or cb.size < 1:
        raise EieInputError(f"codebook must be a non-empty 1-D array, got shape {cb.shape}")
    check_finite(cb, "codebook")
    if not isinstance(codes, np.ndarray) or codes.dtype.kind not in "iu":
        raise EieInputError("codes must be an integer numpy array")
    if not isinstance(grad, np.ndarray) or grad.shape != codes.shape:
        shape = getattr(grad, "shape", type(grad).__name__)
        raise EieInputError(f"grad has shape {shape}, expected {codes.shape} (the codes' shape)")
    check_finite(grad, "grad")
    if codes.size and (int(codes.min()) < 0 or int(codes.max()) >= cb.size):
        raise EieInputError(
            f"codes must lie in 0..{cb.size - 1} for a codebook of {cb.size} entries, got "
            f"{int(codes.min())}..{int(codes.max())}"
        )
    if not isinstance(lr, int | float | np.number) or not math.isfinite(float(lr)):
        raise EieInputError(f"lr must be a finite number, got {lr!r}")
    g = np.bincount(codes.ravel(), weights=grad.ravel().astype(np.float64), minlength=cb.size)
    out = cb - float(lr) * g
    out[0] = 0.0
    return out


def quantization_sse(
    values: np.ndarray, codebook_or_centroids: np.ndarray, labels: np.ndarray
) -> float:
    """Total squared error ``sum((values - centroids[labels])**2)`` in float64.

    Works for kmeans_1d output (centroids, labels) and for a layer
    (weights, Quantized.codebook, Quantized.codes).
    """
    if not isinstance(values, np.ndarray) or not isinstance(labels, np.ndarray):
        raise EieInputError("values and labels must be numpy arrays")
    if values.shape != labels.shape:
        raise EieInputError(f"values has shape {values.shape} but labels has {labels.shape}")
    cb = np.asarray(codebook_or_centroids, dtype=np.float64)
    if cb.ndim != 1:
        raise EieInputError(f"codebook/centroids must be 1-D, got shape {cb.shape}")
    if labels.dtype.kind not in "iu":
        raise EieInputError(f"labels must be integers, got dtype {labels.dtype}")
    if labels.size and (int(labels.min()) < 0 or int(labels.max()) >= cb.size):
        raise EieInputError(f"labels must lie in 0..{cb.size - 1}")
    check_finite(values, "values")
    diff = values.astype(np.float64) - cb[labels]
    return float(np.dot(diff.ravel(), diff.ravel()))
