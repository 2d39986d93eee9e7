"""``eie reproduce``: the EIE paper's evaluation, recomputed, beside the paper's figures.

Runs the sweeps below (fast engine, resumable CSVs under ``OUT/sweeps``), then
writes ``report.md``, a CSV per table and the figures. Every number is computed by
the run except the paper's, which are read from the package's data files
(``eie_sim/data/paper_*.csv``, each row with its source) and labelled *paper*.

- ``table4``: the nine Table III layers at 64 PEs under every sparsity model
  (docs/WORKLOADS.md) and every seed: latency, load-imbalance overhead, error.
- ``pes``, ``pes_on_chip``, ``fifo``, ``width``, ``ablation``: the design-space
  studies, under the default sparsity model and the first seed.
"""

from __future__ import annotations

import math
import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from compressor.outputs import check_writable, write_atomic
from compressor.provenance import provenance
from eie_sim.config import SimConfig
from eie_sim.energy import (
    UNITS,
    EnergyModel,
    calibration_table,
    dense_baseline,
    max_calibratable_periphery,
)
from eie_sim.energy_table import load_energy_table
from eie_sim.study import plots
from eie_sim.study.baselines import host_numpy_us, paper_headline, paper_table4, paper_time_us
from eie_sim.study.sweep import Point, make_points, run_sweep
from eie_sim.workload.benchmarks import BENCHMARKS, DEFAULT_SPARSITY, SPARSITY_MODELS, VARIATION_RULES

TABLE4_PES = 64
PES = [1, 2, 4, 8, 16, 32, 64, 128, 256]
FIFOS = [1, 2, 4, 8, 16, 32, 64, 128, 256]
WIDTHS = [32, 64, 128, 256, 512]
ALEXNET = ["Alex-6", "Alex-7", "Alex-8"]
PLATFORMS = ["CPU", "GPU", "mGPU"]
#: SRAM large enough (and pointers wide enough) to hold every benchmark layer even on 1 PE.
ON_CHIP = {"spmat_bytes": 16 << 20, "ptr_bytes": 16 << 20, "ptr_bits": 24}
#: Micro-architecture variants of the ablation at 64 PEs, each beside the default.
ABLATION: tuple[tuple[str, dict[str, object]], ...] = (
    ("default", {}), ("bypass off", {"bypass": False}), ("one pointer bank", {"ptr_banks": 1}),
    *((f"queue depth {q}", {"queue_depth": q}) for q in (1, 2, 4, 16, 32)),
)
#: Periphery fractions of an SRAM access for the width section's sensitivity table.
PERIPHERY = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6)
DEFAULT_SEEDS = (0, 1, 2, 3, 4)


# ----------------------------------------------------------------------------- formatting


def fmt(v: object, decimals: int | None = None) -> str:
    """A table cell: thousands separators, decimals by magnitude, never scientific notation."""
    if v is None or (isinstance(v, float | np.floating) and math.isnan(v)):
        return ""
    if isinstance(v, bool | np.bool_):
        return "yes" if v else "no"
    if isinstance(v, int | np.integer):
        return f"{int(v):,}"
    if isinstance(v, float | np.floating):
        if decimals is None:
            a = abs(float(v))
            decimals = 0 if a >= 100 else 1 if a >= 10 else 2 if a >= 0.1 or a == 0 else 3
        return f"{float(v):,.{decimals}f}"
    return str(v)


def pm(mean: float, sd: float, decimals: int = 1) -> str:
    """``mean ± sd`` (one seed: the mean alone)."""
    if sd is None or (isinstance(sd, float) and math.isnan(sd)):
        return fmt(mean, decimals)
    return f"{fmt(mean, decimals)} ± {fmt(sd, decimals)}"


