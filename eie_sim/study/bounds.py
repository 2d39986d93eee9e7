"""What bounds a run: the cycles each part of the machine needs at least, beside the cycles taken.

For a job (or a whole graph) the lower bounds, each from the Result's own figures:

- **compute**: the PEs' work spread perfectly, ``sum(busy) / N`` (a PE issues an entry a cycle);
- **load imbalance**: the busiest PE's own work, ``max(busy)`` (the others wait for it);
- **DRAM bandwidth**: the bytes moved through DRAM per inference over the bandwidth,
  ``dram_bytes / B`` (streamed tiles and spilled activations; a resident layer moves none);
- **CCU**: the broadcast's own work, one cycle per item and per activation row it loads.

The binding bound is the largest; ``cycles`` can only exceed it (latencies, drains, a tile
handed over, queues that fill). Reported per job and for the graph by ``eie simulate`` and
the studies.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from eie_sim.config import SimConfig
from eie_sim.result import Figures
from eie_sim.units import dram

#: Bound names, in the order they are shown.
BOUNDS = ("compute", "load imbalance", "DRAM bandwidth", "CCU")


@dataclass(frozen=True)
class Bounds:
    """The lower bounds of one run (cycles), and which binds."""

    cycles: int
    compute: int
    load_imbalance: int
    dram_bandwidth: int
    ccu: int

    @property
    def values(self) -> dict[str, int]:
        return dict(zip(BOUNDS, (self.compute, self.load_imbalance, self.dram_bandwidth, self.ccu),
                        strict=True))

    @property
    def binding(self) -> str:
        """The largest bound's name."""
        values = self.values
        return max(values, key=lambda k: values[k])

    @property
    def bound(self) -> int:
        return self.values[self.binding]

    @property
    def gap(self) -> float:
        """How far the run is above its binding bound, as a fraction of the bound."""
        return self.cycles / self.bound - 1.0 if self.bound else math.inf


def bounds(fig: Figures, config: SimConfig) -> Bounds:
    """The bounds of a Result or of one of its layers."""
    n = len(fig.busy_cycles)
    busy = sum(fig.busy_cycles)
    items = fig.access_counts.get("act_queue.push", 0) // max(1, n)
    return Bounds(cycles=fig.cycles, compute=math.ceil(busy / n) if n else 0,
                  load_imbalance=max(fig.busy_cycles) if n else 0,
                  dram_bandwidth=math.ceil(fig.dram_bytes / dram.bytes_per_cycle(config)),
                  ccu=items + fig.lnzd_row_loads)
