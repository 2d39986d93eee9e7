"""The activation queue: each PE's buffer between the CCU's broadcast bus and its pointer read unit.

Rule (docs/ARCHITECTURE.md section 4, "Credits" and "Broadcast to queue"): an item broadcast
at cycle ``t`` can be popped from ``t + broadcast_latency``; it holds one of the queue's
``queue_depth`` slots from its broadcast to its pop, so item ``k`` can be broadcast only once
every PE has popped item ``k - queue_depth`` (a pop frees its slot for a broadcast in the same
cycle). The queue counts its pushes and pops and integrates its occupancy at the end of every
cycle.
"""

from __future__ import annotations

import numba
import numpy as np

from eie_sim.energy_table import EnergyTable
from eie_sim.fields import Event, Field
from eie_sim.linetrace import TraceColumn
from eie_sim.run import ItemTimes
from eie_sim.units.channels import EMPTY, END, BroadcastQueue

NAME = "act_queue"
TITLE = "activation queue"
TABLE2 = True  # a row of the EIE paper's Table II: calibrated static power, area

FIELDS = (
    Field("queue_depth", 8, int, "activation queue depth",
          "activations a PE's queue holds, in flight included (the paper's FIFO depth)",
          unit="activations", lo=1, hi=4096, flag="fifo"),
    Field("broadcast_latency", 2, int, "broadcast latency",
          "cycles from a broadcast until the PEs can pop it", unit="cycles", lo=1, hi=64),
)

EVENTS = (
    Event("push", "an item enters a PE's queue (one per item per PE)"),
    Event("pop", "the PE takes an item from its queue"),
    Event("cycle", "a PE-cycle of the queue's clock network and leakage (the fitted static term)"),
)

VALUE_BITS = 16  # the datapath's fixed-point width (section 3)


def column_index_bits(ptr_bytes: int, ptr_bits: int) -> int:
    """Bits of a queue entry's column index: it addresses the pointer SRAM's pointers.

    64 KB of 18-bit pointers holds 29,127 of them: 15 bits (the paper's 32 KB of 16-bit: 14).
    """
    pointers = max(2, ptr_bytes * 8 // ptr_bits)
    return int(np.ceil(np.log2(pointers)))


def prices(table: EnergyTable, c: object) -> dict[str, float]:
    """pJ per push and pop: a register FIFO of queue_depth entries (16-bit value + column index).

    No register-file figure is in the table, so it is priced as a tiny SRAM of the same bits,
    extrapolated below the smallest anchor; a write costs the same as a read.
    """
    entry_bits = VALUE_BITS + column_index_bits(c.ptr_bytes, c.ptr_bits)
    fifo = table.sram_pj(c.queue_depth * entry_bits / 8, entry_bits)
    return {"push": fifo, "pop": fifo}


def steady_state(entries: int, columns: int) -> dict[str, int]:
    """The paper's calibration workload: one item pushed and popped per column."""
    return {"push": columns, "pop": columns}


# --------------------------------------------------------------------------- the SimPy unit


class ActivationQueue(BroadcastQueue):
    """A PE's queue of broadcast ``(round, column, value)`` items: the bus delivers, the PE pops."""

    def __init__(self, env, *, depth: int, latency: int) -> None:
        super().__init__(env, capacity=depth, latency=latency)
        self.pushes = 0
        self.pops = 0
        self.occupancy_sum = 0  # sum over cycles of the items held at the cycle's end
        self.occupancy_max = 0
        self._since = 0  # the cycle the occupancy last changed

    def _settle(self) -> None:
        """Account the cycles since the last change at the occupancy they ended with."""
        now = self._env._now  # SimPy's clock (the attribute `now` reads)
        if now != self._since:
            held = self.held
            self.occupancy_sum += held * (now - self._since)
            if held > self.occupancy_max:
                self.occupancy_max = held
            self._since = now

    def deliver(self, item: object) -> None:
        """A broadcast item (the bus has checked there is room): visible ``latency`` cycles on."""
        now = self._env._now
        if now != self._since:
            self._settle()
        self.pushes += 1
        self.held += 1
        if self.held == self._capacity:
            self.bus.queue_full()
        self.items.append((now + self.latency, item))
        if self._reader is not None:
            self._serve()

    def poll(self) -> object:
        """The PE's pop, when the head item is visible and the PE does not already wait."""
        items = self.items
        if self._reader is not None or not items or items[0][0] > self._env._now:
            return EMPTY
        return self._take()

    def _take(self) -> object:
        """The head item out: it frees its slot, and a broadcast waiting for it goes on."""
        if self._env._now != self._since:
            self._settle()
        item = self.items.popleft()[1]
        if item is not END:
            self.pops += 1
            self.held -= 1
            if self.held == self._capacity - 1:
                self.bus.slot_freed()
        return item

    def event_counts(self) -> dict[str, int]:
        """This queue's events since the last reset."""
        self._settle()
        return {"push": self.pushes, "pop": self.pops}

    def reset_counts(self) -> None:
        self._settle()
        self.pushes = self.pops = self.occupancy_sum = self.occupancy_max = 0


# --------------------------------------------------------------------------- the closed-form rules


@numba.njit(cache=True, inline="always")
def credit_cycle(pop: np.ndarray, k: int, depth: int) -> int:
    """The first cycle item ``k`` may be broadcast for want of slots: every PE has popped
    item ``k - depth`` (``pop`` is items x PEs); 0 while the queues have never been full."""
    if k < depth:
        return 0
    when = 0
    for p in range(pop.shape[1]):
        if pop[k - depth, p] > when:
            when = pop[k - depth, p]
    return when


@numba.njit(cache=True, inline="always")
def visible_cycle(broadcast: int, latency: int) -> int:
    """An item broadcast at ``broadcast`` can be popped from this cycle on."""
    return broadcast + latency


@numba.njit(cache=True, inline="always")
def held_after(pop_of_pe: np.ndarray, k: int, when: int, popped: int) -> tuple[int, int]:
    """Items a PE's queue holds at the end of cycle ``when`` right after item ``k``'s broadcast:
    (items held, items popped by then); ``popped`` counts the PE's pops known so far."""
    while popped < k and pop_of_pe[popped] <= when:
        popped += 1
    return k + 1 - popped, popped


# --------------------------------------------------------------------------- line trace


def _cells(times: ItemTimes, pe: int, cycles: np.ndarray) -> list[str]:
    """The items a PE's queue holds at the end of each cycle (broadcast, not yet popped)."""
    t, s = times.broadcast, times.pop[pe]
    held = ((t[None, :] <= cycles[:, None]) & (s[None, :] > cycles[:, None])).sum(axis=1)
    return ["" if h == 0 else str(h) if h < 10 else "+" for h in held]


TRACE = TraceColumn("q", 1, _cells, key="items in the PE's queue at the end of the cycle (+: ten or more, "
                                         "blank: none)")
