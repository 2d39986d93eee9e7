"""Independent reference of the EIE modelling contract (ARCHITECTURE.md v1 + docs/MODEL.md).

Written from the two documents alone, without reading or importing ``eie_sim`` or
``compressor``, so that the simulator engines can be tested bit-exactly (outputs) and
cycle-exactly (timing and counters) against it. Only numpy and the standard library.

Conventions used throughout:
- a layer is its dense code matrix ``codes`` (m x ncols, code 0 = zero weight), the
  bias column (if any) being the last column;
- ``N`` PEs, row ``i`` -> PE ``i % N``, local row ``i // N``; round ``r`` holds local rows
  ``r*R .. r*R+R-1``; "local row" below always means the absolute ``i // N``;
- arrays indexed ``[p, r, j]`` are per (PE, round, column) slice;
- items are the broadcast columns, numbered ``k`` across rounds (rounds outer).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

INT16_MIN = -(2**15)
INT16_MAX = 2**15 - 1


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
    queue_depth: int = 8
    regs: int = 64
    word_bits: int = 64
    spmat_bytes: int = 128 * 1024
    ptr_bytes: int = 64 * 1024
    ptr_bits: int = 18
    act_bytes: int = 2 * 1024
    acc_bits: int = 16
    dram_bytes_per_cycle: float = 16.0
    dram_latency: int = 100


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
    """Per (PE p, round r, column j) slice: entry count with padding, rows, first entry index.

    Returns a dict of arrays shaped ``(n_pes, rounds, ncols)``:
    ``count`` (entries, padding included), ``kept`` (non-padding entries), ``first_row`` and
    ``last_row`` (absolute local row of the slice's first / last entry, -1 when empty),
    ``first_entry`` (index of the slice's first entry in PE p's entry array, rounds outer,
    columns inner), plus ``rounds`` and ``entries`` (total entries per PE).
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
    for p in range(n_pes):
        sub = codes[p::n_pes]  # local rows of PE p, in order
        if sub.shape[0] == 0:
            continue
        j, lr = np.nonzero(sub.T != 0)  # sorted by column, then local row
        r = lr // regs
        order = np.argsort(r, kind="stable")  # -> sorted by (round, column, local row)
        j, lr, r = j[order], lr[order], r[order]
        if j.size == 0:
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
        gap = np.where(starts, lr - r * regs, lr - prev - 1)
        pads = gap // span
        np.add.at(count[p], (r, j), 1 + pads)
        np.add.at(kept[p], (r, j), 1)
        # first entry: a padding entry when the leading gap is >= span; the first padding
        # entry stands on the slice's (span)-th row, r*R + span - 1
        fr = np.where(pads > 0, r * regs + span - 1, lr)
        first_row[p, r[starts], j[starts]] = fr[starts]
        # last entry: always a kept entry (padding is never last)
        last_row[p, r[ends], j[ends]] = lr[ends]
    flat = count.reshape(n_pes, rounds * ncols)
    first_entry = (np.cumsum(flat, axis=1) - flat).reshape(shape)
    return {
        "count": count,
        "kept": kept,
        "first_row": first_row,
        "last_row": last_row,
        "first_entry": first_entry,
        "rounds": rounds,
        "entries": flat.sum(axis=1),
    }


# --------------------------------------------------------------------------------------
# Section 4: the timing recurrence
# --------------------------------------------------------------------------------------


def lnzd_levels(n_pes: int) -> int:
    """``L = max(1, ceil(log4 N))`` with integers: the smallest l >= 1 with 4**l >= N."""
    level = 1
    while 4**level < n_pes:
        level += 1
    return level


def lnzd_nodes(n_pes: int) -> int:
    """Nodes of the 4-ary LNZD tree: sum over levels 1..L of ceil(N / 4**level)."""
    return sum(-(-n_pes // 4**lv) for lv in range(1, lnzd_levels(n_pes) + 1))


def timing(c: np.ndarray, L: int, Q: int) -> dict:
    """The section-4 recurrence on ``c`` (N x K entries per PE and item).

    Returns ``t`` (K), ``s`` and ``fin`` (N x K) and ``cycles``.
    """
    c = np.asarray(c, dtype=np.int64)
    if c.ndim != 2:
        raise ValueError("c must be N x K")
    n, k_total = c.shape
    cost = np.maximum(1, c).T  # K x N, rows contiguous for the loop
    t = np.zeros(k_total, dtype=np.int64)
    s = np.zeros((k_total, n), dtype=np.int64)
    fin = np.zeros((k_total, n), dtype=np.int64)
    prev_t = -1  # t[-1] = -1
    prev_fin = np.zeros(n, dtype=np.int64)  # fin[p][k<0] = 0
    for k in range(k_total):
        tk = prev_t + 1
        if k >= Q:  # s[p][k-Q] = -inf for k-Q < 0
            tk = max(tk, int(s[k - Q].max()))
        t[k] = tk
        s[k] = np.maximum(tk + L, prev_fin)
        fin[k] = s[k] + cost[k]
        prev_t, prev_fin = tk, fin[k]
    cycles = int(fin[-1].max()) + 3 if k_total else L + 3
    return {"t": t, "s": s.T.copy(), "fin": fin.T.copy(), "cycles": cycles}


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
    """MODEL.md "Fitting", per PE: whole words, pointer bytes, addressability.

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
    max_cols = 0
    while 2 * _ptr_bytes_needed(max_cols + 2, hw) <= ptr_avail_bytes.min():
        max_cols += 1
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
    """MODEL.md multi-layer rule: a resident prefix, the rest tiled in half of what is free.

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
# One layer run: timing, DRAM schedule, counters
# --------------------------------------------------------------------------------------


def _act_spill_bytes(layer: RefLayer, rounds: int, hw: RefHW) -> int:
    """MODEL.md "Activation spill": input slice first, output slice after, 2 bytes a value."""
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
    """Runs one layer under a plan and returns its figures."""
    n = hw.n_pes
    L = lnzd_levels(n)
    Q = hw.queue_depth
    epw = _epw(layer, hw)
    a_fix = np.asarray(a_fix, dtype=np.int64)
    if a_fix.shape != (layer.n_inputs,):
        raise ValueError(f"expected {layer.n_inputs} activations, got {a_fix.shape}")
    rounds = tab["rounds"]
    cols = list(np.flatnonzero(a_fix))
    if layer.has_bias:
        cols.append(layer.ncols - 1)  # the constant-1 bias activation is never zero
    cols_arr = np.asarray(cols, dtype=np.int64)

    if plan.resident:
        tiles: list[tuple[int, int, int]] = []
        segments = [(r, 0, layer.ncols) for r in range(rounds)]  # one tile, one timeline
    else:
        tiles = greedy_tiles(tab["count"], plan.spmat_free_bits, plan.ptr_free_bytes, epw, hw)
        segments = tiles

    # items per segment, in order; item = (round, column)
    seg_items: list[tuple[np.ndarray, np.ndarray]] = []
    for r, lo, hi in segments:
        sel = cols_arr[(cols_arr >= lo) & (cols_arr < hi)]
        seg_items.append((np.full(sel.size, r, dtype=np.int64), sel))
    item_r = np.concatenate([x[0] for x in seg_items]) if seg_items else np.zeros(0, np.int64)
    item_j = np.concatenate([x[1] for x in seg_items]) if seg_items else np.zeros(0, np.int64)
    k_total = item_j.size
    c = tab["count"][:, item_r, item_j]  # N x K
    kept = tab["kept"][:, item_r, item_j]

    tile_bytes: list[int] = []
    tile_load: list[int] = []
    tile_start: list[int] = []
    tile_end: list[int] = []
    tile_compute: list[int] = []
    stall = 0
    if plan.resident:
        tm = timing(c, L, Q)
        t_abs, s_abs, fin_abs, cycles = tm["t"], tm["s"], tm["fin"], tm["cycles"]
        stall = int(np.sum(np.diff(np.concatenate([[-1], t_abs])) - 1))
        tile_of_item = np.zeros(k_total, dtype=np.int64)
        e0_of_item = np.zeros((n, k_total), dtype=np.int64)
    else:
        t_parts, s_parts, fin_parts = [], [], []
        tile_of_item = np.zeros(k_total, dtype=np.int64)
        e0_of_item = np.zeros((n, k_total), dtype=np.int64)
        k0 = 0
        end_prev = 0
        for ti, (r, lo, hi) in enumerate(tiles):
            ent = tab["count"][:, r, lo:hi].sum(axis=1)
            word_bytes = sum(_bytes_of_bits(b) for b in _word_bits_needed(ent, epw, hw))
            nbytes = int(word_bytes + n * _ptr_bytes_needed(hi - lo + 1, hw))
            load = math.ceil(nbytes / hw.dram_bytes_per_cycle) + hw.dram_latency
            start = load if ti == 0 else max(end_prev, tile_start[-1] + load)
            kk = seg_items[ti][1].size
            # AMBIGUOUS: a tile none of whose columns has a non-zero activation is still
            # streamed (tiles depend on the weights only) and its compute is the K = 0
            # value L + 3.
            tm = timing(c[:, k0 : k0 + kk], L, Q)
            end = start + tm["cycles"]
            t_parts.append(tm["t"] + start)
            s_parts.append(tm["s"] + start)
            fin_parts.append(tm["fin"] + start)
            # AMBIGUOUS: CCU stalls are summed within each tile (t[-1] = -1 per tile); the
            # wait for a tile's DRAM load between tiles is not back-pressure.
            stall += int(np.sum(np.diff(np.concatenate([[-1], tm["t"]])) - 1))
            tile_of_item[k0 : k0 + kk] = ti
            e0_of_item[:, k0 : k0 + kk] = tab["first_entry"][:, r, lo][:, None]
            tile_bytes.append(nbytes)
            tile_load.append(load)
            tile_start.append(start)
            tile_end.append(end)
            tile_compute.append(tm["cycles"])
            end_prev = end
            k0 += kk
        t_abs = np.concatenate(t_parts) if t_parts else np.zeros(0, np.int64)
        s_abs = np.concatenate(s_parts, axis=1) if s_parts else np.zeros((n, 0), np.int64)
        fin_abs = np.concatenate(fin_parts, axis=1) if fin_parts else np.zeros((n, 0), np.int64)
        cycles = tile_end[-1]

    cost = np.maximum(1, c)
    busy = cost.sum(axis=1)

    # Queue occupancy at the end of cycle x: items with t <= x < s, over 0 <= x < cycles.
    diff = np.zeros((n, cycles + 1), dtype=np.int64)
    for p in range(n):
        np.add.at(diff[p], t_abs, 1)
        np.add.at(diff[p], s_abs[p], -1)
    occ = np.cumsum(diff[:, :cycles], axis=1)

    # Sparse-matrix word reads: word id (tile, (e - e0) // epw); last word starts empty.
    first_e = tab["first_entry"][:, item_r, item_j]  # N x K
    word_reads = np.zeros(n, dtype=np.int64)
    for p in range(n):
        nz = c[p] > 0  # empty slices read no word and leave the register alone
        tid = tile_of_item[nz]
        w0 = (first_e[p, nz] - e0_of_item[p, nz]) // epw
        w1 = (first_e[p, nz] + c[p, nz] - 1 - e0_of_item[p, nz]) // epw
        reads = int(np.sum(w1 - w0 + 1))
        # the first word of a slice is free when it is the register's word (same tile)
        same = (tid[1:] == tid[:-1]) & (w0[1:] == w1[:-1])
        word_reads[p] = reads - int(np.sum(same))

    # Bypass: consecutive items of a PE, both slices non-empty, back to back
    # (s[k] == fin[k-1]), last row of the previous == first row of the next.
    # AMBIGUOUS: rows are compared as absolute local rows (i // N), so the last column of
    # round r and the first of round r+1 never bypass (different destination rows), even
    # when their round-relative register indices coincide. Across tiles s[k] > fin[k-1]
    # always (the drain separates them), so no bypass there either.
    first_r = tab["first_row"][:, item_r, item_j]
    last_r = tab["last_row"][:, item_r, item_j]
    if k_total >= 2:
        byp = (
            (c[:, 1:] > 0)
            & (c[:, :-1] > 0)
            & (s_abs[:, 1:] == fin_abs[:, :-1])
            & (first_r[:, 1:] == last_r[:, :-1])
        )
        bypass = int(byp.sum())
    else:
        bypass = 0

    act_spill = _act_spill_bytes(layer, rounds, hw)
    if plan.resident:
        word_bytes = sum(_bytes_of_bits(b) for b in _word_bits_needed(tab["entries"], epw, hw))
        weight_load = int(word_bytes + n * _ptr_bytes_needed(rounds * layer.ncols + 1, hw))
    else:
        weight_load = 0
    entries_processed = int(c.sum())
    kept_processed = int(kept.sum())
    return {
        "cycles": int(cycles),
        "resident": plan.resident,
        "rounds": rounds,
        "L": L,
        "n_items": k_total,
        "item_round": item_r,
        "item_col": item_j,
        "c": c,
        "tiles": tiles,
        "tile_bytes": tile_bytes,
        "tile_load": tile_load,
        "tile_start": tile_start,
        "tile_end": tile_end,
        "tile_compute": tile_compute,
        "busy": busy,
        "idle": cycles - busy,
        "pe_utilization": float(busy.sum()) / (n * cycles),
        "mac_efficiency": kept_processed / (n * cycles),
        "ccu_stall_cycles": stall,
        "occupancy_mean": occ.sum(axis=1) / cycles,
        "occupancy_max": occ.max(axis=1),
        "bypass": bypass,
        "spmat_word_reads": int(word_reads.sum()),
        "spmat_word_reads_per_pe": word_reads,
        "pointer_reads": k_total * n,
        "entries_processed": entries_processed,
        "kept_processed": kept_processed,
        "queue_pushes": k_total * n,
        "dram_bytes": int(sum(tile_bytes)) + act_spill,
        "weight_load_bytes": weight_load,
        "act_spill_bytes": act_spill,
        "t": t_abs,
        "s": s_abs,
        "fin": fin_abs,
    }


def layer_figures(layer: RefLayer, a_fix: np.ndarray, hw: RefHW) -> dict:
    """One layer alone: resident if it fits the whole SRAMs, else tiled in their halves."""
    tab = slice_table(layer, hw.n_pes, hw.regs)
    plan = plan_model([layer], hw, [tab])[0]
    return _run_layer(layer, a_fix, hw, tab, plan)


def model_figures(layers: list[RefLayer], x_float: np.ndarray, fa: int, hw: RefHW) -> list[dict]:
    """Layers one after another; each dict also carries its ``start_cycle`` (cycles add up)."""
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
