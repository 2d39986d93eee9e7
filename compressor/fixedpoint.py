"""16-bit fixed-point formats and conversion (docs/ARCHITECTURE.md section 3).

Both halves of eie-sim use these: the compressor to record the codebook and
activation formats in a ``.eie`` file, the simulator to convert activations and
run the multiply-accumulate. Every value is a Python int or an integer numpy
array in two's complement; only the conversion from float touches floats.
"""

from __future__ import annotations

import math

import numpy as np

from compressor.errors import EieInputError

INT16_MIN = -(1 << 15)
INT16_MAX = (1 << 15) - 1


def frac_bits(max_magnitude: float) -> int:
    """Fraction bits ``f`` of the Q(15-f).f format that holds magnitudes up to ``max_magnitude``.

    ``f = 15 - max(0, floor(log2 M) + 1)``; M = 0 gives 15. ``math.frexp`` gives the
    exponent exactly (M = mant * 2**e, 0.5 <= mant < 1, so floor(log2 M) + 1 = e), which
    ``np.log2`` would not at exact powers of two.
    """
    m = float(max_magnitude)
    if not math.isfinite(m) or m < 0:
        raise EieInputError(f"frac_bits: magnitude must be finite and >= 0, got {max_magnitude!r}")
    if m == 0.0:
        return 15
    _, e = math.frexp(m)
    if e > 15:
        raise EieInputError(f"magnitude {max_magnitude:g} does not fit 16-bit fixed point "
                            f"(largest representable is below 2**15 = 32768)")
    return 15 - max(0, e)


def to_fixed(x: np.ndarray | float, f: int) -> np.ndarray:
    """Round ``x`` to Q(15-f).f: ``clamp16(floor(x * 2**f + 0.5))`` as int64."""
    scaled = np.floor(np.asarray(x, dtype=np.float64) * float(1 << f) + 0.5)
    return np.clip(scaled, INT16_MIN, INT16_MAX).astype(np.int64)


def from_fixed(x: np.ndarray | int, f: int) -> np.ndarray:
    """The real value of Q(15-f).f integers."""
    return np.asarray(x, dtype=np.float64) / float(1 << f)


def acc_limits(acc_bits: int) -> tuple[int, int]:
    """Saturation bounds of a two's complement accumulator of ``acc_bits`` bits."""
    return -(1 << (acc_bits - 1)), (1 << (acc_bits - 1)) - 1


def codebook_frac_bits(codebook: np.ndarray) -> int:
    """``fw``: the format of a layer's codebook, from its largest magnitude."""
    return frac_bits(float(np.max(np.abs(codebook))) if len(codebook) else 0.0)
