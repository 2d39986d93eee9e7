"""Each SimPy unit alone, between a source and a sink (PyMTL3's test harness), against its rule.

A source puts items into the unit's input channel on a schedule; a sink takes from its output
with back-pressure (it is slow, or late); the cycles things happen are compared with numbers
worked out by hand from docs/ARCHITECTURE.md section 4, and with the unit's closed-form rule
(the function the fast engine composes) on the same inputs. A deadlock is a failure, not a
hang: every harness runs to a cycle limit and checks that it finished.
"""

from __future__ import annotations

import numpy as np
import pytest
import simpy

from compressor.encode import encode_layer, pack_bits, pack_entries
from eie_sim.config import SimConfig, knobs
from eie_sim.memory import plan_model
from eie_sim.units import act_queue, arith, ccu, dram, ptr_read, spmat_read
from eie_sim.units.act_rw import ActivationReadWrite, DestinationRegisters, HostInput, JobEnd
from eie_sim.units.channels import END, BroadcastBus, Channel, LatencyChannel, Port, TimedChannel
from eie_sim.units.messages import Column, ColumnEntries, JobStart, SegmentStart
from tests.conftest import random_codes

LIMIT = 10_000


def finish(env: simpy.Environment, *procs: simpy.Process) -> None:
    """Run until every process ends; a deadlock (or a runaway) fails the test."""
    env.run(until=env.any_of([env.all_of(list(procs)), env.timeout(LIMIT)]))
    assert all(p.triggered for p in procs), f"deadlock: stuck at cycle {env.now}"


def source(env: simpy.Environment, channel, items, *, at=None, interval: int = 0):
    """Put ``items`` into ``channel``: item k no earlier than ``at[k]`` (or ``interval`` after the
    previous put); records the cycle each put succeeded."""
    done = []

    def run():
        for k, item in enumerate(items):
            when = at[k] if at is not None else (done[-1] + interval if done else 0)
            if env.now < when:
                yield env.timeout(when - env.now)
            yield channel.put(item)
            done.append(env.now)

    return env.process(run()), done


def sink(env: simpy.Environment, channel, count: int, *, interval: int = 1, initial: int = 0):
    """Take ``count`` items, the first no earlier than ``initial`` and each ``interval`` cycles
    after the one before (back-pressure); records (cycle, item)."""
    got = []

    def run():
        if initial:
            yield env.timeout(initial)
        for _ in range(count):
            item = yield channel.get()
            got.append((env.now, item))
            if interval:
                yield env.timeout(interval)

    return env.process(run()), got


# -------------------------------------------------------------------------------------------------- channels


def test_channel_blocks_a_full_put_and_an_empty_get():
    env = simpy.Environment()
    ch = Channel(env, capacity=1)
    src, put_at = source(env, ch, "abc")
    snk, got = sink(env, ch, 3, interval=3, initial=2)
    finish(env, src, snk)
    # capacity 1: 'b' waits for 'a' to be taken at 2, 'c' for 'b' at 5
    assert put_at == [0, 2, 5] and got == [(2, "a"), (5, "b"), (8, "c")]


def test_latency_channel_holds_items_in_flight():
    env = simpy.Environment()
    ch = LatencyChannel(env, capacity=2, latency=3)
    src, put_at = source(env, ch, range(4))
    snk, got = sink(env, ch, 4)
    finish(env, src, snk)
    # an item in flight holds its slot: items 2 and 3 wait for 0 and 1 to be taken at 3 and 4
    assert put_at == [0, 0, 3, 4] and [c for c, _ in got] == [3, 4, 6, 7]


def test_timed_channel_delivers_at_the_senders_cycle():
    env = simpy.Environment()
    ch = TimedChannel(env, capacity=1)
    snk, got = sink(env, ch, 2)

    def sender():
        ch.offer_at("x", 5)
        yield env.timeout(6)
        ch.offer_at("y", 4)  # a cycle already past: at once

    finish(env, env.process(sender()), snk)
    assert got == [(5, "x"), (6, "y")]


# ------------------------------------------------------------------------------------------------ the queues


