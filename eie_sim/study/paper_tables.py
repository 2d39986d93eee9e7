"""The tables of ``eie reproduce``, built from its sweeps beside the paper's figures.

Every table is tidy: one number per cell, spreads over seeds as ``... mean / sd / min / max``
columns, the unit in each column's name (:mod:`eie_sim.study.tables` writes them as CSV and
Markdown). The paper's figures come from ``eie_sim/data/paper_*.csv`` (:mod:`baselines`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

import numpy as np
import pandas as pd

from eie_sim.config import FIELD, SimConfig
from eie_sim.energy import UNITS, calibration_table, dense_baseline
from eie_sim.energy_table import load_energy_table
from eie_sim.study.baselines import host_numpy_us, paper_headline, paper_table4, paper_time_us
from eie_sim.study.metrics import spmat_read_energy_j
from eie_sim.workload.benchmarks import BENCHMARKS, DEFAULT_SPARSITY

PLATFORMS = ("CPU", "GPU", "mGPU")
ALEXNET = ("Alex-6", "Alex-7", "Alex-8")
#: Periphery fractions of an SRAM access for the width section's sensitivity table.
PERIPHERY = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6)
STATS = ("mean", "sd", "min", "max")

PES_LABEL = FIELD["n_pes"].axis_label
DEPTH_LABEL = FIELD["queue_depth"].axis_label
WIDTH_LABEL = FIELD["word_bits"].axis_label


def geomean(x: Sequence[float] | pd.Series) -> float:
    return float(np.exp(np.mean(np.log(np.asarray(x, dtype=float)))))


def paper(name: str) -> str:
    """A published figure, read from eie_sim/data/paper_headlines.csv, as published, with its unit."""
    h = paper_headline(name)
    v = float(h["value"])
    value = f"{int(v):,}" if v.is_integer() else f"{v:g}"
    return f"{value}{h['unit']}" if h["unit"] == "x" else f"{value} {h['unit']}"


def paper_overhead_pct(layer: str) -> float:
    """The paper's own load-imbalance overhead: its Table IV actual / theoretical time - 1 (%)."""
    return 100 * (paper_time_us(layer, "EIE", "actual") / paper_time_us(layer, "EIE", "theoretical") - 1)


# ----------------------------------------------------------------------------- Table IV


def per_layer_seed(t4: pd.DataFrame, clock_hz: float, n_pes: int) -> pd.DataFrame:
    """One row per (model, layer, seed): ours theoretical and actual time, overhead, error, ..."""
    rows = []
    for r in t4.itertuples(index=False):
        p_act = paper_time_us(r.layer, "EIE", "actual")
        theoretical = r.entries_processed / n_pes / clock_hz * 1e6
        actual = r.time_s * 1e6
        rows.append({"sparsity": r.sparsity, "layer": r.layer, "seed": r.seed, "theoretical_us": theoretical,
                     "actual_us": actual, "overhead_pct": 100 * (actual / theoretical - 1),
                     "error_pct": 100 * (actual - p_act) / p_act,
                     "padding_pct": 100 * (1 - r.kept_processed / r.entries_processed),
                     "utilization_pct": 100 * r.pe_utilization, "energy_uj": r.energy_j * 1e6,
                     "time_s": r.time_s, "energy_j": r.energy_j})
    return pd.DataFrame(rows)


#: per_layer_seed's columns as a CSV names them.
PER_SEED_NAMES = {"theoretical_us": "ours theoretical (us)", "actual_us": "ours actual (us)",
                  "overhead_pct": "overhead (%)", "error_pct": "error vs paper actual (%)",
                  "padding_pct": "padding entries (%)", "utilization_pct": "PE utilisation (%)",
                  "energy_uj": "energy per inference (uJ)"}


def per_seed_table(per: pd.DataFrame) -> pd.DataFrame:
    """The per-seed rows for the CSV: named with units, without the SI duplicates."""
    return per.drop(columns=["time_s", "energy_j"]).rename(columns=PER_SEED_NAMES)


