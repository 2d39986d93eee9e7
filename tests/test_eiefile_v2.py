"""The ``.eie`` format 2: each layer stored once, in the Huffman-coded form the size table counts.

Round trips on layers of every shape the encoder makes (empty PEs, gaps bridged by
padding only, one entry, 2..8-bit codes, 1..8-bit indices, many rounds, bias codes of
0, several layers); a file's size against :mod:`compressor.sizes`; format-1 files
(a checked-in fixture and the private format-1 writer) and files of an older
modelling contract still load; AlexNet fc6's shape through ``eie inspect``.
Corrupted format-2 files are in ``tests/test_fuzz.py``.
"""

from __future__ import annotations

import json
import re
import struct
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from compressor import eiefile, sizes
from compressor.encode import EncodedLayer, encode_layer
from compressor.errors import EieFormatError
from compressor.model import EncodedModel
from compressor.pipeline import CompressOptions, compress_layer, model_of

DATA = Path(__file__).resolve().parent / "data"
V1_FIXTURE = DATA / "v1_two_layers.eie.bin"  # not .eie: .gitignore drops *.eie
PREAMBLE = struct.Struct("<8sHHII")


def layer_of(rng: np.random.Generator, m: int, n: int, *, bias: bool = False, density: float = 0.2,
             wbits: int = 4, ibits: int = 4, n_pes: int = 4, regs: int = 64, word_bits: int | None = None,
             name: str = "layer", bias_codes: np.ndarray | None = None) -> EncodedLayer:
    """A random layer; ``bias_codes`` fixes the bias column."""
    ncols = n + int(bias)
    codes = ((rng.random((m, ncols)) < density) * rng.integers(1, 1 << wbits, (m, ncols))).astype(np.uint8)
    if bias_codes is not None:
        codes[:, -1] = bias_codes
    codebook = np.concatenate([[0.0], np.sort(rng.normal(0, 0.3, (1 << wbits) - 1))])
    word_bits = word_bits or 8 * -(-(wbits + ibits) // 8)
    return encode_layer(codes, codebook, n=n, has_bias=bias, wbits=wbits, ibits=ibits, n_pes=n_pes,
                        regs=regs, word_bits=word_bits, name=name)


def v1_fixture_model() -> EncodedModel:
    """The model in ``tests/data/v1_two_layers.eie.bin``, written by the format-1 writer of commit 33f3172."""
    rng = np.random.default_rng(20240613)
    codes_a = ((rng.random((12, 9)) < 0.4) * rng.integers(1, 16, (12, 9))).astype(np.uint8)
    codes_a[3, 8] = 0  # a zero bias code
    cb_a = np.concatenate([[0.0], np.sort(rng.normal(0, 0.1, 15))])
    a = encode_layer(codes_a, cb_a, n=8, has_bias=True, wbits=4, ibits=4, n_pes=4, regs=2, name="fc-a")
    codes_b = ((rng.random((5, 13)) < 0.3) * rng.integers(1, 8, (5, 13))).astype(np.uint8)
    codes_b[:, 12] = [0, 3, 0, 0, 7]  # bias with zero codes and a gap bridged by padding
    cb_b = np.concatenate([[0.0], np.sort(rng.normal(0, 0.5, 7))])
    b = encode_layer(codes_b, cb_b, n=12, has_bias=True, wbits=3, ibits=1, n_pes=1, regs=64,
                     word_bits=16, name="fc-b")
    return EncodedModel((a, b), fa=9, input_after_relu=True,
                        provenance={"contract_version": 1, "package_version": "0.1.0", "git_commit": None,
                                    "seed": 7})


def assert_same_model(got: EncodedModel, want: EncodedModel) -> None:
    """Every field of every layer, the packed SRAM words and bias codes, and the model's own."""
    assert (got.fa, got.input_after_relu, got.provenance) == (want.fa, want.input_after_relu,
                                                              want.provenance)
    assert len(got.layers) == len(want.layers)
    for g, w in zip(got.layers, want.layers, strict=True):
        assert (g.name, g.m, g.n, g.has_bias, g.wbits, g.ibits, g.n_pes, g.regs, g.word_bits) == (
            w.name, w.m, w.n, w.has_bias, w.wbits, w.ibits, w.n_pes, w.regs, w.word_bits)
        for f in ("v", "z", "ptr", "pe_offsets", "codebook"):
            a, b = getattr(g, f), getattr(w, f)
            assert a.dtype == b.dtype and np.array_equal(a, b), f
        assert np.array_equal(g.packed(), w.packed())
        if w.has_bias:
            assert np.array_equal(g.bias_codes(), w.bias_codes())


def file_parts(data: bytes) -> tuple[int, dict, list[tuple[int, int]]]:
    """(header bytes incl. preamble, header, (offset, nbytes) of every section in file order)."""
    _, fmt, _, head_len, _ = PREAMBLE.unpack_from(data, 0)
    header = json.loads(data[PREAMBLE.size:PREAMBLE.size + head_len])
    order = eiefile._SECTIONS if fmt == 2 else eiefile._SECTIONS_V1
    spans = [(meta["sections"][s]["offset"], meta["sections"][s]["nbytes"])
             for meta in header["layers"] for s in order]
    return PREAMBLE.size + head_len, header, spans


def check_size_accounting(model: EncodedModel, data: bytes) -> None:
    """The sections hold exactly the size table's bytes; the rest is header and alignment."""
    head, _, spans = file_parts(data)
    table = sizes.size_table(model)
    assert sum(n for _, n in spans) == int(table.loc["total", "bytes_stored"])
    ends = [head] + [off + n for off, n in spans[:-1]]
    gaps = [off - end for (off, _), end in zip(spans, ends, strict=True)]
    assert all(0 <= g < 8 for g in gaps), gaps  # alignment padding only
    assert len(data) == head + sum(gaps) + int(table.loc["total", "bytes_stored"])
    # Per layer as well: bytes_huffman is the codebook (counted at 32 bits there, stored at 64),
    # pointers and streams; the bias apart.
    per_layer = len(eiefile._SECTIONS)
    for i, layer in enumerate(model.layers):
        s = sizes.layer_size(layer)
        mine = dict(zip(eiefile._SECTIONS, (n for _, n in spans[i * per_layer:(i + 1) * per_layer]),
                        strict=True))
        assert mine["bias"] == s.bias_bytes_pq
        assert mine["codebook"] == sizes.stored_codebook_bytes(layer) == 2 * s.codebook_bytes
        assert mine["ptr"] == s.pointer_bytes
        assert sum(mine.values()) - mine["bias"] - mine["codebook"] + s.codebook_bytes == s.bytes_huffman


def round_trip(model: EncodedModel) -> bytes:
    data = eiefile.to_bytes(model)
    assert PREAMBLE.unpack_from(data, 0)[1] == 2
    back = eiefile.from_bytes(data, "rt.eie")
    assert_same_model(back, model)
    assert eiefile.to_bytes(back) == data  # same model, same bytes
    check_size_accounting(model, data)
    return data


# ----------------------------------------------------------------------------- round trips


EDGE_CASES = {
    # more PEs than rows: PEs 3.. hold nothing
    "empty-pes": dict(m=3, n=5, n_pes=8, density=0.6),
    # one kept weight at the end of a long column: 1-bit indices, everything else padding
    "all-padding-gaps": dict(m=40, n=1, n_pes=1, ibits=1, density=0.0, codes_at=[(39, 0)]),
    "single-entry": dict(m=7, n=6, n_pes=2, density=0.0, codes_at=[(4, 3)]),
    "empty-layer": dict(m=6, n=4, n_pes=3, density=0.0),
    "empty-weights-bias-only": dict(m=9, n=3, n_pes=2, bias=True, density=0.0),
    "many-rounds": dict(m=50, n=7, n_pes=3, regs=2, density=0.3, bias=True),
    "bias-all-zero": dict(m=10, n=6, n_pes=4, bias=True, bias_codes=np.zeros(10, np.uint8)),
    "bias-some-zero": dict(m=33, n=6, n_pes=2, ibits=2, bias=True,
                           bias_codes=np.array([0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 1] * 3, np.uint8)),
    "dense": dict(m=16, n=16, n_pes=4, density=1.0, bias=True),
    "wide-words": dict(m=20, n=9, n_pes=2, word_bits=256, bias=True),
    "wbits-8-ibits-8": dict(m=30, n=20, wbits=8, ibits=8, n_pes=5, density=0.5),
    "wbits-2-ibits-1": dict(m=30, n=20, wbits=2, ibits=1, n_pes=3, density=0.1, bias=True),
}


@pytest.mark.parametrize("case", sorted(EDGE_CASES))
def test_round_trip_edge_cases(case: str) -> None:
    kw = dict(EDGE_CASES[case])
    codes_at = kw.pop("codes_at", [])
    rng = np.random.default_rng(sorted(EDGE_CASES).index(case))
    layer = layer_of(rng, **kw)
    if codes_at:
        codes = layer.decode()
        for i, j in codes_at:
            codes[i, j] = 1
        layer = encode_layer(codes, layer.codebook, n=layer.n, has_bias=layer.has_bias, wbits=layer.wbits,
                             ibits=layer.ibits, n_pes=layer.n_pes, regs=layer.regs,
                             word_bits=layer.word_bits)
    round_trip(EncodedModel((layer,), fa=5, provenance={"case": case}))


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), m=st.integers(1, 40), n=st.integers(1, 30), bias=st.booleans(),
       wbits=st.integers(2, 8), ibits=st.integers(1, 8), n_pes=st.integers(1, 9), regs=st.integers(1, 12),
       density=st.sampled_from([0.0, 0.03, 0.2, 0.7, 1.0]), extra_word=st.integers(0, 2))
