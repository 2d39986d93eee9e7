"""A processing element: its activation queue and four units, joined by channels.

The PE's story: the pointer read unit pops the head activation and reads its column's
bounds; the sparse-matrix read unit fetches the column's words; the arithmetic unit issues
the entries into activation read/write's destination registers, and tells the pointer read
unit when the last one has issued, so that the next column starts once both are done
(docs/ARCHITECTURE.md section 4, "PE"). The pointer read and the arithmetic run
concurrently: a column takes ``max(P, entries)`` cycles because the two overlap, not
because anything adds it up.
"""

from __future__ import annotations

import numba
import simpy

from eie_sim.units import act_queue, act_rw, arith, ptr_read, spmat_read
from eie_sim.units.channels import Channel, TimedChannel

NAME = "pe"
TITLE = "processing element"
TABLE2 = False
FIELDS = ()
EVENTS = ()


class ProcessingElement:
    """One PE.

    Interface: ``queue`` (in, from the CCU's broadcast bus), ``control`` (in, from the array:
    job and segment starts, for the pointer read unit and, in band, the units behind it),
    ``act_control`` (in, from the array, for activation read/write), ``sources`` (out, to the
    CCU), ``spmat_fill``/``ptr_fill`` (in, from DRAM), and the shared ``filled``, ``done``,
    ``act_done``, ``host_out`` and ``spill`` channels of the array.
    """

    def __init__(self, env: simpy.Environment, config: object, *, index: int, filled: Channel,
                 done: Channel, act_done: Channel, host_out: Channel, spill: Channel) -> None:
        # interface
        self.env = env
        self.index = index
        self.queue = act_queue.ActivationQueue(env, depth=config.queue_depth,
                                               latency=config.broadcast_latency)
        self.control = Channel(env)
        self.act_control = Channel(env)
        self.sources = Channel(env, capacity=1)
        self.spmat_fill = Channel(env)
        self.ptr_fill = Channel(env)
        # channels between the units, named after the two they join (the pointer read unit
        # hands a column to the sparse-matrix read unit's read port)
        self.spmat_to_arith = Channel(env, capacity=1)
        self.arith_to_ptr = TimedChannel(env, capacity=1)  # the arithmetic unit is ready for a column
        # units and their connections
        self.act_rw = act_rw.ActivationReadWrite.from_config(
            env, config, index=index, control=self.act_control, sources=self.sources,
            host_out=host_out, spill=spill, done=act_done)
        self.spmat_read = spmat_read.SparseMatrixReadUnit.from_config(
            env, config, entries=self.spmat_to_arith, fill=self.spmat_fill, filled=filled)
        self.ptr_read = ptr_read.PointerReadUnit.from_config(
            env, config, queue=self.queue, control=self.control, columns=self.spmat_read.columns,
            ready=self.arith_to_ptr, fill=self.ptr_fill, filled=filled)
        self.arith = arith.ArithmeticUnit.from_config(
            env, config, entries=self.spmat_to_arith, ready=self.arith_to_ptr,
            registers=self.act_rw.registers, done=done)

    @property
    def units(self) -> tuple[object, ...]:
        """The PE's units that count energy events, keyed by their modules' names."""
        return ((act_queue.NAME, self.queue), (ptr_read.NAME, self.ptr_read),
                (spmat_read.NAME, self.spmat_read), (arith.NAME, self.arith), (act_rw.NAME, self.act_rw))

    def busy_cycles(self) -> int:
        """Cycles the PE spent on columns, stalls excluded: its entries' issue cycles, plus the
        pointer reads no entry hid (``sum of max(P, entries)``)."""
        return self.arith.issued + self.ptr_read.exposed_cycles

    def hazard_stall_cycles(self) -> int:
        """Cycles columns took beyond their busy cycles: the arithmetic unit waiting on a register."""
        return self.ptr_read.slot_cycles - self.busy_cycles()

    def reset_counts(self) -> None:
        for _, unit in self.units:
            unit.reset_counts()


# --------------------------------------------------------------------------- the closed-form rules


@numba.njit(cache=True, inline="always")
def pop_cycle(visible: int, previous_finish: int) -> int:
    """A PE pops an item once it is visible and its previous column is done."""
    return visible if visible > previous_finish else previous_finish


@numba.njit(cache=True, inline="always")
def done_cycle(last_finish: int, drained: int) -> int:
    """A PE is done with a segment when its last column is done and its pipeline has drained."""
    return last_finish if last_finish > drained else drained


@numba.njit(cache=True, inline="always")
def finish_cycle(pop: int, read_cycles: int, issue_end: int) -> int:
    """A column is done when its pointer read and its last issue both are (they overlap)."""
    return pop + read_cycles if pop + read_cycles > issue_end else issue_end
