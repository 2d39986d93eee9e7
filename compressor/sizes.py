"""Storage accounting in the manner of Deep Compression's per-layer table.

Per layer (biases apart, as the paper's counts exclude them): weights, density,
bits per kept weight for the codes and for the relative indices, after pruning +
quantization (fixed-width fields, padding included) and after Huffman coding,
plus pointers and codebook, total bytes, % of the 32-bit dense size and the
compression ratio.
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

CODEBOOK_ENTRY_BITS = 32  # the codebook is stored as 32-bit floats
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


def _weight_part(layer: EncodedLayer) -> tuple[np.ndarray, np.ndarray]:
    """(v, z) of the entries in the weight columns (the bias column's entries left out)."""
    if not layer.has_bias:
        return layer.v, layer.z
    keep = np.ones(len(layer.v), bool)
    ncols = layer.ncols
    for p in range(layer.n_pes):
        base = layer.pe_offsets[p]
        for r in range(layer.rounds):
            s = r * ncols + ncols - 1
            keep[base + layer.ptr[p, s]: base + layer.ptr[p, s + 1]] = False
    return layer.v[keep], layer.z[keep]


def pointer_bits(layer: EncodedLayer) -> int:
    """Bits of one stored pointer: enough to address the largest PE's entries."""
    return max(1, math.ceil(math.log2(int(layer.entries_per_pe.max()) + 1)))


def layer_size(layer: EncodedLayer) -> LayerSize:
    v, z = _weight_part(layer)
    weights = layer.m * layer.n
    kept = int(np.count_nonzero(v))
    entries = len(v)
    hv = huffman.encode(v, 1 << layer.wbits)
    hz = huffman.encode(z, 1 << layer.ibits)
    ptr_bytes = math.ceil(layer.ptr.size * pointer_bits(layer) / 8)
    codebook_bytes = (1 << layer.wbits) * CODEBOOK_ENTRY_BITS // 8
    table_bits = HUFFMAN_LENGTH_BITS * ((1 << layer.wbits) + (1 << layer.ibits))
    bytes_pq = math.ceil(entries * (layer.wbits + layer.ibits) / 8) + ptr_bytes + codebook_bytes
    bytes_huff = math.ceil((hv.nbits + hz.nbits + table_bits) / 8) + ptr_bytes + codebook_bytes
    dense = 4 * weights
    per_kept = 1 / max(kept, 1)
    bias_values = layer.m if layer.has_bias else 0
    return LayerSize(
        name=layer.name, weights=weights, kept=kept, density=kept / weights, entries=entries,
        weight_bits_pq=layer.wbits * entries * per_kept, index_bits_pq=layer.ibits * entries * per_kept,
        weight_bits_huffman=hv.nbits * per_kept, index_bits_huffman=hz.nbits * per_kept,
        pointer_bytes=ptr_bytes, codebook_bytes=codebook_bytes, bytes_pq=bytes_pq,
        bytes_huffman=bytes_huff, percent_pq=100 * bytes_pq / dense,
        percent_huffman=100 * bytes_huff / dense, ratio_pq=dense / bytes_pq,
        ratio_huffman=dense / bytes_huff, bias_values=bias_values, bias_bytes_dense=4 * bias_values,
        bias_bytes_pq=math.ceil(bias_values * layer.wbits / 8))


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
