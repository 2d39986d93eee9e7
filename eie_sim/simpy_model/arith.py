"""The arithmetic unit: codebook lookup, 16-bit multiply, saturating accumulate, bypass."""

from __future__ import annotations

import numpy as np

from eie_sim.functional import mac_entries


class ArithmeticUnit:
    """Multiply-accumulates one entry per cycle into the destination registers.

    The arithmetic itself is the functional model's :func:`mac_entries`. A bypass
    forwards the adder output when the last entry of one column and the first of
    the next hit the same register in consecutive cycles.
    """

    def __init__(self) -> None:
        self.codebook = np.zeros(16, np.int64)
        self.fw = 0
        self.lo = self.hi = 0
        self.last_reg = -1
        self.last_cycle = -2
        self.entries = 0
        self.kept = 0
        self.bypasses = 0

    def load(self, codebook_fix: np.ndarray, *, fw: int, acc_limits: tuple[int, int]) -> None:
        self.codebook = codebook_fix
        self.fw = fw
        self.lo, self.hi = acc_limits
        self.last_reg = -1
        self.last_cycle = -2

    def mac(self, dest: np.ndarray, codes: np.ndarray, regs: np.ndarray, a: int, *,
            cycle: int) -> None:
        """Entries processed at cycles ``cycle, cycle + 1, ...``."""
        n = len(codes)
        if self.last_cycle == cycle - 1 and self.last_reg == regs[0]:
            self.bypasses += 1
        self.last_reg = int(regs[n - 1])
        self.last_cycle = cycle + n - 1
        self.entries += n
        self.kept += int(np.count_nonzero(codes))
        mac_entries(dest, regs, codes, 0, n, a, self.codebook, self.fw, self.lo, self.hi)
