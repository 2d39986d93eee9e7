"""Self-tests of tests/oracle.py, the cycle-stepping oracle of the modelling contract.

The oracle is pinned to absolute numbers: the contract's worked examples (every broadcast,
pop and finish cycle), hand-computed cases of every counter, tile and schedule, and an
encoder written here that walks rows (not the oracle's slice table). The engines are held
to the oracle in tests/test_engines.py.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from tests import oracle
from tests.oracle import (
    Hardware,
    RefLayer,
    activation_frac_bits,
    dense_baseline,
    frac_bits,
    functional,
    lnzd_nodes,
    model_figures,
    slice_table,
    to_fix,
)

#: Old names of the counts (and of the end of the scan) the hand cases use.
ALIASES = {
    "pointer_reads": ("ptr_read", "read"), "queue_pushes": ("act_queue", "push"),
    "queue_pops": ("act_queue", "pop"), "spmat_word_reads": ("spmat_read", "word_read"),
    "codebook_reads": ("arith", "codebook_read"), "multiplies": ("arith", "multiply"),
    "adds": ("arith", "add"), "dest_reads": ("act_rw", "dest_read"),
    "dest_writes": ("act_rw", "dest_write"), "src_reads": ("act_rw", "src_read"),
    "act_sram_reads": ("act_rw", "sram_read"), "act_sram_writes": ("act_rw", "sram_write"),
}


def layer_figures(layer: RefLayer, a_fix: np.ndarray, hw: Hardware) -> dict:
    """The oracle's figures of one layer alone, with the counts also under the names above."""
    f = oracle.layer_figures(layer, a_fix, hw)
    f.update({name: f["counts"][key] for name, key in ALIASES.items()})
    f["t_scan"] = f["T_scan"]
    return f

# --------------------------------------------------------------------------------------
# A row-walking encoder, written here independently of the oracle's slice table
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


def brute_word_reads(codes: np.ndarray, ibits: int, wbits: int, hw: Hardware, fig: dict) -> list[int]:
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


def test_worked_example_from_codes() -> None:
    layer, a = worked_example()
    f = layer_figures(layer, a, Hardware(n_pes=2, queue_depth=1))
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
    assert layer_figures(layer, np.array([0, 5, 0]), Hardware(n_pes=2))["n_items"] == 1
    assert layer_figures(layer, np.array([0, 0, 0]), Hardware(n_pes=2))["cycles"] == 2  # its 2 rows only


@pytest.mark.parametrize(
    ("knobs", "s", "fin", "cycles", "bypass", "stalls"),
    [
        ({}, [3, 4, 5], [4, 5, 6], 11, 1, 0),
        ({"bypass": False, "acc_latency": 2}, [3, 4, 6], [4, 6, 7], 12, 0, 1),
        # the last column's entry issues at 7: drained at 8 + 5, its second pointer cycle hidden
        ({"ptr_banks": 1}, [3, 5, 7], [5, 7, 9], 13, 0, 0),
    ],
)
def test_knobs_example(
    knobs: dict, s: list[int], fin: list[int], cycles: int, bypass: int, stalls: int
) -> None:
    layer, a = knobs_example()  # a negative activation is an item too
    hw = Hardware(n_pes=1, queue_depth=2, broadcast_latency=2, **knobs)
    f = layer_figures(layer, a, hw)
    assert f["t"].tolist() == [1, 2, 3]
    assert f["s"].tolist() == [s]
    assert f["fin"].tolist() == [fin]
    assert f["cycles"] == cycles
    assert f["bypass"] == bypass
    assert f["hazard_stall_cycles"] == stalls
    assert f["pointer_reads"] == 3 * (2 if knobs.get("ptr_banks") == 1 else 1)
    assert f["busy"].tolist() == [6 if knobs.get("ptr_banks") == 1 else 3]


def test_scan_end_rule() -> None:
    """T_scan: trailing rows load from t (last lane N-1) or t + 1; K = 0 gives rows."""
    codes = np.zeros((1, 6), dtype=np.uint8)  # no entries: every column costs P
    layer = RefLayer(codes, np.zeros(16), has_bias=False)
    hw = Hardware(n_pes=2, broadcast_latency=1)  # 3 rows of 2 lanes
    lane1 = layer_figures(layer, np.array([0, 4, 0, 0, 0, 0]), hw)  # t = 1, rows 1, 2 at 1, 2
    # nothing issues, so nothing drains: the layer ends with the scan or the last pointer read
    assert lane1["t_scan"] == [3] and lane1["cycles"] == max(3, 1 + 1 + 1)
    lane0 = layer_figures(layer, np.array([4, 0, 0, 0, 0, 0]), hw)  # rows 1, 2 at 2, 3
    assert lane0["t_scan"] == [4] and lane0["cycles"] == 4
    last_row = layer_figures(layer, np.array([0, 0, 0, 0, 0, 4]), hw)  # row 2 at 2, t = 3
    assert last_row["t"].tolist() == [3] and last_row["t_scan"] == [4]
    empty = layer_figures(layer, np.zeros(6, dtype=np.int64), hw)
    assert empty["n_items"] == 0 and empty["t_scan"] == [3] and empty["cycles"] == 3
    assert empty["lnzd_row_loads"] == 3 and empty["occupancy_max"].tolist() == [0, 0]