def test_round_trip_random_layers(seed: int, m: int, n: int, bias: bool, wbits: int, ibits: int, n_pes: int,
                                  regs: int, density: float, extra_word: int) -> None:
    rng = np.random.default_rng(seed)
    word_bits = 8 * (-(-(wbits + ibits) // 8) + extra_word)
    layer = layer_of(rng, m, n, bias=bias, density=density, wbits=wbits, ibits=ibits, n_pes=n_pes,
                     regs=regs, word_bits=word_bits)
    round_trip(EncodedModel((layer,), fa=None if seed % 2 else seed % 16))


def test_round_trip_several_layers() -> None:
    rng = np.random.default_rng(11)
    layers = (layer_of(rng, 30, 20, bias=True, n_pes=4, regs=3, name="fc1"),
              layer_of(rng, 12, 30, bias=False, wbits=5, ibits=3, n_pes=5, name="fc2"),
              layer_of(rng, 12, 12, bias=True, wbits=2, ibits=1, n_pes=16, name="fc3",
                       bias_codes=np.array([0, 1] * 6, np.uint8)))
    round_trip(EncodedModel(layers, fa=11, input_after_relu=True,
                            provenance={"contract_version": 1, "seed": [1, 2], "note": "ü"}))


def test_save_load_file(tmp_path: Path) -> None:
    model = v1_fixture_model()
    eiefile.save(model, tmp_path / "m.eie")
    assert_same_model(eiefile.load(tmp_path / "m.eie"), model)
    assert eiefile.file_versions(tmp_path / "m.eie") == (2, eiefile.CONTRACT_VERSION)


def test_v2_holds_each_entry_once() -> None:
    """No packed words, no 32-bit pointers, no byte-wide tables: format 2 is far smaller than 1."""
    rng = np.random.default_rng(5)
    model = EncodedModel((layer_of(rng, 256, 300, bias=True, density=0.1, n_pes=8),))
    v1, v2 = eiefile._to_bytes_v1(model), eiefile.to_bytes(model)
    stored = int(sizes.size_table(model).loc["total", "bytes_stored"])
    assert len(v2) - stored < 1500 < len(v1) - stored
    assert len(v2) < 0.6 * len(v1)


# ----------------------------------------------------------------------------- format 1, old contracts


def test_v1_fixture_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    """A file written by the format-1 writer before format 2 existed (under modelling contract 1)
    loads as it always did."""
    data = V1_FIXTURE.read_bytes()
    assert PREAMBLE.unpack_from(data, 0)[1:3] == (1, 1)
    assert_same_model(eiefile.from_bytes(data), v1_fixture_model())
    assert_same_model(eiefile.load(V1_FIXTURE), v1_fixture_model())
    assert eiefile.file_versions(V1_FIXTURE) == (1, 1)
    # the private writer still writes that format, byte for byte (under that contract)
    monkeypatch.setattr(eiefile, "CONTRACT_VERSION", 1)
    assert eiefile._to_bytes_v1(v1_fixture_model()) == data
    monkeypatch.undo()
    # and re-saving converts it: format 2 of the same model
    assert eiefile.to_bytes(eiefile.from_bytes(data)) == eiefile.to_bytes(v1_fixture_model())


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), bias=st.booleans(), wbits=st.integers(2, 8), ibits=st.integers(1, 8),
       regs=st.integers(1, 6))
