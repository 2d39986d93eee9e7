"""The ``.eie`` file: one encoded model (a list of layers), versioned and checksummed.

Layout (little-endian)::

    0   magic        8 bytes  b"\\x89EIE\\r\\n\\x1a\\n"
    8   format       u16      FORMAT_VERSION (2 is written; 1 and 2 are read)
    10  contract     u16      docs/ARCHITECTURE.md version the encoding follows
    12  header size  u32      bytes of the JSON header that follows
    16  header crc   u32      CRC-32 of the header bytes
    20  header       JSON     shapes, formats, names, provenance, section table
        sections     raw      each at its own 8-byte aligned offset, each with its own CRC-32

Format 2 stores each layer once, in the Huffman-coded form that :mod:`compressor.sizes`
counts, written with that module's functions: a file is the size table's
``bytes_stored`` plus its header, checksums and alignment padding. Per layer::

    codebook        2**wbits float64 centroids
    ptr             column pointers, N x (rounds * ncols + 1), ``ptr_bits`` bits each
    bias            the bias column's m codes, wbits bits each (empty without a bias)
    huff_lengths    code lengths of the v code, then of the z code, 5 bits each
    huff_v_payload  Huffman-coded codes v of the weight columns' entries (padding included)
    huff_z_payload  Huffman-coded relative indices z of the same entries

Bit fields are packed LSB-first; payloads are :mod:`compressor.huffman` streams. The
loader decodes the streams, rebuilds the bias column's entries from its codes (encoding
is canonical, so they follow from the codes), and splices them in where the pointers
say: v, z, the pointers and so the packed SRAM words are the saved layer's exactly.
Format 1 held the packed words, 32-bit pointers, the bias codes and the Huffman streams,
every entry twice; it is still read (:func:`_to_bytes_v1` writes it, for tests).

The header is JSON, never pickle. Files are untrusted: the loader checks every
field's type and range, every section's offset and size against the file size and
the sizes the header implies *before* allocating anything (sections lie after the
header, in table order, without overlapping), every checksum, each Huffman stream's
symbol count against the pointers and its payload before decoding it, and then the
layout itself (pointers, relative indices, padding). A file must also be canonical
(pointer width, Huffman code lengths, zero padding bits), so that one model has one
file. Every failure is an :class:`EieFormatError` naming the file, the layer and
section, and what is wrong.
"""

from __future__ import annotations

import json
import os
import struct
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np

from compressor import huffman, sizes
from compressor.encode import (
    EncodedLayer,
    check_layout_fields,
    encode_layer,
    n_rounds,
    pack_bits,
    unpack_bits,
    unpack_entries,
)
from compressor.errors import EieError, EieFormatError, EieInputError
from compressor.model import EncodedModel, as_model
from compressor.outputs import write_atomic
from compressor.provenance import CONTRACT_VERSION

MAGIC = b"\x89EIE\r\n\x1a\n"
FORMAT_VERSION = 2
READABLE_FORMATS = (1, 2)
#: The oldest modelling contract whose files this eie-sim reads. The encoding has not changed
#: since contract version 1, so files of every version up to CONTRACT_VERSION load.
OLDEST_CONTRACT = 1
_PREAMBLE = struct.Struct("<8sHHII")
_MAX_HEADER = 16 << 20  # a header is a few KB; anything near this is corruption
_ALIGN = 8
_MAX_PTR_BITS = 32  # a PE's entry count; format 1 stored pointers as u4
_LENGTH_BITS = sizes.HUFFMAN_LENGTH_BITS
_DTYPES = {"u1": np.dtype("<u1"), "u4": np.dtype("<u4"), "f8": np.dtype("<f8")}
_LAYER_FIELDS_V1 = {"name": str, "m": int, "n": int, "has_bias": bool, "wbits": int, "ibits": int,
                    "n_pes": int, "regs": int, "word_bits": int, "huffman": dict, "sections": dict}
_LAYER_FIELDS = {**_LAYER_FIELDS_V1, "ptr_bits": int}
_SECTIONS_V1 = ("codebook", "entries_per_pe", "ptr", "packed", "bias", "huff_v_lengths",
                "huff_v_payload", "huff_z_lengths", "huff_z_payload")
