"""The pointer read unit: column pointers in two SRAM banks (even and odd)."""

from __future__ import annotations

import numpy as np


class PointerReadUnit:
    """Reads ``p_s`` and ``p_s+1`` in one cycle: consecutive pointers sit in different banks."""

    def __init__(self) -> None:
        self.even_bank = np.zeros(0, np.int64)
        self.odd_bank = np.zeros(0, np.int64)
        self.reads = 0

    def load(self, pointers: np.ndarray) -> None:
        """Write the PE's column pointers (rounds outer, columns inner) into the banks."""
        self.even_bank = np.ascontiguousarray(pointers[0::2])
        self.odd_bank = np.ascontiguousarray(pointers[1::2])

    def read(self, s: int) -> tuple[int, int]:
        """Bounds of slice ``s`` in the PE's entry array: one read of each bank."""
        self.reads += 1
        if s % 2 == 0:
            return int(self.even_bank[s // 2]), int(self.odd_bank[s // 2])
        return int(self.odd_bank[s // 2]), int(self.even_bank[s // 2 + 1])
