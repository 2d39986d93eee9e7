"""Design-space plots of a sweep: the EIE paper's section 6 studies, drawn from a tidy DataFrame.

The input has one row per (layer, design point): the columns of ``Result.summary()`` plus ``layer``
and the config fields. Every plot draws one series per layer; a plot with one x-variable refuses
data in which another config field also varies within a layer (filter first), so a 2-D sweep is
never silently averaged or zig-zagged into one line.

Figures are built with :class:`matplotlib.figure.Figure` directly, not through pyplot: they render
with Agg, never open a window, and do not touch the caller's pyplot backend or figure list.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import fields
from pathlib import Path

import matplotlib as mpl
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter, NullLocator

from compressor.errors import EieInputError
from compressor.outputs import check_writable, write_atomic
from eie_sim.config import SimConfig
from eie_sim.counts import UNITS as ENERGY_UNITS

UNIT_NAMES = {
    "act_queue": "activation queue", "ptr_read": "pointer read", "spmat_read": "sparse-matrix read",
    "arith": "arithmetic unit", "act_rw": "activation read/write", "lnzd": "LNZD tree", "dram": "DRAM",
}
BREAKDOWN_COLUMNS = tuple(f"energy_breakdown_j.{u}" for u in ENERGY_UNITS)

#: Axis labels (with units) for config columns that can be an x-variable or a bar category.
AXIS_LABELS = {
    "n_pes": "PE count",
    "queue_depth": "activation queue depth (entries)",
    "spmat_width_bits": "sparse-matrix SRAM width (bits)",
    "spmat_bytes": "sparse-matrix SRAM per PE (bytes)",
    "regs": "destination registers per PE",
    "clock_hz": "clock (Hz)",
}

#: Config fields whose variation changes the results (``check`` and ``max_cycles`` do not).
_INERT_FIELDS = {"check", "max_cycles"}
CONFIG_COLUMNS = tuple(dict.fromkeys(
    [f.name for f in fields(SimConfig) if f.name not in _INERT_FIELDS] + list(AXIS_LABELS)))
WIDTH_COLUMN = "spmat_width_bits"
# Columns that tell apart rows at the same design point, named first when duplicates are refused.
_IDENTITY_COLUMNS = ("seed", "sparsity", "engine", "energy_table")

PLOT_NAMES = ("speedup_vs_pes", "utilization_vs_fifo", "energy_breakdown", "spmat_energy_vs_width",
              "energy_vs_pes")

# Shapes as well as colours tell layers apart, so the plots survive greyscale printing.
_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">", "h")
_BASELINE_STYLES = ("--", "-.", ":", (0, (6, 2, 1, 2, 1, 2)), (0, (2, 1)))
_ENERGY_SCALES = (("J", 1.0), ("mJ", 1e-3), ("µJ", 1e-6), ("nJ", 1e-9), ("pJ", 1e-12))
_SVG_HASHSALT = "eie-sim"  # fixed salt: SVG element ids depend only on the figure's content
_FIGSIZE = (7.5, 4.5)


# --- input checks -------------------------------------------------------------------------------

def _require(df: pd.DataFrame, columns: Sequence[str], what: str, *, nullable: Sequence[str] = ()) -> None:
    """Raise EieInputError unless df is a non-empty DataFrame with ``columns`` (NaN only in ``nullable``)."""
    if not isinstance(df, pd.DataFrame):
        raise EieInputError(f"{what} needs a pandas DataFrame of sweep rows; got {type(df).__name__}")
    missing = [c for c in columns if c not in df.columns]
    if missing:
        have = ", ".join(map(str, df.columns[:30])) + (" ..." if len(df.columns) > 30 else "")
        raise EieInputError(f"{what} needs column(s) {', '.join(missing)}; the DataFrame has: {have}")
    if df.empty:
        raise EieInputError(f"{what}: the DataFrame has no rows")
    for c in columns:
        if c in nullable:
            continue
        bad = df[c].isna()
        if bad.any():
            layers = sorted(map(str, df.loc[bad, "layer"].unique())) if "layer" in df else []
            raise EieInputError(f"{what}: column {c} has missing values (layers: {', '.join(layers)})")


def _require_positive(df: pd.DataFrame, column: str, what: str) -> None:
    """Log axes and ratios need positive values; say which layer breaks that."""
    bad = df[column] <= 0
    if bad.any():
        row = df.loc[bad].iloc[0]
        raise EieInputError(f"{what}: {column} must be > 0 (log scale); layer {row['layer']!r} has "
                            f"{column} = {row[column]}")


def _layer_order(df: pd.DataFrame) -> list[str]:
    """Layers in first-appearance order (a sweep lists them in the paper's order)."""
    return [str(v) for v in pd.unique(df["layer"])]


def _varying_within_layers(df: pd.DataFrame, exclude: Sequence[str] = ()) -> dict[str, list[object]]:
    """Config columns that take more than one value inside some layer, with their values."""
    out: dict[str, list[object]] = {}
    for c in CONFIG_COLUMNS:
        if c in df.columns and c not in exclude:
            if (df.groupby("layer", sort=False)[c].nunique(dropna=False) > 1).any():
                out[c] = sorted(df[c].dropna().unique().tolist())
    return out


def _check_one_row_per(df: pd.DataFrame, key: str, what: str) -> None:
    """Each (layer, key) must appear once; name the columns that tell duplicates apart."""
    dup = df.duplicated(["layer", key], keep=False)
    if dup.any():
        rows = df.loc[dup]
        first = rows.iloc[0]
        same = rows[(rows["layer"] == first["layer"]) & (rows[key] == first[key])]
        differ = [str(c) for c in same.columns if same[c].astype(str).nunique() > 1]
        differ = sorted(differ, key=lambda c: c not in _IDENTITY_COLUMNS + CONFIG_COLUMNS)[:6]
        raise EieInputError(
            f"{what}: layer {first['layer']!r} has {len(same)} rows at {key} = {first[key]}; filter the "
            f"DataFrame to one row per (layer, {key})"
            + (f" (columns that differ: {', '.join(differ)})" if differ else " (the rows are identical)"))


def _series(df: pd.DataFrame, x: str, y: Sequence[str], what: str) -> dict[str, pd.DataFrame]:
    """Per-layer rows sorted by ``x``, after checking ``x`` is the only config field that varies."""
    _require(df, ["layer", x, *y], what)
    others = _varying_within_layers(df, exclude=[x])
    if others:
        c, values = next(iter(others.items()))
        raise EieInputError(
            f"{what} plots one x-variable ({x}) per layer, but {c} also varies within a layer "
            f"(values {values}); filter the DataFrame to one {c} first, e.g. df[df['{c}'] == {values[0]!r}]")
    _check_one_row_per(df, x, what)
    return {str(layer): g.sort_values(x) for layer, g in df.groupby("layer", sort=False)}


def _need_x_values(df: pd.DataFrame, x: str, what: str) -> None:
    """A curve needs at least two x values in the data."""
    values = sorted(df[x].unique().tolist())
    if len(values) < 2:
        raise EieInputError(f"{what} needs rows with at least two {x} values; got {values}")


# --- figure helpers -----------------------------------------------------------------------------

def _styles(layers: Sequence[str]) -> dict[str, tuple[object, str]]:
    """(colour, marker) per layer from a qualitative map; tab10 covers the paper's 9 layers."""
    cmap = mpl.colormaps["tab10" if len(layers) <= 10 else "tab20"]
    return {name: (cmap(i % cmap.N), _MARKERS[i % len(_MARKERS)]) for i, name in enumerate(layers)}


def _new_figure(figsize: tuple[float, float] = _FIGSIZE) -> Figure:
    # Constrained layout makes room for the legend outside the axes in both PNG and SVG.
    return Figure(figsize=figsize, layout="constrained")


def _fixed_note(df: pd.DataFrame, exclude: Sequence[str]) -> str:
    """'fixed: 64 PEs, queue depth 8, ...' for the main config fields constant over the whole plot."""
    formats: dict[str, Callable[[float], str]] = {
        "n_pes": lambda v: f"{v:g} PEs", "queue_depth": lambda v: f"queue depth {v:g}",
        "spmat_width_bits": lambda v: f"{v:g}-bit SRAM words",
        "spmat_bytes": lambda v: f"{v / 1024:g} KB sparse-matrix SRAM/PE", "regs": lambda v: f"{v:g} regs/PE",
        "clock_hz": lambda v: f"{v / 1e6:g} MHz",
    }
    parts = [fmt(df[c].iloc[0]) for c, fmt in formats.items()
             if c in df.columns and c not in exclude and df[c].nunique(dropna=False) == 1]
    if not parts:
        return ""
    # Wrapped between items (never inside one) so a long note never runs under the legend.
    lines = ["fixed:"]
    for part in parts:
        if len(lines[-1]) + len(part) > 75:
            lines[-1] += ","
            lines.append(part)
        else:
            lines[-1] += ("" if lines[-1] == "fixed:" else ",") + " " + part
    return "\n".join(lines)


def _titles(fig: Figure, ax: Axes, title: str, note: str) -> None:
    fig.suptitle(title)
    if note:
        ax.set_title(note, fontsize="small", color="dimgray")


def _plain_log2_axis(axis: object, ticks: Sequence[float]) -> None:
    """Ticks at the swept values, printed as plain numbers (64, not 2^6)."""
    axis.set_major_locator(FixedLocator(sorted(set(float(t) for t in ticks))))
    axis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
    axis.set_minor_locator(NullLocator())
    axis.set_minor_formatter(NullFormatter())


def _energy_scale(max_j: float) -> tuple[str, float]:
    """The largest unit in which ``max_j`` is at least 1 (so bars read as 1..999)."""
    for name, scale in _ENERGY_SCALES:
        if max_j >= scale:
            return name, scale
    return _ENERGY_SCALES[-1]


def _legend(fig: Figure, handles: Sequence[Line2D], title: str | None = "layer") -> None:
    fig.legend(handles=list(handles), loc="outside right upper", fontsize="small", title=title,
               title_fontsize="small", frameon=False)


# --- plots --------------------------------------------------------------------------------------

def _layer_lines(ax: Axes, series: dict[str, pd.DataFrame], styles: dict[str, tuple[object, str]],
                 x: str, y: Callable[[pd.DataFrame], np.ndarray]) -> list[Line2D]:
    """One line per layer, in the layer's colour and marker; returns the legend handles."""
    handles = []
    for layer, g in series.items():
        colour, marker = styles[layer]
        (line,) = ax.plot(g[x].to_numpy(float), y(g), color=colour, marker=marker, label=layer)
        handles.append(line)
    return handles


def speedup_vs_pes(df: pd.DataFrame) -> Figure:
    """Speed-up over each layer's smallest PE count vs PE count (log-log), with the ideal linear line.

    The paper reports near-linear scaling except NT-We; the dashed line y = x / x_min shows the gap.
    """
    what = "speed-up vs PE count"
    series = _series(df, "n_pes", ["cycles"], what)
    _require_positive(df, "cycles", what)
    few = {layer: sorted(g["n_pes"].tolist()) for layer, g in series.items() if g["n_pes"].nunique() < 2}
    if few:
        raise EieInputError(f"{what} needs rows with at least two n_pes values per layer; got "
                            + "; ".join(f"{k}: {v}" for k, v in few.items()))
    styles = _styles(list(series))
    fig = _new_figure()
    ax = fig.add_subplot()
    handles = _layer_lines(ax, series, styles, "n_pes",
                           lambda g: g["cycles"].iloc[0] / g["cycles"].to_numpy(float))
    # One ideal line per distinct starting PE count (normally all layers share one).
    mins = sorted({float(g["n_pes"].iloc[0]) for g in series.values()})
    for i, x0 in enumerate(mins):
        xs = np.array(sorted(v for v in df["n_pes"].unique() if v >= x0), dtype=float)
        (ideal,) = ax.plot(xs, xs / x0, color="black", linestyle="--", linewidth=1, zorder=1,
                           label="ideal (linear)" if i == 0 else "_ideal")
        if i == 0:
            handles.append(ideal)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log", base=2)
    _plain_log2_axis(ax.xaxis, df["n_pes"].unique())
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
    ax.set_xlabel(AXIS_LABELS["n_pes"])
    base = f"{mins[0]:g} PE{'s' if mins[0] != 1 else ''}" if len(mins) == 1 else "each layer's fewest PEs"
    ax.set_ylabel(f"speed-up over {base} (×)")
    ax.grid(True, which="major", alpha=0.3)
    _titles(fig, ax, "Speed-up vs PE count (cycles at fewest PEs / cycles)", _fixed_note(df, ["n_pes"]))
    _legend(fig, handles)
    return fig


def utilization_vs_fifo(df: pd.DataFrame) -> Figure:
    """Load-balance efficiency (PE utilisation, %) vs activation queue depth (log2 x).

    The paper: about half the cycles idle at depth 1, little gain beyond 8, NT-We balances worst.
    """
    what = "utilisation vs queue depth"
    series = _series(df, "queue_depth", ["pe_utilization"], what)
    _need_x_values(df, "queue_depth", what)
    _require_positive(df, "queue_depth", what)
    u = df["pe_utilization"]
    if ((u < 0) | (u > 1)).any():
        # Catches a column already in percent, which would otherwise plot as 100x too high.
        raise EieInputError(f"{what}: pe_utilization must be a fraction in 0..1; got values from "
                            f"{u.min():g} to {u.max():g}")
    styles = _styles(list(series))
    fig = _new_figure()
    ax = fig.add_subplot()
    handles = _layer_lines(ax, series, styles, "queue_depth",
                           lambda g: 100 * g["pe_utilization"].to_numpy(float))
    ax.set_xscale("log", base=2)
    _plain_log2_axis(ax.xaxis, df["queue_depth"].unique())
    ax.set_ylim(0, 102)  # the full 0..100 % range, so a small imbalance is not exaggerated
    ax.set_xlabel(AXIS_LABELS["queue_depth"])
    ax.set_ylabel("load-balance efficiency (PE utilisation, %)")
    ax.grid(True, alpha=0.3)
    _titles(fig, ax, "Load balance vs activation queue depth", _fixed_note(df, ["queue_depth"]))
    _legend(fig, handles)
    return fig


def energy_breakdown(df: pd.DataFrame, by: str = "layer") -> Figure:
    """Stacked bars of energy per inference by hardware unit, one bar per ``by`` value.

    ``by="layer"`` needs one row per layer and draws one panel; ``by`` = a config column (e.g.
    ``n_pes``) draws one panel per layer, because units already use the colours.
    """
    what = f"energy breakdown by {by}"
    _require(df, ["layer", by, *BREAKDOWN_COLUMNS], what)
    if by == "layer":
        others = _varying_within_layers(df)
        if others or df["layer"].duplicated().any():
            counts = df["layer"].value_counts()
            layer = str(counts.index[0])
            hint = f"; pass by='{next(iter(others))}'" if len(others) == 1 else ""
            raise EieInputError(f"{what} needs one row per layer; layer {layer!r} has {counts.iloc[0]} rows"
                                + (f" (varying: {', '.join(others)})" if others else "")
                                + f"; filter the DataFrame{hint}")
        panels = {"": df}
    else:
        panels = _series(df, by, BREAKDOWN_COLUMNS, what)
    if (df[list(BREAKDOWN_COLUMNS)] < 0).to_numpy().any():
        raise EieInputError(f"{what}: energies must be >= 0")
    unit, scale = _energy_scale(float(df[list(BREAKDOWN_COLUMNS)].sum(axis=1).max()))
    cmap = mpl.colormaps["Set2"]  # not tab10: unit colours must not look like layer colours
    n = len(panels)
    ncols = min(3, n)
    nrows = math.ceil(n / ncols)
    fig = _new_figure(_FIGSIZE if n == 1 else (3.6 * ncols + 2.2, 2.8 * nrows + 0.8))
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax in axes[n:]:
        fig.delaxes(ax)
    for i, (ax, (layer, g)) in enumerate(zip(axes, panels.items(), strict=False)):
        labels = [str(v) if by == "layer" else f"{v:g}" for v in g[by]]
        pos = np.arange(len(g))
        bottom = np.zeros(len(g))
        for j, (u, col) in enumerate(zip(ENERGY_UNITS, BREAKDOWN_COLUMNS, strict=True)):
            heights = g[col].to_numpy(float) / scale
            ax.bar(pos, heights, bottom=bottom, color=cmap(j), label=UNIT_NAMES[u], width=0.7)
            bottom += heights
        ax.set_xticks(pos, labels, rotation=30 if by == "layer" and len(g) > 4 else 0,
                      ha="right" if by == "layer" and len(g) > 4 else "center")
        if layer:
            ax.set_title(layer, fontsize="medium")
        if i + ncols >= n:  # the bottom panel of each column
            ax.set_xlabel("layer" if by == "layer" else AXIS_LABELS.get(by, by))
        if i % ncols == 0:
            ax.set_ylabel(f"energy per inference ({unit})")
        ax.grid(True, axis="y", alpha=0.3)
    note = _fixed_note(df, [by])
    title = "Energy per inference by hardware unit"
    if n == 1:
        _titles(fig, axes[0], title, note)
    else:
        fig.suptitle(title + (f"\n{note}" if note else ""))
    # Reverse so the legend reads top-down like the stack.
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles[::-1], labels[::-1], loc="outside right upper", fontsize="small",
               title="unit", title_fontsize="small", frameon=False)
    return fig


