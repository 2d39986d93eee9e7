"""Energy figures: per inference vs PE count (with dense baselines), by hardware unit, and the
sparse-matrix SRAM's read energy vs its word width. Energy is in uJ throughout."""

from __future__ import annotations

import matplotlib as mpl
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter

from compressor.errors import EieInputError
from eie_sim.energy import UNITS as ENERGY_UNITS
from eie_sim.study.figures import base
from eie_sim.study.figures.scaling import RESIDENT_LABEL, TILED_LABEL
from eie_sim.study.metrics import SPMAT_PARTS, SPMAT_READS, SPMAT_TOTAL, spmat_read_energy_j, to_uj
from eie_sim.units import PRICED

#: Each energy unit's name for people, from the unit's own declaration.
UNIT_NAMES = {u.NAME: u.TITLE for u in PRICED}
BREAKDOWN_COLUMNS = tuple(f"energy_breakdown_j.{u}" for u in ENERGY_UNITS)
#: The off-chip unit: drawn in a panel of its own so that it cannot flatten the on-chip split.
OFF_CHIP = "dram"
ON_CHIP_UNITS = tuple(u for u in ENERGY_UNITS if u != OFF_CHIP)
WIDTH_COLUMN = "word_bits"
SPMAT_SHORT = {"dynamic": "dynamic", "total": "dynamic + static"}

_BASELINE_STYLES = ("--", "-.", ":", (0, (6, 2, 1, 2, 1, 2)), (0, (2, 1)))
_DENSE_STYLE = "--"  # the sweep's own dense accelerator; baselines then start at the next pattern
#: Baseline colours when each has its own (small multiples): apart from the layers' tab10 colours.
_BASELINE_COLOURS = ("black", "#8c564b", "#7f7f7f", "#bcbd22", "#17becf")


# --- energy by unit -----------------------------------------------------------------------------