def test_rounds_restart_hazards_and_stop_bypass() -> None:
    """1 PE, 2 rounds of one register: rows 0-1 are round 0's inputs, rows 2-3 round 1's."""
    layer = RefLayer(np.ones((2, 2), dtype=np.uint8), np.array([0.0, 0.5] + [0.0] * 14), False)
    on = layer_figures(layer, np.array([1, 1]), Hardware(n_pes=1, regs=1))
    assert on["rounds"] == 2 and on["item_round"].tolist() == [0, 0, 1, 1]
    assert on["t"].tolist() == [1, 2, 3, 4] and on["s"].tolist() == [[3, 4, 5, 6]]
    # register 0 back to back at every step, but not across the round boundary (items 1-2)
    assert on["bypass"] == 2 and on["cycles"] == 7 + 5
    off = layer_figures(layer, np.array([1, 1]), Hardware(n_pes=1, regs=1, bypass=False, acc_latency=2))
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
    hw = Hardware(n_pes=1, word_bits=16)
    f = layer_figures(layer, np.array([1, 1, 1, 1]), hw)
    # entries 0-2 in words 0-1 (2 reads), empty slice keeps word 1, entry 3 in word 1 (no
    # read), entries 4-5 in word 2 (1 read)
    assert f["spmat_word_reads"] == 3
    assert f["pointer_reads"] == 4 and f["queue_pushes"] == f["queue_pops"] == 4
    one_bank = layer_figures(layer, np.array([1, 1, 1, 1]), Hardware(n_pes=1, word_bits=16, ptr_banks=1))
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
    f = layer_figures(layer, np.zeros(0, dtype=np.int64), Hardware(n_pes=1, bypass=False))
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
    f = layer_figures(layer, np.array([1, 1]), Hardware(n_pes=1, queue_depth=4))
    # t = [1, 2]; column 0 at 3..5 (row 3 last, at 5); column 1 pops at 6, padding at 6,
    # row 3 at 7: two cycles after, so no bypass
    assert f["s"].tolist() == [[3, 6]] and f["bypass"] == 0
    off = layer_figures(layer, np.array([1, 1]),
                        Hardware(n_pes=1, queue_depth=4, bypass=False, acc_latency=3))
    # row 3 updated at 5 -> h = 8; the padding takes 6, the kept entry waits from 7 to 8
    assert off["fin"].tolist() == [[6, 9]] and off["hazard_stall_cycles"] == 1
    # without the padding (ibits = 4) the two updates of row 3 are back to back: one bypass
    plain = layer_figures(RefLayer(codes, layer.codebook, False), np.array([1, 1]), Hardware(n_pes=1))
    assert plain["c"].tolist() == [[2, 1]] and plain["bypass"] == 1