def md(df: pd.DataFrame, decimals: dict[str, int] | None = None) -> str:
    """A DataFrame as a Markdown table; text cells (e.g. ``mean ± sd``) as they are."""
    decimals = decimals or {}
    cols = [str(c) for c in df.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for row in df.itertuples(index=False):
        cells = (fmt(v, decimals.get(c)) for c, v in zip(cols, row, strict=True))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def percent(df: pd.DataFrame) -> dict[str, int]:
    """One decimal for every column in %."""
    return {c: 1 for c in df.columns if c.endswith("(%)")}


def _geomean(x: pd.Series) -> float:
    return float(np.exp(np.mean(np.log(x.astype(float)))))


def paper(name: str) -> str:
    """A published figure, read from eie_sim/data/paper_headlines.csv, as published, with its unit."""
    h = paper_headline(name)
    v = float(h["value"])
    value = f"{int(v):,}" if v.is_integer() else f"{v:g}"
    return f"{value}{h['unit']}" if h["unit"] == "x" else f"{value} {h['unit']}"


# ----------------------------------------------------------------------------- sweeps


def _numbered(points: Sequence[Point]) -> list[Point]:
    return [replace(p, index=i) for i, p in enumerate(points)]


def sweep_points(seeds: Sequence[int]) -> dict[str, list[Point]]:
    """Every sweep of the report: the 64-PE table over models x seeds, the studies at seed 0."""
    layers, first = list(BENCHMARKS), [seeds[0]]
    table4 = [p for model in SPARSITY_MODELS
              for p in make_points(layers, {"n_pes": [TABLE4_PES]}, seeds=seeds, sparsity=model)]
    ablation = [p for _, knobs in ABLATION
                for p in make_points(layers, {k: [v] for k, v in knobs.items()}, seeds=first,
                                     sparsity=DEFAULT_SPARSITY)]
    return {
        "table4": _numbered(table4),
        "pes": make_points(layers, {"n_pes": PES}, seeds=first, sparsity=DEFAULT_SPARSITY),
        # The paper's PE-scaling study keeps every layer on chip; so does this sweep.
        "pes_on_chip": make_points(layers, {"n_pes": PES, **{k: [v] for k, v in ON_CHIP.items()}},
                                   seeds=first, sparsity=DEFAULT_SPARSITY),
        "fifo": make_points(layers, {"queue_depth": FIFOS}, seeds=first, sparsity=DEFAULT_SPARSITY),
        "width": make_points(ALEXNET, {"word_bits": WIDTHS}, seeds=first, sparsity=DEFAULT_SPARSITY),
        "ablation": _numbered(ablation),
    }


def run_sweeps(out: Path, *, seeds: Sequence[int], jobs: int | None, progress: bool,
               force: bool) -> dict[str, pd.DataFrame]:
    return {name: run_sweep(pts, out / "sweeps" / f"{name}.csv", jobs=jobs, progress=progress, force=force,
                            cache_dir=out / "sweeps" / ".eie-cache")
            for name, pts in sweep_points(seeds).items()}


# ----------------------------------------------------------------------------- Table IV


def _per_layer_seed(t4: pd.DataFrame, clock_hz: float) -> pd.DataFrame:
    """One row per (model, layer, seed): ours theoretical and actual time, overhead, error."""
    rows = []
    for r in t4.itertuples(index=False):
        p_act = paper_time_us(r.layer, "EIE", "actual")
        theoretical = r.entries_processed / TABLE4_PES / clock_hz * 1e6
        actual = r.time_s * 1e6
        rows.append({"sparsity": r.sparsity, "layer": r.layer, "seed": r.seed, "theoretical_us": theoretical,
                     "actual_us": actual, "overhead_pct": 100 * (actual / theoretical - 1),
                     "error_pct": 100 * (actual - p_act) / p_act,
                     "padding_pct": 100 * (1 - r.kept_processed / r.entries_processed),
                     "utilization_pct": 100 * r.pe_utilization, "energy_uj": r.energy_j * 1e6,
                     "time_s": r.time_s, "energy_j": r.energy_j})
    return pd.DataFrame(rows)


def table4_stats(t4: pd.DataFrame, clock_hz: float) -> pd.DataFrame:
    """Mean and sample sd over seeds per (model, layer) of every per-seed figure."""
    per = _per_layer_seed(t4, clock_hz)
    g = per.drop(columns="seed").groupby(["sparsity", "layer"], sort=False)
    stats = g.mean().add_suffix("_mean").join(g.std(ddof=1).add_suffix("_sd"))
    stats["seeds"] = g.size()
    return stats.reset_index()


def published_theoretical_us(layer: str, clock_hz: float) -> float:
    """Kept multiply-accumulates at the published densities / 64 PEs / clock (no padding)."""
    b = BENCHMARKS[layer]
    return b.n_in * b.n_out * b.weight_density * b.act_density / TABLE4_PES / clock_hz * 1e6


def _stat(stats: pd.DataFrame, model: str, layer: str, name: str) -> tuple[float, float]:
    row = stats[(stats.sparsity == model) & (stats.layer == layer)].iloc[0]
    return float(row[f"{name}_mean"]), float(row[f"{name}_sd"])


def headline_table(stats: pd.DataFrame) -> pd.DataFrame:
    """Per layer: the paper's load-imbalance overhead beside ours and our absolute-time error
    (default sparsity model, mean ± sd over seeds)."""
    rows = []
    for layer in BENCHMARKS:
        p_th, p_act = paper_time_us(layer, "EIE", "theoretical"), paper_time_us(layer, "EIE", "actual")
        oh, oh_sd = _stat(stats, DEFAULT_SPARSITY, layer, "overhead_pct")
        err, err_sd = _stat(stats, DEFAULT_SPARSITY, layer, "error_pct")
        rows.append({"layer": layer, "paper overhead (%)": 100 * (p_act / p_th - 1),
                     "ours overhead (%)": pm(oh, oh_sd),
                     "overhead gap (points)": oh - 100 * (p_act / p_th - 1),
                     "ours error in actual time (%)": pm(err, err_sd)})
    return pd.DataFrame(rows)


def timing_table(stats: pd.DataFrame, clock_hz: float) -> pd.DataFrame:
    """Table IV's EIE rows beside ours (us): one column per sparsity model, mean ± sd."""
    rows = []
    for layer in BENCHMARKS:
        b = BENCHMARKS[layer]
        row = {"layer": layer, "size": f"{b.n_in:,} -> {b.n_out:,}",
               "paper theoretical": paper_time_us(layer, "EIE", "theoretical"),
               "from published densities": published_theoretical_us(layer, clock_hz),
               "ours theoretical": _stat(stats, DEFAULT_SPARSITY, layer, "theoretical_us")[0],
               "paper actual": paper_time_us(layer, "EIE", "actual")}
        for model in SPARSITY_MODELS:
            row[f"ours actual, {model}"] = pm(*_stat(stats, model, layer, "actual_us"), decimals=2)
        rows.append(row)
    return pd.DataFrame(rows)


def model_table(stats: pd.DataFrame, name: str, paper_column: Callable[[str], float] | None) -> pd.DataFrame:
    """One figure per layer and sparsity model (mean ± sd), beside the paper's when given, and
    the mean of its absolute value over the layers."""
    rows = []
    for layer in BENCHMARKS:
        row: dict[str, object] = {"layer": layer}
        if paper_column:
            row["paper"] = paper_column(layer)
        for model in SPARSITY_MODELS:
            row[model] = pm(*_stat(stats, model, layer, name))
        rows.append(row)
    mean: dict[str, object] = {"layer": "mean of |value|"}
    if paper_column:
        mean["paper"] = float(np.mean([abs(paper_column(layer)) for layer in BENCHMARKS]))
    for model in SPARSITY_MODELS:
        means = stats[stats.sparsity == model][f"{name}_mean"]
        mean[model] = fmt(float(means.abs().mean()), 1)
    return pd.DataFrame([*rows, mean])


def overhead_figure_table(stats: pd.DataFrame) -> pd.DataFrame:
    """Numbers for the overhead figure: the paper's and each model's mean and sd per layer."""
    out = pd.DataFrame({"layer": list(BENCHMARKS)})
    out["paper"] = [100 * (paper_time_us(x, "EIE", "actual") / paper_time_us(x, "EIE", "theoretical") - 1)
                    for x in BENCHMARKS]
    for model in SPARSITY_MODELS:
        out[f"{model} mean"] = [_stat(stats, model, x, "overhead_pct")[0] for x in BENCHMARKS]
        out[f"{model} sd"] = [_stat(stats, model, x, "overhead_pct")[1] for x in BENCHMARKS]
    return out


# ----------------------------------------------------------------------------- other tables


def speedups(stats: pd.DataFrame) -> pd.DataFrame:
    """Ours (64 PEs, default model, mean over seeds) against the paper's dense CPU/GPU/mGPU."""
    t4 = paper_table4()
    rows = []
    for layer in BENCHMARKS:
        time_s = _stat(stats, DEFAULT_SPARSITY, layer, "time_s")[0]
        energy_j = _stat(stats, DEFAULT_SPARSITY, layer, "energy_j")[0]
        row: dict[str, object] = {"layer": layer, "ours time (us)": time_s * 1e6,
                                  "ours energy (uJ)": energy_j * 1e6}
        for plat in PLATFORMS:
            d = t4[(t4.layer == layer) & (t4.platform == plat) & (t4.kind == "dense")].iloc[0]
            row[f"speed-up vs {plat}"] = d.time_us * 1e-6 / time_s
            row[f"energy eff. vs {plat}"] = d.energy_j / energy_j
        rows.append(row)
    df = pd.DataFrame(rows)
    geo: dict[str, object] = {"layer": "geometric mean"}
    for c in df.columns[3:]:
        geo[c] = _geomean(df[c])
    paper_row: dict[str, object] = {"layer": "paper, geometric mean"}
    for plat in PLATFORMS:
        key = plat.lower()
        paper_row[f"speed-up vs {plat}"] = float(paper_headline(f"eie_speedup_vs_{key}_geomean")["value"])
        paper_row[f"energy eff. vs {plat}"] = float(
            paper_headline(f"eie_energy_efficiency_vs_{key}_geomean")["value"])
    return pd.concat([df, pd.DataFrame([geo, paper_row])], ignore_index=True)


def paper_speedup_from_table4() -> float:
    """The paper's own EIE speed-up over CPU dense recomputed from its Table IV (geometric mean)."""
    return _geomean(pd.Series([paper_time_us(x, "CPU", "dense") / paper_time_us(x, "EIE", "actual")
                               for x in BENCHMARKS]))


def fifo_table(fifo: pd.DataFrame) -> pd.DataFrame:
    t = fifo.pivot(index="queue_depth", columns="layer", values="pe_utilization") * 100
    return t[list(BENCHMARKS)].reset_index()


def pes_table(pes: pd.DataFrame) -> pd.DataFrame:
    t = pes.pivot(index="n_pes", columns="layer", values="cycles")[list(BENCHMARKS)]
    return (t.iloc[0] / t).reset_index()


def width_reads(width: pd.DataFrame) -> pd.DataFrame:
    """Sparse-matrix word reads and their dynamic energy per width: reads x energy per read."""
    out = width[["layer", "word_bits", "spmat_bytes", "access_counts.spmat_read.word_read"]].copy()
    out = out.rename(columns={"access_counts.spmat_read.word_read": "word_reads"})
    out["pj_per_read"] = [EnergyModel.for_config(SimConfig(word_bits=int(w))).per_event_pj[
        ("spmat_read", "word_read")] for w in out["word_bits"]]
    out["spmat_read_energy_j"] = out["word_reads"] * out["pj_per_read"] * 1e-12
    return out


def width_table(reads: pd.DataFrame) -> pd.DataFrame:
    t = reads.pivot(index="word_bits", columns="layer", values="spmat_read_energy_j")[ALEXNET] * 1e6
    return t.reset_index()


def periphery_sensitivity(reads: pd.DataFrame) -> pd.DataFrame:
    """The width with the least read energy per layer, for other periphery fractions P of an
    access (energy per read = E64(C) x (P + (1 - P) x width / 64)); the default table's P marked."""
    table = load_energy_table()
    rows = []
    for p in sorted({*PERIPHERY, table.periphery}):
        t = replace(table, periphery=p)
        label = f"{p:g}" + (" (default)" if p == table.periphery else "")
        row: dict[str, object] = {"periphery fraction P": label}
        for layer in ALEXNET:
            g = reads[reads.layer == layer]
            energy = [n * t.sram_pj(c, w) for n, c, w in zip(g.word_reads, g.spmat_bytes, g.word_bits,
                                                             strict=True)]
            row[f"{layer} best width (bits)"] = int(g.word_bits.iloc[int(np.argmin(energy))])
        rows.append(row)
    return pd.DataFrame(rows)


def energy_table(pes: pd.DataFrame) -> pd.DataFrame:
    """AlexNet fc6-fc8 per PE count: EIE's and the dense accelerator's energy (uJ) and residency."""
    cols = ["layer", "n_pes", "energy_j", "resident", "dense_energy_j", "dense_resident", "time_s"]
    df = pes[pes.layer.isin(ALEXNET)][cols].copy()
    out = pd.DataFrame({"layer": df.layer, "PEs": df.n_pes, "EIE (uJ)": df.energy_j * 1e6,
                        "EIE resident": df.resident, "dense accelerator (uJ)": df.dense_energy_j * 1e6,
                        "dense resident": df.dense_resident,
                        "dense / EIE": df.dense_energy_j / df.energy_j})
    return out.reset_index(drop=True)


def paper_baselines() -> pd.DataFrame:
    """The paper's dense CPU / GPU / mGPU energy per AlexNet layer (J), as flat plot lines."""
    t4 = paper_table4()
    rows = []
    for layer in ALEXNET:
        for plat in PLATFORMS:
            row = t4[(t4.layer == layer) & (t4.platform == plat) & (t4.kind == "dense")].iloc[0]
            rows.append({"layer": layer, "baseline": f"{plat} dense (paper)", "n_pes": np.nan,
                         "energy_j": row.energy_j})
    return pd.DataFrame(rows)


def latency_table(pes: pd.DataFrame) -> pd.DataFrame:
    """AlexNet at 64 PEs: EIE, the dense accelerator and this host's numpy dense mat-vec (us)."""
    rows = []
    for layer in ALEXNET:
        b = BENCHMARKS[layer]
        r = pes[(pes.layer == layer) & (pes.n_pes == TABLE4_PES)].iloc[0]
        d = dense_baseline(b.n_out, b.n_in, SimConfig(n_pes=TABLE4_PES))
        rows.append({"layer": layer, "EIE (us)": r.time_s * 1e6, "dense accelerator (us)": d["seconds"] * 1e6,
                     "paper CPU dense (us)": paper_time_us(layer, "CPU", "dense"),
                     "this host, numpy dense (us, latency only)": host_numpy_us(b.n_out, b.n_in)})
    return pd.DataFrame(rows)


def power_table(pes: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, float]]:
    """Alex-7 at 64 PEs: power per unit and PE beside Table II and the calibration workload."""
    r = pes[(pes.layer == "Alex-7") & (pes.n_pes == TABLE4_PES)].iloc[0]
    units = list(UNITS)
    per_pe_mw = [r[f"energy_breakdown_j.{u}"] / r.time_s * 1e3 / TABLE4_PES for u in units]
    split = pd.DataFrame({"unit": units, "ours, Alex-7, per PE (mW)": per_pe_mw})
    cal = calibration_table().reset_index()
    split = split.merge(cal[["unit", "table2_mw", "uncalibrated_dynamic_mw", "calibrated_mw"]], on="unit",
                        how="left")
    split = split.rename(columns={"table2_mw": "paper Table II (mW)",
                                  "uncalibrated_dynamic_mw": "calibration workload, events only (mW)",
                                  "calibrated_mw": "calibration workload, calibrated (mW)"})
    head = {"power (W)": r.power_w, "energy per inference (uJ)": r.energy_j * 1e6,
            "time (us)": r.time_s * 1e6}
    return split, head


