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

#: Default largest accuracy loss (percentage points) a stage may cause before a warning.
MAX_LOSS_POINTS = 1.0


def forward(layers: Sequence[tuple[np.ndarray, np.ndarray | None]], x: np.ndarray) -> np.ndarray:
    """Float outputs of an MLP: ReLU after every layer but the last (as EIE runs it)."""
    a = np.atleast_2d(np.asarray(x, np.float64))
    for i, (w, b) in enumerate(layers):
        a = a @ np.asarray(w, np.float64).T + (0.0 if b is None else np.asarray(b, np.float64))
        if i < len(layers) - 1:
            a = np.maximum(a, 0.0)
    return a


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


def losses(table: pd.DataFrame, max_loss: float = MAX_LOSS_POINTS) -> list[str]:
    """Warnings for the pruned and quantized stages that lose more than ``max_loss`` points
    of top-1 accuracy against the stage before them (none without labels)."""
    if "top1_accuracy_pct" not in table:
        return []
    acc = table.set_index("stage")["top1_accuracy_pct"]
    out = []
    for before, stage, what in (("float", "pruned", "pruning"), ("pruned", "quantized", "weight sharing")):
        if stage in acc and before in acc and acc[before] - acc[stage] > max_loss:
            out.append(f"{what} lost {acc[before] - acc[stage]:.1f} points of top-1 accuracy "
                       f"({acc[before]:.1f} % -> {acc[stage]:.1f} %), more than {max_loss:g}")
    return out
