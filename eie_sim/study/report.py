"""``report.md`` of ``eie reproduce``: the packaged template ``eie_sim/data/reproduce_report.md``
filled section by section.

The template holds the prose; each function below computes one section's values (numbers as
text, tables as Markdown) from the run's tables and sweeps. ``string.Template.substitute`` fails
on a placeholder no section fills, so the template and the code cannot drift apart silently.
"""

from __future__ import annotations

import platform
from collections.abc import Callable
from dataclasses import dataclass
from string import Template
from typing import TYPE_CHECKING

import pandas as pd

from eie_sim.config import FIELD, SimConfig
from eie_sim.csvdata import packaged_text
from eie_sim.energy import max_calibratable_periphery
from eie_sim.energy_table import load_energy_table
from eie_sim.study import paper_tables as pt
from eie_sim.study.baselines import paper_time_us
from eie_sim.study.tables import fmt, md
from eie_sim.units import dram
from eie_sim.workload.benchmarks import DEFAULT_SPARSITY, VARIATION_RULES

if TYPE_CHECKING:
    from eie_sim.study.reproduce import CacheReport, Plan

TEMPLATE = "reproduce_report.md"
_DEFAULT = SimConfig()
#: The fields the header names as the default configuration.
_HEADER_FIELDS = ("n_pes", "clock_hz", "queue_depth", "broadcast_latency", "ptr_banks", "bypass",
                  "spmat_bytes", "word_bits")


@dataclass
class ReportInputs:
    """Everything the report is written from."""

    tables: dict[str, pd.DataFrame]
    sweeps: dict[str, pd.DataFrame]
    prov: dict[str, object]
    wall: float
    plan: Plan
    cache: CacheReport | None = None


def describe(name: str, value: object | None = None) -> str:
    """A field's value as the command line spells it, with its unit (``128 KB``, ``800 MHz``)."""
    f = FIELD[name]
    return f.describe(getattr(_DEFAULT, name) if value is None else value)


def _percent(df: pd.DataFrame) -> dict[str, int]:
    """One decimal for every column in %."""
    return {c: 1 for c in df.columns if str(c).endswith("(%)")}


def _range(values: pd.Series) -> str:
    lo, hi = float(values.min()), float(values.max())
    return f"{lo:.0f} %" if round(lo) == round(hi) else f"{lo:.0f}-{hi:.0f} %"


# ----------------------------------------------------------------------------- sections


def header(r: ReportInputs) -> dict[str, str]:
    """Provenance, configuration, layer cache and workloads."""
    seeds = list(r.prov["seeds"])  # type: ignore[call-overload]
    c = r.cache
    if c is None:
        cache_line = "generated for this run"
    else:
        n = c.counts
        cache_line = (f"{n.get('cached', 0)} from the cache, {n.get('generated', 0)} generated, "
                      f"{n.get('regenerated', 0)} regenerated after failing validation (`{c.directory}`, "
                      f"{c.size_bytes / 1e6:.0f} MB)")
    rules = "; ".join(f"*{name}*: row sigma {rule.row_sigma:g}, column sigma {rule.col_sigma:g} "
                      f"({rule.fitted_to.split(';')[0]})" for name, rule in VARIATION_RULES.items())
    return {
        "wall_s": f"{r.wall:.0f}", "machine": platform.machine(), "python": platform.python_version(),
        "contract": str(r.prov["contract_version"]), "package": str(r.prov["package_version"]),
        "commit": str(r.prov["git_commit"]),
        "seed_text": f"seed {seeds[0]}" if len(seeds) == 1 else f"seeds {', '.join(map(str, seeds))}",
        "config": ", ".join(f"{FIELD[f].label} {describe(f)}" for f in _HEADER_FIELDS),
        "cache_line": cache_line, "models": ", ".join(f"*{m}*" for m in r.plan.models), "rules": rules,
        "default_model": DEFAULT_SPARSITY,
    }


