"""Section 4's figures, computed once from an engine's timeline (:class:`LayerRun`)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from eie_sim.run import LayerRun


@dataclass(frozen=True)
class Timeline:
    """Per-PE and array figures of one layer (or summed over a model's layers)."""

    cycles: int
    busy: np.ndarray  # int64[N]
    ccu_stall_cycles: int
    occupancy_sum: np.ndarray  # int64[N]: sum over cycles of queue occupancy (mean = / cycles)
    occupancy_max: np.ndarray  # int64[N]
    kept: int
    entries: int
    bypass: int

    @property
    def n_pes(self) -> int:
        return len(self.busy)

    @property
    def idle(self) -> np.ndarray:
        return self.cycles - self.busy

    @property
    def pe_utilization(self) -> float:
        return float(self.busy.sum() / (self.n_pes * self.cycles))

    @property
    def mac_efficiency(self) -> float:
        return float(self.kept / (self.n_pes * self.cycles))

    @property
    def occupancy_mean(self) -> np.ndarray:
        return self.occupancy_sum / self.cycles

    def __add__(self, other: Timeline) -> Timeline:
        """Layers run one after another: cycles and sums add, maxima take the larger."""
        return Timeline(self.cycles + other.cycles, self.busy + other.busy,
                        self.ccu_stall_cycles + other.ccu_stall_cycles,
                        self.occupancy_sum + other.occupancy_sum,
                        np.maximum(self.occupancy_max, other.occupancy_max),
                        self.kept + other.kept, self.entries + other.entries,
                        self.bypass + other.bypass)


def timeline(run: LayerRun) -> Timeline:
    """Busy cycles, CCU stalls and queue occupancy of one layer."""
    busy = np.maximum(1, run.c).sum(axis=1)
    stalls = 0
    for i in range(len(run.seg_start)):
        lo, hi = run.seg_bounds[i], run.seg_bounds[i + 1]
        if hi > lo:
            # sum of t[k] - t[k-1] - 1 over the segment, with t[-1] = -1 on its own axis
            stalls += int(run.t[hi - 1] - run.seg_start[i]) + 1 - int(hi - lo)
    n_pes, n_items = run.s.shape
    # An item occupies a slot of PE p from its broadcast to its pop: t[k] <= x < s[p][k].
    occ_sum = (run.s - run.t[None, :]).sum(axis=1) if n_items else np.zeros(n_pes, np.int64)
    occ_max = np.zeros(n_pes, np.int64)
    if n_items:
        arrivals = np.arange(1, n_items + 1)
        for p in range(n_pes):
            # occupancy can only rise at a broadcast, so its maximum is at some t[k]
            occ_max[p] = int(np.max(arrivals - np.searchsorted(run.s[p], run.t, side="right")))
    return Timeline(run.cycles, busy.astype(np.int64), stalls, occ_sum.astype(np.int64), occ_max,
                    run.kept, run.entries, run.bypass)
