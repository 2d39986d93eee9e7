"""Checks of arrays and numbers handed in by users, shared by every compressor stage.

Each raises :class:`EieInputError` naming the argument, the value and what is wrong,
so that pruning, weight sharing and encoding report bad input with the same words.
"""

from __future__ import annotations

import numpy as np

from compressor.errors import EieInputError


def check_weights(weights: object, name: str = "weights") -> np.ndarray:
    """Return ``weights`` as an ndarray after checking it is 2-D, floating, non-empty, finite."""
    if not isinstance(weights, np.ndarray):
        raise EieInputError(f"{name} must be a numpy array, got {type(weights).__name__}")
    if weights.ndim != 2:
        raise EieInputError(
            f"{name} must be a 2-D (outputs x inputs) matrix, got {weights.ndim}-D "
            f"shape {weights.shape}"
        )
    if weights.dtype.kind != "f":
        raise EieInputError(f"{name} must be a floating-point array, got dtype {weights.dtype}")
    if weights.size == 0:
        raise EieInputError(f"{name} is empty (shape {weights.shape})")
    check_finite(weights, name)
    return weights


def check_finite(values: np.ndarray, name: str) -> None:
    """Raise if ``values`` holds NaN or inf, naming how many and where the first one is."""
    finite = np.isfinite(values)
    if finite.all():
        return
    bad = ~finite
    count = int(np.count_nonzero(bad))
    first = np.unravel_index(int(np.argmax(bad)), values.shape)
    where = tuple(int(i) for i in first)
    raise EieInputError(
        f"{name} contains {count} non-finite value(s) (NaN or inf); the first is "
        f"{float(values[where])!r} at index {where if len(where) > 1 else where[0]}"
    )


def check_bias(bias: object, m: int, name: str) -> np.ndarray:
    """A layer's bias as float64: a finite float vector of ``m`` values (one per output).
    ``name`` is the layer's name."""
    b = np.asarray(bias)
    if b.dtype.kind != "f" or b.shape != (m,):
        raise EieInputError(f"layer {name!r} bias must be a float vector of {m} values (one per "
                            f"output), got dtype {b.dtype} shape {b.shape}")
    check_finite(b, f"layer {name!r} bias")
    return b.astype(np.float64)


def check_mask(mask: object, shape: tuple[int, ...], name: str = "mask") -> np.ndarray:
    """Check ``mask`` is a boolean ndarray of the given shape."""
    if not isinstance(mask, np.ndarray):
        raise EieInputError(f"{name} must be a numpy bool array, got {type(mask).__name__}")
    if mask.dtype != np.bool_:
        raise EieInputError(f"{name} must have dtype bool, got {mask.dtype}")
    if mask.shape != shape:
        raise EieInputError(f"{name} has shape {mask.shape}, expected {shape} (the weights' shape)")
    return mask


def check_density(value: object, name: str = "density") -> float:
    """Check a target density lies in (0, 1]."""
    try:
        d = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise EieInputError(f"{name} must be a number in (0, 1], got {value!r}") from None
    if not (0.0 < d <= 1.0):  # also rejects NaN
        raise EieInputError(f"{name} must be in (0, 1], got {value!r}")
    return d


def check_pes(n_pes: object) -> int:
    if isinstance(n_pes, bool) or not isinstance(n_pes, int | np.integer) or n_pes < 1:
        raise EieInputError(f"n_pes must be an integer >= 1, got {n_pes!r}")
    return int(n_pes)


