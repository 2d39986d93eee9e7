"""The figures of a sweep, one module per family: time scaling (:mod:`.scaling`), energy
(:mod:`.energy`), heat maps over two fields (:mod:`.heatmap`) and comparisons against a
reference (:mod:`.compare`); :mod:`.base` holds what they share (units, checks, layout, saving).

Every function takes a tidy DataFrame of sweep rows (``eie sweep``'s CSV, read by
:func:`eie_sim.study.sweep.load_results`) and returns a :class:`matplotlib.figure.Figure`;
:func:`save` writes it as PNG and SVG.
"""

from eie_sim.study.figures.base import AXIS_LABELS, ENERGY_UNIT, caption_text, close, save, to_uj
from eie_sim.study.figures.compare import ablation, overhead_bars
from eie_sim.study.figures.energy import (
    BREAKDOWN_COLUMNS,
    ON_CHIP_UNITS,
    UNIT_NAMES,
    energy_breakdown,
    energy_vs_pes,
    spmat_energy_vs_width,
)
from eie_sim.study.figures.heatmap import HEATMAP_METRICS, HeatmapMetric, heatmap
from eie_sim.study.figures.scaling import latency_vs_pes, speedup_vs_pes, utilization_vs_fifo

__all__ = ["AXIS_LABELS", "BREAKDOWN_COLUMNS", "ENERGY_UNIT", "HEATMAP_METRICS", "ON_CHIP_UNITS",
           "UNIT_NAMES", "HeatmapMetric", "ablation", "caption_text", "close", "energy_breakdown",
           "energy_vs_pes", "heatmap", "latency_vs_pes", "overhead_bars", "save", "speedup_vs_pes",
           "spmat_energy_vs_width", "to_uj", "utilization_vs_fifo"]