def ablation_rows(df: pd.DataFrame) -> pd.DataFrame:
    """The ablation sweep's rows, each named by its variant."""
    names = []
    for row in df.itertuples(index=False):
        name = "default"
        for label, knobs in ABLATION[1:]:
            if all(getattr(row, k) == v for k, v in knobs.items()):
                name = label
        names.append(name)
    return df.assign(variant=names)


def ablation_table(df: pd.DataFrame, column: str, scale: float = 1.0, unit: str = "") -> pd.DataFrame:
    """One row per layer: the default's value (in ``unit``), then each variant's change in %."""
    rows = ablation_rows(df)
    wide = rows.pivot(index="layer", columns="variant", values=column).reindex(
        index=list(dict.fromkeys(rows["layer"])), columns=[name for name, _ in ABLATION]) * scale
    out = pd.DataFrame({"layer": wide.index, f"default ({unit or column})": wide["default"].to_numpy()})
    for name, _ in ABLATION[1:]:
        out[f"{name} (%)"] = (100 * (wide[name] / wide["default"] - 1)).to_numpy()
    return out


# ----------------------------------------------------------------------------- the report


#: What run_reproduce writes besides report.md: tables (CSV) and figures (PNG and SVG).
TABLES = ("headline_overhead", "table4_timing", "table4_overhead", "table4_error", "table4_per_seed",
          "speedup", "fifo", "pes_on_chip", "pes_128kb", "width", "periphery", "energy_vs_pes",
          "latency", "power", "ablation_cycles", "ablation_energy")