def spmat_energy_vs_width(df: pd.DataFrame) -> Figure:
    """Sparse-matrix SRAM read energy vs SRAM width (log2 x), each layer's minimum starred.

    Narrow words cost more reads, wide words waste bits on padding; the paper finds 64 bits best.
    """
    what = "sparse-matrix read energy vs SRAM width"
    y = "energy_breakdown_j.spmat_read"
    w = WIDTH_COLUMN
    series = _series(df, w, [y], what)
    _need_x_values(df, w, what)
    _require_positive(df, w, what)
    _require_positive(df, y, what)
    unit, scale = _energy_scale(float(df[y].max()))
    styles = _styles(list(series))
    fig = _new_figure()
    ax = fig.add_subplot()
    handles = []
    for layer, g in series.items():
        colour, marker = styles[layer]
        x = g[w].to_numpy(float)
        e = g[y].to_numpy(float) / scale
        (line,) = ax.plot(x, e, color=colour, marker=marker, label=layer)
        handles.append(line)
        k = int(np.argmin(e))  # ties go to the narrowest width
        ax.plot([x[k]], [e[k]], linestyle="none", marker="*", markersize=15, color=colour,
                markeredgecolor="black", markeredgewidth=0.6, zorder=3, label=f"_min:{layer}")
    handles.append(Line2D([], [], linestyle="none", marker="*", markersize=12, color="lightgray",
                          markeredgecolor="black", markeredgewidth=0.6, label="minimum of the layer"))
    ax.set_xscale("log", base=2)
    # Log y only when layers differ by orders of magnitude; otherwise the minima are easier to see.
    if df[y].max() / df[y].min() > 30:
        ax.set_yscale("log")
    _plain_log2_axis(ax.xaxis, df[w].unique())
    ax.set_xlabel(AXIS_LABELS[w])
    ax.set_ylabel(f"sparse-matrix SRAM read energy per inference ({unit})")
    ax.grid(True, alpha=0.3)
    _titles(fig, ax, "Sparse-matrix SRAM read energy vs SRAM width", _fixed_note(df, [w]))
    _legend(fig, handles)
    return fig


