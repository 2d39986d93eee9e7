"""Activation read/write: a PE's activation memory, its destination registers and write-back.

Rule (docs/ARCHITECTURE.md sections 4 and 5): input ``j`` sits in PE ``j mod N`` at local
index ``j // N`` and output ``i`` in PE ``i mod N`` at ``i // N``, so a job's outputs are in
place as the next job's inputs. Every round, each input of a segment's columns is read once
from the activation SRAM into a source register and once from there by the LNZD scan; at
the end of a round the destination registers are written back through ReLU (unless the job
has none) and a 16-bit clamp. The activation SRAM holds ``act_bytes / 2`` values, inputs
first and outputs after; the rest spill to DRAM, 2 bytes a value.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np
import simpy

from eie_sim.energy_table import EnergyTable
from eie_sim.fields import Event, Field
from eie_sim.functional import write_back
from eie_sim.units.channels import Channel
from eie_sim.units.messages import JobStart, SegmentStart

NAME = "act_rw"
TITLE = "activation read/write"
TABLE2 = True

KB = 1024
FIELDS = (
    Field("regs", 64, int, "destination registers per PE",
          "destination registers per PE (R): outputs a PE computes per round (also an encoding "
          "parameter: a layer encoded for another R is re-encoded)", lo=1, hi=65536),
    Field("act_bytes", 2 * KB, int, "activation SRAM per PE", "activation SRAM per PE", unit="bytes",
          lo=0, hi=1 << 34, flag="act_kb", flag_unit="KB", scale=KB),
    Field("stop_rule", "drain", str, "end of a job",
          "when a job ends: drain (every unit has finished its work) or authors (the EIE authors' "
          "simulator's completion test, which can stop with work left; docs/VALIDATION.md)",
          choices=("drain", "authors")),
)

#: Their completion test looks at the registers' write enables from this cycle on at the earliest
#: (their main loop runs at least 9 cycles).
AUTHORS_MIN_CYCLES = 9
#: A kept entry issued at x sets its write enable at x + 5, which the completion test sees.
AUTHORS_WRITE_DELAY = 5

EVENTS = (
    Event("dest_read", "a destination register read, per kept entry (padding has its write disabled)"),
    Event("dest_write", "a destination register write, per kept entry"),
    Event("src_read", "the LNZD scan reads a source register: every input, every round"),
    Event("sram_read", "the activation SRAM read into a source register: every input, every round"),
    Event("sram_write", "a write-back into the activation SRAM: every output"),
    Event("cycle", "a PE-cycle of the unit's clock network and leakage (the fitted static term)"),
)
VALUE_BITS = 16


def check(c: object) -> str | None:
    """The authors' completion test is theirs: a machine that forwards every update (bypass on)."""
    if c.stop_rule == "authors" and not c.bypass:
        return ("stop_rule = authors models the EIE authors' simulator, which forwards every update; "
                "with bypass off use stop_rule = drain")
    return None


@numba.njit(cache=True)
def authors_stop(kept_issue: np.ndarray, last_row_load: int) -> int:
    """The EIE authors' completion test: the first cycle ``C`` from ``max(9, L + 1)`` on (``L``
    the cycle the segment's last activation row loads) at which no PE issued a kept entry at
    ``C - 5``; ``kept_issue[x]`` says whether some PE issued one at cycle ``x``."""
    c = max(AUTHORS_MIN_CYCLES, last_row_load + 1)
    while c - AUTHORS_WRITE_DELAY < kept_issue.shape[0] and kept_issue[c - AUTHORS_WRITE_DELAY]:
        c += 1
    return c