def test_v1_writer_round_trip(seed: int, bias: bool, wbits: int, ibits: int, regs: int) -> None:
    layer = layer_of(np.random.default_rng(seed), 17, 9, bias=bias, wbits=wbits, ibits=ibits, n_pes=3,
                     regs=regs, density=0.3)
    model = EncodedModel((layer,), fa=3)
    assert_same_model(eiefile.from_bytes(eiefile._to_bytes_v1(model)), model)


def test_v1_corruption_still_caught() -> None:
    """The format-1 reader keeps its checks (here: the Huffman streams against the packed words)."""
    data = bytearray(V1_FIXTURE.read_bytes())
    data[-1] ^= 0x01
    with pytest.raises(EieFormatError, match="section 'huff_z_payload': checksum mismatch"):
        eiefile.from_bytes(bytes(data), "old.eie")


@pytest.mark.parametrize("writer", [eiefile.to_bytes, eiefile._to_bytes_v1], ids=["v2", "v1"])
def test_older_contract_versions_load(monkeypatch: pytest.MonkeyPatch,
                                      writer: Callable[[EncodedModel], bytes]) -> None:
    """The encoding did not change with the contract: a contract-1 file loads under contract 2;
    a file of a newer contract than this eie-sim's, or older than the oldest it reads, does not."""
    model = v1_fixture_model()  # its provenance says contract_version 1
    monkeypatch.setattr(eiefile, "CONTRACT_VERSION", 1)
    old = writer(model)
    assert PREAMBLE.unpack_from(old, 0)[2] == 1
    monkeypatch.setattr(eiefile, "CONTRACT_VERSION", 2)
    back = eiefile.from_bytes(old, "old.eie")
    assert_same_model(back, model)
    assert back.provenance["contract_version"] == 1
    assert eiefile.from_bytes(eiefile.to_bytes(back)).provenance["contract_version"] == 1
    monkeypatch.setattr(eiefile, "CONTRACT_VERSION", 1)
    newer = writer(model)
    newer = newer[:10] + struct.pack("<H", 3) + newer[12:]
    with pytest.raises(EieFormatError, match="contract version 3, newer than version 1"):
        eiefile.from_bytes(newer, "new.eie")
    with pytest.raises(EieFormatError, match="contract version 0"):
        eiefile.from_bytes(newer[:10] + struct.pack("<H", 0) + newer[12:], "zero.eie")