def headline(r: ReportInputs) -> dict[str, str]:
    """Load imbalance at the comparison's PE count, under every model, and Table IV's latencies."""
    t, plan = r.tables, r.plan
    n = len(r.prov["seeds"])  # type: ignore[arg-type]
    clock = _DEFAULT.clock_hz
    th = {x: paper_time_us(x, "EIE", "theoretical") for x in ("Alex-6", "Alex-8", "VGG-6")}
    pub = {x: pt.published_theoretical_us(x, clock, plan.n_pes) for x in ("Alex-6", "Alex-8", "VGG-6")}
    density_note = (f"Alex-8's {fmt(th['Alex-8'])} us against {fmt(pub['Alex-8'])} us of kept "
                    f"multiply-accumulates; VGG-6's {fmt(th['VGG-6'])} us equals Alex-6's for about "
                    f"{fmt(pub['VGG-6'] / pub['Alex-6'])}x its multiply-accumulates")
    timing_decimals = {c: 1 for c in t["table4_timing"].columns if c.endswith("(us)")}
    timing_decimals.update({c.replace(" mean", ""): 2 for c in t["table4_timing"].columns
                            if c.startswith("ours actual")})
    return {
        "n_pes": str(plan.n_pes), "clock": describe("clock_hz"),
        "spread": f"mean ± sd over {n} seeds" if n > 1 else "one seed: no spread",
        "density_note": density_note,
        "headline_table": md(t["headline_overhead"], {"paper overhead (%)": 1, "overhead gap (points)": 1,
                                                      "ours overhead (%)": 1,
                                                      "ours error in actual time (%)": 1}),
        "mean_gap": f"{t['headline_overhead']['overhead gap (points)'].abs().mean():.1f}",
        "overhead_table": md(t["table4_overhead"], _all(t["table4_overhead"], 1)),
        "timing_table": md(t["table4_timing"], timing_decimals),
        "error_table": md(t["table4_error"], _all(t["table4_error"], 1)),
    }


def _all(df: pd.DataFrame, decimals: int) -> dict[str, int]:
    """``decimals`` for every shown column (a mean / sd group by its shown name)."""
    return {**{str(c): decimals for c in df.columns},
            **{str(c).replace(" mean", ""): decimals for c in df.columns if " mean" in str(c)}}


def platforms(r: ReportInputs) -> dict[str, str]:
    sp = r.tables["speedup"].set_index("layer")
    return {
        "ours_speedup_cpu": fmt(sp.loc["geometric mean", "speed-up vs CPU (x)"], 0),
        "ours_efficiency_cpu": fmt(sp.loc["geometric mean", "energy eff. vs CPU (x)"], 0),
        "paper_speedup_cpu": pt.paper("eie_speedup_vs_cpu_geomean"),
        "paper_efficiency_cpu": pt.paper("eie_energy_efficiency_vs_cpu_geomean"),
        "paper_speedup_table4": fmt(pt.paper_speedup_from_table4(r.plan.layers), 0),
        "paper_speedups": ", ".join(pt.paper(f"eie_speedup_vs_{p.lower()}_geomean") for p in pt.PLATFORMS),
        "paper_efficiencies": ", ".join(pt.paper(f"eie_energy_efficiency_vs_{p.lower()}_geomean")
                                        for p in pt.PLATFORMS),
        "speedup_table": md(r.tables["speedup"]),
    }