def test_queues_credit_the_broadcast_and_count_their_occupancy():
    """Q = 2, Lb = 2; the source offers item k at cycle k; PE A pops as soon as it can, PE B one
    item every 3 cycles. Worked by hand: B's full queue holds items 3, 4, 5 back until it pops
    items 1, 2, 3 (a pop frees its slot for a broadcast in the same cycle)."""
    env = simpy.Environment()
    qa, qb = (act_queue.ActivationQueue(env, depth=2, latency=2) for _ in range(2))
    bus = BroadcastBus(env, [qa, qb])
    src, t = source(env, bus, [(0, k, 1) for k in range(6)], at=list(range(6)))
    a, got_a = sink(env, qa, 6)
    b, got_b = sink(env, qb, 6, interval=3)
    finish(env, src, a, b)
    assert t == [0, 1, 2, 5, 8, 11]
    assert [c for c, _ in got_a] == [2, 3, 4, 7, 10, 13]
    assert [c for c, _ in got_b] == [2, 5, 8, 11, 14, 17]
    assert qa.event_counts() == qb.event_counts() == {"push": 6, "pop": 6}
    # each item holds a slot from its broadcast to its pop
    assert (qa.occupancy_sum, qa.occupancy_max) == (12, 2)
    assert (qb.occupancy_sum, qb.occupancy_max) == (30, 2)
    # the closed-form rules on the same pops give the same broadcasts
    pops = np.array([[c for c, _ in got_a], [c for c, _ in got_b]], np.int64).T
    credit = [max(k, act_queue.credit_cycle(pops, k, 2)) for k in range(6)]
    assert credit == t
    assert all(act_queue.visible_cycle(tk, 2) == tk + 2 for tk in t)


def test_queue_occupancy_is_measured_at_the_end_of_each_cycle():
    """A push and a pop in the same cycle: the end-of-cycle occupancy counts, not the moment between."""
    env = simpy.Environment()
    q = act_queue.ActivationQueue(env, depth=4, latency=1)
    bus = BroadcastBus(env, [q])
    src, t = source(env, bus, [(0, k, 1) for k in range(3)], at=[0, 1, 2])
    snk, got = sink(env, q, 3)
    finish(env, src, snk)
    assert [c for c, _ in got] == [1, 2, 3]
    q.event_counts()
    assert (q.occupancy_sum, q.occupancy_max) == (3, 1)


# --------------------------------------------------------------------------------------------------- the CCU


def ccu_harness(rows: list[list[int]], *, depth: int, pop_interval: int = 1):
    """A CCU over ``rows`` (lane values, N = len(row)) broadcasting into N queues drained by sinks."""
    env = simpy.Environment()
    n = len(rows[0])
    queues = [act_queue.ActivationQueue(env, depth=depth, latency=2) for _ in range(n)]
    bus = BroadcastBus(env, queues)
    sources = [Channel(env, capacity=1) for _ in range(n)]
    unit = ccu.CentralControlUnit(env, sources=sources, bus=bus)
    feeds = [source(env, sources[p], [row[p] for row in rows])[0] for p in range(n)]
    items = sum(1 for row in rows for v in row if v)
    sinks = [sink(env, q, items, interval=pop_interval) for q in queues]
    unit.control.offer(ccu.Scan(range(1), 0, len(rows) - 1))

    def ends():
        yield unit.done.get()

    finish(env, *feeds, *(s for s, _ in sinks), env.process(ends()))
    return unit, sinks


def test_ccu_loads_rows_and_broadcasts_their_non_zeros():
    """N = 2. Row 0 [5, 0]: loaded at 0, 5 broadcast at 1, the next row loads at 2 (lane 0 was not
    N-1); row 1 is empty (2); row 2 loads at 3, broadcasts 4 and 5 (lane 1 = N-1: row 3 loads in
    that same cycle), row 3's 7 goes at 6; the scan ends the cycle after: 7."""
    unit, sinks = ccu_harness([[5, 0], [0, 0], [3, 4], [0, 7]], depth=8)
    assert unit.broadcast_cycles == [1, 4, 5, 6]
    assert unit.broadcast_items == [(0, 0), (0, 4), (0, 5), (0, 7)]
    assert unit.row_loads == 4 and unit.stall_cycles == 0
    assert [v for _, (_, _, v) in sinks[0][1]] == [5, 3, 4, 7]
    # the closed-form rules on the same items
    rows, lanes = np.array([0, 2, 2, 3]), np.array([0, 0, 1, 1])
    t = np.zeros(4, np.int64)
    for k in range(4):
        t[k] = ccu.found_cycle(k, rows, lanes, t, 2)
    assert t.tolist() == unit.broadcast_cycles
    assert ccu.scan_end(rows, lanes, t, 4, 2) == 7


