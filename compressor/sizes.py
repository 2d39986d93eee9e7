"""Storage accounting in the manner of Deep Compression's per-layer table.

Per layer (biases apart, as the paper's counts exclude them): weights, density,
bits per kept weight for the codes and for the relative indices, after pruning +
quantization (fixed-width fields, padding included) and after Huffman coding,
plus pointers and codebook, total bytes, % of the 32-bit dense size and the
compression ratio.

The Huffman-coded figures count exactly what a ``.eie`` file (format 2, see
:mod:`compressor.eiefile`) stores for a layer, which writes its sections with the
functions here: the codebook, the column pointers in :func:`pointer_bits` bits each,
the two code-length tables, the code and index streams of :func:`weight_streams`
(each stream whole bytes) and, apart, the bias as ``wbits``-bit codes. The file keeps
the codebook at 64 bits where the paper-comparable columns count 32, so a file's
size is ``bytes_stored`` (which counts what the file holds) summed over its layers
plus its header, checksums and alignment padding.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from compressor import huffman
from compressor.encode import EncodedLayer
from compressor.model import EncodedModel

# Deep Compression counts the codebook as 32-bit floats; the paper-comparable columns do too.
CODEBOOK_ENTRY_BITS = 32
# A .eie file stores the trained float64 centroids: rounding them to 32 bits could change the
# codebook's fixed-point format and values, hence simulated results, on a save/load round trip.
# ``bytes_stored`` counts them at this width.
STORED_CODEBOOK_BITS = 64
HUFFMAN_LENGTH_BITS = 5  # a Huffman code length (<= 24) per symbol of the table


@dataclass(frozen=True)
class LayerSize:
    name: str
    weights: int  # m x n, bias excluded
    kept: int  # non-zero weights, bias excluded
    density: float
    entries: int  # stored entries of the weight columns, padding included
    weight_bits_pq: float  # code bits per kept weight (fixed width, padding included)
    index_bits_pq: float  # relative-index bits per kept weight
    weight_bits_huffman: float
    index_bits_huffman: float
    pointer_bytes: int
    codebook_bytes: int
    bytes_pq: int
    bytes_huffman: int
    percent_pq: float  # of the 32-bit dense size
    percent_huffman: float
    ratio_pq: float
    ratio_huffman: float
    bias_values: int  # biases, reported apart
    bias_bytes_dense: int  # 32-bit floats
    bias_bytes_pq: int  # as codes
    bytes_stored: int  # what a .eie file stores: bytes_huffman, the float64 codebook, the bias codes


def bias_entry_mask(ptr: np.ndarray, pe_offsets: np.ndarray, ncols: int, rounds: int) -> np.ndarray:
    """True for the entries of the last column's slices (the bias column's, with a bias).

    ``ptr`` and ``pe_offsets`` must be a valid layout's (rising pointers, within each PE).
    """
    total = int(pe_offsets[-1])
    cols = np.arange(rounds) * ncols + ncols - 1
    starts = (pe_offsets[:-1, None] + ptr[:, cols]).ravel()
    counts = (ptr[:, cols + 1] - ptr[:, cols]).ravel()
    keep = counts > 0
    starts, counts = starts[keep], counts[keep]
    first = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
    mask = np.zeros(total, bool)
    mask[np.repeat(starts - first, counts) + np.arange(int(counts.sum()))] = True
    return mask


def _weight_part(layer: EncodedLayer) -> tuple[np.ndarray, np.ndarray]:
    """(v, z) of the entries in the weight columns (the bias column's entries left out)."""
    if not layer.has_bias:
        return layer.v, layer.z
    keep = ~bias_entry_mask(layer.ptr, layer.pe_offsets, layer.ncols, layer.rounds)
    return layer.v[keep], layer.z[keep]


def weight_streams(layer: EncodedLayer) -> tuple[huffman.HuffmanStream, huffman.HuffmanStream]:
    """Huffman streams of the weight columns' codes ``v`` and relative indices ``z``.

    What the size table counts and what a ``.eie`` file stores; the bias is stored apart."""
    return _streams(layer, *_weight_part(layer))


def _streams(layer: EncodedLayer, v: np.ndarray,
             z: np.ndarray) -> tuple[huffman.HuffmanStream, huffman.HuffmanStream]:
    return huffman.encode(v, 1 << layer.wbits), huffman.encode(z, 1 << layer.ibits)


def pointer_bits(layer: EncodedLayer) -> int:
    """Bits of one stored pointer: enough to address the largest PE's entries."""
    return max(1, int(layer.entries_per_pe.max()).bit_length())


def layer_size(layer: EncodedLayer) -> LayerSize:
    v, z = _weight_part(layer)
    hv, hz = _streams(layer, v, z)
    weights = layer.m * layer.n
    kept = int(np.count_nonzero(v))
    entries = len(v)
    ptr_bytes = math.ceil(layer.ptr.size * pointer_bits(layer) / 8)
    codebook_bytes = (1 << layer.wbits) * CODEBOOK_ENTRY_BITS // 8
    table_bits = HUFFMAN_LENGTH_BITS * ((1 << layer.wbits) + (1 << layer.ibits))
    bytes_pq = math.ceil(entries * (layer.wbits + layer.ibits) / 8) + ptr_bytes + codebook_bytes
    # Each stream starts on a byte of its own, so that the loader decodes it in place.
    stream_bytes = math.ceil(table_bits / 8) + math.ceil(hv.nbits / 8) + math.ceil(hz.nbits / 8)
    bytes_huff = stream_bytes + ptr_bytes + codebook_bytes
    dense = 4 * weights
    per_kept = 1 / max(kept, 1)
    bias_values = layer.m if layer.has_bias else 0
    bias_bytes = math.ceil(bias_values * layer.wbits / 8)
    return LayerSize(
        name=layer.name, weights=weights, kept=kept, density=kept / weights, entries=entries,
        weight_bits_pq=layer.wbits * entries * per_kept, index_bits_pq=layer.ibits * entries * per_kept,
        weight_bits_huffman=hv.nbits * per_kept, index_bits_huffman=hz.nbits * per_kept,
        pointer_bytes=ptr_bytes, codebook_bytes=codebook_bytes, bytes_pq=bytes_pq,
        bytes_huffman=bytes_huff, percent_pq=100 * bytes_pq / dense,
        percent_huffman=100 * bytes_huff / dense, ratio_pq=dense / bytes_pq,
        ratio_huffman=dense / bytes_huff, bias_values=bias_values, bias_bytes_dense=4 * bias_values,
        bias_bytes_pq=bias_bytes,
        bytes_stored=bytes_huff + bias_bytes + stored_codebook_bytes(layer) - codebook_bytes)


def stored_codebook_bytes(layer: EncodedLayer) -> int:
    """The codebook as a .eie file stores it (float64)."""
    return (1 << layer.wbits) * STORED_CODEBOOK_BITS // 8


def size_table(layers: EncodedModel | Sequence[EncodedLayer]) -> pd.DataFrame:
    """One row per layer and a ``total`` row (sums; bits per kept weight re-averaged)."""
    if isinstance(layers, EncodedModel):
        layers = layers.layers
    rows = [asdict(layer_size(layer)) for layer in layers]
    df = pd.DataFrame(rows).set_index("name")
    tot = df.sum(numeric_only=True)
    kept = max(int(tot["kept"]), 1)
    for col in ("weight_bits_pq", "index_bits_pq", "weight_bits_huffman", "index_bits_huffman"):
        tot[col] = float((df[col] * df["kept"]).sum() / kept)
    tot["density"] = tot["kept"] / tot["weights"]
    dense = 4 * tot["weights"]
    tot["percent_pq"] = 100 * tot["bytes_pq"] / dense
    tot["percent_huffman"] = 100 * tot["bytes_huffman"] / dense
    tot["ratio_pq"] = dense / tot["bytes_pq"]
    tot["ratio_huffman"] = dense / tot["bytes_huffman"]
    df.loc["total"] = tot
    return df


def format_size_table(df: pd.DataFrame) -> str:
    """The table as printed by ``eie compress`` and ``eie inspect``."""
    show = pd.DataFrame({
        "weights": df["weights"].map(lambda x: f"{int(x):,}"),
        "density": df["density"].map(lambda x: f"{100 * x:.2f} %"),
        "w bits P+Q": df["weight_bits_pq"].map("{:.2f}".format),
        "idx bits P+Q": df["index_bits_pq"].map("{:.2f}".format),
        "w bits +Huff": df["weight_bits_huffman"].map("{:.2f}".format),
        "idx bits +Huff": df["index_bits_huffman"].map("{:.2f}".format),
        "ptr KB": (df["pointer_bytes"] / 1024).map("{:.1f}".format),
        "KB P+Q": (df["bytes_pq"] / 1024).map("{:.1f}".format),
        "KB +Huff": (df["bytes_huffman"] / 1024).map("{:.1f}".format),
        "% dense": df["percent_huffman"].map("{:.2f}".format),
        "ratio": df["ratio_huffman"].map("{:.1f}x".format),
        "bias": df["bias_values"].map(lambda x: f"{int(x):,}"),
    })
    return show.to_string()
