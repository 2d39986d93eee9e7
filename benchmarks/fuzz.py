"""Fuzz campaign: hostile ``.eie`` files, Huffman streams, TOML configs and ``.npy`` weights.

Run: ``python benchmarks/fuzz.py --cases 10000 [--seed 0]`` (``--cases`` per target).
Every case is a seeded random mutation of a small valid input; ``.eie`` seeds are
written in both file formats (2, the current one, and 1, still read). The oracle is the
same as in ``tests/test_fuzz.py`` (which imports the mutators and oracles from
here): the input either loads and is internally valid, or the parser raises an
:class:`~compressor.errors.EieError` whose message names the source. Anything
else -- another exception type, a case over :data:`CASE_TIMEOUT_S`, or a traced
allocation peak over ``MEM_FACTOR x input size + MEM_SLACK`` -- is a failure,
recorded with its input and traceback under ``benchmarks/out/fuzz_failures/``.
Prints a table and writes ``benchmarks/out/fuzz.csv``.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import faulthandler
import io
import json
import signal
import struct
import sys
import tempfile
import time
import traceback
import tracemalloc
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from compressor import eiefile, huffman, sizes
from compressor.encode import EncodedLayer, encode_layer, pack_bits
from compressor.errors import EieError
from compressor.huffman import HuffmanStream
from compressor.importers import load_layer
from compressor.model import EncodedModel
from eie_sim.config import RANGES as _RANGES
from eie_sim.config import SimConfig

OUT = Path(__file__).resolve().parent / "out"
CASE_TIMEOUT_S = 10.0  # a case slower than this is a hang
MEM_FACTOR = 50  # traced allocation peak allowed per input byte ...
MEM_SLACK = 8 << 20  # ... plus this many bytes
PREAMBLE = struct.Struct("<8sHHII")
SECTIONS = {1: eiefile._SECTIONS_V1, 2: eiefile._SECTIONS}  # by format version
WRITERS = {1: eiefile._to_bytes_v1, 2: eiefile.to_bytes}
ITEMSIZE = {"u1": 1, "u4": 4, "f8": 8}
ENERGY_CSV = Path(__file__).resolve().parents[1] / "eie_sim" / "data" / "energy_45nm.csv"


class Failure(Exception):
    """The oracle's verdict on a case: not a clean load and not a clean EieError."""


class CaseTimeout(BaseException):
    """Raised by the alarm; a BaseException so that no parser's ``except`` can swallow it."""


# ----------------------------------------------------------------------------- valid seeds


def _codes(rng: np.random.Generator, m: int, ncols: int, density: float, wbits: int) -> np.ndarray:
    keep = rng.random((m, ncols)) < density
    return (keep * rng.integers(1, 1 << wbits, (m, ncols))).astype(np.uint8)


def _codebook(rng: np.random.Generator, wbits: int) -> np.ndarray:
    return np.concatenate([[0.0], np.sort(rng.normal(0, 0.1, (1 << wbits) - 1))])


def seed_models() -> dict[str, EncodedModel]:
    """Small valid models covering bias, rounds, padding entries, chaining, single and empty streams."""
    rng = np.random.default_rng(2024)
    bias = encode_layer(_codes(rng, 12, 9, 0.4, 4), _codebook(rng, 4), n=8, has_bias=True,
                        n_pes=4, regs=2, name="fc-bias")
    pad = encode_layer(_codes(rng, 40, 6, 0.08, 2), _codebook(rng, 2), n=6, has_bias=False,
                       wbits=2, ibits=2, n_pes=2, regs=64, word_bits=16, name="sparse")
    tail = encode_layer(_codes(rng, 5, 41, 0.5, 3), _codebook(rng, 3), n=40, has_bias=True,
                        wbits=3, ibits=3, n_pes=3, regs=1, word_bits=8, name="tail")
    single = encode_layer(np.full((6, 5), 3, np.uint8), _codebook(rng, 4), n=5, has_bias=False,
                          n_pes=2, regs=8, name="single")
    empty = encode_layer(np.zeros((3, 2), np.uint8), _codebook(rng, 4), n=2, has_bias=False,
                         n_pes=4, regs=4, name="empty")
    # 2-bit codes, 1-bit indices: bit fields (lengths, bias codes, pointers) end inside a byte
    narrow_codes = _codes(rng, 9, 5, 0.3, 2)
    narrow_codes[:, 4] = [0, 1, 3, 0, 0, 0, 2, 0, 1]
    narrow = encode_layer(narrow_codes, _codebook(rng, 2), n=4, has_bias=True, wbits=2, ibits=1,
                          n_pes=2, regs=3, word_bits=8, name="narrow")
    return {
        "bias-rounds": EncodedModel((bias,), fa=9, provenance={"seed": 2024}),
        "chain-padding": EncodedModel((pad, tail), fa=7, input_after_relu=True),
        "single-symbol": EncodedModel((single,)),
        "empty-layer": EncodedModel((empty,)),
        "narrow-bits": EncodedModel((narrow,), fa=0),
    }


def seed_files() -> dict[str, bytes]:
    """The seed models in both formats, keyed ``name/v2`` and ``name/v1``."""
    return {f"{name}/v{fmt}": write(model) for name, model in seed_models().items()
            for fmt, write in WRITERS.items()}


def seed_models_by_file() -> dict[str, EncodedModel]:
    """The model of each :func:`seed_files` entry, under the same key."""
    return {f"{name}/v{fmt}": model for name, model in seed_models().items() for fmt in WRITERS}


# ----------------------------------------------------------------------------- .eie images


