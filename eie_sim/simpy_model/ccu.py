"""The central control unit: a leading-non-zero-detect (LNZD) tree and the broadcast bus."""

from __future__ import annotations

from collections.abc import Sequence

import simpy

from eie_sim.simpy_model.act_queue import ActivationQueue
from eie_sim.simpy_model.act_rw import ActivationReadWrite


class LeadingNonZeroDetector:
    """A 4-ary tree with one leaf per PE: holds one activation row, finds its non-zero lanes.

    Each node holds whether any lane below it is non-zero; the leading non-zero lane is
    found by descending to the first flagged child, and clearing it updates its ancestors.
    Negative values are non-zero too.
    """

    def __init__(self, n_lanes: int) -> None:
        self.n_lanes = n_lanes
        widths = [n_lanes]
        while widths[-1] > 1:
            widths.append(-(-widths[-1] // 4))
        self._levels = [[False] * w for w in widths]  # leaves first, root last
        self.row_loads = 0

    def load(self, values: Sequence[int]) -> None:
        """Take in one activation row (one cycle)."""
        self.row_loads += 1
        below = [v != 0 for v in values]
        self._levels[0] = below
        for level in range(1, len(self._levels)):
            below = [any(below[i:i + 4]) for i in range(0, len(below), 4)]
            self._levels[level] = below

    def next_lane(self) -> int | None:
        """The leading non-zero lane not yet taken, or None when the row has no more."""
        levels = self._levels
        if not levels[-1][0]:
            return None
        i = 0
        for level in range(len(levels) - 2, -1, -1):
            flags = levels[level]
            i = 4 * i
            while not flags[i]:
                i += 1
        lane = i
        levels[0][lane] = False
        for level in range(1, len(levels)):
            i //= 4
            below = levels[level - 1]
            levels[level][i] = any(below[4 * i: 4 * i + 4])
        return lane


class CentralControlUnit:
    """Scans the activation rows held in the PEs and broadcasts each non-zero activation.

    One row load per cycle; then the row's non-zero lanes, one broadcast per cycle, each
    after one credit check of all N queues (a full queue holds the broadcast back). The
    next row loads in the cycle after the row's last broadcast, or in that same cycle when
    the last broadcast came from lane N-1.
    """

    def __init__(self, env: simpy.Environment, *, queues: Sequence[ActivationQueue],
                 sources: Sequence[ActivationReadWrite]) -> None:
        # interface: the broadcast bus into every PE's queue, and the PEs' activation memories
        self.env = env
        self.queues = list(queues)
        self.sources = list(sources)
        self.n_pes = len(self.queues)
        # sub-component
        self.lnzd = LeadingNonZeroDetector(self.n_pes)
        # counters and trace
        self.stall_cycles = 0
        self.broadcast_cycles: list[int] = []
        self.broadcast_items: list[tuple[int, int]] = []  # (round, column)

    def scan(self, *, rounds: range, col_start: int, col_end: int):
        """CCU: load the rows that hold columns col_start..col_end-1, round after round."""
        env = self.env
        n = self.n_pes
        sources = self.sources
        first_row, last_row = col_start // n, (col_end - 1) // n
        last_broadcast = -1
        for r in rounds:
            for row in range(first_row, last_row + 1):
                lo = row * n
                values = [sources[p].read_source(row) if col_start <= lo + p < col_end else 0
                          for p in range(n)]
                self.lnzd.load(values)
                yield env.timeout(1)
                lane = self.lnzd.next_lane()
                while lane is not None:
                    yield from self._wait_for_credit()
                    item = (r, lo + lane, values[lane])
                    for q in self.queues:
                        q.push(item)
                    last_broadcast = env.now
                    self.broadcast_cycles.append(last_broadcast)
                    self.broadcast_items.append(item[:2])
                    if lane == n - 1:
                        break  # the next row loads in this very cycle
                    yield env.timeout(1)
                    lane = self.lnzd.next_lane()
        if env.now == last_broadcast:
            yield env.timeout(1)  # the scan ends the cycle after its last action
        for q in self.queues:
            q.close()

    def _wait_for_credit(self):
        """Hold the found item until every queue has a free slot (pops of this cycle count)."""
        found = self.env.now
        for q in self.queues:
            while not q.has_room():
                yield q.slot_freed()
        self.stall_cycles += self.env.now - found
