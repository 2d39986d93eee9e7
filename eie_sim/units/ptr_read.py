"""The pointer read unit: pops a PE's next activation and reads its column's bounds ``p_j``, ``p_j+1``.

Rule (docs/ARCHITECTURE.md section 4, "PE"): the unit pops the head item once it is visible
and the arithmetic unit has issued the previous column's last entry; reading the two
pointers occupies it ``P`` cycles (1 with two banks: even slots in one, odd in the other,
so ``p_j`` and ``p_j+1`` come in one cycle; 2 with one bank). A column's entries stream
into the arithmetic unit from the cycle of the pop, so a column takes ``max(P, entries)``
cycles, the pointer read hidden under the entries when there are enough of them. An empty
column (``p_j+1 = p_j``) never reaches the arithmetic unit and costs its ``P`` cycles.

With ``column_bitmap`` on, the unit also keeps a bit per pointer slot, set when the PE's
slice of that column has entries (written by its SRAM write port as pointers arrive: no
extra DRAM bytes). It looks up the head item's bit as it pops it: a clear bit drops the
item in the same cycle, without a pointer read and without a cycle, so any number of
empty slices pass in one cycle (a find-first over the queue's ``Q`` bits).
"""

from __future__ import annotations

import numba
import numpy as np
import simpy

from compressor.encode import unpack_bits
from eie_sim.energy_table import EnergyTable
from eie_sim.fields import Event, Field
from eie_sim.linetrace import TraceColumn
from eie_sim.run import ItemTimes
from eie_sim.units.channels import EMPTY, END, Channel
from eie_sim.units.messages import Column, SegmentStart, make

NAME = "ptr_read"
TITLE = "pointer read"
TABLE2 = True

KB = 1024
FIELDS = (
    Field("ptr_banks", 2, int, "pointer SRAM banks",
          "pointer SRAM banks, 1 or 2 (2 reads a column's two pointers in one cycle)",
          unit="banks", lo=1, hi=2),
    Field("ptr_bytes", 64 * KB, int, "pointer SRAM per PE", "pointer SRAM per PE (both banks)",
          unit="bytes", lo=1, hi=1 << 34, flag="ptr_kb", flag_unit="KB", scale=KB),
    Field("ptr_bits", 18, int, "pointer width", "bits per column pointer", unit="bits", lo=1, hi=48),
    Field("column_bitmap", False, bool, "column bitmap",
          "a bit per column slice saying whether it has entries: an empty slice is skipped with no "
          "pointer read and no cycle (on/off)"),
)

EVENTS = (
    Event("read", "a pointer SRAM access: one per column per PE with two banks, two with one"),
    Event("bitmap_read", "a column bitmap lookup: one per column per PE (column_bitmap on)"),
    Event("cycle", "a PE-cycle of the unit's clock network and leakage (the fitted static term)"),
)


def read_cycles(ptr_banks: int) -> int:
    """``P``: cycles to read a column's two pointers."""
    return 1 if ptr_banks == 2 else 2


def slots(c: object) -> int:
    """Pointer slots the SRAM holds (both banks)."""
    return c.ptr_bytes * 8 // c.ptr_bits


def prices(table: EnergyTable, c: object) -> dict[str, float]:
    """pJ per access. Two banks: p_j and p_j+1 in one access of both half-size banks. One bank:
    each access of the whole SRAM reads one pointer. The bitmap: a 1-bit read of an array of
    one bit per slot."""
    read = (2 * table.sram_pj(c.ptr_bytes / 2, c.ptr_bits) if c.ptr_banks == 2
            else table.sram_pj(c.ptr_bytes, c.ptr_bits))
    return {"read": read, "bitmap_read": table.sram_pj(max(1, slots(c)) / 8, 1)}


def sram_bits(c: object) -> dict[str, int]:
    """Bits an event moves at the SRAM: two pointers per access with two banks, one with one."""
    return {"read": (2 if c.ptr_banks == 2 else 1) * c.ptr_bits, "bitmap_read": 1}


def steady_state(entries: int, columns: int) -> dict[str, int]:
    """The paper's calibration workload (two banks): one access per column."""
    return {"read": columns}