_SECTIONS = ("codebook", "ptr", "bias", "huff_lengths", "huff_v_payload", "huff_z_payload")


def save(model_or_layer: EncodedModel | EncodedLayer, path: str | os.PathLike, *,
         force: bool = False) -> Path:
    """Write a model (or a single layer as a one-layer model) atomically."""
    return write_atomic(path, to_bytes(as_model(model_or_layer)), force=force)


def load(path: str | os.PathLike) -> EncodedModel:
    """Read and fully validate a ``.eie`` file."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        raise EieFormatError(f"{p}: no such file") from None
    except IsADirectoryError:
        raise EieFormatError(f"{p}: is a directory, expected a .eie file") from None
    return from_bytes(data, source=str(p))


def file_versions(path: str | os.PathLike) -> tuple[int, int]:
    """(format version, contract version) from the preamble of a file :func:`load` accepted."""
    with open(path, "rb") as f:
        head = f.read(_PREAMBLE.size)
    if len(head) < _PREAMBLE.size or head[:len(MAGIC)] != MAGIC:
        raise EieFormatError(f"{path}: preamble: not a .eie file")
    _, fmt, contract, _, _ = _PREAMBLE.unpack(head)
    return fmt, contract


# ----------------------------------------------------------------------------- bit fields


def _unpack(data: memoryview, count: int, width: int, dtype: type) -> tuple[np.ndarray, bool]:
    """(``count`` fields of ``width`` bits, whether the bits after the last are zero); ``data``
    must be exactly the bytes they need (the caller checked the section size)."""
    raw = np.frombuffer(data, np.uint8)
    out = unpack_bits(data, width, count, dtype)
    tail = count * width % 8
    return out, not tail or not int(raw[-1]) >> tail


# ----------------------------------------------------------------------------- writing


def to_bytes(model: EncodedModel) -> bytes:
    """Serialise a model in format 2: preamble, JSON header, aligned sections."""
    layers = [_layer_v2(layer) for layer in model.layers]
    return _assemble(FORMAT_VERSION, model, layers, _SECTIONS)


def _layer_v2(layer: EncodedLayer) -> tuple[dict, dict[str, bytes]]:
    """A layer's header entry and sections, as :mod:`compressor.sizes` counts them."""
    hv, hz = sizes.weight_streams(layer)
    ptr_bits = sizes.pointer_bits(layer)
    if ptr_bits > _MAX_PTR_BITS:
        raise EieInputError(f"layer {layer.name!r}: a PE holds {int(layer.entries_per_pe.max())} "
                            f"entries, more than {_MAX_PTR_BITS}-bit pointers address")
    bias = layer.bias_codes() if layer.has_bias else np.zeros(0, np.uint8)
    blobs = {
        "codebook": layer.codebook.astype("<f8").tobytes(),
        "ptr": pack_bits(layer.ptr, ptr_bits),
        "bias": pack_bits(bias, layer.wbits),
        "huff_lengths": pack_bits(np.concatenate([hv.lengths, hz.lengths]), _LENGTH_BITS),
        "huff_v_payload": hv.payload.tobytes(), "huff_z_payload": hz.payload.tobytes(),
    }
    meta = {
        "name": layer.name, "m": layer.m, "n": layer.n, "has_bias": layer.has_bias,
        "wbits": layer.wbits, "ibits": layer.ibits, "n_pes": layer.n_pes, "regs": layer.regs,
        "word_bits": layer.word_bits, "ptr_bits": ptr_bits,
        "huffman": {"v": {"count": hv.count, "nbits": hv.nbits},
                    "z": {"count": hz.count, "nbits": hz.nbits}},
        "sections": {name: {"nbytes": len(raw), "crc32": zlib.crc32(raw), "offset": None}
                     for name, raw in blobs.items()},
    }
    return meta, blobs


