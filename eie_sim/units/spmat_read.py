"""The sparse-matrix read unit: a PE's packed ``(v, z)`` entries in SRAM words, with a word buffer.

Rule (docs/ARCHITECTURE.md section 4, "Figures", sparse-matrix word reads): the unit keeps
the last word it read; an entry in another word costs one read. Words are numbered from the
segment's first entry, and the buffer starts empty at every segment (a tile arrives in the
other half of the double buffer). Reading never limits the PE: a word holds at least one
entry and the arithmetic unit takes one entry a cycle.
"""

from __future__ import annotations

import numba
import simpy

from eie_sim.energy_table import EnergyTable
from eie_sim.fields import Event, Field
from eie_sim.units.channels import END, Channel, Port
from eie_sim.units.messages import Column, ColumnEntries, JobStart, SegmentStart, make

NAME = "spmat_read"
TITLE = "sparse-matrix read"
TABLE2 = True

KB = 1024
FIELDS = (
    Field("spmat_bytes", 128 * KB, int, "sparse-matrix SRAM per PE", "sparse-matrix SRAM per PE",
          unit="bytes", lo=1, hi=1 << 34, flag="spmat_kb", flag_unit="KB", scale=KB),
    Field("word_bits", 64, int, "sparse-matrix SRAM word width",
          "sparse-matrix SRAM word width (also the encoding's word: a layer encoded for another is "
          "re-encoded)", unit="bits", lo=8, hi=4096, multiple_of=8),
)

EVENTS = (
    Event("word_read", "a sparse-matrix SRAM word read (an entry outside the buffered word)"),
    Event("cycle", "a PE-cycle of the unit's clock network and leakage (the fitted static term)"),
)


def check(c: object) -> str | None:
    """A whole-configuration rule: the word must fit the SRAM."""
    if c.word_bits > c.spmat_bytes * 8:
        return (f"word_bits = {c.word_bits} bits is wider than the whole sparse-matrix SRAM "
                f"(spmat_bytes = {c.spmat_bytes})")
    return None


def prices(table: EnergyTable, c: object) -> dict[str, float]:
    """pJ per word read: one access of the whole SRAM at its word width."""
    return {"word_read": table.sram_pj(c.spmat_bytes, c.word_bits)}


def sram_bits(c: object) -> dict[str, int]:
    """Bits an event moves at the SRAM: a word per read."""
    return {"word_read": c.word_bits}


def steady_state(entries: int, columns: int) -> dict[str, int]:
    """The paper's calibration workload: a word of eight entries per column."""
    return {"word_read": columns}


def static_scale(c: object, reference: object) -> float:
    """Leakage grows with the bits stored: the static term scales with the SRAM's capacity."""
    return c.spmat_bytes / reference.spmat_bytes


area_scale = static_scale


# --------------------------------------------------------------------------- the SimPy unit


class SparseMatrixReadUnit:
    """The sparse-matrix SRAM as a byte image; reads a column's words and unpacks its entries.

    An entry is ``(v << ibits) | z``, entry ``k`` of a word at bit ``k * entry_bits`` from the
    word's least significant bit; words are little-endian. The read port is combinational
    within the PE's pipeline: a column in is its entries out, in the same cycle.

    Interface: ``columns`` (in, the read port, from the pointer read unit), ``entries`` (out,
    to the arithmetic unit), ``fill`` (in, word bursts from DRAM), ``filled`` (out,
    acknowledgements).
    """

    def __init__(self, env: simpy.Environment, *, capacity_bytes: int, word_bits: int, entries: Channel,
                 fill: Channel, filled: Channel) -> None:
        # interface
        self.env = env
        self.columns = Port(self._accept)
        self.entries, self.fill, self.filled = entries, fill, filled
        # state: the image grows as it is written, up to the SRAM's capacity (a 16 MB SRAM per
        # PE costs only the bytes a layer uses)
        self.capacity = capacity_bytes
        self.sram = bytearray()
        self.word_bytes = word_bits // 8
        self.word_bits = word_bits
        self.base = 0
        self._buffered = -1  # the word in the read buffer (numbered in the segment)
        self.entry_bits = 8
        self.entries_per_word = word_bits // 8
        # counter
        self.word_reads = 0
        env.process(self.write_port())

    @classmethod
    def from_config(cls, env: simpy.Environment, config: object, **ports: Channel) -> SparseMatrixReadUnit:
        return cls(env, capacity_bytes=config.spmat_bytes, word_bits=config.word_bits, **ports)

    def write_port(self):
        """SRAM write port: bursts ``(address, bytes)`` from DRAM (and the one-time load of
        resident layers)."""
        while True:
            address, data = yield self.fill.get()
            self.write(address, data)
            self.filled.offer(NAME)

    def write(self, address: int, data: bytes) -> None:
        end = address + len(data)
        if address < 0 or end > self.capacity:
            raise IndexError(f"bytes {address}..{end - 1} are outside the {self.capacity}-byte "
                             f"sparse-matrix SRAM")
        if end > len(self.sram):
            self.sram.extend(bytes(end - len(self.sram)))
        self.sram[address:end] = data

    def _accept(self, msg: object) -> bool:
        """The read port: a column's words, unpacked, go on to the arithmetic unit; control
        messages change the unit's state and go on too."""
        if type(msg) is Column:
            r, j, value, first, end = msg
            epw = self.entries_per_word
            w0, w1 = first // epw, (end - 1) // epw
            self.word_reads += w1 - w0 + (0 if w0 == self._buffered else 1)
            self._buffered = w1
            if self.entry_bits == 8:  # entry k of a word is its byte k: the entries are contiguous
                packed = self.sram[self.base + first: self.base + end]
            else:
                packed = self._unpack(first, end)
            msg = make(ColumnEntries, (r, j, value, packed))
        elif isinstance(msg, JobStart):
            self.entry_bits = msg.wbits + msg.ibits
            self.entries_per_word = self.word_bits // self.entry_bits
        elif isinstance(msg, SegmentStart):
            self.base = msg.spmat_address
            self._buffered = -1  # a new segment: its words are in another region
        elif msg is not END:
            raise TypeError(f"sparse-matrix read unit: unexpected message {msg!r}")
        return self.entries.offer(msg)

    def _unpack(self, first: int, end: int) -> list[int]:
        """Entries ``first..end-1`` of the segment from the words they are in (any entry width)."""
        epw = self.entries_per_word
        bits, mask, wb = self.entry_bits, (1 << self.entry_bits) - 1, self.word_bytes
        out = []
        word = 0
        for e in range(first, end):
            w, slot = divmod(e, epw)
            if slot == 0 or e == first:
                a = self.base + w * wb
                word = int.from_bytes(self.sram[a: a + wb], "little")
            out.append((word >> (slot * bits)) & mask)
        return out

    def event_counts(self) -> dict[str, int]:
        return {"word_read": self.word_reads}

    def reset_counts(self) -> None:
        self.word_reads = 0


# --------------------------------------------------------------------------- the closed-form rule


@numba.njit(cache=True, inline="always")
def word_reads(first: int, entries: int, entries_per_word: int, buffered: int) -> tuple[int, int]:
    """(words read, the word buffered after) for a column of ``entries`` entries from ``first``
    (numbered in the segment), given the buffered word."""
    w0 = first // entries_per_word
    w1 = (first + entries - 1) // entries_per_word
    return w1 - w0 + (0 if w0 == buffered else 1), w1