def energy_vs_pes(df: pd.DataFrame, baselines: pd.DataFrame | None = None) -> Figure:
    """Energy per inference vs PE count (log2 x, log y); hollow markers where weights are DRAM-tiled.

    ``baselines`` (columns layer, baseline, n_pes, energy_j) are dashed lines in the layer's colour,
    one dash pattern per baseline name; a NaN ``n_pes`` draws a horizontal line across the plot.
    Baseline rows for layers not in ``df`` are ignored (a paper table may list all 9 layers).
    """
    what = "energy vs PE count"
    series = _series(df, "n_pes", ["energy_j", "resident"], what)
    _need_x_values(df, "n_pes", what)
    _require_positive(df, "n_pes", what)
    _require_positive(df, "energy_j", what)
    if not df["resident"].isin([True, False]).all():
        # A CSV column of strings like "False" would otherwise all read as True.
        got = sorted(map(repr, df["resident"].unique()))
        raise EieInputError(f"{what}: resident must be boolean; got {', '.join(got)}")
    styles = _styles(list(series))
    fig = _new_figure((8.5, 5))
    ax = fig.add_subplot()
    handles: list[Line2D] = []
    for layer, g in series.items():
        colour, marker = styles[layer]
        x = g["n_pes"].to_numpy(float)
        e = g["energy_j"].to_numpy(float)
        resident = g["resident"].astype(bool).to_numpy()
        ax.plot(x, e, color=colour, label=layer)
        if resident.any():
            ax.plot(x[resident], e[resident], linestyle="none", marker=marker, color=colour,
                    label=f"_resident:{layer}")
        if (~resident).any():
            ax.plot(x[~resident], e[~resident], linestyle="none", marker=marker, color=colour,
                    markerfacecolor="none", markeredgewidth=1.5, label=f"_tiled:{layer}")
        handles.append(Line2D([], [], color=colour, marker=marker, label=layer))
    handles.append(Line2D([], [], linestyle="none", marker="o", color="gray",
                          label="weights resident in SRAM"))
    handles.append(Line2D([], [], linestyle="none", marker="o", color="gray", markerfacecolor="none",
                          markeredgewidth=1.5, label="DRAM-tiled (weights streamed)"))
    if baselines is not None:
        handles += _draw_baselines(ax, baselines, styles, what)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    _plain_log2_axis(ax.xaxis, df["n_pes"].unique())
    ax.set_xlabel(AXIS_LABELS["n_pes"])
    ax.set_ylabel("energy per inference (J)")
    ax.grid(True, which="major", alpha=0.3)
    _titles(fig, ax, "Energy per inference vs PE count", _fixed_note(df, ["n_pes"]))
    _legend(fig, handles, title=None)
    return fig


