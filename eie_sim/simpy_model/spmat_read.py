"""The sparse-matrix read unit: packed (v, z) entries in SRAM words, with a word buffer."""

from __future__ import annotations


class SparseMatrixReadUnit:
    """Fetches a column's entries from the sparse-matrix SRAM image and unpacks them.

    An entry is ``(v << ibits) | z``, entry ``k`` of a word at bit ``k * entry_bits``
    from the word's least significant bit; words are little-endian. The unit keeps
    the last word it read: an entry in that word costs no read. The buffer starts
    empty at every segment (a tile arrives in the other half of the double buffer).
    """

    def __init__(self, *, capacity_bytes: int, word_bits: int) -> None:
        # The image grows as it is written, up to the SRAM's capacity: a 16 MB SRAM per PE
        # costs only the bytes a layer uses.
        self.capacity = capacity_bytes
        self.sram = bytearray()
        self.word_bytes = word_bits // 8
        self.word_bits = word_bits
        self.base = 0  # byte address of the region the current segment reads
        self._buffered = -1
        self._word = 0
        self.set_format(wbits=4, ibits=4)
        self.word_reads = 0

    def set_format(self, *, wbits: int, ibits: int) -> None:
        """The entry format of the layer about to run."""
        self.ibits = ibits
        self.entry_bits = wbits + ibits
        self.entries_per_word = self.word_bits // self.entry_bits
        self._entry_mask = (1 << self.entry_bits) - 1
        self._z_mask = (1 << ibits) - 1

    def write(self, address: int, data: bytes) -> None:
        """Write port (DRAM bursts, the one-time load of resident layers)."""
        end = address + len(data)
        if address < 0 or end > self.capacity:
            raise IndexError(f"bytes {address}..{end - 1} are outside the {self.capacity}-byte "
                             f"sparse-matrix SRAM")
        if end > len(self.sram):
            self.sram.extend(bytes(end - len(self.sram)))
        self.sram[address:end] = data

    def use_region(self, address: int) -> None:
        self.base = address
        self._buffered = -1

    def _read_word(self, w: int) -> int:
        if w != self._buffered:
            self.word_reads += 1
            a = self.base + w * self.word_bytes
            self._word = int.from_bytes(self.sram[a: a + self.word_bytes], "little")
            self._buffered = w
        return self._word

    def fetch(self, first: int, end: int) -> list[tuple[int, int]]:
        """Entries ``first..end-1`` of the region as ``(v, z)`` pairs."""
        epw, bits, mask, ibits, zmask = (self.entries_per_word, self.entry_bits, self._entry_mask,
                                         self.ibits, self._z_mask)
        out = []
        w, slot = divmod(first, epw)
        word = self._read_word(w)
        for _ in range(end - first):
            if slot == epw:
                w += 1
                slot = 0
                word = self._read_word(w)
            x = (word >> (slot * bits)) & mask
            out.append((x >> ibits, x & zmask))
            slot += 1
        return out