def alex7(r: ReportInputs) -> dict[str, str]:
    """Alex-7's power and energy, and the paper's method (one power x time) on our time."""
    e = r.tables["alex7_energy"].set_index("method")["energy per inference (uJ)"]
    paper_e, like, ours = (float(v) for v in e.iloc[:3])
    row = pt.alex7_row(r.sweeps["pes"], r.plan.n_pes)
    gap = ours - paper_e
    if gap > 0 and 0 <= like - paper_e <= gap:
        share = (like - paper_e) / gap
        like_text = (f"the paper's power x our time gives {fmt(like, 2)} uJ, so {100 * share:.0f} % of "
                     f"the gap to the paper's {fmt(paper_e, 2)} uJ is our longer time and "
                     f"{100 * (1 - share):.0f} % our higher power.")
    else:
        like_text = (f"the paper's power x our time gives {fmt(like, 2)} uJ against the paper's "
                     f"{fmt(paper_e, 2)} uJ and our {fmt(ours, 2)} uJ.")
    power = r.tables["power"]
    return {
        "ours_power": fmt(float(row.power_w), 3), "ours_energy": fmt(float(row.energy_j) * 1e6, 2),
        "ours_time": fmt(float(row.time_s) * 1e6, 2), "first_seed": str(r.prov["seeds"][0]),  # type: ignore[index]
        "paper_power": pt.paper("eie_power_64pe"), "paper_energy": pt.paper("eie_alex7_energy"),
        "paper_time": fmt(paper_time_us("Alex-7", "EIE", "actual")), "like_for_like": like_text,
        "alex7_energy_table": md(r.tables["alex7_energy"], {"power (W)": 3, "time (us)": 2,
                                                            "energy per inference (uJ)": 2}),
        "power_table": md(power, {c: 3 for c in power.columns if c != "unit"}),
    }


def fifo(r: ReportInputs) -> dict[str, str]:
    t = r.tables["fifo"].set_index(pt.DEPTH_LABEL)
    depths = list(t.index)
    default = _DEFAULT.queue_depth
    shown = dict.fromkeys([depths[0], *([default] if default in depths else []), depths[-1]])
    parts = [f"depth {d} gives {_range(t.loc[d])}" for d in shown]
    at = default if default in depths else depths[-1]
    worst = str(t.loc[at].idxmin()).removesuffix(" (%)")
    return {"paper_fifo": pt.paper("fifo_depth_design"),
            "fifo_summary": ", ".join(parts) + f"; worst at depth {at}: {worst}",
            "fifo_table": md(r.tables["fifo"], {c: 1 for c in r.tables["fifo"].columns})}


def pes_markdown(table: pd.DataFrame) -> str:
    """A PE table as speed-up per PE count (rows) and layer (columns); *T* marks DRAM-tiled points,
    *S* those whose activations spill to DRAM."""
    marks = zip(table["speed-up over fewest PEs (x)"], table["weights resident"],
                table["activations spilled"], strict=True)
    cells = table.assign(cell=[f"{v:.1f}" + ("" if res else " T") + (" S" if spill else "")
                               for v, res, spill in marks])
    layers = list(dict.fromkeys(table["layer"]))
    wide = cells.pivot(index=pt.PES_LABEL, columns="layer", values="cell")[layers]
    return md(wide.reset_index())


def pe_scaling(r: ReportInputs) -> dict[str, str]:
    """PE scaling on chip (as the paper) and with the paper's 128 KB SRAMs (DRAM-tiled points marked)."""
    plan = r.plan
    on = r.tables["pes_on_chip"]
    wide = on.pivot(index=pt.PES_LABEL, columns="layer", values="cycles")
    if 256 in wide.index and 64 in wide.index:
        ratio = wide.loc[64] / wide.loc[256]
        ratio = ratio[list(dict.fromkeys(on["layer"]))]
        ratio_text = ("256 vs 64 PEs: " + ", ".join(f"{k} {x:.2f}x" for k, x in ratio.items())
                      + f" (geometric mean {pt.geomean(ratio):.2f}x)")
    else:
        ratio_text = "this plan does not sweep both 64 and 256 PEs"
    on_chip = ", ".join(f"{FIELD[k].label} {describe(k, v)}" for k, v in plan.on_chip.items())
    t128 = r.tables["pes_128kb"]
    tiled = t128[~t128["weights resident"]]
    spill_on_chip = on[on["activations spilled"]]
    spans = [f"{layer} at {g[pt.PES_LABEL].min()}-{g[pt.PES_LABEL].max()} PEs"
             if g[pt.PES_LABEL].nunique() > 1 else f"{layer} at {g[pt.PES_LABEL].iloc[0]} PEs"
             for layer, g in tiled.groupby("layer", sort=False)]
    bytes_per_cycle = dram.bytes_per_cycle(_DEFAULT)
    return {
        "paper_pe_scaling": pt.paper("pe_scaling_256_over_64"), "on_chip": on_chip,
        "fewest_pes": f"{min(plan.pes)} PE" + ("s" if min(plan.pes) != 1 else ""),
        "pe_ratio_text": ratio_text, "pes_on_chip_table": pes_markdown(on),
        "on_chip_spill": ("no point's activations spill" if spill_on_chip.empty else
                          f"{len(spill_on_chip)} points' activations still spill (marked *S*)"),
        "spmat_kb": describe("spmat_bytes"),
        "act_sram": describe("act_bytes"),
        "dram_bw": f"{describe('dram_gbps')}, {bytes_per_cycle:g} bytes per cycle at {describe('clock_hz')}",
        "tiled_summary": ", ".join(spans) or "none", "pes_128kb_table": pes_markdown(t128),
    }


