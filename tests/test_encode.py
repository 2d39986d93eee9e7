"""EIE encoding: the papers' examples, properties of encode/decode, packing, and the .eie file."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from compressor import eiefile
from compressor.encode import encode_layer, unpack_entries
from compressor.errors import EieFormatError, EieInputError
from compressor.model import EncodedModel
from tests.oracle import slice_table


def test_paper_column_example():
    """Deep Compression / EIE: [0,0,1,2,0 x18,3] -> v=[1,2,0,3], z=[2,0,15,2]."""
    col = np.array([0, 0, 1, 2] + [0] * 18 + [3], np.uint8)[:, None]
    layer = encode_layer(col, np.linspace(0, 1, 16), n=1, has_bias=False, n_pes=1, regs=64)
    assert layer.v.tolist() == [1, 2, 0, 3]
    assert layer.z.tolist() == [2, 0, 15, 2]
    assert layer.ptr.tolist() == [[0, 4]]


def test_eie_figure_3_pe0():
    """EIE paper Fig. 2/3: 16 x 8 matrix on 4 PEs; PE0's virtual weights, indices, pointers."""
    nonzeros = [(0, 0), (8, 0), (12, 0), (4, 1), (0, 2), (12, 2), (0, 4), (4, 4), (0, 5), (12, 5),
                (0, 6), (8, 7), (12, 7)]  # PE0's rows 0, 4, 8, 12 in column order, as printed
    w = np.zeros((16, 8), np.uint8)
    for k, (i, j) in enumerate(nonzeros):
        w[i, j] = 1 + k % 15
    w[1, 0] = w[2, 3] = w[7, 6] = w[3, 5] = 9  # rows of other PEs do not disturb PE0's arrays
    layer = encode_layer(w, np.linspace(0, 1, 16), n=8, has_bias=False, n_pes=4, regs=64)
    pe0 = slice(layer.pe_offsets[0], layer.pe_offsets[1])
    assert layer.v[pe0].tolist() == [w[i, j] for i, j in nonzeros]  # the "virtual weights"
    assert layer.z[pe0].tolist() == [0, 1, 0, 1, 0, 2, 0, 0, 0, 2, 0, 2, 0]
    assert layer.ptr[0].tolist() == [0, 3, 4, 6, 6, 8, 10, 11, 13]


@st.composite
def layers(draw):
    m = draw(st.integers(1, 70))
    n = draw(st.integers(1, 40))
    wbits = draw(st.integers(2, 8))
    ibits = draw(st.integers(1, 6))
    density = draw(st.sampled_from([0.0, 0.02, 0.1, 0.5, 1.0]))
    seed = draw(st.integers(0, 2**31))
    rng = np.random.default_rng(seed)
    codes = ((rng.random((m, n)) < density) * rng.integers(1, 1 << wbits, (m, n))).astype(np.uint8)
    word = draw(st.sampled_from([w for w in (16, 32, 64, 128, 512) if w >= wbits + ibits]))
    return codes, wbits, ibits, draw(st.integers(1, 80)), draw(st.integers(1, 20)), word


@settings(max_examples=60, deadline=None)
@given(layers(), st.booleans())
def test_encode_decode_roundtrip_and_file(case, bias):
    codes, wbits, ibits, n_pes, regs, word = case
    n = codes.shape[1] - int(bias) if codes.shape[1] > 1 or not bias else 1
    if bias and codes.shape[1] == 1:
        codes = np.hstack([codes, codes])
    cb = np.concatenate([[0.0], np.linspace(-1, 1, (1 << wbits) - 1)])
    layer = encode_layer(codes, cb, n=n, has_bias=bias, wbits=wbits, ibits=ibits, n_pes=n_pes,
                         regs=regs, word_bits=word)
    layer.validate()
    assert np.array_equal(layer.decode(), codes)
    # Entries per slice (padding included) agree with the independent reference's count.
    tab = slice_table(_ref(codes, cb, bias, wbits, ibits), n_pes, regs)
    assert np.array_equal(layer.slice_counts, tab["count"].reshape(n_pes, -1))
    # Packing is the exact inverse of unpacking, whole words per PE.
    packed = layer.packed()
    assert len(packed) == int(layer.words_per_pe.sum()) * word // 8
    v, z = unpack_entries(packed, layer.entries_per_pe, wbits=wbits, ibits=ibits, word_bits=word)
    assert np.array_equal(v, layer.v) and np.array_equal(z, layer.z)
    # Save -> load gives the identical layer.
    back = eiefile.from_bytes(eiefile.to_bytes(EncodedModel((layer,), fa=7))).layers[0]
    for f in ("v", "z", "pe_offsets", "ptr", "codebook"):
        assert np.array_equal(getattr(back, f), getattr(layer, f)), f
    assert (back.m, back.n, back.has_bias, back.n_pes, back.regs, back.word_bits) == (
        layer.m, layer.n, layer.has_bias, layer.n_pes, layer.regs, layer.word_bits)


