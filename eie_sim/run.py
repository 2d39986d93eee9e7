"""What an engine hands back for one layer: its counters, outputs and item timeline.

Both engines fill the same record; everything derived from it (section 4's
figures, energy, the Result) is computed once, in :mod:`eie_sim.result`. In the
SimPy model every field comes from the units' own counters; the fast engine
fills the same fields from the contract's closed forms.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from eie_sim.counts import Counts


@dataclass(frozen=True)
class ItemTimes:
    """When each item moved, on the layer's cycle axis (for traces, not for figures).

    Items of every segment one after another; ``segment_bounds[i]:segment_bounds[i+1]``
    are segment ``i``'s, which computed from ``segment_start[i]`` to ``segment_end[i]``.
    """

    broadcast: np.ndarray  # int64[K]: cycle the CCU broadcast each item
    pop: np.ndarray  # int64[N, K]: cycle each PE popped it
    finish: np.ndarray  # int64[N, K]: cycle each PE finished its column
    entries: np.ndarray  # int64[N, K]: entries (padding included) each PE processed for it
    rounds: np.ndarray  # int64[K]
    columns: np.ndarray  # int64[K]
    segment_bounds: np.ndarray  # int64[S + 1]
    segment_start: np.ndarray  # int64[S]
    segment_end: np.ndarray  # int64[S]


@dataclass(frozen=True)
class LayerRun:
    """One layer's run: per-PE and array counters (section 4's figures) and the outputs."""

    name: str
    cycles: int
    counts: Counts  # energy events, keyed by (unit, action)
    busy_cycles: np.ndarray  # int64[N]: sum over items of max(P, entries)
    queue_occupancy_sum: np.ndarray  # int64[N]: sum over cycles of the queue's occupancy
    queue_occupancy_max: np.ndarray  # int64[N]
    ccu_stall_cycles: int
    hazard_stall_cycles: int
    lnzd_row_loads: int
    bypass_count: int
    entries_processed: int  # padding included
    kept_processed: int
    dram_bytes: int  # per inference: streamed tiles plus spilled activations
    weight_load_bytes: int  # copied into the SRAMs once before inference (a resident layer)
    out_fix: np.ndarray  # int64[m]: the layer's outputs in the activation format
    times: ItemTimes
    notes: tuple[str, ...] = ()  # what the user should know about this run (work a stop left undone)