def prices(table: EnergyTable, c: object) -> dict[str, float]:
    """pJ per event: the R x 16-bit register files priced as tiny SRAMs, and the activation SRAM
    (with none, every activation spills to DRAM and its counts are 0)."""
    regfile = table.sram_pj(c.regs * VALUE_BITS / 8, VALUE_BITS)
    act_sram = table.sram_pj(c.act_bytes, VALUE_BITS) if c.act_bytes > 0 else 0.0
    return {"dest_read": regfile, "dest_write": regfile, "src_read": regfile,
            "sram_read": act_sram, "sram_write": act_sram}


def sram_bits(c: object) -> dict[str, int]:
    """Bits an event moves at the activation SRAM: one 16-bit value per read or write."""
    return {"sram_read": VALUE_BITS, "sram_write": VALUE_BITS}


def steady_state(entries: int, columns: int) -> dict[str, int]:
    """The paper's calibration workload: a destination register read and write per entry."""
    return {"dest_read": entries, "dest_write": entries}


# --------------------------------------------------------------------------- the SimPy unit


@dataclass(frozen=True)
class JobEnd:
    """The job's last segment is done: write back, and send the outputs to the host or keep them."""

    to_host: bool


class DestinationRegisters:
    """The R accumulators of the current round, with the port the arithmetic unit uses: ``read``
    and ``write`` of one register within a cycle, ``accessed`` to count a column's
    read-modify-writes, and ``select_round`` when a new round's items arrive."""

    def __init__(self, owner: ActivationReadWrite, regs: int) -> None:
        self.owner = owner
        self._cells = [0] * regs
        # the port: a register's read and write (the cells stay the same list object)
        self.read = self._cells.__getitem__
        self.write = self._cells.__setitem__
        self.reads = 0
        self.writes = 0
        self.round = -1

    def accessed(self, updates: int) -> None:
        """``updates`` read-modify-writes through the port (one per kept entry)."""
        self.reads += updates
        self.writes += updates

    def clear(self, regs: int) -> None:
        self._cells[:] = [0] * regs

    def values(self) -> list[int]:
        return list(self._cells)

    def select_round(self, r: int) -> None:
        """Items of round ``r`` arrive: the previous round's registers are written back first."""
        if r != self.round:
            if self.round >= 0:
                self.owner.write_back(self.round, self._cells)
            self.round = r
            self.clear(len(self._cells))