FIGURES = ("overhead_64pes", "speedup_vs_pes", "speedup_vs_pes_128kb", "utilization_vs_fifo",
           "spmat_energy_vs_width", "energy_vs_pes_alexnet", "energy_breakdown_64pes", "ablation_64pes")


def output_paths(out: Path) -> list[Path]:
    """Every file of a reproduction under ``out`` (the sweeps' CSVs resume, so they are not here)."""
    return [out / "report.md", *(out / f"{t}.csv" for t in TABLES),
            *(out / f"{f}.{ext}" for f in FIGURES for ext in ("png", "svg"))]


def run_reproduce(out_dir: str | Path, *, seeds: Sequence[int] = DEFAULT_SEEDS, jobs: int | None = None,
                  force: bool = False, progress: bool = True) -> Path:
    """Run every sweep, write the tables (CSV), the figures (PNG, SVG) and report.md."""
    start = time.perf_counter()
    seeds = list(dict.fromkeys(int(s) for s in seeds))
    out = Path(out_dir)
    report_path = out / "report.md"
    for path in output_paths(out):  # refuse before minutes of sweeps, not after
        check_writable(path, force)
    clock = SimConfig().clock_hz
    sw = run_sweeps(out, seeds=seeds, jobs=jobs, progress=progress, force=force)
    stats = table4_stats(sw["table4"], clock)
    reads = width_reads(sw["width"])
    power, head = power_table(sw["pes"])
    tables = {
        "headline_overhead": headline_table(stats), "table4_timing": timing_table(stats, clock),
        "table4_overhead": model_table(stats, "overhead_pct", lambda x: 100 * (
            paper_time_us(x, "EIE", "actual") / paper_time_us(x, "EIE", "theoretical") - 1)),
        "table4_error": model_table(stats, "error_pct", None),
        "table4_per_seed": _per_layer_seed(sw["table4"], clock),
        "speedup": speedups(stats), "fifo": fifo_table(sw["fifo"]),
        "pes_on_chip": pes_table(sw["pes_on_chip"]), "pes_128kb": pes_table(sw["pes"]),
        "width": width_table(reads), "periphery": periphery_sensitivity(reads),
        "energy_vs_pes": energy_table(sw["pes"]), "latency": latency_table(sw["pes"]), "power": power,
        "ablation_cycles": ablation_table(sw["ablation"], "cycles"),
        "ablation_energy": ablation_table(sw["ablation"], "energy_j", 1e6, "uJ"),
    }
    assert tuple(tables) == TABLES, "TABLES lists what is written"
    for name, df in tables.items():
        write_atomic(out / f"{name}.csv", df.to_csv(index=False), force=force)
    alex = sw["pes"][sw["pes"].layer.isin(ALEXNET)]
    figs = {
        "overhead_64pes": plots.overhead_bars(overhead_figure_table(stats)),
        "speedup_vs_pes": plots.speedup_vs_pes(sw["pes_on_chip"]),
        "speedup_vs_pes_128kb": plots.speedup_vs_pes(sw["pes"]),
        "utilization_vs_fifo": plots.utilization_vs_fifo(sw["fifo"]),
        "spmat_energy_vs_width": plots.spmat_energy_vs_width(
            sw["width"].copy().assign(spmat_read_energy_j=reads["spmat_read_energy_j"].to_numpy()),
            y="spmat_read_energy_j"),
        "energy_vs_pes_alexnet": plots.energy_vs_pes(alex, paper_baselines(), by_layer=True),
        "energy_breakdown_64pes": plots.energy_breakdown(sw["pes"][sw["pes"].n_pes == TABLE4_PES],
                                                         by="layer"),
        "ablation_64pes": plots.ablation(ablation_rows(sw["ablation"])),
    }
    assert tuple(figs) == FIGURES, "FIGURES lists what is written"
    for name, fig in figs.items():
        plots.save(fig, out / name, force=force)
    prov = provenance(seeds=seeds, config=SimConfig().to_dict(), sparsity_models=list(SPARSITY_MODELS))
    text = report(tables, head, sw, prov, wall=time.perf_counter() - start)
    write_atomic(report_path, text, force=force)
    return report_path


