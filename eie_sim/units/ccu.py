"""The central control unit: the leading-non-zero-detect (LNZD) tree and the broadcast bus.

Rule (docs/ARCHITECTURE.md section 4, "Activation rows and the LNZD" and "End"): the CCU
scans a segment's activation rows one at a time, row ``r`` being lanes ``r*N .. r*N+N-1``
(one per PE). Loading a row takes a cycle (cycle 0 loads the first; an empty row still
costs its cycle); the LNZD then yields the row's non-zero lanes in order, one broadcast
per cycle, each once every PE's queue has a free slot. The next row loads in the cycle
after the row's last broadcast, or in that same cycle when the broadcast came from lane
N-1. The scan ends the cycle after its last row load or broadcast (``T_scan``).

Input ``j`` of a layer with ``n`` inputs sits at scan position ``j`` (lane ``j mod N`` of row
``j // N``); the bias, input ``n``, sits at position ``ceil(n/N) * N``: lane 0 of an
activation row of its own, after the inputs' rows (contract v3, as the EIE authors'
machine has it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numba
import numpy as np
import simpy

from eie_sim.energy_table import EnergyTable
from eie_sim.fields import Event
from eie_sim.linetrace import TraceColumn
from eie_sim.run import ItemTimes
from eie_sim.units.channels import EMPTY, BroadcastBus, Channel

NAME = "ccu"
TITLE = "CCU and LNZD tree"
TABLE2 = False

FIELDS = ()  # its size is the array's n_pes; the bus latency is the queues' broadcast_latency

EVENTS = (Event("node_cycle", "an LNZD tree node clocked for a cycle: every node, every cycle a "
                              "job runs (DRAM waits included)"),)


def lnzd_nodes(n_pes: int) -> int:
    """Nodes of the 4-ary LNZD tree with one leaf per PE (64 PEs: 16 + 4 + 1 = 21)."""
    nodes, width = 0, n_pes
    while True:
        width = -(-width // 4)
        nodes += width
        if width == 1:
            return nodes


def prices(table: EnergyTable, c: object) -> dict[str, float]:
    """pJ per node-cycle: the paper's node power at the configured clock (mW / Hz -> pJ)."""
    return {"node_cycle": table.lnzd_node_mw * 1e9 / c.clock_hz}


# --------------------------------------------------------------------------- the SimPy unit


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

    def load(self, values: Sequence[int]) -> None:
        """Take in one activation row."""
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


@numba.njit(cache=True)
def position(j: int, n: int, n_pes: int) -> int:
    """The scan position of column ``j`` of a layer with ``n`` inputs: ``j`` for an input, and
    ``ceil(n/N) * N`` for the bias (``j == n``), lane 0 of a row of its own."""
    return j if j < n else (n + n_pes - 1) // n_pes * n_pes


def positions(cols: np.ndarray, n: int, n_pes: int) -> np.ndarray:
    """:func:`position` of every column in ``cols``."""
    cols = np.asarray(cols, np.int64)
    return np.where(cols < n, cols, position(n, n, n_pes))


@dataclass(frozen=True)
class Scan:
    """What the array asks of the CCU for one segment: its rounds, its rows' first and last, and
    the row whose lane 0 is the bias column (-1: none in this segment)."""

    rounds: range
    first_row: int
    last_row: int
    bias_row: int = -1
    bias_column: int = -1


