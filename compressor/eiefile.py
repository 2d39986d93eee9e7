"""The ``.eie`` file: one encoded model (a list of layers), versioned and checksummed.

Layout (little-endian)::

    0   magic        8 bytes  b"\\x89EIE\\r\\n\\x1a\\n"
    8   format       u16      FORMAT_VERSION
    10  contract     u16      ARCHITECTURE.md version the encoding follows
    12  header size  u32      bytes of the JSON header that follows
    16  header crc   u32      CRC-32 of the header bytes
    20  header       JSON     shapes, formats, names, provenance, section table
        sections     raw      each at its own offset, each with its own CRC-32

The header is JSON, never pickle. Files are untrusted: the loader checks every
field's type and range, every section's offset, size and dtype against the file
size and the header *before* allocating anything (sections lie after the header, in
table order, without overlapping), every checksum, and then the
layout itself (pointers, relative indices); the packed entries must also equal
the Huffman-coded streams. Every failure is an :class:`EieFormatError` naming the
file, the layer and section, and what is wrong.
"""

from __future__ import annotations

import json
import os
import struct
import zlib
from pathlib import Path

import numpy as np

from compressor import huffman
from compressor.encode import EncodedLayer, check_layout_fields, n_rounds, unpack_entries
from compressor.errors import EieError, EieFormatError
from compressor.model import EncodedModel, as_model
from compressor.outputs import write_atomic
from compressor.provenance import CONTRACT_VERSION

MAGIC = b"\x89EIE\r\n\x1a\n"
FORMAT_VERSION = 1
_PREAMBLE = struct.Struct("<8sHHII")
_MAX_HEADER = 16 << 20  # a header is a few KB; anything near this is corruption
_ALIGN = 8
_DTYPES = {"u1": np.dtype("<u1"), "u4": np.dtype("<u4"), "f8": np.dtype("<f8")}
_LAYER_FIELDS = {"name": str, "m": int, "n": int, "has_bias": bool, "wbits": int, "ibits": int,
                 "n_pes": int, "regs": int, "word_bits": int, "huffman": dict, "sections": dict}
_SECTIONS = ("codebook", "entries_per_pe", "ptr", "packed", "bias", "huff_v_lengths",
             "huff_v_payload", "huff_z_lengths", "huff_z_payload")


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


def to_bytes(model: EncodedModel) -> bytes:
    """Serialise a model: preamble, JSON header, aligned sections."""
    blobs: list[bytes] = []
    layers_meta = []
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
        sections = {}
        for name, arr in arrays.items():
            raw = np.ascontiguousarray(arr).tobytes()
            sections[name] = {"dtype": arr.dtype.str[1:], "count": int(arr.size), "nbytes": len(raw),
                              "crc32": zlib.crc32(raw), "offset": None}
            blobs.append(raw)
        layers_meta.append({
            "name": layer.name, "m": layer.m, "n": layer.n, "has_bias": layer.has_bias,
            "wbits": layer.wbits, "ibits": layer.ibits, "n_pes": layer.n_pes, "regs": layer.regs,
            "word_bits": layer.word_bits, "fw": layer.fw,
            "huffman": {"v": {"count": hv.count, "nbits": hv.nbits},
                        "z": {"count": hz.count, "nbits": hz.nbits}},
            "sections": sections,
        })
    header = {"kind": "eie-model", "fa": model.fa, "input_after_relu": model.input_after_relu,
              "provenance": model.provenance, "layers": layers_meta}
    # Offsets depend on the header's own length; two passes settle them (digits can only grow once).
    for _ in range(3):
        head = json.dumps(header, sort_keys=True).encode()
        pos = _align(_PREAMBLE.size + len(head))
        for meta in layers_meta:
            for name in _SECTIONS:
                meta["sections"][name]["offset"] = pos
                pos = _align(pos + meta["sections"][name]["nbytes"])
    head = json.dumps(header, sort_keys=True).encode()
    out = bytearray(_PREAMBLE.pack(MAGIC, FORMAT_VERSION, CONTRACT_VERSION, len(head),
                                   zlib.crc32(head)))
    out += head
    blob_iter = iter(blobs)
    for meta in layers_meta:
        for name in _SECTIONS:
            out += b"\0" * (meta["sections"][name]["offset"] - len(out))
            out += next(blob_iter)
    return bytes(out)


def _align(x: int) -> int:
    return -(-x // _ALIGN) * _ALIGN


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
        if fmt != FORMAT_VERSION:
            raise self.fail("preamble", f"format version {fmt} is not supported (this eie-sim "
                            f"reads version {FORMAT_VERSION})")
        if contract != CONTRACT_VERSION:
            raise self.fail("preamble", f"encoded for modelling contract version {contract}, this "
                            f"eie-sim implements version {CONTRACT_VERSION}; re-encode the layer")
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
        layers = tuple(self.layer(i, meta) for i, meta in enumerate(layers_meta))
        try:
            return EncodedModel(layers, fa, after_relu, prov)
        except EieError as e:
            raise self.fail("header", str(e)) from None

    def layer(self, index: int, meta: object) -> EncodedLayer:
        where = f"layer {index}"
        if not isinstance(meta, dict):
            raise self.fail(where, "layer entry must be an object")
        for key, typ in _LAYER_FIELDS.items():
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
               for name in _SECTIONS}
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
        at = f"{where}, section {name!r}"
        meta = table.get(name)
        if not isinstance(meta, dict):
            raise self.fail(at, "missing from the section table")
        for key in ("offset", "nbytes", "count", "crc32"):
            if type(meta.get(key)) is not int or meta[key] < 0:
                raise self.fail(at, f"field {key!r} must be a non-negative integer")
        name_of_dtype = meta.get("dtype")
        dtype = _DTYPES.get(name_of_dtype) if isinstance(name_of_dtype, str) else None
        if dtype is None:
            raise self.fail(at, f"dtype {meta.get('dtype')!r:.20} is not one of {sorted(_DTYPES)}")
        off, nbytes = meta["offset"], meta["nbytes"]
        # Sections follow the header and each other in table order: no two layers can share
        # bytes, so the arrays decoded from a file grow with its size, not its layer count.
        if off < self.cursor:
            raise self.fail(at, f"starts at byte {off}, before byte {self.cursor} where the header "
                            f"or the previous section ends (sections must not overlap)")
        if off + nbytes > self.size:
            raise self.fail(at, f"bytes {off}..{off + nbytes} run past the end of the "
                            f"{self.size}-byte file (truncated?)")
        if meta["count"] * dtype.itemsize != nbytes:
            raise self.fail(at, f"{meta['count']} values of {dtype.itemsize} bytes do not make "
                            f"{nbytes} bytes")
        if count is not None and meta["count"] != count:
            raise self.fail(at, f"holds {meta['count']} values, the header implies {count}")
        raw = self.data[off:off + nbytes]
        self.cursor = off + nbytes
        if zlib.crc32(raw) != meta["crc32"]:
            raise self.fail(at, "checksum mismatch (corrupt data)")
        return np.frombuffer(raw, dtype=dtype)

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
