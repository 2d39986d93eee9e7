"""How much a compressed transformer still agrees with the dense one (all-MiniLM-L6-v2).

Each of the 36 Linear layers is compressed as the pipeline compresses an FC layer
(:func:`compressor.pipeline.compress_layer`: prune, then 4-bit k-means weight sharing with
the bias folded in as a column, then EIE encoding for 64 PEs), and the numpy forward pass
(:mod:`compressor.transformer`) runs with the encoded layers' weights
(:meth:`compressor.encode.EncodedLayer.weights_and_bias`). Pruning methods:

* ``"magnitude"``: Deep Compression's, ``density`` of each layer by ``|W|``;
* ``"wanda"``: Wanda, ``density`` of each output row by ``|W_ij| * ||X_j||_2``;
* ``"2:4"`` (any ``"N:M"``): N of every M consecutive inputs by ``|W|``;
  ``"wanda-2:4"``: the same groups ranked by Wanda's score;
* ``"4bit-only"``: no pruning, weight sharing alone (what quantization costs by itself).

Wanda's input norms come from the *calibration* sentences, layer block by layer block as
Wanda's reference code does: block i is calibrated on the model whose blocks before i are
already compressed (``sequential=False``: all on the dense model). Accuracy is measured on the
*held-out* sentences: the cosine similarity of each sentence embedding to the dense model's
(mean and min), and the Spearman rank correlation between the dense and the compressed
model's cosine similarities of all sentence pairs (the model's job is to rank similarity).
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from compressor.encode import EncodedLayer
from compressor.errors import EieInputError
from compressor.pipeline import CompressOptions, compress_layer
from compressor.prune import input_norms_of
from compressor.transformer import LINEAR_SUFFIXES, BertEncoder, Linear, encode, linear_inputs, load_sentences

__all__ = ["DEFAULT_METHODS", "method_options", "compress_linears", "quantized_linears", "spearman",
           "agreement", "evaluate_methods"]

#: The methods :func:`evaluate_methods` compares by default.
DEFAULT_METHODS = ("magnitude", "wanda", "2:4")
_NM = re.compile(r"^(wanda-)?(\d+):(\d+)$")


def method_options(method: str, *, density: float = 0.5, wbits: int = 4, n_pes: int = 64,
                   seed: int = 0) -> tuple[CompressOptions, bool]:
    """(the CompressOptions of a method name, whether it needs Wanda's input norms)."""
    common = {"wbits": wbits, "n_pes": n_pes, "seed": seed}
    if method == "magnitude":
        return CompressOptions(density=density, **common), False
    if method == "wanda":
        return CompressOptions(density=density, prune_method="wanda", **common), True
    if method == "4bit-only":
        return CompressOptions(**common), False
    nm = _NM.match(method) if isinstance(method, str) else None
    if nm is None:
        raise EieInputError(f"unknown compression method {method!r}; use magnitude, wanda, 4bit-only, "
                            "N:M (e.g. 2:4) or wanda-N:M")
    return CompressOptions(prune_method="n:m", nm=(int(nm[2]), int(nm[3])), **common), nm[1] is not None


def _block_names(block: int) -> list[str]:
    return [f"encoder.layer.{block}.{s}" for s in LINEAR_SUFFIXES]


def compress_linears(model: BertEncoder, method: str, *, calibration: Sequence[str] | None = None,
                     density: float = 0.5, wbits: int = 4, n_pes: int = 64, seed: int = 0,
                     layers: Sequence[str] | None = None, sequential: bool = True) -> dict[str, EncodedLayer]:
    """The model's Linear layers (all, or those named in ``layers``) compressed by ``method``
    (see the module docstring), each by :func:`compressor.pipeline.compress_layer`.

    Methods that use Wanda's score need ``calibration`` sentences; their input norms are taken
    block by block on the partly compressed model (``sequential``) or on the dense one.
    """
    options, needs_norms = method_options(method, density=density, wbits=wbits, n_pes=n_pes, seed=seed)
    names = model.linear_names if layers is None else list(layers)
    unknown = [n for n in names if n not in model.linears]
    if unknown:
        raise EieInputError(f"no Linear layer named {unknown[0]!r} in the model (e.g. "
                            f"{model.linear_names[0]})")
    if needs_norms and not calibration:
        raise EieInputError(f"method {method!r} needs calibration sentences for Wanda's input norms")
    encoded: dict[str, EncodedLayer] = {}
    replaced: dict[str, Linear] = {}  # the float layers encoded stands for, decoded once each
    norms: dict[str, np.ndarray] = {}
    if needs_norms and not sequential:
        norms = {n: input_norms_of(x, n) for n, x in linear_inputs(model, calibration).items()}
    for block in range(model.config.layers):
        todo = [n for n in _block_names(block) if n in names]
        if not todo:
            continue
        if needs_norms and sequential:  # this block's inputs, earlier blocks compressed
            acts = linear_inputs(model, calibration, linears=replaced)
            norms = {n: input_norms_of(acts[n], n) for n in todo}
        for name in todo:
            w, b = model.linears[name]
            encoded[name] = compress_layer(w, b, options, name=name,
                                           input_norms=norms[name] if needs_norms else None)
            if needs_norms and sequential:
                replaced[name] = encoded[name].weights_and_bias()
    return encoded


def quantized_linears(encoded: Mapping[str, EncodedLayer]) -> dict[str, Linear]:
    """The float weights and biases the encoded layers stand for, for the forward pass's ``linears``."""
    return {name: layer.weights_and_bias() for name, layer in encoded.items()}


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rank correlation of two equally long vectors (ties get their average rank)."""
    a, b = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
    if a.shape != b.shape or a.size < 2:
        raise EieInputError(f"spearman needs two vectors of equal length >= 2, got {a.shape} and {b.shape}")
    ra = pd.Series(a).rank(method="average").to_numpy()
    rb = pd.Series(b).rank(method="average").to_numpy()
    if ra.std() == 0 or rb.std() == 0:
        raise EieInputError("spearman of a constant vector is undefined")
    return float(np.corrcoef(ra, rb)[0, 1])


def agreement(dense: np.ndarray, compressed: np.ndarray) -> dict[str, float]:
    """How a compressed model's embeddings (``sentences x hidden``) agree with the dense ones:
    per-sentence cosine (mean, min) and the Spearman correlation of all pairs' cosines."""
    if dense.shape != compressed.shape or dense.ndim != 2 or dense.shape[0] < 3:
        raise EieInputError(f"embeddings of the same >= 3 sentences needed, got {dense.shape} and "
                            f"{compressed.shape}")
    d = dense / np.linalg.norm(dense, axis=1, keepdims=True)
    c = compressed / np.linalg.norm(compressed, axis=1, keepdims=True)
    cos = np.sum(d.astype(np.float64) * c, axis=1)
    iu = np.triu_indices(d.shape[0], k=1)
    return {"cos_mean": float(cos.mean()), "cos_min": float(cos.min()),
            "spearman": spearman((d @ d.T)[iu], (c @ c.T)[iu]), "pairs": int(iu[0].size)}


def evaluate_methods(model: BertEncoder, methods: Sequence[str] = DEFAULT_METHODS, *,
                     calibration: Sequence[str] | None = None, held_out: Sequence[str] | None = None,
                     density: float = 0.5, wbits: int = 4, n_pes: int = 64, seed: int = 0,
                     layers: Sequence[str] | None = None, sequential: bool = True) -> pd.DataFrame:
    """One row per method: its compressed model's agreement with the dense model on the held-out
    sentences (default: the shipped splits, :func:`compressor.transformer.load_sentences`).

    Columns: method, layers compressed, weight density kept (over those layers' weights), wbits,
    cos_mean, cos_min, spearman, pairs, seconds (compression and evaluation).
    """
    calibration = load_sentences("calibration") if calibration is None else list(calibration)
    held_out = load_sentences("held-out") if held_out is None else list(held_out)
    dense = encode(model, held_out)
    rows = []
    for method in methods:
        t0 = time.perf_counter()
        encoded = compress_linears(model, method, calibration=calibration, density=density, wbits=wbits,
                                   n_pes=n_pes, seed=seed, layers=layers, sequential=sequential)
        linears = quantized_linears(encoded)
        kept = sum(int(np.count_nonzero(w)) for w, _ in linears.values())
        total = sum(w.size for w, _ in linears.values())
        scores = agreement(dense, encode(model, held_out, linears=linears))
        rows.append({"method": method, "layers": len(encoded), "density": round(kept / total, 4),
                     "wbits": wbits, **scores, "seconds": round(time.perf_counter() - t0, 2)})
    return pd.DataFrame(rows)
