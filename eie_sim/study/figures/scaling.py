"""How a layer's time scales with the machine: speed-up and latency vs PE count, load balance vs
queue depth. One line per layer; where a layer's weights do not fit the SRAMs and stream from
DRAM in tiles, its markers are hollow, since there DRAM bandwidth, not the PEs, sets the time."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter

from compressor.errors import EieInputError
from eie_sim.study.figures import base

TILED_LABEL = "DRAM-tiled (weights streamed)"
RESIDENT_LABEL = "weights resident in SRAM"
SPILLED_LABEL = "activations spill to DRAM"
TILED_NOTE = ("hollow markers: the layer's weights do not fit the SRAMs and stream from DRAM in tiles, "
              "so DRAM bandwidth caps its speed")
SPILLED_NOTE = ("half-filled markers: the weights are resident but the activations do not fit the "
                "activation SRAM and spill to DRAM")


def _spilled(g: pd.DataFrame) -> np.ndarray:
    """Whether each row's activations spill to DRAM (False without the column)."""
    if "act_spilled" not in g.columns or not g["act_spilled"].isin([True, False]).all():
        return np.zeros(len(g), dtype=bool)
    return g["act_spilled"].astype(bool).to_numpy()


def layer_lines(ax: Axes, groups: dict[str, pd.DataFrame], styles: dict[str, tuple[object, str]],
                x: str, y: Callable[[pd.DataFrame], np.ndarray], *, mark_tiled: bool = False) -> list[Line2D]:
    """One line per layer in its colour and marker; with ``mark_tiled`` the DRAM-tiled points'
    markers are hollow (``_tiled:<layer>``) and those whose activations alone spill to DRAM
    half-filled (``_spilled:<layer>``). Returns the legend handles."""
    handles = []
    for layer, g in groups.items():
        colour, marker = styles[layer]
        xs, ys = g[x].to_numpy(float), y(g)
        resident = base.residency(g) if mark_tiled else None
        if resident is None:
            ax.plot(xs, ys, color=colour, marker=marker, label=layer)
        else:
            spilled = resident & _spilled(g)
            clean = resident & ~spilled
            ax.plot(xs, ys, color=colour, label=layer)
            ax.plot(xs[clean], ys[clean], linestyle="none", marker=marker, color=colour,
                    label=f"_resident:{layer}")
            if spilled.any():
                ax.plot(xs[spilled], ys[spilled], linestyle="none", marker=marker, color=colour,
                        fillstyle="bottom", markerfacecoloralt="white", markeredgewidth=1.2,
                        label=f"_spilled:{layer}")
            if (~resident).any():
                ax.plot(xs[~resident], ys[~resident], linestyle="none", marker=marker, color=colour,
                        markerfacecolor="none", markeredgewidth=1.5, label=f"_tiled:{layer}")
        handles.append(Line2D([], [], color=colour, marker=marker, label=layer))
    return handles


def tiled_legend(groups: dict[str, pd.DataFrame]) -> tuple[list[Line2D], list[str], str]:
    """Legend entries and the caption note for the DRAM markers, when some point uses DRAM."""
    tiled = spilled = False
    for g in groups.values():
        r = base.residency(g)
        if r is not None:
            tiled |= bool((~r).any())
            spilled |= bool((r & _spilled(g)).any())
    if not (tiled or spilled):
        return [], [], ""
    handles = [Line2D([], [], linestyle="none", marker="o", color="gray")]
    labels, notes = [RESIDENT_LABEL], []
    if spilled:
        handles.append(Line2D([], [], linestyle="none", marker="o", color="gray", fillstyle="bottom",
                              markerfacecoloralt="white", markeredgewidth=1.2))
        labels.append(SPILLED_LABEL)
        notes.append(SPILLED_NOTE)
    if tiled:
        handles.append(Line2D([], [], linestyle="none", marker="o", color="gray", markerfacecolor="none",
                              markeredgewidth=1.5))
        labels.append(TILED_LABEL)
        notes.append(TILED_NOTE)
    return handles, labels, "\n".join(notes)


def _pe_axes(df: pd.DataFrame, what: str, y: str) -> dict[str, pd.DataFrame]:
    groups = base.series(df, "n_pes", [y], what)
    base.require_positive(df, y, what)
    few = {layer: sorted(g["n_pes"].tolist()) for layer, g in groups.items() if g["n_pes"].nunique() < 2}
    if few:
        raise EieInputError(f"{what} needs rows with at least two n_pes values per layer; got "
                            + "; ".join(f"{k}: {v}" for k, v in few.items()))
    return groups