@dataclass
class Image:
    """A parsed valid ``.eie`` file: preamble fields, header and each section's bytes."""

    magic: bytes
    fmt: int
    contract: int
    header: dict
    blobs: dict[tuple[int, str], bytes]


@dataclass(frozen=True)
class RawJson:
    """A header value written verbatim (e.g. an integer of 5000 digits json.dumps refuses)."""

    text: str


def parse(data: bytes) -> Image:
    """Split a valid file into its parts (no validation: seeds only)."""
    magic, fmt, contract, head_len, _ = PREAMBLE.unpack_from(data, 0)
    header = json.loads(data[PREAMBLE.size:PREAMBLE.size + head_len])
    blobs = {}
    for i, meta in enumerate(header["layers"]):
        for name in SECTIONS[fmt]:
            s = meta["sections"][name]
            blobs[(i, name)] = bytes(data[s["offset"]:s["offset"] + s["nbytes"]])
    return Image(magic, fmt, contract, header, blobs)


def _dumps(header: object) -> bytes:
    raws: dict[str, str] = {}

    def swap(x: object) -> object:
        if isinstance(x, RawJson):
            key = f"@@raw{len(raws)}@@"
            raws[key] = x.text
            return key
        if isinstance(x, dict):
            return {k: swap(v) for k, v in x.items()}
        if isinstance(x, list):
            return [swap(v) for v in x]
        return x

    text = json.dumps(swap(header))
    for key, raw in raws.items():
        text = text.replace(json.dumps(key), raw)
    return text.encode()