def table4_stats(t4: pd.DataFrame, clock_hz: float, n_pes: int = 64) -> pd.DataFrame:
    """Mean, sample sd, min and max over seeds per (model, layer) of every per-seed figure."""
    return seed_stats(per_layer_seed(t4, clock_hz, n_pes))


def seed_stats(per: pd.DataFrame) -> pd.DataFrame:
    """:func:`table4_stats` of rows :func:`per_layer_seed` has made."""
    g = per.drop(columns="seed").groupby(["sparsity", "layer"], sort=False)
    stats = (g.mean().add_suffix("_mean").join(g.std(ddof=1).add_suffix("_sd"))
             .join(g.min().add_suffix("_min")).join(g.max().add_suffix("_max")))
    stats["seeds"] = g.size()
    return stats.reset_index()


def _row(stats: pd.DataFrame, model: str, layer: str) -> pd.Series:
    return stats[(stats.sparsity == model) & (stats.layer == layer)].iloc[0]


def _stat(stats: pd.DataFrame, model: str, layer: str, name: str) -> tuple[float, float]:
    row = _row(stats, model, layer)
    return float(row[f"{name}_mean"]), float(row[f"{name}_sd"])


def _spread(stats: pd.DataFrame, model: str, layer: str, name: str, label: str,
            unit: str) -> dict[str, float]:
    """``{"<label> mean (<unit>)": ..., sd, min, max}`` of one figure."""
    row = _row(stats, model, layer)
    return {f"{label} {s} ({unit})": float(row[f"{name}_{s}"]) for s in STATS}


def published_theoretical_us(layer: str, clock_hz: float, n_pes: int = 64) -> float:
    """Kept multiply-accumulates at the published densities / PEs / clock (no padding)."""
    b = BENCHMARKS[layer]
    return b.n_in * b.n_out * b.weight_density * b.act_density / n_pes / clock_hz * 1e6


def headline_table(stats: pd.DataFrame, layers: Sequence[str]) -> pd.DataFrame:
    """Per layer: the paper's load-imbalance overhead beside ours and our absolute-time error
    (default sparsity model, over seeds)."""
    rows = []
    for layer in layers:
        oh = _stat(stats, DEFAULT_SPARSITY, layer, "overhead_pct")[0]
        rows.append({"layer": layer, "paper overhead (%)": paper_overhead_pct(layer),
                     **_spread(stats, DEFAULT_SPARSITY, layer, "overhead_pct", "ours overhead", "%"),
                     "overhead gap (points)": oh - paper_overhead_pct(layer),
                     **_spread(stats, DEFAULT_SPARSITY, layer, "error_pct", "ours error in actual time",
                               "%")})
    return pd.DataFrame(rows)


def timing_table(stats: pd.DataFrame, clock_hz: float, layers: Sequence[str], models: Sequence[str],
                 n_pes: int = 64) -> pd.DataFrame:
    """Table IV's EIE rows beside ours (us): per sparsity model, mean / sd / min / max over seeds."""
    rows = []
    for layer in layers:
        b = BENCHMARKS[layer]
        row: dict[str, object] = {
            "layer": layer, "inputs": b.n_in, "outputs": b.n_out,
            "paper theoretical (us)": paper_time_us(layer, "EIE", "theoretical"),
            "from published densities (us)": published_theoretical_us(layer, clock_hz, n_pes),
            "ours theoretical (us)": _stat(stats, DEFAULT_SPARSITY, layer, "theoretical_us")[0],
            "paper actual (us)": paper_time_us(layer, "EIE", "actual")}
        for model in models:
            row.update(_spread(stats, model, layer, "actual_us", f"ours actual, {model}", "us"))
        rows.append(row)
    return pd.DataFrame(rows)


