"""Design-space plots of a sweep: the EIE paper's section 6 studies, drawn from a tidy DataFrame.

The input has one row per (layer, design point): the columns of ``Result.summary()`` plus ``layer``
and the config fields; a sweep CSV also has the dense baseline (``dense_*``) and, over a batch of
inputs, the mean figures with their ``_min`` / ``_max``. Every line plot draws one series per
layer and refuses data in which another config field also varies within a layer (filter first),
so a 2-D sweep is never silently averaged or zig-zagged into one line. :func:`plot_all` draws a
two-field sweep as heat maps instead, and fixes fields on request (:func:`parse_where`,
:func:`select_where`: ``eie plot --where queue_depth=8``).

Energy is in uJ on every plot (:func:`to_uj`, :data:`ENERGY_UNIT`). Figures are built with
:class:`matplotlib.figure.Figure` directly, not through pyplot: they render with Agg, never open a
window, and do not touch the caller's pyplot backend or figure list.
"""

from __future__ import annotations

import contextlib
import logging
import math
import textwrap
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import matplotlib as mpl
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.colors import LogNorm, Normalize
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle
from matplotlib.ticker import FixedLocator, FuncFormatter, LogFormatter, NullFormatter, NullLocator

from compressor.errors import EieInputError
from compressor.outputs import write_atomic
from eie_sim.config import FIELDS, FLAG, SimConfig
from eie_sim.energy import UNITS as ENERGY_UNITS
from eie_sim.fields import FALSE_WORDS, TRUE_WORDS
from eie_sim.units import PRICED

#: Each energy unit's name for people, from the unit's own declaration.
UNIT_NAMES = {u.NAME: u.TITLE for u in PRICED}
BREAKDOWN_COLUMNS = tuple(f"energy_breakdown_j.{u}" for u in ENERGY_UNITS)

#: The one energy unit of every plot (axis labels, heat-map cells, breakdown bars).
ENERGY_UNIT = "uJ"

#: Axis labels (with units) for config columns that can be an x-variable, a heat-map axis or a bar
#: category: each field's own label.
AXIS_LABELS = {f.name: f.axis_label for f in FIELDS}

#: Config fields whose variation changes the results (not ``check`` or ``max_cycles``).
CONFIG_COLUMNS = tuple(f.name for f in FIELDS if f.affects_results)
WIDTH_COLUMN = "word_bits"
# Columns that tell apart rows at the same design point, named first when duplicates are refused.
_IDENTITY_COLUMNS = ("seed", "sparsity", "engine", "energy_table")
# Non-config columns that must be one value per layer before plot_all draws (fix with --where).
_PINNED_COLUMNS = ("seed", "sparsity", "engine", "input_source")

PLOT_NAMES = ("speedup_vs_pes", "utilization_vs_fifo", "energy_breakdown", "spmat_energy_vs_width",
              "energy_vs_pes")

# Shapes as well as colours tell layers apart, so the plots survive greyscale printing.
_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">", "h")
_BASELINE_STYLES = ("--", "-.", ":", (0, (6, 2, 1, 2, 1, 2)), (0, (2, 1)))
_DENSE_STYLE = "--"  # the sweep's own dense accelerator; baselines then start at the next pattern
_BEST_COLOUR = "#d62728"
_SVG_HASHSALT = "eie-sim"  # fixed salt: SVG element ids depend only on the figure's content
_FIGSIZE = (7.5, 4.5)

_T = TypeVar("_T", float, np.ndarray, pd.Series)


# --- numbers and units --------------------------------------------------------------------------

def to_uj(joules: _T) -> _T:
    """Energy in J (a number, array or Series) in the plots' one unit, uJ."""
    return joules * 1e6


def _tick_num(v: float) -> str:
    """An axis tick as a plain number: 0.05, 2.5, 100, 1,000, 20,000 (no powers of ten)."""
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    return f"{v:.6g}"


def _num3(v: float) -> str:
    """Three significant digits, plain: 0.0123, 1.23, 12.3, 123, 1,234."""
    if v == 0 or not math.isfinite(v):
        return f"{v:g}"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    decimals = max(0, 2 - math.floor(math.log10(abs(v))))
    return f"{v:.{decimals}f}"


def _count(v: float) -> str:
    """A count such as cycles: 950, 9,500, 95.0k, 1.23M."""
    if abs(v) < 1e4:
        return f"{v:,.0f}"
    scale, suffix = next((s, x) for s, x in ((1e9, "G"), (1e6, "M"), (1e3, "k")) if abs(v) >= s)
    return f"{_num3(v / scale)}{suffix}"


def _value_text(v: object) -> str:
    """A field value as ``--where`` takes it: 8 (not 8.0), 800000000, 0.5, true, Alex-7."""
    if isinstance(v, bool | np.bool_):
        return "true" if v else "false"
    if isinstance(v, int | np.integer):
        return str(int(v))
    if isinstance(v, float | np.floating):
        return str(int(v)) if float(v).is_integer() and abs(v) < 1e15 else f"{v:g}"
    return str(v)


