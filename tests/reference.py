"""Independent reference of the EIE modelling contract, version 2 (docs/ARCHITECTURE.md).

Written from the contract text (sections 1-5 and 7; the memory choices of section 5)
and the project's choices where it is silent, labelled C1-C15 below, without reading
or importing ``eie_sim`` or ``compressor``, so that the simulator engines can be tested
bit-exactly (outputs) and cycle-exactly (timing and counters) against it. Only numpy
and the standard library.

The choices (each an "[eie-sim choice]" of docs/ARCHITECTURE.md):
C1 a resident layer is one scan over all rounds, a tile its own scan of its rows;
C2 items are the non-zero fixed-point inputs, negative ones included;
C3 pointer reads: one per item per PE with two banks, two with one bank (P = 1 or 2);
C4 codebook read, multiply and add per entry (padding included);
C5 source and activation-SRAM reads: ncols x rounds; write-backs: m;
C6 queue pushes = pops = N x K;
C7 bypass: a column's first kept entry on the register the previous column's last entry
   updated one cycle before, never across a round or tile;
C8 hazards (bypass off): history per round-relative register, reset per round, tile, layer;
C9 busy = sum of max(P, c); utilisation and MAC efficiency per contract section 4;
C10 CCU stalls summed within each tile;
C11 LNZD row loads: rounds x rows per round, or the tiles' rows (split rows twice);
C12 queue occupancy on the layer's cycle axis, queues empty between tiles;
C13 sparse-matrix words numbered from each segment's first entry, buffer empty per segment;
C14 a segment ends by section 4's end rule; tiles follow section 5's DRAM schedule;
C15 the dense baseline of section 7 as written.

Conventions used throughout:
- a layer is its dense code matrix ``codes`` (m x ncols, code 0 = zero weight), the
  bias column (if any) being the last column (input ``n``);
- ``N`` PEs, row ``i`` -> PE ``i % N``, local row ``i // N``; round ``r`` holds local rows
  ``r*R .. r*R+R-1``; a destination *register* is the round-relative local row ``i//N - r*R``;
- arrays indexed ``[p, r, j]`` are per (PE, round, column) slice;
- items are the broadcast (non-zero) inputs, numbered ``k`` across rounds (rounds outer);
- a *segment* is one independent section-4 run: the whole scan of a resident layer, or
  one tile of a tiled layer (C1).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

INT16_MIN = -(2**15)
INT16_MAX = 2**15 - 1
DRAIN_CYCLES = 5  # section 4 "End": arithmetic pipeline and write-back after the last column


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
        """Number of outputs (rows)."""
        return int(self.codes.shape[0])

    @property
    def ncols(self) -> int:
        """Number of stored columns (bias column included)."""
        return int(self.codes.shape[1])

    @property
    def n_inputs(self) -> int:
        """Number of user-supplied activations (bias excluded)."""
        return self.ncols - 1 if self.has_bias else self.ncols


@dataclass(frozen=True)
class RefHW:
    """The hardware parameters the reference needs (contract defaults)."""

    n_pes: int = 64
    queue_depth: int = 8  # Q: activations a queue holds (in-flight items included)
    regs: int = 64
    word_bits: int = 64
    spmat_bytes: int = 128 * 1024
    ptr_bytes: int = 64 * 1024
    ptr_bits: int = 18
    act_bytes: int = 2 * 1024
    acc_bits: int = 16
    dram_bytes_per_cycle: float = 16.0
    dram_latency: int = 100
    broadcast_latency: int = 2  # Lb: an item broadcast at t can be popped from t + Lb
    ptr_banks: int = 2  # 2 -> P = 1 pointer-read cycle per column, 1 -> P = 2
    bypass: bool = True  # forwarding on: no hazard stalls
    acc_latency: int = 2  # used only without bypass

    def __post_init__(self) -> None:
        if self.n_pes < 1 or self.queue_depth < 1 or self.broadcast_latency < 1 or self.acc_latency < 1:
            raise ValueError("n_pes, queue_depth, broadcast_latency and acc_latency must be >= 1")
        if self.ptr_banks not in (1, 2):
            raise ValueError("ptr_banks must be 1 or 2")

    @property
    def ptr_cycles(self) -> int:
        """``P``: the per-column minimum (pointer-read cycles), 1 with two banks, 2 with one (C3)."""
        return 1 if self.ptr_banks == 2 else 2


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


def activation_frac_bits(layers: list[RefLayer], calib_inputs: np.ndarray) -> int:
    """``fa`` from the largest magnitude among inputs and every layer's float outputs.

    Float forward: weights ``codebook[codes]``, bias activation 1.0, ReLU on every layer
    but the last. 1.0 joins the set when any layer has a bias.
    """
    x = np.atleast_2d(np.asarray(calib_inputs, dtype=np.float64))
    biggest = float(np.max(np.abs(x))) if x.size else 0.0
    for li, layer in enumerate(layers):
        if layer.has_bias:
            x = np.hstack([x, np.ones((x.shape[0], 1))])
        y = x @ _float_weights(layer).T
        if li < len(layers) - 1:
            y = np.maximum(y, 0.0)
        # AMBIGUOUS: "the float outputs of every layer" is read as the layer's output
        # after its activation function (post-ReLU), i.e. the values that become
        # activations; the pre-ReLU sums are not included.
        if y.size:
            biggest = max(biggest, float(np.max(np.abs(y))))
        x = y
    if any(layer.has_bias for layer in layers):
        biggest = max(biggest, 1.0)
    return frac_bits(biggest)


def functional(layers: list[RefLayer], x: np.ndarray, fa: int, acc_bits: int = 16) -> list[np.ndarray]:
    """Bit-exact section-3 forward pass; returns every layer's int64 output vector."""
    a = to_fix(np.asarray(x, dtype=np.float64), fa)
    bias_fix = int(to_fix(1.0, fa))
    outputs: list[np.ndarray] = []
    for li, layer in enumerate(layers):
        if a.shape != (layer.n_inputs,):
            raise ValueError(f"layer {li}: expected {layer.n_inputs} inputs, got {a.shape}")
        if layer.has_bias:
            a = np.concatenate([a, np.array([bias_fix], dtype=np.int64)])
        codebook = np.asarray(layer.codebook, dtype=np.float64)
        fw = frac_bits(float(np.max(np.abs(codebook))))
        if fw < 0:
            # AMBIGUOUS: a codebook magnitude >= 2**15 gives a negative fw, for which the
            # contract's shift is undefined; the reference refuses it.
            raise ValueError("codebook magnitude too large for 16-bit fixed point")
        c_fix = to_fix(codebook, fw)
        codes_t = np.ascontiguousarray(np.asarray(layer.codes).T)  # row j = column j
        acc = np.zeros(layer.m, dtype=np.int64)
        # Ascending input index over the non-zero activations only (zero activations are
        # never broadcast; padding / zero weights add exactly 0 as c_fix[0] == 0).
        acc_lo, acc_hi = -(2 ** (acc_bits - 1)), 2 ** (acc_bits - 1) - 1
        for j in np.flatnonzero(a):
            p = c_fix[codes_t[j]] * a[j]
            s = p if fw == 0 else (p + (1 << (fw - 1))) >> fw  # >> on int64 = floor div
            acc += s
            np.clip(acc, acc_lo, acc_hi, out=acc)  # clamp_A at every add
        out = acc if li == len(layers) - 1 else np.maximum(acc, 0)
        a = clamp_bits(out, 16)
        outputs.append(a.copy())
    return outputs


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
# Section 4: the timing recurrence of one segment
# --------------------------------------------------------------------------------------


