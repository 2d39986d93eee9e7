"""What an engine hands back for one layer: its timeline, counters and outputs.

Both engines fill the same record; everything derived from it (section 4's
figures, energy, the Result) is computed once, in :mod:`eie_sim.figures` and
:mod:`eie_sim.result`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from eie_sim.counts import Counts


@dataclass
class LayerRun:
    name: str
    cycles: int
    seg_bounds: np.ndarray  # int64[S + 1]: items of segment i are seg_bounds[i]:seg_bounds[i+1]
    seg_start: np.ndarray  # int64[S]: cycle each segment's compute starts (layer axis)
    seg_end: np.ndarray  # int64[S]: cycle it ends, drain included
    t: np.ndarray  # int64[K]: broadcast cycle of each item (layer axis)
    s: np.ndarray  # int64[N, K]: pop cycle of each item in each PE
    fin: np.ndarray  # int64[N, K]: cycle each PE finishes each item
    c: np.ndarray  # int64[N, K]: entries of each PE's slice (padding included)
    slices: np.ndarray  # int64[K]: the slice (round * ncols + column) each item reads
    counts: Counts
    bypass: int
    entries: int  # entries processed, padding included
    kept: int  # non-padding entries processed
    out_fix: np.ndarray  # int64[m]: the layer's outputs in the activation format