def model_table(stats: pd.DataFrame, name: str, layers: Sequence[str], models: Sequence[str],
                paper_column: Callable[[str], float] | None = None, unit: str = "%", *,
                summary: bool = True) -> pd.DataFrame:
    """One figure per layer and sparsity model (mean / sd / min / max over seeds), beside the
    paper's when given; with ``summary`` a last row of the mean of absolute values over the layers."""
    rows = []
    for layer in layers:
        row: dict[str, object] = {"layer": layer}
        if paper_column:
            row[f"paper ({unit})"] = paper_column(layer)
        for model in models:
            row.update(_spread(stats, model, layer, name, model, unit))
        rows.append(row)
    if summary:
        mean: dict[str, object] = {"layer": "mean of absolute values"}
        if paper_column:
            mean[f"paper ({unit})"] = float(np.mean([abs(paper_column(layer)) for layer in layers]))
        for model in models:
            means = stats[(stats.sparsity == model) & stats.layer.isin(layers)][f"{name}_mean"]
            mean[f"{model} mean ({unit})"] = float(means.abs().mean())
        rows.append(mean)
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------- platforms


def speedups(stats: pd.DataFrame, layers: Sequence[str]) -> pd.DataFrame:
    """Ours (64 PEs, default model, mean over seeds) against the paper's dense CPU/GPU/mGPU."""
    t4 = paper_table4()
    rows = []
    for layer in layers:
        time_s = _stat(stats, DEFAULT_SPARSITY, layer, "time_s")[0]
        energy_j = _stat(stats, DEFAULT_SPARSITY, layer, "energy_j")[0]
        row: dict[str, object] = {"layer": layer, "ours time (us)": time_s * 1e6,
                                  "ours energy (uJ)": energy_j * 1e6}
        for plat in PLATFORMS:
            d = t4[(t4.layer == layer) & (t4.platform == plat) & (t4.kind == "dense")].iloc[0]
            row[f"speed-up vs {plat} (x)"] = d.time_us * 1e-6 / time_s
            row[f"energy eff. vs {plat} (x)"] = d.energy_j / energy_j
        rows.append(row)
    df = pd.DataFrame(rows)
    ratios = [c for c in df.columns if c.endswith("(x)")]
    geo: dict[str, object] = {"layer": "geometric mean", **{c: geomean(df[c]) for c in ratios}}
    paper_row: dict[str, object] = {"layer": "paper, geometric mean"}
    for plat in PLATFORMS:
        key = plat.lower()
        paper_row[f"speed-up vs {plat} (x)"] = float(paper_headline(f"eie_speedup_vs_{key}_geomean")["value"])
        paper_row[f"energy eff. vs {plat} (x)"] = float(
            paper_headline(f"eie_energy_efficiency_vs_{key}_geomean")["value"])
    return pd.concat([df, pd.DataFrame([geo, paper_row])], ignore_index=True)


def paper_speedup_from_table4(layers: Sequence[str] = tuple(BENCHMARKS)) -> float:
    """The paper's own EIE speed-up over CPU dense recomputed from its Table IV (geometric mean)."""
    return geomean([paper_time_us(x, "CPU", "dense") / paper_time_us(x, "EIE", "actual") for x in layers])


# ----------------------------------------------------------------------------- design space


def fifo_table(fifo: pd.DataFrame, layers: Sequence[str]) -> pd.DataFrame:
    """PE utilisation (%) per queue depth (rows) and layer (columns)."""
    t = fifo.pivot(index="queue_depth", columns="layer", values="pe_utilization")[list(layers)] * 100
    t.columns = [f"{c} (%)" for c in t.columns]
    return t.rename_axis(DEPTH_LABEL).reset_index()


def pes_table(pes: pd.DataFrame, layers: Sequence[str]) -> pd.DataFrame:
    """Per layer and PE count: cycles, latency, speed-up over the fewest PEs, and whether DRAM is in
    the way: weights resident (else streamed in tiles), activations spilled."""
    rows = []
    for layer in layers:
        g = pes[pes.layer == layer].sort_values("n_pes")
        first = float(g["cycles"].iloc[0])
        for r in g.itertuples(index=False):
            rows.append({"layer": layer, PES_LABEL: int(r.n_pes), "cycles": int(r.cycles),
                         "latency (us)": r.time_s * 1e6, "speed-up over fewest PEs (x)": first / r.cycles,
                         "weights resident": bool(r.resident), "DRAM tiles": int(r.tiles),
                         "activations spilled": bool(getattr(r, "act_spilled", False))})
    return pd.DataFrame(rows)


