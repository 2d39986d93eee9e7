"""Hostile inputs: mutated ``.eie`` files, Huffman streams, TOML configs and ``.npy`` weights.

Every case must either load (and then be internally valid) or raise an
:class:`~compressor.errors.EieError` naming the source and the problem; never
another exception, a hang, or an allocation out of proportion to the input.
The mutators and oracles are shared with the long campaign in
``benchmarks/fuzz.py``; here hypothesis drives them, bounded so the file runs in
well under a minute on two cores. ``.eie`` seeds come in both file formats
(``name/v2``, the current one, and ``name/v1``, still read). Deterministic cases
pin each check to the corruption it exists for, and the regressions for bugs the
fuzzing found.
"""

from __future__ import annotations

import copy
import dataclasses
import io
import re
import struct
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from benchmarks import fuzz
from compressor import eiefile, huffman, sizes
from compressor.encode import pack_bits
from compressor.errors import EieConfigError, EieError, EieFormatError
from compressor.huffman import HuffmanStream
from compressor.importers import load_layer, load_npy
from compressor.model import EncodedModel
from eie_sim.config import RANGES as _RANGES
from eie_sim.config import SimConfig

REPO = Path(__file__).resolve().parents[1]
FUZZ = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FEW = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@dataclasses.dataclass(frozen=True)
class Seed:
    """A valid model, its file and its parsed image."""

    model: EncodedModel
    data: bytes
    img: fuzz.Image


SEED_NAMES = sorted(fuzz.seed_files())  # "<model>/v2" and "<model>/v1"


@pytest.fixture(scope="module")
def seeds() -> dict[str, Seed]:
    models = fuzz.seed_models_by_file()
    return {name: Seed(models[name], data, fuzz.parse(data)) for name, data in fuzz.seed_files().items()}


def eie_verdict(data: bytes) -> str:
    """The shared oracle under the time and allocation guards; fails the test on a Failure."""
    try:
        return fuzz.guarded(fuzz.check_eie, data, "fuzz.eie", size=len(data))[0]
    except fuzz.Failure as e:
        pytest.fail(f"{e} (input of {len(data)} bytes)")


def load_error(data: bytes) -> str:
    """The message of the EieFormatError that loading ``data`` must raise."""
    with pytest.raises(EieFormatError) as info:
        eiefile.from_bytes(data, "case.eie")
    msg = str(info.value)
    assert msg.startswith("case.eie: ")
    return msg


seed_names = st.sampled_from(SEED_NAMES)


# ----------------------------------------------------------------------------- the harness


def test_seeds_and_rebuilt_seeds_load(seeds: dict[str, Seed]) -> None:
    """Unmutated seeds load, also through build(): otherwise every mutation would 'fail' trivially."""
    assert {s.img.fmt for s in seeds.values()} == {1, 2}
    for s in seeds.values():
        assert eie_verdict(s.data) == "ok"
        assert eie_verdict(fuzz.build(s.img)) == "ok"
        assert eie_verdict(fuzz.build(s.img, recrc=True)) == "ok"


