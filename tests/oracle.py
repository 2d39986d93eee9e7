"""The oracle: an independent, cycle-stepping implementation of the modelling contract.

Written from docs/ARCHITECTURE.md (and docs/ENERGY.md for prices) alone, importing nothing of
``eie_sim`` or ``compressor``: numpy and the standard library only. The test suite holds
both engines to it, field by field, so that their agreement means something.

It is deliberately built another way than the engines. The engines' units act through
channels (the SimPy machine) or evaluate closed-form rules item by item (the fast engine);
the oracle steps every cycle, and in each cycle every PE and the CCU look at the whole
state and act: a PE finishes its column or pops the next item and issues at most one
entry, the CCU broadcasts the LNZD's head item if every queue has a free slot, and the
LNZD loads the next activation row when one is due. Everything it reports (cycles, the
item timeline, every energy event, traffic, outputs) is counted while it steps. Its
encoding is a row-walking encoder of the dense code matrix, its arithmetic a dense numpy
pass, its prices the energy table's constants put through docs/ENERGY.md's formulas.

Conventions: a layer is its dense code matrix (m x ncols, the bias column last), row i in
PE i % N as local row i // N, round r holding local rows r*R .. r*R+R-1; items are the
non-zero inputs of a round (the bias included), rounds outer; a segment is a resident
layer's whole scan or one tile. Where the contract leaves something open, the reading is
marked AMBIGUOUS and is one of the choices docs/ARCHITECTURE.md states.
"""

from __future__ import annotations

import csv
import math
import re
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

INT16_MIN = -(2**15)
INT16_MAX = 2**15 - 1
DRAIN_CYCLES = 5  # section 4 "End": cycles after the one after a PE's last issue until its pipeline is empty
DATA = Path(__file__).resolve().parents[1] / "eie_sim" / "data"  # the energy tables (data, not code)

# --------------------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RefLayer:
    """One fully connected layer as a dense code matrix plus its codebook."""

    codes: np.ndarray  # uint8 m x ncols; 0 = zero weight; bias column LAST when has_bias
    codebook: np.ndarray  # float64[2**wbits], codebook[0] == 0
    has_bias: bool
    wbits: int = 4
    ibits: int = 4

    @property
    def m(self) -> int:
        return int(self.codes.shape[0])

    @property
    def ncols(self) -> int:
        """Stored columns (bias column included)."""
        return int(self.codes.shape[1])

    @property
    def n_inputs(self) -> int:
        """User-supplied activations (bias excluded)."""
        return self.ncols - 1 if self.has_bias else self.ncols


@dataclass(frozen=True)
class Hardware:
    """The machine's parameters the oracle needs, named as the contract's configuration
    reference names them, with the contract's defaults."""

    n_pes: int = 64
    queue_depth: int = 8  # Q: activations a queue holds, in flight included
    broadcast_latency: int = 2  # Lb: a broadcast at t can be popped from t + Lb
    ptr_banks: int = 2  # P = 1 with two banks, 2 with one
    bypass: bool = True
    acc_latency: int = 2
    regs: int = 64
    word_bits: int = 64
    spmat_bytes: int = 128 * 1024
    ptr_bytes: int = 64 * 1024
    ptr_bits: int = 18
    column_bitmap: bool = False  # skip a PE's empty column slices: no pointer read, no cycle
    act_bytes: int = 2 * 1024
    acc_bits: int = 16
    clock_hz: float = 800e6
    dram_gbps: float = 12.8
    dram_latency_ns: float = 125.0
    dram_pj_per_bit: float = 20.0
    energy_table: str | None = None  # a CSV path; None: the packaged table

    @property
    def ptr_cycles(self) -> int:
        """P, a column's minimum (its pointer read)."""
        return 1 if self.ptr_banks == 2 else 2

    def column_minimum(self, entries: int) -> int:
        """The cycles a PE spends on a column slice of ``entries`` entries at least: ``P``, or
        none for an empty slice that the column bitmap skips."""
        return 0 if self.column_bitmap and entries == 0 else self.ptr_cycles

    @property
    def dram_bytes_per_cycle(self) -> float:
        """B: the DRAM bandwidth in bytes per accelerator cycle."""
        return self.dram_gbps * 1e9 / self.clock_hz

    @property
    def dram_latency_cycles(self) -> int:
        """L_dram: the DRAM latency rounded up to whole cycles."""
        return math.ceil(round(self.dram_latency_ns * self.clock_hz / 1e9, 9))

    def transfer_cycles(self, nbytes: int) -> int:
        """One transfer of ``nbytes`` over the DRAM channel: ceil(bytes / B) + L_dram (section 5)."""
        return math.ceil(nbytes / self.dram_bytes_per_cycle) + self.dram_latency_cycles


@dataclass(frozen=True)
class Job:
    """One GEMV of a workload graph: ``input`` is a host input's name or an earlier job's."""

    name: str
    layer: RefLayer
    input: str
    relu: bool = True
    keep: bool = False  # the output stays on chip for the next job


# --------------------------------------------------------------------------------------
# Section 3: fixed point and the functional model
# --------------------------------------------------------------------------------------


def frac_bits(max_magnitude: float) -> int:
    """``f = 15 - max(0, floor(log2 M) + 1)``; ``M = 0`` gives 15.

    ``floor(log2 M) + 1`` is computed exactly with ``frexp`` (M = m * 2**e, 0.5 <= m < 1,
    so floor(log2 M) = e - 1), avoiding float log2 rounding at powers of two.
    """
    m = abs(float(max_magnitude))
    if m == 0.0:
        return 15
    _, e = math.frexp(m)
    return 15 - max(0, e)


def clamp_bits(x: np.ndarray | int, bits: int) -> np.ndarray:
    """Saturate to a signed two's complement range of ``bits`` bits."""
    lo, hi = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    return np.clip(np.asarray(x, dtype=np.int64), lo, hi)


def to_fix(x: np.ndarray | float, f: int) -> np.ndarray:
    """``clamp16(floor(x * 2**f + 0.5))`` as int64."""
    scaled = np.floor(np.asarray(x, dtype=np.float64) * (2.0**f) + 0.5)
    return np.clip(scaled, INT16_MIN, INT16_MAX).astype(np.int64)