class _PlainLogFormatter(LogFormatter):
    """Log-axis labels as plain numbers (``fmt``), on the ticks matplotlib's default would label."""

    def __init__(self, fmt: Callable[[float], str] = _tick_num, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self._fmt = fmt

    def __call__(self, x: float, pos: int | None = None) -> str:
        return self._fmt(x) if super().__call__(x, pos) else ""


def _plain_log_ticks(axis: object, fmt: Callable[[float], str] = _tick_num) -> None:
    """Plain-number labels on a log axis (major and, over less than a decade or two, minor)."""
    axis.set_major_formatter(_PlainLogFormatter(fmt))
    axis.set_minor_formatter(_PlainLogFormatter(fmt, labelOnlyBase=False, minor_thresholds=(1, 0.4)))


def _batch_text(df: pd.DataFrame) -> str:
    """'mean over 8 inputs' when the rows summarise batches of more than one input, else ''."""
    if "batch_size" not in df.columns:
        return ""
    sizes = sorted({int(v) for v in pd.to_numeric(df["batch_size"], errors="coerce").dropna()})
    if not sizes or sizes[-1] <= 1:
        return ""
    return f"mean over {sizes[0]} inputs" if len(sizes) == 1 else f"mean over {sizes[0]}-{sizes[-1]} inputs"


def _quantity(name: str, unit: str, df: pd.DataFrame) -> str:
    """'energy per inference (uJ, mean over 8 inputs)': a quantity with its unit and batch note."""
    parts = [p for p in (unit, _batch_text(df)) if p]
    return f"{name} ({', '.join(parts)})" if parts else name


def _energy_label(name: str, df: pd.DataFrame) -> str:
    return _quantity(name, ENERGY_UNIT, df)


def _and(items: Sequence[str]) -> str:
    items = list(items)
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


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


def _require_bool(df: pd.DataFrame, column: str, what: str) -> None:
    if not df[column].isin([True, False]).all():
        # A CSV column of strings like "False" would otherwise all read as True.
        got = sorted(map(repr, df[column].unique()))
        raise EieInputError(f"{what}: {column} must be boolean; got {', '.join(got)}")


def _layer_order(df: pd.DataFrame) -> list[str]:
    """Layers in first-appearance order (a sweep lists them in the paper's order)."""
    return [str(v) for v in pd.unique(df["layer"])]


def _varying(df: pd.DataFrame, columns: Sequence[str],
             exclude: Sequence[str] = ()) -> dict[str, list[object]]:
    """Those of ``columns`` that take more than one value inside some layer, with their values."""
    out: dict[str, list[object]] = {}
    for c in columns:
        if c in df.columns and c not in exclude:
            if (df.groupby("layer", sort=False)[c].nunique(dropna=False) > 1).any():
                out[c] = sorted(df[c].dropna().unique().tolist())
    return out


def _varying_within_layers(df: pd.DataFrame, exclude: Sequence[str] = ()) -> dict[str, list[object]]:
    """Config columns that take more than one value inside some layer, with their values."""
    return _varying(df, CONFIG_COLUMNS, exclude)


def _check_one_row_per(df: pd.DataFrame, key: str | Sequence[str], what: str) -> None:
    """Each (layer, key...) must appear once; name the columns that tell duplicates apart."""
    keys = [key] if isinstance(key, str) else list(key)
    dup = df.duplicated(["layer", *keys], keep=False)
    if dup.any():
        rows = df.loc[dup]
        first = rows.iloc[0]
        same = rows[(rows["layer"] == first["layer"])
                    & np.logical_and.reduce([rows[k] == first[k] for k in keys])]
        differ = [str(c) for c in same.columns if same[c].astype(str).nunique() > 1]
        differ = sorted(differ, key=lambda c: c not in _IDENTITY_COLUMNS + CONFIG_COLUMNS)[:6]
        at = ", ".join(f"{k} = {first[k]}" for k in keys)
        raise EieInputError(
            f"{what}: layer {first['layer']!r} has {len(same)} rows at {at}; filter the "
            f"DataFrame to one row per (layer, {', '.join(keys)})"
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


# --- selecting rows: --where FIELD=VALUE --------------------------------------------------------

#: --where's words for a boolean field: the configuration's own.
_TRUE = set(TRUE_WORDS)
_FALSE = set(FALSE_WORDS)


def parse_where(items: Sequence[str] | None) -> dict[str, object]:
    """``["queue_depth=8", "layer=Alex-7"]`` as ``{"queue_depth": "8", "layer": "Alex-7"}``.

    Values stay text here; :func:`select_where` compares them with each column's type. A malformed
    item or a field given twice is an EieInputError naming the item.
    """
    out: dict[str, object] = {}
    for item in items or ():
        field, sep, value = str(item).partition("=")
        field, value = field.strip(), value.strip()
        if not sep or not field or not value:
            raise EieInputError(f"--where {item!r}: expected FIELD=VALUE, e.g. --where queue_depth=8")
        if field in out:
            raise EieInputError(f"--where {item!r}: {field} is already fixed to {out[field]}; give each "
                                "field once")
        out[field] = value
    return out


def _selectable(df: pd.DataFrame) -> list[str]:
    """The columns worth suggesting to --where: layer, the identity columns and the config fields."""
    return [c for c in ("layer", *_PINNED_COLUMNS, *CONFIG_COLUMNS, "batch_size") if c in df.columns]


def _values_text(values: Sequence[object], limit: int = 12) -> str:
    shown = [_value_text(v) for v in values[:limit]]
    return ", ".join(shown) + (f", ... ({len(values)} values)" if len(values) > limit else "")


def _is_bool_column(col: pd.Series) -> bool:
    if pd.api.types.is_bool_dtype(col):
        return True
    present = col.dropna()
    return col.dtype == object and not present.empty and present.map(
        lambda v: isinstance(v, bool | np.bool_)).all()


def _match(col: pd.Series, field: str, value: object, present: str) -> pd.Series:
    """Rows of ``col`` equal to ``value``: booleans as true/false/on/off, numbers numerically."""
    if _is_bool_column(col):
        text = str(value).strip().lower()
        if isinstance(value, bool | np.bool_) or text in _TRUE | _FALSE:
            want = bool(value) if isinstance(value, bool | np.bool_) else text in _TRUE
            return col.map(lambda v: v is not None and not pd.isna(v) and bool(v) == want)
        raise EieInputError(f"--where {field}={value}: {field} is true or false (also on/off); values "
                            f"present: {present}")
    if pd.api.types.is_numeric_dtype(col):
        try:
            want = float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise EieInputError(f"--where {field}={value}: {field} is a number; values present: "
                                f"{present}") from None
        x = col.to_numpy(float)
        return pd.Series(np.isclose(x, want, rtol=1e-9, atol=0.0) & ~np.isnan(x), index=col.index)
    return col.astype(str) == str(value)


def select_where(df: pd.DataFrame, where: Mapping[str, object] | None) -> pd.DataFrame:
    """The rows whose fields equal ``where``'s values (``--where``), one field after the other.

    A field that is not a column, or a value no remaining row has, is an EieInputError naming the
    field and listing the fields or values present.
    """
    narrowed = False
    for field, value in (where or {}).items():
        if field not in df.columns:
            flag = FLAG.get(field.lstrip("-").replace("-", "_"))
            known = flag is not None and flag.name in df.columns
            unit = f", in {flag.unit}" if known and flag.scale != 1 else ""
            hint = f" (the sweep's {flag.option} is the column {flag.name}{unit})" if known else ""
            raise EieInputError(f"--where {field}={value}: the results have no field {field!r}{hint}; fields "
                                f"you can fix: {', '.join(_selectable(df))}")
        col = df[field]
        present = _values_text(sorted(col.dropna().unique().tolist(), key=_sort_key))
        mask = _match(col, field, value, present)
        if not mask.any():
            raise EieInputError(f"--where {field}={value}: no row has {field} = {value}; values present"
                                f"{' (in the rows the other --where fields keep)' if narrowed else ''}: "
                                f"{present or 'none'}")
        df = df[mask.to_numpy(bool)]
        narrowed = True
    return df


def _sort_key(v: object) -> tuple[int, object]:
    """Numbers before text, numbers by value (a column may mix ints and floats)."""
    if isinstance(v, int | float | np.number) and not isinstance(v, bool | np.bool_):
        return (0, float(v))
    return (1, str(v))


# --- figure helpers -----------------------------------------------------------------------------

def _styles(layers: Sequence[str]) -> dict[str, tuple[object, str]]:
    """(colour, marker) per layer from a qualitative map; tab10 covers the paper's 9 layers."""
    cmap = mpl.colormaps["tab10" if len(layers) <= 10 else "tab20"]
    return {name: (cmap(i % cmap.N), _MARKERS[i % len(_MARKERS)]) for i, name in enumerate(layers)}


def _new_figure(figsize: tuple[float, float] = _FIGSIZE) -> Figure:
    # Constrained layout makes room for the legend outside the axes in both PNG and SVG.
    return Figure(figsize=figsize, layout="constrained")


def _layer_desc(layer: str, rows: pd.DataFrame) -> str:
    """'Alex-8 (4096→1000, act. density 37.5 %)': the shape of a benchmark layer (inputs → outputs)
    and the density of its input activations when the rows have one."""
    from eie_sim.workload.benchmarks import BENCHMARKS  # local: plots need only the table's shapes

    parts = []
    b = BENCHMARKS.get(str(layer))
    if b is not None:
        parts.append(f"{b.n_in}→{b.n_out}")
    if "input_density" in rows.columns:
        d = pd.to_numeric(rows["input_density"], errors="coerce").dropna().unique()
        if len(d) == 1:
            parts.append(f"act. density {_num3(100 * float(d[0]))} %")
    return f"{layer} ({', '.join(parts)})" if parts else str(layer)


def _one_layer(df: pd.DataFrame) -> str:
    """The layer's description when the rows hold one layer (a plot then names it), else ''."""
    layers = _layer_order(df)
    return _layer_desc(layers[0], df) if len(layers) == 1 else ""


def _fixed_note(df: pd.DataFrame, exclude: Sequence[str]) -> str:
    """'fixed: 64 PEs, queue depth 8, ...' for the main config fields constant over the whole plot."""
    formats: dict[str, Callable[[float], str]] = {
        "n_pes": lambda v: f"{v:g} PEs", "queue_depth": lambda v: f"queue depth {v:g}",
        "word_bits": lambda v: f"{v:g}-bit SRAM words",
        "spmat_bytes": lambda v: f"{v / 1024:g} KB sparse-matrix SRAM/PE", "regs": lambda v: f"{v:g} regs/PE",
        "clock_hz": lambda v: f"{v / 1e6:g} MHz",
    }
    parts = [fmt(df[c].iloc[0]) for c, fmt in formats.items()
             if c in df.columns and c not in exclude and df[c].nunique(dropna=False) == 1]
    return _wrap("fixed:", parts)


def _wrap(head: str, parts: Sequence[str], width: int = 75) -> str:
    """``head`` then ``parts`` comma-separated, wrapped between items (never inside one)."""
    if not parts:
        return ""
    lines = [head]
    for i, part in enumerate(parts):
        if len(lines[-1]) + len(part) + 2 > width:
            lines[-1] += "," if i else ""
            lines.append(part)
        else:
            lines[-1] += ("," if i else "") + " " + part
    return "\n".join(lines)


def _titles(fig: Figure, ax: Axes, title: str, note: str, df: pd.DataFrame | None = None) -> None:
    """A short figure title (it spans the legend too), and above ``ax`` the layer (when ``df`` holds
    one) and the note in small grey type."""
    fig.suptitle(title, x=0.01, ha="left")  # left: clear of the legend on the right
    sub = "\n".join(p for p in (_one_layer(df) if df is not None else "", note) if p)
    if sub:
        ax.set_title(sub, fontsize="small", color="dimgray")


def _suptitle(fig: Figure, text: str) -> None:
    """A figure title in medium type, each line wrapped to the figure's width (constrained layout
    does not widen a figure for its title)."""
    width = max(20, int(fig.get_figwidth() * 11))  # characters of medium type per line
    fig.suptitle("\n".join(textwrap.fill(line, width) for line in text.splitlines()), fontsize="medium",
                 x=0.01, ha="left")


def _plain_log2_axis(axis: object, ticks: Sequence[float]) -> None:
    """Ticks at the swept values, printed as plain numbers (64, not 2^6)."""
    axis.set_major_locator(FixedLocator(sorted(set(float(t) for t in ticks))))
    axis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
    axis.set_minor_locator(NullLocator())
    axis.set_minor_formatter(NullFormatter())


def _legend(fig: Figure, handles: Sequence[object], title: str | None = "layer",
            labels: Sequence[str] | None = None) -> None:
    handles = list(handles)
    labels = list(labels) if labels is not None else [h.get_label() for h in handles]
    fig.legend(handles, labels, loc="outside right upper", fontsize="small", title=title,
               title_fontsize="small", frameon=False)


# --- line plots ---------------------------------------------------------------------------------

def _layer_lines(ax: Axes, series: dict[str, pd.DataFrame], styles: dict[str, tuple[object, str]],
                 x: str, y: Callable[[pd.DataFrame], np.ndarray]) -> list[Line2D]:
    """One line per layer, in the layer's colour and marker; returns the legend handles."""
    handles = []
    for layer, g in series.items():
        colour, marker = styles[layer]
        (line,) = ax.plot(g[x].to_numpy(float), y(g), color=colour, marker=marker, label=layer)
        handles.append(line)
    return handles


def _layer_labels(series: dict[str, pd.DataFrame]) -> list[str]:
    return [_layer_desc(layer, g) for layer, g in series.items()]


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
    handles: list[Line2D] = _layer_lines(ax, series, styles, "n_pes",
                                         lambda g: g["cycles"].iloc[0] / g["cycles"].to_numpy(float))
    labels = _layer_labels(series)
    # One ideal line per distinct starting PE count (normally all layers share one).
    mins = sorted({float(g["n_pes"].iloc[0]) for g in series.values()})
    for i, x0 in enumerate(mins):
        xs = np.array(sorted(v for v in df["n_pes"].unique() if v >= x0), dtype=float)
        (ideal,) = ax.plot(xs, xs / x0, color="black", linestyle="--", linewidth=1, zorder=1,
                           label="ideal (linear)" if i == 0 else "_ideal")
        if i == 0:
            handles.append(ideal)
            labels.append(ideal.get_label())
    ax.set_xscale("log", base=2)
    ax.set_yscale("log", base=2)
    _plain_log2_axis(ax.xaxis, df["n_pes"].unique())
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
    ax.set_xlabel(AXIS_LABELS["n_pes"])
    base = f"{mins[0]:g} PE{'s' if mins[0] != 1 else ''}" if len(mins) == 1 else "each layer's fewest PEs"
    batch = _batch_text(df)
    ax.set_ylabel(f"speed-up over {base} (×{', cycles ' + batch if batch else ''})")
    ax.grid(True, which="major", alpha=0.3)
    _titles(fig, ax, "Speed-up vs PE count (cycles at fewest PEs / cycles)", _fixed_note(df, ["n_pes"]), df)
    _legend(fig, handles, labels=labels)
    return fig


def utilization_vs_fifo(df: pd.DataFrame) -> Figure:
    """Load-balance efficiency (PE utilisation, %) vs activation queue depth (log2 x).

    The paper: about half the cycles idle at depth 1, little gain beyond 8, NT-We balances worst.
    """
    what = "utilisation vs queue depth"
    series = _series(df, "queue_depth", ["pe_utilization"], what)
    _need_x_values(df, "queue_depth", what)
    _require_positive(df, "queue_depth", what)
    _require_fraction(df, what)
    styles = _styles(list(series))
    fig = _new_figure()
    ax = fig.add_subplot()
    handles = _layer_lines(ax, series, styles, "queue_depth",
                           lambda g: 100 * g["pe_utilization"].to_numpy(float))
    ax.set_xscale("log", base=2)
    _plain_log2_axis(ax.xaxis, df["queue_depth"].unique())
    ax.set_ylim(0, 102)  # the full 0..100 % range, so a small imbalance is not exaggerated
    ax.set_xlabel(AXIS_LABELS["queue_depth"])
    ax.set_ylabel(_quantity("load-balance efficiency", "PE utilisation, %", df))
    ax.grid(True, alpha=0.3)
    _titles(fig, ax, "Load balance vs activation queue depth", _fixed_note(df, ["queue_depth"]), df)
    _legend(fig, handles, labels=_layer_labels(series))
    return fig


def _require_fraction(df: pd.DataFrame, what: str) -> None:
    u = df["pe_utilization"]
    if ((u < 0) | (u > 1)).any():
        # Catches a column already in percent, which would otherwise plot as 100x too high.
        raise EieInputError(f"{what}: pe_utilization must be a fraction in 0..1; got values from "
                            f"{u.min():g} to {u.max():g}")


def energy_breakdown(df: pd.DataFrame, by: str = "layer") -> Figure:
    """Stacked bars of energy per inference (uJ) by hardware unit, one bar per ``by`` value.

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
    cmap = mpl.colormaps["Set2"]  # not tab10: unit colours must not look like layer colours
    n = len(panels)
    ncols = min(3, n)
    nrows = math.ceil(n / ncols)
    fig = _new_figure(_FIGSIZE if n == 1 else (3.6 * ncols + 2.2, 2.8 * nrows + 0.8))
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax in axes[n:]:
        fig.delaxes(ax)
    ylabel = _energy_label("energy per inference", df)
    for i, (ax, (layer, g)) in enumerate(zip(axes, panels.items(), strict=False)):
        labels = [str(v) if by == "layer" else _value_text(v) for v in g[by]]
        pos = np.arange(len(g))
        bottom = np.zeros(len(g))
        for j, (u, col) in enumerate(zip(ENERGY_UNITS, BREAKDOWN_COLUMNS, strict=True)):
            heights = to_uj(g[col].to_numpy(float))
            ax.bar(pos, heights, bottom=bottom, color=cmap(j), label=UNIT_NAMES[u], width=0.7)
            bottom += heights
        ax.set_xticks(pos, labels, rotation=30 if by == "layer" and len(g) > 4 else 0,
                      ha="right" if by == "layer" and len(g) > 4 else "center")
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: _tick_num(v)))
        if layer:
            ax.set_title(_layer_desc(layer, g), fontsize="medium")
        if i + ncols >= n:  # the bottom panel of each column
            ax.set_xlabel("layer" if by == "layer" else AXIS_LABELS.get(by, by))
        if i % ncols == 0:
            ax.set_ylabel(ylabel)
        ax.grid(True, axis="y", alpha=0.3)
    note = _fixed_note(df, [by])
    title = "Energy per inference by hardware unit"
    handles, labels = axes[0].get_legend_handles_labels()
    if n == 1:
        _titles(fig, axes[0], title, note, df)
        # Reversed so the legend reads top-down like the stack.
        fig.legend(handles[::-1], labels[::-1], loc="outside right upper", fontsize="small",
                   title="unit", title_fontsize="small", frameon=False)
    else:
        # Panels are titled by layer; the legend goes below so the title can span the figure.
        _suptitle(fig, title + (f"\n{note}" if note else ""))
        fig.legend(handles, labels, loc="outside lower center", ncols=4, fontsize="small",
                   title="unit", title_fontsize="small", frameon=False)
    return fig


def spmat_energy_vs_width(df: pd.DataFrame, y: str = "energy_breakdown_j.spmat_read") -> Figure:
    """Sparse-matrix SRAM read energy (uJ) vs SRAM width (log2 x), each layer's minimum starred.

    Narrow words cost more reads, wide words waste bits on padding; the paper finds 64 bits best.
    ``y`` is the energy column in J (default: the unit's whole energy, static share included).
    """
    what = "sparse-matrix read energy vs SRAM width"
    w = WIDTH_COLUMN
    series = _series(df, w, [y], what)
    _need_x_values(df, w, what)
    _require_positive(df, w, what)
    _require_positive(df, y, what)
    styles = _styles(list(series))
    fig = _new_figure()
    ax = fig.add_subplot()
    handles: list[Line2D] = []
    for layer, g in series.items():
        colour, marker = styles[layer]
        x = g[w].to_numpy(float)
        e = to_uj(g[y].to_numpy(float))
        (line,) = ax.plot(x, e, color=colour, marker=marker, label=layer)
        handles.append(line)
        k = int(np.argmin(e))  # ties go to the narrowest width
        ax.plot([x[k]], [e[k]], linestyle="none", marker="*", markersize=15, color=colour,
                markeredgecolor="black", markeredgewidth=0.6, zorder=3, label=f"_min:{layer}")
    labels = _layer_labels(series)
    handles.append(Line2D([], [], linestyle="none", marker="*", markersize=12, color="lightgray",
                          markeredgecolor="black", markeredgewidth=0.6, label="minimum of the layer"))
    labels.append("minimum of the layer")
    ax.set_xscale("log", base=2)
    # Log y only when layers differ by orders of magnitude; otherwise the minima are easier to see.
    if df[y].max() / df[y].min() > 30:
        ax.set_yscale("log")
        _plain_log_ticks(ax.yaxis)
    else:
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: _tick_num(v)))
    _plain_log2_axis(ax.xaxis, df[w].unique())
    ax.set_xlabel(AXIS_LABELS[w])
    ax.set_ylabel(_energy_label("sparse-matrix SRAM read energy per inference", df))
    ax.grid(True, alpha=0.3)
    _titles(fig, ax, "Sparse-matrix SRAM read energy vs SRAM width", _fixed_note(df, [w]), df)
    _legend(fig, handles, labels=labels)
    return fig


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
        return ("dense: 16-bit weights stream from DRAM (hollow) until they fit\n"
                f"the SRAMs of {counts.pop():g} PEs, hence its drop")
    return _wrap("dense: 16-bit weights stream from DRAM (hollow) until they fit the SRAMs:",
                 [f"{layer} from {n:g} PEs" for layer, n in fits_from.items()])


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
    series = _series(df, "n_pes", ["energy_j", "resident"], what)
    _need_x_values(df, "n_pes", what)
    _require_positive(df, "n_pes", what)
    _require_positive(df, "energy_j", what)
    _require_bool(df, "resident", what)
    band = _has_band(df)
    if band:
        _require_positive(df, "energy_j_min", what)
    draw_dense = dense and "dense_energy_j" in df.columns and bool(df["dense_energy_j"].notna().any())
    if draw_dense:
        _require_positive(df[df["dense_energy_j"].notna()], "dense_energy_j", what)
    styles = _styles(list(series))
    if by_layer:
        fig = _new_figure((4.0 * len(series) + 2.5, 4.6))
        axes = list(np.atleast_1d(fig.subplots(1, len(series), sharey=True)))
    else:
        fig = _new_figure((8.5, 5))
        axes = [fig.add_subplot()] * len(series)
    handles: list[object] = []
    labels: list[str] = []
    fits_from: dict[str, float] = {}
    for ax, (layer, g) in zip(axes, series.items(), strict=True):
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
            ax.set_title(_layer_desc(layer, g), fontsize="small")
        else:
            handles.append(Line2D([], [], color=colour, marker=marker))
            labels.append(_layer_desc(layer, g))
    grey = "black" if by_layer else "gray"
    if by_layer:
        handles.append(Line2D([], [], color=grey, marker="o"))
        labels.append("EIE (compressed)")
    handles.append(Line2D([], [], linestyle="none", marker="o", color=grey))
    labels.append("weights resident in SRAM")
    handles.append(Line2D([], [], linestyle="none", marker="o", color=grey, markerfacecolor="none",
                          markeredgewidth=1.5))
    labels.append("DRAM-tiled (weights streamed)")
    if draw_dense:
        handles.append(Line2D([], [], color=grey, linestyle=_DENSE_STYLE))
        labels.append("dense accelerator (16-bit weights)")
    if band:
        handles.append(Patch(facecolor="gray", alpha=0.3, linewidth=0))
        labels.append("EIE min..max" + (_batch_text(df).removeprefix("mean") or " over the inputs"))
    if baselines is not None:
        drawn: list[Line2D] = []
        for ax, layer in zip(axes, series, strict=True):
            if by_layer or not drawn:
                drawn = _draw_baselines(ax, baselines, styles if not by_layer else {layer: styles[layer]},
                                        what, skip_dash=draw_dense, own_colours=by_layer)
        for h in drawn:
            handles.append(h)
            labels.append(h.get_label())
    for ax in dict.fromkeys(axes):
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        _plain_log2_axis(ax.xaxis, df["n_pes"].unique())
        _plain_log_ticks(ax.yaxis)
        ax.set_xlabel(AXIS_LABELS["n_pes"])
        ax.grid(True, which="major", alpha=0.3)
    axes[0].set_ylabel(_energy_label("energy per inference", df))
    note = "\n".join(p for p in (_fixed_note(df, ["n_pes"]), _dense_note(fits_from), _accuracy_note(df)) if p)
    if by_layer:
        _suptitle(fig, "Energy per inference vs PE count" + (f"\n{note}" if note else ""))
    else:
        _titles(fig, axes[0], "Energy per inference vs PE count", note, df)
    _legend(fig, handles, title=None, labels=labels)
    return fig


#: Baseline colours when each has its own (small multiples): apart from the layers' tab10 colours.
_BASELINE_COLOURS = ("black", "#8c564b", "#7f7f7f", "#bcbd22", "#17becf")


def _draw_baselines(ax: Axes, baselines: pd.DataFrame, styles: dict[str, tuple[object, str]],
                    what: str, *, skip_dash: bool = False, own_colours: bool = False) -> list[Line2D]:
    """Baseline lines of the layers in ``styles``, in each layer's colour (or, with
    ``own_colours``, one colour per baseline); returns one legend handle per baseline name.

    ``skip_dash`` leaves the first dash pattern to the sweep's own dense line.
    """
    _require(baselines, ["layer", "baseline", "n_pes", "energy_j"], f"{what} baselines", nullable=["n_pes"])
    b = baselines.assign(layer=baselines["layer"].astype(str))
    b = b[b["layer"].isin(list(styles))]
    if b.empty:
        have = sorted(baselines["layer"].astype(str).unique())
        raise EieInputError(f"{what}: no baseline row names a plotted layer; baselines have {have}, "
                            f"the sweep has {list(styles)}")
    _require_positive(b, "energy_j", f"{what} baselines")
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


def ablation(df: pd.DataFrame) -> Figure:
    """Cycles and energy of each micro-architecture variant relative to the default, per layer.

    ``df`` has columns layer, variant (the default one named ``"default"``), cycles, energy_j;
    two panels share the variants on x, one marker per layer. Both are changes in %, so no unit.
    """
    what = "ablation"
    _require(df, ["layer", "variant", "cycles", "energy_j"], what)
    variants = list(dict.fromkeys(df["variant"]))
    if "default" not in variants:
        raise EieInputError(f"{what}: no 'default' variant to compare with")
    layers = _layer_order(df)
    styles = _styles(layers)
    base = df[df["variant"] == "default"].set_index("layer")
    fig = _new_figure((9.0, 4.2))
    axes = fig.subplots(1, 2, sharex=True)
    handles = []
    batch = _batch_text(df)
    for ax, column, label in ((axes[0], "cycles", "cycles"), (axes[1], "energy_j", "energy per inference")):
        for layer in layers:
            g = df[df["layer"] == layer].set_index("variant").reindex(variants)
            colour, marker = styles[layer]
            (h,) = ax.plot(range(len(variants)), 100 * (g[column] / base.loc[layer, column] - 1),
                           color=colour, marker=marker, linestyle="none", label=layer)
            handles.append(h)
        ax.axhline(0, color="gray", linewidth=0.8)
        ax.set_xticks(range(len(variants)), variants, rotation=40, ha="right", fontsize="small")
        ax.set_ylabel(f"{label}: change vs default (%{', ' + batch if batch else ''})")
        ax.grid(True, axis="y", alpha=0.3)
    note = _fixed_note(df, ["queue_depth"])
    _suptitle(fig, "Micro-architecture ablation" + (f"\n{note}" if note else ""))
    _legend(fig, handles[: len(layers)],
            labels=[_layer_desc(layer, df[df["layer"] == layer]) for layer in layers])
    return fig


# --- heat maps ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class HeatmapMetric:
    """What a heat map shows: a column, converted for display, and which end is best."""

    column: str
    name: str  # "energy per inference"
    unit: str  # "uJ", "%", or "" (cycles are their own unit)
    convert: Callable[[np.ndarray], np.ndarray]
    cell: Callable[[float], str]  # text in a cell
    tick: Callable[[float], str]  # colour-bar tick
    best: str  # "min" or "max"
    log: bool  # colour scale in log when the values span more than a decade
    limits: tuple[float, float] | None = None  # a fixed colour scale


HEATMAP_METRICS: dict[str, HeatmapMetric] = {
    "cycles": HeatmapMetric("cycles", "cycles per inference", "", lambda v: v, _count, _count, "min", True),
    "utilization": HeatmapMetric("pe_utilization", "PE utilisation", "%", lambda v: 100 * v,
                                 lambda v: f"{v:.0f}", _tick_num, "max", False, (0.0, 100.0)),
    "energy": HeatmapMetric("energy_j", "energy per inference", ENERGY_UNIT, to_uj, _num3, _tick_num,
                            "min", True),
    "spmat_energy": HeatmapMetric("energy_breakdown_j.spmat_read", "sparse-matrix SRAM read energy",
                                  ENERGY_UNIT, to_uj, _num3, _tick_num, "min", True),
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

    ``metric`` is a key of :data:`HEATMAP_METRICS`: ``cycles``, ``utilization`` (%), ``energy`` (uJ)
    or ``spmat_energy`` (uJ). Each panel has its own colour scale (what matters is a layer's best
    design point, not the layers' sizes) and outlines its best cell; missing points stay grey.
    """
    if metric not in HEATMAP_METRICS:
        raise EieInputError(f"heat map: unknown metric {metric!r}; choose one of "
                            f"{', '.join(HEATMAP_METRICS)}")
    m = HEATMAP_METRICS[metric]
    what = f"{m.name} heat map"
    if x == y:
        raise EieInputError(f"{what} needs two different fields; got {x} twice")
    _require(df, ["layer", x, y, m.column], what)
    others = _varying_within_layers(df, exclude=[x, y])
    if others:
        c, values = next(iter(others.items()))
        raise EieInputError(f"{what} shows two fields ({x}, {y}), but {c} also varies within a layer "
                            f"(values {values}); filter the DataFrame to one {c} first")
    _check_one_row_per(df, [x, y], what)
    if metric == "utilization":
        _require_fraction(df, what)
    xs = sorted(df[x].unique().tolist(), key=_sort_key)
    ys = sorted(df[y].unique().tolist(), key=_sort_key)
    layers = _layer_order(df)
    n = len(layers)
    ncols = min(3, n)
    nrows = math.ceil(n / ncols)
    panel = (max(3.4, 1.9 + 0.62 * len(xs)), max(2.4, 1.3 + 0.38 * len(ys)))
    fig = _new_figure((max(6.0, panel[0] * ncols + 0.4), panel[1] * nrows + 1.1))
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax in axes[n:]:
        fig.delaxes(ax)
    cells = len(xs) * len(ys)
    fontsize = "small" if cells <= 20 else "x-small" if cells <= 400 else None  # cells keep their size
    cmap = mpl.colormaps["viridis"]
    groups = {str(k): g for k, g in df.groupby("layer", sort=False)}
    for i, (ax, layer) in enumerate(zip(axes, layers, strict=False)):
        g = groups[layer]
        z = m.convert(g.pivot(index=y, columns=x, values=m.column).reindex(index=ys, columns=xs)
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
        if finite.any():
            masked = np.where(finite, z, np.inf if m.best == "min" else -np.inf)
            j, k = np.unravel_index(int(np.argmin(masked) if m.best == "min" else np.argmax(masked)), z.shape)
            ax.add_patch(Rectangle((k - 0.5, j - 0.5), 1, 1, fill=False, edgecolor=_BEST_COLOUR,
                                   linewidth=2, zorder=3, label=f"_best:{layer}"))
        ax.set_xticks(range(len(xs)), [_value_text(v) for v in xs])
        ax.set_yticks(range(len(ys)), [_value_text(v) for v in ys])
        ax.set_xlim(-0.5, len(xs) - 0.5)
        ax.set_ylim(-0.5, len(ys) - 0.5)
        ax.set_title(_layer_desc(layer, g), fontsize="medium")
        if i + ncols >= n:
            ax.set_xlabel(AXIS_LABELS.get(x, x))
        if i % ncols == 0:
            ax.set_ylabel(AXIS_LABELS.get(y, y))
        cb = fig.colorbar(mesh, ax=ax, fraction=0.08, pad=0.02)
        cb.set_label(m.unit or "cycles")
        if isinstance(norm, LogNorm):
            _plain_log_ticks(cb.ax.yaxis, m.tick)
        else:
            cb.ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos, f=m.tick: f(v)))
    title = f"{_quantity(m.name, m.unit, df)} over {AXIS_LABELS.get(x, x)} × {AXIS_LABELS.get(y, y)}"
    title = title[0].upper() + title[1:]
    best = f"outlined: each layer's {'lowest' if m.best == 'min' else 'highest'}"
    note = _fixed_note(df, [x, y])
    note = f"{note.replace(chr(10), ' ')}; {best}" if note else best
    _suptitle(fig, f"{title}\n{note}")
    return fig


# --- output -------------------------------------------------------------------------------------

def _outputs(path_stem: str | Path) -> list[Path]:
    stem = str(path_stem)
    return [Path(stem + ".png"), Path(stem + ".svg")]


def _check_targets(paths: Sequence[Path], force: bool) -> None:
    """Refuse before anything is written: a directory in the way, or existing files without force."""
    for p in paths:
        if p.is_dir():
            raise EieInputError(f"{p}: is a directory; a plot needs a file path there")
    clash = [p for p in paths if p.exists()]
    if clash and not force:
        if len(clash) == 1:
            raise EieInputError(f"{clash[0]}: already exists; use --force to overwrite")
        folders = {p.parent for p in clash}
        names = ", ".join(p.name if len(folders) == 1 else str(p) for p in clash)
        where = f" in {clash[0].parent}" if len(folders) == 1 else ""
        raise EieInputError(f"{len(clash)} plot files already exist{where}: {names}; "
                            "use --force to overwrite")


def _check_out_dir(out: Path) -> None:
    """``out`` must be a directory or creatable as one."""
    if out.exists() and not out.is_dir():
        raise EieInputError(f"{out}: is a file; give a directory for the plots")
    for parent in out.parents:
        if parent.exists():
            if not parent.is_dir():
                raise EieInputError(f"{out}: {parent} is a file; give a directory for the plots")
            break


def overhead_bars(table: pd.DataFrame) -> Figure:
    """Load-imbalance overhead (actual / theoretical - 1, %) per layer: the paper's beside ours.

    ``table`` has a ``layer`` column, ``paper`` and, per sparsity model M, ``M mean`` and
    ``M sd`` (over seeds); ours are bars with one-sd error bars, the paper's a black tick.
    """
    what = "load-imbalance overhead"
    _require(table, ["layer", "paper"], what)
    models = [c[: -len(" mean")] for c in table.columns if c.endswith(" mean")]
    if not models:
        raise EieInputError(f"{what}: no '<model> mean' columns")
    layers = list(table["layer"])
    x = np.arange(len(layers))
    width = 0.8 / len(models)
    fig = _new_figure((9.0, 4.5))
    ax = fig.add_subplot()
    cmap = mpl.colormaps["tab10"]
    handles: list[object] = []
    for i, model in enumerate(models):
        h = ax.bar(x - 0.4 + width * (i + 0.5), table[f"{model} mean"], width,
                   yerr=table.get(f"{model} sd"), capsize=2, color=cmap(i), label=f"ours, {model}")
        handles.append(h)
    (tick,) = ax.plot(x, table["paper"], linestyle="none", marker="_", markersize=22, markeredgewidth=3,
                      color="black", label="paper (Table IV)")
    handles.append(tick)
    ax.set_xticks(x, layers, rotation=30, ha="right")
    ax.set_ylabel("overhead: actual / theoretical - 1 (%)")
    ax.grid(True, axis="y", alpha=0.3)
    _titles(fig, ax, "Load imbalance at 64 PEs", "bars: mean over seeds, error bars: one sd")
    _legend(fig, handles, title=None)
    return fig


def save(fig: Figure, path_stem: str | Path, *, force: bool = False) -> list[Path]:
    """Write ``path_stem``.png (150 dpi) and .svg atomically, then close ``fig``; returns the paths.

    Both targets are checked before either is written, so a refusal leaves nothing half-done (and
    the figure open, for a retry with ``force``). The SVG has no date and a fixed hash salt, so the
    same data gives the same bytes.
    """
    png, svg = _outputs(path_stem)
    _check_targets([png, svg], force)
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


# --- plot_all -----------------------------------------------------------------------------------

#: plot_all's line plots: name -> (x column, the heat-map metric drawn when one more field varies).
_LINE_PLOTS = {
    "speedup_vs_pes": ("n_pes", "cycles"),
    "utilization_vs_fifo": ("queue_depth", "utilization"),
    "spmat_energy_vs_width": (WIDTH_COLUMN, "spmat_energy"),
    "energy_vs_pes": ("n_pes", "energy"),
}
_DEFAULTS = SimConfig().to_dict()


def _where_hint(varying: Mapping[str, list[object]], joiner: str = "or") -> str:
    """'--where queue_depth=8 (values: 2, 8) or --where n_pes=64 (values: ...)': each field at the
    paper's design value when the sweep has it (else its first value); later config fields first,
    since n_pes is the usual x-variable."""
    order = sorted(varying, key=lambda c: -CONFIG_COLUMNS.index(c) if c in CONFIG_COLUMNS else 1)
    parts = []
    for c in order:
        values = varying[c]
        default = _DEFAULTS.get(c)
        pick = next((v for v in values if default is not None and v == default), values[0])
        parts.append(f"--where {c}={_value_text(pick)} (values: {_values_text(values)})")
    return f" {joiner} ".join(parts)


def _plan(df: pd.DataFrame, baselines: pd.DataFrame | None
          ) -> tuple[list[tuple[str, Callable[[], Figure]]], list[str]]:
    """Which figures to make (name, maker) and the notes on what is drawn differently or skipped."""
    varying = _varying_within_layers(df)
    pinned = _varying(df, _PINNED_COLUMNS)
    fields_ = _and(list(varying))
    if pinned:
        reason = (f"{_and(list(pinned))} {'varies' if len(pinned) == 1 else 'vary'} within a layer; "
                  f"choose one with {_where_hint(pinned, 'and')}")
    elif len(varying) > 2:
        extra = len(varying) - 2
        reason = (f"{fields_} vary and a plot shows at most two (a heat map); fix "
                  f"{'one' if extra == 1 else extra} of them with {_where_hint(varying)}")
    elif len(varying) == 2:
        reason = f"{fields_} vary and its stacked bars show one; fix one with {_where_hint(varying)}"
    else:
        reason = ""
    lines = {"speedup_vs_pes": lambda: speedup_vs_pes(df),
             "utilization_vs_fifo": lambda: utilization_vs_fifo(df),
             "spmat_energy_vs_width": lambda: spmat_energy_vs_width(df),
             "energy_vs_pes": lambda: energy_vs_pes(df, baselines)}
    plan: list[tuple[str, Callable[[], Figure]]] = []
    skipped: list[str] = []
    heat: list[str] = []
    for name in PLOT_NAMES:
        if name == "energy_breakdown":
            if reason:
                skipped.append(name)
            else:  # by the one swept field (a panel per layer), or by layer when nothing is swept
                by = next(iter(varying), "layer")
                plan.append((name, lambda by=by: energy_breakdown(df, by=by)))
            continue
        x, metric = _LINE_PLOTS[name]
        if x not in varying:
            continue  # nothing to draw along x
        if pinned or len(varying) > 2:
            skipped.append(name)
        elif len(varying) == 1:
            plan.append((name, lines[name]))
        else:
            fx, fy = sorted(varying, key=CONFIG_COLUMNS.index)
            plan.append((f"{metric}_heatmap", lambda m=metric, fx=fx, fy=fy: heatmap(df, m, fx, fy)))
            heat.append(HEATMAP_METRICS[metric].name)
    notes = []
    if heat:
        drawn = "is a heat map" if len(heat) == 1 else "are heat maps"
        notes.append(f"{fields_} both vary, so {_and(heat)} {drawn} over the two; for line plots fix one "
                     f"with {_where_hint(varying)}")
    if skipped:
        notes.append(f"skipped {', '.join(skipped)}: {reason}")
    return plan, notes


@contextlib.contextmanager
def _quiet() -> Iterator[list[warnings.WarningMessage]]:
    """Record Python warnings (plot_all turns them into notes) and hush matplotlib's log messages."""
    logger = logging.getLogger("matplotlib")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield caught
    finally:
        logger.setLevel(level)


def plot_all(df: pd.DataFrame, out_dir: str | Path, *, where: Mapping[str, object] | None = None,
             stem: str = "", baselines: pd.DataFrame | None = None,
             force: bool = False) -> tuple[list[Path], list[str]]:
    """Make and save every plot the sweep supports into ``out_dir``; returns (paths written, notes).

    ``where`` first keeps the rows with those field values (:func:`select_where`). A line plot whose
    x-variable does not vary within a layer is left out silently. If its x-variable varies alongside
    exactly one other config field, it becomes a heat map over both (``cycles_heatmap``,
    ``utilization_heatmap``, ``energy_heatmap``, ``spmat_energy_heatmap``); the energy breakdown is
    drawn by layer (nothing swept) or by the one swept field. Plots that would need more fields, or
    rows with more than one seed, sparsity, engine or input source per layer, are skipped. Each such
    choice is a one-line note (plain text suggesting ``--where FIELD=VALUE`` with the values
    present); Python warnings raised while plotting become notes too, and matplotlib's log messages
    are hushed. Files are named ``{stem}_{plot}.png`` / ``.svg`` (``{plot}`` without a stem).

    Nothing is written until every output path is checked (existing files without ``force`` are one
    EieInputError listing them all) and every figure is built (bad data is an EieInputError);
    ``out_dir`` is created if missing.
    """
    _require(df, ["layer"], "plot_all")
    out = Path(out_dir)
    _check_out_dir(out)
    with _quiet() as caught:
        df = select_where(df, where)
        plan, notes = _plan(df, baselines)
        prefix = f"{stem}_" if stem else ""
        stems = [out / f"{prefix}{name}" for name, _ in plan]
        _check_targets([p for s in stems for p in _outputs(s)], force)
        figs: list[Figure] = []
        try:
            for _, make in plan:
                figs.append(make())
        except BaseException:
            for fig in figs:
                _close(fig)
            raise
        paths: list[Path] = []
        if plan:
            out.mkdir(parents=True, exist_ok=True)
        for fig, s in zip(figs, stems, strict=True):
            paths += save(fig, s, force=force)
    seen = set()
    for w in caught:
        first = (str(w.message).strip().splitlines() or [""])[0]
        text = f"plotting warned ({w.category.__name__}): {first}"
        if text not in seen:
            seen.add(text)
            notes.append(text)
    return paths, notes
