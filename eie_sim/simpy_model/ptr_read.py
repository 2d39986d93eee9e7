"""The pointer read unit: column pointers in the pointer SRAM, in one or two banks."""

from __future__ import annotations

from array import array

import numpy as np

from compressor.encode import unpack_bits


class PointerReadUnit:
    """Reads a column's bounds ``p_j`` and ``p_j+1`` from the pointer SRAM image.

    With two banks, consecutive pointer slots sit in different banks (even / odd), so
    both pointers come in one cycle; with one bank they take two cycles. Each bank
    access counts as a pointer read. Slots hold ``ptr_bits``-wide words.
    """

    def __init__(self, *, slots: int, banks: int, ptr_bits: int) -> None:
        self.n_banks = banks
        self.ptr_bits = ptr_bits
        self.slots = slots
        self.banks = [array("q") for _ in range(banks)]  # grown as written, up to the capacity
        self.base = 0  # first slot of the region the current segment reads
        self.reads = 0

    def write(self, slot: int, pointers: np.ndarray) -> None:
        """Write port: consecutive pointers from ``slot`` on, each truncated to ptr_bits."""
        if slot < 0 or slot + len(pointers) > self.slots:
            raise IndexError(f"pointer slots {slot}..{slot + len(pointers) - 1} are outside the "
                             f"{self.slots}-slot pointer SRAM")
        values = np.asarray(pointers, np.int64) & ((1 << self.ptr_bits) - 1)
        nb = self.n_banks
        for b in range(nb):
            first = slot + (b - slot) % nb  # the first slot from `slot` on that lives in bank b
            part = values[first - slot:: nb]
            bank, end = self.banks[b], first // nb + len(part)
            if end > len(bank):
                bank.frombytes(bytes(8 * (end - len(bank))))
            bank[first // nb: end] = array("q", part.tolist())

    def write_packed(self, slot: int, data: bytes, count: int) -> None:
        """Write port for a DRAM burst: ``count`` pointers packed at ptr_bits in ``data``."""
        self.write(slot, unpack_bits(data, self.ptr_bits, count))

    def use_region(self, slot: int) -> None:
        self.base = slot

    def read(self, index: int) -> tuple[int, int, int]:
        """(first entry, end entry, cycles) of the column whose pointer is ``index`` of the region."""
        s = self.base + index
        if self.n_banks == 2:
            self.reads += 1
            even, odd = self.banks
            if s & 1:
                return odd[s >> 1], even[(s >> 1) + 1], 1
            return even[s >> 1], odd[s >> 1], 1
        bank = self.banks[0]
        self.reads += 2
        return bank[s], bank[s + 1], 2