def _float_weights(layer: RefLayer) -> np.ndarray:
    """Dense float weights ``codebook[codes]``."""
    return np.asarray(layer.codebook, dtype=np.float64)[np.asarray(layer.codes, dtype=np.int64)]




def graph_frac_bits(jobs: Sequence[Job], host: dict[str, np.ndarray]) -> int:
    """fa: the largest magnitude among the host inputs, every job's float output (after its
    ReLU, if any) and 1.0 when a job has a bias (section 3)."""
    values = {k: np.atleast_2d(np.asarray(v, np.float64)) for k, v in host.items()}
    biggest = max(float(np.max(np.abs(v))) if v.size else 0.0 for v in values.values())
    for job in jobs:
        x = values[job.input]
        lay = job.layer
        if lay.has_bias:
            x = np.hstack([x, np.ones((x.shape[0], 1))])
        # AMBIGUOUS: the float outputs are those of the quantized layer after its output function
        y = x @ _float_weights(lay).T
        if job.relu:
            y = np.maximum(y, 0.0)
        values[job.name] = y
        if y.size:
            biggest = max(biggest, float(np.max(np.abs(y))))
    if any(j.layer.has_bias for j in jobs):
        biggest = max(biggest, 1.0)
    return frac_bits(biggest)


def layer_output(layer: RefLayer, a_fix: np.ndarray, fa: int, relu: bool, acc_bits: int) -> np.ndarray:
    """Bit-exact section 3 for one layer: the non-zero inputs in ascending index, each adding
    ``(c * a + 2**(fw-1)) >> fw`` to every output with a clamp at every add; then ReLU (if any)
    and a 16-bit clamp."""
    a = np.asarray(a_fix, np.int64)
    if layer.has_bias:
        a = np.concatenate([a, [int(to_fix(1.0, fa))]])
    codebook = np.asarray(layer.codebook, np.float64)
    fw = frac_bits(float(np.max(np.abs(codebook))))
    c_fix = to_fix(codebook, fw)
    codes_t = np.ascontiguousarray(np.asarray(layer.codes).T)
    acc = np.zeros(layer.m, np.int64)
    lo, hi = -(2 ** (acc_bits - 1)), 2 ** (acc_bits - 1) - 1
    for j in np.flatnonzero(a):
        p = c_fix[codes_t[j]] * a[j]
        acc += p if fw == 0 else (p + (1 << (fw - 1))) >> fw
        np.clip(acc, lo, hi, out=acc)
    return clamp_bits(np.maximum(acc, 0) if relu else acc, 16)


def functional(layers: Sequence[RefLayer], x: np.ndarray, fa: int, acc_bits: int = 16) -> list[np.ndarray]:
    """A chain's fixed-point outputs, layer by layer (ReLU on all but the last)."""
    a = to_fix(np.asarray(x, np.float64), fa)
    outputs = []
    for i, layer in enumerate(layers):
        a = layer_output(layer, a, fa, i < len(layers) - 1, acc_bits)
        outputs.append(a)
    return outputs


def activation_frac_bits(layers: Sequence[RefLayer], calib_inputs: np.ndarray) -> int:
    """fa of a chain from a batch of calibration inputs."""
    return graph_frac_bits(chain(layers), {"x": calib_inputs})


# --------------------------------------------------------------------------------------
# Section 2: slices (relative-indexed CSC), counted directly from the dense codes
# --------------------------------------------------------------------------------------


