"""Benchmark layers of EIE Table III and random activations, generated from a seed.

Weights are drawn from a trained-like (Laplace) distribution, magnitude-pruned to
the published density and quantized to 4 bits; activations are non-negative at
the published density (NeuralTalk's are dense). EIE did not use
load-balance-aware pruning, so neither do these layers.

Real pruned layers are not uniformly sparse. With ``sparsity="varied"`` (the
default) every layer follows one rule: weight ``(i, j)`` is drawn as
``s_i * t_j * g_ij`` with ``g`` Laplace and per-row scales ``s`` and per-column
scales ``t`` log-normal with the spreads in :data:`VARIATION`; magnitude pruning
then keeps more weights in high-scale rows and columns. The spreads are measured
on real pruned layers (our LeNet-300-100, see docs/WORKLOADS.md), not fitted to
EIE's latencies. ``sparsity="uniform"`` drops the scales (iid weights).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from compressor.errors import EieInputError
from compressor.model import EncodedModel
from compressor.pipeline import CompressOptions, compress_layer
from compressor.provenance import provenance

SPARSITY_MODELS = ("varied", "uniform")


@dataclass(frozen=True)
class Benchmark:
    """One row of EIE Table III."""

    name: str
    n_in: int
    n_out: int
    weight_density: float
    act_density: float
    description: str

    @property
    def after_relu(self) -> bool:
        """Inputs of AlexNet/VGG FC layers come from ReLUs; NeuralTalk's inputs are dense."""
        return self.act_density < 1.0


#: EIE (Han et al., ISCA 2016) Table III: size (inputs -> outputs), weight and activation density.
BENCHMARKS: dict[str, Benchmark] = {b.name: b for b in (
    Benchmark("Alex-6", 9216, 4096, 0.09, 0.351, "AlexNet fc6"),
    Benchmark("Alex-7", 4096, 4096, 0.09, 0.353, "AlexNet fc7"),
    Benchmark("Alex-8", 4096, 1000, 0.25, 0.375, "AlexNet fc8"),
    Benchmark("VGG-6", 25088, 4096, 0.04, 0.183, "VGG-16 fc6"),
    Benchmark("VGG-7", 4096, 4096, 0.04, 0.375, "VGG-16 fc7"),
    Benchmark("VGG-8", 4096, 1000, 0.23, 0.411, "VGG-16 fc8"),
    Benchmark("NT-We", 4096, 600, 0.10, 1.0, "NeuralTalk word embedding"),
    Benchmark("NT-Wd", 600, 8791, 0.11, 1.0, "NeuralTalk word decoder"),
    Benchmark("NT-LSTM", 1201, 2400, 0.10, 1.0, "NeuralTalk LSTM gates"),
)}

#: Log-normal spreads (sigma of log scale) of per-row and per-column weight scales.
#: Measured on pruned LeNet-300-100 hidden layers; see docs/WORKLOADS.md for the derivation.
VARIATION = {"row_sigma": 0.60, "col_sigma": 0.56}


def density_variation(mask: np.ndarray) -> tuple[float, float]:
    """Coefficients of variation (std / mean) of the per-row and per-column densities of a mask."""
    rows = mask.mean(axis=1)
    cols = mask.mean(axis=0)
    return float(rows.std() / rows.mean()), float(cols.std() / cols.mean())


def benchmark(name: str) -> Benchmark:
    try:
        return BENCHMARKS[name]
    except KeyError:
        raise EieInputError(f"unknown benchmark layer {name!r}; known: {', '.join(BENCHMARKS)}") from None


def random_activations(n: int, density: float, seed: int) -> np.ndarray:
    """``round(density * n)`` non-zero, non-negative activations (|N(0, 1)|) at random positions."""
    if not 0.0 <= density <= 1.0:
        raise EieInputError(f"activation density {density!r} must be in 0..1")
    rng = np.random.default_rng(seed)
    x = np.zeros(n)
    nz = rng.choice(n, size=round(density * n), replace=False)
    x[np.sort(nz)] = np.abs(rng.standard_normal(len(nz)))
    return x


def trained_like_weights(m: int, n: int, seed: int, sparsity: str = "varied", *,
                         row_sigma: float | None = None, col_sigma: float | None = None) -> np.ndarray:
    """An ``m x n`` float32 matrix, Laplace-distributed, with the row/column scale rule.

    ``row_sigma`` / ``col_sigma`` override :data:`VARIATION` (used to fit it).
    """
    if sparsity not in SPARSITY_MODELS:
        raise EieInputError(f"sparsity {sparsity!r} is not one of {', '.join(SPARSITY_MODELS)}")
    rng = np.random.default_rng(seed)
    w = rng.laplace(0.0, 1.0, size=(m, n)).astype(np.float32)
    if sparsity == "varied":
        rs = VARIATION["row_sigma"] if row_sigma is None else row_sigma
        cs = VARIATION["col_sigma"] if col_sigma is None else col_sigma
        w *= np.exp(rs * rng.standard_normal(m)).astype(np.float32)[:, None]
        w *= np.exp(cs * rng.standard_normal(n)).astype(np.float32)[None, :]
    # Scale to a typical FC weight spread (std ~ 1/sqrt(n)); only the codebook's format sees it.
    w *= np.float32(1.0 / np.sqrt(2.0 * n))
    return w


def benchmark_model(name: str, *, seed: int = 0, sparsity: str = "varied", n_pes: int = 64,
                    regs: int = 64, word_bits: int = 64) -> EncodedModel:
    """A Table III layer pruned to its density and quantized to 4 bits, as a one-layer model."""
    b = benchmark(name)
    w = trained_like_weights(b.n_out, b.n_in, seed, sparsity)
    options = CompressOptions(density=b.weight_density, n_pes=n_pes, regs=regs, word_bits=word_bits,
                              seed=seed)
    layer = compress_layer(w, None, options, name=name)
    return EncodedModel((layer,), fa=None, input_after_relu=b.after_relu,
                        provenance=provenance(benchmark=name, seed=seed, sparsity=sparsity,
                                              variation=dict(VARIATION)))


def benchmark_activations(name: str, seed: int = 0) -> np.ndarray:
    b = benchmark(name)
    return random_activations(b.n_in, b.act_density, seed)