def energy_breakdown(df: pd.DataFrame, by: str = "layer") -> Figure:
    """Stacked bars of on-chip energy per inference (uJ) by hardware unit, one bar per ``by`` value;
    DRAM, when any point streams weights, in a panel of its own under each.

    DRAM can cost a hundred times the on-chip units together; stacked on them it would flatten the
    split this figure is for. ``by="layer"`` needs one row per layer and draws one panel; ``by`` = a
    config column (e.g. ``n_pes``) draws one panel per layer, because units already use the colours.
    """
    what = f"energy breakdown by {by}"
    base.require(df, ["layer", by, *BREAKDOWN_COLUMNS], what)
    if by == "layer":
        others = base.varying_within_layers(df)
        if others or df["layer"].duplicated().any():
            counts = df["layer"].value_counts()
            layer = str(counts.index[0])
            hint = f"; pass by='{next(iter(others))}'" if len(others) == 1 else ""
            raise EieInputError(f"{what} needs one row per layer; layer {layer!r} has {counts.iloc[0]} rows"
                                + (f" (varying: {', '.join(others)})" if others else "")
                                + f"; filter the DataFrame{hint}")
        panels = {"": df}
    else:
        panels = base.series(df, by, BREAKDOWN_COLUMNS, what)
    if (df[list(BREAKDOWN_COLUMNS)] < 0).to_numpy().any():
        raise EieInputError(f"{what}: energies must be >= 0")
    dram = f"energy_breakdown_j.{OFF_CHIP}"
    with_dram = bool((df[dram] > 0).any())
    cmap = mpl.colormaps["Set2"]  # not tab10: unit colours must not look like layer colours
    colour = {u: cmap(j) for j, u in enumerate(ENERGY_UNITS)}
    n = len(panels)
    ncols = min(3, n)
    nrows = -(-n // ncols)
    width, height = (7.5, 4.5) if n == 1 else (3.6 * ncols + 2.2, 2.8 * nrows + 1.0)
    fig = base.new_figure((width, height + (0.9 * nrows if with_dram else 0)))
    rows = 2 * nrows if with_dram else nrows
    grid = fig.add_gridspec(rows, ncols, height_ratios=[3, 1.3] * nrows if with_dram else None)
    ylabel = base.energy_label("on-chip energy per inference" if with_dram else "energy per inference", df)
    for i, (layer, g) in enumerate(panels.items()):
        r, c = divmod(i, ncols)
        ax = fig.add_subplot(grid[2 * r if with_dram else r, c])
        labels = [str(v) if by == "layer" else base.value_text(v) for v in g[by]]
        pos = np.arange(len(g))
        bottom = np.zeros(len(g))
        for u in ON_CHIP_UNITS:
            heights = to_uj(g[f"energy_breakdown_j.{u}"].to_numpy(float))
            ax.bar(pos, heights, bottom=bottom, color=colour[u], label=UNIT_NAMES[u], width=0.7)
            bottom += heights
        base.headroom(ax, float(bottom.max()))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: base.tick_num(v)))
        ax.grid(True, axis="y", alpha=0.3)
        if layer:
            ax.set_title(base.layer_desc(layer, g), fontsize="medium")
        if c == 0:
            ax.set_ylabel(ylabel)
        low = ax
        if with_dram:
            low = fig.add_subplot(grid[2 * r + 1, c], sharex=ax)
            e = to_uj(g[dram].to_numpy(float))
            low.bar(pos, e, color=colour[OFF_CHIP], width=0.7, label=UNIT_NAMES[OFF_CHIP])
            base.headroom(low, float(e.max()))
            low.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: base.tick_num(v)))
            low.grid(True, axis="y", alpha=0.3)
            ax.tick_params(labelbottom=False)
            if c == 0:
                low.set_ylabel(f"DRAM ({base.ENERGY_UNIT})")
        rotate = by == "layer" and len(g) > 4
        low.set_xticks(pos, labels, rotation=30 if rotate else 0, ha="right" if rotate else "center")
        if i + ncols >= n:  # the bottom panel of each column
            low.set_xlabel("layer" if by == "layer" else base.field_label(by))
    handles: list[object] = [Patch(color=colour[u], label=UNIT_NAMES[u])
                             for u in (ENERGY_UNITS if with_dram else ON_CHIP_UNITS)]
    notes = ["DRAM (weights streamed in tiles) in the lower panels, on its own scale" if with_dram
             else "DRAM: none (every point's weights are SRAM-resident)", base.fixed_text(df, [by])]
    base.title(fig, "Energy per inference by hardware unit", fig.axes[0] if n == 1 else None, df)
    base.caption(fig, *notes)
    # Reversed so the legend reads top-down like the stack.
    base.legend(fig, handles[::-1], title="unit")
    return fig


# --- sparse-matrix read energy vs width ---------------------------------------------------------

def spmat_energy_vs_width(df: pd.DataFrame, part: str = "dynamic") -> Figure:
    """Sparse-matrix SRAM read energy (uJ) vs SRAM width (log2 x), each layer's minimum starred.

    Narrow words cost more reads, wide words waste bits on padding; the paper finds 64 bits best.
    ``part`` (:func:`eie_sim.study.metrics.spmat_read_energy_j`): ``dynamic`` = word reads x energy
    per read (the paper's quantity, and the default everywhere), ``total`` adds the unit's share of
    the static power; the axis label says which.
    """
    what = "sparse-matrix read energy vs SRAM width"
    w = WIDTH_COLUMN
    need = [SPMAT_TOTAL if part == "total" else SPMAT_READS]
    groups = base.series(df, w, need, what)
    base.need_x_values(df, w, what)
    base.require_positive(df, w, what)
    energy = spmat_read_energy_j(df, part)
    if (energy <= 0).any():
        row = df.loc[energy <= 0].iloc[0]
        raise EieInputError(f"{what}: the read energy must be > 0 (log scale); layer {row['layer']!r} "
                            f"has {energy[energy <= 0].iloc[0]:g} J")
    styles = base.styles(list(groups))
    fig = base.new_figure()
    ax = fig.add_subplot()
    handles: list[Line2D] = []
    for layer, g in groups.items():
        colour, marker = styles[layer]
        x = g[w].to_numpy(float)
        e = to_uj(energy[g.index].to_numpy(float))
        (line,) = ax.plot(x, e, color=colour, marker=marker, label=layer)
        handles.append(line)
        k = int(np.argmin(e))  # ties go to the narrowest width
        ax.plot([x[k]], [e[k]], linestyle="none", marker="*", markersize=15, color=colour,
                markeredgecolor="black", markeredgewidth=0.6, zorder=3, label=f"_min:{layer}")
    labels = base.layer_labels(groups)
    handles.append(Line2D([], [], linestyle="none", marker="*", markersize=12, color="lightgray",
                          markeredgecolor="black", markeredgewidth=0.6, label="minimum of the layer"))
    labels.append("minimum of the layer")
    ax.set_xscale("log", base=2)
    # Log y only when layers differ by orders of magnitude; otherwise the minima are easier to see.
    if energy.max() / energy.min() > 30:
        ax.set_yscale("log")
        base.plain_log_ticks(ax.yaxis)
    else:
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: base.tick_num(v)))
    base.plain_log2_axis(ax.xaxis, df[w].unique())
    ax.set_xlabel(base.field_label(w))
    ax.set_ylabel(base.energy_label(f"sparse-matrix SRAM read energy per inference, {SPMAT_SHORT[part]}", df))
    ax.grid(True, alpha=0.3)
    base.title(fig, "Sparse-matrix SRAM read energy vs SRAM width", ax, df)
    base.caption(fig, f"read energy per inference, {SPMAT_PARTS[part]}", base.fixed_text(df, [w]))
    base.legend(fig, handles, labels=labels)
    return fig


