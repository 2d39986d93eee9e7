"""Self-tests of tests/reference.py, the independent reference of the modelling contract (v2).

The reference's timing recurrence is validated against a structurally different,
cycle-stepping machine written here (an LNZD that loads rows, a CCU that broadcasts with
credits, queues, PEs that issue one entry a cycle); its encoding against a row-walking
encoder written here; its tiling and DRAM schedule against separately written arithmetic;
and the contract's worked examples and hand-computed cases pin the absolute numbers.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable

import numpy as np
import pytest

from tests.reference import (
    RefHW,
    RefLayer,
    activation_frac_bits,
    dense_baseline,
    frac_bits,
    functional,
    layer_figures,
    lnzd_nodes,
    model_figures,
    slice_table,
    timing,
    to_fix,
)

# --------------------------------------------------------------------------------------
# A cycle-stepping machine, written independently of the reference's recurrence
# --------------------------------------------------------------------------------------

DRAIN = 5  # section 4: arithmetic pipeline and write-back after the last column


class Lnzd:
    """The activation rows and the LNZD: loads one row a cycle, yields its non-zero lanes."""

    def __init__(self, rows: list[list[int]], n_pes: int) -> None:
        self.rows = rows  # per activation row: its non-zero lanes, ascending
        self.n_pes = n_pes
        self.next_row = 0
        self.lanes: deque[int] = deque()
        self.loaded_at = -1
        self.want_row = True
        self.load_from = 0  # first cycle the next row may be loaded
        self.loads = 0
        self.last_event = -1  # last row load or broadcast

    def head(self, x: int) -> tuple[int, int] | None:
        """(row, lane) the CCU may broadcast at cycle x: a lane of a row loaded earlier."""
        if self.lanes and self.loaded_at < x:
            return self.next_row - 1, self.lanes[0]
        return None

    def take(self, x: int) -> None:
        """The head lane was broadcast at x; after a row's last lane the next row loads."""
        lane = self.lanes.popleft()
        self.last_event = x
        if not self.lanes:
            self.want_row = True
            self.load_from = x if lane == self.n_pes - 1 else x + 1

    def load(self, x: int) -> None:
        """Loads the next row at the end of cycle x when one is due."""
        if self.want_row and self.next_row < len(self.rows) and x >= self.load_from:
            self.lanes = deque(self.rows[self.next_row])
            self.next_row += 1
            self.loaded_at = x
            self.loads += 1
            self.last_event = x
            self.want_row = not self.lanes
            self.load_from = x + 1

    @property
    def done(self) -> bool:
        """Every row loaded and every non-zero lane broadcast."""
        return self.next_row == len(self.rows) and not self.lanes


class Pe:
    """One PE: a queue of item ids (in-flight included) and an in-order issue stage."""

    def __init__(self, p: int, hw: RefHW) -> None:
        self.p = p
        self.hw = hw
        self.queue: deque[int] = deque()
        self.column: tuple[int, int, list[int]] | None = None  # (item, pop cycle, registers)
        self.next_entry = 0
        self.hist: dict[int, int] = {}  # register -> first cycle it may be updated again
        self.round: int | None = None
        self.last_issue: tuple[int, int, int, int] | None = None  # (cycle, register, item, round)
        self.bypasses = 0
        self.occupied = 0  # cycles holding a column

    def step(self, x: int, t: list[int], items: list[tuple[int, list[list[int]]]],
             s: dict[tuple[int, int], int], fin: dict[tuple[int, int], int]) -> None:  # fmt: skip
        """Cycle x: finish a column, pop the next visible item, issue at most one entry."""
        hw = self.hw
        p_min = 1 if hw.ptr_banks == 2 else 2
        if self.column is not None:
            k, s0, regs = self.column
            if self.next_entry == len(regs) and x >= s0 + p_min:
                fin[self.p, k] = x
                self.column = None
        if self.column is None and self.queue and t[self.queue[0]] + hw.broadcast_latency <= x:
            k = self.queue.popleft()
            rnd, regs_by_pe = items[k]
            if rnd != self.round:
                self.hist, self.round = {}, rnd
            self.column = (k, x, regs_by_pe[self.p])
            self.next_entry = 0
            s[self.p, k] = x
        if self.column is None:
            return
        self.occupied += 1
        k, _, regs = self.column
        if self.next_entry == len(regs):
            return
        reg = regs[self.next_entry]
        if reg >= 0 and not hw.bypass and x < self.hist.get(reg, x):
            return  # hazard: the in-order pipeline holds this entry and everything after it
        if reg >= 0:
            if hw.bypass and self.last_issue == (x - 1, reg, k - 1, self.round):
                self.bypasses += 1  # forwarded from the previous column's last entry
            self.hist[reg] = x + hw.acc_latency
        self.last_issue = (x, reg, k, self.round)
        self.next_entry += 1


def cycle_sim(rows: list[list[int]], item_of: Callable[[int, int], tuple[int, list[list[int]]]],
              hw: RefHW, limit: int = 200_000) -> dict:  # fmt: skip
    """Steps one segment cycle by cycle.

    ``rows[i]``: the non-zero lanes of activation row i; ``item_of(row, lane)`` gives the
    item's round and, per PE, the registers of its column's entries (-1 = padding). Each
    cycle: the PEs act (so a pop frees room for a broadcast in the same cycle), then the CCU
    broadcasts the LNZD's head item if every queue has room, then the LNZD loads a row if
    one is due; queue lengths are recorded at the end of the cycle.
    """
    n = hw.n_pes
    lnzd = Lnzd(rows, n)
    pes = [Pe(p, hw) for p in range(n)]
    items: list[tuple[int, list[list[int]]]] = []
    t: list[int] = []
    ready: list[int] = []  # first cycle each item waited at the LNZD's head
    s: dict[tuple[int, int], int] = {}
    fin: dict[tuple[int, int], int] = {}
    occ: list[list[int]] = []
    stalls = 0
    x = 0
    while True:
        for pe in pes:
            pe.step(x, t, items, s, fin)
        head = lnzd.head(x)
        if head is not None:
            if len(ready) == len(items):
                ready.append(x)
            if all(len(pe.queue) < hw.queue_depth for pe in pes):
                k = len(items)
                items.append(item_of(*head))
                t.append(x)
                lnzd.take(x)
                for pe in pes:
                    pe.queue.append(k)
            else:
                stalls += 1
        lnzd.load(x)
        occ.append([len(pe.queue) for pe in pes])
        if lnzd.done and all(not pe.queue and pe.column is None for pe in pes):
            break
        x += 1
        assert x < limit, "the machine does not terminate"
    k_total = len(items)
    s_arr = np.array([[s[p, k] for k in range(k_total)] for p in range(n)], dtype=np.int64).reshape(n, -1)
    f_arr = np.array([[fin[p, k] for k in range(k_total)] for p in range(n)], dtype=np.int64).reshape(n, -1)
    t_scan = lnzd.last_event + 1
    cycles = max(t_scan, int(f_arr.max()) if k_total else 0) + DRAIN
    occ += [[0] * n] * max(0, cycles - len(occ))
    p_min = 1 if hw.ptr_banks == 2 else 2
    nominal = sum(max(p_min, len(regs[p])) for _, regs in items for p in range(n))
    return {
        "items": items,
        "t": np.array(t, dtype=np.int64),
        "ready": np.array(ready[:k_total], dtype=np.int64),
        "s": s_arr,
        "fin": f_arr,
        "T_scan": t_scan,
        "cycles": cycles,
        "ccu_stall_cycles": stalls,
        "hazard_stall_cycles": sum(pe.occupied for pe in pes) - nominal,
        "bypass": sum(pe.bypasses for pe in pes),
        "row_loads": lnzd.loads,
        "occ": np.array(occ[:cycles], dtype=np.int64).reshape(cycles, n).T,
    }


# --------------------------------------------------------------------------------------
# Encoding and layer building, written independently of the reference
# --------------------------------------------------------------------------------------


