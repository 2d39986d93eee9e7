"""The plotting API in one import (``from eie_sim.study.plots import energy_vs_pes, save``).

The code lives in modules with one job each: :mod:`eie_sim.study.where` (``--where FIELD=VALUE``),
:mod:`eie_sim.study.figures` (the figures, by family) and :mod:`eie_sim.study.plotting`
(``eie plot``: which figures a sweep supports). Energy is in uJ on every plot.
"""

from eie_sim.energy import UNITS as ENERGY_UNITS
from eie_sim.study.figures import (
    AXIS_LABELS,
    BREAKDOWN_COLUMNS,
    ENERGY_UNIT,
    HEATMAP_METRICS,
    ON_CHIP_UNITS,
    UNIT_NAMES,
    HeatmapMetric,
    ablation,
    caption_text,
    energy_breakdown,
    energy_vs_pes,
    heatmap,
    latency_vs_pes,
    overhead_bars,
    save,
    speedup_vs_pes,
    spmat_energy_vs_width,
    to_uj,
    utilization_vs_fifo,
)
from eie_sim.study.figures.base import count, num3
from eie_sim.study.plotting import PLOT_NAMES, plot_all
from eie_sim.study.where import parse_where, select_where

__all__ = ["AXIS_LABELS", "BREAKDOWN_COLUMNS", "ENERGY_UNIT", "ENERGY_UNITS", "HEATMAP_METRICS",
           "ON_CHIP_UNITS", "PLOT_NAMES", "UNIT_NAMES", "HeatmapMetric", "ablation", "caption_text", "count",
           "energy_breakdown", "energy_vs_pes", "heatmap", "latency_vs_pes", "num3", "overhead_bars",
           "parse_where", "plot_all", "save", "select_where", "speedup_vs_pes", "spmat_energy_vs_width",
           "to_uj", "utilization_vs_fifo"]
