"""Heat maps of a figure over two config fields, one annotated panel per layer.

Only a figure that is a goal gets its best cell outlined: the fewest cycles, the least energy.
PE utilisation is not one (fewer PEs are busier and slower), so its map outlines nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import matplotlib as mpl
import numpy as np
import pandas as pd
from matplotlib.colors import LogNorm, Normalize
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from matplotlib.ticker import FuncFormatter

from compressor.errors import EieInputError
from eie_sim.study.figures import base
from eie_sim.study.metrics import ENERGY_UNIT, SPMAT_PARTS, SPMAT_READS, spmat_read_energy_j, to_uj
from eie_sim.study.where import sort_key, value_text


@dataclass(frozen=True)
class HeatmapMetric:
    """What a heat map shows: values from the rows, converted for display, and which end is best."""

    columns: tuple[str, ...]  # the columns ``value`` reads
    value: Callable[[pd.DataFrame], pd.Series]
    name: str  # "energy per inference"
    unit: str  # "uJ", "%", or "" (cycles are their own unit)
    convert: Callable[[np.ndarray], np.ndarray]
    cell: Callable[[float], str]  # text in a cell
    tick: Callable[[float], str]  # colour-bar tick
    best: str | None  # "min", "max", or None: no cell is outlined (not a goal in itself)
    log: bool  # colour scale in log when the values span more than a decade
    limits: tuple[float, float] | None = None  # a fixed colour scale
    note: str = ""  # what the value is, for the caption


def _column(name: str) -> Callable[[pd.DataFrame], pd.Series]:
    return lambda df: df[name].astype(float)


HEATMAP_METRICS: dict[str, HeatmapMetric] = {
    "cycles": HeatmapMetric(("cycles",), _column("cycles"), "cycles per inference", "", lambda v: v,
                            base.count, base.count, "min", True),
    "utilization": HeatmapMetric(("pe_utilization",), _column("pe_utilization"), "PE utilisation", "%",
                                 lambda v: 100 * v, lambda v: f"{v:.0f}", base.tick_num, None, False,
                                 (0.0, 100.0), "no best cell marked: a busier design point can be slower"),
    "energy": HeatmapMetric(("energy_j",), _column("energy_j"), "energy per inference", ENERGY_UNIT,
                            to_uj, base.num3, base.tick_num, "min", True),
    "spmat_energy": HeatmapMetric((SPMAT_READS,), spmat_read_energy_j, "sparse-matrix SRAM read energy",
                                  ENERGY_UNIT, to_uj, base.num3, base.tick_num, "min", True,
                                  note=f"read energy: {SPMAT_PARTS['dynamic']}"),
}


def _norm(values: np.ndarray, m: HeatmapMetric) -> Normalize:
    """A panel's colour scale: the metric's fixed limits, else its values' range (log over decades)."""
    if m.limits is not None:
        return Normalize(*m.limits)
    if values.size == 0:
        return Normalize(0.0, 1.0)
    lo, hi = float(values.min()), float(values.max())
    if lo == hi:
        pad = abs(lo) / 2 or 1.0
        return Normalize(lo - pad, hi + pad)
    if m.log and lo > 0 and hi / lo > 10:
        return LogNorm(lo, hi)
    return Normalize(lo, hi)


def _ink(rgba: tuple[float, ...]) -> str:
    """Black text on light cells, white on dark ones."""
    r, g, b = rgba[:3]
    return "black" if 0.2126 * r + 0.7152 * g + 0.0722 * b > 0.45 else "white"


