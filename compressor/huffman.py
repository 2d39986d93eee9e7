"""Canonical Huffman coding of small non-negative integer symbols.

Deep Compression stores the 4-bit weight codes and the relative (gap) indices
of a pruned, quantized layer Huffman-coded. This module builds optimal code
lengths (length-limited by package-merge when needed), assigns canonical
codes (so a stream only has to store the code *lengths*), and encodes/decodes
with numba kernels.

Streams are parsed from user files, so :func:`decode` treats every field of a
:class:`HuffmanStream` as untrusted: each inconsistency raises
:class:`~compressor.errors.EieFormatError` naming the problem, and no
allocation is sized by a number the payload cannot justify.

Bit order: codes are written MSB-first into the payload, the last byte is
zero-padded. Canonical order is (length, symbol), as in DEFLATE.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from numbers import Integral
from typing import Any

import numba
import numpy as np

from compressor.errors import EieFormatError, EieInputError

__all__ = [
    "MAX_CODE_LEN",
    "MAX_SYMBOLS",
    "HuffmanStream",
    "code_lengths",
    "canonical_codes",
    "encode",
    "decode",
    "validate_lengths",
    "mean_code_length",
    "entropy_bits",
]

MAX_CODE_LEN = 24
# Symbols are stored as uint16 after decoding, and lengths tables of up to 64 Ki
# entries are small enough to keep in a file header.
MAX_SYMBOLS = 65536

# Decode lookup width. 2**11 int32 entries (8 KiB) stay in L1 cache and cover
# every code of a typical 16-symbol alphabet; longer codes take a slow path.
_TABLE_BITS = 11

# Status codes returned by the decode kernel (turned into messages in Python).
_OK = 0
_ERR_OUT_OF_BITS = 1
_ERR_BAD_CODE = 2
_ERR_LEFTOVER = 3


@dataclass(frozen=True, eq=False)
class HuffmanStream:
    """A Huffman-coded symbol sequence plus the code lengths needed to decode it.

    ``eq=False`` because the generated field-wise ``==`` cannot compare numpy
    arrays; :meth:`__eq__` below compares them element-wise instead.
    """

    lengths: np.ndarray  # uint8[n_symbols]; code length per symbol, 0 = symbol absent
    count: int  # number of symbols encoded
    nbits: int  # number of payload bits used
    payload: np.ndarray  # uint8[ceil(nbits/8)], bits MSB-first, last byte zero-padded

    def __eq__(self, other: object) -> bool:
        """Field-wise equality, comparing arrays by dtype and contents."""
        if not isinstance(other, HuffmanStream):
            return NotImplemented
        for f in fields(self):
            a, b = getattr(self, f.name), getattr(other, f.name)
            if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
                if not (
                    isinstance(a, np.ndarray)
                    and isinstance(b, np.ndarray)
                    and a.dtype == b.dtype
                    and np.array_equal(a, b)
                ):
                    return False
            elif a != b:
                return False
        return True


# --------------------------------------------------------------------------- numba kernels


@numba.njit(cache=True)
def _huffman_depths(w: np.ndarray) -> np.ndarray:  # pragma: no cover - numba
    """Depth of each leaf of the Huffman tree over ascending weights ``w`` (len >= 2).

    Two-queue construction: leaves are consumed in sorted order and internal
    nodes are created with non-decreasing weights, so both queues stay sorted
    and the two smallest items are always at the queue heads. On a tie the
    leaf is taken first, which together with the stable sort by symbol index
    makes the tree deterministic.
    """
    m = w.shape[0]
    n_nodes = 2 * m - 1
    weight = np.zeros(n_nodes, np.int64)
    parent = np.zeros(n_nodes, np.int64)
    weight[:m] = w
    leaf = 0
    node = m
    for nxt in range(m, n_nodes):
        for _ in range(2):
            if leaf < m and (node >= nxt or weight[leaf] <= weight[node]):
                pick = leaf
                leaf += 1
            else:
                pick = node
                node += 1
            parent[pick] = nxt
            weight[nxt] += weight[pick]
    depth = np.zeros(n_nodes, np.int64)
    # Parents are always created after their children, so one reverse sweep
    # from the root sets every depth.
    for j in range(n_nodes - 2, -1, -1):
        depth[j] = depth[parent[j]] + 1
    return depth[:m].copy()


@numba.njit(cache=True)
def _package_merge(w: np.ndarray, max_len: int) -> np.ndarray:  # pragma: no cover - numba
    """Optimal code lengths under ``max_len`` for ascending weights ``w``.

    Package-merge (Larmore & Hirschberg): level r holds the leaves merged with
    pairs ("packages") of the level below, all sorted by weight. The first
    2m-2 items of the top level form the optimal solution; a leaf's code length
    is the number of selected items it appears in. Because every level's
    selection is a prefix and leaves are merged in weight order, the selected
    leaves at each level are leaves 0..c-1, so only leaf/package flags are
    kept per level (O(m * max_len) bytes) instead of leaf multisets.
    Requires 2 <= m <= 2**max_len.
    """
    m = w.shape[0]
    cap = 2 * m
    is_leaf = np.zeros((max_len, cap), np.uint8)
    sizes = np.zeros(max_len, np.int64)
    cur = w.copy()
    cur_n = m
    is_leaf[0, :m] = 1
    sizes[0] = m
    for r in range(1, max_len):
        npk = cur_n // 2
        nxt = np.empty(m + npk, np.int64)
        i = 0
        j = 0
        k = 0
        while i < m or j < npk:
            if j < npk:
                pw = cur[2 * j] + cur[2 * j + 1]
            else:
                pw = 0
            if j >= npk or (i < m and w[i] <= pw):
                nxt[k] = w[i]
                is_leaf[r, k] = 1
                i += 1
            else:
                nxt[k] = pw
                j += 1
            k += 1
        cur = nxt
        cur_n = k
        sizes[r] = k
    lengths = np.zeros(m, np.int64)
    sel = 2 * m - 2
    for r in range(max_len - 1, -1, -1):
        if sel > sizes[r]:
            # Impossible when m <= 2**max_len; signal failure instead of
            # reading past the level.
            lengths[:] = -1
            return lengths
        c = 0
        for k in range(sel):
            c += is_leaf[r, k]
        for k in range(c):
            lengths[k] += 1
        sel = 2 * (sel - c)
    return lengths


@numba.njit(cache=True)
def _encode_kernel(
    symbols: np.ndarray, codes: np.ndarray, lens: np.ndarray, out: np.ndarray
) -> int:  # pragma: no cover - numba
    """Write the codes of ``symbols`` MSB-first into ``out``; return bytes written.

    ``out`` must hold exactly ceil(total bits / 8) bytes. Bits collect in a
    64-bit accumulator and leave in 32-bit chunks: with <= 31 pending bits
    plus a <= 24-bit code nothing overflows, and whole words are only written
    once complete, so the writes never pass the exact-size buffer.
    """
    acc = np.uint64(0)
    nb = 0
    pos = 0
    for i in range(symbols.shape[0]):
        s = symbols[i]
        ln = lens[s]
        acc = (acc << np.uint64(ln)) | np.uint64(codes[s])
        nb += np.int64(ln)
        if nb >= 32:
            nb -= 32
            word = acc >> np.uint64(nb)
            out[pos] = np.uint8((word >> np.uint64(24)) & np.uint64(0xFF))
            out[pos + 1] = np.uint8((word >> np.uint64(16)) & np.uint64(0xFF))
            out[pos + 2] = np.uint8((word >> np.uint64(8)) & np.uint64(0xFF))
            out[pos + 3] = np.uint8(word & np.uint64(0xFF))
            pos += 4
    while nb > 0:
        if nb >= 8:
            nb -= 8
            out[pos] = np.uint8((acc >> np.uint64(nb)) & np.uint64(0xFF))
        else:
            out[pos] = np.uint8((acc << np.uint64(8 - nb)) & np.uint64(0xFF))
            nb = 0
        pos += 1
    return pos


@numba.njit(cache=True)
def _build_table(
    lens: np.ndarray, codes: np.ndarray, table_bits: int
) -> np.ndarray:  # pragma: no cover - numba
    """Lookup on the next ``table_bits`` bits: entry = symbol << 5 | length, -1 = slow path."""
    table = np.full(1 << table_bits, -1, np.int32)
    for s in range(lens.shape[0]):
        ln = np.int64(lens[s])
        if ln == 0 or ln > table_bits:
            continue
        shift = table_bits - ln
        start = np.int64(codes[s]) << shift
        entry = np.int32((s << 5) | ln)
        for k in range(start, start + (np.int64(1) << shift)):
            table[k] = entry
    return table


@numba.njit(cache=True)
def _decode_kernel(
    payload: np.ndarray,
    nbits: int,
    count: int,
    table: np.ndarray,
    table_bits: int,
    len_count: np.ndarray,
    sorted_syms: np.ndarray,
    max_len: int,
    out: np.ndarray,
) -> tuple[int, int, int]:  # pragma: no cover - numba
    """Decode ``count`` symbols into ``out``; return (status, symbols done, bits used).

    Bits sit left-aligned in a 64-bit accumulator holding >= 32 valid bits
    before each symbol (codes are <= 24 bits). Bytes past the payload read as
    zero through an explicit bounds check (numba does not check indices and
    the payload is untrusted); running past ``nbits`` is caught by the bit
    counter. Table misses fall back to canonical first-code-per-length
    decoding (as in zlib's puff.c), which also detects unassigned patterns.
    """
    n_bytes = payload.shape[0]
    acc = np.uint64(0)
    nb = 0
    byte_pos = 0
    used = 0
    tshift = np.uint64(64 - table_bits)
    for i in range(count):
        if nb < 32:
            while nb <= 56:
                if byte_pos < n_bytes:
                    acc |= np.uint64(payload[byte_pos]) << np.uint64(56 - nb)
                byte_pos += 1
                nb += 8
        entry = table[acc >> tshift]
        if entry >= 0:
            ln = entry & 31
            sym = entry >> 5
        else:
            ln = 0
            sym = -1
            code = 0
            first = 0
            index = 0
            for L in range(1, max_len + 1):
                code |= np.int64((acc >> np.uint64(64 - L)) & np.uint64(1))
                cnt = len_count[L]
                if code - first < cnt:
                    sym = sorted_syms[index + code - first]
                    ln = L
                    break
                index += cnt
                first = (first + cnt) << 1
                code <<= 1
            if sym < 0:
                if used + max_len > nbits:
                    # The unmatched prefix runs into the end of the data:
                    # report truncation rather than a bad code.
                    return _ERR_OUT_OF_BITS, i, used
                return _ERR_BAD_CODE, i, used
        if used + ln > nbits:
            return _ERR_OUT_OF_BITS, i, used
        used += ln
        acc <<= np.uint64(ln)
        nb -= ln
        out[i] = sym
    if used != nbits:
        return _ERR_LEFTOVER, count, used
    return _OK, count, used


# --------------------------------------------------------------------------- validation


def _check_int(value: Any, name: str, exc: type[Exception]) -> int:
    """Return ``value`` as a Python int, rejecting bools, floats and other types."""
    if isinstance(value, bool | np.bool_) or not isinstance(value, Integral):
        raise exc(f"{name} must be an integer, got {type(value).__name__} {value!r}")
    return int(value)


def _check_n_symbols(n_symbols: Any) -> int:
    n = _check_int(n_symbols, "Huffman: n_symbols", EieInputError)
    if not 1 <= n <= MAX_SYMBOLS:
        raise EieInputError(f"Huffman: n_symbols must be in 1..{MAX_SYMBOLS}, got {n}")
    return n


def _check_symbols(symbols: Any, n_symbols: int) -> np.ndarray:
    """Validate user symbols and return them as uint8/uint16 (fewer kernel signatures)."""
    if not isinstance(symbols, np.ndarray):
        raise EieInputError(f"Huffman: symbols must be a numpy array, got {type(symbols).__name__}")
    if symbols.ndim != 1:
        raise EieInputError(f"Huffman: symbols must be 1-D, got shape {symbols.shape}")
    if symbols.dtype.kind not in "iu":
        raise EieInputError(f"Huffman: symbols must be integers, got dtype {symbols.dtype}")
    if symbols.size:
        lo = int(symbols.min())
        hi = int(symbols.max())
        if lo < 0 or hi >= n_symbols:
            bad = lo if lo < 0 else hi
            raise EieInputError(
                f"Huffman: symbol value {bad} outside [0, {n_symbols}) (n_symbols={n_symbols})"
            )
    dtype = np.uint8 if n_symbols <= 256 else np.uint16
    return np.ascontiguousarray(symbols.astype(dtype, copy=False))


def _check_max_len(max_len: Any) -> int:
    ml = _check_int(max_len, "Huffman: max_len", EieInputError)
    if not 1 <= ml <= MAX_CODE_LEN:
        raise EieInputError(f"Huffman: max_len must be in 1..{MAX_CODE_LEN}, got {ml}")
    return ml


def validate_lengths(lengths: np.ndarray) -> None:
    """Check a code-length table read from a file; raise EieFormatError if unusable.

    Requires a 1-D integer array of 1..65536 entries with values in
    0..MAX_CODE_LEN whose Kraft sum is exactly 1 (a complete prefix code), or
    at most 1 when only one symbol is present (that code cannot be complete).
    An over-subscribed code is ambiguous; an incomplete multi-symbol code
    wastes bits and is never produced by :func:`encode`, so both are rejected.
    No symbol present (all zeros) is valid: the stream of an empty array.
    """
    if not isinstance(lengths, np.ndarray):
        raise EieFormatError(
            f"Huffman stream: lengths must be a numpy array, got {type(lengths).__name__}"
        )
    if lengths.ndim != 1:
        raise EieFormatError(f"Huffman stream: lengths must be 1-D, got shape {lengths.shape}")
    if lengths.dtype.kind not in "iu":
        raise EieFormatError(
            f"Huffman stream: lengths must have an integer dtype, got {lengths.dtype}"
        )
    if not 1 <= lengths.size <= MAX_SYMBOLS:
        raise EieFormatError(
            f"Huffman stream: lengths table has {lengths.size} entries, expected 1..{MAX_SYMBOLS}"
        )
    lo = int(lengths.min())
    hi = int(lengths.max())
    if lo < 0 or hi > MAX_CODE_LEN:
        bad = lo if lo < 0 else hi
        raise EieFormatError(
            f"Huffman stream: code length {bad} outside 0..{MAX_CODE_LEN} (MAX_CODE_LEN)"
        )
    present = lengths[lengths > 0].astype(np.int64)
    if present.size == 0:
        return
    # Kraft sum scaled by 2**MAX_CODE_LEN: exact integer arithmetic, and at most
    # 65536 * 2**23 so it fits comfortably in int64.
    kraft = int(np.sum(np.int64(1) << (MAX_CODE_LEN - present)))
    full = 1 << MAX_CODE_LEN
    if kraft > full:
        raise EieFormatError(
            f"Huffman stream: code lengths are over-subscribed (Kraft sum "
            f"{kraft / full:.6g} > 1), not a prefix code"
        )
    if kraft < full and present.size > 1:
        raise EieFormatError(
            f"Huffman stream: code lengths are incomplete (Kraft sum {kraft / full:.6g} < 1) "
            f"with {present.size} symbols; only a single-symbol code may be incomplete"
        )


# --------------------------------------------------------------------------- public API


def _lengths_from_freq(freq: np.ndarray, max_len: int) -> np.ndarray:
    """Optimal (length-limited) code lengths for a frequency vector."""
    n = freq.shape[0]
    lengths = np.zeros(n, np.uint8)
    present = np.flatnonzero(freq)
    if present.size == 0:
        return lengths
    if present.size == 1:
        # A zero-length code cannot be written; one bit per symbol is the
        # cheapest self-delimiting choice.
        lengths[present[0]] = 1
        return lengths
    if present.size > (1 << max_len):
        raise EieInputError(
            f"Huffman: {present.size} distinct symbols cannot be coded with "
            f"codes of at most {max_len} bits"
        )
    # Stable sort keeps equal frequencies in symbol order: deterministic ties.
    order = present[np.argsort(freq[present], kind="stable")]
    w = freq[order].astype(np.int64)
    depths = _huffman_depths(w)
    if int(depths.max()) > max_len:
        depths = _package_merge(w, max_len)
        if int(depths.min()) < 1:  # pragma: no cover - guarded by the check above
            raise RuntimeError("package-merge failed despite 2**max_len >= symbols")
    lengths[order] = depths.astype(np.uint8)
    return lengths


def code_lengths(symbols: np.ndarray, n_symbols: int, max_len: int = MAX_CODE_LEN) -> np.ndarray:
    """Optimal Huffman code length per symbol (uint8, 0 = absent) for ``symbols``.

    Plain Huffman when its longest code fits in ``max_len`` bits, otherwise
    package-merge, which is optimal among codes limited to ``max_len``. A single
    distinct symbol gets length 1; an empty input gives all zeros.
    """
    n = _check_n_symbols(n_symbols)
    ml = _check_max_len(max_len)
    syms = _check_symbols(symbols, n)
    freq = np.bincount(syms, minlength=n)
    return _lengths_from_freq(freq, ml)


def canonical_codes(lengths: np.ndarray) -> np.ndarray:
    """Canonical code per symbol (uint32, right-aligned in ``lengths[s]`` bits).

    Codes are assigned in (length, symbol) order, consecutive within a length,
    as in DEFLATE; so the lengths alone define the code. Absent symbols get 0.
    """
    validate_lengths(lengths)
    lens = lengths.astype(np.int64)
    codes = np.zeros(lens.shape[0], np.uint32)
    bl_count = np.bincount(lens, minlength=MAX_CODE_LEN + 1)
    bl_count[0] = 0
    next_code = np.zeros(MAX_CODE_LEN + 2, np.int64)
    code = 0
    for bits in range(1, MAX_CODE_LEN + 1):
        code = (code + int(bl_count[bits - 1])) << 1
        next_code[bits] = code
    present = np.flatnonzero(lens)
    # lexsort: last key is primary -> by length, then symbol index.
    order = present[np.lexsort((present, lens[present]))]
    sorted_lens = lens[order]
    starts = np.searchsorted(sorted_lens, sorted_lens, side="left")
    rank = np.arange(order.size) - starts
    codes[order] = (next_code[sorted_lens] + rank).astype(np.uint32)
    return codes


def encode(symbols: np.ndarray, n_symbols: int, max_len: int = MAX_CODE_LEN) -> HuffmanStream:
    """Huffman-code a 1-D array of symbols in [0, n_symbols) into a :class:`HuffmanStream`.

    Deterministic: the same array and arguments always give identical bytes.
    """
    n = _check_n_symbols(n_symbols)
    ml = _check_max_len(max_len)
    syms = _check_symbols(symbols, n)
    freq = np.bincount(syms, minlength=n)
    lengths = _lengths_from_freq(freq, ml)
    codes = canonical_codes(lengths)
    nbits = int(np.dot(freq.astype(np.int64), lengths.astype(np.int64)))
    payload = np.zeros((nbits + 7) // 8, np.uint8)
    written = _encode_kernel(syms, codes, lengths, payload)
    if written != payload.size:  # pragma: no cover - internal consistency
        raise RuntimeError(f"Huffman encoder wrote {written} bytes, expected {payload.size}")
    return HuffmanStream(lengths=lengths, count=int(syms.size), nbits=nbits, payload=payload)


def _validate_stream(stream: HuffmanStream) -> tuple[np.ndarray, int, int, np.ndarray]:
    """Check every header field of an untrusted stream; return normalized fields."""
    if not isinstance(stream, HuffmanStream):
        raise EieFormatError(
            f"Huffman stream: expected a HuffmanStream, got {type(stream).__name__}"
        )
    validate_lengths(stream.lengths)
    lengths = stream.lengths.astype(np.uint8)
    count = _check_int(stream.count, "Huffman stream: count", EieFormatError)
    nbits = _check_int(stream.nbits, "Huffman stream: nbits", EieFormatError)
    payload = stream.payload
    if not isinstance(payload, np.ndarray) or payload.ndim != 1 or payload.dtype != np.uint8:
        desc = (
            f"{payload.dtype} array of shape {payload.shape}"
            if isinstance(payload, np.ndarray)
            else type(payload).__name__
        )
        raise EieFormatError(f"Huffman stream: payload must be a 1-D uint8 array, got {desc}")
    if count < 0:
        raise EieFormatError(f"Huffman stream: count is negative ({count})")
    if nbits < 0:
        raise EieFormatError(f"Huffman stream: nbits is negative ({nbits})")
    if nbits > 8 * payload.size:
        raise EieFormatError(
            f"Huffman stream: nbits {nbits} exceeds the {8 * payload.size} bits of a "
            f"{payload.size}-byte payload (truncated payload?)"
        )
    if payload.size != (nbits + 7) // 8:
        raise EieFormatError(
            f"Huffman stream: payload has {payload.size} bytes but nbits {nbits} "
            f"needs exactly {(nbits + 7) // 8}; trailing bytes are not allowed"
        )
    if nbits % 8 and int(payload[-1]) & ((1 << (8 - nbits % 8)) - 1):
        raise EieFormatError("Huffman stream: padding bits after nbits in last byte are not zero")
    present = lengths[lengths > 0]
    if present.size == 0:
        if count or nbits:
            raise EieFormatError(
                f"Huffman stream: lengths table has no symbols but count={count}, nbits={nbits}"
            )
        return lengths, count, nbits, payload
    min_len = int(present.min())
    max_len = int(present.max())
    # Every code uses between min_len and max_len bits, so count is bounded by
    # the payload size before anything of size count is allocated.
    if count * min_len > nbits:
        raise EieFormatError(
            f"Huffman stream: count {count} is too large for nbits {nbits} "
            f"(each symbol needs at least {min_len} bit(s))"
        )
    if nbits > count * max_len:
        raise EieFormatError(
            f"Huffman stream: nbits {nbits} leaves unused bits: {count} symbols "
            f"use at most {count * max_len} bits"
        )
    return lengths, count, nbits, payload


def decode(stream: HuffmanStream) -> np.ndarray:
    """Decode an untrusted :class:`HuffmanStream` back to its symbols.

    Returns uint8 when the alphabet has <= 256 symbols, else uint16. Any
    malformed field, truncated payload, unassigned bit pattern or unused
    trailing bit raises :class:`~compressor.errors.EieFormatError`.
    """
    lengths, count, nbits, payload = _validate_stream(stream)
    out_dtype = np.uint8 if lengths.size <= 256 else np.uint16
    if count == 0:
        return np.zeros(0, out_dtype)
    codes = canonical_codes(lengths)
    max_len = int(lengths.max())
    table_bits = min(max_len, _TABLE_BITS)
    table = _build_table(lengths, codes, table_bits)
    len_count = np.bincount(lengths, minlength=MAX_CODE_LEN + 1).astype(np.int64)
    len_count[0] = 0
    present = np.flatnonzero(lengths)
    sorted_syms = present[np.lexsort((present, lengths[present]))].astype(np.int64)
    out = np.empty(count, out_dtype)
    status, done, used = _decode_kernel(
        payload, nbits, count, table, table_bits, len_count, sorted_syms, max_len, out
    )
    if status == _ERR_OUT_OF_BITS:
        raise EieFormatError(
            f"Huffman stream: payload ends after {done} of {count} symbols (bit {used} of {nbits})"
        )
    if status == _ERR_BAD_CODE:
        raise EieFormatError(
            f"Huffman stream: invalid bit pattern at bit {used} (symbol {done} of {count}) "
            f"matches no code"
        )
    if status == _ERR_LEFTOVER:
        raise EieFormatError(
            f"Huffman stream: {nbits - used} unused bits after the last of {count} symbols "
            f"(decoded {used} of nbits {nbits})"
        )
    return out


def mean_code_length(stream: HuffmanStream) -> float:
    """Average payload bits per symbol (0.0 for an empty stream); for size accounting."""
    count = int(stream.count)
    return float(stream.nbits) / count if count else 0.0


def entropy_bits(symbols: np.ndarray, n_symbols: int) -> float:
    """Empirical (zeroth-order) entropy of ``symbols`` in bits per symbol.

    The lower bound any symbol-by-symbol code can reach; Huffman is within
    one bit of it. 0.0 for empty or single-valued input.
    """
    n = _check_n_symbols(n_symbols)
    syms = _check_symbols(symbols, n)
    if syms.size == 0:
        return 0.0
    freq = np.bincount(syms, minlength=n)
    p = freq[freq > 0] / syms.size
    return float(max(0.0, -np.sum(p * np.log2(p))))