def test_guard_catches_a_hang_and_a_large_allocation() -> None:
    """The guards themselves work: a slow case and an oversized allocation are failures."""
    with pytest.raises(fuzz.Failure, match="CaseTimeout"):
        fuzz.guarded(lambda: time.sleep(5) or "ok", size=0, timeout=0.2)
    with pytest.raises(fuzz.Failure, match="allocation peak"):
        fuzz.guarded(lambda: "ok" if np.ones(2_000_000).sum() else "", size=0)
    with pytest.raises(fuzz.Failure, match="ZeroDivisionError"):
        fuzz.guarded(lambda: 1 // 0, size=0)


@pytest.mark.parametrize("path", ["compressor/eiefile.py", "compressor/huffman.py",
                                  "eie_sim/config.py", "compressor/importers.py"])
def test_parsers_have_no_blanket_except(path: str) -> None:
    """Errors come from the check that failed: no parser swallows every exception."""
    text = (REPO / path).read_text()
    assert not re.search(r"except\s*:", text), f"{path}: bare except"
    assert not re.search(r"except\b[^:\n]*\b(Base)?Exception\b", text), f"{path}: except Exception"


# ----------------------------------------------------------------------------- .eie: raw damage


@pytest.mark.parametrize("name", ["bias-rounds/v2", "empty-layer/v2", "narrow-bits/v2", "bias-rounds/v1",
                                  "empty-layer/v1"])
def test_every_truncation_is_reported(seeds: dict[str, Seed], name: str) -> None:
    """Cutting the file at any byte is an error that says the file is short."""
    data = seeds[name].data
    for n in range(len(data)):
        msg = load_error(data[:n])
        assert re.search(r"shorter than|past the end", msg), msg


@FUZZ
@given(name=seed_names, region=st.integers(0, 40), frac=st.floats(0, 1))
def test_truncation_in_any_region(seeds: dict[str, Seed], name: str, region: int, frac: float) -> None:
    data = fuzz.truncate_in_region(seeds[name].data, region, frac)
    assert eie_verdict(data) == "error"


@FUZZ
@given(name=seed_names, bits=st.lists(st.integers(0, 1 << 20), min_size=1, max_size=8))
def test_bit_flips_anywhere(seeds: dict[str, Seed], name: str, bits: list[int]) -> None:
    data = fuzz.flip_bits(seeds[name].data, bits)
    if eie_verdict(data) == "ok":
        # only flips that cancel out or land in the alignment padding between sections load,
        # and then the model must be the original one
        assert eiefile.to_bytes(eiefile.from_bytes(data)) == eiefile.to_bytes(seeds[name].model)


@FUZZ
@given(name=seed_names, layer=st.integers(0, 3), section=st.integers(0, 8),
       bits=st.lists(st.integers(0, 1 << 20), min_size=1, max_size=4))
def test_bit_flips_inside_sections_with_matching_checksums(seeds: dict[str, Seed], name: str, layer: int,
                                                           section: int, bits: list[int]) -> None:
    """Flips in any section (codebook, bit-packed pointers, bias codes, Huffman tables and
    streams; packed words in format 1) with the CRC recomputed: the decoders and layout checks
    refuse the file, or it is another valid model."""
    eie_verdict(fuzz.build(fuzz.flip_in_section(seeds[name].img, layer, section, bits)))


@FEW
@given(name=seed_names, junk=st.binary(min_size=1, max_size=200))
def test_junk_appended(seeds: dict[str, Seed], name: str, junk: bytes) -> None:
    """Trailing bytes are outside every section: the model loads unchanged."""
    assert eie_verdict(seeds[name].data + junk) == "ok"
    loaded = eiefile.from_bytes(seeds[name].data + junk)
    assert eiefile.to_bytes(loaded) == eiefile.to_bytes(seeds[name].model)


@FEW
@given(name=seed_names, key=st.sampled_from(["fmt", "contract", "head_len", "head_crc"]),
       value=st.integers(0, (1 << 32) - 1))
def test_preamble_fields(seeds: dict[str, Seed], name: str, key: str, value: int) -> None:
    img = seeds[name].img
    data = fuzz.build(img, preamble={key: value})
    if data == fuzz.build(img):
        return  # the value drawn is the correct one
    stored = value % (1 << 16) if key in ("fmt", "contract") else value  # 16-bit preamble fields
    if key == "contract" and eiefile.OLDEST_CONTRACT <= stored <= eiefile.CONTRACT_VERSION:
        # every contract version whose encoding is this one's loads, as the same model
        assert eie_verdict(data) == "ok"
        assert eiefile.to_bytes(eiefile.from_bytes(data)) == eiefile.to_bytes(seeds[name].model)
        return
    assert eie_verdict(data) == "error"


@pytest.mark.parametrize("kind", range(14))
@pytest.mark.parametrize("depth", [3, 5000, 100_000])
@pytest.mark.parametrize("name", ["bias-rounds/v2", "bias-rounds/v1"])
def test_hostile_header_text(seeds: dict[str, Seed], kind: int, depth: int, name: str) -> None:
    """Deep nesting, non-objects, invalid UTF-8 and huge numbers as the (checksummed) header."""
    data = fuzz.build(seeds[name].img, raw_header=fuzz.deep_json(kind, depth))
    assert eie_verdict(data) == "error"


# ----------------------------------------------------------------------------- .eie: header fields

field_values = st.one_of(
    st.sampled_from(fuzz.WEIRD_VALUES), st.integers(-(1 << 70), 1 << 70), st.floats(),
    st.text(max_size=4), st.booleans(), st.none(), st.just(fuzz._DELETE),
    st.lists(st.integers(0, 9), max_size=3), st.dictionaries(st.text(max_size=2), st.integers(), max_size=2),
)


@FUZZ
@given(data=st.data(), name=seed_names, recrc=st.booleans())
def test_any_header_field(seeds: dict[str, Seed], data: st.DataObject, name: str, recrc: bool) -> None:
    """Any key of the header replaced by a wrong type, a huge or odd value, or removed."""
    img = seeds[name].img
    path = data.draw(st.sampled_from(fuzz.header_paths(img.header)), label="path")
    edit = fuzz.set_path(path, data.draw(field_values, label="value"))
    eie_verdict(fuzz.build(img, edit, recrc=recrc))


@FUZZ
@given(data=st.data(), name=seed_names, recrc=st.booleans())
def test_length_offset_count_fields(seeds: dict[str, Seed], data: st.DataObject, name: str,
                                    recrc: bool) -> None:
    """Section offsets/sizes/counts/CRCs, Huffman counts and layer sizes nudged or replaced; with
    ``recrc`` the section CRCs match what the table points at, so the semantic checks decide."""
    img = seeds[name].img
    path = data.draw(st.sampled_from(fuzz.section_paths(img.header, img.fmt)), label="path")
    if data.draw(st.booleans(), label="nudge"):
        edit = fuzz.nudge_path(path, data.draw(st.sampled_from([-9, -8, -1, 1, 2, 8, 1 << 20, -(1 << 40)])))
    else:
        edit = fuzz.set_path(path, data.draw(field_values, label="value"))
    eie_verdict(fuzz.build(img, edit, recrc=recrc))


@FUZZ
@given(name=seed_names, ops=st.lists(st.tuples(
    st.integers(0, 3), st.sampled_from(fuzz.LAYOUT_OPS), st.integers(0, 1 << 16), st.integers(0, 1 << 16),
    st.one_of(st.sampled_from(fuzz.LAYOUT_VALUES), st.floats(-1e6, 1e6))), min_size=1, max_size=3))
def test_layout_mutations_with_consistent_checksums(seeds: dict[str, Seed], name: str,
                                                    ops: list[tuple]) -> None:
    """Decoded arrays changed and re-packed, re-Huffman-coded and re-checksummed: only the
    layout checks (pointers, relative indices, padding, codebook, bias) stand in the way."""
    s = seeds[name]
    img = s.img
    for layer, op, a, b, value in ops:
        img = fuzz.mutate_layout(img, s.model, layer, op, a, b, value)
    eie_verdict(fuzz.build(img))


# ----------------------------------------------------------------------------- .eie: each check


def _entry_in_round(layer: object, r: int) -> int:
    """Global index of the first entry of a non-empty slice in round ``r``."""
    ncols = layer.ncols
    for p in range(layer.n_pes):
        for j in range(ncols):
            s = r * ncols + j
            if layer.ptr[p, s + 1] > layer.ptr[p, s]:
                return int(layer.pe_offsets[p] + layer.ptr[p, s])
    raise AssertionError(f"no entry in round {r}")


def _with(seed: Seed, i: int = 0, bias: bytes | None = None, **arrays: object) -> bytes:
    layer = dataclasses.replace(seed.model.layers[i], **arrays)
    return fuzz.build(fuzz.replace_layer(seed.img, i, layer, bias))


def _set(arr: np.ndarray, index: int | tuple, value: float) -> np.ndarray:
    out = arr.copy()
    out[index] = value
    return out


def case_ptr_falls(s: Seed) -> bytes:
    lay = s.model.layers[0]
    return _with(s, ptr=_set(lay.ptr, (0, 1), lay.ptr[0, -1] + 1))


def case_z_past_round(s: Seed) -> bytes:
    lay = s.model.layers[0]  # regs = 2: a first index of 2 lands past the round's registers
    return _with(s, z=_set(lay.z, _entry_in_round(lay, 0), 2))


def case_z_past_pe(s: Seed) -> bytes:
    lay = s.model.layers[0]  # 3 local rows per PE: round 1 holds only local row 2
    return _with(s, z=_set(lay.z, _entry_in_round(lay, 1), 1))


def case_short_padding(s: Seed) -> bytes:
    lay = s.model.layers[0]
    g = int(np.flatnonzero(lay.z < 15)[0])
    return _with(s, v=_set(lay.v, g, 0))


def case_padding_ends_slice(s: Seed) -> bytes:
    lay = s.model.layers[0]  # chain-padding: 2-bit indices, 20 local rows per PE
    ends = (lay.pe_offsets[:-1, None] + lay.ptr[:, 1:])[np.diff(lay.ptr, axis=1) > 0] - 1
    g = int(ends[lay.entry_rows[ends] <= 16][0])  # a slice's last entry, with rows to spare
    return _with(s, v=_set(lay.v, g, 0), z=_set(lay.z, g, 3))


def case_codebook_zero(s: Seed) -> bytes:
    return _with(s, codebook=_set(s.model.layers[0].codebook, 0, 0.5))


def case_codebook_nan(s: Seed) -> bytes:
    return _with(s, codebook=_set(s.model.layers[0].codebook, 3, np.nan))


def case_codebook_too_large(s: Seed) -> bytes:
    return _with(s, codebook=_set(s.model.layers[0].codebook, 5, 40000.0))


def case_bias_disagrees(s: Seed) -> bytes:
    bias = bytearray(s.img.blobs[(0, "bias")])
    bias[0] = (bias[0] + 1) % 16
    return _with(s, bias=bytes(bias))


def case_huffman_disagrees(s: Seed) -> bytes:
    img = copy.deepcopy(s.img)
    payload = bytearray(img.blobs[(0, "huff_v_payload")])
    payload[0] ^= 0x80
    img.blobs[(0, "huff_v_payload")] = bytes(payload)
    return fuzz.build(img)


def case_count_mismatch(s: Seed) -> bytes:
    img = copy.deepcopy(s.img)
    img.blobs[(0, "ptr")] += b"\0\0\0\0"
    return fuzz.build(img)


def case_layers_do_not_chain(s: Seed) -> bytes:
    img = copy.deepcopy(s.img)  # 8 inputs -> 12 outputs, twice
    img.header["layers"].append(copy.deepcopy(img.header["layers"][0]))
    img.blobs.update({(1, name): blob for (i, name), blob in s.img.blobs.items() if i == 0})
    return fuzz.build(img)


def case_sections_overlap(s: Seed) -> bytes:
    """Regression: two layers could point at the same bytes, so a header listing one layer's
    sections many times made the loader decode (and hold) them again and again."""
    img = copy.deepcopy(s.img)
    img.header["layers"].append(copy.deepcopy(img.header["layers"][0]))
    img.blobs.update({(1, name): blob for (i, name), blob in s.img.blobs.items() if i == 0})

    def share(h: dict) -> None:
        h["layers"][1]["sections"] = copy.deepcopy(h["layers"][0]["sections"])

    return fuzz.build(img, share)


def case_dtype_unhashable(s: Seed) -> bytes:
    """Regression: a JSON object as a section's dtype raised TypeError (unhashable dict)."""
    return fuzz.build(s.img, fuzz.set_path(("layers", 0, "sections", "ptr", "dtype"), {"a": 1}))


def case_huge_integer(s: Seed) -> bytes:
    """Regression: an integer of 5000 digits raised ValueError from json.loads."""
    return fuzz.build(s.img, fuzz.set_path(("layers", 0, "m"), fuzz.RawJson("9" * 5000)))


def case_bool_for_int(s: Seed) -> bytes:
    return fuzz.build(s.img, fuzz.set_path(("layers", 0, "n_pes"), True))


def case_float_for_int(s: Seed) -> bytes:
    return fuzz.build(s.img, fuzz.set_path(("layers", 0, "sections", "ptr", "count"), 50.0))


def case_fa_out_of_range(s: Seed) -> bytes:
    return fuzz.build(s.img, fuzz.set_path(("fa",), 16))


def case_offset_past_end(s: Seed) -> bytes:
    return fuzz.build(s.img, fuzz.nudge_path(("layers", 0, "sections", "huff_z_payload", "offset"), 1 << 40),
                      recrc=True)


SEMANTIC_CASES = [
    ("bias-rounds/v1", case_ptr_falls, "column pointers must rise"),
    ("bias-rounds/v1", case_z_past_round, "run past the round's destination registers"),
    ("bias-rounds/v1", case_z_past_pe, "run past the PE's last row"),
    ("bias-rounds/v1", case_short_padding, "padding entry (code 0) has an index below the maximum"),
    ("chain-padding/v1", case_padding_ends_slice, "padding entry (code 0) ends its column slice"),
    ("bias-rounds/v1", case_codebook_zero, "code 0 is reserved for 0"),
    ("bias-rounds/v1", case_codebook_nan, "codebook holds NaN or inf"),
    ("bias-rounds/v1", case_codebook_too_large, "does not fit 16-bit fixed point"),
    ("bias-rounds/v1", case_bias_disagrees, "disagrees with the bias column"),
    ("bias-rounds/v1", case_huffman_disagrees, "Huffman stream 'v'"),
    ("bias-rounds/v1", case_count_mismatch, "section 'ptr': holds 77 values, the header implies 76"),
    ("bias-rounds/v1", case_layers_do_not_chain, "shapes must chain"),
    ("bias-rounds/v1", case_sections_overlap, "sections must not overlap"),
    ("bias-rounds/v1", case_dtype_unhashable, "dtype {'a': 1}"),
    ("bias-rounds/v1", case_huge_integer, "not valid JSON"),
    ("bias-rounds/v1", case_bool_for_int, "field 'n_pes' must be int, got True"),
    ("bias-rounds/v1", case_float_for_int, "field 'count' must be a non-negative integer"),
    ("bias-rounds/v1", case_fa_out_of_range, "field 'fa' = 16"),
    ("bias-rounds/v1", case_offset_past_end, "run past the end"),
]


# Format 2: the same layout checks, reached through pointers and Huffman streams, and the
# checks of its own fields (pointer width, bit-field padding, stream counts, canonical codes).


def _v2_set_bias(s: Seed, index: int, code: int) -> bytes:
    bias = fuzz.bias_codes_v2(s.img, 0).copy()
    bias[index] = code
    return _with(s, bias=bias)


def case_v2_bias_entry_appears(s: Seed) -> bytes:
    """A zero bias code made non-zero: the bias column needs an entry the pointers have no room for."""
    bias = fuzz.bias_codes_v2(s.img, 0)
    return _v2_set_bias(s, int(np.flatnonzero(bias == 0)[0]), 1)


def case_v2_bias_entry_vanishes(s: Seed) -> bytes:
    bias = fuzz.bias_codes_v2(s.img, 0)
    return _v2_set_bias(s, int(np.flatnonzero(bias)[0]), 0)


def case_v2_stream_count(s: Seed) -> bytes:
    return fuzz.build(s.img, fuzz.nudge_path(("layers", 0, "huffman", "z", "count"), 1))


def case_v2_stream_count_huge(s: Seed) -> bytes:
    """A count far beyond the payload is refused before anything of its size is allocated."""
    return fuzz.build(s.img, fuzz.set_path(("layers", 0, "huffman", "v", "count"), 1 << 40))


def case_v2_stream_truncated(s: Seed) -> bytes:
    """The v stream loses its last byte (count kept): decoding runs out of bits."""
    img = copy.deepcopy(s.img)
    img.blobs[(0, "huff_v_payload")] = img.blobs[(0, "huff_v_payload")][:-1]
    nbits = 8 * len(img.blobs[(0, "huff_v_payload")])
    return fuzz.build(img, fuzz.set_path(("layers", 0, "huffman", "v", "nbits"), nbits))


def case_v2_lengths_not_optimal(s: Seed) -> bytes:
    """A complete code, but not the one the encoder builds: one model, one file."""
    lay = s.model.layers[0]
    keep = fuzz.weight_entries(lay)
    v, z = lay.v[keep], lay.z[keep]
    flat = np.full(1 << lay.wbits, lay.wbits, np.uint8)  # fixed-width codes, Kraft sum 1
    payload = np.zeros((len(v) * lay.wbits + 7) // 8, np.uint8)
    huffman._encode_kernel(v, huffman.canonical_codes(flat), flat, payload)
    hz = huffman.encode(z, 1 << lay.ibits)
    img = copy.deepcopy(s.img)
    img.blobs[(0, "huff_v_payload")] = payload.tobytes()
    img.blobs[(0, "huff_lengths")] = pack_bits(np.concatenate([flat, hz.lengths]), 5)
    return fuzz.build(img, fuzz.set_path(("layers", 0, "huffman", "v", "nbits"), len(v) * lay.wbits))


def case_v2_lengths_oversubscribed(s: Seed) -> bytes:
    img = copy.deepcopy(s.img)
    lay = s.model.layers[0]
    lengths = np.ones((1 << lay.wbits) + (1 << lay.ibits), np.uint8)
    img.blobs[(0, "huff_lengths")] = pack_bits(lengths, 5)
    return fuzz.build(img)


def case_v2_ptr_bits_too_wide(s: Seed) -> bytes:
    img = copy.deepcopy(s.img)
    bits = img.header["layers"][0]["ptr_bits"] + 1
    img.blobs[(0, "ptr")] = pack_bits(s.model.layers[0].ptr, bits)
    return fuzz.build(img, fuzz.set_path(("layers", 0, "ptr_bits"), bits))


def case_v2_ptr_bits_too_narrow(s: Seed) -> bytes:
    """Pointers cut to fewer bits: they no longer rise to each PE's entry count."""
    img = copy.deepcopy(s.img)
    bits = img.header["layers"][0]["ptr_bits"] - 1
    ptr = s.model.layers[0].ptr & ((1 << bits) - 1)
    img.blobs[(0, "ptr")] = pack_bits(ptr, bits)
    return fuzz.build(img, fuzz.set_path(("layers", 0, "ptr_bits"), bits))


def case_v2_ptr_bits_out_of_range(s: Seed) -> bytes:
    return fuzz.build(s.img, fuzz.set_path(("layers", 0, "ptr_bits"), 33))


def _set_padding_bit(s: Seed, section: str) -> bytes:
    img = copy.deepcopy(s.img)
    raw = bytearray(img.blobs[(0, section)])
    raw[-1] |= 0x80
    img.blobs[(0, section)] = bytes(raw)
    return fuzz.build(img)


def case_v2_ptr_padding(s: Seed) -> bytes:
    return _set_padding_bit(s, "ptr")


def case_v2_bias_padding(s: Seed) -> bytes:
    return _set_padding_bit(s, "bias")


def case_v2_lengths_padding(s: Seed) -> bytes:
    return _set_padding_bit(s, "huff_lengths")


def case_v2_section_size(s: Seed) -> bytes:
    img = copy.deepcopy(s.img)
    img.blobs[(0, "ptr")] += b"\0"
    return fuzz.build(img)


def case_v2_more_pes(s: Seed) -> bytes:
    """n_pes changed in the header: the pointer table is no longer the size it implies."""
    return fuzz.build(s.img, fuzz.nudge_path(("layers", 0, "n_pes"), 1))


def case_v2_float_for_int(s: Seed) -> bytes:
    return fuzz.build(s.img, fuzz.set_path(("layers", 0, "ptr_bits"), 5.0))


def case_v2_missing_section(s: Seed) -> bytes:
    def drop(h: dict) -> None:
        del h["layers"][0]["sections"]["huff_lengths"]

    return fuzz.build(s.img, drop)


V2_SEMANTIC_CASES = [
    ("bias-rounds/v2", case_ptr_falls, "section 'ptr': column pointers must rise from 0 within each PE"),
    ("bias-rounds/v2", case_z_past_round, "run past the round's destination registers"),
    ("bias-rounds/v2", case_z_past_pe, "run past the PE's last row"),
    ("bias-rounds/v2", case_short_padding, "padding entry (code 0) has an index below the maximum"),
    ("chain-padding/v2", case_padding_ends_slice, "padding entry (code 0) ends its column slice"),
    ("bias-rounds/v2", case_codebook_zero, "code 0 is reserved for 0"),
    ("bias-rounds/v2", case_codebook_nan, "codebook holds NaN or inf"),
    ("bias-rounds/v2", case_codebook_too_large, "does not fit 16-bit fixed point"),
    ("bias-rounds/v2", case_v2_bias_entry_appears, "section 'bias': the bias codes make 2 entries in PE 1, "
                                                   "round 0, the column pointers leave room for 1"),
    ("narrow-bits/v2", case_v2_bias_entry_vanishes, "section 'bias': the bias codes make 0 entries in PE"),
    ("bias-rounds/v2", case_v2_stream_count, "Huffman stream 'z': codes 51 symbols, the column "
                                             "pointers give 50 entries in the weight columns"),
    ("bias-rounds/v2", case_v2_stream_count_huge, "Huffman stream 'v': codes 1099511627776 symbols"),
    ("bias-rounds/v2", case_v2_stream_truncated, "Huffman stream 'v': Huffman stream: payload ends after"),
    ("bias-rounds/v2", case_v2_lengths_not_optimal, "Huffman stream 'v': code lengths are not the optimal"),
    ("bias-rounds/v2", case_v2_lengths_oversubscribed, "Huffman stream 'v': Huffman stream: code lengths "
                                                       "are over-subscribed"),
    ("bias-rounds/v2", case_v2_ptr_bits_too_wide, "field 'ptr_bits' = 6, but the largest PE's 16 entries "
                                                  "take 5-bit pointers"),
    ("bias-rounds/v2", case_v2_ptr_bits_too_narrow, "column pointers must rise"),
    ("bias-rounds/v2", case_v2_ptr_bits_out_of_range, "field 'ptr_bits' = 33 is outside 1..32"),
    ("bias-rounds/v2", case_v2_ptr_padding, "section 'ptr': padding bits after the last pointer"),
    ("narrow-bits/v2", case_v2_bias_padding, "section 'bias': padding bits after the last bias code"),
    ("narrow-bits/v2", case_v2_lengths_padding, "section 'huff_lengths': padding bits after the last code"),
    ("bias-rounds/v2", case_v2_section_size, "section 'ptr': holds 49 bytes, the header implies 48"),
    ("bias-rounds/v2", case_v2_more_pes, "section 'ptr': holds 48 bytes, the header implies 60"),
    ("bias-rounds/v2", case_layers_do_not_chain, "shapes must chain"),
    ("bias-rounds/v2", case_sections_overlap, "sections must not overlap"),
    ("bias-rounds/v2", case_huge_integer, "not valid JSON"),
    ("bias-rounds/v2", case_bool_for_int, "field 'n_pes' must be int, got True"),
    ("bias-rounds/v2", case_v2_float_for_int, "field 'ptr_bits' must be int, got 5.0"),
    ("bias-rounds/v2", case_fa_out_of_range, "field 'fa' = 16"),
    ("bias-rounds/v2", case_offset_past_end, "run past the end"),
    ("bias-rounds/v2", case_v2_missing_section, "section 'huff_lengths': missing from the section table"),
]


@pytest.mark.parametrize(("name", "make", "expect"), SEMANTIC_CASES + V2_SEMANTIC_CASES,
                         ids=[f"{c[0][-2:]}-{c[1].__name__[5:]}" for c in SEMANTIC_CASES + V2_SEMANTIC_CASES])
def test_each_check_catches_its_corruption(seeds: dict[str, Seed], name: str, make, expect: str) -> None:
    """The error comes from the check written for that corruption, naming file, layer and field."""
    data = make(seeds[name])
    msg = load_error(data)
    assert expect in msg
    assert re.match(r"case\.eie: (layer \d|header|preamble)", msg), msg
    assert eie_verdict(data) == "error"


def test_huge_output_count_without_bias_stays_small(seeds: dict[str, Seed]) -> None:
    """Regression: a layer without bias claiming 2**24 outputs (a few KB of pointers) made the
    loader allocate an m-sized bias column twice (33 MB for a 3 KB file)."""
    img = copy.deepcopy(seeds["empty-layer/v1"].img)
    img.header["layers"][0].update(m=1 << 24, n_pes=1, regs=1 << 16)  # 256 rounds x 2 columns
    img.blobs[(0, "entries_per_pe")] = np.zeros(1, "<u4").tobytes()
    img.blobs[(0, "ptr")] = np.zeros(256 * 2 + 1, "<u4").tobytes()
    data = fuzz.build(img)
    verdict, peak = fuzz.guarded(fuzz.check_eie, data, size=len(data))
    assert verdict == "ok" and peak < 4 << 20
    assert eiefile.from_bytes(data).layers[0].m == 1 << 24


def test_huge_output_count_stays_small_v2(seeds: dict[str, Seed]) -> None:
    """Format 2: a layer without bias claiming 2**24 outputs with a 65-byte pointer table, and a
    huge Huffman count, allocate nothing of those sizes."""
    img = copy.deepcopy(seeds["empty-layer/v2"].img)
    img.header["layers"][0].update(m=1 << 24, n_pes=1, regs=1 << 16)  # 256 rounds x 2 columns
    img.blobs[(0, "ptr")] = pack_bits(np.zeros(256 * 2 + 1, np.int64), 1)
    data = fuzz.build(img)
    verdict, peak = fuzz.guarded(fuzz.check_eie, data, size=len(data))
    assert verdict == "ok" and peak < 4 << 20
    assert eiefile.from_bytes(data).layers[0].m == 1 << 24
    # 2**24 outputs with a bias need the 2**24 bias codes in the file
    img.header["layers"][0].update(has_bias=True, n=1)
    msg = load_error(fuzz.build(img))
    assert "section 'bias': holds 0 bytes, the header implies 8388608" in msg


def test_every_section_fits_the_size_table(seeds: dict[str, Seed]) -> None:
    """Each format-2 seed's sections hold exactly what compressor.sizes counts for its layers."""
    for name, s in seeds.items():
        if s.img.fmt != 2:
            continue
        stored = sum(len(b) for b in s.img.blobs.values())
        assert stored == int(sizes.size_table(s.model).loc["total", "bytes_stored"]), name


# ----------------------------------------------------------------------------- Huffman streams


@pytest.fixture(scope="module")
def streams() -> list[HuffmanStream]:
    return fuzz.huffman_seeds()


def huffman_verdict(stream: object) -> str:
    size = sum(int(getattr(np.asarray(getattr(stream, f)), "nbytes", 8)) for f in ("lengths", "payload"))
    try:
        return fuzz.guarded(fuzz.check_huffman, stream, size=size)[0]
    except fuzz.Failure as e:
        pytest.fail(f"{e}: {stream!r:.300}")


stream_index = st.integers(0, 5)
odd_ints = st.one_of(st.integers(-(1 << 70), 1 << 70), st.sampled_from(fuzz.HUFFMAN_VALUES),
                     st.floats(), st.none(), st.text(max_size=3))


def test_huffman_seeds_decode(streams: list[HuffmanStream]) -> None:
    assert [huffman_verdict(s) for s in streams] == ["ok"] * len(streams)
    assert max(int(s.lengths.max()) for s in streams) >= 20  # long codes take the slow path


@FUZZ
@given(i=stream_index, field=st.sampled_from(["count", "nbits"]),
       delta=st.one_of(st.integers(-20, 20), odd_ints))
def test_huffman_count_and_nbits(streams: list[HuffmanStream], i: int, field: str, delta: object) -> None:
    s = streams[i]
    value = getattr(s, field) + delta if type(delta) is int and abs(delta) <= 20 else delta
    verdict = huffman_verdict(dataclasses.replace(s, **{field: value}))
    assert verdict == "error" or value == getattr(s, field)


@FUZZ
@given(i=stream_index, edits=st.lists(st.tuples(st.integers(0, 1 << 16), st.integers(-2, 40)),
                                     min_size=1, max_size=4),
       dtype=st.sampled_from(["uint8", "int8", "int64", "uint16", "float64", "bool"]),
       resize=st.integers(-3, 3))
def test_huffman_lengths(streams: list[HuffmanStream], i: int, edits: list[tuple[int, int]], dtype: str,
                         resize: int) -> None:
    s = streams[i]
    lengths = s.lengths.astype(np.int64)
    for k, v in edits:
        lengths[k % lengths.size] = v
    lengths = lengths[: lengths.size + resize] if resize < 0 else np.concatenate(
        [lengths, np.full(resize, 3)])
    huffman_verdict(dataclasses.replace(s, lengths=lengths.astype(dtype)))


@FUZZ
@given(i=stream_index, bits=st.lists(st.integers(0, 1 << 16), max_size=8), cut=st.integers(-3, 3),
       tail=st.binary(max_size=3))
def test_huffman_payload(streams: list[HuffmanStream], i: int, bits: list[int], cut: int,
                         tail: bytes) -> None:
    s = streams[i]
    raw = fuzz.flip_bits(s.payload.tobytes(), bits) if s.payload.size else b""
    raw = raw[: len(raw) + cut] if cut < 0 else raw + tail[:cut]
    huffman_verdict(dataclasses.replace(s, payload=np.frombuffer(raw, np.uint8).copy()))


@FUZZ
@given(lengths=st.lists(st.integers(0, 24), min_size=1, max_size=40), payload=st.binary(max_size=12),
       count=st.integers(0, 120), spare=st.integers(0, 7))
def test_huffman_arbitrary_consistent_streams(lengths: list[int], payload: bytes, count: int,
                                              spare: int) -> None:
    """Streams whose fields agree in size but are made up: decoded exactly or refused."""
    nbits = max(0, 8 * len(payload) - spare)
    raw = bytearray(payload)
    if nbits % 8:
        raw[-1] &= (0xFF << (8 - nbits % 8)) & 0xFF
    stream = HuffmanStream(np.array(lengths, np.uint8), count, nbits, np.frombuffer(bytes(raw), np.uint8))
    huffman_verdict(stream)


@pytest.mark.parametrize("bad", [
    {"lengths": [1, 1]}, {"payload": b"\x00"}, {"payload": np.zeros((1, 1), np.uint8)},
    {"lengths": np.zeros((2, 2), np.uint8)}, {"lengths": np.array([], np.uint8)},
    {"lengths": np.array(["1", "1"])}, {"count": np.float64(17.0)}, {"nbits": np.bool_(True)},
    {"lengths": np.zeros(65537, np.uint8)}, {"lengths": np.array([1, 1], object)},
])
def test_huffman_wrong_types(streams: list[HuffmanStream], bad: dict) -> None:
    with pytest.raises(EieFormatError, match="Huffman stream"):
        huffman.decode(dataclasses.replace(streams[4], **bad))


def test_huffman_readonly_payload_decodes(streams: list[HuffmanStream]) -> None:
    """A payload viewing file bytes (read-only, as np.frombuffer gives) decodes the same."""
    s = streams[0]
    ro = dataclasses.replace(s, payload=np.frombuffer(s.payload.tobytes(), np.uint8))
    assert np.array_equal(huffman.decode(ro), huffman.decode(s))


# ----------------------------------------------------------------------------- TOML configs


def toml_verdict(text: bytes, path: Path) -> str:
    try:
        return fuzz.guarded(fuzz.check_toml, text, path, size=len(text))[0]
    except fuzz.Failure as e:
        pytest.fail(f"{e}: {text!r:.300}")


SEED_TOML = fuzz.toml_text({**fuzz.TOML_SEED, "check": "true"})


def test_seed_toml_loads(tmp_path: Path) -> None:
    assert toml_verdict(SEED_TOML, tmp_path / "a.toml") == "ok"
    assert SimConfig.from_toml(tmp_path / "a.toml") == SimConfig(check=True)


@FUZZ
@given(cut=st.integers(0, len(SEED_TOML)), bits=st.lists(st.integers(0, 8 * len(SEED_TOML) - 1),
                                                         max_size=8))
def test_toml_truncated_and_flipped(tmp_path_factory: pytest.TempPathFactory, cut: int,
                                    bits: list[int]) -> None:
    text = fuzz.flip_bits(SEED_TOML[:cut], bits) if cut else SEED_TOML[:cut]
    toml_verdict(text, tmp_path_factory.getbasetemp() / "flip.toml")


toml_raw_values = st.one_of(
    st.sampled_from(fuzz.TOML_VALUES), st.integers(-(1 << 63), (1 << 63) - 1).map(str),
    st.floats(allow_nan=False, allow_infinity=False).map(repr), st.booleans().map(lambda b: str(b).lower()),
    st.text(max_size=6).map(lambda t: '"' + t.encode("unicode_escape").decode().replace('"', "") + '"'),
)


@FUZZ
@given(changes=st.dictionaries(st.sampled_from(sorted(fuzz.TOML_SEED)), toml_raw_values, min_size=1,
                               max_size=3),
       unknown=st.one_of(st.none(), st.from_regex(r"[a-z_]{1,12}", fullmatch=True)))
def test_toml_wrong_types_and_values(tmp_path_factory: pytest.TempPathFactory, changes: dict[str, str],
                                     unknown: str | None) -> None:
    values = {**fuzz.TOML_SEED, **changes}
    text = fuzz.toml_text(values, f"{unknown} = 1\n" if unknown and unknown not in values else "")
    verdict = toml_verdict(text, tmp_path_factory.getbasetemp() / "values.toml")
    if unknown and unknown not in values:
        assert verdict == "error"


@pytest.mark.parametrize("field", sorted(_RANGES))
def test_toml_out_of_range_names_field_and_range(tmp_path: Path, field: str) -> None:
    typ, lo, hi = _RANGES[field]
    path = tmp_path / "arch.toml"
    for value in (lo - 1, hi * 2 if typ is float else hi + 1):
        raw = repr(float(value)) if typ is float else str(int(value))
        path.write_text(f"{field} = {raw}\n")
        with pytest.raises(EieConfigError) as info:
            SimConfig.from_toml(path)
        msg = str(info.value)
        assert str(path) in msg and field in msg and f"{lo:g}..{hi:g}" in msg


@pytest.mark.parametrize(("text", "expect"), [
    ("self = 1\n", "unknown key 'self'"),  # regression: TypeError
    ('energy_table = "a\\u0000b"\n', "energy_table"),  # regression: ValueError (NUL byte)
    ("n_pes = 4\nn_pes = 8\n", "not valid TOML"),
    ("x = " + "[" * 50_000 + "]" * 50_000 + "\n", "nested too deeply"),
    ("\ufeffn_pes = 2\n", "not valid TOML"),
])
def test_toml_regressions(tmp_path: Path, text: str, expect: str) -> None:
    path = tmp_path / "arch.toml"
    path.write_text(text)
    with pytest.raises(EieError, match=re.escape(expect)) as info:
        SimConfig.from_toml(path)
    assert str(path) in str(info.value)


def test_toml_directory_and_symlink_loop(tmp_path: Path) -> None:
    """Regressions: a directory raised IsADirectoryError; a looping table path RuntimeError."""
    with pytest.raises(EieConfigError, match="cannot read the configuration file"):
        SimConfig.from_toml(tmp_path)
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    (tmp_path / "arch.toml").write_text('energy_table = "loop"\n')
    with pytest.raises(EieConfigError, match="energy_table"):
        SimConfig.from_toml(tmp_path / "arch.toml")


# ----------------------------------------------------------------------------- .npy / .npz weights


def npy_bytes(header_change: tuple[str, str]) -> bytes:
    """The seed .npy with one replacement in its header (re-padded to 64 bytes)."""
    raw = fuzz.npy_seed()
    end = raw.index(b"\n") + 1
    header = raw[10:end].decode("latin1").replace(*header_change).rstrip() + "\n"
    header = header[:-1] + " " * ((-(10 + len(header))) % 64) + "\n"
    return raw[:8] + struct.pack("<H", len(header)) + header.encode("latin1") + raw[end:]


@FUZZ
@given(case=st.integers(0, 1 << 30))
def test_npy_mutations(tmp_path_factory: pytest.TempPathFactory, case: int) -> None:
    _, data = fuzz.random_npy_case(np.random.default_rng(case))
    try:
        fuzz.guarded(fuzz.check_npy, data, tmp_path_factory.getbasetemp() / "w.npy", size=len(data))
    except fuzz.Failure as e:
        pytest.fail(f"{e}: {data!r:.300}")


def test_npy_declaring_a_huge_shape(tmp_path: Path) -> None:
    """Regression: a 200-byte .npy declaring 10**12 values made numpy try to allocate them
    (MemoryError, an internal error); inside a .npz likewise."""
    data = npy_bytes(("(3, 4)", "(1000000, 1000000)"))
    (tmp_path / "w.npy").write_bytes(data)
    with zipfile.ZipFile(tmp_path / "w.npz", "w") as z:
        z.writestr("w.npy", data)
    for path, layer in ((tmp_path / "w.npy", None), (tmp_path / "w.npz", "w")):
        with pytest.raises(EieFormatError, match=r"shape \(1000000, 1000000\).*only 96 bytes"):
            load_layer(path, layer=layer)


def test_npy_corrupt_header_length(tmp_path: Path) -> None:
    """Regression: a bit flip making a version-3 header 662 MB long made numpy read that much."""
    raw = bytearray(fuzz.npy_seed())
    raw[6] = 3  # version 3.0: a 4-byte header length, now 0x277b0076
    (tmp_path / "w.npy").write_bytes(bytes(raw))
    verdict = fuzz.guarded(fuzz.check_npy, bytes(raw), tmp_path / "w.npy", size=len(raw))[0]
    assert verdict == "error"
    with pytest.raises(EieFormatError, match="header length 662,372,470 is corrupt"):
        load_npy(tmp_path / "w.npy")


def test_npy_unbalanced_header(tmp_path: Path) -> None:
    """Regression: an unbalanced bracket in the header raised tokenize.TokenError."""
    (tmp_path / "w.npy").write_bytes(npy_bytes(("(3, 4)", "(3, 4")))
    with pytest.raises(EieFormatError, match="not a readable .npy array"):
        load_npy(tmp_path / "w.npy")


def test_npz_with_a_member_that_is_not_an_array(tmp_path: Path) -> None:
    """Regression: np.load hands non-.npy members over as bytes, which crashed on ``.ndim``."""
    buf = io.BytesIO()
    np.save(buf, np.ones((2, 3)))
    with zipfile.ZipFile(tmp_path / "w.npz", "w") as z:
        z.writestr("notes.txt", b"hello")
        z.writestr("w.npy", buf.getvalue())
    assert load_layer(tmp_path / "w.npz")[0].shape == (2, 3)
    with pytest.raises(EieError, match="no array named 'notes.txt'; it holds w"):
        load_layer(tmp_path / "w.npz", layer="notes.txt")


def test_npz_that_is_not_a_zip(tmp_path: Path) -> None:
    """Regression: a .npy renamed .npz made ``with np.load(...)`` raise TypeError."""
    (tmp_path / "w.npz").write_bytes(fuzz.npy_seed())
    with pytest.raises(EieFormatError, match="not a readable .npz archive"):
        load_layer(tmp_path / "w.npz")
