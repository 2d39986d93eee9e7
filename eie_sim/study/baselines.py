"""Baselines EIE is compared against.

(a) The EIE paper's own CPU / GPU / mobile-GPU batch-1 latencies (Table IV), with
    energy = platform power x time, as the paper computes it. Data files with sources.
(b) This machine's CPU running the same dense mat-vec in numpy: latency only (we
    cannot measure its energy).

The dense accelerator of docs/ARCHITECTURE.md section 7 is priced with the rest of the
energy model: :func:`eie_sim.energy.dense_baseline` and :func:`eie_sim.energy.dense_model`.
"""

from __future__ import annotations

import time
from functools import cache
from io import StringIO

import numpy as np
import pandas as pd

from compressor.errors import EieFormatError
from eie_sim.csvdata import packaged_text


def _csv(name: str) -> pd.DataFrame:
    df = pd.read_csv(StringIO(packaged_text(name)[1]))
    if "source" not in df or df["source"].isna().any():
        raise EieFormatError(f"eie_sim/data/{name}: every row needs a source")
    return df


@cache
def paper_table4() -> pd.DataFrame:
    """Table IV: layer, platform (CPU, GPU, mGPU, EIE), kind (dense, sparse, theoretical,
    actual), time_us, plus energy_j = platform power x time for the CPU/GPU/mGPU rows."""
    t4 = _csv("paper_table4.csv")
    power = paper_platforms().set_index("platform")["power_w"]
    t4["power_w"] = t4["platform"].map(power)
    t4["energy_j"] = t4["power_w"] * t4["time_us"] * 1e-6
    return t4


@cache
def paper_platforms() -> pd.DataFrame:
    return _csv("paper_platforms.csv")


@cache
def paper_headlines() -> pd.DataFrame:
    """The paper's headline figures quoted in reports (speed-ups, power, ...), indexed by name."""
    return _csv("paper_headlines.csv").set_index("name")


def paper_headline(name: str) -> pd.Series:
    """One headline figure: value, unit and source."""
    table = paper_headlines()
    if name not in table.index:
        raise EieFormatError(f"eie_sim/data/paper_headlines.csv: no row named {name!r}")
    return table.loc[name]


def paper_time_us(layer: str, platform: str, kind: str) -> float:
    t4 = paper_table4()
    row = t4[(t4.layer == layer) & (t4.platform == platform) & (t4.kind == kind)]
    return float(row["time_us"].iloc[0])


def host_numpy_us(m: int, n: int, *, repeats: int = 5, seed: int = 0) -> float:
    """Best-of-``repeats`` wall time (us) of a dense float32 ``W @ x`` on this machine's CPU.

    Latency only: the host's energy is not measured. BLAS threads as numpy is configured.
    """
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((m, n), dtype=np.float32)
    x = rng.standard_normal(n, dtype=np.float32)
    w @ x  # warm caches and BLAS
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        w @ x
        best = min(best, time.perf_counter() - t0)
    return best * 1e6
