"""Tests for compressor.huffman: optimality, length limiting, canonical codes, hostile streams.

Expected values come from independent references written here (a heapq
Huffman, a brute-force search over all length vectors, RFC 1951's canonical
code example, hand-built bit patterns), never from the implementation itself.
"""

from __future__ import annotations

import dataclasses
import heapq
import math
from collections import Counter

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compressor.errors import EieFormatError, EieInputError
from compressor.huffman import (
    MAX_CODE_LEN,
    HuffmanStream,
    canonical_codes,
    code_lengths,
    decode,
    encode,
    entropy_bits,
    mean_code_length,
    validate_lengths,
)

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# ----------------------------------------------------------------------------- references


def ref_huffman_lengths(freq: list[int] | np.ndarray) -> dict[int, int]:
    """Textbook heapq Huffman: code length per present symbol (unlimited length)."""
    items = [(int(f), i, [i]) for i, f in enumerate(freq) if f > 0]
    if len(items) == 1:
        return {items[0][1]: 1}
    depth = {i: 0 for _, i, _ in items}
    heapq.heapify(items)
    tie = len(freq)
    while len(items) > 1:
        w1, _, s1 = heapq.heappop(items)
        w2, _, s2 = heapq.heappop(items)
        for s in s1 + s2:
            depth[s] += 1
        heapq.heappush(items, (w1 + w2, tie, s1 + s2))
        tie += 1
    return depth


def ref_cost(freq: np.ndarray, lengths: dict[int, int] | np.ndarray) -> int:
    if isinstance(lengths, dict):
        return sum(int(freq[s]) * ln for s, ln in lengths.items())
    return int(np.dot(np.asarray(freq, np.int64), np.asarray(lengths, np.int64)))


def brute_force_cost(freq: np.ndarray, max_len: int) -> int:
    """Minimum total bits over *every* length vector in 1..max_len^m obeying Kraft."""
    m = len(freq)
    grid = np.indices((max_len,) * m, dtype=np.int8).reshape(m, -1) + 1
    kraft = np.zeros(grid.shape[1], np.int64)
    cost = np.zeros(grid.shape[1], np.int64)
    for i in range(m):
        row = grid[i].astype(np.int64)
        kraft += np.int64(1) << (max_len - row)
        cost += int(freq[i]) * row
    return int(cost[kraft <= (1 << max_len)].min())