# --- energy vs PE count -------------------------------------------------------------------------

def _has_band(df: pd.DataFrame) -> bool:
    """Whether the rows carry a min..max range of energy (a batch of inputs) worth drawing."""
    cols = ["energy_j_min", "energy_j_max"]
    if not all(c in df.columns for c in cols) or df[cols].isna().to_numpy().any():
        return False
    return bool((df["energy_j_max"] > df["energy_j_min"]).any())


def _draw_dense(ax: Axes, g: pd.DataFrame, colour: object, marker: str, layer: str) -> float | None:
    """The sweep's dense accelerator for one layer: dashed, filled markers where its 16-bit weights
    are SRAM-resident, hollow where streamed. Returns the PE count from which they fit when that
    changes within the plot, else None."""
    rows = g[g["dense_energy_j"].notna()]
    if rows.empty:
        return None
    x = rows["n_pes"].to_numpy(float)
    e = to_uj(rows["dense_energy_j"].to_numpy(float))
    ax.plot(x, e, color=colour, linestyle=_DENSE_STYLE, linewidth=1.2, label=f"_dense:{layer}")
    if "dense_resident" not in rows.columns or not rows["dense_resident"].isin([True, False]).all():
        return None
    resident = rows["dense_resident"].astype(bool).to_numpy()
    if resident.any():
        ax.plot(x[resident], e[resident], linestyle="none", marker=marker, markersize=5, color=colour,
                label=f"_dense_resident:{layer}")
    if (~resident).any():
        ax.plot(x[~resident], e[~resident], linestyle="none", marker=marker, markersize=5, color=colour,
                markerfacecolor="none", markeredgewidth=1.2, label=f"_dense_streamed:{layer}")
    if resident.any() and (~resident).any():
        k = int(np.argmax(resident))  # the first resident point; resident from there on?
        if resident[k:].all():
            return float(x[k])
    return None


def _dense_note(fits_from: dict[str, float]) -> str:
    """Why the dense line drops: its weights stop streaming from DRAM once they fit the SRAMs."""
    if not fits_from:
        return ""
    counts = set(fits_from.values())
    if len(counts) == 1:
        return (f"dense: 16-bit weights stream from DRAM (hollow) until they fit the SRAMs of "
                f"{counts.pop():g} PEs, hence its drop")
    return ("dense: 16-bit weights stream from DRAM (hollow) until they fit the SRAMs: "
            + ", ".join(f"{layer} from {n:g} PEs" for layer, n in fits_from.items()))


