"""The activation format from calibration inputs (docs/ARCHITECTURE.md section 3).

``fa`` comes from the largest magnitude among the inputs, the float outputs of
every layer of the (quantized) model, and 1.0 when a layer has a bias.
"""

from __future__ import annotations

import numba
import numpy as np

from compressor.encode import EncodedLayer
from compressor.errors import EieInputError
from compressor.fixedpoint import frac_bits


@numba.njit(cache=True)
def _forward(v, entry_rows, pe_offsets, ptr, codebook, x, active, n_pes, ncols, rounds, m):
    """``W x`` over the stored entries of the ``active`` columns (no dense matrix); x is
    (batch, ncols). Columns whose inputs are all zero contribute nothing and are skipped."""
    y = np.zeros((x.shape[0], m), np.float64)
    for p in range(n_pes):
        base = pe_offsets[p]
        for r in range(rounds):
            for j in active:
                s = r * ncols + j
                for e in range(ptr[p, s], ptr[p, s + 1]):
                    if v[base + e] != 0:
                        i = entry_rows[base + e] * n_pes + p
                        w = codebook[v[base + e]]
                        for b in range(x.shape[0]):
                            y[b, i] += w * x[b, j]
    return y


def float_forward(layer: EncodedLayer, x: np.ndarray, *, relu: bool) -> np.ndarray:
    """The quantized layer in float: ``f(W x + bias)`` for a batch ``x`` (batch x n)."""
    xb = np.asarray(x, np.float64)
    if layer.has_bias:
        xb = np.hstack([xb, np.ones((xb.shape[0], 1))])
    active = np.flatnonzero(np.any(xb != 0, axis=0))
    y = _forward(layer.v, layer.entry_rows, layer.pe_offsets, layer.ptr, layer.codebook, xb, active,
                 layer.n_pes, layer.ncols, layer.rounds, layer.m)
    return np.maximum(y, 0.0) if relu else y


def activation_frac_bits(layers: list[EncodedLayer], inputs: np.ndarray) -> int:
    """``fa`` for a model (ReLU on all but the last layer) from a batch of calibration inputs."""
    x = np.asarray(inputs, np.float64)
    if x.ndim == 1:
        x = x[None, :]
    if x.ndim != 2 or x.shape[1] != layers[0].n:
        raise EieInputError(f"calibration inputs have shape {np.shape(inputs)}; expected "
                            f"(batch, {layers[0].n}) or ({layers[0].n},)")
    if x.size == 0 or not np.all(np.isfinite(x)):
        raise EieInputError("calibration inputs must be non-empty and finite (no NaN or inf)")
    biggest = float(np.max(np.abs(x)))
    if any(layer.has_bias for layer in layers):
        biggest = max(biggest, 1.0)
    for i, layer in enumerate(layers):
        x = float_forward(layer, x, relu=i < len(layers) - 1)
        biggest = max(biggest, float(np.max(np.abs(x))) if x.size else 0.0)
    return frac_bits(biggest)
