"""``eie demo``: the README's first command. Compress a benchmark layer, simulate it, plot.

Alex-7 (AlexNet fc7, 4096 x 4096 at 9 % weights, 35.3 % activations; EIE Table
III) is generated from a seed, compressed, simulated once on the SimPy model at
64 PEs, then swept over PE counts with the fast engine; the plot shows energy
per inference against the dense accelerator baseline.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from compressor.sizes import format_size_table, size_table
from eie_sim.config import SimConfig
from eie_sim.energy import dense_baseline
from eie_sim.simulate import simulate
from eie_sim.study.baselines import paper_headline, paper_time_us
from eie_sim.study.plots import energy_vs_pes, save
from eie_sim.study.summary import format_summary
from eie_sim.workload.benchmarks import benchmark, benchmark_activations, benchmark_model

DEMO_LAYER = "Alex-7"
PE_COUNTS = (4, 8, 16, 32, 64, 128, 256)


def demo_outputs(out_dir: str | Path) -> list[Path]:
    """The files the demo writes (checked before it computes anything)."""
    return [Path(out_dir) / f"energy_vs_pes.{ext}" for ext in ("png", "svg")]


def run_demo(out_dir: str | Path, *, seed: int = 0, force: bool = False, out=None) -> list[Path]:
    out = out or sys.stdout
    out_dir = Path(out_dir)
    b = benchmark(DEMO_LAYER)
    print(f"{DEMO_LAYER} ({b.description}): {b.n_in} -> {b.n_out}, {100 * b.weight_density:g} % "
          f"weights, {100 * b.act_density:g} % activations, seed {seed}", file=out)
    model = benchmark_model(DEMO_LAYER, seed=seed)
    print(format_size_table(size_table(model)), file=out)
    x = benchmark_activations(DEMO_LAYER, seed)
    config = SimConfig()
    start = time.perf_counter()
    result = simulate(model, x, config, engine="simpy")
    wall = time.perf_counter() - start
    print(f"\nSimPy model, {config.n_pes} PEs:", file=out)
    print(format_summary(result, config, input_density=float(np.count_nonzero(x)) / x.size, n_inputs=x.size,
                         input_source=f"{DEMO_LAYER}'s activations, seed {seed}", wall_s=wall), file=out)
    energy = paper_headline("eie_alex7_energy")
    print(f"  (the EIE paper reports {paper_time_us(DEMO_LAYER, 'EIE', 'actual'):g} us and "
          f"{float(energy['value']):g} {energy['unit']} per inference for {DEMO_LAYER} on 64 PEs)", file=out)

    rows = []
    for n in PE_COUNTS:
        cfg = config.replace(n_pes=n)
        r = simulate(model, x, cfg, engine="fast")
        d = dense_baseline(b.n_out, b.n_in, cfg)
        rows.append({"layer": DEMO_LAYER, "n_pes": n, "energy_j": r.energy_j, "time_s": r.time_s,
                     "cycles": r.cycles, "resident": not r.tiled_layers, "input_density": b.act_density,
                     "dense_energy_j": d["energy_j"], "dense_resident": d["resident"]})
    df = pd.DataFrame(rows)
    print("\nPE sweep (fast engine; dense: the same PEs without zero skipping):", file=out)
    print(df.assign(time_us=df.time_s * 1e6, energy_uj=df.energy_j * 1e6, dense_uj=df.dense_energy_j * 1e6)
          [["n_pes", "cycles", "time_us", "energy_uj", "resident", "dense_uj", "dense_resident"]]
          .to_string(index=False, float_format=lambda v: f"{v:,.2f}"), file=out)
    paths = save(energy_vs_pes(df), out_dir / "energy_vs_pes", force=force)
    for p in paths:
        print(f"wrote {p}", file=out)
    return paths
