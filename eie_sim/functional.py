"""The functional model: section 3's fixed-point arithmetic, as pure functions.

Both engines call these and nothing else for arithmetic: the SimPy arithmetic
unit applies :func:`mac_entries` to one column slice per visit, the fast engine
calls it from its compiled loop. One implementation, so the engines cannot
disagree on a bit.
"""

from __future__ import annotations

import numba
import numpy as np

from compressor.fixedpoint import INT16_MAX, INT16_MIN, to_fixed


@numba.njit(cache=True)
def mac_entries(acc, rows, codes, first, end, a_fix, cb_fix, fw, lo, hi):
    """``acc[row] = clamp_A(acc[row] + ((cb[code] * a + 2**(fw-1)) >> fw))`` for entries
    ``first..end-1`` in order.

    ``>>`` on int64 is an arithmetic shift (floor), as the contract asks. Padding
    entries have code 0, whose codebook value is 0, so they add nothing. An index
    range rather than sliced arrays: a slice per column visit costs more than its MACs.
    """
    half = (1 << (fw - 1)) if fw > 0 else 0
    for i in range(first, end):
        product = np.int64(cb_fix[codes[i]]) * np.int64(a_fix)
        x = acc[rows[i]] + ((product + half) >> fw)
        if x > hi:
            x = hi
        elif x < lo:
            x = lo
        acc[rows[i]] = x


def write_back(acc: np.ndarray, relu: bool) -> np.ndarray:
    """The output registers: ``clamp16(relu(acc))``, or ``clamp16(acc)`` for a last layer."""
    out = np.maximum(acc, 0) if relu else acc
    return np.clip(out, INT16_MIN, INT16_MAX).astype(np.int64)


def input_fix(x: np.ndarray, fa: int) -> np.ndarray:
    """The user's float activations in the model's activation format."""
    return to_fixed(x, fa)


def bias_fix(fa: int) -> int:
    """The bias column's constant activation 1.0 in the activation format."""
    return int(to_fixed(1.0, fa))