def _align(x: int) -> int:
    return -(-x // 8) * 8


def build(img: Image, edit: Callable[[dict], None] | None = None, *, recrc: bool = False,
          raw_header: bytes | None = None, preamble: dict[str, int] | None = None) -> bytes:
    """Serialise an image: sections laid out after the header, section table set to match them.

    ``edit`` then changes the header (it is re-run on a fresh copy if the header outgrows its
    room, so it must be deterministic); the header is padded with spaces (valid JSON) so the
    sections stay put, and its CRC is correct. With ``recrc`` every section CRC is recomputed
    over whatever bytes the (edited) table points at, so that the loader gets past the
    checksums to the semantic checks. ``raw_header`` replaces the JSON text; ``preamble``
    overrides preamble fields (format, contract, head_len, head_crc).
    """
    base = _align(PREAMBLE.size + len(_dumps(img.header)) + 64)
    while True:
        h = copy.deepcopy(img.header)
        pos = base
        placed = []
        for i, meta in enumerate(h["layers"]):
            for name in SECTIONS[img.fmt]:
                blob = img.blobs[(i, name)]
                sec = meta["sections"][name]
                sec.update(offset=pos, nbytes=len(blob), crc32=zlib.crc32(blob))
                if "count" in sec:  # format 1 states each section's value count and dtype
                    sec["count"] = len(blob) // ITEMSIZE[sec["dtype"]]
                placed.append((pos, blob))
                pos = _align(pos + len(blob))
        body = bytearray(pos - base)
        for at, blob in placed:
            body[at - base:at - base + len(blob)] = blob
        if edit is not None:
            edit(h)
        if recrc:
            _recrc(h, bytes(body), base)
        head = raw_header if raw_header is not None else _dumps(h)
        if PREAMBLE.size + len(head) <= base:
            break
        base = _align(PREAMBLE.size + len(head) + 64)
    head += b" " * (base - PREAMBLE.size - len(head))
    fields = {"fmt": img.fmt, "contract": img.contract, "head_len": len(head), "head_crc": zlib.crc32(head)}
    fields.update(preamble or {})
    pre = PREAMBLE.pack(img.magic, fields["fmt"] % (1 << 16), fields["contract"] % (1 << 16),
                        fields["head_len"] % (1 << 32), fields["head_crc"] % (1 << 32))
    return pre + head + bytes(body)


def _recrc(h: object, body: bytes, base: int) -> None:
    """Set each well-formed section entry's CRC to that of the body bytes it points at."""
    layers = h.get("layers") if isinstance(h, dict) else None
    for meta in layers if isinstance(layers, list) else []:
        table = meta.get("sections") if isinstance(meta, dict) else None
        for s in table.values() if isinstance(table, dict) else []:
            if not isinstance(s, dict):
                continue
            off, n = s.get("offset"), s.get("nbytes")
            if type(off) is int and type(n) is int and base <= off and n >= 0 and off + n <= base + len(body):
                s["crc32"] = zlib.crc32(body[off - base:off - base + n])


def header_paths(header: object, prefix: tuple = ()) -> list[tuple]:
    """Every key path in the header (containers and leaves), for field mutations."""
    out = [prefix] if prefix else []
    if isinstance(header, dict):
        for k, v in header.items():
            out += header_paths(v, (*prefix, k))
    elif isinstance(header, list):
        for i, v in enumerate(header):
            out += header_paths(v, (*prefix, i))
    return out


def section_paths(header: dict, fmt: int = 2) -> list[tuple]:
    """Paths of the length/offset/count/CRC/dtype fields of every section and Huffman stream,
    and of the layer fields that sizes derive from (format ``fmt``'s)."""
    out = []
    keys = ("offset", "nbytes", "count", "crc32", "dtype") if fmt == 1 else ("offset", "nbytes", "crc32")
    for i in range(len(header["layers"])):
        for name in SECTIONS[fmt]:
            out += [("layers", i, "sections", name, k) for k in keys]
        out += [("layers", i, "huffman", s, k) for s in ("v", "z") for k in ("count", "nbits")]
        out += [("layers", i, k) for k in ("m", "n", "n_pes", "regs", "wbits", "ibits", "word_bits")]
        if fmt == 2:
            out.append(("layers", i, "ptr_bits"))
    return out


_DELETE = object()


def set_path(path: tuple, value: object) -> Callable[[dict], None]:
    """An ``edit`` setting (or, with :data:`_DELETE`, removing) the field at ``path``."""

    def edit(h: dict) -> None:
        node: Any = h
        for k in path[:-1]:
            node = node[k]
        if value is _DELETE:
            del node[path[-1]]
        else:
            node[path[-1]] = copy.deepcopy(value)

    return edit


def nudge_path(path: tuple, delta: int) -> Callable[[dict], None]:
    """An ``edit`` adding ``delta`` to an integer field (other values are left alone)."""

    def edit(h: dict) -> None:
        node: Any = h
        for k in path[:-1]:
            node = node[k]
        if type(node[path[-1]]) is int:
            node[path[-1]] += delta

    return edit


WEIRD_VALUES: list[object] = [
    None, True, False, 0, -1, 1, 2, 3, 7, 8, 9, 15, 16, 24, 25, 64, 255, 256, 4096, 65535, 65536,
    65537, 1 << 24, (1 << 24) + 1, 1 << 31, 1 << 32, (1 << 32) - 1, 1 << 63, 1 << 64, 10**30, -(10**30),
    RawJson("9" * 5000), RawJson("1" + "0" * 400), RawJson("1e400"), RawJson("-1e400"),
    0.5, 1.0, 12.0, -0.0, 1e308, float("inf"), float("nan"), "", "x", "12", "u4", "f8", "<u4", "i8",
    [], [1], {}, {"a": 1}, "eie-model",
]


# --------------------------------------------------------------------------- layout mutations


def layer_blobs(layer: EncodedLayer, bias: bytes) -> tuple[dict[str, bytes], dict[str, dict]]:
    """Format-1 sections of a layer (arrays taken as they are, not validated) and its Huffman table."""
    hv = huffman.encode(layer.v, 1 << layer.wbits)
    hz = huffman.encode(layer.z, 1 << layer.ibits)
    blobs = {
        "codebook": layer.codebook.astype("<f8").tobytes(),
        "entries_per_pe": np.diff(layer.pe_offsets).astype("<u4").tobytes(),
        "ptr": layer.ptr.astype("<u4").tobytes(),
        "packed": layer.packed().tobytes(),
        "bias": bias,
        "huff_v_lengths": hv.lengths.tobytes(), "huff_v_payload": hv.payload.tobytes(),
        "huff_z_lengths": hz.lengths.tobytes(), "huff_z_payload": hz.payload.tobytes(),
    }
    table = {"v": {"count": hv.count, "nbits": hv.nbits}, "z": {"count": hz.count, "nbits": hz.nbits}}
    return blobs, table


def weight_entries(layer: EncodedLayer) -> np.ndarray:
    """Entries outside the last column's slices (all entries without a bias), for arrays that
    need not be a valid layout: each slice is clipped to its PE's entries."""
    keep = np.ones(len(layer.v), bool)
    if not layer.has_bias:
        return keep
    off, ptr, ncols = layer.pe_offsets, layer.ptr, layer.ncols
    for p in range(min(layer.n_pes, len(off) - 1)):
        lo, hi = int(off[p]), min(int(off[p + 1]), len(keep))
        for s in range(ncols - 1, ptr.shape[1] - 1, ncols):
            a = min(max(int(ptr[p, s]), 0), max(hi - lo, 0))
            b = min(max(int(ptr[p, s + 1]), a), max(hi - lo, 0))
            keep[lo + a:lo + b] = False
    return keep


def layer_blobs_v2(layer: EncodedLayer, bias: np.ndarray) -> tuple[dict[str, bytes], dict[str, object]]:
    """Format-2 sections of a layer (arrays taken as they are) with ``bias`` as its bias codes,
    and the header fields that go with them (Huffman table, pointer width)."""
    keep = weight_entries(layer)
    hv = huffman.encode(layer.v[keep], 1 << layer.wbits)
    hz = huffman.encode(layer.z[keep], 1 << layer.ibits)
    ptr_bits = max(1, int(layer.ptr.max()).bit_length())
    blobs = {
        "codebook": layer.codebook.astype("<f8").tobytes(),
        "ptr": pack_bits(layer.ptr, ptr_bits),
        "bias": pack_bits(bias, layer.wbits),
        "huff_lengths": pack_bits(np.concatenate([hv.lengths, hz.lengths]),
                                          sizes.HUFFMAN_LENGTH_BITS),
        "huff_v_payload": hv.payload.tobytes(), "huff_z_payload": hz.payload.tobytes(),
    }
    fields = {"huffman": {"v": {"count": hv.count, "nbits": hv.nbits},
                          "z": {"count": hz.count, "nbits": hz.nbits}}, "ptr_bits": ptr_bits}
    return blobs, fields


def bias_codes_v2(img: Image, i: int) -> np.ndarray:
    """The bias codes in a format-2 image's layer ``i``."""
    meta = img.header["layers"][i]
    if not meta["has_bias"]:
        return np.zeros(0, np.uint8)
    return eiefile._unpack(memoryview(img.blobs[(i, "bias")]), meta["m"], meta["wbits"], np.uint8)[0]


LAYOUT_OPS = ("v", "z", "ptr", "insert", "delete", "codebook", "bias")


def mutate_layout(img: Image, model: EncodedModel, layer_index: int, op: str, a: int, b: int,
                  value: float) -> Image:
    """Change a decoded array of one layer and re-encode everything around it consistently.

    The packed words, the Huffman streams, entry counts and every CRC then agree with the
    change, so only the semantic checks (pointers, relative indices, padding, codebook, bias)
    can catch it. ``a``/``b`` pick the element (taken modulo the sizes), ``value`` the new value.
    """
    i = layer_index % len(model.layers)
    lay = model.layers[i]
    v, z = lay.v.copy(), lay.z.copy()
    ptr, off, cb = lay.ptr.copy(), lay.pe_offsets.copy(), lay.codebook.copy()
    bias: bytes | np.ndarray = img.blobs[(i, "bias")] if img.fmt == 1 else bias_codes_v2(img, i)
    e = len(v)
    iv = int(value) if np.isfinite(value) else b  # the integer operations' value
    if op == "v" and e:
        v[a % e] = iv % (1 << lay.wbits)
    elif op == "z" and e:
        z[a % e] = iv % (1 << lay.ibits)
    elif op == "ptr":
        p, s = a % lay.n_pes, b % ptr.shape[1]
        ptr[p, s] = max(0, int(ptr[p, s]) + (iv % 5 - 2))
    elif op in ("insert", "delete"):
        p = a % lay.n_pes
        n_p = int(off[p + 1] - off[p])
        if op == "delete" and n_p == 0:
            return img
        k = b % (n_p + (op == "insert"))
        g = int(off[p]) + k
        if op == "insert":
            v = np.insert(v, g, iv % (1 << lay.wbits))
            z = np.insert(z, g, 7 * iv % (1 << lay.ibits))
        else:
            v, z = np.delete(v, g), np.delete(z, g)
        step = 1 if op == "insert" else -1
        off[p + 1:] += step
        if iv % 2:  # keep the PE's pointers consistent, or leave them stale
            ptr[p, ptr[p] > k] += step
            ptr[p, -1] = off[p + 1] - off[p]
    elif op == "codebook":
        cb[a % len(cb)] = value
    elif op == "bias" and len(bias):
        if img.fmt == 1:
            arr = bytearray(bias)
            arr[a % len(arr)] = iv % 256
            bias = bytes(arr)
        else:
            bias = bias.copy()
            bias[a % len(bias)] = iv % (1 << lay.wbits)
    return replace_layer(img, i, dataclasses.replace(lay, v=v, z=z, ptr=ptr, pe_offsets=off,
                                                    codebook=cb), bias)


def replace_layer(img: Image, i: int, layer: EncodedLayer, bias: bytes | np.ndarray | None = None) -> Image:
    """A copy of ``img`` whose layer ``i`` holds ``layer``'s arrays (and ``bias`` as its bias: the
    section's bytes in format 1, the codes in format 2), with its Huffman table (and pointer
    width) recomputed; :func:`build` then fixes sizes and CRCs."""
    out = copy.deepcopy(img)
    if img.fmt == 1:
        blobs, table = layer_blobs(layer, img.blobs[(i, "bias")] if bias is None else bias)
        fields: dict[str, object] = {"huffman": table}
    else:
        blobs, fields = layer_blobs_v2(layer, bias_codes_v2(img, i) if bias is None else bias)
    out.blobs.update({(i, name): blob for name, blob in blobs.items()})
    out.header["layers"][i].update(fields)
    return out


LAYOUT_VALUES = (0.0, 1.0, 2.0, 3.0, 15.0, 16.0, 255.0, float("nan"), float("inf"), -0.25, 1e6, 40000.0)


# ----------------------------------------------------------------------------- oracles


def _check_message(e: BaseException, source: str) -> None:
    msg = str(e)
    if source not in msg or len(msg) < len(source) + 12:
        raise Failure(f"error message does not name the source {source!r} and the problem: {msg!r}")


def check_eie(data: bytes, source: str = "fuzz.eie") -> str:
    """``"ok"`` (loads, every layer valid, re-serialises to a loadable identical image) or
    ``"error"`` (an EieError naming ``source``); raises :class:`Failure` otherwise."""
    try:
        model = eiefile.from_bytes(data, source)
    except EieError as e:
        _check_message(e, source)
        return "error"
    for layer in model.layers:
        layer.validate()
    again = eiefile.to_bytes(model)
    if eiefile.to_bytes(eiefile.from_bytes(again, "re-serialised")) != again:
        raise Failure("a loaded model does not survive a save/load round trip unchanged")
    return "ok"


def check_huffman(stream: object) -> str:
    """``"ok"`` (decodes to ``count`` present symbols using exactly ``nbits``) or ``"error"``."""
    try:
        out = huffman.decode(stream)  # type: ignore[arg-type]
    except EieError as e:
        _check_message(e, "Huffman stream")
        return "error"
    assert isinstance(stream, HuffmanStream)
    lengths = np.asarray(stream.lengths).astype(np.int64)
    want = np.uint8 if lengths.size <= 256 else np.uint16
    if out.dtype != want or out.shape != (int(stream.count),):
        raise Failure(f"decoded {out.dtype} {out.shape}, expected {np.dtype(want)} ({int(stream.count)},)")
    if out.size and (lengths[out] == 0).any():
        raise Failure("decoded a symbol whose code length is 0")
    if int(lengths[out].sum()) != int(stream.nbits):
        raise Failure("decoded symbols' code lengths do not add up to nbits")
    return "ok"


def check_toml(text: bytes, path: Path) -> str:
    """``"ok"`` (a SimConfig that re-validates) or ``"error"`` (an EieError naming the file)."""
    path.write_bytes(text)
    try:
        cfg = SimConfig.from_toml(path)
    except EieError as e:
        _check_message(e, str(path))
        return "error"
    if not isinstance(cfg, SimConfig) or SimConfig(**cfg.to_dict()) != cfg:
        raise Failure("from_toml returned a configuration that does not re-validate")
    return "ok"


def check_npy(data: bytes, path: Path) -> str:
    """``"ok"`` (a finite 2-D float64 matrix) or ``"error"`` (an EieError naming the file)."""
    path.write_bytes(data)
    try:
        w, _ = load_layer(path)
    except EieError as e:
        _check_message(e, str(path))
        return "error"
    if w.dtype != np.float64 or w.ndim != 2 or w.size == 0 or not np.isfinite(w).all():
        raise Failure(f"load_layer returned {w.dtype} {w.shape} (not a finite 2-D float64 matrix)")
    return "ok"


@contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Raise :class:`CaseTimeout` in Python code after ``seconds``; a watchdog thread dumps the
    stacks and exits if native code (a numba kernel) ignores the alarm for 3x as long."""

    def alarm(signum: int, frame: object) -> None:
        raise CaseTimeout(f"case ran over {seconds} s")

    old = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    faulthandler.dump_traceback_later(3 * seconds, exit=True, file=sys.__stderr__)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        faulthandler.cancel_dump_traceback_later()
        signal.signal(signal.SIGALRM, old)


def guarded(check: Callable[..., str], *args: object, size: int,
            timeout: float = CASE_TIMEOUT_S) -> tuple[str, int]:
    """Run an oracle under the time limit and traced-allocation bound; return (verdict, peak).

    Any exception other than :class:`Failure` escaping the oracle is wrapped in one.
    """
    started = not tracemalloc.is_tracing()
    if started:
        tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    tracemalloc.reset_peak()
    try:
        with time_limit(timeout):
            verdict = check(*args)
    except Failure:
        raise
    except (Exception, CaseTimeout) as e:
        raise Failure(f"{e.__class__.__name__}: {e}") from e
    finally:
        peak = tracemalloc.get_traced_memory()[1] - before
        if started:
            tracemalloc.stop()
    bound = MEM_FACTOR * size + MEM_SLACK
    if peak > bound:
        raise Failure(f"traced allocation peak {peak:,} bytes exceeds {bound:,} for a {size}-byte input")
    return verdict, peak


# ----------------------------------------------------------------------------- random cases


def _regions(img_bytes: bytes) -> list[tuple[int, int]]:
    """Byte ranges of the preamble, header and each section (for region-aware truncation)."""
    head_len = PREAMBLE.unpack_from(img_bytes, 0)[3]
    out = [(0, PREAMBLE.size), (PREAMBLE.size, PREAMBLE.size + head_len)]
    header = json.loads(img_bytes[PREAMBLE.size:PREAMBLE.size + head_len])
    for meta in header["layers"]:
        out += [(s["offset"], s["offset"] + s["nbytes"]) for s in meta["sections"].values()]
    return out


def truncate_in_region(data: bytes, region: int, frac: float) -> bytes:
    """``data`` cut at a point ``frac`` of the way through region ``region`` (mod the count)."""
    regions = _regions(data)
    lo, hi = regions[region % len(regions)]
    return data[:min(len(data) - 1, lo + int(frac * (hi - lo)))]


def flip_bits(data: bytes, positions: list[int]) -> bytes:
    """``data`` with the given bit positions (mod its bit length) inverted."""
    out = bytearray(data)
    for pos in positions:
        pos %= 8 * len(out)
        out[pos >> 3] ^= 1 << (pos & 7)
    return bytes(out)


def flip_in_section(img: Image, layer: int, section: int, bits: list[int]) -> Image:
    """A copy of ``img`` with ``bits`` (mod its bit length) flipped inside one section, picked by
    index (mod the counts); :func:`build` then recomputes its CRC, so the decoders meet the damage."""
    names = SECTIONS[img.fmt]
    key = (layer % len(img.header["layers"]), names[section % len(names)])
    out = copy.copy(img)
    out.blobs = dict(img.blobs)
    if out.blobs[key]:
        out.blobs[key] = flip_bits(out.blobs[key], bits)
    return out


def deep_json(kind: int, depth: int) -> bytes:
    """Hostile header texts: deep nesting, non-objects, invalid UTF-8, huge numbers."""
    texts = [
        b"[" * depth + b"]" * depth,
        b'{"a":' * depth + b"1" + b"}" * depth,
        b'{"kind": "eie-model", "layers": ' + b"[" * depth + b"]" * depth + b"}",
        b'{"kind": "eie-model", "layers": [{"m": ' + b"9" * depth + b"}]}",
        b'{"kind": "eie-model", "layers": [], "fa": ' + b"1" * depth + b"}",
        b"\xff\xfe\x00garbage", b"null", b"[]", b"42", b'"eie-model"', b"", b"{", b"NaN",
        b'{"kind": "eie-model", "layers": [1e400]}',
    ]
    return texts[kind % len(texts)]


EIE_KINDS = ("truncate", "bitflip", "section-bitflip", "junk", "preamble", "header-field", "section-field",
             "section-field-recrc", "header-raw", "layout", "multi-layout")


def random_eie_case(rng: np.random.Generator, seeds: dict[str, bytes], images: dict[str, Image],
                    models: dict[str, EncodedModel]) -> tuple[str, bytes]:
    """One random hostile file: (mutation kind, bytes)."""
    name = str(rng.choice(sorted(seeds)))  # keys "<seed>/v2" or "<seed>/v1"
    data, img, model = seeds[name], images[name], models[name]
    kind = str(rng.choice(EIE_KINDS))
    if kind == "truncate":
        return kind, truncate_in_region(data, int(rng.integers(0, 64)), float(rng.random()))
    if kind == "bitflip":
        return kind, flip_bits(data, [int(p) for p in rng.integers(0, 8 * len(data), rng.integers(1, 9))])
    if kind == "section-bitflip":  # checksums made to match: pointers, bit fields, streams decoded
        bits = [int(p) for p in rng.integers(0, 1 << 20, rng.integers(1, 5))]
        return kind, build(flip_in_section(img, int(rng.integers(0, 8)), int(rng.integers(0, 16)), bits))
    if kind == "junk":
        junk = rng.integers(0, 256, int(rng.integers(1, 65)), dtype=np.uint8).tobytes()
        return kind, data + (junk if rng.random() < 0.7 else bytes(len(junk)))
    if kind == "preamble":
        key = str(rng.choice(["fmt", "contract", "head_len", "head_crc"]))
        value = int(rng.choice([0, 1, 2, 0xFFFF, 0xFFFFFFFF, int(rng.integers(0, 1 << 32))]))
        return kind, build(img, preamble={key: value})
    if kind == "header-raw":
        text = deep_json(int(rng.integers(0, 100)), int(rng.choice([2, 50, 1000, 5000, 100_000])))
        return kind, build(img, raw_header=text)
    if kind in ("layout", "multi-layout"):
        for _ in range(1 if kind == "layout" else int(rng.integers(2, 5))):
            img = mutate_layout(img, model, int(rng.integers(0, 8)), str(rng.choice(LAYOUT_OPS)),
                                int(rng.integers(0, 1 << 16)), int(rng.integers(0, 1 << 16)),
                                float(rng.choice(LAYOUT_VALUES)))
        return kind, build(img)
    paths = header_paths(img.header) if kind == "header-field" else section_paths(img.header, img.fmt)
    path = paths[int(rng.integers(0, len(paths)))]
    r = rng.random()
    if r < 0.4:
        edit = nudge_path(path, int(rng.choice([-1, 1, -8, 8, 2, -2, 1 << 20])))
    elif r < 0.5:
        edit = set_path(path, _DELETE)
    else:
        edit = set_path(path, WEIRD_VALUES[int(rng.integers(0, len(WEIRD_VALUES)))])
    return kind, build(img, edit, recrc=kind == "section-field-recrc" or rng.random() < 0.3)


def huffman_seeds() -> list[HuffmanStream]:
    """Valid streams: 16-symbol codes, long (24-bit) codes, uint16 alphabets, one symbol, empty."""
    rng = np.random.default_rng(7)
    fib = [1, 1]
    while len(fib) < 24:
        fib.append(fib[-1] + fib[-2])
    return [
        huffman.encode(rng.integers(0, 16, 300).astype(np.uint8), 16),
        huffman.encode(rng.permutation(np.repeat(np.arange(24), fib)), 26),  # codes up to 23 bits
        huffman.encode(rng.integers(0, 300, 200), 300),
        huffman.encode(rng.integers(0, 40, 100), 40, max_len=6),
        huffman.encode(np.full(17, 5, np.uint8), 16),
        huffman.encode(np.zeros(0, np.uint8), 16),
    ]


HUFFMAN_VALUES: list[object] = [0, 1, -1, 7, 8, 24, 25, 255, 256, 1 << 31, 1 << 62, 1 << 64, -(1 << 70),
                                True, False, 1.0, 2.5, float("nan"), None, "3", np.int64(3),
                                np.uint64(2**64 - 1), np.float64(8.0), np.bool_(True)]


def random_huffman_case(rng: np.random.Generator, seeds: list[HuffmanStream]) -> tuple[str, object]:
    """One random hostile stream: (mutated field, stream)."""
    s = seeds[int(rng.integers(0, len(seeds)))]
    field = str(rng.choice(["lengths", "count", "nbits", "payload", "payload", "several"]))
    if field in ("count", "nbits"):
        cur = getattr(s, field)
        value = (cur + int(rng.integers(-9, 10)) if rng.random() < 0.6
                 else HUFFMAN_VALUES[int(rng.integers(0, len(HUFFMAN_VALUES)))])
        return field, dataclasses.replace(s, **{field: value})
    if field == "lengths":
        lengths = s.lengths.copy()
        op = int(rng.integers(0, 6))
        if op == 0:
            lengths[int(rng.integers(0, lengths.size))] = int(rng.integers(0, 30))
        elif op == 1:
            lengths = lengths.astype(str(rng.choice(["int8", "int64", "uint16", "float64", "bool"])))
            if lengths.dtype.kind == "i":
                lengths[int(rng.integers(0, lengths.size))] = int(rng.integers(-3, 300)) % 128
        elif op == 2:
            lengths = lengths[: int(rng.integers(0, lengths.size + 1))]
        elif op == 3:
            lengths = np.concatenate([lengths, rng.integers(0, 25, int(rng.integers(1, 70000)))
                                      .astype(np.uint8)])
        elif op == 4:
            lengths = lengths.reshape(1, -1)
        else:
            lengths = lengths.tolist()  # type: ignore[assignment]
        return field, dataclasses.replace(s, lengths=lengths)
    if field == "payload":
        payload = s.payload.copy()
        op = int(rng.integers(0, 5))
        if op == 0 and payload.size:
            payload = np.frombuffer(flip_bits(payload.tobytes(), [int(p) for p in rng.integers(
                0, 8 * payload.size, rng.integers(1, 9))]), np.uint8).copy()
        elif op == 1:
            payload = payload[: int(rng.integers(0, payload.size + 1))]
        elif op == 2:
            payload = np.concatenate([payload, rng.integers(0, 256, int(rng.integers(1, 9)), np.uint8)])
        elif op == 3:
            payload = payload.astype(str(rng.choice(["int8", "uint16", "float32"])))
        else:
            payload = bytes(payload)  # type: ignore[assignment]
        return field, dataclasses.replace(s, payload=payload)
    # Several fields at once, consistent with each other: a plausible but wrong stream.
    payload = rng.integers(0, 256, int(rng.integers(0, 40)), np.uint8)
    nbits = max(0, 8 * payload.size - int(rng.integers(0, 8)))
    if nbits % 8:
        payload[-1] &= np.uint8((0xFF << (8 - nbits % 8)) & 0xFF)
    count = int(rng.integers(0, max(1, nbits) + 1))
    return field, dataclasses.replace(s, payload=payload, nbits=nbits, count=count)


TOML_SEED = {name: (str(value).lower() if isinstance(value, bool) else repr(value))  # TOML booleans
             if isinstance(value, int | float) else None for name, value in SimConfig().to_dict().items()}
TOML_VALUES = ['"12"', "true", "false", "1.5", "0", "-1", "1e400", "-1e400", "nan", "inf", "-inf",
               "9223372036854775807", "-9223372036854775808", "[1, 2]", "{a = 1}", "1979-05-27",
               "07:32:00", '""', '"\\u0000"', '"/nonexistent.csv"', '"."', "0.0", "1e-300", "4097",
               "65537", "49", "15", "7", "17179869185", "1e11", "1e12", "[[[[[]]]]]", "'''x'''"]


def toml_text(values: dict[str, str | None], extra: str = "") -> bytes:
    """A TOML file with one ``key = raw value`` line per non-None value."""
    lines = [f"{k} = {v}" for k, v in values.items() if v is not None]
    return ("\n".join(lines) + "\n" + extra).encode()


def random_toml_case(rng: np.random.Generator) -> tuple[str, bytes]:
    """One random hostile config: (mutation kind, TOML bytes)."""
    values: dict[str, str | None] = dict(TOML_SEED)
    values["check"] = "true"
    if rng.random() < 0.3:
        values["energy_table"] = json.dumps(str(ENERGY_CSV))
    keys = sorted(values)
    kind = str(rng.choice(["value", "value", "range", "delete", "unknown", "duplicate", "truncate",
                           "bitflip", "table", "deep"]))
    extra = ""
    if kind == "value":
        for _ in range(int(rng.integers(1, 3))):
            values[str(rng.choice(keys))] = str(rng.choice(TOML_VALUES))
    elif kind == "range":
        key = str(rng.choice(sorted(_RANGES)))
        typ, lo, hi = _RANGES[key]
        edge = [lo, hi, lo - 1, hi + 1, lo / 2, hi * 2] if typ is float else [lo, hi, lo - 1, hi + 1]
        value = edge[int(rng.integers(0, len(edge)))]
        values[key] = repr(float(value)) if typ is float else str(int(value))
    elif kind == "delete":
        values[str(rng.choice(keys))] = None
    elif kind == "unknown":
        extra = str(rng.choice(["n_pe = 4", "self = 1", "Clock_hz = 1e9", '"n pes" = 2', "__class__ = 1"]))
    elif kind == "duplicate":
        extra = f"{rng.choice(keys)} = 4\n"
    elif kind == "table":
        extra = str(rng.choice(["[arch]\nn_pes = 4\n", "[n_pes]\n", "[[queue_depth]]\n"]))
    elif kind == "deep":
        depth = int(rng.choice([10, 1000, 100_000]))
        extra = "x = " + "[" * depth + "]" * depth + "\n"
    text = toml_text(values, extra)
    if kind == "truncate":
        text = text[: int(rng.integers(0, len(text)))]
    elif kind == "bitflip":
        text = flip_bits(text, [int(p) for p in rng.integers(0, 8 * len(text), rng.integers(1, 9))])
    return kind, text


def npy_seed() -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.arange(12, dtype=np.float64).reshape(3, 4))
    return buf.getvalue()


NPY_HEADERS = ["(3, 4)", "(4, 3)", "(12,)", "(2, 2, 3)", "()", "(0, 4)", "(300000, 400000)",
               "(10**9, 10**9)", "(-1, 12)", "(3, 4, 5, 6, 7, 8)", "(2**62, 4)", "(1, 1)"]
NPY_DESCR = ["'<f8'", "'<f4'", "'|u1'", "'<i8'", "'|O'", "'<U3'", "'|b1'", "'<c16'", "'<f16'", "'|V8'",
             "[('a', '<f8')]", "'>f8'", "'foo'"]


def random_npy_case(rng: np.random.Generator) -> tuple[str, bytes]:
    """One random hostile .npy: (mutation kind, bytes)."""
    data = npy_seed()
    kind = str(rng.choice(["shape", "descr", "order", "truncate", "bitflip", "junk"]))
    head_end = data.index(b"\n") + 1
    header = data[10:head_end].decode("latin1")
    if kind in ("shape", "descr", "order"):
        if kind == "shape":
            header = header.replace("(3, 4)", str(rng.choice(NPY_HEADERS)))
        elif kind == "descr":
            header = header.replace("'<f8'", str(rng.choice(NPY_DESCR)))
        else:
            header = header.replace("False", str(rng.choice(["True", "1", "None", "'x'"])))
        header = header.rstrip() + "\n"
        pad = (-(10 + len(header))) % 64
        header = header[:-1] + " " * pad + "\n"
        return kind, data[:8] + struct.pack("<H", len(header)) + header.encode("latin1") + data[head_end:]
    if kind == "truncate":
        return kind, data[: int(rng.integers(0, len(data)))]
    if kind == "bitflip":
        return kind, flip_bits(data, [int(p) for p in rng.integers(0, 8 * len(data), rng.integers(1, 9))])
    return kind, data + rng.integers(0, 256, int(rng.integers(1, 64)), np.uint8).tobytes()


# ----------------------------------------------------------------------------- campaign


@dataclass
class Tally:
    target: str
    cases: int = 0
    loaded_ok: int = 0
    eie_error: int = 0
    failures: int = 0
    seconds: float = 0.0
    max_peak_bytes: int = 0


def _record(target: str, index: int, label: str, payload: bytes | str, err: Failure) -> None:
    out = OUT / "fuzz_failures"
    out.mkdir(parents=True, exist_ok=True)
    stem = out / f"{target}-{index:06d}-{label}"
    if isinstance(payload, bytes):
        stem.with_suffix(".bin").write_bytes(payload)
    else:
        stem.with_suffix(".repr").write_text(payload)
    stem.with_suffix(".txt").write_text("".join(traceback.format_exception(err)))


TARGETS = ("eie", "eie-v1", "huffman", "onnx", "toml", "npy")  # eie: format-2 seeds; eie-v1: format-1 seeds


def run_campaign(cases: int, seed: int, targets: tuple[str, ...] = TARGETS,
                 verbose: bool = True) -> list[Tally]:
    """``cases`` random cases per target; returns one tally per target."""
    rng = np.random.default_rng(seed)
    models = seed_models_by_file()
    seeds = seed_files()
    images = {name: parse(d) for name, d in seeds.items()}
    streams = huffman_seeds()
    for d in seeds.values():  # warm-up: numba kernels compiled or loaded from cache
        check_eie(d)
    for s in streams:
        check_huffman(s)
    tallies = []
    with tempfile.TemporaryDirectory() as tmp:
        if "onnx" in targets:
            # imported here: fuzz_onnx imports this module's helpers; warm up so that importing
            # onnx is not charged to the first case
            from fuzz_onnx import check_onnx, random_onnx_case, seed_onnx

            check_onnx(seed_onnx(), Path(tmp) / "warm.onnx")
        for target in targets:
            t = Tally(target)
            t0 = time.perf_counter()
            for i in range(cases):
                if target in ("eie", "eie-v1"):
                    fmt = "/v1" if target == "eie-v1" else "/v2"
                    label, data = random_eie_case(rng, {k: v for k, v in seeds.items() if k.endswith(fmt)},
                                                  images, models)
                    args, size, shown = (data, "fuzz.eie"), len(data), data
                    check: Callable[..., str] = check_eie
                elif target == "huffman":
                    label, stream = random_huffman_case(rng, streams)
                    args, shown, check = (stream,), repr(stream), check_huffman
                    size = sum(int(getattr(np.asarray(getattr(stream, f)), "nbytes", 8))
                               for f in ("lengths", "payload"))
                elif target == "onnx":
                    label, data = random_onnx_case(rng)
                    args, size, shown, check = (data, Path(tmp) / "m.onnx"), len(data), data, check_onnx
                elif target == "toml":
                    label, data = random_toml_case(rng)
                    args, size, shown, check = (data, Path(tmp) / "arch.toml"), len(data), data, check_toml
                else:
                    label, data = random_npy_case(rng)
                    args, size, shown, check = (data, Path(tmp) / "w.npy"), len(data), data, check_npy
                t.cases += 1
                try:
                    verdict, peak = guarded(check, *args, size=size)
                except Failure as e:
                    t.failures += 1
                    _record(target, i, label, shown, e)
                    if verbose and t.failures <= 5:
                        print(f"FAILURE {target} case {i} ({label}): {e}", file=sys.stderr)
                    continue
                t.max_peak_bytes = max(t.max_peak_bytes, peak)
                if verdict == "ok":
                    t.loaded_ok += 1
                else:
                    t.eie_error += 1
            t.seconds = time.perf_counter() - t0
            tallies.append(t)
    return tallies


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=10_000, help="random cases per target")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--targets", default=",".join(TARGETS),
                    help="eie (format-2 files), eie-v1 (format-1 files), huffman, onnx, toml, npy")
    args = ap.parse_args(argv)
    tallies = run_campaign(args.cases, args.seed, tuple(args.targets.split(",")))
    df = pd.DataFrame([dataclasses.asdict(t) for t in tallies])
    df["cases_per_s"] = (df["cases"] / df["seconds"]).round(1)
    df["seed"] = args.seed
    OUT.mkdir(parents=True, exist_ok=True)
    df.to_csv(OUT / "fuzz.csv", index=False)
    print(df[["target", "cases", "loaded_ok", "eie_error", "failures", "cases_per_s",
              "max_peak_bytes"]].to_string(index=False))
    print(f"wrote {OUT / 'fuzz.csv'}")
    return 1 if df["failures"].sum() else 0


if __name__ == "__main__":
    sys.exit(main())
