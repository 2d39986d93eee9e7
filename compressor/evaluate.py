"""How much a compressed model still knows: float, pruned, quantized and fixed-point scores.

Each stage of Deep Compression is evaluated on the same inputs: the float weights,
the pruned weights (float), the weight-shared weights (codebook values, float), and
the fixed-point outputs the accelerator computes (given by the caller, who runs the
simulator). With labels the score is top-1 accuracy; without, the outputs' RMS
error against the float model's, relative to the float outputs' RMS.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from compressor.errors import EieInputError
from compressor.model import EncodedModel
from compressor.pipeline import CompressOptions, per_layer_options, prune_mask
from compressor.train import forward as mlp_forward

#: Default largest accuracy loss (percentage points) a stage may cause before a warning.
MAX_LOSS_POINTS = 1.0
#: Without labels: default largest rise of the output RMS error (percent of the float
#: outputs' RMS) a stage may cause before a warning. A rough proxy, set loose: 4-bit
#: weight sharing alone adds ~15 % on a dense Gaussian layer (a step of ~1/16 of an
#: ~8-sigma range) without costing top-1 accuracy; labels are the real measure.
MAX_ERROR_PCT = 25.0
#: The steps a compression takes, as (stage before, stage after, what the step is).
STEPS = (("float", "pruned", "pruning"), ("pruned", "quantized", "weight sharing"),
         ("quantized", "fixed-point (EIE)", "16-bit fixed-point arithmetic"))


def forward(layers: Sequence[tuple[np.ndarray, np.ndarray | None]], x: np.ndarray) -> np.ndarray:
    """Float outputs of an MLP: ReLU after every layer but the last (as EIE runs it); a missing
    bias is zero."""
    weights = [np.asarray(w, np.float64) for w, _ in layers]
    biases = [np.zeros(len(w)) if b is None else np.asarray(b, np.float64)
              for w, (_, b) in zip(weights, layers, strict=True)]
    return mlp_forward(weights, biases, np.atleast_2d(np.asarray(x, np.float64)))[-1]


@dataclass(frozen=True)
class Stage:
    name: str
    outputs: np.ndarray  # (batch, outputs), float


def stage_outputs(layers: Sequence[tuple[str, np.ndarray, np.ndarray | None]],
                  options: CompressOptions | Sequence[CompressOptions], model: EncodedModel,
                  x: np.ndarray) -> list[Stage]:
    """Outputs of the float, pruned and quantized stages on ``x`` (rows are inputs)."""
    opts = per_layer_options(options, len(layers))
    float_w = [(w, b) for _, w, b in layers]
    pruned = [(np.where(prune_mask(np.asarray(w, np.float64), o), w, 0.0), b)
              for (w, b), o in zip(float_w, opts, strict=True)]
    quantized = [layer.weights_and_bias() for layer in model.layers]
    return [Stage("float", forward(float_w, x)), Stage("pruned", forward(pruned, x)),
            Stage("quantized", forward(quantized, x))]


def score_table(stages: Sequence[Stage], labels: np.ndarray | None) -> pd.DataFrame:
    """One row per stage: top-1 accuracy (with labels) or relative RMS error against the first."""
    ref = stages[0].outputs
    rows = []
    for st in stages:
        if st.outputs.shape != ref.shape:
            raise EieInputError(f"stage {st.name!r} has outputs of shape {st.outputs.shape}, "
                                f"expected {ref.shape}")
        row: dict[str, object] = {"stage": st.name}
        if labels is not None:
            row["top1_accuracy_pct"] = 100.0 * float(np.mean(np.argmax(st.outputs, axis=1) == labels))
        scale = float(np.sqrt(np.mean(ref**2))) or 1.0
        row["output_rms_error_pct"] = 100.0 * float(np.sqrt(np.mean((st.outputs - ref) ** 2))) / scale
        rows.append(row)
    return pd.DataFrame(rows)


def losses(table: pd.DataFrame, max_loss: float = MAX_LOSS_POINTS, max_error: float = MAX_ERROR_PCT,
           steps: Sequence[tuple[str, str, str]] = STEPS) -> list[tuple[str, str]]:
    """(step, warning) for each step that loses more than ``max_loss`` points of top-1 accuracy
    (with labels) or raises the output RMS error by more than ``max_error`` percent of the
    float outputs' RMS (without), against the stage before it."""
    by_stage = table.set_index("stage")
    labelled = "top1_accuracy_pct" in table
    col = "top1_accuracy_pct" if labelled else "output_rms_error_pct"
    out = []
    for before, stage, what in steps:
        if stage not in by_stage.index or before not in by_stage.index:
            continue
        a, b = float(by_stage.at[before, col]), float(by_stage.at[stage, col])
        if labelled and a - b > max_loss:
            out.append((what, f"{what} lost {a - b:.1f} points of top-1 accuracy "
                              f"({a:.1f} % -> {b:.1f} %), more than {max_loss:g}"))
        elif not labelled and b - a > max_error:
            out.append((what, f"{what} raised the output error from {a:.1f} % to {b:.1f} % of the "
                              f"float outputs' RMS, more than {max_error:g} points"))
    return out
