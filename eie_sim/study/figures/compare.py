"""Comparisons against a reference: micro-architecture variants against the default machine, and
the load-imbalance overhead against the paper's."""

from __future__ import annotations

import matplotlib as mpl
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from compressor.errors import EieInputError
from eie_sim.study.figures import base


def ablation(df: pd.DataFrame) -> Figure:
    """Cycles and energy of each micro-architecture variant relative to the default, per layer.

    ``df`` has columns layer, variant (the default one named ``"default"``), cycles, energy_j;
    two panels share the variants on x, one marker per layer. Both are changes in %, so no unit.
    """
    what = "ablation"
    base.require(df, ["layer", "variant", "cycles", "energy_j"], what)
    variants = list(dict.fromkeys(df["variant"]))
    if "default" not in variants:
        raise EieInputError(f"{what}: no 'default' variant to compare with")
    layers = base.layer_order(df)
    styles = base.styles(layers)
    ref = df[df["variant"] == "default"].set_index("layer")
    fig = base.new_figure((9.0, 4.4))
    axes = fig.subplots(1, 2, sharex=True)
    handles = []
    batch = base.batch_text(df)
    for ax, column, label in ((axes[0], "cycles", "cycles"), (axes[1], "energy_j", "energy per inference")):
        for layer in layers:
            g = df[df["layer"] == layer].set_index("variant").reindex(variants)
            colour, marker = styles[layer]
            (h,) = ax.plot(range(len(variants)), 100 * (g[column] / ref.loc[layer, column] - 1),
                           color=colour, marker=marker, linestyle="none", label=layer)
            handles.append(h)
        ax.axhline(0, color="gray", linewidth=0.8)
        ax.set_xticks(range(len(variants)), variants, rotation=40, ha="right", fontsize="small")
        ax.set_title(f"{label}: change vs default (%{', ' + batch if batch else ''})", fontsize="medium")
        ax.grid(True, axis="y", alpha=0.3)
    base.title(fig, "Micro-architecture ablation")
    base.caption(fig, "each variant changes one knob of the default machine",
                 base.fixed_text(df, ["queue_depth", "bypass", "ptr_banks"]))
    base.legend(fig, handles[: len(layers)],
                labels=[base.layer_desc(layer, df[df["layer"] == layer]) for layer in layers])
    return fig


def overhead_bars(table: pd.DataFrame, n_pes: int = 64) -> Figure:
    """Load-imbalance overhead (actual / theoretical - 1, %) per layer: the paper's beside ours.

    ``table`` has a ``layer`` column, ``paper (%)`` and, per sparsity model M, ``M mean (%)`` and
    ``M sd (%)`` (over seeds); ours are bars with one-sd error bars, the paper's a black tick.
    """
    what = "load-imbalance overhead"
    base.require(table, ["layer", "paper (%)"], what)
    models = [c[: -len(" mean (%)")] for c in table.columns if c.endswith(" mean (%)")]
    if not models:
        raise EieInputError(f"{what}: no '<model> mean (%)' columns")
    layers = list(table["layer"])
    x = np.arange(len(layers))
    width = 0.8 / len(models)
    fig = base.new_figure((9.0, 4.6))
    ax = fig.add_subplot()
    cmap = mpl.colormaps["tab10"]
    handles: list[object] = []
    top = float(table["paper (%)"].max())
    for i, model in enumerate(models):
        mean = table[f"{model} mean (%)"].to_numpy(float)
        sd = table[f"{model} sd (%)"].to_numpy(float) if f"{model} sd (%)" in table else None
        h = ax.bar(x - 0.4 + width * (i + 0.5), mean, width, yerr=sd, capsize=2, color=cmap(i),
                   label=f"ours, {model}")
        handles.append(h)
        top = max(top, float(np.nanmax(mean + (np.nan_to_num(sd) if sd is not None else 0))))
    (tick,) = ax.plot(x, table["paper (%)"], linestyle="none", marker="_", markersize=22, markeredgewidth=3,
                      color="black", label="paper (Table IV)")
    handles.append(tick)
    base.headroom(ax, top)
    ax.set_xticks(x, layers, rotation=30, ha="right")
    ax.set_ylabel("overhead: actual / theoretical - 1 (%)")
    ax.grid(True, axis="y", alpha=0.3)
    base.title(fig, f"Load imbalance at {n_pes} PEs")
    base.caption(fig, "bars: mean over seeds, error bars: one sd; black ticks: the paper's Table IV")
    base.legend(fig, handles, title=None)
    return fig