def test_tiles_with_a_split_row_hand_case() -> None:
    # N = 2, m = 2 (register 0 in each PE), 8 dense columns, one 8-bit entry a word:
    # 8 words per PE do not fit 6; half holds 3 -> tiles [0,3), [3,6), [6,8)
    layer = RefLayer(np.ones((2, 8), dtype=np.uint8), np.array([0.0, 0.5] + [0.0] * 14), False)
    hw = Hardware(n_pes=2, word_bits=8, spmat_bytes=6)
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
    hw = Hardware(n_pes=2, word_bits=8, spmat_bytes=6)
    a = np.array([1, 0, 0, 0, 0, 0, 0, 1])
    f = layer_figures(layer, a, hw)
    assert f["n_items"] == 2 and f["tile_compute"][1] == 2  # K = 0: its rows, nothing to drain
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
        hw = Hardware(n_pes=n_pes, regs=regs, queue_depth=int(rng.integers(1, 4)), word_bits=24,
                   ptr_banks=1 + trial % 2)  # fmt: skip
        a = rng.integers(-50, 50, n)
        a[rng.random(n) < 0.3] = 0
        fig = layer_figures(layer, a, hw)
        assert fig["resident"]
        # items: non-zero inputs ascending (+ bias), once per round; rows and lanes (C1)
        cols = [j for j in range(n) if a[j] != 0] + ([n] if bias else [])
        rounds = fig["rounds"]
        # input j at row j // N, lane j mod N; the bias in lane 0 of its own row, ceil(n / N)
        row = {j: j // n_pes for j in range(n)} | {n: -(-n // n_pes)}
        lane = {j: j % n_pes for j in range(n)} | {n: 0}
        per_round = -(-n // n_pes) + bias
        assert fig["item_col"].tolist() == cols * rounds
        assert fig["item_row"].tolist() == [r * per_round + row[j] for r in range(rounds) for j in cols]
        assert fig["item_lane"].tolist() == [lane[j] for j in cols] * rounds
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
    hw = Hardware(n_pes=2, bypass=False)
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
    hw = Hardware(n_pes=2, regs=2, act_bytes=8)  # 4 values per PE; 5 local rows -> 3 rounds
    fig = layer_figures(layer, rng.integers(1, 9, 10), hw)
    # PE0: 6 inputs, 5 outputs -> 2 inputs and 5 outputs spill; PE1: 5 in, 4 out -> 1 and 4
    assert fig["rounds"] == 3
    assert fig["act_spill_bytes"] == 2 * (3 * (2 + 1) + (5 + 4))
    assert fig["dram_bytes"] == fig["act_spill_bytes"]  # resident: no tile traffic


# --------------------------------------------------------------------------------------
# Section 5: tiling and the DRAM schedule
# --------------------------------------------------------------------------------------


def tile_need(counts_per_pe: list[int], cols: int, epw: int, hw: Hardware) -> tuple[list[int], int]:
    """Bytes of whole words per PE and pointer bytes of a tile (separate arithmetic)."""
    words = [math.ceil(e / epw) * hw.word_bits // 8 for e in counts_per_pe]
    ptr = math.ceil((cols + 1) * hw.ptr_bits / 8)
    return words, ptr


def tile_fits(counts_per_pe: list[int], cols: int, epw: int, hw: Hardware) -> bool:
    """Fits half of an empty sparse-matrix and pointer SRAM in every PE."""
    words, ptr = tile_need(counts_per_pe, cols, epw, hw)
    return (
        all(w <= hw.spmat_bytes / 2 for w in words)
        and ptr <= hw.ptr_bytes / 2
        and all(e < 2**hw.ptr_bits for e in counts_per_pe)
    )


def test_tiling_and_dram_schedule() -> None:
    rng = np.random.default_rng(99)
    hw = Hardware(n_pes=3, regs=4, word_bits=32, spmat_bytes=16, ptr_bytes=14, ptr_bits=8,
               queue_depth=2, dram_gbps=2.4, dram_latency_ns=8.75)  # fmt: skip
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
        end = start = 0
        for ti in range(len(tiles)):
            start = loads[0] if ti == 0 else max(end, start + loads[ti])
            end = start + fig["tile_compute"][ti]
            assert fig["tile_start"][ti] == start and fig["tile_end"][ti] == end
        assert fig["cycles"] == end
        assert fig["dram_bytes"] == sum(fig["tile_bytes"])  # no activation spill here
        assert fig["weight_load_bytes"] == 0
        assert fig["spmat_word_reads"] == sum(brute_word_reads(codes, ibits, wbits, hw, fig))
        # row loads: every tile loads the rows that hold its columns
        def row(j: int) -> int:  # column 29 is the bias: its own row, ceil(29 / 3) = 10
            return j // 3 if j < 29 else 10

        assert fig["lnzd_row_loads"] == sum(row(hi - 1) - row(lo) + 1 for _, lo, hi in tiles)
        assert fig["src_reads"] == 30 * 2  # every input and the bias, every round
    assert max(n_tiles_seen) >= 6  # several tiles per round


def test_column_too_big_is_an_error() -> None:
    codes = np.ones((40, 2), dtype=np.uint8)
    layer = RefLayer(codes, np.array([0.0, 1.0] + [0.0] * 14), has_bias=False)
    hw = Hardware(n_pes=1, spmat_bytes=32)  # half = 2 words = 16 entries < 40
    with pytest.raises(ValueError):
        layer_figures(layer, np.array([1, 1]), hw)


def test_model_residency_prefix_and_retry() -> None:
    cb = np.array([0.0, 0.01] + [0.0] * 14)
    hw = Hardware(n_pes=2, spmat_bytes=64, ptr_bytes=256, ptr_bits=8)  # 8 words of 8 entries
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
        return layer_figures(layer, a, Hardware(n_pes=1, **kw))

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
    hw = Hardware()
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
        fig = layer_figures(layer, a, Hardware(n_pes=n_pes, bypass=bypass))
        k = fig["n_items"]
        assert k == 701 * fig["rounds"]
        assert fig["entries_processed"] >= fig["kept_processed"] > 0
        assert 0 < fig["pe_utilization"] <= 1
        assert np.all(fig["idle"] >= 0)