def test_ccu_holds_an_item_while_a_queue_is_full():
    """Q = 1 and PEs that pop every 4 cycles: each broadcast waits for the pop of the one before."""
    unit, sinks = ccu_harness([[1, 2], [3, 0]], depth=1, pop_interval=4)
    # item 0 at 1, popped at 3; item 1 found at 2, goes at 3; popped at 7; item 2 (row 1 loaded
    # at 3, lane 1 was N-1) found at 4, goes at 7
    assert unit.broadcast_cycles == [1, 3, 7]
    assert unit.stall_cycles == (3 - 2) + (7 - 4)


def test_lnzd_tree_yields_non_zero_lanes_in_order():
    tree = ccu.LeadingNonZeroDetector(10)
    tree.load([0, -3, 0, 0, 7, 0, 0, 0, 0, 1])  # negative values are non-zero
    lanes = []
    while (lane := tree.next_lane()) is not None:
        lanes.append(lane)
    assert lanes == [1, 4, 9]
    assert ccu.lnzd_nodes(64) == 21 and ccu.lnzd_nodes(5) == 3 and ccu.lnzd_nodes(1) == 1


# ---------------------------------------------------------------------------------------------- pointer read


def pointer_harness(sizes: list[int], visible: list[int], extra: list[int], *, banks: int,
                    bitmap: bool = False):
    """The pointer read unit over columns of ``sizes`` entries, items visible at ``visible``; a stand-in
    arithmetic unit is ready ``n + extra[k]`` cycles after it takes a column of n entries."""
    env = simpy.Environment()
    queue = act_queue.ActivationQueue(env, depth=len(sizes), latency=1)
    bus = BroadcastBus(env, [queue])
    ready = TimedChannel(env, capacity=1)
    taken = []

    def arithmetic(msg: object) -> bool:
        if type(msg) is Column:
            taken.append((env.now, msg.column, msg.end - msg.first))
            ready.offer_at(msg.column, env.now + (msg.end - msg.first) + extra[msg.column])
        return True

    control = Channel(env)
    unit = ptr_read.PointerReadUnit(env, banks=banks, slots=64, ptr_bits=18, bitmap=bitmap, queue=queue,
                                    control=control, columns=Port(arithmetic), ready=ready,
                                    fill=Channel(env), filled=Channel(env))
    unit.write(0, np.concatenate([[0], np.cumsum(sizes)]))
    control.offer(SegmentStart(range(1), 0, len(sizes), len(sizes), 0, 0))
    src, _ = source(env, bus, [(0, j, 1) for j in range(len(sizes))], at=[v - 1 for v in visible])

    def close():
        yield env.timeout(max(visible) + sum(sizes) + sum(extra) + 10)
        bus.close()

    finish(env, src, env.process(close()))
    return unit, taken


@pytest.mark.parametrize("banks", [1, 2])
def test_pointer_read_pops_once_the_column_before_is_done(banks):
    """Columns of 3, 0, 1, 2 entries; the arithmetic unit stalls 2 cycles on the last one. P = 1
    (two banks) or 2 (one): s = max(visible, fin before); fin = max(s + P, s + entries + stall)."""
    sizes, visible, extra = [3, 0, 1, 2], [2, 2, 3, 9], [0, 0, 0, 2]
    unit, taken = pointer_harness(sizes, visible, extra, banks=banks)
    p = 1 if banks == 2 else 2
    s, fin = [], []
    for k, n in enumerate(sizes):  # the rule, by hand
        s.append(max(visible[k], fin[-1] if fin else 0))
        fin.append(max(s[-1] + p, s[-1] + n + extra[k]))
    assert unit.pops == s and unit.finishes == fin
    assert [c for c, _, _ in taken] == [s[0], s[2], s[3]]  # the empty column never reaches it
    assert unit.event_counts() == {"read": 4 * (1 if banks == 2 else 2)}
    # busy cycles: the entries, plus the pointer reads no entry hides
    assert unit.exposed_cycles == sum(max(0, p - n) for n in sizes)
    assert unit.slot_cycles == sum(f - st for f, st in zip(fin, s, strict=True))
    kn = knobs(SimConfig(ptr_banks=banks))
    assert all(ptr_read.column_cycles(kn, n) == p for n in sizes)
    assert ptr_read.column_accesses(kn, 1) == (1 if banks == 2 else 2)


