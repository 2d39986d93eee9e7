"""The DRAM streamer: tiles into the two halves of the PEs' SRAMs (double buffering)."""

from __future__ import annotations

from collections.abc import Sequence

import simpy


class DramStreamer:
    """Loads tile t+1 into the free half while tile t computes.

    Tile t+1's half holds tile t-1 until tile t starts computing (tile t-1 has then
    finished), so loading t+1 begins when t starts: ``start(t+1) = max(end(t),
    start(t) + load(t+1))`` follows from the events, not from the formula.
    """

    def __init__(self, env: simpy.Environment) -> None:
        self.env = env
        self.bytes = 0

    def streamer(self, tile_bytes: Sequence[int], load_cycles: Sequence[int],
                 started: Sequence[simpy.Event], loaded: Sequence[simpy.Event]):
        """DRAM: load each tile once its half of the buffer is free."""
        env = self.env
        for t, (nbytes, cycles) in enumerate(zip(tile_bytes, load_cycles, strict=True)):
            if t > 0:
                yield started[t - 1]
            yield env.timeout(cycles)
            self.bytes += nbytes
            loaded[t].succeed()
