"""Batches of real inputs: load them, run each through the engine, summarise, score top-1.

EIE runs one input at a time (batch 1); a batch here is a list of inferences
on the same configuration. The activation format is calibrated once over the
whole batch when the model has none, so every input sees the same arithmetic.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from compressor.errors import EieInputError
from compressor.importers import _npz_arrays, load_npy
from eie_sim.config import SimConfig
from eie_sim.result import Result
from eie_sim.simulate import DEFAULT_ENGINE, Workload, calibrated_fa, check_inputs, prepare, run_prepared

#: Figures summarised over a batch (mean, min and max of each).
SUMMARY_FIGURES = ("cycles", "time_s", "energy_j", "power_w", "pe_utilization", "mac_efficiency",
                   "ccu_stall_cycles", "hazard_stall_cycles", "entries_processed", "dram_bytes")


@dataclass(frozen=True)
class Inputs:
    """A batch of inputs (one row each) and where it came from."""

    x: np.ndarray  # float64 (batch, n)
    source: str  # "file.npy", "file.npz:name", or "random (density d, seed s)"
    single: bool  # the file held one vector, not a batch

    @property
    def density(self) -> float:
        """Fraction of non-zero input activations over the batch."""
        return float(np.count_nonzero(self.x) / self.x.size) if self.x.size else 0.0

    def __len__(self) -> int:
        return len(self.x)


def load_inputs(spec: str, n: int, *, shape_hint: str = "") -> Inputs:
    """Inputs from ``x.npy`` (a vector or a batch, one row per input) or ``x.npz:name``.

    A ``.npz`` holding one array needs no name. Each input must have ``n`` values; ``shape_hint``
    is added to the error when they do not (the caller's guess why: weights given transposed).
    """
    path, _, name = spec.partition(":") if spec.lower().split(":")[0].endswith(".npz") else (spec, "", "")
    p = Path(path)
    if p.suffix.lower() == ".npz":
        arrays = _npz_arrays(p)
        if not name:
            if len(arrays) != 1:
                raise EieInputError(f"{p}: holds {len(arrays)} arrays ({', '.join(arrays) or 'none'}); "
                                    f"choose one with {p}:NAME")
            name = next(iter(arrays))
        if name not in arrays:
            raise EieInputError(f"{p}: no array named {name!r}; it holds {', '.join(arrays)}")
        arr, source = arrays[name], f"{p}:{name}"
    elif p.suffix.lower() == ".npy":
        arr, source = load_npy(p), str(p)
    else:
        raise EieInputError(f"{spec}: inputs must be a .npy file or file.npz:NAME")
    if arr.dtype.kind not in "fiub":
        raise EieInputError(f"{source}: inputs must be numeric, got dtype {arr.dtype}")
    if arr.ndim == 1:
        batch, single = arr[None, :], True
    elif arr.ndim == 2:
        batch, single = arr, False
    else:
        raise EieInputError(f"{source}: inputs have shape {arr.shape}; expected a vector of {n} or a "
                            f"batch of shape (inputs, {n})")
    if batch.shape[1] != n:
        hint = (f"; it has {batch.shape[0]} rows of {batch.shape[1]}: is it transposed?"
                if batch.shape[0] == n else "")
        raise EieInputError(f"{source}: each input has {batch.shape[1]} values; the model takes {n}{hint}"
                            f"{shape_hint}")
    if not len(batch):
        raise EieInputError(f"{source}: the batch is empty")
    bad = np.argwhere(~np.isfinite(batch.astype(np.float64)))
    if len(bad):
        raise EieInputError(f"{source}: {len(bad)} NaN or inf value(s), the first at input {bad[0][0]}, "
                            f"index {bad[0][1]}")
    return Inputs(batch.astype(np.float64), source, single)


def load_labels(path: str, batch: int) -> np.ndarray:
    """Integer class labels from a ``.npy`` file, one per input of the batch."""
    return check_labels(load_npy(path), batch, path)


@dataclass(frozen=True)
class BatchResult:
    """One Result per input, and what they add up to."""

    results: list[Result]
    source: str
    input_density: float
    labels: np.ndarray | None
    input_densities: np.ndarray | None = None  # each input's share of non-zero activations
    wall_s: float | None = None  # how long the simulation of the batch took

    @property
    def predictions(self) -> np.ndarray:
        """Top-1 class of each input: the largest fixed-point output (the first on a tie)."""
        return np.array([int(np.argmax(r.output_fix)) for r in self.results], np.int64)

    @property
    def accuracy(self) -> float | None:
        """Top-1 accuracy of the fixed-point outputs, or None without labels."""
        if self.labels is None:
            return None
        return float(np.mean(self.predictions == self.labels))

    def per_input(self) -> pd.DataFrame:
        """One row per input: its figures, prediction and label."""
        df = pd.DataFrame([{f: getattr(r, f) for f in SUMMARY_FIGURES} for r in self.results])
        df.insert(0, "input", range(len(self.results)))
        df["prediction"] = self.predictions
        if self.labels is not None:
            df["label"] = self.labels
            df["correct"] = df["prediction"] == df["label"]
        return df

    def summary(self) -> dict[str, object]:
        """Mean, min and max of each summary figure, the batch size, input density and accuracy."""
        df = self.per_input()
        out: dict[str, object] = {"batch_size": len(self.results), "input_source": self.source,
                                  "input_density": self.input_density}
        for f, (mean, lo, hi) in figure_spread(df).items():
            out.update({f"{f}_mean": mean, f"{f}_min": lo, f"{f}_max": hi})
        out["top1_accuracy"] = self.accuracy
        return out


def figure_spread(df: pd.DataFrame) -> dict[str, tuple[float, float, float]]:
    """(mean, min, max) of each summary figure over the rows of a batch: the one way a batch is
    summarised, shared by ``eie simulate`` and sweep rows."""
    return {f: (float(df[f].mean()), float(df[f].min()), float(df[f].max())) for f in SUMMARY_FIGURES}


def check_labels(labels: object, batch: int, where: str = "labels") -> np.ndarray:
    """Integer class labels, one per input of a batch of ``batch``."""
    y = np.asarray(labels)
    if y.ndim != 1 or y.dtype.kind not in "iub":
        raise EieInputError(f"{where}: labels must be a vector of integer classes, got dtype {y.dtype} "
                            f"shape {y.shape}")
    if len(y) != batch:
        raise EieInputError(f"{where}: {len(y)} labels for a batch of {batch} inputs")
    return y.astype(np.int64)


def simulate_batch(workload: Workload, inputs: Inputs | np.ndarray | dict[str, np.ndarray],
                   config: SimConfig | None = None, *, engine: str = DEFAULT_ENGINE,
                   labels: Sequence[int] | np.ndarray | None = None, progress: bool = False) -> BatchResult:
    """Run every input of a batch on ``engine``; one Result each.

    ``inputs`` are the rows of a 2-D array (a workload with one host input), or a mapping from
    each host input's name to its batch (equal batch sizes). The workload is encoded and
    planned once; its activation format is its own, or calibrated once over the whole batch.
    """
    start = time.perf_counter()
    prep = prepare(workload, config, engine=engine)
    names = list(prep.graph.host_inputs)
    if isinstance(inputs, dict):
        batches = {k: np.atleast_2d(np.asarray(v.x if isinstance(v, Inputs) else v, np.float64))
                   for k, v in inputs.items()}
        sizes = {len(v) for v in batches.values()}
        if len(sizes) != 1:
            raise EieInputError("the host inputs' batches differ in size: "
                                + ", ".join(f"{k}: {len(v)}" for k, v in batches.items()))
        source, density = "arrays", float(np.mean([np.count_nonzero(v) / v.size for v in batches.values()]))
    else:
        if not isinstance(inputs, Inputs):
            arr = np.asarray(inputs)
            arr = arr[None, :] if arr.ndim == 1 else arr
            if arr.ndim != 2:
                raise EieInputError(f"inputs have shape {arr.shape}; "
                                    "expected a vector or a batch (inputs, n)")
            inputs = Inputs(arr.astype(np.float64), "array", np.ndim(inputs) == 1)
        if len(names) != 1:
            raise EieInputError(f"the workload has {len(names)} host inputs ({', '.join(names)}); give "
                                "a batch for each, by name")
        batches, source, density = {names[0]: inputs.x}, inputs.source, inputs.density
    rows = [{k: v[i] for k, v in batches.items()} for i in range(len(next(iter(batches.values()))))]
    if not rows:
        raise EieInputError(f"{source}: the batch is empty")
    for row in rows:
        check_inputs(row, prep.graph)
    y = None if labels is None else check_labels(labels, len(rows))
    fa = calibrated_fa(prep.graph, batches)
    results = [run_prepared(prep, row, fa=fa)[0]
               for row in tqdm(rows, desc="inputs", unit="input", disable=not progress)]
    sizes = sum(v.shape[1] for v in batches.values())
    densities = sum(np.count_nonzero(v, axis=1) for v in batches.values()) / sizes
    return BatchResult(results, source, density, y, densities, time.perf_counter() - start)