def speedup_vs_pes(df: pd.DataFrame) -> Figure:
    """Speed-up over each layer's smallest PE count vs PE count (log-log), with the ideal linear line.

    The paper reports near-linear scaling except NT-We; the dashed line y = x / x_min shows the gap.
    DRAM-tiled points (``resident`` False) have hollow markers: a plateau there is DRAM bandwidth.
    """
    what = "speed-up vs PE count"
    groups = _pe_axes(df, what, "cycles")
    styles = base.styles(list(groups))
    fig = base.new_figure()
    ax = fig.add_subplot()
    handles: list[Line2D] = layer_lines(ax, groups, styles, "n_pes",
                                        lambda g: g["cycles"].iloc[0] / g["cycles"].to_numpy(float),
                                        mark_tiled=True)
    labels = base.layer_labels(groups)
    # One ideal line per distinct starting PE count (normally all layers share one).
    mins = sorted({float(g["n_pes"].iloc[0]) for g in groups.values()})
    for i, x0 in enumerate(mins):
        xs = np.array(sorted(v for v in df["n_pes"].unique() if v >= x0), dtype=float)
        (ideal,) = ax.plot(xs, xs / x0, color="black", linestyle="--", linewidth=1, zorder=1,
                           label="ideal (linear)" if i == 0 else "_ideal")
        if i == 0:
            handles.append(ideal)
            labels.append(ideal.get_label())
    more, more_labels, note = tiled_legend(groups)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log", base=2)
    base.plain_log2_axis(ax.xaxis, df["n_pes"].unique())
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
    ax.set_xlabel(base.field_label("n_pes"))
    start = f"{mins[0]:g} PE{'s' if mins[0] != 1 else ''}" if len(mins) == 1 else "each layer's fewest PEs"
    batch = base.batch_text(df)
    ax.set_ylabel(f"speed-up over {start} (×{', cycles ' + batch if batch else ''})")
    ax.grid(True, which="major", alpha=0.3)
    base.title(fig, "Speed-up vs PE count", ax, df)
    base.caption(fig, "speed-up = cycles at the fewest PEs / cycles", note, base.fixed_text(df, ["n_pes"]))
    base.legend(fig, handles + more, labels=labels + more_labels)
    return fig


def latency_vs_pes(df: pd.DataFrame) -> Figure:
    """Latency per inference (us) vs PE count (log-log), hollow markers where weights are DRAM-tiled.

    The speed-up plot hides the absolute time; this one shows where a layer's latency stops
    falling (DRAM bandwidth, the broadcast of the last activations, load imbalance).
    """
    what = "latency vs PE count"
    groups = _pe_axes(df, what, "time_s")
    styles = base.styles(list(groups))
    fig = base.new_figure()
    ax = fig.add_subplot()
    handles = layer_lines(ax, groups, styles, "n_pes", lambda g: 1e6 * g["time_s"].to_numpy(float),
                          mark_tiled=True)
    more, more_labels, note = tiled_legend(groups)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    base.plain_log2_axis(ax.xaxis, df["n_pes"].unique())
    base.plain_log_ticks(ax.yaxis)
    ax.set_xlabel(base.field_label("n_pes"))
    ax.set_ylabel(base.quantity("latency per inference", "us", df))
    ax.grid(True, which="major", alpha=0.3)
    base.title(fig, "Latency vs PE count", ax, df)
    base.caption(fig, note, base.fixed_text(df, ["n_pes"]))
    base.legend(fig, handles + more, labels=base.layer_labels(groups) + more_labels)
    return fig


def utilization_vs_fifo(df: pd.DataFrame) -> Figure:
    """Load-balance efficiency (PE utilisation, %) vs activation queue depth (log2 x).

    The paper: about half the cycles idle at depth 1, little gain beyond 8, NT-We balances worst.
    """
    what = "utilisation vs queue depth"
    groups = base.series(df, "queue_depth", ["pe_utilization"], what)
    base.need_x_values(df, "queue_depth", what)
    base.require_positive(df, "queue_depth", what)
    base.require_fraction(df, what)
    styles = base.styles(list(groups))
    fig = base.new_figure()
    ax = fig.add_subplot()
    handles = layer_lines(ax, groups, styles, "queue_depth",
                          lambda g: 100 * g["pe_utilization"].to_numpy(float))
    ax.set_xscale("log", base=2)
    base.plain_log2_axis(ax.xaxis, df["queue_depth"].unique())
    ax.set_ylim(0, 102)  # the full 0..100 % range, so a small imbalance is not exaggerated
    ax.set_xlabel(base.field_label("queue_depth"))
    ax.set_ylabel(base.quantity("load-balance efficiency", "PE utilisation, %", df))
    ax.grid(True, alpha=0.3)
    base.title(fig, "Load balance vs activation queue depth", ax, df)
    base.caption(fig, base.fixed_text(df, ["queue_depth"]))
    base.legend(fig, handles, labels=base.layer_labels(groups))
    return fig