def width_table(width: pd.DataFrame, layers: Sequence[str]) -> pd.DataFrame:
    """Sparse-matrix read energy (uJ) per width: dynamic (word reads x energy per read, the paper's
    quantity and the plot's) and dynamic + static, from :func:`spmat_read_energy_j`."""
    w = pd.DataFrame({"layer": width["layer"], "word_bits": width["word_bits"],
                      "dynamic": spmat_read_energy_j(width, "dynamic") * 1e6,
                      "total": spmat_read_energy_j(width, "total") * 1e6})
    out = pd.DataFrame({WIDTH_LABEL: sorted(w["word_bits"].unique())})
    for layer in layers:
        g = w[w.layer == layer].set_index("word_bits").reindex(out[WIDTH_LABEL])
        out[f"{layer} dynamic (uJ)"] = g["dynamic"].to_numpy()
    for layer in layers:
        g = w[w.layer == layer].set_index("word_bits").reindex(out[WIDTH_LABEL])
        out[f"{layer} dynamic + static (uJ)"] = g["total"].to_numpy()
    return out


def periphery_sensitivity(width: pd.DataFrame, layers: Sequence[str]) -> pd.DataFrame:
    """The width with the least read energy per layer, for other periphery fractions P of an
    access (energy per read = E64(C) x (P + (1 - P) x width / 64)); the packaged table's P marked."""
    table = load_energy_table()
    reads = width["access_counts.spmat_read.word_read"]
    rows = []
    for p in sorted({*PERIPHERY, table.periphery}):
        t = replace(table, periphery=p)
        row: dict[str, object] = {"periphery fraction P": p, "packaged table's P": p == table.periphery}
        for layer in layers:
            g = width[width.layer == layer]
            energy = [n * t.sram_pj(c, wb) for n, c, wb in zip(reads[g.index], g.spmat_bytes, g.word_bits,
                                                                strict=True)]
            row[f"{layer} best width (bits)"] = int(g.word_bits.iloc[int(np.argmin(energy))])
        rows.append(row)
    return pd.DataFrame(rows)


def energy_table(pes: pd.DataFrame, layers: Sequence[str]) -> pd.DataFrame:
    """Per layer and PE count: EIE's and the dense accelerator's energy (uJ) and residency."""
    df = pes[pes.layer.isin(layers)]
    return pd.DataFrame({"layer": df.layer, PES_LABEL: df.n_pes, "EIE (uJ)": df.energy_j * 1e6,
                         "EIE weights resident": df.resident,
                         "dense accelerator (uJ)": df.dense_energy_j * 1e6,
                         "dense weights resident": df.dense_resident,
                         "dense / EIE (x)": df.dense_energy_j / df.energy_j}).reset_index(drop=True)


def paper_baselines(layers: Sequence[str]) -> pd.DataFrame:
    """The paper's dense CPU / GPU / mGPU energy per layer (J), as flat plot lines."""
    t4 = paper_table4()
    rows = []
    for layer in layers:
        for plat in PLATFORMS:
            row = t4[(t4.layer == layer) & (t4.platform == plat) & (t4.kind == "dense")].iloc[0]
            rows.append({"layer": layer, "baseline": f"{plat} dense (paper)", "n_pes": np.nan,
                         "energy_j": row.energy_j})
    return pd.DataFrame(rows)