def heatmap(df: pd.DataFrame, metric: str, x: str, y: str) -> Figure:
    """One annotated heat map per layer of ``metric`` over two config fields (``x`` across, ``y`` up).

    ``metric`` is a key of :data:`HEATMAP_METRICS`: ``cycles``, ``energy`` (uJ), ``spmat_energy``
    (uJ, dynamic read energy) or ``utilization`` (%). Each panel has its own colour scale (what
    matters is a layer's best design point, not the layers' sizes); the goal metrics outline each
    layer's lowest cell; missing points stay grey.
    """
    if metric not in HEATMAP_METRICS:
        raise EieInputError(f"heat map: unknown metric {metric!r}; choose one of "
                            f"{', '.join(HEATMAP_METRICS)}")
    m = HEATMAP_METRICS[metric]
    what = f"{m.name} heat map"
    if x == y:
        raise EieInputError(f"{what} needs two different fields; got {x} twice")
    base.require(df, ["layer", x, y, *m.columns], what)
    others = base.varying_within_layers(df, exclude=[x, y])
    if others:
        c, values = next(iter(others.items()))
        raise EieInputError(f"{what} shows two fields ({x}, {y}), but {c} also varies within a layer "
                            f"(values {values}); filter the DataFrame to one {c} first")
    base.check_one_row_per(df, [x, y], what)
    if metric == "utilization":
        base.require_fraction(df, what)
    # a narrow copy: a sweep's wide frame would warn of fragmentation when a column is added
    values = df[["layer", x, y]].copy()
    values["_value"] = m.value(df).to_numpy(float)
    xs = sorted(df[x].unique().tolist(), key=sort_key)
    ys = sorted(df[y].unique().tolist(), key=sort_key)
    layers = base.layer_order(df)
    n = len(layers)
    ncols = min(3, n)
    nrows = -(-n // ncols)
    panel = (max(3.4, 1.9 + 0.62 * len(xs)), max(2.4, 1.3 + 0.38 * len(ys)))
    fig = base.new_figure((max(6.0, panel[0] * ncols + 0.4), panel[1] * nrows + 1.3))
    axes = base.grid_axes(fig, n)
    cells = len(xs) * len(ys)
    fontsize = "small" if cells <= 20 else "x-small" if cells <= 400 else None  # cells keep their size
    cmap = mpl.colormaps["viridis"]
    groups = {str(k): g for k, g in values.groupby("layer", sort=False)}
    rows = {str(k): g for k, g in df.groupby("layer", sort=False)}
    for i, (ax, layer) in enumerate(zip(axes, layers, strict=True)):
        g = groups[layer]
        z = m.convert(g.pivot(index=y, columns=x, values="_value").reindex(index=ys, columns=xs)
                      .to_numpy(float))
        finite = np.isfinite(z)
        norm = _norm(z[finite], m)
        mesh = ax.pcolormesh(np.arange(len(xs) + 1) - 0.5, np.arange(len(ys) + 1) - 0.5,
                             np.ma.masked_invalid(z), cmap=cmap, norm=norm, edgecolors="white",
                             linewidth=0.5)
        ax.set_facecolor("0.9")  # design points the sweep does not have
        if fontsize is not None:
            for (j, k), v in np.ndenumerate(z):
                if finite[j, k]:
                    ax.text(k, j, m.cell(float(v)), ha="center", va="center", fontsize=fontsize,
                            color=_ink(cmap(norm(v))))
        if finite.any() and m.best is not None:
            masked = np.where(finite, z, np.inf if m.best == "min" else -np.inf)
            j, k = np.unravel_index(int(np.argmin(masked) if m.best == "min" else np.argmax(masked)), z.shape)
            ax.add_patch(Rectangle((k - 0.5, j - 0.5), 1, 1, fill=False, edgecolor=base.BEST_COLOUR,
                                   linewidth=2, zorder=3, label=f"_best:{layer}"))
        ax.set_xticks(range(len(xs)), [value_text(v) for v in xs])
        ax.set_yticks(range(len(ys)), [value_text(v) for v in ys])
        ax.set_xlim(-0.5, len(xs) - 0.5)
        ax.set_ylim(-0.5, len(ys) - 0.5)
        ax.set_title(base.layer_desc(layer, rows[layer]), fontsize="medium")
        if i + ncols >= n:
            ax.set_xlabel(base.field_label(x))
        if i % ncols == 0:
            ax.set_ylabel(base.field_label(y))
        cb = fig.colorbar(mesh, ax=ax, fraction=0.08, pad=0.02)
        cb.set_label(m.unit or "cycles")
        if isinstance(norm, LogNorm):
            base.plain_log_ticks(cb.ax.yaxis, m.tick)
        else:
            cb.ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos, f=m.tick: f(v)))
    text = f"{base.quantity(m.name, m.unit, df)} over {base.field_label(x)} × {base.field_label(y)}"
    base.title(fig, text[0].upper() + text[1:])
    best = {"min": "outlined: each layer's lowest", "max": "outlined: each layer's highest"}.get(m.best, "")
    base.caption(fig, m.note, best, base.fixed_text(df, [x, y]))
    return fig