def lnzd_nodes(n_pes: int) -> int:
    """Nodes of the 4-ary LNZD tree (one leaf per PE), used for energy.

    Sum over levels ``1..L`` of ``ceil(N / 4**level)``, ``L`` the smallest level >= 1 with
    ``4**L >= N``: 64 PEs -> 16 + 4 + 1 = 21.
    """
    level, nodes = 0, 0
    while True:
        level += 1
        nodes += -(-n_pes // 4**level)
        if 4**level >= n_pes:
            return nodes


def _issue(regs: Sequence[int], s: int, p_min: int, hist: dict[int, int], acc_latency: int) -> int:
    """One slice's entries under the hazard rule (bypass off, C8); returns ``fin``.

    ``hist`` maps a register to ``h(x)`` (issue cycle of its last update + acc_latency) and is
    updated in place. ``e_0 = max(s, h(x_0))``, ``e_i = max(e_{i-1} + 1, h(x_i))``; padding
    (register -1) takes its cycle and leaves the history alone; ``fin = max(s + P, e_last + 1)``
    (``s + P`` for an empty slice).
    """
    e = s - 1
    for x in regs:
        e += 1
        if x >= 0:
            e = max(e, hist.get(x, e))
            hist[x] = e + acc_latency
    return max(s + p_min, e + 1)


def timing(
    item_row: Sequence[int] | np.ndarray,
    item_lane: Sequence[int] | np.ndarray,
    n_rows: int,
    slices: Sequence[Sequence[Sequence[int]]],
    hw: RefHW,
    item_round: Sequence[int] | np.ndarray | None = None,
) -> dict:
    """Section 4 on one segment (a resident layer's scan, or one tile), segment-relative cycles.

    ``item_row[k]`` / ``item_lane[k]``: item k's activation row (numbered from the segment's
    first row, ascending) and lane (its PE, ``j % N``). ``n_rows``: rows the scan loads.
    ``slices[p][k]``: the destination registers (round-relative local rows) of PE p's entries
    in item k's column, in order, ``-1`` for a padding entry. ``item_round[k]``: the item's
    round (default all 0): the hazard history restarts and bypasses stop at a round change.

    Returns ``t``, ``t_before_credits`` (K), ``s``, ``fin`` (N x K), ``c``, ``kept`` (N x K),
    ``busy`` (N), ``T_scan``, ``cycles``, ``ccu_stall_cycles``, ``hazard_stall_cycles``,
    ``hazard_stalls`` (N x K), ``bypass`` and ``row_loads``.
    """
    n = hw.n_pes
    q, lb, p_min = hw.queue_depth, hw.broadcast_latency, hw.ptr_cycles
    row = np.asarray(item_row, dtype=np.int64).reshape(-1)
    lane = np.asarray(item_lane, dtype=np.int64).reshape(-1)
    k_total = row.size
    rnd = np.zeros(k_total, dtype=np.int64) if item_round is None else np.asarray(item_round, np.int64)
    if lane.size != k_total or rnd.size != k_total:
        raise ValueError("item_row, item_lane and item_round must have one value per item")
    if len(slices) != n or any(len(sl) != k_total for sl in slices):
        raise ValueError("slices must be N x K")
    if k_total:
        pos = row * n + lane
        if (
            np.any(lane < 0)
            or np.any(lane >= n)
            or row[0] < 0
            or row[-1] >= n_rows
            or np.any(np.diff(pos) <= 0)
            or np.any(np.diff(rnd) < 0)
        ):
            raise ValueError("items must be distinct (row, lane) pairs in scan order within n_rows")
    c = np.array([[len(sl[k]) for k in range(k_total)] for sl in slices], dtype=np.int64).reshape(n, k_total)
    kept = np.array(
        [[len(sl[k]) - list(sl[k]).count(-1) for k in range(k_total)] for sl in slices], dtype=np.int64
    ).reshape(n, k_total)
    cost = np.maximum(p_min, c)

    t = np.zeros(k_total, dtype=np.int64)
    t_before = np.zeros(k_total, dtype=np.int64)
    s = np.zeros((n, k_total), dtype=np.int64)
    fin = np.zeros((n, k_total), dtype=np.int64)
    fin_prev = np.zeros(n, dtype=np.int64)  # fin[p][-1] = 0
    hist: list[dict[int, int]] = []
    for k in range(k_total):
        # LNZD: one row load per cycle from cycle 0, one non-zero lane per cycle; the row
        # after a row is loaded the cycle after its last broadcast, or in the same cycle when
        # that last non-zero is in lane N-1.
        if k == 0:
            before = 1 + int(row[0])
        elif row[k] == row[k - 1]:
            before = int(t[k - 1]) + 1
        else:
            before = int(t[k - 1] + row[k] - row[k - 1]) + (0 if lane[k - 1] == n - 1 else 1)
        tk = before
        # AMBIGUOUS: in a resident scan the credit of item k refers to item k-Q even across a
        # round boundary (items are numbered across rounds and the queues are never drained
        # between rounds); the contract numbers items that way, so it is taken literally.
        if k >= q:  # credits: every PE has popped item k-Q (a pop frees its slot that cycle)
            tk = max(tk, int(s[:, k - q].max()))
        t_before[k], t[k] = before, tk
        sk = np.maximum(tk + lb, fin_prev)
        s[:, k] = sk
        if hw.bypass:
            # AMBIGUOUS: with bypass on "nothing stalls", read literally even when acc_latency
            # > 1 and two updates of a register are 2..acc_latency-1 cycles apart (forwarding
            # is assumed to cover them); only back-to-back pairs are counted as bypasses.
            fin_prev = sk + cost[:, k]
        else:
            if k == 0 or rnd[k] != rnd[k - 1]:
                hist = [{} for _ in range(n)]  # hazard history restarts every round
            fin_prev = np.array(
                [_issue(slices[p][k], int(sk[p]), p_min, hist[p], hw.acc_latency) for p in range(n)],
                dtype=np.int64,
            )
        fin[:, k] = fin_prev

    # End: T_scan is the cycle after the last row load or broadcast.
    if k_total == 0:
        t_scan = n_rows
    else:
        rows_after = n_rows - 1 - int(row[-1])
        if rows_after == 0:
            t_scan = int(t[-1]) + 1
        else:
            first_load = int(t[-1]) + (0 if lane[-1] == n - 1 else 1)
            t_scan = first_load + rows_after  # last load = first_load + rows_after - 1
    cycles = max(t_scan, int(fin.max()) if k_total else 0) + DRAIN_CYCLES

    # Bypass (only with bypass on, C7): items k-1 and k of the same round, both slices
    # non-empty; the first KEPT entry of slice k (index lp, issued at s + lp) updates the
    # register of slice k-1's last entry (always kept, issued at s + c - 1) one cycle later.
    # Since s[k] >= fin[k-1] >= s[k-1] + c[k-1], this can hold only with lp == 0: a column
    # that starts with padding never bypasses. Implemented literally anyway.
    bypass = 0
    if hw.bypass:
        for p in range(n):
            sl = slices[p]
            for k in range(1, k_total):
                cur, prev = sl[k], sl[k - 1]
                if rnd[k] != rnd[k - 1] or not cur or not prev:
                    continue
                lp = next((i for i, x in enumerate(cur) if x >= 0), None)
                if lp is not None and cur[lp] == prev[-1] and s[p, k] + lp == s[p, k - 1] + len(prev):
                    bypass += 1

    # AMBIGUOUS: hazard stalls are fin - s - max(P, c) as defined, so a hazard wait hidden
    # under the pointer-read minimum (c < P) counts no stall cycle.
    stalls = fin - s - cost
    return {
        "t": t,
        "t_before_credits": t_before,
        "s": s,
        "fin": fin,
        "c": c,
        "kept": kept,
        "busy": cost.sum(axis=1),
        "T_scan": t_scan,
        "cycles": cycles,
        "ccu_stall_cycles": int(np.sum(t - t_before)),
        "hazard_stalls": stalls,
        "hazard_stall_cycles": int(stalls.sum()),
        "bypass": bypass,
        "row_loads": int(n_rows),
    }


# --------------------------------------------------------------------------------------
# Section 5: fitting, tiling, planning
# --------------------------------------------------------------------------------------


def _epw(layer: RefLayer, hw: RefHW) -> int:
    """Whole entries per sparse-matrix word."""
    epw = hw.word_bits // (layer.wbits + layer.ibits)
    if epw < 1:
        raise ValueError("an entry is wider than a word")
    return epw


def _word_bits_needed(entries: np.ndarray, epw: int, hw: RefHW) -> np.ndarray:
    """Bits of whole words holding ``entries`` entries (per PE)."""
    return -(-np.asarray(entries, dtype=np.int64) // epw) * hw.word_bits


def _ptr_bytes_needed(n_ptrs: int, hw: RefHW) -> int:
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
    hw: RefHW,
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
    hw: RefHW,
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


def plan_model(layers: list[RefLayer], hw: RefHW, tables: list[dict] | None = None) -> list[_Plan]:
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


# --------------------------------------------------------------------------------------
# One layer run: segments, DRAM schedule, counters
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Segment:
    """One independent section-4 run: a resident layer's whole scan, or one tile (C1)."""

    item_round: np.ndarray  # K_seg
    item_col: np.ndarray  # K_seg
    item_row: np.ndarray  # segment-relative activation row
    item_lane: np.ndarray
    n_rows: int
    e0: np.ndarray  # per PE: the segment's first entry index (word numbering, C13)


def _segments(layer: RefLayer, cols: np.ndarray, hw: RefHW, tab: dict, tiles: list | None) -> list[_Segment]:
    """C1: the resident scan over all rounds, or one segment per tile ``(round, j0, j1)``."""
    n = hw.n_pes
    rpr = -(-layer.ncols // n)  # activation rows per round; the bias is input n, row n // N
    if tiles is None:
        rounds = tab["rounds"]
        item_r = np.repeat(np.arange(rounds, dtype=np.int64), cols.size)
        item_j = np.tile(cols, rounds)
        return [
            _Segment(
                item_round=item_r,
                item_col=item_j,
                item_row=item_r * rpr + item_j // n,
                item_lane=item_j % n,
                n_rows=rounds * rpr,
                e0=np.zeros(n, dtype=np.int64),
            )
        ]
    segs = []
    for r, j0, j1 in tiles:
        # AMBIGUOUS: in a row split between two tiles, the lanes of the other tile's columns
        # are not items of this tile even when their activations are non-zero (C1: a tile's
        # items are the non-zero inputs in [j0, j1)); the row still costs its load cycle.
        # The tile's row 0 loads at its start(t) (its own cycle 0), never during its DRAM load.
        sel = cols[(cols >= j0) & (cols < j1)]
        # rows that hold the tile's columns, numbered from the tile's first row (a row split
        # between two tiles belongs to both)
        segs.append(
            _Segment(
                item_round=np.full(sel.size, r, dtype=np.int64),
                item_col=sel,
                item_row=sel // n - j0 // n,
                item_lane=sel % n,
                n_rows=(j1 - 1) // n - j0 // n + 1,
                e0=tab["first_entry"][:, r, j0].copy(),
            )
        )
    return segs


def _word_reads(first_e: np.ndarray, c: np.ndarray, e0: np.ndarray, epw: int) -> np.ndarray:
    """C13, one segment: per PE, sparse-matrix words read (last-read word starts empty).

    Entry ``e`` is in word ``(e - e0) // epw``; a non-empty slice reads words ``w0..w1``, minus
    one when ``w0`` is the PE's last-read word; empty slices read nothing and keep it.
    """
    n = c.shape[0]
    reads = np.zeros(n, dtype=np.int64)
    for p in range(n):
        nz = c[p] > 0
        rel = first_e[p, nz] - e0[p]
        w0 = rel // epw
        w1 = (rel + c[p, nz] - 1) // epw
        reads[p] = int(np.sum(w1 - w0 + 1)) - int(np.sum(w0[1:] == w1[:-1]))
    return reads


def _act_spill_bytes(layer: RefLayer, rounds: int, hw: RefHW) -> int:
    """Section 5, activation spill: input slice first, output slice after, 2 bytes a value."""
    n = hw.n_pes
    cap = hw.act_bytes // 2  # 16-bit values
    total_values = 0
    for p in range(n):
        n_in = len(range(p, layer.ncols, n))  # bias column included
        n_out = len(range(p, layer.m, n))
        spill_in = max(0, n_in - cap)
        spill_out = max(0, n_out - max(0, cap - n_in))
        # spilled inputs are read once per round, spilled outputs written once
        total_values += rounds * spill_in + spill_out
    # AMBIGUOUS: a spilled activation is one 16-bit value = 2 bytes of DRAM traffic; every
    # spilled input is read each round, whether or not it is zero.
    return 2 * total_values


def _run_layer(layer: RefLayer, a_fix: np.ndarray, hw: RefHW, tab: dict, plan: _Plan) -> dict:
    """Runs one layer under a plan and returns its figures (cycles on the layer's own axis)."""
    n = hw.n_pes
    epw = _epw(layer, hw)
    a_fix = np.asarray(a_fix, dtype=np.int64)
    if a_fix.shape != (layer.n_inputs,):
        raise ValueError(f"expected {layer.n_inputs} activations, got {a_fix.shape}")
    rounds = tab["rounds"]
    # C2: items are the non-zero fixed-point inputs (negative ones included); the bias
    # activation is the constant 1 in fixed point, never zero (fa <= 15).
    cols = np.flatnonzero(a_fix).astype(np.int64)
    if layer.has_bias:
        cols = np.append(cols, layer.ncols - 1)

    if plan.resident:
        tiles: list[tuple[int, int, int]] = []
        segs = _segments(layer, cols, hw, tab, None)
    else:
        tiles = greedy_tiles(tab["count"], plan.spmat_free_bits, plan.ptr_free_bytes, epw, hw)
        segs = _segments(layer, cols, hw, tab, tiles)

    entry_reg = [regs.tolist() for regs in tab["entry_reg"]]
    tile_bytes: list[int] = []
    tile_load: list[int] = []
    tile_start: list[int] = []
    tile_end: list[int] = []
    tile_compute: list[int] = []
    parts: dict[str, list] = {key: [] for key in ("t", "tb", "s", "fin", "c", "kept", "seg")}
    word_reads = np.zeros(n, dtype=np.int64)
    t_scan: list[int] = []
    seg_start: list[int] = []
    ccu_stall = hazard_stall = bypass = row_loads = 0
    cycles = 0
    for si, seg in enumerate(segs):
        first_e = tab["first_entry"][:, seg.item_round, seg.item_col]  # N x K_seg
        c_seg = tab["count"][:, seg.item_round, seg.item_col]
        slices = [
            [regs[f : f + cc] for f, cc in zip(first_e[p].tolist(), c_seg[p].tolist(), strict=True)]
            for p, regs in enumerate(entry_reg)
        ]
        tm = timing(seg.item_row, seg.item_lane, seg.n_rows, slices, hw, item_round=seg.item_round)
        if plan.resident:
            start = 0
            cycles = tm["cycles"]
        else:
            # section 5 double-buffered schedule; compute(t) = the tile's section-4 cycles
            r, j0, j1 = tiles[si]
            ent = tab["count"][:, r, j0:j1].sum(axis=1)
            word_bytes = sum(_bytes_of_bits(b) for b in _word_bits_needed(ent, epw, hw))
            nbytes = int(word_bytes + n * _ptr_bytes_needed(j1 - j0 + 1, hw))
            load = math.ceil(nbytes / hw.dram_bytes_per_cycle) + hw.dram_latency
            start = load if si == 0 else max(tile_end[-1], tile_start[-1] + load)
            # AMBIGUOUS: a tile none of whose columns has a non-zero activation is still
            # streamed (tiles depend on the weights only); its compute is the K = 0 value
            # rows + 5.
            tile_bytes.append(nbytes)
            tile_load.append(load)
            tile_start.append(start)
            tile_end.append(start + tm["cycles"])
            tile_compute.append(tm["cycles"])
            cycles = tile_end[-1]
        parts["t"].append(tm["t"] + start)
        parts["tb"].append(tm["t_before_credits"] + start)
        parts["s"].append(tm["s"] + start)
        parts["fin"].append(tm["fin"] + start)
        parts["c"].append(tm["c"])
        parts["kept"].append(tm["kept"])
        parts["seg"].append(np.full(seg.item_col.size, si, dtype=np.int64))
        # C10: CCU stalls summed within each segment; waiting for DRAM is not a stall
        ccu_stall += tm["ccu_stall_cycles"]
        hazard_stall += tm["hazard_stall_cycles"]
        bypass += tm["bypass"]  # never across a round or tile boundary (C7)
        row_loads += tm["row_loads"]  # C11: a row split between two tiles counts in both
        word_reads += _word_reads(first_e, c_seg, seg.e0, epw)
        t_scan.append(tm["T_scan"])
        seg_start.append(start)

    t_abs = np.concatenate(parts["t"])
    s_abs = np.concatenate(parts["s"], axis=1)
    fin_abs = np.concatenate(parts["fin"], axis=1)
    c = np.concatenate(parts["c"], axis=1)
    kept = np.concatenate(parts["kept"], axis=1)
    k_total = t_abs.size
    cost = np.maximum(hw.ptr_cycles, c)
    busy = cost.sum(axis=1)

    # C12: occupancy at the end of cycle x: items with t <= x < s, 0 <= x < cycles (layer axis)
    diff = np.zeros((n, cycles + 1), dtype=np.int64)
    for p in range(n):
        np.add.at(diff[p], t_abs, 1)
        np.add.at(diff[p], s_abs[p], -1)
    occ = np.cumsum(diff[:, :cycles], axis=1)

    act_spill = _act_spill_bytes(layer, rounds, hw)
    if plan.resident:
        word_bytes = sum(_bytes_of_bits(b) for b in _word_bits_needed(tab["entries"], epw, hw))
        weight_load = int(word_bytes + n * _ptr_bytes_needed(rounds * layer.ncols + 1, hw))
    else:
        weight_load = 0
    entries_processed = int(c.sum())
    kept_processed = int(kept.sum())
    items_x_pes = k_total * n
    return {
        "cycles": int(cycles),
        "resident": plan.resident,
        "rounds": rounds,
        "rows_per_round": -(-layer.ncols // n),
        "tiles": tiles,
        "n_items": k_total,
        "item_round": np.concatenate([sg.item_round for sg in segs]),
        "item_col": np.concatenate([sg.item_col for sg in segs]),
        "item_row": np.concatenate([sg.item_row for sg in segs]),  # segment-relative
        "item_lane": np.concatenate([sg.item_lane for sg in segs]),
        "item_segment": np.concatenate(parts["seg"]),
        "segment_rows": [sg.n_rows for sg in segs],
        "segment_start": seg_start,
        "t_scan": t_scan,  # per segment, segment-relative
        "c": c,
        "kept": kept,
        "t": t_abs,
        "t_before_credits": np.concatenate(parts["tb"]),
        "s": s_abs,
        "fin": fin_abs,
        "busy": busy,
        "idle": cycles - busy,
        "pe_utilization": float(busy.sum()) / (n * cycles),
        "mac_efficiency": kept_processed / (n * cycles),
        "ccu_stall_cycles": ccu_stall,
        "hazard_stall_cycles": hazard_stall,
        "occupancy_mean": occ.sum(axis=1) / cycles,
        "occupancy_max": occ.max(axis=1),
        "bypass": bypass,
        "lnzd_row_loads": row_loads,
        "spmat_word_reads": int(word_reads.sum()),
        "spmat_word_reads_per_pe": word_reads,
        "pointer_reads": items_x_pes * (1 if hw.ptr_banks == 2 else 2),  # C3
        "queue_pushes": items_x_pes,  # C6
        "queue_pops": items_x_pes,
        "codebook_reads": entries_processed,  # C4: every entry, padding included
        "multiplies": entries_processed,
        "adds": entries_processed,
        "dest_reads": kept_processed,  # C4: kept entries only (padding has write disabled)
        "dest_writes": kept_processed,
        "src_reads": layer.ncols * rounds,  # C5: every input incl. bias, every round
        "act_sram_reads": layer.ncols * rounds,
        "act_sram_writes": layer.m,
        "entries_processed": entries_processed,
        "kept_processed": kept_processed,
        "dram_bytes": int(sum(tile_bytes)) + act_spill,
        "weight_load_bytes": weight_load,
        "act_spill_bytes": act_spill,
        "tile_bytes": tile_bytes,
        "tile_load": tile_load,
        "tile_start": tile_start,
        "tile_end": tile_end,
        "tile_compute": tile_compute,
    }


def layer_figures(layer: RefLayer, a_fix: np.ndarray, hw: RefHW) -> dict:
    """One layer alone: resident if it fits the whole SRAMs, else tiled in their halves."""
    tab = slice_table(layer, hw.n_pes, hw.regs)
    plan = plan_model([layer], hw, [tab])[0]
    return _run_layer(layer, a_fix, hw, tab, plan)


def model_figures(layers: list[RefLayer], x_float: np.ndarray, fa: int, hw: RefHW) -> list[dict]:
    """Layers one after another (model cycles = sum); each dict adds ``start_cycle`` and ``output``.

    Items are the non-zero inputs after conversion to fixed point (C2); each layer's input
    is the previous layer's fixed-point output.
    """
    tables = [slice_table(layer, hw.n_pes, hw.regs) for layer in layers]
    plans = plan_model(layers, hw, tables)
    outs = functional(layers, x_float, fa, hw.acc_bits)
    inputs = [to_fix(np.asarray(x_float, dtype=np.float64), fa)] + outs[:-1]
    result = []
    start = 0
    for layer, a_fix, tab, plan, out in zip(layers, inputs, tables, plans, outs, strict=True):
        fig = _run_layer(layer, a_fix, hw, tab, plan)
        fig["start_cycle"] = start
        fig["output"] = out
        start += fig["cycles"]
        result.append(fig)
    return result


# --------------------------------------------------------------------------------------
# Section 7: the dense baseline
# --------------------------------------------------------------------------------------


def dense_baseline(m: int, n: int, hw: RefHW) -> dict:
    """Dense accelerator: ``ceil(m/N)*n + 3`` compute cycles; 16-bit weights, maybe streamed."""
    compute = -(-m // hw.n_pes) * n + 3
    weight_bytes = 2 * m * n
    # AMBIGUOUS: "2*m*n bytes fit in the N sparse-matrix SRAMs" is taken literally as the
    # total capacity N * spmat_bytes (not per-PE ceil(m/N)*n*2 <= spmat_bytes).
    resident = weight_bytes <= hw.n_pes * hw.spmat_bytes
    if resident:
        cycles = compute
    else:
        cycles = max(compute, math.ceil(weight_bytes / hw.dram_bytes_per_cycle)) + hw.dram_latency
    return {
        "compute": compute,
        "resident": resident,
        "cycles": cycles,
        "macs": m * n,
        "dram_bytes": 0 if resident else weight_bytes,
    }