@pytest.mark.parametrize("banks", [1, 2])
def test_column_bitmap_drops_empty_columns_without_a_read_or_a_cycle(banks):
    """Columns of 3, 0, 0, 1, 0, 2 entries with the bitmap: an empty one is popped and done in
    the cycle the unit gets to it (s = fin), unread; the others as without it."""
    sizes, visible, extra = [3, 0, 0, 1, 0, 2], [2, 2, 3, 4, 4, 12], [0, 0, 0, 1, 0, 0]
    unit, taken = pointer_harness(sizes, visible, extra, banks=banks, bitmap=True)
    p = 1 if banks == 2 else 2
    s, fin = [], []
    for k, n in enumerate(sizes):  # the rule, by hand
        s.append(max(visible[k], fin[-1] if fin else 0))
        fin.append(s[-1] if n == 0 else max(s[-1] + p, s[-1] + n + extra[k]))
    assert unit.pops == s and unit.finishes == fin
    assert s[1] == s[2] == fin[0]  # two empty columns in one cycle
    assert [c for c, _, _ in taken] == [s[0], s[3], s[5]]
    assert unit.event_counts() == {"read": 3 * (1 if banks == 2 else 2), "bitmap_read": 6}
    assert unit.exposed_cycles == sum(max(0, p - n) for n in sizes if n)
    kn = knobs(SimConfig(ptr_banks=banks, column_bitmap=True))
    assert [ptr_read.column_cycles(kn, n) for n in sizes] == [0 if n == 0 else p for n in sizes]
    assert ptr_read.column_accesses(kn, 0) == 0


def test_column_bitmap_is_written_with_the_pointers():
    """The write port sets slot s's bit from p_s != p_s+1, across a burst boundary too."""
    env = simpy.Environment()
    unit = ptr_read.PointerReadUnit(env, banks=2, slots=16, ptr_bits=8, bitmap=True, queue=None,
                                    control=Channel(env), columns=None, ready=None, fill=Channel(env),
                                    filled=Channel(env))
    unit.write(0, np.array([0, 2, 2, 5]))  # columns 0..2: 2, 0, 3 entries (column 2's end not yet here)
    unit.write(4, np.array([5, 6]))  # columns 3, 4: 0 and 1 entries
    assert list(unit.bitmap[:5]) == [1, 0, 1, 0, 1]


def test_pointer_banks_hold_even_and_odd_slots():
    env = simpy.Environment()
    unit = ptr_read.PointerReadUnit(env, banks=2, slots=16, ptr_bits=4, queue=None, control=Channel(env),
                                    columns=None, ready=None, fill=Channel(env), filled=Channel(env))
    unit.write(3, np.array([5, 6, 7, 20]))  # 20 does not fit 4 bits: 20 & 15 = 4
    assert unit.banks[0][2:4] == [6, 4] and unit.banks[1][1:3] == [5, 7]
    with pytest.raises(IndexError, match="outside the 16-slot pointer SRAM"):
        unit.write(14, np.array([1, 2, 3]))


# ---------------------------------------------------------------------------------------- sparse-matrix read


def test_sparse_matrix_read_keeps_the_last_word():
    """8-bit entries, 16-bit words (2 a word): columns of entries 0-2, 3, 4-5 read words 0, 1, 1, 2
    (word 1 is still buffered for entry 3); a new segment forgets the buffer."""
    env = simpy.Environment()
    out = Channel(env)
    unit = spmat_read.SparseMatrixReadUnit(env, capacity_bytes=64, word_bits=16, entries=out,
                                           fill=Channel(env), filled=Channel(env))
    v = np.array([1, 2, 3, 4, 5, 6], np.uint8)
    z = np.array([0, 1, 0, 2, 3, 0], np.uint8)
    unit.write(8, pack_entries(v, z, ibits=4, entry_bits=8, word_bits=16))
    port = unit.columns
    port.offer(JobStart(4, 4, tuple(range(16)), 12, 4, True, None, 1, 4))
    port.offer(SegmentStart(range(1), 0, 3, 3, 0, 8))
    for first, end in ((0, 3), (3, 4), (4, 6)):
        port.offer(Column(0, first, 7, first, end))
    got = [out.poll() for _ in range(5)]
    assert [list(m.entries) for m in got[2:]] == [[0x10, 0x21, 0x30], [0x42], [0x53, 0x60]]
    assert unit.word_reads == 3
    port.offer(SegmentStart(range(1), 0, 3, 3, 0, 8))
    port.offer(Column(0, 3, 7, 3, 4))
    assert out.poll() is not None and list(out.poll().entries) == [0x42] and unit.word_reads == 4
    # the closed-form rule
    assert spmat_read.word_reads(0, 3, 2, -1) == (2, 1) and spmat_read.word_reads(3, 1, 2, 1) == (0, 1)