def _ref(codes, cb, bias, wbits, ibits):
    from tests.oracle import RefLayer

    return RefLayer(codes, cb, bias, wbits=wbits, ibits=ibits)


def test_padding_rule_costs_g_div_16():
    """A gap of g zero rows costs g // 16 padding entries (ibits = 4)."""
    for g in (0, 14, 15, 16, 17, 31, 32, 33, 100):
        col = np.zeros((g + 1, 1), np.uint8)
        col[g] = 7
        layer = encode_layer(col, np.linspace(0, 1, 16), n=1, has_bias=False, n_pes=1, regs=512)
        assert layer.entries == 1 + g // 16, g
        assert layer.kept == 1


def test_rounds_split_rows_per_round():
    codes = np.ones((10, 3), np.uint8)
    layer = encode_layer(codes, np.linspace(0, 1, 16), n=3, has_bias=False, n_pes=2, regs=2)
    assert layer.rounds == 3  # 5 local rows per PE, 2 registers
    assert layer.ptr.shape == (2, 3 * 3 + 1)
    assert layer.slice_counts[0].tolist() == [2, 2, 2, 2, 2, 2, 1, 1, 1]


def test_more_pes_than_rows_is_valid():
    codes = np.ones((3, 4), np.uint8)
    layer = encode_layer(codes, np.linspace(0, 1, 16), n=4, has_bias=False, n_pes=8, regs=64)
    assert layer.entries_per_pe.tolist() == [4, 4, 4, 0, 0, 0, 0, 0]
    assert np.array_equal(layer.decode(), codes)


@pytest.mark.parametrize("kwargs,msg", [
    ({"wbits": 9}, "wbits = 9 is outside 2..8"),
    ({"wbits": 1}, "wbits = 1 is outside 2..8"),
    ({"n_pes": 0}, "n_pes = 0"),
    ({"word_bits": 12}, "multiple of 8"),
    ({"n": 5}, "has 4 columns, expected 5"),
])
def test_encoder_rejects_bad_arguments(kwargs, msg):
    codes = np.ones((4, 4), np.uint8)
    args = {"n": 4, "has_bias": False, **kwargs}
    with pytest.raises(EieInputError, match=msg):
        encode_layer(codes, np.zeros(16), **args)


def test_code_beyond_wbits_is_refused():
    with pytest.raises(EieInputError, match="beyond 2-bit codes"):
        encode_layer(np.full((2, 2), 5, np.uint8), np.zeros(4), n=2, has_bias=False, wbits=2)


def _small_file() -> bytes:
    rng = np.random.default_rng(3)
    codes = ((rng.random((30, 21)) < 0.3) * rng.integers(1, 16, (30, 21))).astype(np.uint8)
    layer = encode_layer(codes, np.linspace(-1, 1, 16) * (np.arange(16) > 0), n=20, has_bias=True,
                         n_pes=4, regs=8)
    return eiefile.to_bytes(EncodedModel((layer,), fa=12, provenance={"seed": 3}))


def test_truncated_file_is_a_clear_error(tmp_path):
    data = _small_file()
    for cut in (0, 10, 30, len(data) // 2, len(data) - 1):
        p = tmp_path / f"cut{cut}.eie"
        p.write_bytes(data[:cut])
        with pytest.raises(EieFormatError, match=f"cut{cut}.eie"):
            eiefile.load(p)


def test_bit_flip_is_caught_by_a_checksum(tmp_path):
    data = bytearray(_small_file())
    data[-5] ^= 0x10  # inside the last section
    p = tmp_path / "flip.eie"
    p.write_bytes(bytes(data))
    with pytest.raises(EieFormatError, match="checksum mismatch"):
        eiefile.load(p)


def test_not_an_eie_file(tmp_path):
    p = tmp_path / "x.eie"
    p.write_bytes(b"PK\x03\x04" + b"\0" * 64)
    with pytest.raises(EieFormatError, match="not a .eie file"):
        eiefile.load(p)
    with pytest.raises(EieFormatError, match="no such file"):
        eiefile.load(tmp_path / "missing.eie")


def test_save_refuses_to_overwrite(tmp_path):
    model = eiefile.from_bytes(_small_file())
    p = tmp_path / "m.eie"
    eiefile.save(model, p)
    before = p.read_bytes()
    with pytest.raises(EieInputError, match="--force"):
        eiefile.save(model, p)
    eiefile.save(model, p, force=True)
    assert p.read_bytes() == before  # same model, same bytes