def static_scale(c: object, reference: object) -> float:
    """Leakage grows with the bits stored: the static term scales with the SRAM's capacity,
    and the bitmap adds one bit per ``ptr_bits``-bit slot."""
    return c.ptr_bytes / reference.ptr_bytes * (1 + 1 / c.ptr_bits if c.column_bitmap else 1)


area_scale = static_scale


# --------------------------------------------------------------------------- the SimPy unit


class PointerReadUnit:
    """The pointer SRAM (one or two banks of ``ptr_bits``-wide slots) and the column issue logic.

    Interface: ``queue`` (in, the PE's activation queue), ``control`` (in, segment starts from
    the array), ``columns`` (out, to the sparse-matrix read unit), ``ready`` (in, from the
    arithmetic unit: a column's last entry issued), ``fill`` (in, pointer bursts from DRAM),
    ``filled`` (out, an acknowledgement per burst).
    """

    def __init__(self, env: simpy.Environment, *, banks: int, slots: int, ptr_bits: int,
                 bitmap: bool = False, queue: Channel, control: Channel, columns: Channel, ready: Channel,
                 fill: Channel, filled: Channel) -> None:
        # interface
        self.env = env
        self.queue, self.control, self.columns, self.ready = queue, control, columns, ready
        self.fill, self.filled = fill, filled
        # state: the SRAM image, grown as written up to its capacity
        self.n_banks = banks
        self.cycles_per_read = read_cycles(banks)
        self.accesses_per_column = 1 if banks == 2 else 2
        self.ptr_bits = ptr_bits
        self.slots = slots
        self.banks: list[list[int]] = [[] for _ in range(banks)]  # each bank's slots
        self.has_bitmap = bitmap
        self.bitmap = bytearray()  # per slot: does the column starting there have entries
        # counter, and the trace its other counts come from: per item, the cycle it was popped,
        # its column's entries, and the cycle the column was done (once it is)
        self.exposed_cycles = 0  # read cycles no entry hides: max(0, P - entries) per column
        self.skips = 0  # items the bitmap dropped
        self.pops: list[int] = []
        self.entries: list[int] = []
        self.finishes: list[int] = []
        env.process(self.run())
        env.process(self.write_port())

    @classmethod
    def from_config(cls, env: simpy.Environment, config: object, **ports: Channel) -> PointerReadUnit:
        return cls(env, banks=config.ptr_banks, slots=slots(config), ptr_bits=config.ptr_bits,
                   bitmap=config.column_bitmap, **ports)

    def write_port(self):
        """SRAM write port: bursts ``(first slot, packed pointers, count)`` from DRAM."""
        while True:
            slot, data, count = yield self.fill.get()
            self.write(slot, unpack_bits(data, self.ptr_bits, count))
            self.filled.offer(NAME)

    def write(self, slot: int, pointers: np.ndarray) -> None:
        """Consecutive pointers from ``slot`` on, each truncated to ptr_bits."""
        if slot < 0 or slot + len(pointers) > self.slots:
            raise IndexError(f"pointer slots {slot}..{slot + len(pointers) - 1} are outside the "
                             f"{self.slots}-slot pointer SRAM")
        values = np.asarray(pointers, np.int64) & ((1 << self.ptr_bits) - 1)
        nb = self.n_banks
        for b in range(nb):
            first = slot + (b - slot) % nb  # the first slot from `slot` on that lives in bank b
            part = values[first - slot:: nb]
            bank, end = self.banks[b], first // nb + len(part)
            if end > len(bank):
                bank.extend([0] * (end - len(bank)))
            bank[first // nb: end] = part.tolist()
        if self.has_bitmap:  # the write port compares each pointer with the next
            self._update_bitmap(max(0, slot - 1), slot + len(values))

    def _update_bitmap(self, lo: int, hi: int) -> None:
        """Bits of slots lo..hi-1 from the pointers now stored (a slot's bit needs its successor)."""
        nb, banks, bits = self.n_banks, self.banks, self.bitmap
        if len(bits) < hi:
            bits.extend(bytes(hi - len(bits)))

        def pointer(s: int) -> int:
            bank = banks[s % nb]
            return bank[s // nb] if s // nb < len(bank) else 0

        for s in range(lo, hi):
            bits[s] = pointer(s + 1) != pointer(s)

    def run(self):
        """Pointer read: per segment, pop each item, read its column's bounds, hand it on."""
        env, queue, columns, ready = self.env, self.queue, self.columns, self.ready
        p_cycles = self.cycles_per_read
        pops, finishes, sizes = self.pops, self.finishes, self.entries
        two_banks = self.n_banks == 2
        even, odd = self.banks if two_banks else (self.banks[0], None)
        bitmap = self.bitmap if self.has_bitmap else None
        while True:
            seg = yield self.control.get()
            columns.offer(seg)  # in band, to the units behind
            if not isinstance(seg, SegmentStart):
                continue  # a job start: nothing for the pointers
            base, stride = seg.ptr_slot - seg.rounds.start * seg.stride - seg.col_start, seg.stride
            arith_busy = False
            read_done = env.now
            start = -1
            while True:
                if arith_busy:  # the arithmetic unit takes one column at a time
                    yield ready.get()
                    arith_busy = False
                now = env._now  # SimPy's clock (the attribute `now` reads)
                if now < read_done:  # its own read of the column is not over
                    yield env.timeout(read_done - now)
                    now = read_done
                if start >= 0:  # the last column is done: its pointers read, its entries issued
                    finishes.append(now)
                item = queue.poll()
                if item is EMPTY:
                    item = yield queue.get()
                    now = env._now
                if item is END:
                    columns.offer(END)
                    break
                start = now
                r, j, value = item
                slot = base + r * stride + j
                if bitmap is not None and not bitmap[slot]:  # an empty slice: dropped, no read
                    pops.append(start)
                    sizes.append(0)
                    self.skips += 1
                    continue
                if two_banks:  # p_j and p_j+1 sit in different banks: both in one access
                    half = slot >> 1
                    first, end = (odd[half], even[half + 1]) if slot & 1 else (even[half], odd[half])
                else:
                    first, end = even[slot], even[slot + 1]
                n = end - first
                pops.append(start)
                sizes.append(n)
                if n:
                    columns.offer(make(Column, (r, j, value, first, end)))
                    arith_busy = True
                if n < p_cycles:
                    self.exposed_cycles += p_cycles - n
                read_done = start + p_cycles

    @property
    def slot_cycles(self) -> int:
        """Cycles from each pop to its column being done, summed over the finished columns."""
        return sum(self.finishes) - sum(self.pops[: len(self.finishes)])

    def event_counts(self) -> dict[str, int]:
        counts = {"read": (len(self.pops) - self.skips) * self.accesses_per_column}
        if self.has_bitmap:
            counts["bitmap_read"] = len(self.pops)
        return counts

    def reset_counts(self) -> None:
        self.exposed_cycles = 0
        self.skips = 0
        self.pops.clear()
        self.finishes.clear()
        self.entries.clear()


# --------------------------------------------------------------------------- the closed-form rules


@numba.njit(cache=True, inline="always")
def column_cycles(knobs, entries: int) -> int:
    """Cycles the unit spends on a column of ``entries`` entries (its read, ``P``; none for an
    empty slice the bitmap skips)."""
    if knobs.column_bitmap and entries == 0:
        return 0
    return 1 if knobs.ptr_banks == 2 else 2


@numba.njit(cache=True, inline="always")
def column_accesses(knobs, entries: int) -> int:
    """Pointer SRAM accesses for one column."""
    if knobs.column_bitmap and entries == 0:
        return 0
    return 1 if knobs.ptr_banks == 2 else 2


def closed_form_counts(pointer_reads: int, visits: int, c: object) -> dict[str, int]:
    """The unit's events in the fast engine: the scan's pointer accesses (``column_accesses``
    summed) over ``visits`` PE-visits of columns, each looked up in the bitmap when it is on."""
    return {"read": pointer_reads, "bitmap_read": visits if c.column_bitmap else 0}


# --------------------------------------------------------------------------- line trace


def _cells(times: ItemTimes, pe: int, cycles: np.ndarray) -> list[str]:
    s, cols = times.pop[pe], times.columns
    out = []
    for x in cycles:
        k = np.flatnonzero(s == x)
        out.append(str(int(cols[k[-1]])) if len(k) else "")
    return out


TRACE = TraceColumn("pop", 5, _cells, key="the input column whose pointers the PE reads this cycle")
