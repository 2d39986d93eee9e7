"""What a layer asks of the array: the items (round, column, activation) of each segment.

Shared by both engines. An item is a non-zero input activation (the bias's
constant 1 included), broadcast once per round in ascending column order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from compressor.encode import EncodedLayer
from eie_sim.memory import Segment


@dataclass(frozen=True)
class Items:
    """The broadcast order of one segment: parallel arrays, one element per item."""

    rounds: np.ndarray  # int64
    cols: np.ndarray  # int64
    values: np.ndarray  # int64 activation in fixed point
    slices: np.ndarray  # int64 r * ncols + j: the slice each PE reads for this item

    def __len__(self) -> int:
        return len(self.cols)


def layer_input(layer: EncodedLayer, a_fix: np.ndarray, bias_value: int) -> np.ndarray:
    """The layer's full input vector: the activations, then the bias's constant 1 if it has one."""
    a = np.asarray(a_fix, np.int64)
    return np.append(a, bias_value) if layer.has_bias else a


def segment_items(layer: EncodedLayer, seg: Segment, a_fix: np.ndarray) -> Items:
    """Items of ``seg`` given the layer's full input vector ``a_fix`` (bias appended)."""
    cols = np.flatnonzero(a_fix[seg.col_start:seg.col_end]) + seg.col_start
    rounds = np.repeat(np.asarray(seg.rounds, np.int64), len(cols))
    cols = np.tile(cols, len(seg.rounds)).astype(np.int64)
    return Items(rounds, cols, a_fix[cols].astype(np.int64), rounds * layer.ncols + cols)


def slice_costs(layer: EncodedLayer, items: Items) -> np.ndarray:
    """``c[p][k]``: entries (padding included) of each PE's slice for each item, shape (N, K)."""
    return layer.slice_counts[:, items.slices]