def _draw_baselines(ax: Axes, baselines: pd.DataFrame, styles: dict[str, tuple[object, str]],
                    what: str) -> list[Line2D]:
    """Dashed baseline lines in each layer's colour; returns one legend handle per baseline name."""
    _require(baselines, ["layer", "baseline", "n_pes", "energy_j"], f"{what} baselines", nullable=["n_pes"])
    b = baselines.assign(layer=baselines["layer"].astype(str))
    b = b[b["layer"].isin(list(styles))]
    if b.empty:
        have = sorted(baselines["layer"].astype(str).unique())
        raise EieInputError(f"{what}: no baseline row names a plotted layer; baselines have {have}, "
                            f"the sweep has {list(styles)}")
    _require_positive(b, "energy_j", f"{what} baselines")
    names = [str(v) for v in pd.unique(b["baseline"])]
    dash = {name: _BASELINE_STYLES[i % len(_BASELINE_STYLES)] for i, name in enumerate(names)}
    for (layer, name), g in b.groupby(["layer", "baseline"], sort=False):
        colour = styles[str(layer)][0]
        label = f"_baseline:{layer}:{name}"
        flat = g["n_pes"].isna()
        if flat.all():
            if len(g) != 1:
                raise EieInputError(f"{what}: baseline {name!r} of layer {layer!r} has {len(g)} rows "
                                    "without n_pes; a PE-independent baseline needs exactly one")
            ax.axhline(float(g["energy_j"].iloc[0]), color=colour, linestyle=dash[str(name)],
                       linewidth=1.2, label=label)
        elif flat.any():
            raise EieInputError(f"{what}: baseline {name!r} of layer {layer!r} mixes rows with and "
                                "without n_pes")
        else:
            g = g.sort_values("n_pes")
            ax.plot(g["n_pes"].to_numpy(float), g["energy_j"].to_numpy(float), color=colour,
                    linestyle=dash[str(name)], linewidth=1.2, label=label)
    return [Line2D([], [], color="gray", linestyle=dash[name], label=name) for name in names]


