"""What every figure shares: units and number formats, input checks, layout and saving.

Figures are built with :class:`matplotlib.figure.Figure` directly, not through pyplot: they render
with Agg, never open a window, and do not touch the caller's pyplot backend or figure list.

Layout: a one-line title at the top left, the legend outside on the right, and the configuration
(the fields held fixed, what markers mean) in a caption under the axes, so that a long note never
runs into the legend or the data.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

import matplotlib as mpl
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, FuncFormatter, LogFormatter, NullFormatter, NullLocator

from compressor.errors import EieInputError
from compressor.outputs import write_atomic
from eie_sim.config import FIELDS
from eie_sim.study.metrics import ENERGY_UNIT, to_uj
from eie_sim.study.where import CONFIG_COLUMNS, IDENTITY_COLUMNS, same_value, value_text
from eie_sim.study.where import varying as _varying

__all__ = ["ENERGY_UNIT", "to_uj", "value_text"]

#: Axis labels (with units) of the config columns: each field's own label.
AXIS_LABELS = {f.name: f.axis_label for f in FIELDS}

# Shapes as well as colours tell layers apart, so the plots survive greyscale printing.
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">", "h")
BEST_COLOUR = "#d62728"
SVG_HASHSALT = "eie-sim"  # fixed salt: SVG element ids depend only on the figure's content
FIGSIZE = (7.5, 4.5)
#: Head room above the tallest bar, as a fraction of it: bars never touch the frame.
HEADROOM = 0.08
#: Fields named in a caption whenever constant; any other field only when off its default.
_MAIN_FIELDS = ("n_pes", "queue_depth", "word_bits", "spmat_bytes")

_T = TypeVar("_T", float, np.ndarray, pd.Series)


# --- numbers ------------------------------------------------------------------------------------

def tick_num(v: float) -> str:
    """An axis tick as a plain number: 0.05, 2.5, 100, 1,000, 20,000 (no powers of ten)."""
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    return f"{v:.6g}"


def num3(v: float) -> str:
    """Three significant digits, plain: 0.0123, 1.23, 12.3, 123, 1,234."""
    if v == 0 or not math.isfinite(v):
        return f"{v:g}"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    decimals = max(0, 2 - math.floor(math.log10(abs(v))))
    return f"{v:.{decimals}f}"


def count(v: float) -> str:
    """A count such as cycles: 950, 9,500, 95.0k, 1.23M."""
    if abs(v) < 1e4:
        return f"{v:,.0f}"
    scale, suffix = next((s, x) for s, x in ((1e9, "G"), (1e6, "M"), (1e3, "k")) if abs(v) >= s)
    return f"{num3(v / scale)}{suffix}"


class PlainLogFormatter(LogFormatter):
    """Log-axis labels as plain numbers (``fmt``), on the ticks matplotlib's default would label."""

    def __init__(self, fmt: Callable[[float], str] = tick_num, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self._fmt = fmt

    def __call__(self, x: float, pos: int | None = None) -> str:
        return self._fmt(x) if super().__call__(x, pos) else ""


def plain_log_ticks(axis: object, fmt: Callable[[float], str] = tick_num) -> None:
    """Plain-number labels on a log axis (major and, over less than a decade or two, minor)."""
    axis.set_major_formatter(PlainLogFormatter(fmt))
    axis.set_minor_formatter(PlainLogFormatter(fmt, labelOnlyBase=False, minor_thresholds=(1, 0.4)))


def plain_log2_axis(axis: object, ticks: Sequence[float]) -> None:
    """Ticks at the swept values, printed as plain numbers (64, not 2^6)."""
    axis.set_major_locator(FixedLocator(sorted(set(float(t) for t in ticks))))
    axis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
    axis.set_minor_locator(NullLocator())
    axis.set_minor_formatter(NullFormatter())


def batch_text(df: pd.DataFrame) -> str:
    """'mean over 8 inputs' when the rows summarise batches of more than one input, else ''."""
    if "batch_size" not in df.columns:
        return ""
    sizes = sorted({int(v) for v in pd.to_numeric(df["batch_size"], errors="coerce").dropna()})
    if not sizes or sizes[-1] <= 1:
        return ""
    return f"mean over {sizes[0]} inputs" if len(sizes) == 1 else f"mean over {sizes[0]}-{sizes[-1]} inputs"


def quantity(name: str, unit: str, df: pd.DataFrame) -> str:
    """'energy per inference (uJ, mean over 8 inputs)': a quantity with its unit and batch note."""
    parts = [p for p in (unit, batch_text(df)) if p]
    return f"{name} ({', '.join(parts)})" if parts else name


def energy_label(name: str, df: pd.DataFrame) -> str:
    return quantity(name, ENERGY_UNIT, df)


def and_list(items: Sequence[str]) -> str:
    items = list(items)
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


# --- input checks -------------------------------------------------------------------------------

def require(df: pd.DataFrame, columns: Sequence[str], what: str, *, nullable: Sequence[str] = ()) -> None:
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


def require_positive(df: pd.DataFrame, column: str, what: str) -> None:
    """Log axes and ratios need positive values; say which layer breaks that."""
    bad = df[column] <= 0
    if bad.any():
        row = df.loc[bad].iloc[0]
        raise EieInputError(f"{what}: {column} must be > 0 (log scale); layer {row['layer']!r} has "
                            f"{column} = {row[column]}")


def require_bool(df: pd.DataFrame, column: str, what: str) -> None:
    if not df[column].isin([True, False]).all():
        # A CSV column of strings like "False" would otherwise all read as True.
        got = sorted(map(repr, df[column].unique()))
        raise EieInputError(f"{what}: {column} must be boolean; got {', '.join(got)}")


def require_fraction(df: pd.DataFrame, what: str) -> None:
    u = df["pe_utilization"]
    if ((u < 0) | (u > 1)).any():
        # Catches a column already in percent, which would otherwise plot as 100x too high.
        raise EieInputError(f"{what}: pe_utilization must be a fraction in 0..1; got values from "
                            f"{u.min():g} to {u.max():g}")


def layer_order(df: pd.DataFrame) -> list[str]:
    """Layers in first-appearance order (a sweep lists them in the paper's order)."""
    return [str(v) for v in pd.unique(df["layer"])]


def varying_within_layers(df: pd.DataFrame, exclude: Sequence[str] = ()) -> dict[str, list[object]]:
    """Config columns that take more than one value inside some layer, with their values."""
    return _varying(df, CONFIG_COLUMNS, exclude)


def check_one_row_per(df: pd.DataFrame, key: str | Sequence[str], what: str) -> None:
    """Each (layer, key...) must appear once; name the columns that tell duplicates apart."""
    keys = [key] if isinstance(key, str) else list(key)
    dup = df.duplicated(["layer", *keys], keep=False)
    if dup.any():
        rows = df.loc[dup]
        first = rows.iloc[0]
        same = rows[(rows["layer"] == first["layer"])
                    & np.logical_and.reduce([rows[k] == first[k] for k in keys])]
        differ = [str(c) for c in same.columns if same[c].astype(str).nunique() > 1]
        differ = sorted(differ, key=lambda c: c not in IDENTITY_COLUMNS + CONFIG_COLUMNS)[:6]
        at = ", ".join(f"{k} = {first[k]}" for k in keys)
        raise EieInputError(
            f"{what}: layer {first['layer']!r} has {len(same)} rows at {at}; filter the "
            f"DataFrame to one row per (layer, {', '.join(keys)})"
            + (f" (columns that differ: {', '.join(differ)})" if differ else " (the rows are identical)"))


def series(df: pd.DataFrame, x: str, y: Sequence[str], what: str) -> dict[str, pd.DataFrame]:
    """Per-layer rows sorted by ``x``, after checking ``x`` is the only config field that varies."""
    require(df, ["layer", x, *y], what)
    others = varying_within_layers(df, exclude=[x])
    if others:
        c, values = next(iter(others.items()))
        raise EieInputError(
            f"{what} plots one x-variable ({x}) per layer, but {c} also varies within a layer "
            f"(values {values}); filter the DataFrame to one {c} first, e.g. df[df['{c}'] == {values[0]!r}]")
    check_one_row_per(df, x, what)
    return {str(layer): g.sort_values(x) for layer, g in df.groupby("layer", sort=False)}


def need_x_values(df: pd.DataFrame, x: str, what: str) -> None:
    """A curve needs at least two x values in the data."""
    values = sorted(df[x].unique().tolist())
    if len(values) < 2:
        raise EieInputError(f"{what} needs rows with at least two {x} values; got {values}")


def residency(g: pd.DataFrame) -> np.ndarray | None:
    """Whether each row's weights are SRAM-resident (False: DRAM-tiled), or None without the column."""
    if "resident" not in g.columns or not g["resident"].isin([True, False]).all():
        return None
    return g["resident"].astype(bool).to_numpy()


# --- layout -------------------------------------------------------------------------------------

def styles(layers: Sequence[str]) -> dict[str, tuple[object, str]]:
    """(colour, marker) per layer from a qualitative map; tab10 covers the paper's 9 layers."""
    cmap = mpl.colormaps["tab10" if len(layers) <= 10 else "tab20"]
    return {name: (cmap(i % cmap.N), MARKERS[i % len(MARKERS)]) for i, name in enumerate(layers)}


def new_figure(figsize: tuple[float, float] = FIGSIZE) -> Figure:
    # Constrained layout makes room for the legend outside the axes and for the caption.
    return Figure(figsize=figsize, layout="constrained")


def layer_desc(layer: str, rows: pd.DataFrame) -> str:
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
            parts.append(f"act. density {num3(100 * float(d[0]))} %")
    return f"{layer} ({', '.join(parts)})" if parts else str(layer)


def layer_labels(groups: dict[str, pd.DataFrame]) -> list[str]:
    return [layer_desc(layer, g) for layer, g in groups.items()]


def fixed_text(df: pd.DataFrame, exclude: Sequence[str]) -> str:
    """'fixed: PE count 64, activation queue depth 8 activations, ...': the main config fields
    constant over the plot, and any other field held off its default; each as its field names and
    shows it."""
    parts = []
    for f in FIELDS:
        c = f.name
        if c not in df.columns or c in exclude or not f.affects_results or f.kind is str:
            continue
        if df[c].nunique(dropna=False) != 1:
            continue
        v = df[c].iloc[0]
        v = bool(v) if f.kind is bool else v
        if c in _MAIN_FIELDS or not same_value(v, f.default):
            parts.append(f"{f.label} {f.describe(v)}")
    return ("fixed: " + ", ".join(parts)) if parts else ""


def title(fig: Figure, text: str, ax: Axes | None = None, df: pd.DataFrame | None = None) -> None:
    """A short title at the top left (clear of the legend); above ``ax`` the layer when ``df`` holds
    one layer."""
    width = max(20, int(fig.get_figwidth() * 11))  # characters of medium-large type per line
    fig.suptitle(textwrap.fill(text, width), x=0.01, ha="left")
    if ax is not None and df is not None:
        layers = layer_order(df)
        if len(layers) == 1:
            ax.set_title(layer_desc(layers[0], df), fontsize="small", color="dimgray")


def caption(fig: Figure, *notes: str) -> None:
    """The notes (configuration, what markers mean) in small grey type under the axes, wrapped to
    the figure's width; constrained layout makes room for it."""
    lines = [line for note in notes if note for line in note.splitlines() if line.strip()]
    if not lines:
        return
    width = max(30, int(fig.get_figwidth() * 15))  # characters of small type per line
    text = "\n".join(textwrap.fill(line, width, subsequent_indent="  ") for line in lines)
    fig.supxlabel(text, x=0.01, ha="left", fontsize="small", color="dimgray", linespacing=1.3)


def caption_text(fig: Figure) -> str:
    """A figure's caption as one line of words (for tests and tools; '' when it has none)."""
    label = getattr(fig, "_supxlabel", None)
    return " ".join(label.get_text().split()) if label is not None else ""


def legend(fig: Figure, handles: Sequence[object], title: str | None = "layer",
           labels: Sequence[str] | None = None) -> None:
    handles = list(handles)
    labels = list(labels) if labels is not None else [h.get_label() for h in handles]
    fig.legend(handles, labels, loc="outside right upper", fontsize="small", title=title,
               title_fontsize="small", frameon=False)


def headroom(ax: Axes, top: float) -> None:
    """Room above the tallest bar (``top``), so no bar touches the frame; the bottom stays (0 for
    bars from 0, lower when some bar is negative)."""
    if top > 0 and math.isfinite(top):
        ax.set_ylim(min(0.0, ax.get_ylim()[0]), top * (1 + HEADROOM))


def grid_axes(fig: Figure, n: int, ncols: int = 3, **kwargs: object) -> list[Axes]:
    """``n`` panels in rows of up to ``ncols``; unused cells removed."""
    ncols = min(ncols, n)
    nrows = math.ceil(n / ncols)
    axes = fig.subplots(nrows, ncols, squeeze=False, **kwargs).ravel()
    for ax in axes[n:]:
        fig.delaxes(ax)
    return list(axes[:n])


# --- saving -------------------------------------------------------------------------------------

def outputs(path_stem: str | Path) -> list[Path]:
    stem = str(path_stem)
    return [Path(stem + ".png"), Path(stem + ".svg")]


def check_targets(paths: Sequence[Path], force: bool) -> None:
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


def check_out_dir(out: Path) -> None:
    """``out`` must be a directory or creatable as one."""
    if out.exists() and not out.is_dir():
        raise EieInputError(f"{out}: is a file; give a directory for the plots")
    for parent in out.parents:
        if parent.exists():
            if not parent.is_dir():
                raise EieInputError(f"{out}: {parent} is a file; give a directory for the plots")
            break


def save(fig: Figure, path_stem: str | Path, *, force: bool = False) -> list[Path]:
    """Write ``path_stem``.png (150 dpi) and .svg atomically, then close ``fig``; returns the paths.

    Both targets are checked before either is written, so a refusal leaves nothing half-done (and
    the figure open, for a retry with ``force``). The SVG has no date and a fixed hash salt, so the
    same data gives the same bytes.
    """
    png, svg = outputs(path_stem)
    check_targets([png, svg], force)
    write_atomic(png, lambda tmp: fig.savefig(tmp, format="png", dpi=150), force=force)
    with mpl.rc_context({"svg.hashsalt": SVG_HASHSALT}):
        write_atomic(svg, lambda tmp: fig.savefig(tmp, format="svg", metadata={"Date": None}),
                     force=force)
    close(fig)
    return [png, svg]


def close(fig: Figure) -> None:
    """Release the figure; also drop it from pyplot if a caller made it there."""
    import matplotlib.pyplot as plt  # local: importing pyplot is only needed for its figure list

    plt.close(fig)


def field_label(column: str) -> str:
    """A column's axis label: the field's own (:attr:`Field.axis_label`), else the column name."""
    return AXIS_LABELS.get(column, column)
