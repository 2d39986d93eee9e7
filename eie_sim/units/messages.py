"""What travels on a PE's channels besides activations: the messages that start a job and a
segment, and a column on its way from the pointer read unit to the arithmetic unit.

Control messages travel in band, in front of the columns they govern, so each unit changes
its state exactly when the work it concerns reaches it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple


@dataclass(frozen=True)
class JobStart:
    """A job's layer reaches the PE: its entry format and codebook, and its outputs."""

    wbits: int
    ibits: int
    codebook_fix: tuple[int, ...]  # Q(15-fw).fw
    fw: int
    n_outputs: int  # the PE's local rows
    relu: bool
    bias_value: int | None  # the bias column's constant activation when this PE holds input n
    rounds: int
    regs: int


@dataclass(frozen=True)
class SegmentStart:
    """A segment (the layer, or one tile) starts: where its weights sit, which items it takes."""

    rounds: range
    col_start: int
    col_end: int
    stride: int  # columns per round: item (r, j) reads pointer (r - first round) * stride + j - col_start
    ptr_slot: int  # the segment's first pointer slot in the pointer SRAM
    spmat_address: int  # byte address of the segment's first word in the sparse-matrix SRAM
    positions: range | None = None  # the scan positions of its columns (None: the columns themselves)

    @property
    def scanned(self) -> range:
        """Scan positions of the segment's columns, the bias's included (ccu.position)."""
        return self.positions if self.positions is not None else range(self.col_start, self.col_end)


class Column(NamedTuple):
    """One item's column in this PE: the activation and its entries' bounds in the segment."""

    round: int
    column: int
    value: int
    first: int
    end: int


class ColumnEntries(NamedTuple):
    """A column's packed entries, read from the sparse-matrix SRAM: each ``(v << ibits) | z``."""

    round: int
    column: int
    value: int
    entries: bytes | bytearray | list[int]


#: Builds a Column or ColumnEntries from a tuple of its fields, skipping the NamedTuple constructor's
#: keyword handling (twice the cost of a tuple, on the machine's hottest path).
make = tuple.__new__
