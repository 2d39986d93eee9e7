"""EIE's storage of one layer: PE-interleaved, relative-indexed CSC (docs/ARCHITECTURE.md section 2).

Row ``i`` of the ``m x ncols`` code matrix belongs to PE ``i mod N`` as local row
``i // N``. A PE with more than ``R`` local rows runs the layer in rounds of ``R``
rows. Each (round, PE, column) slice lists its kept entries in ascending local
row order as ``(v, z)``: ``v`` the 4-bit code, ``z`` the zero rows skipped since
the previous entry of the slice. A gap longer than ``2**ibits - 1`` costs padding
entries ``(0, 2**ibits - 1)``, each standing on the next zero row. Per PE, slices
are laid out rounds outer, columns inner, and ``ptr[p, s]`` points at the first
entry of slice ``s = r * ncols + j`` within that PE's entry array.

The functions here are the single implementation of the layout: the compressor
encodes with them, the file loader validates and decodes with them, and both
simulator engines read the arrays they produce.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numba
import numpy as np

from compressor.errors import EieFormatError, EieInputError
from compressor.fixedpoint import codebook_frac_bits, to_fixed

WBITS_RANGE = (2, 8)
# A dense decode is built only on request (re-encoding, references); this bounds it so that a
# header claiming a huge shape cannot demand an allocation far beyond what any real layer needs.
MAX_DENSE_CELLS = 1 << 32
IBITS_RANGE = (1, 8)


def n_rounds(m: int, n_pes: int, regs: int) -> int:
    """Rounds needed when each PE holds ``ceil(m / N)`` local rows and ``R`` registers."""
    local = -(-m // n_pes)
    return max(1, -(-local // regs))


def local_rows(m: int, n_pes: int) -> np.ndarray:
    """Local rows held by each PE: ``ceil((m - p) / N)`` for PE ``p`` (0 when p >= m)."""
    p = np.arange(n_pes)
    return np.maximum(0, -(-(m - p) // n_pes)).astype(np.int64)


@numba.njit(cache=True)
def _count_slices(codes, n_pes, regs, rounds, span):
    """Entries (padding included) of every (PE, round * ncols + column) slice."""
    m, ncols = codes.shape
    counts = np.zeros((n_pes, rounds * ncols), np.int64)
    last = np.empty(n_pes * rounds, np.int64)
    for j in range(ncols):
        last[:] = -1
        for i in range(m):
            if codes[i, j] != 0:
                p = i % n_pes
                lr = i // n_pes
                r = lr // regs
                q = lr - r * regs
                gap = q - last[p * rounds + r] - 1
                counts[p, r * ncols + j] += gap // span + 1
                last[p * rounds + r] = q
    return counts


@numba.njit(cache=True)
def _fill_slices(codes, n_pes, regs, rounds, span, pe_offsets, ptr, v, z):
    """Write the (v, z) entries of every slice at the positions the pointers give."""
    m, ncols = codes.shape
    last = np.empty(n_pes * rounds, np.int64)
    cursor = np.empty(n_pes * rounds, np.int64)
    for j in range(ncols):
        for p in range(n_pes):
            for r in range(rounds):
                last[p * rounds + r] = -1
                cursor[p * rounds + r] = pe_offsets[p] + ptr[p, r * ncols + j]
        for i in range(m):
            code = codes[i, j]
            if code != 0:
                p = i % n_pes
                lr = i // n_pes
                r = lr // regs
                q = lr - r * regs
                k = p * rounds + r
                gap = q - last[k] - 1
                pos = cursor[k]
                while gap >= span:
                    v[pos] = 0
                    z[pos] = span - 1
                    pos += 1
                    gap -= span
                v[pos] = code
                z[pos] = gap
                cursor[k] = pos + 1
                last[k] = q


# Error codes of the decoding kernel; the Python side turns them into messages.
_OK, _ROW_PAST_ROUND, _ROW_PAST_PE, _PAD_Z, _PAD_LAST = 0, 1, 2, 3, 4


@numba.njit(cache=True)
def _walk_entries(v, z, pe_offsets, ptr, m, ncols, n_pes, regs, rounds, span, codes, last_col,
                  rows):
    """Decode every slice: fill ``codes`` (m x ncols, skipped when it has no rows), the last
    column's codes in ``last_col`` (the bias; skipped when empty) and each entry's local row.

    Returns (error code, PE, slice, entry) so that a corrupt file is reported
    precisely; (0, -1, -1, -1) when the layout is canonical and in range.
    """
    for p in range(n_pes):
        n_local = (m - p + n_pes - 1) // n_pes if p < m else 0
        base = pe_offsets[p]
        for r in range(rounds):
            for j in range(ncols):
                s = r * ncols + j
                a = ptr[p, s]
                b = ptr[p, s + 1]
                q = -1
                for e in range(a, b):
                    q += z[base + e] + 1
                    if q >= regs:
                        return _ROW_PAST_ROUND, p, s, e
                    lr = r * regs + q
                    if lr >= n_local:
                        return _ROW_PAST_PE, p, s, e
                    rows[base + e] = lr
                    code = v[base + e]
                    if code != 0:
                        if codes.shape[0]:
                            codes[lr * n_pes + p, j] = code
                        if j == ncols - 1 and last_col.shape[0]:
                            last_col[lr * n_pes + p] = code
                    else:
                        # Padding exists only to bridge a long gap: canonical padding has
                        # the largest z and is followed by another entry of its slice.
                        if z[base + e] != span - 1:
                            return _PAD_Z, p, s, e
                        if e == b - 1:
                            return _PAD_LAST, p, s, e
    return _OK, -1, -1, -1


@numba.njit(cache=True)
def _pack(v, z, pe_offsets, ibits, entry_bits, epw, word_bytes, word_start, out):
    """Pack entries ``(v << ibits) | z`` LSB-first into each PE's words (little-endian)."""
    n_pes = pe_offsets.shape[0] - 1
    for p in range(n_pes):
        for e in range(pe_offsets[p + 1] - pe_offsets[p]):
            g = pe_offsets[p] + e
            value = (np.int64(v[g]) << ibits) | np.int64(z[g])
            word = word_start[p] + e // epw
            bit = word * word_bytes * 8 + (e % epw) * entry_bits
            for b in range(entry_bits):
                if (value >> b) & 1:
                    pos = bit + b
                    out[pos >> 3] |= np.uint8(1 << (pos & 7))