def _to_bytes_v1(model: EncodedModel) -> bytes:
    """Serialise a model in format 1 (the packed words, 32-bit pointers, bias codes and the
    Huffman streams). Kept so that tests and the fuzzing campaign can make format-1 files."""
    layers = []
    for layer in model.layers:
        hv = huffman.encode(layer.v, 1 << layer.wbits)
        hz = huffman.encode(layer.z, 1 << layer.ibits)
        bias = layer.bias_codes() if layer.has_bias else np.zeros(0, np.uint8)
        arrays = {
            "codebook": layer.codebook.astype("<f8"),
            "entries_per_pe": layer.entries_per_pe.astype("<u4"),
            "ptr": layer.ptr.astype("<u4"),
            "packed": layer.packed(),
            "bias": bias.astype("<u1"),
            "huff_v_lengths": hv.lengths.astype("<u1"), "huff_v_payload": hv.payload.astype("<u1"),
            "huff_z_lengths": hz.lengths.astype("<u1"), "huff_z_payload": hz.payload.astype("<u1"),
        }
        blobs, sections = {}, {}
        for name, arr in arrays.items():
            raw = np.ascontiguousarray(arr).tobytes()
            sections[name] = {"dtype": arr.dtype.str[1:], "count": int(arr.size), "nbytes": len(raw),
                              "crc32": zlib.crc32(raw), "offset": None}
            blobs[name] = raw
        layers.append(({
            "name": layer.name, "m": layer.m, "n": layer.n, "has_bias": layer.has_bias,
            "wbits": layer.wbits, "ibits": layer.ibits, "n_pes": layer.n_pes, "regs": layer.regs,
            "word_bits": layer.word_bits, "fw": layer.fw,
            "huffman": {"v": {"count": hv.count, "nbits": hv.nbits},
                        "z": {"count": hz.count, "nbits": hz.nbits}},
            "sections": sections,
        }, blobs))
    return _assemble(1, model, layers, _SECTIONS_V1)


def _assemble(fmt: int, model: EncodedModel, layers: list[tuple[dict, dict[str, bytes]]],
              order: tuple[str, ...]) -> bytes:
    """Preamble, JSON header (with each section's offset set) and the sections, 8-byte aligned."""
    layers_meta = [meta for meta, _ in layers]
    header = {"kind": "eie-model", "fa": model.fa, "input_after_relu": model.input_after_relu,
              "provenance": model.provenance, "layers": layers_meta}
    # Offsets depend on the header's own length; two passes settle them (digits can only grow once).
    for _ in range(3):
        head = json.dumps(header, sort_keys=True).encode()
        pos = _align(_PREAMBLE.size + len(head))
        for meta in layers_meta:
            for name in order:
                meta["sections"][name]["offset"] = pos
                pos = _align(pos + meta["sections"][name]["nbytes"])
    head = json.dumps(header, sort_keys=True).encode()
    out = bytearray(_PREAMBLE.pack(MAGIC, fmt, CONTRACT_VERSION, len(head), zlib.crc32(head)))
    out += head
    for meta, blobs in layers:
        for name in order:
            out += b"\0" * (meta["sections"][name]["offset"] - len(out))
            out += blobs[name]
    return bytes(out)