class CentralControlUnit:
    """Scans the activation rows the PEs send it and broadcasts each non-zero activation.

    Interface: ``control`` (from the array: a :class:`Scan` per segment), ``sources`` (one
    channel per PE, from its activation read/write unit: the lane's value of each row),
    ``bus`` (the broadcast into every PE's queue), ``done`` (to the array: the scan ended).
    """

    def __init__(self, env: simpy.Environment, *, sources: Sequence[Channel], bus: BroadcastBus) -> None:
        # interface
        self.env = env
        self.control = Channel(env)
        self.sources = list(sources)
        self.bus = bus
        self.done = Channel(env)
        # sub-component
        self.n_pes = len(self.sources)
        self.lnzd = LeadingNonZeroDetector(self.n_pes)
        # counters and trace
        self.stall_cycles = 0
        self.row_loads = 0
        self.broadcast_cycles: list[int] = []
        self.broadcast_items: list[tuple[int, int]] = []  # (round, column)
        env.process(self.run())

    def run(self):
        """CCU: for each segment, load its rows round after round and broadcast their non-zeros."""
        env, n, bus = self.env, self.n_pes, self.bus
        while True:
            scan = yield self.control.get()
            last_broadcast = -1
            for r in scan.rounds:
                for row in range(scan.first_row, scan.last_row + 1):
                    values = []
                    for src in self.sources:
                        v = src.poll()
                        values.append((yield src.get()) if v is EMPTY else v)
                    self.lnzd.load(values)
                    self.row_loads += 1
                    yield env.timeout(1)  # the row's load cycle
                    lane = self.lnzd.next_lane()
                    while lane is not None:
                        column = scan.bias_column if row == scan.bias_row else row * n + lane
                        item = (r, column, values[lane])
                        found = env.now
                        if not bus.offer(item):
                            yield bus.put(item)  # a queue is full: wait for its pop
                        self.stall_cycles += env.now - found
                        last_broadcast = env.now
                        self.broadcast_cycles.append(last_broadcast)
                        self.broadcast_items.append(item[:2])
                        if lane == n - 1:
                            break  # the next row loads in this very cycle
                        yield env.timeout(1)
                        lane = self.lnzd.next_lane()
            if env.now == last_broadcast:
                yield env.timeout(1)  # the scan ends the cycle after its last action
            bus.close()
            self.done.offer(env.now)

    def event_counts(self) -> dict[str, int]:
        return {}  # node-cycles are the tree's nodes times the job's cycles: the array counts them

    def reset_counts(self) -> None:
        self.stall_cycles = self.row_loads = 0
        self.broadcast_cycles, self.broadcast_items = [], []


# --------------------------------------------------------------------------- the closed-form rules


@numba.njit(cache=True, inline="always")
def found_cycle(k: int, rows: np.ndarray, lanes: np.ndarray, broadcast: np.ndarray, n_pes: int) -> int:
    """The cycle the LNZD offers item ``k`` (before credits), given the earlier items' broadcasts."""
    if k == 0:
        return 1 + rows[0]
    if rows[k] == rows[k - 1]:
        return broadcast[k - 1] + 1
    return broadcast[k - 1] + rows[k] - rows[k - 1] + (0 if lanes[k - 1] == n_pes - 1 else 1)


@numba.njit(cache=True, inline="always")
def scan_end(rows: np.ndarray, lanes: np.ndarray, broadcast: np.ndarray, n_rows: int, n_pes: int) -> int:
    """``T_scan``: the cycle after the scan's last row load or broadcast."""
    n_items = rows.shape[0]
    if n_items == 0:
        return n_rows
    after = n_rows - 1 - rows[n_items - 1]
    last = broadcast[n_items - 1]
    if after == 0:
        return last + 1
    return last + after + (0 if lanes[n_items - 1] == n_pes - 1 else 1)


# --------------------------------------------------------------------------- line trace


def _cells(times: ItemTimes, _pe: int, cycles: np.ndarray) -> list[str]:
    t, cols = times.broadcast, times.columns
    out = []
    for x in cycles:
        k = np.flatnonzero(t == x)
        if len(k):
            out.append(f"b{int(cols[k[0]])}")
        else:  # between two broadcasts more than a cycle apart: row loads or back-pressure
            out.append("#" if np.any(t < x) and np.any(t > x) else "")
    return out


TRACE = TraceColumn("CCU", 6, _cells, key="b<j>: broadcast of input j; #: loading rows or waiting for a "
                                           "queue slot")