def test_sparse_matrix_read_unpacks_entries_that_do_not_fill_a_byte():
    """6-bit entries (2-bit codes, 4-bit indices) in 16-bit words: two a word, 4 bits unused."""
    env = simpy.Environment()
    out = Channel(env)
    unit = spmat_read.SparseMatrixReadUnit(env, capacity_bytes=64, word_bits=16, entries=out,
                                           fill=Channel(env), filled=Channel(env))
    v, z = np.array([1, 3, 2], np.uint8), np.array([5, 0, 15], np.uint8)
    unit.write(0, pack_entries(v, z, ibits=4, entry_bits=6, word_bits=16))
    unit.columns.offer(JobStart(2, 4, (0, 1, 2, 3), 14, 4, True, None, 1, 4))
    unit.columns.offer(SegmentStart(range(1), 0, 1, 1, 0, 0))
    unit.columns.offer(Column(0, 0, 9, 0, 3))
    out.poll(), out.poll()
    assert out.poll().entries == [(1 << 4) | 5, (3 << 4) | 0, (2 << 4) | 15]
    assert unit.word_reads == 2


# ------------------------------------------------------------------------------------------------ arithmetic


class Owner:
    """Stands in for activation read/write: records write-backs."""

    def __init__(self) -> None:
        self.written: list[tuple[int, list[int]]] = []

    def write_back(self, r: int, values: list[int]) -> None:
        self.written.append((r, list(values)))


def arith_harness(columns: list[tuple[int, list[int]]], at: list[int], *, bypass: bool, latency: int = 2,
                  regs: int = 4):
    """The arithmetic unit fed ``(round, entries)`` columns at cycles ``at`` (each entry
    ``(v << 4) | z``); returns the unit, the cycles it signalled ready, and the register file."""
    env = simpy.Environment()
    entries, ready, done = Channel(env, capacity=1), TimedChannel(env, capacity=1), Channel(env)
    owner = Owner()
    registers = DestinationRegisters(owner, regs)
    unit = arith.ArithmeticUnit(env, bypass=bypass, acc_latency=latency, acc_limits=(-(2**15), 2**15 - 1),
                                entries=entries, ready=ready, registers=registers, done=done)
    entries.offer(JobStart(4, 4, tuple(range(0, 16 * 1024, 1024)), 10, 8, True, None, 2, regs))
    msgs = [ColumnEntries(r, j, 1 << 10, bytes(e)) for j, (r, e) in enumerate(columns)]
    src, _ = source(env, entries, msgs, at=at)
    snk, got = sink(env, ready, len(msgs))
    finish(env, src, snk)
    return unit, [c for c, _ in got], registers, owner


def test_arithmetic_issues_back_to_back_and_forwards():
    """Bypass on: a column of n entries is ready n cycles after it starts; column 1's first entry
    (row 0) follows column 0's last (row 0) by one cycle: forwarded."""
    cols = [(0, [0x10]), (0, [0x20, 0x31]), (0, [0x12])]
    unit, ready, regs, _ = arith_harness(cols, [3, 4, 7], bypass=True)
    assert ready == [4, 6, 8]
    assert unit.bypasses == 1 and unit.issued == 4 and unit.kept == 4 and regs.reads == regs.writes == 4
    kn = knobs(SimConfig())
    none = np.zeros(1, np.int64)
    assert arith.issue_end(kn, 3, none.astype(np.uint8), none.astype(np.int32), 0, 1, 0, none) == 4
    assert arith.bypassed(kn, 4, 0, 4, 0) and not arith.bypassed(kn, 5, 0, 4, 0)