def header(prov: dict[str, object], wall: float) -> str:
    """Title and provenance: contract, package, commit, seeds, configuration."""
    seeds = prov["seeds"]
    seed_text = f"seed {seeds[0]}" if len(seeds) == 1 else f"seeds {', '.join(map(str, seeds))}"
    rules = "; ".join(f"*{name}*: row sigma {r.row_sigma:g}, column sigma {r.col_sigma:g} "
                      f"({r.fitted_to.split(';')[0]})" for name, r in VARIATION_RULES.items())
    return f"""# eie-sim reproduces the EIE evaluation

Generated by `eie reproduce` in {wall:.0f} s on {platform.machine()} (Python {platform.python_version()}):
modelling contract v{prov['contract_version']} (docs/ARCHITECTURE.md), eie-sim {prov['package_version']},
commit {prov['git_commit']}, {seed_text}. Fast engine (identical to the SimPy model on every figure;
see the tests), default configuration: 64 PEs at 800 MHz, queue depth 8, broadcast latency 2, two
pointer banks, bypassing on, 128 KB sparse-matrix SRAM of 64-bit words per PE. Figures labelled
*paper* are read from `eie_sim/data/paper_*.csv` (EIE, Han et al., ISCA 2016); every other number
was computed by this run.

**Workloads** (docs/WORKLOADS.md): the nine Table III layers, generated from each seed, under three
sparsity models: *uniform* (iid weights) and two rules whose row and column density spreads were
fitted to a real pruned layer, never to EIE's latencies. {rules}. The default is
*{DEFAULT_SPARSITY}*: AlexNet's and VGG's FC layers were trained with dropout 0.5.
"""


