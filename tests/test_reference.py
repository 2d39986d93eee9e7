"""Self-tests of tests/reference.py, the independent reference of the modelling contract.

The reference's timing recurrence is validated against a structurally different,
cycle-stepping simulation written here; its encoding against a row-walking encoder
written here; its tiling and DRAM schedule against separately written arithmetic.
"""

from __future__ import annotations

import math
from collections import deque

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
    lnzd_levels,
    lnzd_nodes,
    model_figures,
    slice_table,
    timing,
    to_fix,
)

# --------------------------------------------------------------------------------------
# Helpers written independently of the reference
# --------------------------------------------------------------------------------------


def cycle_sim(c: np.ndarray, L: int, Q: int) -> dict:
    """Cycle-stepping model of CCU + LNZD + PEs (no recurrence).

    Each cycle: every PE first pops its head item if the item is visible (broadcast
    >= L cycles ago) and the PE is idle; then the CCU broadcasts the next item if every
    PE's queue (in-flight items included) has a free slot. A pop thus frees a slot for a
    broadcast in the same cycle. Returns t, s, fin, cycles and the per-cycle queue
    lengths at the end of each cycle.
    """
    c = np.asarray(c, dtype=np.int64)
    n, k_total = c.shape
    queues: list[deque] = [deque() for _ in range(n)]
    free_at = [0] * n  # first cycle at which the PE is idle
    t = [-1] * k_total
    s = [[-1] * k_total for _ in range(n)]
    fin = [[-1] * k_total for _ in range(n)]
    occ: list[list[int]] = []
    next_item = 0
    popped = 0
    x = 0
    while popped < n * k_total:
        for p in range(n):
            q = queues[p]
            if q and free_at[p] <= x and t[q[0]] + L <= x:
                k = q.popleft()
                s[p][k] = x
                free_at[p] = x + max(1, int(c[p, k]))
                fin[p][k] = free_at[p]
                popped += 1
        if next_item < k_total and all(len(q) < Q for q in queues):
            t[next_item] = x
            for q in queues:
                q.append(next_item)
            next_item += 1
        occ.append([len(q) for q in queues])
        x += 1
        assert x < 100_000, "simulation does not terminate"
    cycles = max(max(f) for f in fin) + 3 if k_total else L + 3
    while len(occ) < cycles:
        occ.append([0] * n)
    return {
        "t": np.array(t, dtype=np.int64),
        "s": np.array(s, dtype=np.int64).reshape(n, k_total),
        "fin": np.array(fin, dtype=np.int64).reshape(n, k_total),
        "cycles": cycles,
        "occ": np.array(occ[:cycles], dtype=np.int64).reshape(cycles, n).T,
    }


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


def random_codes(rng: np.random.Generator, m: int, n: int, density: float, bias: bool) -> np.ndarray:
    """Random code matrix; the bias column (last) is dense."""
    codes = (rng.random((m, n)) < density) * rng.integers(1, 16, (m, n))
    if bias:
        codes = np.hstack([codes, rng.integers(1, 16, (m, 1))])
    return codes.astype(np.uint8)


def random_codebook(rng: np.random.Generator, scale: float = 0.5) -> np.ndarray:
    """Codebook with code 0 = 0."""
    return np.concatenate([[0.0], rng.uniform(-scale, scale, 15)])


# --------------------------------------------------------------------------------------
# Section 4: worked example, recurrence vs cycle simulation
# --------------------------------------------------------------------------------------


def test_worked_example_recurrence() -> None:
    c = np.array([[2, 0, 0], [0, 1, 1]])
    tm = timing(c, L=1, Q=1)
    assert tm["t"].tolist() == [0, 1, 3]
    assert tm["s"].tolist() == [[1, 3, 4], [1, 2, 4]]
    assert tm["fin"].tolist() == [[3, 4, 5], [2, 3, 5]]
    assert tm["cycles"] == 8
    for L in (1, 2, 3):
        assert timing(np.zeros((4, 0), dtype=np.int64), L=L, Q=8)["cycles"] == L + 3