def test_arithmetic_stalls_on_a_hazard_without_bypass():
    """Bypass off, acc_latency 3: column 1 updates row 0 again one cycle after column 0 did: it waits
    until 3 + 3 = 6, and its second entry (row 1) issues right after, at 7."""
    cols = [(0, [0x10]), (0, [0x10, 0x20])]
    unit, ready, _, _ = arith_harness(cols, [3, 4], bypass=False, latency=3)
    assert ready == [4, 8] and unit.bypasses == 0
    history = np.full(4, arith.NO_UPDATE, np.int64)
    kn = knobs(SimConfig(bypass=False, acc_latency=3))
    v, rows = np.array([1, 1, 2], np.uint8), np.array([0, 0, 1], np.int32)
    assert arith.issue_end(kn, 3, v, rows, 0, 1, 0, history) == 4
    assert arith.issue_end(kn, 4, v, rows, 1, 2, 0, history) == 8


def test_arithmetic_forgets_its_history_at_a_new_round():
    """The same two columns, but the second is round 1: register 0 is another output there, so
    nothing waits (the round reset), and round 0's registers are written back first."""
    unit, ready, regs, owner = arith_harness([(0, [0x10]), (1, [0x10, 0x20])], [3, 4], bypass=False,
                                             latency=3)
    assert ready == [4, 6]
    # codebook value 1024 (fw 10) x activation 1024: (1024 * 1024 + 512) >> 10 = 1024 on row 0
    assert owner.written == [(0, [1024, 0, 0, 0])]
    # and with bypass on, no forwarding across the round boundary
    on, _, _, _ = arith_harness([(0, [0x10]), (1, [0x10])], [3, 4], bypass=True)
    assert on.bypasses == 0


def test_arithmetic_walks_padding_and_saturates_through_the_register_port():
    """Entries (1, 0), padding (0, 15), (1, 0) on 20 registers: rows 0 and 17 (the padding stands on
    row 16); each adds (1024 x 1024 + 512) >> 10 = 1024. Then 40 more on row 0 saturate at 2**15 - 1."""
    unit, ready, regs, _ = arith_harness([(0, [0x10, 0x0F, 0x10])], [1], bypass=True, regs=20)
    assert ready == [4] and (unit.issued, unit.kept) == (3, 2) and regs.reads == 2
    assert regs.read(0) == regs.read(17) == 1024 and regs.read(16) == 0
    unit, _, regs, _ = arith_harness([(0, [0x10])] * 40, list(range(1, 41)), bypass=True)
    assert regs.read(0) == 2**15 - 1


@pytest.mark.parametrize("column_at,end_at,done_at", [
    (None, 10, 10),  # nothing issued: nothing to drain, done when the segment's END arrives
    (4, 10, 12),  # three entries issue at 4, 5, 6: drained 5 cycles after 7, END comes later
    (8, 10, 16),  # issued at 8, 9, 10 (END at 10, before the last issue): 11 + 5
])
def test_arithmetic_drains_after_its_last_issue(column_at, end_at, done_at):
    """Contract v3: the pipeline is empty DRAIN_CYCLES after the cycle after the segment's last
    issue, however long before that the last column's END arrived."""
    env = simpy.Environment()
    entries, ready, done = Channel(env, capacity=1), TimedChannel(env, capacity=1), Channel(env)
    arith.ArithmeticUnit(env, bypass=True, acc_latency=2, acc_limits=(-8, 7), entries=entries,
                         ready=ready, registers=DestinationRegisters(Owner(), 4), done=done)
    entries.offer(JobStart(4, 4, tuple(range(16)), 4, 4, True, None, 1, 4))
    msgs, at = [END], [end_at]
    if column_at is not None:
        msgs, at = [ColumnEntries(0, 0, 1, bytes([0x10, 0x10, 0x10])), END], [column_at, end_at]
    src, _ = source(env, entries, msgs, at=at)
    snk, got = sink(env, done, 1)
    finish(env, src, snk)
    assert got[0][0] == done_at
    assert done_at == (end_at if column_at is None else max(end_at, column_at + 3 + arith.DRAIN_CYCLES))
    assert arith.drained(arith.NO_UPDATE) == 0 and arith.drained(7) == 7 + arith.DRAIN_CYCLES


# ------------------------------------------------------------------------------------- activation read/write