def _accuracy_note(df: pd.DataFrame) -> str:
    """The batch's top-1 accuracy of the fixed-point outputs, when the sweep had labels."""
    if "top1_accuracy" not in df.columns:
        return ""
    acc = pd.to_numeric(df["top1_accuracy"], errors="coerce").dropna()
    if acc.empty:
        return ""
    lo, hi = 100 * float(acc.min()), 100 * float(acc.max())
    span = f"{lo:.1f} %" if lo == hi else f"{lo:.1f}-{hi:.1f} %"
    return f"top-1 accuracy of the fixed-point outputs: {span}" + (" at every point" if lo == hi else "")


def energy_vs_pes(df: pd.DataFrame, baselines: pd.DataFrame | None = None, *, dense: bool = True,
                  by_layer: bool = False) -> Figure:
    """Energy per inference (uJ) vs PE count (log2 x, log y); hollow markers where weights are DRAM-tiled.

    With ``dense`` and the sweep's ``dense_energy_j`` column, each layer's dense accelerator is a
    dashed line in the layer's colour, with the same filled (resident) / hollow (streamed) markers
    from ``dense_resident``. Over a batch (``energy_j_min`` / ``energy_j_max``), a light band spans
    each layer's min..max. ``baselines`` (columns layer, baseline, n_pes, energy_j in J) are more
    lines, one style per baseline name; a NaN ``n_pes`` draws a horizontal line across the plot.
    Baseline rows for layers not in ``df`` are ignored (a paper table may list all 9 layers).
    ``by_layer`` draws one panel per layer (small multiples), the baselines in a colour and
    style of their own, so that many of them stay apart.
    """
    what = "energy vs PE count"
    groups = base.series(df, "n_pes", ["energy_j", "resident"], what)
    base.need_x_values(df, "n_pes", what)
    base.require_positive(df, "n_pes", what)
    base.require_positive(df, "energy_j", what)
    base.require_bool(df, "resident", what)
    band = _has_band(df)
    if band:
        base.require_positive(df, "energy_j_min", what)
    draw_dense = dense and "dense_energy_j" in df.columns and bool(df["dense_energy_j"].notna().any())
    if draw_dense:
        base.require_positive(df[df["dense_energy_j"].notna()], "dense_energy_j", what)
    styles = base.styles(list(groups))
    if by_layer:
        fig = base.new_figure((4.0 * len(groups) + 2.5, 4.6))
        axes = list(np.atleast_1d(fig.subplots(1, len(groups), sharey=True)))
    else:
        fig = base.new_figure((8.5, 5))
        axes = [fig.add_subplot()] * len(groups)
    handles: list[object] = []
    labels: list[str] = []
    fits_from: dict[str, float] = {}
    for ax, (layer, g) in zip(axes, groups.items(), strict=True):
        colour, marker = styles[layer]
        x = g["n_pes"].to_numpy(float)
        e = to_uj(g["energy_j"].to_numpy(float))
        resident = g["resident"].astype(bool).to_numpy()
        ax.plot(x, e, color=colour, label=layer)
        if resident.any():
            ax.plot(x[resident], e[resident], linestyle="none", marker=marker, color=colour,
                    label=f"_resident:{layer}")
        if (~resident).any():
            ax.plot(x[~resident], e[~resident], linestyle="none", marker=marker, color=colour,
                    markerfacecolor="none", markeredgewidth=1.5, label=f"_tiled:{layer}")
        if band:
            ax.fill_between(x, to_uj(g["energy_j_min"].to_numpy(float)),
                            to_uj(g["energy_j_max"].to_numpy(float)), color=colour, alpha=0.2,
                            linewidth=0, label=f"_band:{layer}")
        if draw_dense:
            n = _draw_dense(ax, g, colour, marker, layer)
            if n is not None:
                fits_from[layer] = n
        if by_layer:
            ax.set_title(base.layer_desc(layer, g), fontsize="small")
        else:
            handles.append(Line2D([], [], color=colour, marker=marker))
            labels.append(base.layer_desc(layer, g))
    grey = "black" if by_layer else "gray"
    if by_layer:
        handles.append(Line2D([], [], color=grey, marker="o"))
        labels.append("EIE (compressed)")
    handles.append(Line2D([], [], linestyle="none", marker="o", color=grey))
    labels.append(RESIDENT_LABEL)
    handles.append(Line2D([], [], linestyle="none", marker="o", color=grey, markerfacecolor="none",
                          markeredgewidth=1.5))
    labels.append(TILED_LABEL)
    if draw_dense:
        handles.append(Line2D([], [], color=grey, linestyle=_DENSE_STYLE))
        labels.append("dense accelerator (16-bit weights)")
    if band:
        handles.append(Patch(facecolor="gray", alpha=0.3, linewidth=0))
        labels.append("EIE min..max" + (base.batch_text(df).removeprefix("mean") or " over the inputs"))
    if baselines is not None:
        drawn: list[Line2D] = []
        for ax, layer in zip(axes, groups, strict=True):
            if by_layer or not drawn:
                drawn = _draw_baselines(ax, baselines, styles if not by_layer else {layer: styles[layer]},
                                        what, skip_dash=draw_dense, own_colours=by_layer)
        for h in drawn:
            handles.append(h)
            labels.append(h.get_label())
    for ax in dict.fromkeys(axes):
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        base.plain_log2_axis(ax.xaxis, df["n_pes"].unique())
        base.plain_log_ticks(ax.yaxis)
        ax.set_xlabel(base.field_label("n_pes"))
        ax.grid(True, which="major", alpha=0.3)
    axes[0].set_ylabel(base.energy_label("energy per inference", df))
    base.title(fig, "Energy per inference vs PE count", None if by_layer else axes[0], df)
    base.caption(fig, base.fixed_text(df, ["n_pes"]), _dense_note(fits_from), _accuracy_note(df))
    base.legend(fig, handles, title=None, labels=labels)
    return fig