def encode_column(col: np.ndarray, ibits: int) -> list[tuple[int, int, int]]:
    """Row-walking relative-index encoder: list of (v, z, row) for one slice."""
    zmax = 2**ibits - 1
    out: list[tuple[int, int, int]] = []
    z = 0
    for row, v in enumerate(col):
        if v != 0:
            out.append((int(v), z, row))
            z = 0
        elif z == zmax:
            out.append((0, zmax, row))  # padding stands on this zero row
            z = 0
        else:
            z += 1
    while out and out[-1][0] == 0:  # trailing zeros are not encoded
        out.pop()
    return out


def encode_layer(codes: np.ndarray, n_pes: int, regs: int, ibits: int) -> dict:
    """Per-PE entry arrays (rounds outer, columns inner) and per-slice entry lists."""
    m, ncols = codes.shape
    rows_per_pe = -(-m // n_pes)
    rounds = max(1, -(-rows_per_pe // regs))
    slices = {}
    pe_entries: list[list[tuple[int, int, int, int]]] = [[] for _ in range(n_pes)]
    ptr = np.zeros((n_pes, rounds, ncols), dtype=np.int64)
    for p in range(n_pes):
        local = codes[p::n_pes]
        for r in range(rounds):
            block = local[r * regs : (r + 1) * regs]
            for j in range(ncols):
                ent = [(v, z, r * regs + row) for v, z, row in encode_column(block[:, j], ibits)]
                slices[p, r, j] = ent
                ptr[p, r, j] = len(pe_entries[p])
                pe_entries[p].extend((v, z, row, j) for v, z, row in ent)
    return {"slices": slices, "pe_entries": pe_entries, "ptr": ptr, "rounds": rounds}


def sim_layer(codes: np.ndarray, a_fix: np.ndarray, has_bias: bool, hw: RefHW, ibits: int,
              tiles: list[tuple[int, int, int]], tile_load: list[int]) -> dict:  # fmt: skip
    """A layer on the cycle-stepping machine: the resident scan, or the tiles on the DRAM schedule.

    The activation rows, the items and the registers are built here from the dense codes;
    only the tile boundaries and their load times come from the caller.
    """
    n = hw.n_pes
    enc = encode_layer(codes, n, hw.regs, ibits)
    ncols = codes.shape[1]
    active = [bool(v) for v in a_fix] + ([True] if has_bias else [])
    per_round = -(-ncols // n)

    def column(r: int, j: int) -> tuple[int, list[list[int]]]:
        regs = [[row - r * hw.regs if v else -1 for v, _z, row in enc["slices"][p, r, j]] for p in range(n)]
        return r, regs

    def lanes(q: int, lo: int, hi: int) -> list[int]:
        return [lane for lane in range(n) if lo <= q * n + lane < hi and active[q * n + lane]]

    runs = []  # (start cycle, machine result, [(round, col)] of its items)
    if not tiles:
        rows = [lanes(q, 0, ncols) for _ in range(enc["rounds"]) for q in range(per_round)]
        res = cycle_sim(rows, lambda row, lane: column(row // per_round, (row % per_round) * n + lane), hw)
        runs.append((0, res))
    else:
        end = start = 0
        for ti, (r, j0, j1) in enumerate(tiles):
            q0 = j0 // n
            rows = [lanes(q, j0, j1) for q in range(q0, (j1 - 1) // n + 1)]
            res = cycle_sim(rows, lambda row, lane, r=r, q0=q0: column(r, (q0 + row) * n + lane), hw)
            start = tile_load[0] if ti == 0 else max(end, start + tile_load[ti])
            end = start + res["cycles"]
            runs.append((start, res))
    cycles = runs[-1][0] + runs[-1][1]["cycles"]
    occ = np.zeros((n, cycles), dtype=np.int64)
    for start, res in runs:
        occ[:, start : start + res["cycles"]] = res["occ"]
    cat = np.concatenate
    return {
        "cycles": cycles,
        "item_round": [it[0] for _, res in runs for it in res["items"]],
        "t": cat([res["t"] + start for start, res in runs]),
        "t_before_credits": cat([res["ready"] + start for start, res in runs]),
        "s": cat([res["s"] + start for start, res in runs], axis=1),
        "fin": cat([res["fin"] + start for start, res in runs], axis=1),
        "ccu_stall_cycles": sum(res["ccu_stall_cycles"] for _, res in runs),
        "hazard_stall_cycles": sum(res["hazard_stall_cycles"] for _, res in runs),
        "bypass": sum(res["bypass"] for _, res in runs),
        "lnzd_row_loads": sum(res["row_loads"] for _, res in runs),
        "occ": occ,
    }


def brute_word_reads(codes: np.ndarray, ibits: int, wbits: int, hw: RefHW, fig: dict) -> list[int]:
    """Word reads per PE by walking every processed entry; items and tiles taken from ``fig``."""
    n = hw.n_pes
    enc = encode_layer(codes, n, hw.regs, ibits)
    epw = hw.word_bits // (wbits + ibits)
    tile_of: dict[tuple[int, int], int] = {}
    if fig["resident"]:
        e0 = {0: [0] * n}
    else:
        e0 = {}
        for ti, (r, lo, hi) in enumerate(fig["tiles"]):
            for j in range(lo, hi):
                tile_of[r, j] = ti
            e0[ti] = [int(enc["ptr"][p, r, lo]) for p in range(n)]
    items = list(zip(fig["item_round"].tolist(), fig["item_col"].tolist(), strict=True))
    reads = []
    for p in range(n):
        count = 0
        last_word = None
        for r, j in items:
            ti = tile_of.get((r, j), 0)
            start = int(enc["ptr"][p, r, j])
            for i in range(len(enc["slices"][p, r, j])):
                word = (ti, (start + i - e0[ti][p]) // epw)
                if word != last_word:
                    count += 1
                    last_word = word
        reads.append(count)
    return reads


def random_codes(rng: np.random.Generator, m: int, n: int, density: float, bias: bool) -> np.ndarray:
    """Random code matrix; the bias column (last) is dense."""
    codes = (rng.random((m, n)) < density) * rng.integers(1, 16, (m, n))
    if bias:
        codes = np.hstack([codes, rng.integers(1, 16, (m, 1))])
    return codes.astype(np.uint8)


def random_codebook(rng: np.random.Generator, scale: float = 0.5) -> np.ndarray:
    """Codebook with code 0 = 0."""
    return np.concatenate([[0.0], rng.uniform(-scale, scale, 15)])


def worked_example() -> tuple[RefLayer, np.ndarray]:
    """Section 4's worked example: W 4 x 3, non-zeros at (0,0), (2,0), (1,1), (3,2)."""
    codes = np.zeros((4, 3), dtype=np.uint8)
    for i, j in [(0, 0), (2, 0), (1, 1), (3, 2)]:
        codes[i, j] = 1
    return RefLayer(codes, np.array([0.0, 0.5] + [0.0] * 14), has_bias=False), np.array([3, 5, 7])


def knobs_example() -> tuple[RefLayer, np.ndarray]:
    """Section 4's knobs example: W 2 x 3, non-zeros at (0,0), (0,1), (1,2)."""
    codes = np.zeros((2, 3), dtype=np.uint8)
    for i, j in [(0, 0), (0, 1), (1, 2)]:
        codes[i, j] = 1
    return RefLayer(codes, np.array([0.0, 0.5] + [0.0] * 14), has_bias=False), np.array([3, -5, 7])


# --------------------------------------------------------------------------------------
# Section 4: the contract's worked examples
# --------------------------------------------------------------------------------------


def test_worked_example_recurrence() -> None:
    hw = RefHW(n_pes=2, queue_depth=1, broadcast_latency=2)
    # PE0 holds rows 0, 2 (registers 0, 1), PE1 rows 1, 3; inputs 0, 1 in row 0, input 2 in row 1
    slices = [[[0, 1], [], []], [[], [0], [1]]]
    tm = timing([0, 0, 1], [0, 1, 0], 2, slices, hw)
    assert tm["t"].tolist() == [1, 3, 5]
    assert tm["t_before_credits"].tolist() == [1, 2, 4]
    assert tm["s"].tolist() == [[3, 5, 7], [3, 5, 7]]
    assert tm["fin"].tolist() == [[5, 6, 8], [4, 6, 8]]
    assert tm["T_scan"] == 6
    assert tm["cycles"] == 13
    assert tm["ccu_stall_cycles"] == 2
    assert tm["busy"].tolist() == [4, 3]


def test_worked_example_from_codes() -> None:
    layer, a = worked_example()
    f = layer_figures(layer, a, RefHW(n_pes=2, queue_depth=1))
    assert f["resident"]
    assert f["c"].tolist() == [[2, 0, 0], [0, 1, 1]]
    assert f["t"].tolist() == [1, 3, 5]
    assert f["s"].tolist() == [[3, 5, 7], [3, 5, 7]]
    assert f["fin"].tolist() == [[5, 6, 8], [4, 6, 8]]
    assert f["cycles"] == 13
    assert f["busy"].tolist() == [4, 3]
    assert f["idle"].tolist() == [9, 10]
    assert f["pe_utilization"] == pytest.approx(7 / 26)
    assert f["mac_efficiency"] == pytest.approx(4 / 26)
    assert f["ccu_stall_cycles"] == 2 and f["hazard_stall_cycles"] == 0
    assert f["lnzd_row_loads"] == 2
    # one item in a queue at the end of cycles 1..6 (t <= x < s), none otherwise
    assert f["occupancy_max"].tolist() == [1, 1]
    assert f["occupancy_mean"] == pytest.approx([6 / 13, 6 / 13])
    # a zero activation costs no item; with none at all the scan still loads its 2 rows
    assert layer_figures(layer, np.array([0, 5, 0]), RefHW(n_pes=2))["n_items"] == 1
    assert layer_figures(layer, np.array([0, 0, 0]), RefHW(n_pes=2))["cycles"] == 2 + 5


@pytest.mark.parametrize(
    ("knobs", "s", "fin", "cycles", "bypass", "stalls"),
    [
        ({}, [3, 4, 5], [4, 5, 6], 11, 1, 0),
        ({"bypass": False, "acc_latency": 2}, [3, 4, 6], [4, 6, 7], 12, 0, 1),
        ({"ptr_banks": 1}, [3, 5, 7], [5, 7, 9], 14, 0, 0),
    ],
)
def test_knobs_example(
    knobs: dict, s: list[int], fin: list[int], cycles: int, bypass: int, stalls: int
) -> None:
    layer, a = knobs_example()  # a negative activation is an item too
    hw = RefHW(n_pes=1, queue_depth=2, broadcast_latency=2, **knobs)
    f = layer_figures(layer, a, hw)
    assert f["t"].tolist() == [1, 2, 3]
    assert f["s"].tolist() == [s]
    assert f["fin"].tolist() == [fin]
    assert f["cycles"] == cycles
    assert f["bypass"] == bypass
    assert f["hazard_stall_cycles"] == stalls
    assert f["pointer_reads"] == 3 * (2 if knobs.get("ptr_banks") == 1 else 1)
    assert f["busy"].tolist() == [6 if knobs.get("ptr_banks") == 1 else 3]


def test_machine_reproduces_the_worked_examples() -> None:
    """The cycle-stepping machine itself gives the contract's numbers."""
    hw = RefHW(n_pes=2, queue_depth=1)
    cols = {(0, 0): [[0, 1], []], (0, 1): [[], [0]], (1, 0): [[], [1]]}
    res = cycle_sim([[0, 1], [0]], lambda row, lane: (0, cols[row, lane]), hw)
    assert res["t"].tolist() == [1, 3, 5] and res["cycles"] == 13
    assert res["fin"].tolist() == [[5, 6, 8], [4, 6, 8]]
    knob_cols = {0: [[0]], 1: [[0]], 2: [[1]]}
    for knobs, cycles in [({}, 11), ({"bypass": False}, 12), ({"ptr_banks": 1}, 14)]:
        hw = RefHW(n_pes=1, queue_depth=2, **knobs)
        res = cycle_sim([[0], [0], [0]], lambda row, lane: (0, knob_cols[row]), hw)
        assert res["cycles"] == cycles


def test_scan_end_rule() -> None:
    """T_scan: trailing rows load from t (last lane N-1) or t + 1; K = 0 gives rows."""
    codes = np.zeros((1, 6), dtype=np.uint8)  # no entries: every column costs P
    layer = RefLayer(codes, np.zeros(16), has_bias=False)
    hw = RefHW(n_pes=2, broadcast_latency=1)  # 3 rows of 2 lanes
    lane1 = layer_figures(layer, np.array([0, 4, 0, 0, 0, 0]), hw)  # t = 1, rows 1, 2 at 1, 2
    assert lane1["t_scan"] == [3] and lane1["cycles"] == max(3, 1 + 1 + 1) + 5
    lane0 = layer_figures(layer, np.array([4, 0, 0, 0, 0, 0]), hw)  # rows 1, 2 at 2, 3
    assert lane0["t_scan"] == [4] and lane0["cycles"] == 4 + 5
    last_row = layer_figures(layer, np.array([0, 0, 0, 0, 0, 4]), hw)  # row 2 at 2, t = 3
    assert last_row["t"].tolist() == [3] and last_row["t_scan"] == [4]
    empty = layer_figures(layer, np.zeros(6, dtype=np.int64), hw)
    assert empty["n_items"] == 0 and empty["t_scan"] == [3] and empty["cycles"] == 8
    assert empty["lnzd_row_loads"] == 3 and empty["occupancy_max"].tolist() == [0, 0]


def test_rounds_restart_hazards_and_stop_bypass() -> None:
    """1 PE, 2 rounds of one register: rows 0-1 are round 0's inputs, rows 2-3 round 1's."""
    layer = RefLayer(np.ones((2, 2), dtype=np.uint8), np.array([0.0, 0.5] + [0.0] * 14), False)
    on = layer_figures(layer, np.array([1, 1]), RefHW(n_pes=1, regs=1))
    assert on["rounds"] == 2 and on["item_round"].tolist() == [0, 0, 1, 1]
    assert on["t"].tolist() == [1, 2, 3, 4] and on["s"].tolist() == [[3, 4, 5, 6]]
    # register 0 back to back at every step, but not across the round boundary (items 1-2)
    assert on["bypass"] == 2 and on["cycles"] == 7 + 5
    off = layer_figures(layer, np.array([1, 1]), RefHW(n_pes=1, regs=1, bypass=False, acc_latency=2))
    # item 1 waits for 3 + 2; item 2 starts a new round (no history); item 3 waits for 6 + 2
    assert off["s"].tolist() == [[3, 4, 6, 7]] and off["fin"].tolist() == [[4, 6, 7, 9]]
    assert off["hazard_stall_cycles"] == 2 and off["bypass"] == 0 and off["cycles"] == 14
    assert off["lnzd_row_loads"] == 4 and off["rows_per_round"] == 2


def test_lnzd_tree_nodes() -> None:
    assert lnzd_nodes(64) == 21
    assert lnzd_nodes(1) == 1
    assert lnzd_nodes(4) == 1
    assert lnzd_nodes(5) == 2 + 1
    assert lnzd_nodes(16) == 4 + 1
    assert lnzd_nodes(256) == 64 + 16 + 4 + 1


# --------------------------------------------------------------------------------------
# Section 4: the recurrence against the cycle-stepping machine
# --------------------------------------------------------------------------------------


def random_hw(rng: np.random.Generator, **kw: int) -> RefHW:
    """Random timing knobs: Q 1..4, Lb 1..4, one or two pointer banks, bypass on/off, acc 1..4."""
    return RefHW(
        queue_depth=int(rng.integers(1, 5)),
        broadcast_latency=int(rng.integers(1, 5)),
        ptr_banks=int(rng.integers(1, 3)),
        bypass=bool(rng.integers(0, 2)),
        acc_latency=int(rng.integers(1, 5)),
        **kw,
    )


def test_recurrence_matches_machine_on_synthetic_segments() -> None:
    """timing() on random segments: random rows and lanes, rounds, registers and padding."""
    rng = np.random.default_rng(2024)
    seen = {"hazard": 0, "bypass": 0, "credit": 0, "lane_last": 0, "empty": 0, "rounds": 0}
    for _ in range(400):
        n = int(rng.integers(1, 6))
        hw = random_hw(rng, n_pes=n)
        n_rows = int(rng.integers(1, 9))
        grid = [sorted(rng.permutation(n)[: rng.integers(0, n + 1)].tolist()) for _ in range(n_rows)]
        if rng.random() < 0.1:
            grid = [[] for _ in range(n_rows)]  # K = 0
        order = [(row, lane) for row in range(n_rows) for lane in grid[row]]
        n_regs = int(rng.integers(1, 5))
        columns = {}
        rnd = 0
        for row, lane in order:
            rnd += int(rng.random() < 0.15)
            regs = []
            for _ in range(n):
                ent: list[int] = sorted(rng.permutation(n_regs)[: rng.integers(0, n_regs + 1)].tolist())
                for _pad in range(int(rng.integers(0, 3)) if ent and rng.random() < 0.3 else 0):
                    ent.insert(int(rng.integers(0, len(ent))), -1)  # padding, never last
                regs.append(ent)
            columns[row, lane] = (rnd, regs)
        ref = timing([r for r, _ in order], [ln for _, ln in order], n_rows,
                     [[columns[it][1][p] for it in order] for p in range(n)], hw,
                     item_round=[columns[it][0] for it in order])  # fmt: skip
        sim = cycle_sim(grid, lambda row, lane, columns=columns: columns[row, lane], hw)
        assert np.array_equal(ref["t"], sim["t"])
        assert np.array_equal(ref["t_before_credits"], sim["ready"])
        assert np.array_equal(ref["s"], sim["s"])
        assert np.array_equal(ref["fin"], sim["fin"])
        for key in ("T_scan", "cycles", "ccu_stall_cycles", "hazard_stall_cycles", "bypass", "row_loads"):
            assert ref[key] == sim[key], key
        seen["hazard"] += ref["hazard_stall_cycles"] > 0
        seen["bypass"] += ref["bypass"] > 0
        seen["credit"] += ref["ccu_stall_cycles"] > 0
        seen["lane_last"] += any(ln == n - 1 for _, ln in order[:-1])
        seen["empty"] += not order
        seen["rounds"] += rnd > 0
    assert min(seen.values()) >= 10, seen


def random_layer_case(
    rng: np.random.Generator, tiled: bool
) -> tuple[np.ndarray, np.ndarray, bool, RefHW, int]:
    """A small random layer, activations and hardware; small SRAMs when ``tiled``."""
    n = int(rng.integers(1, 6))
    m = int(rng.integers(1, 30))  # N > m now and then, sometimes 1 PE
    n_in = int(rng.integers(1, 16))
    bias = bool(rng.integers(0, 2))
    ibits = int(rng.integers(1, 4))
    codes = random_codes(rng, m, n_in, float(rng.uniform(0.0, 0.9)), bias)
    a = rng.integers(-40, 40, n_in)
    a[rng.random(n_in) < rng.uniform(0, 1)] = 0  # all-zero now and then: K = 0 without bias
    kw: dict = {"n_pes": n, "regs": int(rng.integers(1, 6))}  # rounds
    if tiled:
        # 16-bit words of 2 or 3 entries; half the SRAM holds the largest column, not the layer
        enc = encode_layer(codes, n, kw["regs"], ibits)
        epw = 16 // (4 + ibits)
        widest = max(-(-len(ent) // epw) for ent in enc["slices"].values())
        spmat = 2 * 2 * max(1, widest) + int(rng.integers(0, 3))
        kw |= {"word_bits": 16, "spmat_bytes": spmat, "ptr_bits": 8}
    return codes, a, bias, random_hw(rng, **kw), ibits


@pytest.mark.parametrize("tiled", [False, True])
def test_layer_figures_match_machine(tiled: bool) -> None:
    """Whole layers (resident scans over rounds, or tiles on the DRAM schedule) on the machine."""
    rng = np.random.default_rng(77 + tiled)
    seen = dict.fromkeys(
        ("tiled", "split_row", "rounds", "no_items", "n_gt_m", "one_pe", "q1", "one_bank", "two_banks",
         "hazard", "bypass", "credit", "lane_last", "empty_row"), 0)  # fmt: skip
    for _ in range(250):
        codes, a, bias, hw, ibits = random_layer_case(rng, tiled)
        layer = RefLayer(codes, random_codebook(rng), bias, ibits=ibits)
        fig = layer_figures(layer, a, hw)
        sim = sim_layer(codes, a, bias, hw, ibits, fig["tiles"], fig["tile_load"])
        assert fig["item_round"].tolist() == sim["item_round"]
        for key in ("t", "t_before_credits", "s", "fin"):
            assert np.array_equal(fig[key], sim[key]), key
        for key in ("cycles", "ccu_stall_cycles", "hazard_stall_cycles", "bypass", "lnzd_row_loads"):
            assert fig[key] == sim[key], key
        assert np.allclose(fig["occupancy_mean"], sim["occ"].mean(axis=1), rtol=1e-12)
        assert np.array_equal(fig["occupancy_max"], sim["occ"].max(axis=1))
        assert fig["spmat_word_reads_per_pe"].tolist() == brute_word_reads(codes, ibits, 4, hw, fig)
        # the figures that follow from the rest
        busy_each = np.maximum(hw.ptr_cycles, fig["c"])
        busy = busy_each.sum(axis=1)
        assert fig["busy"].tolist() == busy.tolist()
        assert fig["idle"].tolist() == (fig["cycles"] - busy).tolist()
        assert fig["hazard_stall_cycles"] == int(np.sum(fig["fin"] - fig["s"] - busy_each))
        assert fig["pe_utilization"] == pytest.approx(busy.sum() / (hw.n_pes * fig["cycles"]))
        if hw.bypass:
            assert fig["hazard_stall_cycles"] == 0
        else:
            assert fig["bypass"] == 0
        n, m = hw.n_pes, codes.shape[0]
        seen["tiled"] += not fig["resident"]
        seen["split_row"] += any(lo % n for _, lo, _ in fig["tiles"])
        seen["rounds"] += fig["rounds"] > 1
        seen["no_items"] += fig["n_items"] == 0
        seen["n_gt_m"] += n > m
        seen["one_pe"] += n == 1
        seen["q1"] += hw.queue_depth == 1
        seen["one_bank"] += hw.ptr_banks == 1
        seen["two_banks"] += hw.ptr_banks == 2
        seen["hazard"] += fig["hazard_stall_cycles"] > 0
        seen["bypass"] += fig["bypass"] > 0
        seen["credit"] += fig["ccu_stall_cycles"] > 0
        seen["lane_last"] += bool(np.any(fig["item_lane"][:-1] == n - 1)) and n > 1
        rows_with_items = set(zip(fig["item_segment"].tolist(), fig["item_row"].tolist(), strict=True))
        seen["empty_row"] += sum(fig["segment_rows"]) > len(rows_with_items)
    floor = {"tiled": 120 if tiled else 0, "split_row": 40 if tiled else 0}
    assert all(v >= floor.get(k, 10) for k, v in seen.items()), seen


# --------------------------------------------------------------------------------------
# Section 2: encoding
# --------------------------------------------------------------------------------------


def test_paper_column_encoding() -> None:
    col = [0, 0, 1, 2] + [0] * 18 + [3]
    ent = encode_column(np.array(col), ibits=4)
    assert [e[0] for e in ent] == [1, 2, 0, 3]
    assert [e[1] for e in ent] == [2, 0, 15, 2]
    layer = RefLayer(np.array(col, dtype=np.uint8)[:, None], np.zeros(16), has_bias=False)
    tab = slice_table(layer, n_pes=1, regs=64)
    assert tab["count"][0, 0, 0] == 4
    assert tab["kept"][0, 0, 0] == 3
    assert tab["first_row"][0, 0, 0] == 2
    assert tab["last_row"][0, 0, 0] == 22


def test_leading_padding_row() -> None:
    # 16 leading zero rows: one padding entry on row 15, first kept entry on row 16 (z = 0)
    col = np.array([0] * 16 + [5], dtype=np.uint8)
    assert encode_column(col, 4) == [(0, 15, 15), (5, 0, 16)]
    tab = slice_table(RefLayer(col[:, None], np.zeros(16), False), n_pes=1, regs=64)
    assert tab["count"][0, 0, 0] == 2
    assert tab["first_row"][0, 0, 0] == 15


def test_paper_figure3_pe0() -> None:
    codes = np.zeros((16, 8), dtype=np.uint8)
    pe0 = [(0, 0), (8, 0), (12, 0), (4, 1), (0, 2), (12, 2), (0, 4), (4, 4), (0, 5),
           (12, 5), (0, 6), (8, 7), (12, 7)]  # fmt: skip
    for i, j in pe0:
        codes[i, j] = 1
    rng = np.random.default_rng(3)
    other = [i for i in range(16) if i % 4 != 0]
    codes[other] = rng.integers(0, 3, (len(other), 8))  # other PEs' rows: anything
    tab = slice_table(RefLayer(codes, np.zeros(16), False), n_pes=4, regs=64)
    assert tab["count"][0, 0].tolist() == [3, 1, 2, 0, 2, 2, 1, 2]
    ptr = tab["first_entry"][0, 0].tolist() + [int(tab["entries"][0])]
    assert ptr == [0, 3, 4, 6, 6, 8, 10, 11, 13]


def test_slice_table_matches_row_walking_encoder() -> None:
    rng = np.random.default_rng(7)
    for _ in range(25):
        n_pes = int(rng.integers(1, 5))
        regs = int(rng.integers(1, 12))
        ibits = int(rng.integers(1, 4))
        m = int(rng.integers(1, 70))
        n = int(rng.integers(1, 9))
        codes = random_codes(rng, m, n, float(rng.uniform(0.02, 0.4)), bias=False)
        tab = slice_table(RefLayer(codes, np.zeros(16), False, ibits=ibits), n_pes, regs)
        enc = encode_layer(codes, n_pes, regs, ibits)
        assert tab["rounds"] == enc["rounds"]
        assert np.array_equal(tab["first_entry"], enc["ptr"])
        for (p, r, j), ent in enc["slices"].items():
            assert tab["count"][p, r, j] == len(ent)
            assert tab["kept"][p, r, j] == sum(1 for e in ent if e[0] != 0)
            assert tab["first_row"][p, r, j] == (ent[0][2] if ent else -1)
            assert tab["last_row"][p, r, j] == (ent[-1][2] if ent else -1)
            lead = next((i for i, e in enumerate(ent) if e[0] != 0), 0)
            assert tab["lead_pad"][p, r, j] == lead
        assert tab["entries"].tolist() == [len(e) for e in enc["pe_entries"]]
        for p in range(n_pes):
            ent = enc["pe_entries"][p]
            assert tab["entry_row"][p].tolist() == [e[2] for e in ent]
            assert tab["entry_kept"][p].tolist() == [e[0] != 0 for e in ent]
            # registers are round-relative local rows; the entry's round is its row // regs
            assert tab["entry_reg"][p].tolist() == [e[2] % regs if e[0] else -1 for e in ent]


# --------------------------------------------------------------------------------------
# Section 3: fixed point and the functional model
# --------------------------------------------------------------------------------------


def test_frac_bits_and_to_fix() -> None:
    assert frac_bits(0.0) == 15
    assert frac_bits(0.75) == 15
    assert frac_bits(0.9999) == 15
    assert frac_bits(1.0) == 14
    assert frac_bits(1.5) == 14
    assert frac_bits(2.0) == 13
    assert frac_bits(1000.0) == 5
    assert frac_bits(0.25) == 15  # f is capped at 15 for small magnitudes
    fixed = to_fix(np.array([0.5, -0.5, 1.0, -2.0, 0.0]), 15)
    assert fixed.tolist() == [16384, -16384, 32767, -32768, 0]  # saturating
    assert to_fix(np.array([2.5 / 256, -2.5 / 256]), 8).tolist() == [3, -2]  # half up


def test_activation_frac_bits_calibration() -> None:
    codes = np.array([[1, 0], [0, 2]], dtype=np.uint8)
    cb = np.zeros(16)
    cb[1], cb[2] = 3.0, -5.0
    layer0 = RefLayer(codes, cb, has_bias=False)
    layer1 = RefLayer(np.array([[1, 1]], dtype=np.uint8), cb, has_bias=False)
    x = np.array([0.5, 0.3])
    # layer0 outputs relu([1.5, -1.5]) = [1.5, 0]; layer1 = 1.5*3 = 4.5 -> M = 4.5 -> f = 12
    assert activation_frac_bits([layer0, layer1], x) == 12
    assert activation_frac_bits([layer0], np.array([[0.1, 0.0], [0.0, 0.05]])) == 15
    layer_b = RefLayer(np.array([[0, 0, 1]], dtype=np.uint8), np.array([0.0, 0.1] + [0] * 14),
                       has_bias=True)  # fmt: skip
    assert activation_frac_bits([layer_b], np.array([0.1, 0.1])) == 14  # bias 1.0 counts


def test_functional_against_quantized_float() -> None:
    rng = np.random.default_rng(11)
    for _ in range(30):
        m, n = int(rng.integers(1, 12)), int(rng.integers(1, 20))
        bias = bool(rng.integers(0, 2))
        layer = RefLayer(random_codes(rng, m, n, 0.5, bias), random_codebook(rng), bias)
        x = rng.uniform(-1, 1, n)
        x[rng.random(n) < 0.3] = 0.0
        fa = activation_frac_bits([layer], x)
        (out,) = functional([layer], x, fa)
        fw = frac_bits(np.max(np.abs(layer.codebook)))
        c_q = to_fix(layer.codebook, fw) / 2.0**fw
        a_q = to_fix(np.append(x, 1.0) if bias else x, fa) / 2.0**fa
        exact = c_q[layer.codes.astype(int)] @ a_q
        # each product is rounded once to the activation grid: error <= 0.5 ulp per term
        terms = int(np.count_nonzero(a_q))
        assert np.all(np.abs(out / 2.0**fa - exact) <= 0.5 * terms / 2.0**fa + 1e-12)
        # and the whole thing is close to the float layer
        y = layer.codebook[layer.codes.astype(int)] @ (np.append(x, 1.0) if bias else x)
        assert np.allclose(out / 2.0**fa, y, atol=(terms + 2) * 2.0 ** (1 - min(fa, fw)))


def test_functional_two_layers_relu_and_float() -> None:
    rng = np.random.default_rng(5)
    l0 = RefLayer(random_codes(rng, 8, 10, 0.6, True), random_codebook(rng), True)
    l1 = RefLayer(random_codes(rng, 4, 8, 0.6, False), random_codebook(rng), False)
    x = rng.uniform(-1, 1, 10)
    fa = activation_frac_bits([l0, l1], x)
    h, out = functional([l0, l1], x, fa)
    assert np.all(h >= 0)
    hf = np.maximum(l0.codebook[l0.codes.astype(int)] @ np.append(x, 1.0), 0.0)
    yf = l1.codebook[l1.codes.astype(int)] @ hf
    assert np.allclose(h / 2.0**fa, hf, atol=0.01)
    assert np.allclose(out / 2.0**fa, yf, atol=0.02)


def test_functional_saturates_at_every_add() -> None:
    cb = np.zeros(16)
    cb[1] = 1.0  # fw = 14, c_fix = 16384
    cb[2] = -1.0  # c_fix = -16384
    layer = RefLayer(np.array([[1, 1, 2]], dtype=np.uint8), cb, has_bias=False)
    x = np.array([100.0, 100.0, 100.0])  # fa = 8 -> a_fix = 25600 each
    (out,) = functional([layer], x, fa=8)
    # 25600 -> 51200 clamps to 32767 -> 32767 - 25600 = 7167 (a final-only clamp gives 25600)
    assert out.tolist() == [7167]
    # wider accumulator: no intermediate clamp, only the 16-bit write-back clamp
    (out24,) = functional([layer], x, fa=8, acc_bits=24)
    assert out24.tolist() == [25600]
    # write-back clamps to 16 bits even with a wide accumulator; ReLU on non-last layers
    big = RefLayer(np.array([[1, 1, 1], [2, 2, 2]], dtype=np.uint8), cb, has_bias=False)
    nxt = RefLayer(np.array([[1, 1]], dtype=np.uint8), cb, has_bias=False)
    h, _ = functional([big, nxt], x, fa=8, acc_bits=24)
    assert h.tolist() == [32767, 0]


def test_functional_rounding_hand_case() -> None:
    cb = np.zeros(16)
    cb[1] = 0.75  # fw = 15, c_fix = 24576
    layer = RefLayer(np.array([[1]], dtype=np.uint8), cb, has_bias=False)
    # a_fix = -3: p = -73728, s = (-73728 + 16384) >> 15 = floor(-1.75) = -2
    (out,) = functional([layer], np.array([-3 / 2**15]), fa=15)
    assert out.tolist() == [-2]
    # a_fix = 2: p = 49152 -> (49152 + 16384) >> 15 = 2 (1.5 rounds half up)
    (out,) = functional([layer], np.array([2 / 2**15]), fa=15)
    assert out.tolist() == [2]


# --------------------------------------------------------------------------------------
# Counters: hand-computed cases
# --------------------------------------------------------------------------------------


def test_word_pointer_and_register_counts_hand_case() -> None:
    # 1 PE, 8-bit entries in 16-bit words (2 a word); columns (rows): {0,1,2}, {}, {1}, {0,2}
    codes = np.array([[1, 0, 0, 1], [1, 0, 1, 0], [1, 0, 0, 1]], dtype=np.uint8)
    layer = RefLayer(codes, np.array([0.0, 0.5] + [0.0] * 14), has_bias=False)
    hw = RefHW(n_pes=1, word_bits=16)
    f = layer_figures(layer, np.array([1, 1, 1, 1]), hw)
    # entries 0-2 in words 0-1 (2 reads), empty slice keeps word 1, entry 3 in word 1 (no
    # read), entries 4-5 in word 2 (1 read)
    assert f["spmat_word_reads"] == 3 and f["spmat_word_reads_per_pe"].tolist() == [3]
    assert f["pointer_reads"] == 4 and f["queue_pushes"] == f["queue_pops"] == 4
    one_bank = layer_figures(layer, np.array([1, 1, 1, 1]), RefHW(n_pes=1, word_bits=16, ptr_banks=1))
    assert one_bank["pointer_reads"] == 8  # two cycles, two reads per column with one bank
    # skipping column 0: entry 3 is the first read (word 1), then word 2
    assert layer_figures(layer, np.array([0, 1, 1, 1]), hw)["spmat_word_reads"] == 2
    assert f["codebook_reads"] == f["multiplies"] == f["adds"] == f["entries_processed"] == 6
    assert f["dest_reads"] == f["dest_writes"] == f["kept_processed"] == 6
    assert f["src_reads"] == f["act_sram_reads"] == 4 and f["act_sram_writes"] == 3


def test_padding_counts_hand_case() -> None:
    # ibits = 1: a gap of 4 zero rows costs 2 padding entries (on rows 2 and 4)
    codes = np.zeros((6, 1), dtype=np.uint8)
    codes[0, 0] = codes[5, 0] = 3
    layer = RefLayer(codes, np.array([0.0, 0.5, 0.25, -0.5] + [0.0] * 12), has_bias=True, ibits=1)
    tab = slice_table(layer, 1, 64)
    assert tab["entry_row"][0].tolist() == [0, 2, 4, 5]
    assert tab["entry_reg"][0].tolist() == [0, -1, -1, 5]
    f = layer_figures(layer, np.zeros(0, dtype=np.int64), RefHW(n_pes=1, bypass=False))
    assert f["n_items"] == 1 and f["c"].tolist() == [[4]] and f["kept"].tolist() == [[2]]
    assert f["codebook_reads"] == f["multiplies"] == f["adds"] == 4
    assert f["dest_reads"] == f["dest_writes"] == 2
    assert f["mac_efficiency"] == pytest.approx(2 / f["cycles"])
    assert f["src_reads"] == 1 and f["act_sram_writes"] == 6


def test_bypass_counts_only_kept_entries_hand_case() -> None:
    # ibits = 1, 1 PE, regs 64: column 0 ends on row 3; column 1 = padding (row 1) then row 3
    codes = np.zeros((4, 2), dtype=np.uint8)
    codes[3, 0] = codes[3, 1] = 1
    codes[0, 0] = 1
    layer = RefLayer(codes, np.array([0.0, 0.5] + [0.0] * 14), has_bias=False, ibits=1)
    tab = slice_table(layer, 1, 64)
    assert tab["count"][0, 0].tolist() == [3, 2] and tab["lead_pad"][0, 0].tolist() == [0, 1]
    f = layer_figures(layer, np.array([1, 1]), RefHW(n_pes=1, queue_depth=4))
    # t = [1, 2]; column 0 at 3..5 (row 3 last, at 5); column 1 pops at 6, padding at 6,
    # row 3 at 7: two cycles after, so no bypass
    assert f["s"].tolist() == [[3, 6]] and f["bypass"] == 0
    off = layer_figures(layer, np.array([1, 1]), RefHW(n_pes=1, queue_depth=4, bypass=False, acc_latency=3))
    # row 3 updated at 5 -> h = 8; the padding takes 6, the kept entry waits from 7 to 8
    assert off["fin"].tolist() == [[6, 9]] and off["hazard_stall_cycles"] == 1
    # without the padding (ibits = 4) the two updates of row 3 are back to back: one bypass
    plain = layer_figures(RefLayer(codes, layer.codebook, False), np.array([1, 1]), RefHW(n_pes=1))
    assert plain["c"].tolist() == [[2, 1]] and plain["bypass"] == 1


def test_tiles_with_a_split_row_hand_case() -> None:
    # N = 2, m = 2 (register 0 in each PE), 8 dense columns, one 8-bit entry a word:
    # 8 words per PE do not fit 6; half holds 3 -> tiles [0,3), [3,6), [6,8)
    layer = RefLayer(np.ones((2, 8), dtype=np.uint8), np.array([0.0, 0.5] + [0.0] * 14), False)
    hw = RefHW(n_pes=2, word_bits=8, spmat_bytes=6)
    f = layer_figures(layer, np.ones(8, dtype=np.int64), hw)
    assert not f["resident"] and f["tiles"] == [(0, 0, 3), (0, 3, 6), (0, 6, 8)]
    # tile rows: {0, 1}, {1, 2} (row 1 split: loaded by both), {3}
    assert f["segment_rows"] == [2, 2, 1] and f["lnzd_row_loads"] == 5
    assert f["item_row"].tolist() == [0, 0, 1, 0, 1, 1, 0, 0]
    assert f["item_lane"].tolist() == [0, 1, 0, 1, 0, 1, 0, 1]
    # every tile: t = [1, 2, 3] (after lane N-1 no load cycle), s = t + 2, fin = s + 1;
    # T_scan = 4 (3 for the 2-item tile); compute = fin + 5
    assert f["tile_compute"] == [11, 11, 10]
    # bytes: 3 words of 1 byte per PE + 4 pointers of 18 bits (9 bytes) per PE -> 24;
    # the last tile 2 + 7 bytes per PE -> 18; load = ceil(bytes / 16) + 100 = 102
    assert f["tile_bytes"] == [24, 24, 18] and f["tile_load"] == [102, 102, 102]
    assert f["tile_start"] == [102, 204, 306] and f["tile_end"] == [113, 215, 316]
    assert f["cycles"] == 316
    assert f["t"].tolist() == [103, 104, 105, 205, 206, 207, 307, 308]
    assert f["t_before_credits"].tolist() == f["t"].tolist()
    # register 0 back to back within each tile, never across tiles: (2 + 2 + 1) per PE
    assert f["bypass"] == 10
    assert f["spmat_word_reads"] == 16 and f["pointer_reads"] == 16
    assert f["src_reads"] == 8 and f["act_sram_writes"] == 2
    assert f["dram_bytes"] == 66 and f["weight_load_bytes"] == 0
    # queues hold one item from t to s - 1 (2 cycles) per item and PE: 16 item-cycles each
    assert f["occupancy_mean"].tolist() == pytest.approx([16 / 316, 16 / 316])
    assert f["occupancy_max"].tolist() == [2, 2]


def test_tile_with_no_items_still_streams() -> None:
    layer = RefLayer(np.ones((2, 8), dtype=np.uint8), np.array([0.0, 0.5] + [0.0] * 14), False)
    hw = RefHW(n_pes=2, word_bits=8, spmat_bytes=6)
    a = np.array([1, 0, 0, 0, 0, 0, 0, 1])
    f = layer_figures(layer, a, hw)
    assert f["n_items"] == 2 and f["tile_compute"][1] == 2 + 5  # K = 0: rows + 5
    assert f["item_segment"].tolist() == [0, 2]


# --------------------------------------------------------------------------------------
# Counters of whole layers and models
# --------------------------------------------------------------------------------------


def test_resident_layer_counters() -> None:
    rng = np.random.default_rng(21)
    for trial in range(12):
        n_pes = int(rng.integers(1, 5))
        regs = int(rng.integers(2, 8))
        m = int(rng.integers(1, 40))
        n = int(rng.integers(1, 25))
        bias = bool(trial % 2)
        codes = random_codes(rng, m, n, float(rng.uniform(0.1, 0.9)), bias)
        layer = RefLayer(codes, random_codebook(rng), bias, ibits=2)
        hw = RefHW(n_pes=n_pes, regs=regs, queue_depth=int(rng.integers(1, 4)), word_bits=24,
                   ptr_banks=1 + trial % 2)  # fmt: skip
        a = rng.integers(-50, 50, n)
        a[rng.random(n) < 0.3] = 0
        fig = layer_figures(layer, a, hw)
        assert fig["resident"]
        # items: non-zero inputs ascending (+ bias), once per round; rows and lanes (C1)
        cols = [j for j in range(n) if a[j] != 0] + ([n] if bias else [])
        rounds = fig["rounds"]
        per_round = -(-(n + bias) // n_pes)
        assert fig["item_col"].tolist() == cols * rounds
        assert fig["item_row"].tolist() == [r * per_round + j // n_pes for r in range(rounds) for j in cols]
        assert fig["item_lane"].tolist() == [j % n_pes for j in cols] * rounds
        assert fig["lnzd_row_loads"] == rounds * per_round
        k = len(cols) * rounds
        assert fig["pointer_reads"] == k * n_pes * (1 if hw.ptr_banks == 2 else 2)
        assert fig["queue_pushes"] == fig["queue_pops"] == k * n_pes
        enc = encode_layer(codes, n_pes, regs, 2)
        slices = [enc["slices"][p, r, j] for r in range(rounds) for j in cols for p in range(n_pes)]
        assert fig["entries_processed"] == fig["codebook_reads"] == sum(len(s) for s in slices)
        assert fig["kept_processed"] == fig["dest_writes"] == sum(1 for s in slices for e in s if e[0])
        assert fig["src_reads"] == fig["act_sram_reads"] == (n + bias) * rounds
        assert fig["act_sram_writes"] == m
        assert fig["weight_load_bytes"] > 0 and fig["dram_bytes"] == fig["act_spill_bytes"] == 0


def test_model_figures_chain_layers() -> None:
    rng = np.random.default_rng(8)
    l0 = RefLayer(random_codes(rng, 9, 7, 0.5, True), random_codebook(rng), True)
    l1 = RefLayer(random_codes(rng, 3, 9, 0.5, False), random_codebook(rng), False)
    x = rng.uniform(-1, 1, 7)
    x[2] = 1e-9  # non-zero as a float, zero in fixed point: not an item (C2)
    fa = activation_frac_bits([l0, l1], x)
    hw = RefHW(n_pes=2, bypass=False)
    figs = model_figures([l0, l1], x, fa, hw)
    h, out = functional([l0, l1], x, fa)
    assert figs[0]["n_items"] == int(np.count_nonzero(to_fix(x, fa))) + 1
    assert 2 not in figs[0]["item_col"].tolist()
    assert figs[1]["n_items"] == int(np.count_nonzero(h))
    assert figs[0]["output"].tolist() == h.tolist() and figs[1]["output"].tolist() == out.tolist()
    assert figs[0]["start_cycle"] == 0 and figs[1]["start_cycle"] == figs[0]["cycles"]
    alone = layer_figures(l1, h, hw)
    assert alone["cycles"] == figs[1]["cycles"] and np.array_equal(alone["fin"], figs[1]["fin"])


def test_activation_spill_hand_case() -> None:
    rng = np.random.default_rng(2)
    codes = random_codes(rng, 9, 10, 0.5, bias=True)  # 11 stored columns
    layer = RefLayer(codes, random_codebook(rng), True)
    hw = RefHW(n_pes=2, regs=2, act_bytes=8)  # 4 values per PE; 5 local rows -> 3 rounds
    fig = layer_figures(layer, rng.integers(1, 9, 10), hw)
    # PE0: 6 inputs, 5 outputs -> 2 inputs and 5 outputs spill; PE1: 5 in, 4 out -> 1 and 4
    assert fig["rounds"] == 3
    assert fig["act_spill_bytes"] == 2 * (3 * (2 + 1) + (5 + 4))
    assert fig["dram_bytes"] == fig["act_spill_bytes"]  # resident: no tile traffic


# --------------------------------------------------------------------------------------
# Section 5: tiling and the DRAM schedule
# --------------------------------------------------------------------------------------


def tile_need(counts_per_pe: list[int], cols: int, epw: int, hw: RefHW) -> tuple[list[int], int]:
    """Bytes of whole words per PE and pointer bytes of a tile (separate arithmetic)."""
    words = [math.ceil(e / epw) * hw.word_bits // 8 for e in counts_per_pe]
    ptr = math.ceil((cols + 1) * hw.ptr_bits / 8)
    return words, ptr


def tile_fits(counts_per_pe: list[int], cols: int, epw: int, hw: RefHW) -> bool:
    """Fits half of an empty sparse-matrix and pointer SRAM in every PE."""
    words, ptr = tile_need(counts_per_pe, cols, epw, hw)
    return (
        all(w <= hw.spmat_bytes / 2 for w in words)
        and ptr <= hw.ptr_bytes / 2
        and all(e < 2**hw.ptr_bits for e in counts_per_pe)
    )


def test_tiling_and_dram_schedule() -> None:
    rng = np.random.default_rng(99)
    hw = RefHW(n_pes=3, regs=4, word_bits=32, spmat_bytes=16, ptr_bytes=14, ptr_bits=8,
               queue_depth=2, dram_bytes_per_cycle=3.0, dram_latency=7)  # fmt: skip
    ibits, wbits = 2, 4
    epw = 32 // 6  # 5 entries per word; half SRAM = 2 words = 10 entries; <= 6 columns
    n_tiles_seen = []
    for _ in range(6):
        codes = random_codes(rng, 24, 29, 0.35, bias=True)  # 8 local rows -> 2 rounds
        layer = RefLayer(codes, random_codebook(rng), True, wbits=wbits, ibits=ibits)
        a = rng.integers(-9, 9, 29)
        a[rng.random(29) < 0.3] = 0
        fig = layer_figures(layer, a, hw)
        assert not fig["resident"]
        enc = encode_layer(codes, hw.n_pes, hw.regs, ibits)
        ncols = codes.shape[1]

        def cnt(r: int, lo: int, hi: int, enc: dict = enc) -> list[int]:
            return [sum(len(enc["slices"][p, r, j]) for j in range(lo, hi)) for p in range(3)]

        tiles = fig["tiles"]
        n_tiles_seen.append(len(tiles))
        # coverage: rounds outer, contiguous tiles covering every column exactly once
        for r in range(enc["rounds"]):
            mine = [(lo, hi) for rr, lo, hi in tiles if rr == r]
            assert mine[0][0] == 0 and mine[-1][1] == ncols
            assert all(a_[1] == b_[0] and a_[0] < a_[1] for a_, b_ in zip(mine, mine[1:], strict=False))
        assert [t[0] for t in tiles] == sorted(t[0] for t in tiles)
        # each tile fits, each tile is maximal
        for r, lo, hi in tiles:
            assert tile_fits(cnt(r, lo, hi), hi - lo, epw, hw)
            if hi < ncols:
                assert not tile_fits(cnt(r, lo, hi + 1), hi + 1 - lo, epw, hw)
        # schedule: bytes, loads, start/end from the section-5 formulas, compute from the machine
        loads = []
        for ti, (r, lo, hi) in enumerate(tiles):
            words, ptr = tile_need(cnt(r, lo, hi), hi - lo, epw, hw)
            nbytes = sum(words) + 3 * ptr
            loads.append(math.ceil(nbytes / 3.0) + 7)
            assert fig["tile_bytes"][ti] == nbytes
        assert fig["tile_load"] == loads
        sim = sim_layer(codes, a, True, hw, ibits, tiles, loads)
        end = start = 0
        for ti in range(len(tiles)):
            start = loads[0] if ti == 0 else max(end, start + loads[ti])
            end = start + fig["tile_compute"][ti]
            assert fig["tile_start"][ti] == start and fig["tile_end"][ti] == end
        assert fig["cycles"] == end == sim["cycles"]
        assert fig["dram_bytes"] == sum(fig["tile_bytes"])  # no activation spill here
        assert fig["weight_load_bytes"] == 0
        assert fig["spmat_word_reads_per_pe"].tolist() == brute_word_reads(codes, ibits, wbits, hw, fig)
        # row loads: every tile loads the rows that hold its columns
        assert fig["lnzd_row_loads"] == sum((hi - 1) // 3 - lo // 3 + 1 for _, lo, hi in tiles)
        assert fig["src_reads"] == 30 * 2  # every input and the bias, every round
    assert max(n_tiles_seen) >= 6  # several tiles per round


def test_column_too_big_is_an_error() -> None:
    codes = np.ones((40, 2), dtype=np.uint8)
    layer = RefLayer(codes, np.array([0.0, 1.0] + [0.0] * 14), has_bias=False)
    hw = RefHW(n_pes=1, spmat_bytes=32)  # half = 2 words = 16 entries < 40
    with pytest.raises(ValueError):
        layer_figures(layer, np.array([1, 1]), hw)


def test_model_residency_prefix_and_retry() -> None:
    cb = np.array([0.0, 0.01] + [0.0] * 14)
    hw = RefHW(n_pes=2, spmat_bytes=64, ptr_bytes=256, ptr_bits=8)  # 8 words of 8 entries
    # A: 48 columns, one row per PE -> 48 entries = 6 words per PE (resident alone)
    a_layer = RefLayer(np.ones((2, 48), dtype=np.uint8), cb, has_bias=False)
    # B: 12 rows (6 per PE) x (2 + bias) -> 18 entries = 3 words per PE; 6 + 3 > 8
    b_layer = RefLayer(np.ones((12, 3), dtype=np.uint8), cb, has_bias=True)
    x = np.full(48, 0.5)
    fa = activation_frac_bits([a_layer, b_layer], x)
    figs = model_figures([a_layer, b_layer], x, fa, hw)
    assert figs[0]["resident"] and not figs[1]["resident"]
    # B tiled in half of what A leaves free: 2 words / 2 = 8 entries -> one column per tile
    assert figs[1]["tiles"] == [(0, 0, 1), (0, 1, 2), (0, 2, 3)]
    assert figs[1]["start_cycle"] == figs[0]["cycles"]
    assert figs[0]["weight_load_bytes"] == 2 * (6 * 8 + 49)
    # A with 56 columns (7 words) leaves 1 word: half of it holds no whole word, so no
    # column of B fits; A is streamed too and both are tiled in half of the empty SRAM
    # (4 words = 32 entries)
    a56 = RefLayer(np.ones((2, 56), dtype=np.uint8), cb, has_bias=False)
    figs = model_figures([a56, b_layer], np.full(56, 0.5), fa, hw)
    assert not figs[0]["resident"] and not figs[1]["resident"]
    assert figs[0]["tiles"] == [(0, 0, 32), (0, 32, 56)]
    assert figs[1]["tiles"] == [(0, 0, 3)]
    # alone, A fits and is resident
    assert layer_figures(a56, np.ones(56, dtype=np.int64), hw)["resident"]
    # a column that does not fit half of the empty SRAM is an error
    with pytest.raises(ValueError):
        big_b = RefLayer(np.ones((80, 3), dtype=np.uint8), cb, has_bias=True)  # 40 a column
        model_figures([a56, big_b], np.full(56, 0.5), fa, hw)


def test_fitting_rules() -> None:
    cb = np.array([0.0, 0.01] + [0.0] * 14)
    layer = RefLayer(np.ones((1, 17), dtype=np.uint8), cb, has_bias=False)
    a = np.ones(17, dtype=np.int64)

    def fig(**kw: int) -> dict:
        return layer_figures(layer, a, RefHW(n_pes=1, **kw))

    # 17 entries = 3 whole words = 24 bytes; 18 pointers x 18 bits = 324 bits -> 41 bytes
    assert fig(spmat_bytes=24, ptr_bytes=41)["resident"]
    assert fig(spmat_bytes=24, ptr_bytes=41)["weight_load_bytes"] == 24 + 41
    # pointers one byte short: tiles of 7 columns (8 x 18 bits = 18 bytes <= 40 / 2)
    assert fig(spmat_bytes=24, ptr_bytes=40)["tiles"] == [(0, 0, 7), (0, 7, 14), (0, 14, 17)]
    # words one byte short: half of 23 bytes holds one 8-entry word
    assert fig(spmat_bytes=23, ptr_bytes=64)["tiles"] == [(0, 0, 8), (0, 8, 16), (0, 16, 17)]
    # addressability: 17 entries >= 2**4; tiles of at most 15 entries, here one word each
    f4 = fig(spmat_bytes=24, ptr_bytes=64, ptr_bits=4)
    assert not f4["resident"] and f4["tiles"][0] == (0, 0, 8)
    f4 = fig(spmat_bytes=64, ptr_bytes=64, ptr_bits=4)
    assert f4["tiles"] == [(0, 0, 15), (0, 15, 17)]


# --------------------------------------------------------------------------------------
# Section 7 and scale
# --------------------------------------------------------------------------------------


def test_dense_baseline() -> None:
    hw = RefHW()
    d = dense_baseline(4096, 9216, hw)
    assert d["compute"] == 64 * 9216 + 3
    assert d["resident"] is False  # 75.5 MB > 64 x 128 KB
    assert d["cycles"] == max(64 * 9216 + 3, math.ceil(2 * 4096 * 9216 / 16)) + 100
    small = dense_baseline(100, 50, hw)
    assert small["resident"] and small["cycles"] == 2 * 50 + 3


def test_large_layer_runs_quickly() -> None:
    rng = np.random.default_rng(0)
    m, n = 1024, 2048
    layer = RefLayer(random_codes(rng, m, n, 0.09, True), random_codebook(rng, 0.05), True)
    a = np.zeros(n, dtype=np.int64)
    a[rng.choice(n, 700, replace=False)] = rng.integers(1, 3000, 700)
    for n_pes, bypass in ((4, True), (64, False)):
        fig = layer_figures(layer, a, RefHW(n_pes=n_pes, bypass=bypass))
        k = fig["n_items"]
        assert k == 701 * fig["rounds"]
        assert fig["entries_processed"] >= fig["kept_processed"] > 0
        assert 0 < fig["pe_utilization"] <= 1
        assert np.all(fig["idle"] >= 0)
