"""The functional model: section 3's fixed-point arithmetic, as pure functions.

:func:`mac` is the one place the multiply-accumulate is written. The SimPy
arithmetic unit calls it per entry as plain Python; the fast engine calls its
numba-compiled twin, :data:`mac_compiled`, in its loop over entries. One source, so the engines cannot
disagree on a bit (PyMTL3's habit: the cycle model reuses the functional model).
"""

from __future__ import annotations

import numba
import numpy as np

from compressor.fixedpoint import INT16_MAX, INT16_MIN, to_fixed


def mac(acc: int, weight: int, activation: int, fw: int, lo: int, hi: int) -> int:
    """``clamp_A(acc + ((weight * activation + 2**(fw-1)) >> fw))``.

    ``weight`` is the codebook value in Q(15-fw).fw, ``activation`` in the activation
    format, so the shifted product is in the activation format. ``>>`` on integers is an
    arithmetic shift (floor), as the contract asks; ``fw = 0`` adds the product itself.
    """
    x = acc + ((weight * activation + ((1 << fw) >> 1)) >> fw)  # (1 << fw) >> 1: 2**(fw-1), 0 at fw = 0
    return hi if x > hi else (lo if x < lo else x)


#: :func:`mac` compiled, inlined into the fast engine's loops.
mac_compiled = numba.njit(cache=True, inline="always")(mac)


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
