"""Shared helpers of the benchmark scripts: machine info, best-of timing, a printed table and CSV."""

from __future__ import annotations

import os
import platform
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numba
import numpy as np
import pandas as pd

OUT_DIR = Path(__file__).resolve().parent / "out"


def machine_info() -> dict[str, object]:
    """CPU count, platform and the versions that matter for timings."""
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        usable = os.cpu_count()
    return {
        "cpu_count": os.cpu_count(),
        "usable_cpus": usable,
        "machine": platform.machine(),
        "cpu_model": _cpu_model(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "numba": numba.__version__,
        "pandas": pd.__version__,
        "loadavg_1min_at_start": round(os.getloadavg()[0], 2),
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


def print_header(title: str, notes: Sequence[str] = ()) -> dict[str, object]:
    """Print the benchmark's title, the machine and notes on method; return the machine info."""
    info = machine_info()
    print(title)
    print("machine: " + ", ".join(f"{k}={v}" for k, v in info.items()))
    for note in notes:
        print(f"note: {note}")
    print()
    sys.stdout.flush()
    return info


def timed(fn: Callable[[], object]) -> tuple[float, object]:
    """(seconds, return value) of one call."""
    t0 = time.perf_counter()
    value = fn()
    return time.perf_counter() - t0, value


def best_of(fn: Callable[[], object], repeats: int) -> tuple[float, object]:
    """(best seconds over ``repeats`` calls, the last call's return value)."""
    best = float("inf")
    value = None
    for _ in range(repeats):
        seconds, value = timed(fn)
        best = min(best, seconds)
    return best, value


def show(rows: Sequence[dict[str, object]], title: str | None = None) -> pd.DataFrame:
    """Print ``rows`` as a table (under ``title``) and return them as a DataFrame."""
    table = pd.DataFrame(list(rows))
    if title:
        print(title)
    print(table.to_string(index=False))
    print()
    sys.stdout.flush()
    return table


def write_csv(name: str, tables: dict[str, pd.DataFrame] | pd.DataFrame,
              info: dict[str, object] | None = None) -> Path:
    """Write ``benchmarks/out/NAME.csv``: one table, or several stacked with a ``part`` column.

    The machine info is added to every row as columns.
    """
    if isinstance(tables, pd.DataFrame):
        csv = tables.copy()
    else:
        csv = pd.concat([t.assign(part=part) for part, t in tables.items()], ignore_index=True)
        csv = csv[["part", *[c for c in csv.columns if c != "part"]]]
    for k, v in (info or {}).items():
        csv[k] = v
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    path = OUT_DIR / f"{name}.csv"
    csv.to_csv(path, index=False)
    print(f"wrote {path}")
    return path


def fc8_like(seed: int = 0) -> tuple[object, np.ndarray]:
    """The EIE authors' simulator's kind of layer: 1000 x 4096 at 25 % weight density with a bias,
    1,760 non-zero (ReLU) activations, encoded for 64 PEs; (model with its activation format, input).
    """
    from compressor.model import EncodedModel
    from compressor.pipeline import CompressOptions, compress_layer

    rng = np.random.default_rng(seed)
    w = rng.laplace(0, 0.02, (1000, 4096)).astype(np.float32)
    b = rng.normal(0, 0.02, 1000).astype(np.float32)
    layer = compress_layer(w, b, CompressOptions(density=0.25, n_pes=64), name="fc8-like")
    x = np.zeros(4096)
    x[rng.choice(4096, 1760, replace=False)] = rng.random(1760)
    return EncodedModel((layer,), fa=13), x


def calibrated_benchmark(name: str, n_pes: int = 64) -> tuple[object, np.ndarray]:
    """A benchmark layer with its activation format fixed on its own input, and that input.

    Without a stored format, simulate() calibrates (a float forward pass) on every call,
    which is not the simulator's cost."""
    from compressor.calibrate import activation_frac_bits
    from eie_sim.workload.benchmarks import benchmark_activations, benchmark_model

    x = benchmark_activations(name, 0)
    model = benchmark_model(name, seed=0, n_pes=n_pes)
    return model.with_fa(activation_frac_bits(list(model.layers), x)), x