def _align(x: int) -> int:
    return -(-x // _ALIGN) * _ALIGN


# ----------------------------------------------------------------------------- reading


def from_bytes(data: bytes, source: str = "<bytes>") -> EncodedModel:
    """Parse and validate a ``.eie`` image; ``source`` names it in error messages."""
    return _Reader(data, source).model()


class _Reader:
    """Bounds-checked parsing of one file image."""

    def __init__(self, data: bytes, source: str) -> None:
        self.data = memoryview(data)
        self.size = len(data)
        self.source = source

    def fail(self, where: str, what: str) -> EieFormatError:
        return EieFormatError(f"{self.source}: {where}: {what}")

    def model(self) -> EncodedModel:
        if self.size < _PREAMBLE.size:
            raise self.fail("preamble", f"file is {self.size} bytes, shorter than the "
                            f"{_PREAMBLE.size}-byte preamble (truncated or not a .eie file)")
        magic, fmt, contract, head_len, head_crc = _PREAMBLE.unpack_from(self.data, 0)
        if magic != MAGIC:
            raise self.fail("preamble", "bad magic bytes: not a .eie file")
        if fmt not in READABLE_FORMATS:
            raise self.fail("preamble", f"format version {fmt} is not supported (this eie-sim "
                            f"reads versions {', '.join(map(str, READABLE_FORMATS))})")
        if contract > CONTRACT_VERSION:
            raise self.fail("preamble", f"encoded for modelling contract version {contract}, newer "
                            f"than version {CONTRACT_VERSION} this eie-sim implements; upgrade eie-sim")
        if contract < OLDEST_CONTRACT:
            raise self.fail("preamble", f"encoded for modelling contract version {contract}, whose "
                            f"encoding this eie-sim (contract versions {OLDEST_CONTRACT}.."
                            f"{CONTRACT_VERSION}) does not read; re-encode the layer")
        if head_len > min(_MAX_HEADER, self.size - _PREAMBLE.size):
            raise self.fail("header", f"header length {head_len} runs past the end of the "
                            f"{self.size}-byte file")
        raw = bytes(self.data[_PREAMBLE.size:_PREAMBLE.size + head_len])
        self.cursor = _PREAMBLE.size + head_len  # end of the header, then of each section read
        if zlib.crc32(raw) != head_crc:
            raise self.fail("header", "checksum mismatch (corrupt header)")
        try:
            header = json.loads(raw.decode("utf-8"))
        # ValueError also covers JSONDecodeError and integers past Python's digit limit.
        except (UnicodeDecodeError, ValueError, RecursionError) as e:
            raise self.fail("header", f"not valid JSON ({e.__class__.__name__})") from None
        if not isinstance(header, dict) or header.get("kind") != "eie-model":
            raise self.fail("header", "not an eie-model header")
        layers_meta = header.get("layers")
        if not isinstance(layers_meta, list) or not layers_meta:
            raise self.fail("header", "field 'layers' must be a non-empty list")
        fa = header.get("fa")
        if fa is not None and (type(fa) is not int or not 0 <= fa <= 15):
            raise self.fail("header", f"field 'fa' = {fa!r} must be null or an integer 0..15")
        after_relu = header.get("input_after_relu", False)
        if type(after_relu) is not bool:
            raise self.fail("header", "field 'input_after_relu' must be a boolean")
        prov = header.get("provenance", {})
        if not isinstance(prov, dict):
            raise self.fail("header", "field 'provenance' must be an object")
        read = self.layer_v1 if fmt == 1 else self.layer
        layers = tuple(read(i, meta) for i, meta in enumerate(layers_meta))
        try:
            return EncodedModel(layers, fa, after_relu, prov)
        except EieError as e:
            raise self.fail("header", str(e)) from None

    def fields(self, index: int, meta: object, spec: dict[str, type]) -> str:
        """Check a layer entry's fields (types, then layout ranges); return its error prefix."""
        where = f"layer {index}"
        if not isinstance(meta, dict):
            raise self.fail(where, "layer entry must be an object")
        for key, typ in spec.items():
            value = meta.get(key)
            # bool is an int subclass: demand the exact type so that `true` is not a size.
            if type(value) is not typ:
                raise self.fail(where, f"field {key!r} must be {typ.__name__}, got {value!r:.60}")
        where = f"layer {index} ({meta['name']!r:.40})"
        try:
            check_layout_fields(meta["name"], m=meta["m"], n=meta["n"], wbits=meta["wbits"],
                                ibits=meta["ibits"], n_pes=meta["n_pes"], regs=meta["regs"],
                                word_bits=meta["word_bits"])
        except EieFormatError as e:
            raise self.fail(where, str(e)) from None
        return where

    def layer(self, index: int, meta: dict) -> EncodedLayer:
        """A format-2 layer: sections checked, streams decoded, bias entries rebuilt, layout checked."""
        where = self.fields(index, meta, _LAYER_FIELDS)
        m, n, n_pes, wbits, ibits = meta["m"], meta["n"], meta["n_pes"], meta["wbits"], meta["ibits"]
        has_bias, ptr_bits = meta["has_bias"], meta["ptr_bits"]
        if not 1 <= ptr_bits <= _MAX_PTR_BITS:
            raise self.fail(where, f"field 'ptr_bits' = {ptr_bits} is outside 1..{_MAX_PTR_BITS}")
        streams = {s: self.stream_meta(where, meta["huffman"], s) for s in ("v", "z")}
        ncols = n + int(has_bias)
        rounds = n_rounds(m, n_pes, meta["regs"])
        n_ptr = n_pes * (rounds * ncols + 1)
        # Each section's size follows from header fields alone (Python ints: no overflow) and is
        # checked, with its bounds and checksum, before anything is decoded from it.
        expect = {
            "codebook": 8 << wbits, "ptr": -(-n_ptr * ptr_bits // 8),
            "bias": -(-m * wbits // 8) if has_bias else 0,
            "huff_lengths": -(-_LENGTH_BITS * ((1 << wbits) + (1 << ibits)) // 8),
            "huff_v_payload": -(-streams["v"]["nbits"] // 8),
            "huff_z_payload": -(-streams["z"]["nbits"] // 8),
        }
        sec = {name: self.raw_section(where, meta["sections"], name, expect[name]) for name in _SECTIONS}

        # Pointers (at most 64 bits decoded per bit stored): rising from 0 in each PE, and as
        # wide as the largest PE's entry count needs, no wider.
        at = f"{where}, section 'ptr'"
        flat, clean = _unpack(sec["ptr"], n_ptr, ptr_bits, np.int64)
        if not clean:
            raise self.fail(at, "padding bits after the last pointer are not zero")
        ptr = flat.reshape(n_pes, rounds * ncols + 1)
        if np.any(ptr[:, 0] != 0) or np.any(ptr[:, 1:] < ptr[:, :-1]):
            raise self.fail(at, "column pointers must rise from 0 within each PE")
        per_pe = ptr[:, -1]
        need = max(1, int(per_pe.max()).bit_length())
        if ptr_bits != need:
            raise self.fail(at, f"field 'ptr_bits' = {ptr_bits}, but the largest PE's "
                            f"{int(per_pe.max())} entries take {need}-bit pointers")
        bias_cols = np.arange(rounds if has_bias else 0) * ncols + ncols - 1
        bias_counts = ptr[:, bias_cols + 1] - ptr[:, bias_cols]  # (N, rounds); (N, 0) without a bias
        weight_entries = int(per_pe.sum()) - int(bias_counts.sum())

        # The Huffman streams: counts agree with the pointers before anything is decoded, and
        # decode() bounds the count by the payload again before it allocates.
        lengths, clean = _unpack(sec["huff_lengths"], (1 << wbits) + (1 << ibits), _LENGTH_BITS,
                                 np.uint8)
        if not clean:
            raise self.fail(f"{where}, section 'huff_lengths'", "padding bits after the last code "
                            "length are not zero")
        decoded = {}
        for s, table, payload in (("v", lengths[:1 << wbits], sec["huff_v_payload"]),
                                  ("z", lengths[1 << wbits:], sec["huff_z_payload"])):
            at = f"{where}, Huffman stream {s!r}"
            if streams[s]["count"] != weight_entries:
                raise self.fail(at, f"codes {streams[s]['count']} symbols, the column pointers give "
                                f"{weight_entries} entries in the weight columns")
            hs = huffman.HuffmanStream(lengths=table, count=streams[s]["count"],
                                       nbits=streams[s]["nbits"], payload=np.frombuffer(payload, np.uint8))
            try:
                decoded[s] = huffman.decode(hs)
            except EieFormatError as e:
                raise self.fail(at, str(e)) from None
            if not np.array_equal(huffman.code_lengths(decoded[s], table.size), table):
                raise self.fail(at, "code lengths are not the optimal ones the encoder assigns to "
                                "its symbols (not a canonical file)")

        # The bias column's entries follow from its codes; they must fill the slices the
        # pointers leave for them. Encoding them is bounded by m, bounded by the section.
        if has_bias:
            at = f"{where}, section 'bias'"
            bias, clean = _unpack(sec["bias"], m, wbits, np.uint8)
            if not clean:
                raise self.fail(at, "padding bits after the last bias code are not zero")
            try:
                col = encode_layer(bias[:, None], np.zeros(1 << wbits), n=1, has_bias=False,
                                   wbits=wbits, ibits=ibits, n_pes=n_pes, regs=meta["regs"],
                                   word_bits=meta["word_bits"], name=meta["name"])
            except EieError as e:
                raise self.fail(at, str(e)) from None
            diff = np.argwhere(col.slice_counts != bias_counts)
            if diff.size:
                p, r = (int(x) for x in diff[0])
                raise self.fail(at, f"the bias codes make {int(col.slice_counts[p, r])} entries in "
                                f"PE {p}, round {r}, the column pointers leave room for "
                                f"{int(bias_counts[p, r])}")
        pe_offsets = np.concatenate([[0], np.cumsum(per_pe)]).astype(np.int64)
        v, z = decoded["v"], decoded["z"]
        if has_bias:  # every count now agrees with the pointers: splice the bias entries in
            mask = sizes.bias_entry_mask(ptr, pe_offsets, ncols, rounds)
            v, z = np.empty(mask.size, np.uint8), np.empty(mask.size, np.uint8)
            v[mask], z[mask] = col.v, col.z
            v[~mask], z[~mask] = decoded["v"], decoded["z"]
        layer = EncodedLayer(
            name=meta["name"], m=m, n=n, has_bias=has_bias, wbits=wbits, ibits=ibits, n_pes=n_pes,
            regs=meta["regs"], word_bits=meta["word_bits"],
            codebook=np.frombuffer(sec["codebook"], "<f8").astype(np.float64), v=v, z=z,
            pe_offsets=pe_offsets, ptr=ptr,
        )
        try:
            layer.validate()
        except EieFormatError as e:
            raise self.fail(where, str(e)) from None
        if has_bias and not np.array_equal(layer.bias_codes(), bias):
            raise self.fail(f"{where}, section 'bias'", "disagrees with the bias column of the entries")
        return layer

    def stream_meta(self, where: str, table: dict, stream: str) -> dict[str, int]:
        meta = table.get(stream)
        if not isinstance(meta, dict) or any(type(meta.get(k)) is not int or meta[k] < 0
                                             for k in ("count", "nbits")):
            raise self.fail(f"{where}, Huffman stream {stream!r}",
                            "needs non-negative integer 'count' and 'nbits'")
        return meta

    def _entry(self, at: str, table: dict, name: str, keys: tuple[str, ...]) -> dict:
        """A section's table entry, its integer fields checked."""
        meta = table.get(name)
        if not isinstance(meta, dict):
            raise self.fail(at, "missing from the section table")
        for key in keys:
            if type(meta.get(key)) is not int or meta[key] < 0:
                raise self.fail(at, f"field {key!r} must be a non-negative integer")
        return meta

    def _take(self, at: str, meta: dict, check_size: Callable[[int], None]) -> memoryview:
        """A section's bytes after its bounds (in order, within the file), size and checksum."""
        off, size = meta["offset"], meta["nbytes"]
        # Sections follow the header and each other in table order: no two layers can share
        # bytes, so the arrays decoded from a file grow with its size, not its layer count.
        if off < self.cursor:
            raise self.fail(at, f"starts at byte {off}, before byte {self.cursor} where the header "
                            f"or the previous section ends (sections must not overlap)")
        if off + size > self.size:
            raise self.fail(at, f"bytes {off}..{off + size} run past the end of the "
                            f"{self.size}-byte file (truncated?)")
        check_size(size)
        raw = self.data[off:off + size]
        self.cursor = off + size
        if zlib.crc32(raw) != meta["crc32"]:
            raise self.fail(at, "checksum mismatch (corrupt data)")
        return raw

    def raw_section(self, where: str, table: dict, name: str, nbytes: int) -> memoryview:
        """A format-2 section's bytes, after its table entry, bounds, size and checksum."""
        at = f"{where}, section {name!r}"
        meta = self._entry(at, table, name, ("offset", "nbytes", "crc32"))

        def check_size(size: int) -> None:
            if size != nbytes:
                raise self.fail(at, f"holds {size} bytes, the header implies {nbytes}")

        return self._take(at, meta, check_size)

    def layer_v1(self, index: int, meta: dict) -> EncodedLayer:
        """A format-1 layer: the packed words, checked against the Huffman streams."""
        where = self.fields(index, meta, _LAYER_FIELDS_V1)
        m, n, n_pes = meta["m"], meta["n"], meta["n_pes"]
        ncols = n + int(meta["has_bias"])
        slices = n_rounds(m, n_pes, meta["regs"]) * ncols
        # Every expected count is computed from validated header fields and compared with the
        # section table before any array is built; the sections themselves are bounded by the file.
        expect = {
            "codebook": 1 << meta["wbits"], "entries_per_pe": n_pes, "ptr": n_pes * (slices + 1),
            "bias": m if meta["has_bias"] else 0,
            "huff_v_lengths": 1 << meta["wbits"], "huff_z_lengths": 1 << meta["ibits"],
        }
        sec = {name: self.section(where, meta["sections"], name, expect.get(name))
               for name in _SECTIONS_V1}
        codebook = sec["codebook"].astype(np.float64)
        entries_per_pe = sec["entries_per_pe"].astype(np.int64)
        total = int(entries_per_pe.sum())
        epw = meta["word_bits"] // (meta["wbits"] + meta["ibits"])
        words = int((-(-entries_per_pe // epw)).sum())
        if words * (meta["word_bits"] // 8) != sec["packed"].size:
            raise self.fail(f"{where}, section 'packed'", f"holds {sec['packed'].size} bytes but "
                            f"the PEs' {total} entries need {words} words of {meta['word_bits']} bits")
        v, z = unpack_entries(sec["packed"], entries_per_pe, wbits=meta["wbits"],
                              ibits=meta["ibits"], word_bits=meta["word_bits"])
        for stream, arr in (("v", v), ("z", z)):
            self.check_huffman(where, meta["huffman"], stream, sec, arr)
        layer = EncodedLayer(
            name=meta["name"], m=m, n=n, has_bias=meta["has_bias"], wbits=meta["wbits"],
            ibits=meta["ibits"], n_pes=n_pes, regs=meta["regs"], word_bits=meta["word_bits"],
            codebook=codebook, v=v, z=z,
            pe_offsets=np.concatenate([[0], np.cumsum(entries_per_pe)]).astype(np.int64),
            ptr=sec["ptr"].astype(np.int64).reshape(n_pes, slices + 1),
        )
        try:
            layer.validate()
        except EieFormatError as e:
            raise self.fail(where, str(e)) from None
        if meta["has_bias"] and not np.array_equal(layer.bias_codes(), sec["bias"]):
            raise self.fail(f"{where}, section 'bias'", "disagrees with the bias column of the entries")
        return layer

    def section(self, where: str, table: dict, name: str, count: int | None) -> np.ndarray:
        """A format-1 section as a typed array, after its table entry, bounds, size and checksum."""
        at = f"{where}, section {name!r}"
        meta = self._entry(at, table, name, ("offset", "nbytes", "count", "crc32"))
        name_of_dtype = meta.get("dtype")
        dtype = _DTYPES.get(name_of_dtype) if isinstance(name_of_dtype, str) else None
        if dtype is None:
            raise self.fail(at, f"dtype {meta.get('dtype')!r:.20} is not one of {sorted(_DTYPES)}")

        def check_size(nbytes: int) -> None:
            if meta["count"] * dtype.itemsize != nbytes:
                raise self.fail(at, f"{meta['count']} values of {dtype.itemsize} bytes do not make "
                                f"{nbytes} bytes")
            if count is not None and meta["count"] != count:
                raise self.fail(at, f"holds {meta['count']} values, the header implies {count}")

        return np.frombuffer(self._take(at, meta, check_size), dtype=dtype)

    def check_huffman(self, where: str, table: dict, stream: str, sec: dict,
                      expected: np.ndarray) -> None:
        at = f"{where}, Huffman stream {stream!r}"
        meta = table.get(stream)
        if not isinstance(meta, dict) or any(type(meta.get(k)) is not int for k in ("count", "nbits")):
            raise self.fail(at, "needs integer 'count' and 'nbits'")
        if meta["count"] != expected.size:
            raise self.fail(at, f"codes {meta['count']} symbols, the packed entries hold {expected.size}")
        hs = huffman.HuffmanStream(lengths=np.array(sec[f"huff_{stream}_lengths"], np.uint8),
                                   count=meta["count"], nbits=meta["nbits"],
                                   payload=np.array(sec[f"huff_{stream}_payload"], np.uint8))
        try:
            decoded = huffman.decode(hs)
        except EieFormatError as e:
            raise self.fail(at, str(e)) from None
        if not np.array_equal(decoded, expected):
            raise self.fail(at, "decodes to symbols that differ from the packed entries")