@numba.njit(cache=True)
def _unpack(data, pe_offsets, ibits, entry_bits, epw, word_bytes, word_start, v, z):
    n_pes = pe_offsets.shape[0] - 1
    zmask = (1 << ibits) - 1
    for p in range(n_pes):
        for e in range(pe_offsets[p + 1] - pe_offsets[p]):
            g = pe_offsets[p] + e
            word = word_start[p] + e // epw
            bit = word * word_bytes * 8 + (e % epw) * entry_bits
            value = 0
            for b in range(entry_bits):
                pos = bit + b
                if (data[pos >> 3] >> (pos & 7)) & 1:
                    value |= 1 << b
            v[g] = value >> ibits
            z[g] = value & zmask


@dataclass(frozen=True, eq=False)
class EncodedLayer:
    """One fully connected layer as EIE stores it, for a given PE count ``N`` and ``R``.

    ``n`` counts the inputs a user passes; with a bias, column ``n`` of the code
    matrix holds it and the simulator appends the constant activation 1.
    """

    name: str
    m: int
    n: int
    has_bias: bool
    wbits: int
    ibits: int
    n_pes: int
    regs: int
    word_bits: int
    codebook: np.ndarray  # float64[2**wbits], codebook[0] == 0
    v: np.ndarray  # uint8[E] codes of all PEs' entries, PE 0 first
    z: np.ndarray  # uint8[E] relative row indices
    pe_offsets: np.ndarray  # int64[N + 1] start of each PE's entries in v / z
    ptr: np.ndarray  # int64[N, rounds * ncols + 1] column pointers, relative to the PE

    @property
    def ncols(self) -> int:
        """Columns of the code matrix: the inputs plus the bias column."""
        return self.n + int(self.has_bias)

    @property
    def rounds(self) -> int:
        return n_rounds(self.m, self.n_pes, self.regs)

    @property
    def entry_bits(self) -> int:
        return self.wbits + self.ibits

    @property
    def entries_per_word(self) -> int:
        return self.word_bits // self.entry_bits

    @property
    def fw(self) -> int:
        """Fraction bits of the codebook's Q format."""
        return codebook_frac_bits(self.codebook)

    @cached_property
    def codebook_fix(self) -> np.ndarray:
        return to_fixed(self.codebook, self.fw)

    @property
    def entries(self) -> int:
        """Stored entries, padding included."""
        return int(self.pe_offsets[-1])

    @property
    def kept(self) -> int:
        """Non-padding entries: the kept weights (bias included)."""
        return int(np.count_nonzero(self.v))

    @property
    def entries_per_pe(self) -> np.ndarray:
        return np.diff(self.pe_offsets)

    @property
    def words_per_pe(self) -> np.ndarray:
        """Sparse-matrix SRAM words each PE needs (whole words)."""
        return -(-self.entries_per_pe // self.entries_per_word)

    @cached_property
    def slice_counts(self) -> np.ndarray:
        """Entries of each (PE, round * ncols + column) slice, padding included.

        Cached: both engines gather from it once per segment, and a tiled layer has many."""
        counts = np.diff(self.ptr, axis=1)
        counts.flags.writeable = False
        return counts

    def _walk(self, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        # Only a bias column is kept: without one, m is bounded by no section of a file.
        last_col = np.zeros(self.m if self.has_bias else 0, np.uint8)
        rows = np.zeros(len(self.v), np.int32)  # local rows < 2**24: half the bandwidth of int64
        err, p, s, e = _walk_entries(
            self.v, self.z, self.pe_offsets, self.ptr, self.m, self.ncols, self.n_pes,
            self.regs, self.rounds, 1 << self.ibits, codes, last_col, rows,
        )
        if err != _OK:
            r, j = divmod(int(s), self.ncols)
            where = f"layer {self.name!r}, PE {p}, round {r}, column {j}, entry {e}"
            raise EieFormatError(f"{where}: {_WALK_ERRORS[err]}")
        return last_col, rows

    @cached_property
    def _walked(self) -> tuple[np.ndarray, np.ndarray]:
        """(last column's codes, local row of every entry), without building the dense matrix."""
        last_col, rows = self._walk(np.zeros((0, 0), np.uint8))
        last_col.flags.writeable = False
        rows.flags.writeable = False
        return last_col, rows

    def decode(self) -> np.ndarray:
        """The exact inverse of encoding: the ``m x ncols`` code matrix (uint8)."""
        if self.m * self.ncols > MAX_DENSE_CELLS:
            raise EieInputError(f"layer {self.name!r}: {self.m} x {self.ncols} is too large to "
                                f"decode to a dense matrix (limit {MAX_DENSE_CELLS} cells)")
        codes = np.zeros((self.m, self.ncols), np.uint8)
        self._walk(codes)
        return codes

    @property
    def entry_rows(self) -> np.ndarray:
        """Local row (within its PE) of every entry, padding entries included."""
        return self._walked[1]

    def bias_codes(self) -> np.ndarray | None:
        """The bias column's codes (m), or None without a bias."""
        return self._walked[0] if self.has_bias else None

    def dense(self) -> np.ndarray:
        """The quantized float matrix ``codebook[codes]`` (m x ncols, bias column last)."""
        return self.codebook[self.decode()]

    def weights_and_bias(self) -> tuple[np.ndarray, np.ndarray | None]:
        """The quantized weights (m x n) and bias (m) as floats."""
        d = self.dense()
        return (d[:, : self.n], d[:, self.n]) if self.has_bias else (d, None)

    def word_starts(self) -> np.ndarray:
        """First word of each PE in the concatenated packed image."""
        return np.concatenate([[0], np.cumsum(self.words_per_pe)]).astype(np.int64)

    def packed(self) -> np.ndarray:
        """All PEs' sparse-matrix SRAM images, concatenated (uint8, whole words)."""
        starts = self.word_starts()
        out = np.zeros(int(starts[-1]) * (self.word_bits // 8), np.uint8)
        _pack(self.v, self.z, self.pe_offsets, self.ibits, self.entry_bits,
              self.entries_per_word, self.word_bits // 8, starts, out)
        return out

    def reencode(self, *, n_pes: int, regs: int, word_bits: int) -> EncodedLayer:
        """The same quantized layer encoded for another PE count, R or word width."""
        return encode_layer(self.decode(), self.codebook, n=self.n, has_bias=self.has_bias,
                            wbits=self.wbits, ibits=self.ibits, n_pes=n_pes, regs=regs,
                            word_bits=word_bits, name=self.name)

    def validate(self) -> None:
        """Check every structural invariant; raise EieFormatError naming the first violated one."""
        check_layout_fields(self.name, m=self.m, n=self.n, wbits=self.wbits, ibits=self.ibits,
                            n_pes=self.n_pes, regs=self.regs, word_bits=self.word_bits)
        where = f"layer {self.name!r}"
        if self.codebook.shape != (1 << self.wbits,):
            raise EieFormatError(f"{where}: codebook has {self.codebook.size} values, "
                                 f"expected 2**wbits = {1 << self.wbits}")
        if not np.all(np.isfinite(self.codebook)):
            raise EieFormatError(f"{where}: codebook holds NaN or inf")
        try:
            codebook_frac_bits(self.codebook)
        except EieInputError as e:
            raise EieFormatError(f"{where}: codebook: {e}") from None
        if self.codebook[0] != 0.0:
            raise EieFormatError(f"{where}: codebook[0] is {self.codebook[0]!r}; code 0 is reserved for 0")
        if len(self.v) != len(self.z):
            raise EieFormatError(f"{where}: {len(self.v)} codes but {len(self.z)} indices")
        off = self.pe_offsets
        if off.shape != (self.n_pes + 1,) or off[0] != 0 or np.any(np.diff(off) < 0) \
                or off[-1] != len(self.v):
            raise EieFormatError(f"{where}: PE offsets must rise from 0 to the entry count "
                                 f"{len(self.v)} over {self.n_pes + 1} values")
        slices = self.rounds * self.ncols
        if self.ptr.shape != (self.n_pes, slices + 1):
            raise EieFormatError(f"{where}: pointer table is {self.ptr.shape}, expected "
                                 f"({self.n_pes}, {slices + 1}) for {self.rounds} round(s)")
        if np.any(self.ptr[:, 0] != 0) or np.any(np.diff(self.ptr, axis=1) < 0) \
                or np.any(self.ptr[:, -1] != np.diff(off)):
            raise EieFormatError(f"{where}: column pointers must rise from 0 to each PE's entry count")
        if len(self.v) and (int(self.v.max()) >= 1 << self.wbits or int(self.z.max()) >= 1 << self.ibits):
            raise EieFormatError(f"{where}: an entry's code or index exceeds wbits/ibits")
        self._walked  # noqa: B018 -- walks every slice and raises on a non-canonical layout


_WALK_ERRORS = {
    _ROW_PAST_ROUND: "relative indices run past the round's destination registers",
    _ROW_PAST_PE: "relative indices run past the PE's last row",
    _PAD_Z: "a padding entry (code 0) has an index below the maximum",
    _PAD_LAST: "a padding entry (code 0) ends its column slice",
}


def check_layout_fields(name: str, *, m: int, n: int, wbits: int, ibits: int, n_pes: int,
                        regs: int, word_bits: int, error: type[Exception] = EieFormatError) -> None:
    """Range checks shared by the encoder (user input) and the file loader (untrusted file)."""
    where = f"layer {name!r}"
    checks = [
        ("m (outputs)", m, 1, 1 << 24), ("n (inputs)", n, 1, 1 << 24),
        ("wbits", wbits, *WBITS_RANGE), ("ibits", ibits, *IBITS_RANGE),
        ("n_pes", n_pes, 1, 1 << 16), ("regs", regs, 1, 1 << 16), ("word_bits", word_bits, 8, 4096),
    ]
    for field, value, lo, hi in checks:
        if not isinstance(value, int | np.integer) or not lo <= value <= hi:
            raise error(f"{where}: {field} = {value!r} is outside {lo}..{hi}")
    if word_bits % 8 or word_bits < wbits + ibits:
        raise error(f"{where}: word_bits = {word_bits} must be a multiple of 8 holding at least one "
                    f"{wbits + ibits}-bit entry")


def encode_layer(codes: np.ndarray, codebook: np.ndarray, *, n: int, has_bias: bool, wbits: int = 4,
                 ibits: int = 4, n_pes: int = 64, regs: int = 64, word_bits: int = 64,
                 name: str = "layer") -> EncodedLayer:
    """Encode an ``m x ncols`` code matrix (bias column last) for ``n_pes`` PEs."""
    codes = np.asarray(codes)
    if codes.ndim != 2 or codes.dtype != np.uint8:
        raise EieInputError(f"layer {name!r}: codes must be a 2-D uint8 matrix, got {codes.dtype} "
                            f"with shape {codes.shape}")
    m, ncols = codes.shape
    if ncols != n + int(has_bias):
        raise EieInputError(f"layer {name!r}: code matrix has {ncols} columns, expected "
                            f"{n + int(has_bias)} (n = {n}, bias = {has_bias})")
    check_layout_fields(name, m=m, n=n, wbits=wbits, ibits=ibits, n_pes=n_pes, regs=regs,
                        word_bits=word_bits, error=EieInputError)
    if m and ncols and int(codes.max()) >= 1 << wbits:
        raise EieInputError(f"layer {name!r}: a code is {int(codes.max())}, beyond {wbits}-bit codes")
    rounds = n_rounds(m, n_pes, regs)
    span = 1 << ibits
    codes_f = np.asfortranarray(codes)
    counts = _count_slices(codes_f, n_pes, regs, rounds, span)
    ptr = np.zeros((n_pes, rounds * ncols + 1), np.int64)
    np.cumsum(counts, axis=1, out=ptr[:, 1:])
    pe_offsets = np.concatenate([[0], np.cumsum(ptr[:, -1])]).astype(np.int64)
    v = np.zeros(int(pe_offsets[-1]), np.uint8)
    z = np.zeros(int(pe_offsets[-1]), np.uint8)
    _fill_slices(codes_f, n_pes, regs, rounds, span, pe_offsets, ptr, v, z)
    return EncodedLayer(name=name, m=m, n=n, has_bias=has_bias, wbits=wbits, ibits=ibits,
                        n_pes=n_pes, regs=regs, word_bits=word_bits,
                        codebook=np.asarray(codebook, np.float64), v=v, z=z,
                        pe_offsets=pe_offsets, ptr=ptr)


def pack_entries(v: np.ndarray, z: np.ndarray, *, ibits: int, entry_bits: int, word_bits: int) -> bytes:
    """One run of entries packed into whole words from word 0, as an SRAM image holds them."""
    epw = word_bits // entry_bits
    out = np.zeros(-(-len(v) // epw) * (word_bits // 8), np.uint8)
    _pack(np.asarray(v, np.uint8), np.asarray(z, np.uint8), np.array([0, len(v)], np.int64), ibits,
          entry_bits, epw, word_bits // 8, np.zeros(1, np.int64), out)
    return out.tobytes()


@numba.njit(cache=True)
def _pack_bits(values, width, out):  # pragma: no cover - numba
    """Value ``i`` into bits ``i * width ...`` of ``out``, LSB-first (bit ``b`` of byte ``k`` is
    bit ``8k + b``); ``out`` must be zeroed and hold the bits."""
    for i in range(values.shape[0]):
        x = np.int64(values[i])
        pos = i * width
        for b in range(width):
            if (x >> b) & 1:
                bit = pos + b
                out[bit >> 3] |= np.uint8(1 << (bit & 7))


@numba.njit(cache=True)
def _unpack_bits(data, width, out):  # pragma: no cover - numba
    """Inverse of :func:`_pack_bits` for ``out.shape[0]`` values; ``data`` must hold their bits."""
    for i in range(out.shape[0]):
        pos = i * width
        x = np.int64(0)
        for b in range(width):
            bit = pos + b
            if (data[bit >> 3] >> (bit & 7)) & 1:
                x |= np.int64(1) << b
        out[i] = x


def pack_bits(values: np.ndarray, width: int) -> bytes:
    """Non-negative integers below ``2**width`` as ``width``-bit fields, LSB-first, whole bytes
    (pointers in a .eie file and in a DRAM image of the pointer SRAM)."""
    values = np.ascontiguousarray(values, np.int64).ravel()
    if values.size and (int(values.min()) < 0 or int(values.max()) >> width):
        raise EieInputError(f"pack_bits: values {int(values.min())}..{int(values.max())} do not fit "
                            f"{width} bits")
    out = np.zeros((values.size * width + 7) // 8, np.uint8)
    _pack_bits(values, width, out)
    return out.tobytes()


def unpack_bits(data: bytes | memoryview, width: int, count: int, dtype: type = np.int64) -> np.ndarray:
    """The inverse of :func:`pack_bits`: ``count`` fields of ``width`` bits."""
    raw = np.frombuffer(data, np.uint8)
    if len(raw) * 8 < width * count:
        raise EieFormatError(f"{len(raw)} bytes cannot hold {count} values of {width} bits")
    out = np.empty(count, dtype)
    _unpack_bits(raw, width, out)
    return out


def unpack_entries(data: np.ndarray, entries_per_pe: np.ndarray, *, wbits: int, ibits: int,
                   word_bits: int) -> tuple[np.ndarray, np.ndarray]:
    """Inverse of :meth:`EncodedLayer.packed`; ``data`` must hold exactly the PEs' whole words."""
    entry_bits = wbits + ibits
    epw = word_bits // entry_bits
    words = -(-np.asarray(entries_per_pe, np.int64) // epw)
    starts = np.concatenate([[0], np.cumsum(words)]).astype(np.int64)
    if len(data) != int(starts[-1]) * (word_bits // 8):
        raise EieFormatError(f"packed entries hold {len(data)} bytes, expected "
                             f"{int(starts[-1]) * (word_bits // 8)} for "
                             f"{int(np.sum(entries_per_pe))} entries")
    pe_offsets = np.concatenate([[0], np.cumsum(entries_per_pe)]).astype(np.int64)
    v = np.zeros(int(pe_offsets[-1]), np.uint8)
    z = np.zeros(int(pe_offsets[-1]), np.uint8)
    _unpack(np.asarray(data, np.uint8), pe_offsets, ibits, entry_bits, epw, word_bits // 8, starts, v, z)
    return v, z