def test_unknown_format_version() -> None:
    data = eiefile.to_bytes(v1_fixture_model())
    with pytest.raises(EieFormatError, match=r"x.eie: preamble: format version 3 is not supported "
                                             r"\(this eie-sim reads versions 1, 2\)"):
        eiefile.from_bytes(data[:8] + struct.pack("<H", 3) + data[10:], "x.eie")


@pytest.mark.parametrize("section", eiefile._SECTIONS)
def test_damage_in_each_section_is_named(section: str) -> None:
    """A flipped bit or a cut inside any section is reported with the section's name."""
    model = v1_fixture_model()
    data = eiefile.to_bytes(model)
    _, header, _ = file_parts(data)
    s = header["layers"][1]["sections"][section]
    assert s["nbytes"], section
    at = s["offset"] + s["nbytes"] // 2
    flipped = data[:at] + bytes([data[at] ^ 0x10]) + data[at + 1:]
    with pytest.raises(EieFormatError, match=re.escape(f"d.eie: layer 1 ('fc-b'), section {section!r}: "
                                                       "checksum mismatch")):
        eiefile.from_bytes(flipped, "d.eie")
    with pytest.raises(EieFormatError, match=re.escape(f"section {section!r}: bytes ") + ".*past the end"):
        eiefile.from_bytes(data[:at], "d.eie")


# ----------------------------------------------------------------------------- AlexNet fc6


def fc6_file(tmp_path: Path, m: int, n: int) -> tuple[Path, EncodedModel]:
    """A fc6-shaped layer (9 % density, 4-bit codes, 64 PEs, bias) compressed and saved."""
    rng = np.random.default_rng(6)
    w = rng.standard_normal((m, n), dtype=np.float32)
    b = (0.01 * rng.standard_normal(m)).astype(np.float32)
    layer = compress_layer(w, b, CompressOptions(density=0.09, wbits=4, ibits=4, n_pes=64), name="fc6")
    model = model_of([layer])
    return eiefile.save(model, tmp_path / "fc6.eie"), model


def check_fc6(path: Path, model: EncodedModel, capsys: pytest.CaptureFixture[str]) -> None:
    from eie_sim.study.cli import main

    data = path.read_bytes()
    head, _, _ = file_parts(data)
    table = sizes.size_table(model)
    huffman_total = int(table.loc["total", "bytes_huffman"])
    assert abs(len(data) - (huffman_total + head)) <= 0.02 * (huffman_total + head)
    check_size_accounting(model, data)
    assert_same_model(eiefile.load(path), model)
    capsys.readouterr()
    assert main(["inspect", str(path)]) == 0
    out = capsys.readouterr().out
    assert f"file size: {len(data):,} bytes (format 2)" in out
    assert f"size table total +Huffman: {huffman_total:,} bytes" in out
    stored = int(table.loc["total", "bytes_stored"])
    assert f"{stored:,} bytes stored; the other {len(data) - stored:,} bytes are header" in out


def test_alexnet_fc6_file_matches_size_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """4096 x 9216 + bias (about 4 s): format 1 took 10.1 MB for a 4.9 MB size table; format 2 is
    the table plus under a kilobyte of header."""
    path, model = fc6_file(tmp_path, 4096, 9216)
    check_fc6(path, model, capsys)
    assert path.stat().st_size < 5.0e6