def test_worked_example_from_codes() -> None:
    codes = np.zeros((4, 3), dtype=np.uint8)
    for i, j in [(0, 0), (2, 0), (1, 1), (3, 2)]:
        codes[i, j] = 1
    layer = RefLayer(codes, np.array([0.0, 0.5] + [0.0] * 14), has_bias=False)
    hw = RefHW(n_pes=2, queue_depth=1)
    f = layer_figures(layer, np.array([3, 5, 7]), hw)
    assert f["resident"]
    assert f["c"].tolist() == [[2, 0, 0], [0, 1, 1]]
    assert f["cycles"] == 8
    assert f["busy"].tolist() == [4, 3]
    assert f["idle"].tolist() == [4, 5]
    assert f["ccu_stall_cycles"] == 1  # t = [0, 1, 3]
    assert f["pe_utilization"] == pytest.approx(7 / 16)
    assert f["mac_efficiency"] == pytest.approx(4 / 16)
    # a zero activation costs no item
    assert layer_figures(layer, np.array([0, 5, 0]), hw)["n_items"] == 1


def test_recurrence_matches_cycle_simulation() -> None:
    rng = np.random.default_rng(1234)
    stalled = 0
    for _ in range(300):
        n = int(rng.integers(1, 7))
        k = int(rng.integers(0, 31))
        q = int(rng.integers(1, 5))
        L = int(rng.integers(1, 4))
        c = rng.integers(0, 6, (n, k))
        c[rng.random((n, k)) < 0.4] = 0  # many empty slices
        ref = timing(c, L, q)
        sim = cycle_sim(c, L, q)
        assert ref["cycles"] == sim["cycles"]
        assert np.array_equal(ref["t"], sim["t"])
        assert np.array_equal(ref["s"], sim["s"])
        assert np.array_equal(ref["fin"], sim["fin"])
        stalled += int(np.any(np.diff(ref["t"]) > 1))
    assert stalled > 50  # the queue-credit term is exercised, not just the +1 term


def test_lnzd_tree() -> None:
    expected = {1: 1, 2: 1, 4: 1, 5: 2, 16: 2, 17: 3, 64: 3, 65: 4, 256: 4}
    assert {n: lnzd_levels(n) for n in expected} == expected
    assert lnzd_nodes(64) == 21
    assert lnzd_nodes(4) == 1
    assert lnzd_nodes(5) == 2 + 1
    assert lnzd_nodes(256) == 64 + 16 + 4 + 1


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
        assert tab["entries"].tolist() == [len(e) for e in enc["pe_entries"]]


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
# Counters against brute force (cycle simulation + row-walking encoder)
# --------------------------------------------------------------------------------------


