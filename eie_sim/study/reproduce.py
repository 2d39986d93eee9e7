"""``eie reproduce``: the EIE paper's evaluation, recomputed, beside the paper's figures.

Generates the benchmark layers once into a cache shared by every run (:mod:`layercache`), runs
the sweeps below (fast engine, resumable CSVs under ``OUT/sweeps``), then writes ``report.md``
(:mod:`eie_sim.study.report`), a tidy CSV per table (:mod:`eie_sim.study.paper_tables`) and the
figures. Every number is computed by the run except the paper's, which are read from the
package's data files (``eie_sim/data/paper_*.csv``, each row with its source) and labelled *paper*.

- ``table4``: the nine Table III layers at 64 PEs under every sparsity model
  (docs/WORKLOADS.md) and every seed: latency, load-imbalance overhead, error.
- ``pes``, ``pes_on_chip``, ``fifo``, ``width``, ``ablation``: the design-space
  studies, under the default sparsity model and the first seed.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from compressor.outputs import check_writable, write_atomic
from compressor.provenance import provenance
from eie_sim.config import SimConfig
from eie_sim.study import figures, layercache
from eie_sim.study import paper_tables as pt
from eie_sim.study.report import ReportInputs, render
from eie_sim.study.sweep import Point, local_pool, make_points, run_sweep
from eie_sim.study.tables import csv_text
from eie_sim.workload.benchmarks import BENCHMARKS, DEFAULT_SPARSITY, SPARSITY_MODELS

#: Micro-architecture variants of the ablation, each beside the default.
ABLATION: tuple[tuple[str, dict[str, object]], ...] = (
    ("default", {}), ("bypass off", {"bypass": False}), ("one pointer bank", {"ptr_banks": 1}),
    *((f"queue depth {q}", {"queue_depth": q}) for q in (1, 2, 4, 16, 32)),
)
#: SRAM large enough (and pointers wide enough) to hold every benchmark layer even on 1 PE, its
#: activations included (VGG-6 on 1 PE: 25,088 inputs + 4,096 outputs of 2 bytes = 57 KB).
ON_CHIP = {"spmat_bytes": 16 << 20, "ptr_bytes": 16 << 20, "ptr_bits": 24, "act_bytes": 64 << 10}
DEFAULT_SEEDS = (0, 1, 2, 3, 4)


@dataclass(frozen=True)
class Plan:
    """What a reproduction runs: layers, sparsity models and the design points of each study.

    The defaults are the paper's evaluation; a smaller plan (tests) keeps every table and figure.
    """

    layers: tuple[str, ...] = tuple(BENCHMARKS)
    models: tuple[str, ...] = tuple(SPARSITY_MODELS)
    n_pes: int = 64  # the PE count of Table IV, the power figures and the ablation
    pes: tuple[int, ...] = (1, 2, 4, 8, 16, 32, 64, 128, 256)
    fifos: tuple[int, ...] = (1, 2, 4, 8, 16, 32, 64, 128, 256)
    widths: tuple[int, ...] = (32, 64, 128, 256, 512)
    alexnet: tuple[str, ...] = pt.ALEXNET  # the width study's and energy-vs-PEs figure's layers
    ablation: tuple[tuple[str, dict[str, object]], ...] = ABLATION
    on_chip: dict[str, int] = field(default_factory=lambda: dict(ON_CHIP))

    @property
    def variants(self) -> list[str]:
        return [name for name, _ in self.ablation]


PAPER = Plan()


# ----------------------------------------------------------------------------- sweeps


def _numbered(points: Sequence[Point]) -> list[Point]:
    return [replace(p, index=i) for i, p in enumerate(points)]


def sweep_points(seeds: Sequence[int], plan: Plan = PAPER) -> dict[str, list[Point]]:
    """Every sweep of the report: the Table IV comparison over models x seeds, the studies at the
    first seed under the default model."""
    layers, first = list(plan.layers), [seeds[0]]
    # the comparison's PE count, named only when it is not the default (the points' keys stay put)
    at: dict[str, list[object]] = {} if plan.n_pes == SimConfig().n_pes else {"n_pes": [plan.n_pes]}
    table4 = [p for model in plan.models
              for p in make_points(layers, {"n_pes": [plan.n_pes]}, seeds=seeds, sparsity=model)]
    ablation = [p for _, knobs in plan.ablation
                for p in make_points(layers, {**at, **{k: [v] for k, v in knobs.items()}},
                                     seeds=first, sparsity=DEFAULT_SPARSITY)]
    return {
        "table4": _numbered(table4),
        "pes": make_points(layers, {"n_pes": list(plan.pes)}, seeds=first, sparsity=DEFAULT_SPARSITY),
        # The paper's PE-scaling study keeps every layer on chip; so does this sweep.
        "pes_on_chip": make_points(layers, {"n_pes": list(plan.pes),
                                            **{k: [v] for k, v in plan.on_chip.items()}},
                                   seeds=first, sparsity=DEFAULT_SPARSITY),
        "fifo": make_points(layers, {**at, "queue_depth": list(plan.fifos)}, seeds=first,
                            sparsity=DEFAULT_SPARSITY),
        "width": make_points(list(plan.alexnet), {**at, "word_bits": list(plan.widths)},
                             seeds=first, sparsity=DEFAULT_SPARSITY),
        "ablation": _numbered(ablation),
    }


@dataclass
class CacheReport:
    """What the layer cache did in a run (for the report's provenance line)."""

    directory: Path
    counts: dict[str, int]
    size_bytes: int
    notes: list[str]


def run_sweeps(out: Path, *, seeds: Sequence[int], jobs: int | None, progress: bool, force: bool,
               cache_dir: str | Path | None = None,
               plan: Plan = PAPER) -> tuple[dict[str, pd.DataFrame], CacheReport]:
    """Generate (or validate) every layer in the cache, then run every sweep on one pool."""
    points = sweep_points(seeds, plan)
    root = Path(cache_dir) if cache_dir is not None else layercache.default_cache_dir()
    pool = local_pool(jobs)
    try:
        sources = {(p.layer, p.seed, p.sparsity) for pts in points.values() for p in pts}
        counts, notes = layercache.prepare(root, sources, executor=pool, progress=progress)
        sweeps = {name: run_sweep(pts, out / "sweeps" / f"{name}.csv", executor=pool, progress=progress,
                                  force=force, cache_dir=layercache.layer_dir(root))
                  for name, pts in points.items()}
    finally:
        pool.shutdown(cancel_futures=True)
    layers = layercache.layer_dir(root)  # the root may hold other caches (numba's, other versions)
    return sweeps, CacheReport(layers, dict(counts), layercache.size_bytes(layers), notes)


# ----------------------------------------------------------------------------- tables and figures


#: What run_reproduce writes besides report.md: tables (CSV) and figures (PNG and SVG).
TABLES = ("headline_overhead", "table4_timing", "table4_overhead", "table4_error", "table4_per_seed",
          "speedup", "fifo", "pes_on_chip", "pes_128kb", "width", "periphery", "energy_vs_pes",
          "latency", "power", "alex7_energy", "ablation_cycles", "ablation_energy")
FIGURES = ("overhead_64pes", "speedup_vs_pes", "speedup_vs_pes_128kb", "latency_vs_pes_128kb",
           "utilization_vs_fifo", "spmat_energy_vs_width", "energy_vs_pes_alexnet", "energy_breakdown_64pes",
           "energy_breakdown_vs_pes_alexnet", "ablation_64pes")


def build_tables(sw: dict[str, pd.DataFrame], plan: Plan = PAPER) -> dict[str, pd.DataFrame]:
    """Every table of the report from the sweeps."""
    clock = SimConfig().clock_hz
    layers, models = list(plan.layers), list(plan.models)
    per_seed = pt.per_layer_seed(sw["table4"], clock, plan.n_pes)
    stats = pt.seed_stats(per_seed)
    ablation = pt.ablation_rows(sw["ablation"], plan.ablation)
    tables = {
        "headline_overhead": pt.headline_table(stats, layers),
        "table4_timing": pt.timing_table(stats, clock, layers, models, plan.n_pes),
        "table4_overhead": pt.model_table(stats, "overhead_pct", layers, models, pt.paper_overhead_pct),
        "table4_error": pt.model_table(stats, "error_pct", layers, models),
        "table4_per_seed": pt.per_seed_table(per_seed),
        "speedup": pt.speedups(stats, layers),
        "fifo": pt.fifo_table(sw["fifo"], layers),
        "pes_on_chip": pt.pes_table(sw["pes_on_chip"], layers),
        "pes_128kb": pt.pes_table(sw["pes"], layers),
        "width": pt.width_table(sw["width"], plan.alexnet),
        "periphery": pt.periphery_sensitivity(sw["width"], plan.alexnet),
        "energy_vs_pes": pt.energy_table(sw["pes"], plan.alexnet),
        "latency": pt.latency_table(sw["pes"], plan.alexnet, plan.n_pes),
        "power": pt.power_table(sw["pes"], plan.n_pes),
        "alex7_energy": pt.alex7_energy_table(sw["pes"], plan.n_pes),
        "ablation_cycles": pt.ablation_table(ablation, "cycles", plan.variants),
        "ablation_energy": pt.ablation_table(ablation, "energy_j", plan.variants, 1e6, "uJ"),
    }
    assert tuple(tables) == TABLES, "TABLES lists what is written"
    return tables


def build_figures(sw: dict[str, pd.DataFrame], tables: dict[str, pd.DataFrame],
                  plan: Plan = PAPER) -> dict[str, Figure]:
    """Every figure of the report; the same figure functions ``eie plot`` draws with."""
    alex = sw["pes"][sw["pes"].layer.isin(plan.alexnet)]
    overhead = tables["table4_overhead"].iloc[:-1]  # without the mean of absolute values
    figs = {
        "overhead_64pes": figures.overhead_bars(overhead, plan.n_pes),
        "speedup_vs_pes": figures.speedup_vs_pes(sw["pes_on_chip"]),
        "speedup_vs_pes_128kb": figures.speedup_vs_pes(sw["pes"]),
        "latency_vs_pes_128kb": figures.latency_vs_pes(sw["pes"]),
        "utilization_vs_fifo": figures.utilization_vs_fifo(sw["fifo"]),
        "spmat_energy_vs_width": figures.spmat_energy_vs_width(sw["width"]),
        "energy_vs_pes_alexnet": figures.energy_vs_pes(alex, pt.paper_baselines(plan.alexnet), by_layer=True),
        "energy_breakdown_64pes": figures.energy_breakdown(sw["pes"][sw["pes"].n_pes == plan.n_pes],
                                                           by="layer"),
        "energy_breakdown_vs_pes_alexnet": figures.energy_breakdown(alex, by="n_pes"),
        "ablation_64pes": figures.ablation(pt.ablation_rows(sw["ablation"], plan.ablation)),
    }
    assert tuple(figs) == FIGURES, "FIGURES lists what is written"
    return figs


def output_paths(out: Path) -> list[Path]:
    """Every file of a reproduction under ``out`` (the sweeps' CSVs resume, so they are not here)."""
    return [out / "report.md", *(out / f"{t}.csv" for t in TABLES),
            *(out / f"{f}.{ext}" for f in FIGURES for ext in ("png", "svg"))]


def run_reproduce(out_dir: str | Path, *, seeds: Sequence[int] = DEFAULT_SEEDS, jobs: int | None = None,
                  force: bool = False, progress: bool = True, cache_dir: str | Path | None = None,
                  plan: Plan = PAPER) -> Path:
    """Run every sweep, write the tables (CSV), the figures (PNG, SVG) and report.md.

    ``cache_dir`` keeps the generated layers between runs (default
    :func:`layercache.default_cache_dir`).
    """
    start = time.perf_counter()
    seeds = list(dict.fromkeys(int(s) for s in seeds))
    out = Path(out_dir)
    for path in output_paths(out):  # refuse before minutes of sweeps, not after
        check_writable(path, force)
    sw, cache = run_sweeps(out, seeds=seeds, jobs=jobs, progress=progress, force=force, cache_dir=cache_dir,
                           plan=plan)
    for note in cache.notes:
        print(f"note: {note}", file=sys.stderr)
    tables = build_tables(sw, plan)
    for name, df in tables.items():
        write_atomic(out / f"{name}.csv", csv_text(df), force=force)
    for name, fig in build_figures(sw, tables, plan).items():
        figures.save(fig, out / name, force=force)
    prov = provenance(seeds=seeds, config=SimConfig().to_dict(), sparsity_models=list(plan.models))
    text = render(ReportInputs(tables=tables, sweeps=sw, prov=prov, wall=time.perf_counter() - start,
                               plan=plan, cache=cache))
    report_path = out / "report.md"
    write_atomic(report_path, text, force=force)
    return report_path