def report(tables: dict[str, pd.DataFrame], head: dict[str, float], sw: dict[str, pd.DataFrame],
           prov: dict[str, object], *, wall: float) -> str:
    """The whole report.md from the tables; paper figures come from the data files."""
    seeds = prov["seeds"]
    n = len(seeds)
    hl = tables["headline_overhead"]
    mean_gap = float(hl["overhead gap (points)"].abs().mean())
    sp = tables["speedup"].set_index("layer")
    pe = tables["pes_on_chip"].set_index("n_pes")
    ratio = pe.loc[256] / pe.loc[64]
    fifo = tables["fifo"].set_index("queue_depth")
    width = tables["width"].set_index("word_bits")
    best_width = width.idxmin()
    resident_from = (sw["pes"][sw["pes"].resident].groupby("layer")["n_pes"].min().reindex(ALEXNET))
    periphery = tables["periphery"]
    best = periphery.set_index("periphery fraction P")
    at_64 = [str(p).split()[0] for p, row in best.iterrows() if (row == 64).any()]
    paper_width = paper("spmat_width_best")
    spread = f"mean ± sd over {n} seeds" if n > 1 else "one seed: no spread"
    return header(prov, wall) + f"""
## Load imbalance at 64 PEs (the headline)

How much longer each layer takes than its work alone would: overhead = actual / theoretical
time - 1, where theoretical = the entries processed (padding included) / 64 PEs / 800 MHz. The
paper's overhead comes from its own Table IV (*paper* theoretical and actual); ours from the
default model, {spread}. This figure compares like with like: each side divides by its own
theoretical time, so it isolates the machine's load imbalance. The absolute-time error does not:
it also carries any difference in the workload itself, and the paper's theoretical times for
Alex-8 and VGG-6 do not follow from its own published densities (see the timing table: Alex-8's
{fmt(paper_time_us('Alex-8', 'EIE', 'theoretical'))} us against
{fmt(published_theoretical_us('Alex-8', 800e6))} us of kept multiply-accumulates; VGG-6's
{fmt(paper_time_us('VGG-6', 'EIE', 'theoretical'))} us equals Alex-6's for about
{fmt(published_theoretical_us('VGG-6', 800e6) / published_theoretical_us('Alex-6', 800e6))}x its
multiply-accumulates).

{md(hl, {"paper overhead (%)": 1, "overhead gap (points)": 1})}

Mean |ours - paper| overhead: {mean_gap:.1f} points.

![load imbalance](overhead_64pes.png)

### Overhead (%) under each sparsity model ({spread})

{md(tables['table4_overhead'], {"paper": 1})}

### Table IV: latency at 64 PEs (us)

*paper theoretical* and *paper actual* are Table IV's EIE rows; *from published densities* =
kept multiply-accumulates at Table III's densities / 64 / 800 MHz (no padding); *ours
theoretical* includes padding entries (default model, mean over seeds).

{md(tables['table4_timing'], {"paper theoretical": 1, "from published densities": 1, "ours theoretical": 1,
                              "paper actual": 1})}

### Error in actual time against the paper (%)

{md(tables['table4_error'])}

## Speed-up and energy efficiency against the paper's platforms (dense, batch 1)

Ours (64 PEs, default model, mean over seeds) against the paper's measured CPU (i7-5930K),
GPU (Titan X) and mobile GPU (Tegra K1) times; platform energy = power x time as in the paper.
Ours vs CPU dense: speed-up {fmt(sp.loc['geometric mean', 'speed-up vs CPU'], 0)}x, energy efficiency
{fmt(sp.loc['geometric mean', 'energy eff. vs CPU'], 0)}x; paper: {paper('eie_speedup_vs_cpu_geomean')} and
{paper('eie_energy_efficiency_vs_cpu_geomean')} (its own Table IV gives
{fmt(paper_speedup_from_table4(), 0)}x).

{md(tables['speedup'])}

## Alex-7 (AlexNet fc7) on 64 PEs: power and energy

Ours: {fmt(head['power (W)'], 3)} W, {fmt(head['energy per inference (uJ)'], 2)} uJ per inference in
{fmt(head['time (us)'], 2)} us (default model, seed {seeds[0]}). Paper: {paper('eie_power_64pe')},
{paper('eie_alex7_energy')} ({fmt(paper_time_us('Alex-7', 'EIE', 'actual'))} us).

{md(tables['power'], {c: 3 for c in tables['power'].columns if c != "unit"})}

The static term (clock network and leakage) is fitted so that the calibration workload (one
entry per cycle, eight per column) reproduces Table II per unit; a real layer does more pointer
and word reads per entry than that workload, so its power differs.

## FIFO depth: PE utilisation (%) at 64 PEs

Paper: at depth 1 about half the cycles are idle; little gain beyond {paper('fifo_depth_design')};
NT-We balances worst. Ours: depth 1 gives {fmt(fifo.loc[1].min(), 0)}-{fmt(fifo.loc[1].max(), 0)} %, depth 8
{fmt(fifo.loc[8].min(), 0)}-{fmt(fifo.loc[8].max(), 0)} %, depth 256
{fmt(fifo.loc[256].min(), 0)}-{fmt(fifo.loc[256].max(), 0)} %;
worst at depth 8: {fifo.loc[8].idxmin()}.

{md(tables['fifo'], {c: 1 for c in BENCHMARKS})}

![utilisation vs FIFO depth](utilization_vs_fifo.png)

## PE count: speed-up over 1 PE

Paper: near-linear except NT-We; 256 PEs give {paper('pe_scaling_256_over_64')} the throughput of 64 PEs.
Like the paper's study, this sweep keeps every layer on chip (16 MB of sparse-matrix and pointer
SRAM per PE, 24-bit pointers). Ours, 256 vs 64 PEs: {', '.join(f'{k} {x:.2f}x' for k, x in ratio.items())}
(geometric mean {_geomean(ratio):.2f}x).

{md(tables['pes_on_chip'], {c: 1 for c in BENCHMARKS})}

![speed-up vs PE count](speedup_vs_pes.png)

With the paper's 128 KB of sparse-matrix SRAM per PE, the layers do not fit on few PEs and stream
from DRAM in tiles (16 bytes/cycle), which caps the speed-up until they fit:

{md(tables['pes_128kb'], {c: 1 for c in BENCHMARKS})}

![speed-up vs PE count, 128 KB SRAM per PE](speedup_vs_pes_128kb.png)

## Sparse-matrix SRAM width: read energy for AlexNet (uJ per inference)

Paper: {paper_width} gives the least read energy. Ours: least at
{', '.join(f'{k} {int(x)} bits' for k, x in best_width.items())}.

The cost model: a read of a `w`-bit word from an SRAM of capacity `C` costs
`E64(C) x (P + (1 - P) x w / 64)`, where `E64` interpolates Horowitz's 64-bit read energies in
capacity and `P` is the share of an access that does not scale with width (decoders, word lines,
control; `P = {load_energy_table().periphery:g}` in the packaged table). Reads come from the simulation: a
column's entries (about eight per PE at 64 PEs) start anywhere in a word, so wider words hold
more unused entries and, past a point, save no reads. With a small `P` the energy per read is
nearly proportional to the bits read, so the narrowest width that does not multiply the reads
wins; a larger `P` makes every read dearer and rewards wider words. The paper's minimum
({paper_width}) appears for some layer at `P` = {', '.join(at_64) or 'none of the values tried'}, but
calibrating the model to Table II caps `P` at {max_calibratable_periphery():.3f} (above it some unit's
events alone exceed its Table II power on the calibration workload). The table gives the best
width per layer for other values of `P` (from the same simulated reads):

{md(tables['periphery'])}

{md(tables['width'], {c: 2 for c in ALEXNET})}

![SRAM width](spmat_energy_vs_width.png)

## Energy per inference vs PE count, AlexNet fc6-fc8, against dense baselines

EIE beside the dense accelerator of docs/ARCHITECTURE.md section 7 (the same PEs and energy table,
no zero skipping, 16-bit weights) per PE count. Hollow markers in the figure: weights do not fit
the SRAMs and stream from DRAM in tiles; the compressed layers become resident from
{', '.join(f'{k}: {int(x)} PEs' for k, x in resident_from.items())}, the dense accelerator's only when its
16-bit weights fit, which is why its energy drops there. Flat lines: the paper's CPU, GPU and
mobile-GPU dense energy (power x time).

{md(tables['energy_vs_pes'], {"EIE (uJ)": 2, "dense accelerator (uJ)": 1, "dense / EIE": 0})}

![energy vs PE count](energy_vs_pes_alexnet.png)

Latency at 64 PEs (this host's numpy time is a latency-only baseline; its energy is not measured):

{md(tables['latency'])}

## Energy breakdown at 64 PEs

![energy breakdown](energy_breakdown_64pes.png)

## Micro-architecture ablation at 64 PEs

Each variant changes one knob of the default machine: bypassing off (an update waits
acc_latency = 2 cycles after the previous update of the same register), one pointer bank (two
cycles to read a column's pointers), and queue depths 1 to 32 (default 8). Default model, seed
{seeds[0]}. Change in cycles and in energy per inference against the default, in %:

{md(tables['ablation_cycles'], percent(tables['ablation_cycles']))}

{md(tables['ablation_energy'], {**percent(tables['ablation_energy']), "default (uJ)": 2})}

![ablation](ablation_64pes.png)
"""