# --- output -------------------------------------------------------------------------------------

def save(fig: Figure, path_stem: str | Path, *, force: bool = False) -> list[Path]:
    """Write ``path_stem``.png (150 dpi) and .svg atomically, then close ``fig``; returns the paths.

    Both targets are checked before either is written, so a refusal leaves nothing half-done (and
    the figure open, for a retry with ``force``). The SVG has no date and a fixed hash salt, so the
    same data gives the same bytes.
    """
    stem = str(path_stem)
    png, svg = Path(stem + ".png"), Path(stem + ".svg")
    for p in (png, svg):
        check_writable(p, force)
    write_atomic(png, lambda tmp: fig.savefig(tmp, format="png", dpi=150), force=force)
    with mpl.rc_context({"svg.hashsalt": _SVG_HASHSALT}):
        write_atomic(svg, lambda tmp: fig.savefig(tmp, format="svg", metadata={"Date": None}),
                     force=force)
    _close(fig)
    return [png, svg]


def _close(fig: Figure) -> None:
    """Release the figure; also drop it from pyplot if a caller made it there."""
    import matplotlib.pyplot as plt  # local: importing pyplot is only needed for its figure list

    plt.close(fig)


def _x_varies(df: pd.DataFrame, x: str) -> bool:
    return x in df.columns and df[x].nunique() > 1