def width(r: ReportInputs) -> dict[str, str]:
    t = r.tables["width"].set_index(pt.WIDTH_LABEL)
    dynamic = [c for c in t.columns if c.endswith(" dynamic (uJ)")]
    best = ", ".join(f"{c.removesuffix(' dynamic (uJ)')} {int(t[c].idxmin())} bits" for c in dynamic)
    per = r.tables["periphery"]
    cols = [c for c in per.columns if c.endswith("best width (bits)")]
    at_64 = [f"{p:g}" for p, row in zip(per["periphery fraction P"], per[cols].to_numpy(), strict=True)
             if (row == 64).any()]
    return {
        "paper_width": pt.paper("spmat_width_best"), "best_width": best,
        "periphery": f"{load_energy_table().periphery:g}",
        "periphery_at_paper": ", ".join(at_64) or "none of the values tried",
        "max_periphery": f"{max_calibratable_periphery():.3f}",
        "periphery_table": md(per, {"periphery fraction P": 2}),
        "width_table": md(r.tables["width"], {c: 2 for c in r.tables["width"].columns if c.endswith("(uJ)")}),
    }


def energy_vs_pes(r: ReportInputs) -> dict[str, str]:
    pes = r.sweeps["pes"]
    layers = list(r.plan.alexnet)
    resident_from = pes[pes.resident.astype(bool) & pes.layer.isin(layers)].groupby("layer")["n_pes"].min()
    text = ", ".join(f"{k}: {int(resident_from[k])} PEs" for k in layers if k in resident_from)
    return {"resident_from": text or "no PE count of the sweep",
            "energy_vs_pes_table": md(r.tables["energy_vs_pes"], {"EIE (uJ)": 2, "dense accelerator (uJ)": 1,
                                                                  "dense / EIE (x)": 0}),
            "latency_table": md(r.tables["latency"])}


def ablation(r: ReportInputs) -> dict[str, str]:
    cyc, en = r.tables["ablation_cycles"], r.tables["ablation_energy"]
    return {"acc_latency": str(_DEFAULT.acc_latency), "queue_depth": str(_DEFAULT.queue_depth),
            "ablation_cycles_table": md(cyc, _percent(cyc)),
            "ablation_energy_table": md(en, {**_percent(en), "default (uJ)": 2})}


#: The sections, in the template's order.
SECTIONS: tuple[Callable[[ReportInputs], dict[str, str]], ...] = (
    header, headline, platforms, alex7, fifo, pe_scaling, width, energy_vs_pes, ablation)


def render(inputs: ReportInputs) -> str:
    """The whole report.md: every section's values substituted into the packaged template."""
    values: dict[str, str] = {}
    for section in SECTIONS:
        values.update(section(inputs))
    return Template(packaged_text(TEMPLATE)[1]).substitute(values)