def n_rounds(m: int, n_pes: int, regs: int) -> int:
    """``ceil(ceil(m/N)/R)`` rounds (at least 1)."""
    rows_per_pe = -(-m // n_pes)
    return max(1, -(-rows_per_pe // regs))


def slice_table(layer: RefLayer, n_pes: int, regs: int) -> dict:
    """Per (PE p, round r, column j) slice counts, plus every PE's entry array.

    Returns a dict with arrays shaped ``(n_pes, rounds, ncols)``:
    ``count`` (entries, padding included), ``kept`` (non-padding entries), ``first_row`` and
    ``last_row`` (absolute local row of the slice's first / last entry, -1 when empty; a
    padding entry stands on the zero row it replaces), ``lead_pad`` (leading padding
    entries of the slice), ``first_entry`` (index of the slice's first entry in PE p's entry
    array, rounds outer, columns inner); and per PE (lists of N arrays, entry order):
    ``entry_row`` (absolute local row), ``entry_kept`` (False for padding) and ``entry_reg``
    (round-relative destination register, -1 for padding); plus ``rounds`` and ``entries``
    (total entries per PE).
    """
    codes = np.asarray(layer.codes)
    m, ncols = codes.shape
    rounds = n_rounds(m, n_pes, regs)
    span = 2**layer.ibits  # a gap of g zero rows costs g // span padding entries
    shape = (n_pes, rounds, ncols)
    count = np.zeros(shape, dtype=np.int64)
    kept = np.zeros(shape, dtype=np.int64)
    first_row = np.full(shape, -1, dtype=np.int64)
    last_row = np.full(shape, -1, dtype=np.int64)
    lead_pad = np.zeros(shape, dtype=np.int64)
    entry_row: list[np.ndarray] = []
    entry_kept: list[np.ndarray] = []
    entry_reg: list[np.ndarray] = []
    for p in range(n_pes):
        sub = codes[p::n_pes]  # local rows of PE p, in order
        j, lr = np.nonzero(sub.T != 0)  # sorted by column, then local row
        r = lr // regs
        order = np.argsort(r, kind="stable")  # -> sorted by (round, column, local row)
        j, lr, r = j[order], lr[order], r[order]
        if j.size == 0:
            entry_row.append(np.zeros(0, dtype=np.int64))
            entry_kept.append(np.zeros(0, dtype=bool))
            entry_reg.append(np.zeros(0, dtype=np.int64))
            continue
        key = r * ncols + j
        starts = np.ones(j.size, dtype=bool)
        starts[1:] = key[1:] != key[:-1]
        ends = np.ones(j.size, dtype=bool)
        ends[:-1] = starts[1:]
        # zero rows before each kept entry: since the previous kept entry of the slice, or
        # since the slice's first row r*R
        prev = np.empty_like(lr)
        prev[1:] = lr[:-1]
        base = np.where(starts, r * regs, prev + 1)  # first zero row of the gap
        gap = lr - base
        pads = gap // span
        np.add.at(count[p], (r, j), 1 + pads)
        np.add.at(kept[p], (r, j), 1)
        # the q-th padding entry (q = 1..pads) of a gap stands on row base + q*span - 1
        fr = np.where(pads > 0, base + span - 1, lr)
        first_row[p, r[starts], j[starts]] = fr[starts]
        lead_pad[p, r[starts], j[starts]] = pads[starts]
        # last entry: always a kept entry (padding is never last)
        last_row[p, r[ends], j[ends]] = lr[ends]
        # the entry array: each kept entry preceded by its padding entries
        n_ent = 1 + pads
        owner = np.repeat(np.arange(j.size), n_ent)
        offs = np.arange(int(n_ent.sum())) - np.repeat(np.cumsum(n_ent) - n_ent, n_ent)
        is_kept = offs == pads[owner]
        rows = np.where(is_kept, lr[owner], base[owner] + (offs + 1) * span - 1)
        entry_row.append(rows)
        entry_kept.append(is_kept)
        entry_reg.append(np.where(is_kept, rows - r[owner] * regs, -1))
    flat = count.reshape(n_pes, rounds * ncols)
    first_entry = (np.cumsum(flat, axis=1) - flat).reshape(shape)
    return {
        "count": count,
        "kept": kept,
        "first_row": first_row,
        "last_row": last_row,
        "lead_pad": lead_pad,
        "first_entry": first_entry,
        "entry_row": entry_row,
        "entry_kept": entry_kept,
        "entry_reg": entry_reg,
        "rounds": rounds,
        "entries": flat.sum(axis=1),
    }



# --------------------------------------------------------------------------------------
# Section 5: fitting, tiling, planning
# --------------------------------------------------------------------------------------


def _epw(layer: RefLayer, hw: Hardware) -> int:
    """Whole entries per sparse-matrix word."""
    epw = hw.word_bits // (layer.wbits + layer.ibits)
    if epw < 1:
        raise ValueError("an entry is wider than a word")
    return epw


def _word_bits_needed(entries: np.ndarray, epw: int, hw: Hardware) -> np.ndarray:
    """Bits of whole words holding ``entries`` entries (per PE)."""
    return -(-np.asarray(entries, dtype=np.int64) // epw) * hw.word_bits


def _ptr_bytes_needed(n_ptrs: int, hw: Hardware) -> int:
    """Pointer storage in whole bytes.

    AMBIGUOUS: "ptr_bits each, rounded up to whole bytes" is read as the total pointer
    bits rounded up once (ceil(n * ptr_bits / 8)), not each pointer rounded to 3 bytes;
    with per-pointer rounding the contract's own VGG-6 example (25,090 pointers in 64 KB)
    would not fit, contradicting section 5.
    """
    return -(-n_ptrs * hw.ptr_bits // 8)


def _bytes_of_bits(bits: int) -> int:
    """Whole bytes for a bit count."""
    return -(-int(bits) // 8)


def _fits(
    entries: np.ndarray,
    n_ptrs: int,
    spmat_avail_bits: np.ndarray,
    ptr_avail_bytes: np.ndarray,
    epw: int,
    hw: Hardware,
    half: bool,
) -> bool:
    """docs/ARCHITECTURE.md section 5, fitting, per PE: whole words, pointer bytes, addressability.

    With ``half`` the need must fit half the available space (compared as 2*need <= avail
    to stay in integers).
    """
    mult = 2 if half else 1
    entries = np.asarray(entries, dtype=np.int64)
    words_ok = np.all(mult * _word_bits_needed(entries, epw, hw) <= spmat_avail_bits)
    ptr_ok = np.all(mult * _ptr_bytes_needed(n_ptrs, hw) <= ptr_avail_bytes)
    addr_ok = np.all(entries < 2**hw.ptr_bits)
    return bool(words_ok and ptr_ok and addr_ok)


def greedy_tiles(
    count: np.ndarray,
    spmat_avail_bits: np.ndarray,
    ptr_avail_bytes: np.ndarray,
    epw: int,
    hw: Hardware,
) -> list[tuple[int, int, int]]:
    """Section-5 greedy tiles ``(round, first_col, end_col)`` (end exclusive), rounds outer.

    Each tile is the longest run of columns from its first column that fits half of the
    available space of every PE. The longest run is found with prefix sums (every fitting
    rule is monotone in the run's length) and then checked with ``_fits`` directly.
    """
    n_pes, rounds, ncols = count.shape
    spmat_avail_bits = np.asarray(spmat_avail_bits, dtype=np.int64)
    ptr_avail_bytes = np.asarray(ptr_avail_bytes, dtype=np.int64)
    # largest entry count per PE allowed in half the space: whole words and addressability
    max_words = spmat_avail_bits // (2 * hw.word_bits)
    max_entries = np.minimum(max_words * epw, 2**hw.ptr_bits - 1)
    # largest column count whose cols + 1 pointers fit half of every PE's pointer SRAM
    # (2 * ceil((cols + 1) * ptr_bits / 8) <= avail  <=>  (cols + 1) * ptr_bits <= 8 * (avail // 2))
    max_cols = max(0, 8 * (int(ptr_avail_bytes.min()) // 2) // hw.ptr_bits - 1)
    tiles: list[tuple[int, int, int]] = []
    for r in range(rounds):
        cum = np.zeros((n_pes, ncols + 1), dtype=np.int64)
        cum[:, 1:] = np.cumsum(count[:, r, :], axis=1)
        a = 0
        while a < ncols:
            b = min(ncols, a + max_cols)
            for p in range(n_pes):
                bp = int(np.searchsorted(cum[p], cum[p, a] + max_entries[p], side="right")) - 1
                b = min(b, bp)
            if b <= a:
                raise ValueError(f"round {r} column {a} does not fit half the SRAM")

            def fits(lo: int, hi: int, r: int = r) -> bool:
                ent = count[:, r, lo:hi].sum(axis=1)
                n_ptrs = hi - lo + 1  # cols + 1 pointers
                return _fits(ent, n_ptrs, spmat_avail_bits, ptr_avail_bytes, epw, hw, True)

            assert fits(a, b) and (b == ncols or not fits(a, b + 1))
            tiles.append((r, a, b))
            a = b
    return tiles


@dataclass
class _Plan:
    """Where a layer lives: resident, or tiled in half of the given free space."""

    resident: bool
    spmat_free_bits: np.ndarray | None = None  # per PE, for tiled layers
    ptr_free_bytes: np.ndarray | None = None


def plan_model(layers: list[RefLayer], hw: Hardware, tables: list[dict] | None = None) -> list[_Plan]:
    """docs/ARCHITECTURE.md section 5, models: a resident prefix, the rest tiled in half of what is free.

    If a column of a tiled layer does not fit half of the free space, the last resident
    layer is streamed too and the plan retried; with nothing resident it is an error.
    """
    n = hw.n_pes
    if tables is None:
        tables = [slice_table(layer, n, hw.regs) for layer in layers]
    spmat_bits = np.full(n, hw.spmat_bytes * 8, dtype=np.int64)
    ptr_bytes = np.full(n, hw.ptr_bytes, dtype=np.int64)
    need_bits, need_ptr, addressable = [], [], []
    for layer, tab in zip(layers, tables, strict=True):
        epw = _epw(layer, hw)
        need_bits.append(_word_bits_needed(tab["entries"], epw, hw))
        # AMBIGUOUS: for several resident layers, each layer's image is rounded to whole
        # words and whole pointer bytes separately (each PE image starts at a word boundary),
        # and addressability is checked per layer (pointers are relative to a layer's own
        # entry array).
        need_ptr.append(_ptr_bytes_needed(tab["rounds"] * layer.ncols + 1, hw))
        addressable.append(bool(np.all(tab["entries"] < 2**hw.ptr_bits)))
    prefix = 0
    used_bits = np.zeros(n, dtype=np.int64)
    used_ptr = 0
    while prefix < len(layers):
        nb = used_bits + need_bits[prefix]
        np_ = used_ptr + need_ptr[prefix]
        if not (addressable[prefix] and np.all(nb <= spmat_bits) and np_ <= hw.ptr_bytes):
            break
        used_bits, used_ptr = nb, np_
        prefix += 1
    while True:
        used_bits = sum((need_bits[i] for i in range(prefix)), np.zeros(n, dtype=np.int64))
        used_ptr = sum(need_ptr[i] for i in range(prefix))
        free_bits = spmat_bits - used_bits
        free_ptr = ptr_bytes - used_ptr
        ok = True
        for li in range(prefix, len(layers)):
            cnt = tables[li]["count"]
            epw = _epw(layers[li], hw)
            col_ok = (
                np.all(2 * _word_bits_needed(cnt, epw, hw) <= free_bits[:, None, None])
                and np.all(cnt < 2**hw.ptr_bits)
                and np.all(2 * _ptr_bytes_needed(2, hw) <= free_ptr)
            )
            if not col_ok:
                ok = False
                break
        if ok:
            break
        if prefix == 0:
            raise ValueError("a column does not fit half of the empty SRAM")
        prefix -= 1
    return [
        _Plan(True) if li < prefix else _Plan(False, free_bits.copy(), free_ptr.copy())
        for li in range(len(layers))
    ]


def _act_spill_bytes(layer: RefLayer, rounds: int, hw: Hardware) -> int:
    """Section 5, activation spill: input slice first, output slice after, 2 bytes a value."""
    n = hw.n_pes
    cap = hw.act_bytes // 2  # 16-bit values
    total_values = 0
    for p in range(n):
        n_in = len(range(p, layer.n_inputs, n)) + (layer.has_bias and p == 0)  # the bias: PE 0
        n_out = len(range(p, layer.m, n))
        spill_in = max(0, n_in - cap)
        spill_out = max(0, n_out - max(0, cap - n_in))
        # spilled inputs are read once per round, spilled outputs written once
        total_values += rounds * spill_in + spill_out
    # AMBIGUOUS: a spilled activation is one 16-bit value = 2 bytes of DRAM traffic; every
    # spilled input is read each round, whether or not it is zero.
    return 2 * total_values




# --------------------------------------------------------------------------------------
# Section 4: the cycle-stepping machine
# --------------------------------------------------------------------------------------


def lnzd_nodes(n_pes: int) -> int:
    """Nodes of the 4-ary LNZD tree (one leaf per PE): 64 PEs -> 16 + 4 + 1 = 21."""
    level, nodes = 0, 0
    while True:
        level += 1
        nodes += -(-n_pes // 4**level)
        if 4**level >= n_pes:
            return nodes


class _Pe:
    """One PE: its queue of item ids (in flight included), its column in progress, its counters."""

    def __init__(self, p: int, hw: Hardware, e0: int, epw: int) -> None:
        self.p, self.hw, self.e0, self.epw = p, hw, e0, epw
        self.queue: deque[int] = deque()
        self.column: list | None = None  # [item, pop cycle, entries [(register or -1, entry)], next]
        self.hist: dict[int, int] = {}  # register -> first cycle it may be updated again
        self.last_update: tuple[int, int] | None = None  # (cycle, register) of the last kept update
        self.round = -1
        self.buffered = -1  # the sparse-matrix word in the read buffer
        self.word_reads = self.pointer_reads = self.issued = self.kept = self.bypasses = 0
        self.bitmap_reads = 0
        self.last_issue = -1  # the cycle of the segment's last issue (-1: none yet)
        self.s: dict[int, int] = {}
        self.fin: dict[int, int] = {}

    def step(self, x: int, t: list[int], items: list[tuple[int, int, list]]) -> None:
        """Cycle x: finish the column in progress, pop the next visible item, issue one entry."""
        hw = self.hw
        col = self.column
        if col is not None and col[3] == len(col[2]) and x >= col[1] + hw.ptr_cycles:
            self.fin[col[0]] = x
            col = self.column = None
        while col is None and self.queue and t[self.queue[0]] + hw.broadcast_latency <= x:
            k = self.queue.popleft()
            rnd, _, per_pe = items[k]
            if rnd != self.round:  # a new round: its registers hold other outputs
                self.hist, self.last_update, self.round = {}, None, rnd
            self.s[k] = x
            if hw.column_bitmap and not per_pe[self.p]:
                self.fin[k] = x  # the bitmap says empty: dropped this cycle, the next one may pop
                self.bitmap_reads += 1
                continue
            self.bitmap_reads += hw.column_bitmap
            self.pointer_reads += 1 if hw.ptr_banks == 2 else 2
            col = self.column = [k, x, per_pe[self.p], 0]
        if col is None or col[3] == len(col[2]):
            return
        reg, entry = col[2][col[3]]
        if reg >= 0 and not hw.bypass and x < self.hist.get(reg, x):
            return  # a hazard: the in-order pipeline holds this entry and the ones behind it
        word = (entry - self.e0) // self.epw
        if word != self.buffered:
            self.word_reads += 1
            self.buffered = word
        if reg >= 0:
            if hw.bypass and self.last_update == (x - 1, reg):
                self.bypasses += 1  # forwarded from the update of the cycle before
            self.hist[reg] = x + hw.acc_latency
            self.last_update = (x, reg)
            self.kept += 1
        self.issued += 1
        self.last_issue = x
        col[3] += 1


def run_segment(rows: list[list[tuple[int, int, int]]], entries_of, hw: Hardware, e0: np.ndarray,
                epw: int, limit: int = 20_000_000) -> dict:
    """Steps one segment from empty queues, cycle by cycle.

    ``rows[i]``: the ``(lane, round, column)`` of the non-zero inputs of the i-th activation
    row the scan loads, in lane order; ``entries_of(round, column)`` gives per PE the
    ``(register or -1 for padding, entry index)`` of that column's entries. Each cycle: the PEs
    act (so a pop frees its slot for a broadcast in the same cycle), then the CCU broadcasts
    the LNZD's head item if every queue has a free slot, then the LNZD loads the next row when
    one is due; the queues' lengths are recorded at the end of the cycle.
    """
    n = hw.n_pes
    pes = [_Pe(p, hw, int(e0[p]), epw) for p in range(n)]
    items: list[tuple[int, int, list]] = []
    t: list[int] = []
    found: list[int] = []  # the cycle each item first waited at the LNZD's head
    positions: list[tuple[int, int]] = []  # (row of the segment's scan, lane) of each item
    occupancy: list[list[int]] = []
    next_row, lanes, loaded_at, want, load_from, last_event, loads = 0, deque(), -1, True, 0, -1, 0
    x = 0
    while True:
        for pe in pes:
            pe.step(x, t, items)
        if lanes and loaded_at < x:
            if len(found) == len(items):
                found.append(x)
            if all(len(pe.queue) < hw.queue_depth for pe in pes):
                lane, rnd, col = lanes.popleft()
                k = len(items)
                items.append((rnd, col, entries_of(rnd, col)))
                positions.append((next_row - 1, lane))
                t.append(x)
                for pe in pes:
                    pe.queue.append(k)
                last_event = x
                if not lanes:  # the row's last non-zero: the next row loads after it
                    want, load_from = True, (x if lane == n - 1 else x + 1)
        if want and next_row < len(rows) and x >= load_from:
            lanes = deque(rows[next_row])
            next_row += 1
            loaded_at = last_event = x
            loads += 1
            want, load_from = not lanes, x + 1
        occupancy.append([len(pe.queue) for pe in pes])
        if (next_row == len(rows) and not lanes and all(not pe.queue for pe in pes)
                and all(pe.column is None for pe in pes)):
            break
        x += 1
        if x > limit:
            raise RuntimeError("the oracle's machine does not terminate")
    k_total = len(items)
    s = np.array([[pe.s[k] for k in range(k_total)] for pe in pes], np.int64).reshape(n, k_total)
    fin = np.array([[pe.fin[k] for k in range(k_total)] for pe in pes], np.int64).reshape(n, k_total)
    t_scan = last_event + 1  # the cycle after the last row load or broadcast
    # contract v3's end: the scan is over, every PE's last column is done, and every pipeline has
    # drained, DRAIN_CYCLES after the cycle after its PE's last issue
    drained = [pe.last_issue + 1 + DRAIN_CYCLES for pe in pes if pe.last_issue >= 0]
    cycles = max([t_scan, int(fin.max()) if k_total else 0, *drained])
    occ = np.zeros((n, cycles), np.int64)
    got = np.array(occupancy, np.int64).reshape(-1, n).T[:, :cycles]
    occ[:, : got.shape[1]] = got
    c = np.array([[len(it[2][p]) for it in items] for p in range(n)], np.int64).reshape(n, k_total)
    kept = np.array([[sum(1 for reg, _ in it[2][p] if reg >= 0) for it in items] for p in range(n)],
                    np.int64).reshape(n, k_total)
    cost = np.maximum(np.vectorize(hw.column_minimum, otypes=[np.int64])(c), c) if c.size else c
    return {
        "items": [(r, j) for r, j, _ in items], "positions": positions, "rows": len(rows), "kept_each": kept,
        "t": np.array(t, np.int64),
        "t_before_credits": np.array(found, np.int64), "s": s, "fin": fin, "c": c, "cycles": cycles,
        "T_scan": t_scan, "busy": cost.sum(axis=1), "hazard_stall_cycles": int((fin - s - cost).sum()),
        "ccu_stall_cycles": int(np.sum(np.array(t, np.int64) - np.array(found, np.int64))),
        "bypass": sum(pe.bypasses for pe in pes), "row_loads": loads, "occupancy": occ,
        "word_reads": sum(pe.word_reads for pe in pes), "pointer_reads": sum(pe.pointer_reads for pe in pes),
        "bitmap_reads": sum(pe.bitmap_reads for pe in pes),
        "issued": sum(pe.issued for pe in pes), "kept": sum(pe.kept for pe in pes),
    }


# --------------------------------------------------------------------------------------
# A job: its segments, the DRAM schedule, its counts
# --------------------------------------------------------------------------------------

#: The units with a static (clock and leakage) term per PE-cycle: the paper's Table II rows.
TABLE2_UNITS = ("act_queue", "ptr_read", "spmat_read", "arith", "act_rw")


def run_job(layer: RefLayer, a_fix: np.ndarray, hw: Hardware, tab: dict, plan: _Plan, fa: int,
            relu: bool) -> dict:
    """One job on its plan: every figure of section 4, every event of section 6, its outputs."""
    n = hw.n_pes
    epw = _epw(layer, hw)
    a_fix = np.asarray(a_fix, np.int64)
    if a_fix.shape != (layer.n_inputs,):
        raise ValueError(f"expected {layer.n_inputs} activations, got {a_fix.shape}")
    rounds = tab["rounds"]
    # items are the non-zero fixed-point inputs, negative ones included; the bias's constant 1
    active = [bool(v) for v in a_fix] + ([True] if layer.has_bias else [])
    ncols = layer.ncols
    n_in = layer.n_inputs
    # where each column sits in the scan: input j at lane j mod N of row j // N; the bias (column
    # n) at lane 0 of a row of its own, row ceil(n/N) (contract v3)
    spot = [divmod(j, n) for j in range(n_in)] + ([(-(-n_in // n), 0)] if layer.has_bias else [])
    per_round = spot[-1][0] + 1 if spot else 0  # activation rows per round
    regs_of = [list(zip(tab["entry_reg"][p].tolist(), range(len(tab["entry_reg"][p])), strict=True))
               for p in range(n)]

    def entries_of(r: int, j: int) -> list:
        return [regs_of[p][tab["first_entry"][p, r, j]: tab["first_entry"][p, r, j] + tab["count"][p, r, j]]
                for p in range(n)]

    def row_items(r: int, q: int, lo: int, hi: int) -> list[tuple[int, int, int]]:
        return sorted((spot[j][1], r, j) for j in range(lo, hi) if spot[j][0] == q and active[j])

    if plan.resident:
        tiles: list[tuple[int, int, int]] = []
        segments = [([row_items(r, q, 0, ncols) for r in range(rounds) for q in range(per_round)],
                     np.zeros(n, np.int64), 0)]
    else:
        tiles = greedy_tiles(tab["count"], plan.spmat_free_bits, plan.ptr_free_bytes, epw, hw)
        segments = []
        for r, j0, j1 in tiles:
            # AMBIGUOUS: in a row split between two tiles the other tile's lanes are not items of
            # this one; the row still costs its load cycle in both
            rows = [row_items(r, q, j0, j1) for q in range(spot[j0][0], spot[j1 - 1][0] + 1)]
            ent = tab["count"][:, r, j0:j1].sum(axis=1)
            nbytes = int(sum(_bytes_of_bits(b) for b in _word_bits_needed(ent, epw, hw))
                         + n * _ptr_bytes_needed(j1 - j0 + 1, hw))
            segments.append((rows, tab["first_entry"][:, r, j0].copy(), nbytes))
    parts, starts, ends, tile_bytes, tile_load = [], [], [], [], []
    for i, (rows, e0, nbytes) in enumerate(segments):
        res = run_segment(rows, entries_of, hw, e0, epw)
        if plan.resident:
            start = 0
        else:  # section 5's double-buffered schedule; compute(t) = the tile's own cycles
            load = hw.transfer_cycles(nbytes)
            start = load if i == 0 else max(ends[-1], starts[-1] + load)
            tile_bytes.append(nbytes)
            tile_load.append(load)
        starts.append(start)
        ends.append(start + res["cycles"])
        parts.append(res)
    cycles = int(ends[-1])
    occ = np.zeros((n, cycles), np.int64)
    for res, start in zip(parts, starts, strict=True):
        occ[:, start: start + res["cycles"]] = res["occupancy"]
    busy = sum(res["busy"] for res in parts)
    act_spill = _act_spill_bytes(layer, rounds, hw)
    dram_bytes = int(sum(tile_bytes)) + act_spill
    weight_load = 0
    if plan.resident:
        weight_load = int(sum(_bytes_of_bits(b) for b in _word_bits_needed(tab["entries"], epw, hw))
                          + n * _ptr_bytes_needed(rounds * ncols + 1, hw))
    k_total = sum(len(res["items"]) for res in parts)
    issued = sum(res["issued"] for res in parts)
    kept = sum(res["kept"] for res in parts)
    counts = {
        ("act_queue", "push"): n * k_total, ("act_queue", "pop"): n * k_total,
        ("ptr_read", "read"): sum(res["pointer_reads"] for res in parts),
        ("ptr_read", "bitmap_read"): sum(res["bitmap_reads"] for res in parts),
        ("spmat_read", "word_read"): sum(res["word_reads"] for res in parts),
        ("arith", "codebook_read"): issued, ("arith", "multiply"): issued, ("arith", "add"): issued,
        # the destination registers: a read and a write per kept entry (padding has its write
        # disabled); the LNZD reads every input once a round, the SRAM written once per output
        ("act_rw", "dest_read"): kept, ("act_rw", "dest_write"): kept,
        ("act_rw", "src_read"): ncols * rounds, ("act_rw", "sram_read"): ncols * rounds,
        ("act_rw", "sram_write"): layer.m,
        ("ccu", "node_cycle"): lnzd_nodes(n) * cycles, ("dram", "bit"): 8 * dram_bytes,
        **{(u, "cycle"): n * cycles for u in TABLE2_UNITS},
    }
    cat = np.concatenate
    return {
        "cycles": cycles, "resident": plan.resident, "tiles": tiles, "rounds": rounds,
        "busy": busy, "idle": cycles - busy,
        "pe_utilization": float(busy.sum()) / (n * cycles), "mac_efficiency": kept / (n * cycles),
        "ccu_stall_cycles": sum(res["ccu_stall_cycles"] for res in parts),
        "hazard_stall_cycles": sum(res["hazard_stall_cycles"] for res in parts),
        "bypass": sum(res["bypass"] for res in parts),
        "lnzd_row_loads": sum(res["row_loads"] for res in parts),
        "occupancy_mean": occ.sum(axis=1) / cycles, "occupancy_max": occ.max(axis=1),
        "entries_processed": issued, "kept_processed": kept, "counts": counts,
        "dram_bytes": dram_bytes, "weight_load_bytes": weight_load,
        "sram_bytes": _sram_bytes(counts, hw),
        "items": [it for res in parts for it in res["items"]],
        "n_items": k_total,
        "item_round": np.array([r for res in parts for r, _ in res["items"]], np.int64),
        "item_col": np.array([j for res in parts for _, j in res["items"]], np.int64),
        "item_row": np.array([q for res in parts for q, _ in res["positions"]], np.int64),
        "item_lane": np.array([ln for res in parts for _, ln in res["positions"]], np.int64),
        "item_segment": np.array([i for i, res in enumerate(parts) for _ in res["items"]], np.int64),
        "segment_rows": [res["rows"] for res in parts], "rows_per_round": per_round,
        "t": cat([res["t"] + s0 for res, s0 in zip(parts, starts, strict=True)]),
        "t_before_credits": cat([res["t_before_credits"] + s0
                                 for res, s0 in zip(parts, starts, strict=True)]),
        "s": cat([res["s"] + s0 for res, s0 in zip(parts, starts, strict=True)], axis=1),
        "fin": cat([res["fin"] + s0 for res, s0 in zip(parts, starts, strict=True)], axis=1),
        "c": cat([res["c"] for res in parts], axis=1), "T_scan": [res["T_scan"] for res in parts],
        "tile_start": starts, "tile_end": ends, "tile_bytes": tile_bytes,
        "tile_compute": [e - s0 for s0, e in zip(starts, ends, strict=True)],
        "tile_load": tile_load,
        "act_spill_bytes": act_spill, "kept": cat([res["kept_each"] for res in parts], axis=1),
        "output": layer_output(layer, a_fix, fa, relu, hw.acc_bits),
    }


def layer_figures(layer: RefLayer, a_fix: np.ndarray, hw: Hardware, *, fa: int = 15,
                  relu: bool = False) -> dict:
    """One layer alone (resident if it fits the whole SRAMs, else tiled in their halves) on the
    fixed-point inputs ``a_fix``."""
    tab = slice_table(layer, hw.n_pes, hw.regs)
    return run_job(layer, a_fix, hw, tab, plan_model([layer], hw, [tab])[0], fa, relu)


def _sram_bytes(counts: dict, hw: Hardware) -> int:
    """Bytes read or written at the SRAMs: whole words, the pointers each access reads (two with
    two banks, one with one), a bit per column-bitmap lookup, 16 bits per activation SRAM read
    or write."""
    bits = (counts[("spmat_read", "word_read")] * hw.word_bits
            + counts[("ptr_read", "read")] * (2 if hw.ptr_banks == 2 else 1) * hw.ptr_bits
            + counts[("ptr_read", "bitmap_read")]
            + 16 * (counts[("act_rw", "sram_read")] + counts[("act_rw", "sram_write")]))
    return -(-bits // 8)


def run_graph(jobs: Sequence[Job], host: dict[str, np.ndarray], fa: int, hw: Hardware) -> list[dict]:
    """Every job in order; inputs are the host's float vectors (converted to the format ``fa``).
    Each job's dict adds ``start_cycle``, and its host transfers: its input when the host sends it
    (not kept on chip by the job before) and its output when it goes to the host, 2 bytes a
    value, each vector ``ceil(bytes / B) + L_dram`` cycles."""
    layers: list[RefLayer] = []
    for j in jobs:  # the distinct layers, in the order jobs first use them
        if not any(lay is j.layer for lay in layers):
            layers.append(j.layer)
    tables = [slice_table(lay, hw.n_pes, hw.regs) for lay in layers]
    plans = plan_model(layers, hw, tables)
    values = {k: to_fix(np.asarray(v, np.float64), fa) for k, v in host.items()}
    out, start, loaded = [], 0, set()
    for i, job in enumerate(jobs):
        li = next(idx for idx, lay in enumerate(layers) if lay is job.layer)
        fig = run_job(job.layer, values[job.input], hw, tables[li], plans[li], fa, job.relu)
        if li in loaded:  # a layer two jobs share is loaded once
            fig["weight_load_bytes"] = 0
        loaded.add(li)
        values[job.name] = fig["output"]
        on_chip = i > 0 and jobs[i - 1].keep and jobs[i - 1].name == job.input
        sizes = ([] if on_chip else [2 * job.layer.n_inputs]) + ([] if job.keep else [2 * job.layer.m])
        fig["host_bytes"] = sum(sizes)
        fig["host_cycles"] = sum(hw.transfer_cycles(b) for b in sizes)
        fig["start_cycle"] = start
        start += fig["cycles"]
        out.append(fig)
    return out


def chain(layers: Sequence[RefLayer]) -> list[Job]:
    """A model: ReLU after every layer but the last, each output kept on chip but the last."""
    last = len(layers) - 1
    return [Job(f"l{i}", lay, "x" if i == 0 else f"l{i - 1}", relu=i < last, keep=i < last)
            for i, lay in enumerate(layers)]


def model_figures(layers: list[RefLayer], x_float: np.ndarray, fa: int, hw: Hardware) -> list[dict]:
    """A chain of layers run one after another on the input ``x_float``."""
    return run_graph(chain(layers), {"x": x_float}, fa, hw)


# --------------------------------------------------------------------------------------
# Section 6: prices, from the energy table's constants and docs/ENERGY.md's formulas
# --------------------------------------------------------------------------------------


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        return [{k.strip(): (v or "").strip() for k, v in r.items()} for r in csv.DictReader(f)]


@dataclass(frozen=True)
class Prices:
    """pJ per event (the static ``cycle`` events included)."""

    pj: dict[tuple[str, str], float] = field(default_factory=dict)

    def energy(self, counts: dict[tuple[str, str], int]) -> float:
        """Joules: the sum of count x price."""
        return sum(n * self.pj[key] for key, n in counts.items()) * 1e-12


def _sram_pj(anchors: list[tuple[float, float]], periphery: float, capacity: float, width: float) -> float:
    """One access: E64(C) x (P + (1 - P) x width / 64), E64 piecewise linear in log-log through the
    anchors and extrapolated with the nearest segment's slope."""
    xs = [math.log(c) for c, _ in anchors]
    ys = [math.log(e) for _, e in anchors]
    x = math.log(capacity)
    i = 0
    while i < len(xs) - 2 and x >= xs[i + 1]:
        i += 1
    e64 = math.exp(ys[i] + (ys[i + 1] - ys[i]) / (xs[i + 1] - xs[i]) * (x - xs[i]))
    return e64 * (periphery + (1 - periphery) * width / 64)


def prices(hw: Hardware) -> Prices:
    """Every event's pJ for ``hw`` (docs/ENERGY.md): the dynamic formulas, then each Table II unit's
    static power fitted at the reference design on the paper's steady state (one entry a cycle,
    eight a column), scaled by SRAM capacity for the two SRAM units, per PE-cycle at hw's clock."""
    table = _rows(Path(hw.energy_table) if hw.energy_table else DATA / "energy_45nm.csv")
    consts = {r["name"]: float(r["value"]) for r in table}
    scale = {"B": 1, "KB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30}
    anchors = []
    for name, v in consts.items():  # "sram64_read_<capacity><unit>": pJ per 64-bit read
        m = re.fullmatch(r"sram64_read_(\d+(?:\.\d+)?)(B|KB|MB|GB)", name, re.IGNORECASE)
        if m:
            anchors.append((float(m.group(1)) * scale[m.group(2).upper()], v))
    anchors.sort()
    periphery = consts["sram_periphery_fraction"]

    def sram(c: float, w: float) -> float:
        return _sram_pj(anchors, periphery, c, w)

    def dynamic(d: Hardware) -> dict[tuple[str, str], float]:
        index_bits = math.ceil(math.log2(max(2, d.ptr_bytes * 8 // d.ptr_bits)))
        fifo = sram(d.queue_depth * (16 + index_bits) / 8, 16 + index_bits)
        regfile = sram(d.regs * 2, 16)
        act = sram(d.act_bytes, 16) if d.act_bytes > 0 else 0.0
        return {
            ("act_queue", "push"): fifo, ("act_queue", "pop"): fifo,
            ("ptr_read", "read"): 2 * sram(d.ptr_bytes / 2, d.ptr_bits) if d.ptr_banks == 2
            else sram(d.ptr_bytes, d.ptr_bits),
            # the column bitmap: one bit per pointer slot, read a bit at a time
            ("ptr_read", "bitmap_read"): sram(max(1, d.ptr_bytes * 8 // d.ptr_bits) / 8, 1),
            ("spmat_read", "word_read"): sram(d.spmat_bytes, d.word_bits),
            ("arith", "codebook_read"): sram(16 * 16 / 8, 16), ("arith", "multiply"): consts["mult16"],
            ("arith", "add"): consts["add32"] * d.acc_bits / 32,
            ("act_rw", "dest_read"): regfile, ("act_rw", "dest_write"): regfile,
            ("act_rw", "src_read"): regfile,
            ("act_rw", "sram_read"): act, ("act_rw", "sram_write"): act,
            ("ccu", "node_cycle"): consts["lnzd_node_power"] * 1e9 / d.clock_hz,
            ("dram", "bit"): d.dram_pj_per_bit,
        }

    t2 = _rows(DATA / "table2_pe.csv")
    power = {r["unit"]: float(r["power_mw"]) for r in t2 if r["power_mw"]}
    ref_values = {r["unit"][4:]: float(r["value"]) for r in t2 if r["unit"].startswith("ref.")}
    ref = Hardware(**{**hw.__dict__, **{k: (v if k == "clock_hz" else int(v)) for k, v in ref_values.items()},
                      "ptr_banks": 2})
    ref_pj = dynamic(ref)
    per_8 = {  # pJ of one PE over 8 cycles of the steady state
        "act_queue": ref_pj[("act_queue", "push")] + ref_pj[("act_queue", "pop")],
        "ptr_read": ref_pj[("ptr_read", "read")], "spmat_read": ref_pj[("spmat_read", "word_read")],
        "arith": 8 * (ref_pj[("arith", "codebook_read")] + ref_pj[("arith", "multiply")]
                      + ref_pj[("arith", "add")]),
        "act_rw": 8 * (ref_pj[("act_rw", "dest_read")] + ref_pj[("act_rw", "dest_write")]),
    }
    pj = dynamic(hw)
    for unit in TABLE2_UNITS:
        static_mw = power[unit] - per_8[unit] / 8 * ref.clock_hz * 1e-9
        if unit == "spmat_read":
            static_mw *= hw.spmat_bytes / ref.spmat_bytes
        if unit == "ptr_read":  # the bitmap adds a bit to every ptr_bits-bit slot
            static_mw *= hw.ptr_bytes / ref.ptr_bytes * (1 + 1 / hw.ptr_bits if hw.column_bitmap else 1)
        pj[(unit, "cycle")] = static_mw * 1e9 / hw.clock_hz
    return Prices(pj)


# --------------------------------------------------------------------------------------
# Section 7: the dense baseline
# --------------------------------------------------------------------------------------


def dense_baseline(m: int, n: int, hw: Hardware) -> dict:
    """Dense accelerator: ``ceil(m/N)*n + 3`` compute cycles; 16-bit weights, maybe streamed."""
    compute = -(-m // hw.n_pes) * n + 3
    weight_bytes = 2 * m * n
    # AMBIGUOUS: "2*m*n bytes fit in the N sparse-matrix SRAMs" is taken literally as the
    # total capacity N * spmat_bytes (not per-PE ceil(m/N)*n*2 <= spmat_bytes).
    resident = weight_bytes <= hw.n_pes * hw.spmat_bytes
    if resident:
        cycles = compute
    else:
        cycles = max(compute, math.ceil(weight_bytes / hw.dram_bytes_per_cycle)) + hw.dram_latency_cycles
    return {
        "compute": compute,
        "resident": resident,
        "cycles": cycles,
        "macs": m * n,
        "dram_bytes": 0 if resident else weight_bytes,
    }
