"""The sparse-matrix read unit: packed (v, z) entries in SRAM words, with a word buffer."""

from __future__ import annotations

import numpy as np


class SparseMatrixReadUnit:
    """Fetches a column slice's entries; a word already in the buffer costs no read.

    Words are numbered from the segment's first entry (docs/MODEL.md): a tile
    arrives in the other half of the double buffer, so its first word is a read.
    """

    def __init__(self, *, entries_per_word: int) -> None:
        self.entries_per_word = entries_per_word
        self.codes = np.zeros(0, np.uint8)
        self.regs = np.zeros(0, np.int64)
        self.base = 0
        self.buffered_word = -1
        self.word_reads = 0

    def load(self, codes: np.ndarray, regs: np.ndarray, *, entries_per_word: int) -> None:
        """The layer's entries of this PE: codes and the destination register of each."""
        self.codes = codes
        self.regs = regs
        self.entries_per_word = entries_per_word
        self.buffered_word = -1

    def start_segment(self, entry_base: int) -> None:
        self.base = entry_base
        self.buffered_word = -1

    def read(self, first: int, end: int) -> tuple[np.ndarray, np.ndarray]:
        """Entries ``first..end-1`` as (codes, destination registers), counting word reads."""
        w0 = (first - self.base) // self.entries_per_word
        w1 = (end - 1 - self.base) // self.entries_per_word
        self.word_reads += w1 - w0 + 1 - (w0 == self.buffered_word)
        self.buffered_word = w1
        return self.codes[first:end], self.regs[first:end]
