"""Benchmark layers of EIE Table III and random activations, generated from a seed.

Weights are drawn from a trained-like (Laplace) distribution, magnitude-pruned to
the published density and quantized to 4 bits; activations are non-negative at
the published density (NeuralTalk's are dense). EIE did not use
load-balance-aware pruning, so neither do these layers.

Real pruned layers are not uniformly sparse. Every layer follows one rule: weight
``(i, j)`` is drawn as ``s_i * t_j * g_ij`` with ``g`` Laplace and per-row scales
``s`` and per-column scales ``t`` log-normal with spreads ``row_sigma`` and
``col_sigma``; magnitude pruning then keeps more weights in high-scale rows and
columns. The sparsity model names the spreads:

* ``"dropout"`` (the default): fitted to the pruned hidden-to-hidden layer (ip2) of
  our LeNet-300-100 trained with dropout 0.5, as AlexNet's and VGG-16's FC layers were;
* ``"no-dropout"``: fitted the same way to the same layer trained without dropout;
* ``"uniform"``: no scales (iid weights).

The fitted spreads are data, ``eie_sim/data/variation_rules.csv``, written by
``benchmarks/measure_variation.py``; none is fitted to EIE's latencies
(docs/WORKLOADS.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from compressor.errors import EieFormatError, EieInputError
from compressor.model import EncodedModel
from compressor.pipeline import CompressOptions, compress_layer
from compressor.provenance import provenance
from eie_sim.csvdata import number, packaged_text, parse_csv


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

#: Columns of the variation-rules file; every field is required on every row.
RULE_FIELDS = ("name", "row_sigma", "col_sigma", "fitted_to", "target_row_cv", "target_col_cv",
               "seeds", "date", "commit", "command")
#: Rules the package needs from the file; "uniform" is built in (no scales) and reserved.
REQUIRED_RULES = ("dropout", "no-dropout")
UNIFORM = "uniform"
#: The default sparsity model. AlexNet's and VGG-16's FC layers (six of the nine Table III
#: layers) were trained with dropout 0.5, so the rule fitted to a dropout-trained layer is the
#: principled default; the choice does not involve Table IV (docs/WORKLOADS.md).
DEFAULT_SPARSITY = "dropout"
_RULES_FILE = "eie_sim/data/variation_rules.csv"


@dataclass(frozen=True)
class VariationRule:
    """One fitted pair of log-normal spreads (sigma of the log scale) and where it came from."""

    name: str
    row_sigma: float
    col_sigma: float
    fitted_to: str
    target_row_cv: float
    target_col_cv: float
    seeds: str
    date: str
    commit: str
    command: str

    def spreads(self) -> dict[str, float]:
        return {"row_sigma": self.row_sigma, "col_sigma": self.col_sigma}


def parse_variation_rules(text: str, label: str = _RULES_FILE) -> dict[str, VariationRule]:
    """Rules from the CSV text of a variation-rules file; errors name ``label``, the line and field."""
    rules: dict[str, VariationRule] = {}
    for line, row in parse_csv(label, text, RULE_FIELDS):
        name = row["name"]
        for f in RULE_FIELDS:
            if not row[f]:
                raise EieFormatError(f"{label}: line {line} (rule {name!r}), field {f!r} is empty")
        if name == UNIFORM:
            raise EieFormatError(f"{label}: line {line}, field 'name': {UNIFORM!r} is built in "
                                 "(no scales) and cannot be a fitted rule")
        if name in rules:
            raise EieFormatError(f"{label}: line {line}, field 'name': rule {name!r} appears twice")
        nums = {f: number(label, line, name, f, row[f])
                for f in ("row_sigma", "col_sigma", "target_row_cv", "target_col_cv")}
        rules[name] = VariationRule(**{**{f: row[f] for f in RULE_FIELDS}, **nums})
    absent = [r for r in REQUIRED_RULES if r not in rules]
    if absent:
        raise EieFormatError(f"{label}: field 'name': no row for the rule(s) {', '.join(map(repr, absent))}")
    return rules


def load_variation_rules(path: str | Path | None = None) -> dict[str, VariationRule]:
    """The fitted rules of ``path`` (default: the packaged ``eie_sim/data/variation_rules.csv``)."""
    if path is None:
        return parse_variation_rules(packaged_text("variation_rules.csv")[1], _RULES_FILE)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise EieFormatError(f"{path}: cannot read the variation rules: {e}") from None
    return parse_variation_rules(text, str(path))


#: The fitted rules, by name (from ``eie_sim/data/variation_rules.csv``).
VARIATION_RULES: dict[str, VariationRule] = load_variation_rules()
#: Every sparsity model: the default first, the other fitted rules, then "uniform" (no scales).
SPARSITY_MODELS: tuple[str, ...] = (DEFAULT_SPARSITY, *(r for r in VARIATION_RULES if r != DEFAULT_SPARSITY),
                                    UNIFORM)
#: The default model's spreads (``{"row_sigma": ..., "col_sigma": ...}``).
VARIATION: dict[str, float] = VARIATION_RULES[DEFAULT_SPARSITY].spreads()


def check_sparsity(sparsity: str) -> str:
    """``sparsity`` if it names a sparsity model, else an EieInputError naming the valid ones."""
    if sparsity not in SPARSITY_MODELS:
        raise EieInputError(f"sparsity model {sparsity!r} is not one of {', '.join(SPARSITY_MODELS)}"
                            f" (default {DEFAULT_SPARSITY}; see docs/WORKLOADS.md)")
    return sparsity


def variation_spreads(sparsity: str) -> dict[str, float]:
    """Row and column spreads of a sparsity model (both 0 for ``"uniform"``)."""
    check_sparsity(sparsity)
    if sparsity == UNIFORM:
        return {"row_sigma": 0.0, "col_sigma": 0.0}
    return VARIATION_RULES[sparsity].spreads()


def density_variation(mask: np.ndarray) -> tuple[float, float]:
    """Coefficients of variation (std / mean) of the per-row and per-column densities of a mask."""
    rows = mask.mean(axis=1)
    cols = mask.mean(axis=0)
    return float(rows.std() / rows.mean()), float(cols.std() / cols.mean())


def benchmark(name: str) -> Benchmark:
    """The Table III row called ``name``."""
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


def scaled_laplace(m: int, n: int, seed: int, row_sigma: float, col_sigma: float) -> np.ndarray:
    """The rule itself: an ``m x n`` float32 matrix ``s_i * t_j * g_ij``, ``g`` Laplace(0, 1),
    ``log s ~ N(0, row_sigma^2)``, ``log t ~ N(0, col_sigma^2)``, scaled to std ~ 1/sqrt(n).

    With both spreads 0 the scales are exactly 1: the iid ("uniform") matrix of the same seed.
    """
    if not (row_sigma >= 0 and col_sigma >= 0 and math.isfinite(row_sigma) and math.isfinite(col_sigma)):
        raise EieInputError(f"spreads must be finite and >= 0, got row_sigma={row_sigma!r}, "
                            f"col_sigma={col_sigma!r}")
    rng = np.random.default_rng(seed)
    w = rng.laplace(0.0, 1.0, size=(m, n)).astype(np.float32)
    w *= np.exp(row_sigma * rng.standard_normal(m)).astype(np.float32)[:, None]
    w *= np.exp(col_sigma * rng.standard_normal(n)).astype(np.float32)[None, :]
    # Scale to a typical FC weight spread (std ~ 1/sqrt(n)); only the codebook's format sees it.
    w *= np.float32(1.0 / np.sqrt(2.0 * n))
    return w


def trained_like_weights(m: int, n: int, seed: int, sparsity: str = DEFAULT_SPARSITY) -> np.ndarray:
    """An ``m x n`` float32 trained-like matrix under a sparsity model (:func:`scaled_laplace`)."""
    return scaled_laplace(m, n, seed, **variation_spreads(sparsity))


def benchmark_model(name: str, *, seed: int = 0, sparsity: str = DEFAULT_SPARSITY, n_pes: int = 64,
                    regs: int = 64, word_bits: int = 64) -> EncodedModel:
    """A Table III layer pruned to its density and quantized to 4 bits, as a one-layer model."""
    b = benchmark(name)
    w = trained_like_weights(b.n_out, b.n_in, seed, sparsity)
    options = CompressOptions(density=b.weight_density, n_pes=n_pes, regs=regs, word_bits=word_bits,
                              seed=seed)
    layer = compress_layer(w, None, options, name=name)
    return EncodedModel((layer,), fa=None, input_after_relu=b.after_relu,
                        provenance=provenance(benchmark=name, seed=seed, sparsity=sparsity,
                                              variation=variation_spreads(sparsity)))


def benchmark_activations(name: str, seed: int = 0) -> np.ndarray:
    """Random activations of a Table III layer at its published density."""
    b = benchmark(name)
    return random_activations(b.n_in, b.act_density, seed)