def brute_counters(
    codes: np.ndarray, ibits: int, wbits: int, hw: RefHW, a_fix: np.ndarray, fig: dict
) -> dict:
    """Word reads and bypass events by walking every entry; items taken from ``fig``."""
    n = hw.n_pes
    enc = encode_layer(codes, n, hw.regs, ibits)
    epw = hw.word_bits // (wbits + ibits)
    # tile of each (round, column), and each tile's first entry per PE
    tile_of = {}
    if fig["resident"]:
        for r in range(enc["rounds"]):
            for j in range(codes.shape[1]):
                tile_of[r, j] = 0
        e0 = {0: [0] * n}
    else:
        e0 = {}
        for ti, (r, lo, hi) in enumerate(fig["tiles"]):
            for j in range(lo, hi):
                tile_of[r, j] = ti
            e0[ti] = [int(enc["ptr"][p, r, lo]) for p in range(n)]
    items = list(zip(fig["item_round"].tolist(), fig["item_col"].tolist(), strict=True))
    reads = 0
    bypass = 0
    for p in range(n):
        last_word = None
        processed = []  # (cycle, row, k)
        for k, (r, j) in enumerate(items):
            ent = enc["slices"][p, r, j]
            start = int(enc["ptr"][p, r, j])
            ti = tile_of[r, j]
            for i, (_v, _z, row) in enumerate(ent):
                word = (ti, (start + i - e0[ti][p]) // epw)
                if word != last_word:
                    reads += 1
                    last_word = word
                processed.append((int(fig["s"][p, k]) + i, row, k))
        for (c0, r0, k0), (c1, r1, k1) in zip(processed, processed[1:], strict=False):
            if k1 == k0 + 1 and c1 == c0 + 1 and r1 == r0:
                bypass += 1
    return {"reads": reads, "bypass": bypass}


def test_resident_counters_brute_force() -> None:
    rng = np.random.default_rng(21)
    for trial in range(12):
        n_pes = int(rng.integers(1, 5))
        regs = int(rng.integers(2, 8))
        m = int(rng.integers(1, 40))
        n = int(rng.integers(1, 25))
        bias = bool(trial % 2)
        codes = random_codes(rng, m, n, float(rng.uniform(0.1, 0.9)), bias)
        layer = RefLayer(codes, random_codebook(rng), bias, ibits=2)
        hw = RefHW(n_pes=n_pes, regs=regs, queue_depth=int(rng.integers(1, 4)), word_bits=24)
        a = rng.integers(-50, 50, n)
        a[rng.random(n) < 0.3] = 0
        fig = layer_figures(layer, a, hw)
        assert fig["resident"]
        # items: non-zero inputs ascending (+ bias), once per round
        cols = [j for j in range(n) if a[j] != 0] + ([n] if bias else [])
        assert fig["item_col"].tolist() == cols * fig["rounds"]
        sim = cycle_sim(fig["c"], lnzd_levels(n_pes), hw.queue_depth)
        assert fig["cycles"] == sim["cycles"]
        assert np.array_equal(fig["s"], sim["s"])
        assert np.allclose(fig["occupancy_mean"], sim["occ"].mean(axis=1))
        assert np.array_equal(fig["occupancy_max"], sim["occ"].max(axis=1))
        brute = brute_counters(codes, 2, 4, hw, a, fig)
        assert fig["spmat_word_reads"] == brute["reads"]
        assert fig["bypass"] == brute["bypass"]
        assert fig["pointer_reads"] == fig["queue_pushes"] == len(cols) * fig["rounds"] * n_pes
        assert fig["weight_load_bytes"] > 0 and fig["dram_bytes"] == 0


def test_bypass_and_word_reuse_hand_case() -> None:
    # one PE, column 0 ends on row 2, column 1 starts on row 2 and takes one cycle each
    codes = np.array([[0, 0], [0, 0], [1, 1]], dtype=np.uint8)
    layer = RefLayer(codes, np.array([0.0, 1.0] + [0.0] * 14), has_bias=False)
    fig = layer_figures(layer, np.array([1, 1]), RefHW(n_pes=1))
    # t = [0, 1], s = [1, 2], fin = [2, 3]: back to back on the same row
    assert fig["s"].tolist() == [[1, 2]] and fig["fin"].tolist() == [[2, 3]]
    assert fig["bypass"] == 1
    assert fig["spmat_word_reads"] == 1  # both entries in word 0, read once
    assert fig["cycles"] == 6


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
        # schedule: bytes, loads, start/end from the section-5 formulas
        cols = [j for j in range(29) if a[j] != 0] + [29]
        L = lnzd_levels(3)
        end = 0
        start = 0
        occ = np.zeros((3, fig["cycles"]), dtype=np.int64)
        for ti, (r, lo, hi) in enumerate(tiles):
            words, ptr = tile_need(cnt(r, lo, hi), hi - lo, epw, hw)
            nbytes = sum(words) + 3 * ptr
            load = math.ceil(nbytes / 3.0) + 7
            start = load if ti == 0 else max(end, start + load)
            c = np.array(
                [[len(enc["slices"][p, r, j]) for j in cols if lo <= j < hi] for p in range(3)],
                dtype=np.int64,
            ).reshape(3, -1)
            sim = cycle_sim(c, L, hw.queue_depth)
            end = start + sim["cycles"]
            occ[:, start:end] = sim["occ"]
            assert fig["tile_bytes"][ti] == nbytes
            assert fig["tile_load"][ti] == load
            assert fig["tile_start"][ti] == start
            assert fig["tile_end"][ti] == end
        assert fig["cycles"] == end
        assert fig["dram_bytes"] == sum(fig["tile_bytes"])  # no activation spill here
        assert fig["weight_load_bytes"] == 0
        assert np.allclose(fig["occupancy_mean"], occ.mean(axis=1))
        assert np.array_equal(fig["occupancy_max"], occ.max(axis=1))
        brute = brute_counters(codes, ibits, wbits, hw, a, fig)
        assert fig["spmat_word_reads"] == brute["reads"]
        assert fig["bypass"] == brute["bypass"]
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
    for n_pes in (4, 64):
        fig = layer_figures(layer, a, RefHW(n_pes=n_pes))
        k = fig["n_items"]
        assert k == 701 * fig["rounds"]
        assert fig["entries_processed"] >= fig["kept_processed"] > 0
        assert 0 < fig["pe_utilization"] <= 1
        assert np.all(fig["idle"] >= 0)