def _draw_baselines(ax: Axes, baselines: pd.DataFrame, styles: dict[str, tuple[object, str]],
                    what: str, *, skip_dash: bool = False, own_colours: bool = False) -> list[Line2D]:
    """Baseline lines of the layers in ``styles``, in each layer's colour (or, with
    ``own_colours``, one colour per baseline); returns one legend handle per baseline name.

    ``skip_dash`` leaves the first dash pattern to the sweep's own dense line.
    """
    base.require(baselines, ["layer", "baseline", "n_pes", "energy_j"], f"{what} baselines",
                 nullable=["n_pes"])
    b = baselines.assign(layer=baselines["layer"].astype(str))
    b = b[b["layer"].isin(list(styles))]
    if b.empty:
        have = sorted(baselines["layer"].astype(str).unique())
        raise EieInputError(f"{what}: no baseline row names a plotted layer; baselines have {have}, "
                            f"the sweep has {list(styles)}")
    base.require_positive(b, "energy_j", f"{what} baselines")
    names = [str(v) for v in pd.unique(b["baseline"])]
    first = 1 if skip_dash else 0
    dash = {name: _BASELINE_STYLES[(first + i) % len(_BASELINE_STYLES)] for i, name in enumerate(names)}
    own = {name: _BASELINE_COLOURS[i % len(_BASELINE_COLOURS)] for i, name in enumerate(names)}
    for (layer, name), g in b.groupby(["layer", "baseline"], sort=False):
        colour = own[str(name)] if own_colours else styles[str(layer)][0]
        label = f"_baseline:{layer}:{name}"
        flat = g["n_pes"].isna()
        if flat.all():
            if len(g) != 1:
                raise EieInputError(f"{what}: baseline {name!r} of layer {layer!r} has {len(g)} rows "
                                    "without n_pes; a PE-independent baseline needs exactly one")
            ax.axhline(to_uj(float(g["energy_j"].iloc[0])), color=colour, linestyle=dash[str(name)],
                       linewidth=1.2, label=label)
        elif flat.any():
            raise EieInputError(f"{what}: baseline {name!r} of layer {layer!r} mixes rows with and "
                                "without n_pes")
        else:
            g = g.sort_values("n_pes")
            ax.plot(g["n_pes"].to_numpy(float), to_uj(g["energy_j"].to_numpy(float)), color=colour,
                    linestyle=dash[str(name)], linewidth=1.2, label=label)
    return [Line2D([], [], color=own[name] if own_colours else "gray", linestyle=dash[name], label=name)
            for name in names]