def latency_table(pes: pd.DataFrame, layers: Sequence[str], n_pes: int = 64) -> pd.DataFrame:
    """Per layer at ``n_pes``: EIE, the dense accelerator and this host's numpy dense mat-vec (us)."""
    rows = []
    for layer in layers:
        b = BENCHMARKS[layer]
        r = pes[(pes.layer == layer) & (pes.n_pes == n_pes)].iloc[0]
        d = dense_baseline(b.n_out, b.n_in, SimConfig(n_pes=n_pes))
        rows.append({"layer": layer, "EIE (us)": r.time_s * 1e6, "dense accelerator (us)": d["seconds"] * 1e6,
                     "paper CPU dense (us)": paper_time_us(layer, "CPU", "dense"),
                     "this host, numpy dense, latency only (us)": host_numpy_us(b.n_out, b.n_in)})
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------- Alex-7


def alex7_row(pes: pd.DataFrame, n_pes: int = 64) -> pd.Series:
    return pes[(pes.layer == "Alex-7") & (pes.n_pes == n_pes)].iloc[0]


def power_table(pes: pd.DataFrame, n_pes: int = 64) -> pd.DataFrame:
    """Alex-7: power per unit and PE beside Table II and the calibration workload."""
    r = alex7_row(pes, n_pes)
    units = list(UNITS)
    per_pe_mw = [r[f"energy_breakdown_j.{u}"] / r.time_s * 1e3 / n_pes for u in units]
    split = pd.DataFrame({"unit": units, "ours, Alex-7, per PE (mW)": per_pe_mw})
    cal = calibration_table().reset_index()
    split = split.merge(cal[["unit", "table2_mw", "uncalibrated_dynamic_mw", "calibrated_mw"]], on="unit",
                        how="left")
    return split.rename(columns={"table2_mw": "paper Table II (mW)",
                                 "uncalibrated_dynamic_mw": "calibration workload, events only (mW)",
                                 "calibrated_mw": "calibration workload, calibrated (mW)"})


def alex7_energy_table(pes: pd.DataFrame, n_pes: int = 64) -> pd.DataFrame:
    """Alex-7's energy per inference three ways, like for like: the paper's (its one measured power
    x its time), the paper's method on our time, and ours (every event priced, plus the fitted
    static power)."""
    r = alex7_row(pes, n_pes)
    power = float(paper_headline("eie_power_64pe")["value"])
    t_paper = paper_time_us("Alex-7", "EIE", "actual")
    t_ours = float(r.time_s) * 1e6
    rows = [
        {"method": "paper: its power x its time", "power (W)": power, "time (us)": t_paper,
         "energy per inference (uJ)": power * t_paper},
        {"method": "paper's power x our time", "power (W)": power, "time (us)": t_ours,
         "energy per inference (uJ)": power * t_ours},
        {"method": "ours: events priced + fitted static", "power (W)": float(r.power_w), "time (us)": t_ours,
         "energy per inference (uJ)": float(r.energy_j) * 1e6},
    ]
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------- ablation


def ablation_rows(df: pd.DataFrame, variants: Sequence[tuple[str, dict[str, object]]]) -> pd.DataFrame:
    """The ablation sweep's rows, each named by its variant (the first of ``variants`` is the
    default, with no knobs)."""
    names = []
    for row in df.itertuples(index=False):
        name = variants[0][0]
        for label, knobs in variants[1:]:
            if all(getattr(row, k) == v for k, v in knobs.items()):
                name = label
        names.append(name)
    out = df.copy()  # a sweep's frame is wide; a copy first keeps pandas from warning on insert
    out["variant"] = names
    return out


def ablation_table(rows: pd.DataFrame, column: str, variants: Sequence[str], scale: float = 1.0,
                   unit: str = "") -> pd.DataFrame:
    """One row per layer: the default's value (in ``unit``), then each variant's change in %."""
    wide = rows.pivot(index="layer", columns="variant", values=column).reindex(
        index=list(dict.fromkeys(rows["layer"])), columns=list(variants)) * scale
    out = pd.DataFrame({"layer": wide.index, f"default ({unit or column})": wide[variants[0]].to_numpy()})
    for name in variants[1:]:
        out[f"{name} (%)"] = (100 * (wide[name] / wide[variants[0]] - 1)).to_numpy()
    return out
