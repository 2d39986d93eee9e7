"""The arithmetic unit: codebook lookup, 16-bit multiply, saturating accumulate; bypass or stall.

Rule (docs/ARCHITECTURE.md section 4, "PE" and "Hazards"): a column's entries issue one per
cycle from the cycle its item is popped. Each ``(v, z)`` walks ``z + 1`` rows to its
destination register, decodes ``v`` through the codebook, multiplies by the column's
activation and adds into the register with saturation (:func:`eie_sim.functional.mac`).
Padding (``v = 0``) takes its cycle and writes nothing. With ``bypass`` back-to-back updates
of a register are forwarded (counted when a column's first kept entry hits the register the
previous column's last entry updated the cycle before); without it an update waits until
``acc_latency`` cycles after the register's previous update, in order. The history of
updates is forgotten at every round and segment. The pipeline drains ``DRAIN_CYCLES`` after
a segment's last issue (its registers written back); a PE is done with a segment once that
drain and its pointer read unit's last column are both over (contract v3's end rule).
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

import numba
import numpy as np
import simpy

from compressor.encode import EncodedLayer
from compressor.fixedpoint import acc_limits
from eie_sim.energy_table import EnergyTable
from eie_sim.fields import Event, Field
from eie_sim.functional import mac
from eie_sim.linetrace import TraceColumn
from eie_sim.run import ItemTimes
from eie_sim.units.channels import END, Channel, TimedChannel
from eie_sim.units.messages import ColumnEntries, JobStart, SegmentStart

NAME = "arith"
TITLE = "arithmetic unit"
TABLE2 = True

FIELDS = (
    Field("bypass", True, bool, "activation bypassing",
          "forward back-to-back updates of a register (on/off); off: stall on hazards"),
    Field("acc_latency", 2, int, "accumulator latency",
          "cycles between two updates of one register when bypass is off", unit="cycles", lo=1, hi=64),
    Field("acc_bits", 16, int, "accumulator width", "accumulator width (saturating)", unit="bits",
          lo=16, hi=48),
)

EVENTS = (
    Event("codebook_read", "a codebook lookup, per entry (padding included)"),
    Event("multiply", "a 16-bit multiply, per entry (padding flows through the datapath)"),
    Event("add", "an accumulator add, per entry"),
    Event("cycle", "a PE-cycle of the unit's clock network and leakage (the fitted static term)"),
)

#: Cycles from the one after a segment's last issue until the pipeline has drained and the
#: registers are written back (section 4, "End": the EIE authors' machine ends a layer 6 cycles
#: after its last kept entry's issue, its five pipeline stages and the cycle its completion
#: test sees them clear).
DRAIN_CYCLES = 5
VALUE_BITS = 16
#: The codebook register file is sized for EIE's 4-bit codes (16 entries); a layer's own wbits
#: is a property of the encoded file, not of the hardware.
CODEBOOK_WBITS = 4


def prices(table: EnergyTable, c: object) -> dict[str, float]:
    """pJ per codebook lookup (a 16 x 16-bit register file, priced as a tiny SRAM), per 16-bit
    multiply, and per add (a ripple adder's energy grows with its width)."""
    return {"codebook_read": table.sram_pj(2**CODEBOOK_WBITS * VALUE_BITS / 8, VALUE_BITS),
            "multiply": table.mult16_pj, "add": table.add32_pj * c.acc_bits / 32}


def steady_state(entries: int, columns: int) -> dict[str, int]:
    """The paper's calibration workload: one entry per cycle."""
    return {"codebook_read": entries, "multiply": entries, "add": entries}


#: "No update yet": the last issue of a register (or of the unit) before any, in both engines.
NO_UPDATE = -(1 << 40)


# --------------------------------------------------------------------------- the SimPy unit


class ArithmeticUnit:
    """Issues a column's entries one per cycle into the destination registers.

    Interface: ``entries`` (in, from the sparse-matrix read unit), ``ready`` (out, to the
    pointer read unit: the column's last entry issued), ``registers`` (the destination
    register file's port, of the activation read/write unit: a read and a write per kept
    entry, within the cycle), ``done`` (out, to the array: a segment's pipeline has drained).
    """

    def __init__(self, env: simpy.Environment, *, bypass: bool, acc_latency: int,
                 acc_limits: tuple[int, int], entries: Channel, ready: TimedChannel, registers: object,
                 done: Channel) -> None:
        # interface
        self.env = env
        self.entries, self.ready, self.registers, self.done = entries, ready, registers, done
        # state
        self.bypass = bypass
        self.acc_latency = acc_latency
        self.lo, self.hi = acc_limits
        self.codebook: tuple[int, ...] = ()
        self.fw = 0
        self.ibits = 4
        self._round = -1
        self._history: dict[int, int] = {}  # register -> cycle of its last update
        self._last_reg = -1
        self._last_cycle = NO_UPDATE
        self._drained_at = 0  # the cycle the pipeline is empty after the segment's last issue
        # counters
        self.issued = 0  # entries, padding included
        self.kept = 0
        self.bypasses = 0
        env.process(self.run())

    @classmethod
    def from_config(cls, env: simpy.Environment, config: object, **ports: object) -> ArithmeticUnit:
        return cls(env, bypass=config.bypass, acc_latency=config.acc_latency,
                   acc_limits=acc_limits(config.acc_bits), **ports)

    def forget(self) -> None:
        """A new round or segment: no earlier update can be forwarded or collide."""
        self._history = {}
        self._last_cycle = NO_UPDATE

    def run(self):
        """Arithmetic: issue each column's entries; drain at a segment's end."""
        env, entries = self.env, self.entries
        while True:
            msg = yield entries.get()
            if type(msg) is ColumnEntries:
                r, j, value, packed = msg
                if r != self._round:
                    self.registers.select_round(r)  # the previous round is written back
                    self._round = r
                    self.forget()
                # ready for the next column once its last entry has issued
                end = self._issue(packed, value, env._now)  # SimPy's clock
                self.ready.offer_at(j, end)
                self._drained_at = end + DRAIN_CYCLES
            elif msg is END:  # the PE's last column is done: the pipeline drains after it
                if self._drained_at > env.now:
                    yield env.timeout(self._drained_at - env.now)
                self.done.offer(env.now)
            elif isinstance(msg, SegmentStart):
                self._drained_at = 0
                self.forget()
            elif isinstance(msg, JobStart):
                self.codebook, self.fw, self.ibits = msg.codebook_fix, msg.fw, msg.ibits
                self._round = -1
                self.forget()
            else:
                raise TypeError(f"arithmetic unit: unexpected message {msg!r}")

    def _issue(self, entries: bytes | bytearray | list[int], a: int, start: int) -> int:
        """Issue a column's packed entries, times activation ``a``, one per cycle from ``start``;
        the cycle after the last issue."""
        ibits, zmask = self.ibits, (1 << self.ibits) - 1
        codebook, fw, lo, hi = self.codebook, self.fw, self.lo, self.hi
        registers = self.registers
        read, write = registers.read, registers.write
        reg = -1
        issue = start - 1
        kept = 0
        if self.bypass:  # back-to-back issue; forwarding covers every update
            rest = iter(entries)
            for x in rest:  # leading padding, then the first kept entry
                reg += (x & zmask) + 1
                issue += 1
                v = x >> ibits
                if v:  # forwarded into when it follows the previous column's last update
                    if issue == self._last_cycle + 1 and reg == self._last_reg:
                        self.bypasses += 1
                    write(reg, mac(read(reg), codebook[v], a, fw, lo, hi))
                    kept = 1
                    break
            for x in rest:
                reg += (x & zmask) + 1
                v = x >> ibits
                if v:
                    write(reg, mac(read(reg), codebook[v], a, fw, lo, hi))
                    kept += 1
            issue = start + len(entries) - 1
        else:  # an update waits acc_latency after its register's last one, in order
            history, latency = self._history, self.acc_latency
            for x in entries:
                reg += (x & zmask) + 1
                issue += 1
                v = x >> ibits
                if v:
                    ready = history.get(reg, NO_UPDATE) + latency
                    if ready > issue:
                        issue = ready
                    history[reg] = issue
                    write(reg, mac(read(reg), codebook[v], a, fw, lo, hi))
                    kept += 1
        # a slice never ends in padding, so its last entry is the last register update
        self._last_reg, self._last_cycle = reg, issue
        registers.accessed(kept)
        self.issued += len(entries)
        self.kept += kept
        return issue + 1

    def event_counts(self) -> dict[str, int]:
        n = self.issued
        return {"codebook_read": n, "multiply": n, "add": n}

    def reset_counts(self) -> None:
        self.issued = self.kept = self.bypasses = 0


# --------------------------------------------------------------------------- the closed-form rules



@numba.njit(cache=True, inline="always")
def issue_end(knobs, start: int, v: np.ndarray, rows: np.ndarray, first: int, n: int, round_base: int,
              history: np.ndarray) -> int:
    """The cycle after a column's last issue, its ``n`` entries (from entry ``first``) starting at
    ``start``: back to back with bypass; without it a kept entry waits ``acc_latency`` after
    its register's (local row - ``round_base``) last update, and the ones behind it wait too."""
    if knobs.bypass:
        return start + n
    issue = start - 1
    for e in range(first, first + n):
        issue += 1
        if v[e] != 0:
            x = rows[e] - round_base
            ready = history[x] + knobs.acc_latency
            if ready > issue:
                issue = ready
            history[x] = issue
    return issue + 1


@numba.njit(cache=True, inline="always")
def drained(last_issue_end: int) -> int:
    """The cycle the pipeline is empty, given the cycle after the segment's last issue
    (``NO_UPDATE``: nothing issued, nothing to drain)."""
    return last_issue_end + DRAIN_CYCLES if last_issue_end != NO_UPDATE else 0


@numba.njit(cache=True, inline="always")
def forget(history: np.ndarray) -> None:
    """A new round or segment: the hazard history of a PE starts empty."""
    history[:] = NO_UPDATE


@numba.njit(cache=True, inline="always")
def bypassed(knobs, start: int, first_kept_row: int, last_end: int, last_row: int) -> bool:
    """Is a column starting at ``start`` forwarded into: its first entry kept (row
    ``first_kept_row``, -1 when padding) on the row the previous column's last entry updated
    in the cycle before (``last_end`` is that column's issue end)?"""
    return knobs.bypass and first_kept_row >= 0 and start == last_end and first_kept_row == last_row


@dataclass(frozen=True)
class SliceRows:
    """Per (PE, round * ncols + column) slice: the local row of its first entry when that entry is
    kept (-1 when it is padding or the slice is empty) and of its last entry (-1 when empty).

    What the bypass rule needs of a column without walking its entries: a column can only be
    forwarded into when its first entry is kept (after leading padding the first kept entry
    is at least two cycles after the previous column's last update), and the last entry of a
    slice is always kept (padding never ends a slice)."""

    first_kept_row: np.ndarray  # int32 N x S
    last_row: np.ndarray


@numba.njit(cache=True)
def _slice_rows(v, rows, pe_offsets, ptr, first_row, last_row):
    n_pes, n_ptr = ptr.shape
    for p in range(n_pes):
        base = pe_offsets[p]
        for s in range(n_ptr - 1):
            a = ptr[p, s]
            b = ptr[p, s + 1]
            if b == a:
                continue
            if v[base + a] != 0:
                first_row[p, s] = rows[base + a]
            last_row[p, s] = rows[base + b - 1]


_SLICE_ROWS: weakref.WeakKeyDictionary[EncodedLayer, SliceRows] = weakref.WeakKeyDictionary()


def slice_rows(layer: EncodedLayer) -> SliceRows:
    """The layer's :class:`SliceRows`, computed once per layer object."""
    out = _SLICE_ROWS.get(layer)
    if out is None:
        shape = (layer.n_pes, layer.ptr.shape[1] - 1)
        first, last = np.full(shape, -1, np.int32), np.full(shape, -1, np.int32)
        _slice_rows(layer.v, layer.entry_rows, layer.pe_offsets, layer.ptr, first, last)
        first.flags.writeable = last.flags.writeable = False
        out = _SLICE_ROWS[layer] = SliceRows(first, last)
    return out


# --------------------------------------------------------------------------- line trace


def _cells(times: ItemTimes, pe: int, cycles: np.ndarray) -> list[str]:
    s, fin, n = times.pop[pe], times.finish[pe], times.entries[pe]
    out = []
    for x in cycles:
        k = np.flatnonzero((s <= x) & ((fin > x) | (fin < 0)) & (n > 0) & (s >= 0))
        if not len(k):
            out.append("")
        else:
            k = int(k[0])
            out.append("." if x < s[k] + n[k] else "*")
    return out


TRACE = TraceColumn("a", 1, _cells, key=".: issuing a column's entries; *: waiting on a register "
                                         "(bypass off), shown after the column's entries")