def test_activation_read_write_feeds_the_scan_and_writes_back_with_relu():
    """PE 1 of 2 holds inputs 1, 3 and 5 (the bias); a segment over columns 2..5 reads 3 and 5 only
    (lanes outside it send 0 unread); outputs go through ReLU; 3 values fit the SRAM."""
    env = simpy.Environment()
    control, sources, host_out, spill, done = (Channel(env) for _ in range(5))
    unit = ActivationReadWrite(env, index=1, n_pes=2, regs=2, capacity=3, control=control, sources=sources,
                               host_out=host_out, spill=spill, done=done)
    control.offer(HostInput((10, 30)))
    control.offer(JobStart(4, 4, (0,), 0, 3, True, 99, 2, 2))
    control.offer(SegmentStart(range(1), 2, 6, 6, 0, 0))
    snk, got = sink(env, sources, 2)
    finish(env, snk)
    assert [v for _, v in got] == [30, 99]  # rows 1 and 2: inputs 3 and 5
    assert (unit.sram_reads, unit.src_reads) == (2, 2)
    regs = unit.registers
    regs.select_round(0)
    regs.write(0, -5)
    regs.write(1, 7)
    regs.select_round(1)  # round 0 written back: ReLU
    regs.write(0, 4)
    control.offer(JobEnd(to_host=True))

    def dram():  # acknowledges the spilled bytes
        nbytes, ack = yield spill.get()
        ack.offer(nbytes)

    snk, out = sink(env, host_out, 1)
    ends, _ = sink(env, done, 1)
    finish(env, snk, ends, env.process(dram()))
    assert out[0][1] == (1, [0, 7, 4])
    # 3 inputs fill the SRAM: all 3 outputs spill, 2 bytes each
    assert unit.sram_writes == 3 and unit.spill_bytes == 6


# ------------------------------------------------------------------------------------------------------ DRAM


def test_dram_streams_tiles_into_alternate_halves_with_double_buffering():
    """A layer too big for the SRAMs, tiled; each tile computes 50 cycles. Tile t + 1 starts loading
    when tile t's load ends, and lands only once tile t - 1 (the same half) has finished."""
    rng = np.random.default_rng(4)
    config = SimConfig(n_pes=2, spmat_bytes=64, ptr_bytes=32, dram_gbps=3.2,
                       dram_latency_ns=3.75)  # 4 bytes and 3 cycles of latency at 800 MHz
    codes = random_codes(rng, 8, 30, 0.5)
    layer = encode_layer(codes, np.linspace(-1, 1, 16) * (np.arange(16) > 0), n=30, has_bias=False,
                         n_pes=2, regs=64, word_bits=64)
    plan = plan_model([layer], config)[0]
    assert not plan.resident and len(plan.segments) >= 4
    env = simpy.Environment()
    fills = [Channel(env) for _ in range(4)]
    filled = Channel(env)
    unit = dram.DramChannel.from_config(env, config, spmat_fill=fills[:2], ptr_fill=fills[2:],
                                        filled=filled, spill=Channel(env))

    def sram(port: Channel):  # an SRAM write port: acknowledges each burst
        while True:
            yield port.get()
            filled.offer("ok")

    for f in fills:
        env.process(sram(f))
    unit.control.offer(dram.Load(layer, plan, preload=False))
    loaded, starts = [], []

    def array():  # computes each tile for 50 cycles once it is loaded
        for t in range(len(plan.segments)):
            yield unit.loaded.get()
            loaded.append(env.now)
            starts.append(max(env.now, starts[-1] + 50 if starts else 0))
            if starts[-1] > env.now:
                yield env.timeout(starts[-1] - env.now)
            yield env.timeout(50)
            unit.finished.offer(t)

    finish(env, env.process(array()))
    assert (dram.bytes_per_cycle(config), dram.latency_cycles(config)) == (4.0, 3)
    load = [-(-seg.dram_bytes // 4) + 3 for seg in plan.segments]
    start, end = dram.schedule(load, [50] * len(load))
    assert starts == start.tolist()
    assert unit.streamed_bytes == sum(seg.dram_bytes for seg in plan.segments)
    # bytes: each PE's whole words and pointers of the tile
    seg = plan.segments[0]
    images = dram.segment_images(layer, seg, ptr_bits=config.ptr_bits)
    assert sum(img.nbytes for img in images) == seg.dram_bytes
    assert images[0].pointers == pack_bits(layer.ptr[0, seg.col_start: seg.col_end + 1]
                                           - layer.ptr[0, seg.col_start], config.ptr_bits)