class ActivationReadWrite:
    """The PE's slice of a job's input, its destination registers, and its outputs.

    Interface: ``control`` (in, from the array: the host's input slice, job start, segment
    starts, job end), ``sources`` (out, to the CCU: the value of this PE's lane in each row the
    scan loads), ``host_out`` (out, the outputs a job sends to the host), ``spill``
    (out, to the DRAM channel: activation bytes that did not fit the SRAM), ``done`` (out, to
    the array: the job's outputs are written), ``spill_ack`` (in, from DRAM), and ``registers``,
    the register port.
    """

    def __init__(self, env: simpy.Environment, *, index: int, n_pes: int, regs: int, capacity: int,
                 control: Channel, sources: Channel, host_out: Channel, spill: Channel,
                 done: Channel) -> None:
        # interface
        self.env = env
        self.index, self.n_pes = index, n_pes
        self.control, self.sources, self.host_out = control, sources, host_out
        self.spill, self.done = spill, done
        self.spill_ack = Channel(env)  # in, from DRAM: spilled bytes are through
        self.registers = DestinationRegisters(self, regs)
        # state
        self.capacity = capacity  # 16-bit values in the activation SRAM
        self.memory: list[int] = []  # the job's input slice (bias appended), then its outputs
        self._outputs: list[int] = []
        self._relu = False
        self._written: set[int] = set()
        # counters
        self.sram_reads = 0
        self.src_reads = 0
        self.sram_writes = 0
        self.spill_bytes = 0
        self._unsent = 0  # spilled bytes not yet handed to the DRAM channel
        env.process(self.run())

    @classmethod
    def from_config(cls, env: simpy.Environment, config: object, *, index: int,
                    **ports: Channel) -> ActivationReadWrite:
        return cls(env, index=index, n_pes=config.n_pes, regs=config.regs,
                   capacity=config.act_bytes // 2, **ports)

    def run(self):
        """Activation read/write: take a job's input, feed the scan, write the outputs."""
        while True:
            msg = yield self.control.get()
            if isinstance(msg, JobStart):
                if msg.bias_value is not None:
                    self.memory.append(msg.bias_value)
                self._outputs = [0] * msg.n_outputs
                self._relu = msg.relu
                self._written = set()
                self._rounds = msg.rounds
                self.registers.clear(msg.regs)
                self.registers.round = -1
            elif isinstance(msg, SegmentStart):
                yield from self._feed(msg)
            elif isinstance(msg, JobEnd):
                self._finish_job()
                if self._unsent:  # the spilled activations cross the DRAM channel
                    self.spill.offer((self._unsent, self.spill_ack))
                    self._unsent = 0
                    yield self.spill_ack.get()
                if msg.to_host:
                    yield self.host_out.put((self.index, list(self.memory)))
                self.done.offer(self.index)
            elif isinstance(msg, HostInput):
                self.memory = list(msg.values)
            else:
                raise TypeError(f"activation read/write: unexpected message {msg!r}")

    def _feed(self, seg: SegmentStart):
        """The source value of this PE's lane of every row the segment's scan loads, round after
        round (0 for a lane outside the segment's columns: it is not read)."""
        n, p, src = self.n_pes, self.index, self.sources
        ncols_here = len(self.memory)  # the inputs held here (at positions i * N + p), the bias included
        scanned = seg.scanned
        first_row, last_row = scanned.start // n, (scanned.stop - 1) // n
        spilled = 0
        for _ in seg.rounds:
            for row in range(first_row, last_row + 1):
                j = row * n + p
                if scanned.start <= j < scanned.stop and row < ncols_here:
                    self.sram_reads += 1
                    self.src_reads += 1
                    if row >= self.capacity:
                        spilled += 2
                    value = self.memory[row]
                else:
                    value = 0
                src.offer(value) or (yield src.put(value))
        self.spill_bytes += spilled
        self._unsent += spilled

    def write_back(self, r: int, values: list[int]) -> None:
        """Round ``r``'s registers, through ReLU (when the job has one) and a 16-bit clamp, into the
        activation memory; outputs go after the inputs, and beyond the SRAM they spill."""
        regs = len(values)
        lo = r * regs
        hi = min(lo + regs, len(self._outputs))
        if hi > lo:
            self._outputs[lo:hi] = write_back(np.asarray(values[: hi - lo], np.int64), self._relu).tolist()
        n_in = min(len(self.memory), self.capacity)
        spilled = 0
        for i in range(lo, hi):
            self.sram_writes += 1
            if n_in + i >= self.capacity:
                spilled += 2
        self.spill_bytes += spilled
        self._unsent += spilled
        self._written.add(r)

    def _finish_job(self) -> None:
        """Write back the last round and every round that saw no entry; the outputs become the
        memory's contents (the next job's input when it stays on chip)."""
        regs = self.registers
        cells = regs.values()
        if regs.round >= 0:
            self.write_back(regs.round, cells)
        for r in range(self._rounds):
            if r not in self._written:
                self.write_back(r, [0] * len(cells))
        regs.round = -1
        self.memory = self._outputs

    def event_counts(self) -> dict[str, int]:
        return {"dest_read": self.registers.reads, "dest_write": self.registers.writes,
                "src_read": self.src_reads, "sram_read": self.sram_reads, "sram_write": self.sram_writes}

    def reset_counts(self) -> None:
        self.registers.reads = self.registers.writes = 0
        self.sram_reads = self.src_reads = self.sram_writes = self.spill_bytes = 0


@dataclass(frozen=True)
class HostInput:
    """The host's slice of a job's input for this PE (inputs ``j`` with ``j mod N`` = the PE)."""

    values: tuple[int, ...]