def flatten_heuristic_cost(freq: np.ndarray, max_len: int) -> int:
    """Simple length-limiting heuristic: halve frequencies until Huffman fits."""
    f = np.asarray(freq, np.int64).copy()
    while True:
        lens = ref_huffman_lengths(f)
        if max(lens.values()) <= max_len:
            return ref_cost(freq, lens)
        f = np.where(f > 0, (f + 1) // 2, 0)


def ref_entropy(x: np.ndarray) -> float:
    n = len(x)
    return -sum(c / n * math.log2(c / n) for c in Counter(x.tolist()).values())


def kraft_sum(lengths: np.ndarray) -> float:
    ln = lengths[lengths > 0].astype(np.float64)
    return float(np.sum(2.0**-ln))


def symbols_from_freq(freq: list[int] | np.ndarray) -> np.ndarray:
    return np.repeat(np.arange(len(freq)), np.asarray(freq, np.int64))


def fibonacci(n: int) -> list[int]:
    out = [1, 1]
    while len(out) < n:
        out.append(out[-1] + out[-2])
    return out[:n]


@st.composite
def symbol_arrays(draw, max_alphabet: int = 256, max_len: int = 5000):
    """(symbols, n_symbols): uniform, skewed (Dirichlet / geometric) or single-valued."""
    n_symbols = draw(st.integers(1, max_alphabet))
    size = draw(st.integers(0, max_len))
    kind = draw(st.sampled_from(["uniform", "dirichlet", "geometric", "single"]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if kind == "uniform":
        x = rng.integers(0, n_symbols, size)
    elif kind == "dirichlet":
        p = rng.dirichlet(np.full(n_symbols, 0.3))
        x = rng.choice(n_symbols, size, p=p)
    elif kind == "geometric":
        x = np.minimum(rng.geometric(0.4, size) - 1, n_symbols - 1)
    else:
        x = np.full(size, rng.integers(0, n_symbols))
    dtype = draw(st.sampled_from([np.uint8, np.int16, np.int32, np.int64]))
    return x.astype(dtype), n_symbols


# ----------------------------------------------------------------------------- roundtrip


@FAST
@given(symbol_arrays())
def test_roundtrip_random(case):
    x, n = case
    s = encode(x, n)
    y = decode(s)
    assert y.dtype == np.uint8
    assert y.shape == x.shape
    np.testing.assert_array_equal(y, x)
    assert s.count == x.size
    assert s.payload.dtype == np.uint8
    assert s.payload.size == (s.nbits + 7) // 8
    assert s.lengths.shape == (n,)
    # absent symbols get no code; present ones do
    present = np.zeros(n, bool)
    present[x] = True
    np.testing.assert_array_equal(s.lengths > 0, present)


@pytest.mark.parametrize("n_symbols", [257, 1000, 65536])
def test_roundtrip_large_alphabet_uses_uint16(n_symbols):
    rng = np.random.default_rng(1)
    x = np.concatenate([rng.zipf(1.3, 20000) % n_symbols, [0, n_symbols - 1]])
    y = decode(encode(x, n_symbols))
    assert y.dtype == np.uint16
    np.testing.assert_array_equal(y, x)


def test_empty_array():
    s = encode(np.zeros(0, np.uint8), 16)
    assert (s.count, s.nbits, s.payload.size) == (0, 0, 0)
    assert not s.lengths.any()
    assert decode(s).size == 0
    assert mean_code_length(s) == 0.0
    np.testing.assert_array_equal(code_lengths(np.zeros(0, np.int64), 5), np.zeros(5))


def test_single_symbol_is_one_bit_per_symbol():
    x = np.full(1001, 7, np.uint8)
    s = encode(x, 16)
    assert s.lengths[7] == 1 and s.lengths.sum() == 1
    assert s.nbits == 1001
    assert mean_code_length(s) == 1.0
    assert s.payload.size == 126 and not s.payload.any()  # code "0", zero padding
    np.testing.assert_array_equal(decode(s), x)


def test_deterministic_bytes_and_dtype_independent():
    rng = np.random.default_rng(5)
    x = rng.choice(16, 10000, p=np.full(16, 1 / 16))
    a, b = encode(x, 16), encode(x.copy(), 16)
    c = encode(x.astype(np.uint8), 16)
    assert a == b == c
    assert a.payload.tobytes() == c.payload.tobytes()


def test_equal_frequency_ties_break_by_symbol_index():
    # Three equal-frequency symbols: lengths {1, 2, 2}; the tie is resolved by
    # symbol index, and the choice must not depend on which symbols they are.
    for syms in ([0, 1, 2], [3, 5, 9]):
        x = np.repeat(syms, 10)
        lens = code_lengths(x, 10)[syms]
        assert sorted(lens.tolist()) == [1, 2, 2]
        assert lens.tolist() == code_lengths(x[::-1].copy(), 10)[syms].tolist()


# ----------------------------------------------------------------------------- optimality


@FAST
@given(symbol_arrays())
def test_mean_length_within_one_bit_of_entropy(case):
    x, n = case
    s = encode(x, n)
    distinct = np.unique(x).size
    if x.size == 0:
        assert s.nbits == 0
        return
    h = ref_entropy(x)
    assert entropy_bits(x, n) == pytest.approx(h, abs=1e-9)
    mean = mean_code_length(s)
    assert mean == s.nbits / x.size
    if distinct == 1:
        assert mean == 1.0
    else:
        assert h - 1e-9 <= mean < h + 1


@FAST
@given(symbol_arrays(max_alphabet=64, max_len=3000))
def test_total_bits_match_reference_huffman(case):
    x, n = case
    if np.unique(x).size < 2:
        return
    freq = np.bincount(x, minlength=n)
    ref = ref_huffman_lengths(freq)
    lens = code_lengths(x, n)
    assert ref_cost(freq, lens) == ref_cost(freq, ref)
    assert encode(x, n).nbits == ref_cost(freq, ref)


def test_dyadic_distribution_hits_entropy_exactly():
    freq = [8, 4, 2, 1, 1]
    x = symbols_from_freq(freq)
    np.testing.assert_array_equal(code_lengths(x, 5), [1, 2, 3, 4, 4])
    assert mean_code_length(encode(x, 5)) == pytest.approx(ref_entropy(x))


# ----------------------------------------------------------------------------- length limit


def test_fibonacci_frequencies_are_length_limited():
    freq = np.array(fibonacci(30), np.int64)
    unlimited = ref_huffman_lengths(freq)
    assert max(unlimited.values()) > MAX_CODE_LEN  # the limiter is really exercised
    x = symbols_from_freq(freq)
    rng = np.random.default_rng(2)
    rng.shuffle(x)
    lens = code_lengths(x, 30)
    assert lens.max() <= MAX_CODE_LEN
    assert lens.min() >= 1
    assert kraft_sum(lens) <= 1.0
    validate_lengths(lens)
    cost = ref_cost(freq, lens)
    assert cost >= ref_cost(freq, unlimited)
    assert cost <= flatten_heuristic_cost(freq, MAX_CODE_LEN)
    s = encode(x, 30)
    assert s.nbits == cost
    np.testing.assert_array_equal(decode(s), x)


def test_length_limit_matches_brute_force_10_symbols():
    freq = np.array(fibonacci(10), np.int64)
    assert max(ref_huffman_lengths(freq).values()) == 9  # limit of 4 really binds
    x = symbols_from_freq(freq)
    lens = code_lengths(x, 10, max_len=4)
    assert lens.max() <= 4 and kraft_sum(lens) <= 1.0
    assert ref_cost(freq, lens) == brute_force_cost(freq, 4)
    assert ref_cost(freq, lens) <= flatten_heuristic_cost(freq, 4)
    np.testing.assert_array_equal(decode(encode(x, 10, max_len=4)), x)


@FAST
@given(
    st.lists(st.integers(1, 1000), min_size=2, max_size=7),
    st.integers(3, 4),
)
def test_length_limit_matches_brute_force_random(freq_list, max_len):
    freq = np.array(freq_list, np.int64)
    x = symbols_from_freq(freq)
    lens = code_lengths(x, len(freq), max_len=max_len)
    assert lens.max() <= max_len
    assert kraft_sum(lens) <= 1.0
    assert ref_cost(freq, lens) == brute_force_cost(freq, max_len)


def test_too_many_symbols_for_max_len():
    x = np.arange(5)
    with pytest.raises(EieInputError, match="distinct symbols"):
        code_lengths(x, 5, max_len=2)
    assert code_lengths(np.arange(4), 4, max_len=2).tolist() == [2, 2, 2, 2]


# ----------------------------------------------------------------------------- canonical


def test_canonical_codes_rfc1951_example():
    # RFC 1951 section 3.2.2: lengths (3,3,3,3,3,2,4,4) for A..H.
    lens = np.array([3, 3, 3, 3, 3, 2, 4, 4], np.uint8)
    expected = [0b010, 0b011, 0b100, 0b101, 0b110, 0b00, 0b1110, 0b1111]
    assert canonical_codes(lens).tolist() == expected
    assert canonical_codes(lens).dtype == np.uint32


@FAST
@given(symbol_arrays(max_len=2000))
def test_canonical_codes_prefix_free_and_ordered(case):
    x, n = case
    lens = code_lengths(x, n).astype(np.int64)
    codes = canonical_codes(lens.astype(np.uint8)).astype(np.int64)
    present = np.flatnonzero(lens)
    assert np.all(codes[present] < (np.int64(1) << lens[present]))
    assert np.all(codes[lens == 0] == 0)
    for i in present:
        for j in present:
            if i != j and lens[i] <= lens[j]:
                assert codes[j] >> (lens[j] - lens[i]) != codes[i], (i, j)
    # canonical: left-aligned codes increase in (length, symbol) order
    order = sorted(present, key=lambda s: (lens[s], s))
    aligned = [codes[s] << (MAX_CODE_LEN - lens[s]) for s in order]
    assert aligned == sorted(aligned) and len(set(aligned)) == len(aligned)


# ----------------------------------------------------------------------------- input errors


@pytest.mark.parametrize(
    ("symbols", "n_symbols", "match"),
    [
        (np.zeros((2, 2), np.uint8), 4, "1-D"),
        (np.array([0.0, 1.0]), 4, "integers"),
        (np.array([True, False]), 4, "integers"),
        (np.array([0, -1]), 4, "-1"),
        (np.array([0, 4]), 4, "4"),
        ([0, 1], 4, "numpy array"),
        (np.array([0]), 0, "n_symbols"),
        (np.array([0]), 65537, "n_symbols"),
        (np.array([0]), 2.0, "n_symbols"),
    ],
)
def test_encode_rejects_bad_input(symbols, n_symbols, match):
    with pytest.raises(EieInputError, match=match):
        encode(symbols, n_symbols)


@pytest.mark.parametrize("max_len", [0, 25, True])
def test_encode_rejects_bad_max_len(max_len):
    with pytest.raises(EieInputError, match="max_len"):
        encode(np.array([0, 1]), 2, max_len=max_len)


# ----------------------------------------------------------------------------- corrupt streams


def skewed_stream() -> tuple[np.ndarray, HuffmanStream]:
    rng = np.random.default_rng(3)
    x = rng.choice(8, 1500, p=[0.6, 0.2, 0.1, 0.04, 0.03, 0.01, 0.01, 0.01])
    s = encode(x, 8)
    assert s.lengths.min() >= 1 and s.lengths[0] == 1
    return x, s


def replace(s: HuffmanStream, **kw) -> HuffmanStream:
    return dataclasses.replace(s, **kw)


def test_truncated_payload_reports_symbols_decoded():
    _, s = skewed_stream()
    keep = s.payload.size - 20
    assert 8 * keep >= s.count  # passes the header checks; the kernel must notice
    t = replace(s, payload=s.payload[:keep].copy(), nbits=8 * keep)
    with pytest.raises(EieFormatError, match=r"payload ends after \d+ of 1500 symbols"):
        decode(t)


def test_truncated_payload_with_stale_nbits():
    _, s = skewed_stream()
    with pytest.raises(EieFormatError, match="nbits .* exceeds"):
        decode(replace(s, payload=s.payload[:-3].copy()))


def test_nbits_too_large():
    _, s = skewed_stream()
    with pytest.raises(EieFormatError, match="exceeds"):
        decode(replace(s, nbits=s.nbits + 8 * s.payload.size))


def test_count_too_large_is_rejected_before_allocation():
    _, s = skewed_stream()
    with pytest.raises(EieFormatError, match="count .* too large"):
        decode(replace(s, count=10**15))
    with pytest.raises(EieFormatError, match="count .* too large"):
        decode(replace(s, count=s.nbits + 1))


def test_count_too_small_leaves_unused_bits():
    _, s = skewed_stream()
    with pytest.raises(EieFormatError, match="unused bits"):
        decode(replace(s, count=s.count - 1))


def test_over_subscribed_lengths():
    lens = np.array([1, 1, 2], np.uint8)
    with pytest.raises(EieFormatError, match="over-subscribed"):
        validate_lengths(lens)
    s = HuffmanStream(lengths=lens, count=2, nbits=2, payload=np.array([0x40], np.uint8))
    with pytest.raises(EieFormatError, match="over-subscribed"):
        decode(s)


def test_incomplete_multi_symbol_code():
    with pytest.raises(EieFormatError, match="incomplete"):
        validate_lengths(np.array([1, 2, 0], np.uint8))


@pytest.mark.parametrize("bad", [25, 255])
def test_code_length_above_limit(bad):
    lens = np.array([1, bad], np.uint8)
    s = HuffmanStream(lengths=lens, count=1, nbits=1, payload=np.zeros(1, np.uint8))
    with pytest.raises(EieFormatError, match=f"code length {bad}"):
        decode(s)


def test_negative_and_non_integer_lengths():
    with pytest.raises(EieFormatError, match="code length -1"):
        validate_lengths(np.array([1, -1, 1], np.int64))
    with pytest.raises(EieFormatError, match="integer dtype"):
        validate_lengths(np.array([1.0, 1.0]))
    with pytest.raises(EieFormatError, match="entries"):
        validate_lengths(np.zeros(0, np.uint8))


def test_unassigned_bit_pattern_single_symbol():
    # Single symbol, length 1: code "0"; the pattern "1" matches nothing.
    lens = np.array([0, 1, 0], np.uint8)
    ok = HuffmanStream(lengths=lens, count=3, nbits=3, payload=np.array([0x00], np.uint8))
    np.testing.assert_array_equal(decode(ok), [1, 1, 1])
    bad = HuffmanStream(lengths=lens, count=3, nbits=3, payload=np.array([0x20], np.uint8))
    with pytest.raises(EieFormatError, match="bit 2 .* matches no code"):
        decode(bad)


def test_unassigned_bit_pattern_long_code_slow_path():
    # A 15-bit single code is longer than the lookup table: the slow path must
    # both decode "000000000000000" and reject a pattern with a 1 in it.
    lens = np.array([15], np.uint8)
    ok = HuffmanStream(lengths=lens, count=1, nbits=15, payload=np.zeros(2, np.uint8))
    np.testing.assert_array_equal(decode(ok), [0])
    bad = HuffmanStream(lengths=lens, count=1, nbits=15, payload=np.array([0x00, 0x10], np.uint8))
    with pytest.raises(EieFormatError, match="matches no code"):
        decode(bad)


def test_trailing_bytes_and_nonzero_padding():
    _, s = skewed_stream()
    extra = np.concatenate([s.payload, np.zeros(1, np.uint8)])
    with pytest.raises(EieFormatError, match="trailing bytes"):
        decode(replace(s, payload=extra))
    assert s.nbits % 8, "fixture should end mid-byte"
    dirty = s.payload.copy()
    dirty[-1] |= 1
    with pytest.raises(EieFormatError, match="padding"):
        decode(replace(s, payload=dirty))


def test_empty_code_table_with_symbols():
    s = HuffmanStream(
        lengths=np.zeros(4, np.uint8), count=5, nbits=0, payload=np.zeros(0, np.uint8)
    )
    with pytest.raises(EieFormatError, match="no symbols"):
        decode(s)


@pytest.mark.parametrize(
    ("field", "value", "match"),
    [
        ("count", -1, "negative"),
        ("nbits", -8, "negative"),
        ("count", 3.0, "count must be an integer"),
        ("nbits", "12", "nbits must be an integer"),
        ("payload", np.zeros(3, np.int64), "uint8"),
        ("payload", b"\x00\x00", "uint8"),
        ("lengths", [1, 1], "numpy array"),
        ("lengths", np.ones((1, 2), np.uint8), "1-D"),
    ],
)
def test_malformed_fields(field, value, match):
    s = HuffmanStream(
        lengths=np.array([1, 1], np.uint8), count=2, nbits=2, payload=np.array([0x40], np.uint8)
    )
    np.testing.assert_array_equal(decode(s), [0, 1])
    with pytest.raises(EieFormatError, match=match):
        decode(replace(s, **{field: value}))


@FAST
@given(
    symbol_arrays(max_alphabet=40, max_len=800),
    st.data(),
)
def test_corrupted_streams_decode_or_raise_format_error(case, data):
    x, n = case
    s = encode(x, n)
    payload = s.payload.copy()
    lengths = s.lengths.copy()
    count, nbits = s.count, s.nbits
    for _ in range(data.draw(st.integers(1, 3))):
        what = data.draw(st.sampled_from(["flip", "truncate", "count", "nbits", "length"]))
        if what == "flip" and payload.size:
            pos = data.draw(st.integers(0, 8 * payload.size - 1))
            payload[pos // 8] ^= np.uint8(0x80 >> (pos % 8))
        elif what == "truncate":
            keep = data.draw(st.integers(0, payload.size))
            payload = payload[:keep].copy()
            if data.draw(st.booleans()):
                nbits = min(nbits, 8 * keep)
        elif what == "count":
            count = max(0, count + data.draw(st.integers(-3, 3)))
        elif what == "nbits":
            nbits = max(0, nbits + data.draw(st.integers(-9, 9)))
        else:
            i = data.draw(st.integers(0, lengths.size - 1))
            lengths[i] = data.draw(st.integers(0, 30))
    t = HuffmanStream(lengths=lengths, count=count, nbits=nbits, payload=payload)
    try:
        y = decode(t)
    except EieFormatError as e:
        assert str(e).startswith("Huffman stream:")
    else:
        assert y.shape == (count,)
        assert y.size == 0 or int(y.max()) < lengths.size
        assert np.all(lengths[y] > 0)
