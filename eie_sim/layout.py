"""What a layer asks of the array: the items each segment broadcasts, and its activation rows.

Used by the fast engine and the conservation checks. (The SimPy model finds its
items itself: its LNZD scans the activation values held in the PEs.) An item is a
non-zero input activation (the bias's constant 1 included), broadcast once per
round in ascending column order; input ``j`` sits in lane ``j mod N`` of activation
row ``j // N`` and the bias in lane 0 of a row of its own (``ccu.position``), and a
segment numbers its rows from its own first row.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

import numpy as np

from compressor.encode import EncodedLayer
from eie_sim.memory import Segment
from eie_sim.units.ccu import positions


@dataclass(frozen=True)
class Items:
    """The broadcast order of one segment: parallel arrays, one element per item."""

    rounds: np.ndarray  # int64
    cols: np.ndarray  # int64
    values: np.ndarray  # int64 activation in fixed point
    slices: np.ndarray  # int64 r * ncols + j: the slice each PE reads for this item
    rows: np.ndarray  # int64 activation row within the segment's scan
    lanes: np.ndarray  # int64 lane (PE) of the row: j mod N
    n_rows: int  # rows the segment's scan loads, empty ones included

    def __len__(self) -> int:
        return len(self.cols)


def layer_input(layer: EncodedLayer, a_fix: np.ndarray, bias_value: int) -> np.ndarray:
    """The layer's full input vector: the activations, then the bias's constant 1 if it has one."""
    a = np.asarray(a_fix, np.int64)
    return np.append(a, bias_value) if layer.has_bias else a


def first_last_row(layer: EncodedLayer, seg: Segment) -> tuple[int, int]:
    """The first and last activation row holding the segment's columns (a row split with the next
    tile included)."""
    first, last = positions(np.array([seg.col_start, seg.col_end - 1]), layer.n, layer.n_pes)
    return int(first) // layer.n_pes, int(last) // layer.n_pes


def rows_per_round(layer: EncodedLayer, seg: Segment) -> int:
    """Activation rows a round of the segment scans."""
    first, last = first_last_row(layer, seg)
    return last - first + 1


def scan_rows(layer: EncodedLayer, seg: Segment) -> int:
    """Rows the LNZD loads for a segment: each of its rounds scans its rows again."""
    return len(seg.rounds) * rows_per_round(layer, seg)


def segment_items(layer: EncodedLayer, seg: Segment, a_fix: np.ndarray) -> Items:
    """Items of ``seg`` given the layer's full input vector ``a_fix`` (bias appended)."""
    n_pes = layer.n_pes
    cols = np.flatnonzero(a_fix[seg.col_start:seg.col_end]) + seg.col_start
    per_round = rows_per_round(layer, seg)
    first_row, _ = first_last_row(layer, seg)
    rounds = np.repeat(np.asarray(seg.rounds, np.int64), len(cols))
    cols = np.tile(cols, len(seg.rounds)).astype(np.int64)
    pos = positions(cols, layer.n, n_pes)
    rows = (rounds - seg.rounds.start) * per_round + pos // n_pes - first_row
    return Items(rounds, cols, a_fix[cols].astype(np.int64), rounds * layer.ncols + cols,
                 rows, pos % n_pes, scan_rows(layer, seg))


@dataclass(frozen=True)
class SliceTotals:
    """Per slice (round * ncols + column), summed over the PEs: entries (padding included) and kept
    entries. What counting an item's work needs without walking its entries."""

    entries: np.ndarray  # int64[S]
    kept: np.ndarray  # int64[S]


_TOTALS: weakref.WeakKeyDictionary[EncodedLayer, SliceTotals] = weakref.WeakKeyDictionary()


def slice_totals(layer: EncodedLayer) -> SliceTotals:
    """The layer's :class:`SliceTotals`, computed once per layer object."""
    out = _TOTALS.get(layer)
    if out is None:
        entries = layer.slice_counts.sum(axis=0, dtype=np.int64)
        kept = np.zeros(layer.ptr.shape[1] - 1, np.int64)
        for p in range(layer.n_pes):
            lo, hi = layer.pe_offsets[p], layer.pe_offsets[p + 1]
            before = np.concatenate([[0], np.cumsum(layer.v[lo:hi] != 0)])
            kept += np.diff(before[layer.ptr[p]])
        entries.flags.writeable = kept.flags.writeable = False
        out = _TOTALS[layer] = SliceTotals(entries, kept)
    return out