def plot_all(df: pd.DataFrame, out_dir: str | Path, *, baselines: pd.DataFrame | None = None,
             force: bool = False) -> list[Path]:
    """Make and save every plot the sweep supports into ``out_dir``; returns the written paths.

    A plot whose x-variable does not vary is skipped silently. One whose x-variable varies but
    alongside another config field (a 2-D sweep) is skipped with a warning naming the field,
    since picking a slice would be a guess. Other bad data raises EieInputError.
    """
    _require(df, ["layer"], "plot_all")
    out = Path(out_dir)
    makers: dict[str, tuple[str, Callable[[], Figure]]] = {
        "speedup_vs_pes": ("n_pes", lambda: speedup_vs_pes(df)),
        "utilization_vs_fifo": ("queue_depth", lambda: utilization_vs_fifo(df)),
        "spmat_energy_vs_width": (WIDTH_COLUMN, lambda: spmat_energy_vs_width(df)),
        "energy_vs_pes": ("n_pes", lambda: energy_vs_pes(df, baselines)),
    }
    paths: list[Path] = []
    for name in PLOT_NAMES:
        if name == "energy_breakdown":
            # By the one swept field (one panel per layer), or by layer when nothing is swept.
            swept = list(_varying_within_layers(df))
            if len(swept) > 1:
                warnings.warn(f"plot_all: skipped energy_breakdown: {', '.join(swept)} all vary; "
                              "filter to one swept field", stacklevel=2)
                continue
            fig = energy_breakdown(df, by=swept[0] if swept else "layer")
        else:
            x, make = makers[name]
            if not _x_varies(df, x):
                continue
            others = _varying_within_layers(df, exclude=[x])
            if others:
                warnings.warn(f"plot_all: skipped {name}: besides {x}, {', '.join(others)} also vary "
                              "within a layer; filter the DataFrame and call it directly", stacklevel=2)
                continue
            fig = make()
        paths += save(fig, out / name, force=force)
    return paths
