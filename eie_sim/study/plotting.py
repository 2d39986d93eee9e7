"""``eie plot``: every figure a sweep supports, chosen from what varies in it.

A line plot draws one x-variable per layer; a heat map two fields. A sweep that varies more
(extra config fields, several seeds or sparsity models) is narrowed rather than refused: the extra
fields are fixed at their default (the paper's design point) when the sweep has it, else at their
first value, and a note says what was drawn and how to choose otherwise (``--where``).
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from eie_sim.config import FIELD
from eie_sim.study import figures
from eie_sim.study.figures import base
from eie_sim.study.where import (
    CONFIG_COLUMNS,
    PINNED_COLUMNS,
    preferred_value,
    select_where,
    value_text,
    values_text,
    varying,
    where_hint,
)

PLOT_NAMES = ("speedup_vs_pes", "latency_vs_pes", "utilization_vs_fifo", "energy_breakdown",
              "spmat_energy_vs_width", "energy_vs_pes")

#: The line plots: name -> (x column, the heat-map metric drawn when one more field varies). Heat
#: maps show goals (cycles, energy), never utilisation alone: a busier point can be slower.
LINE_PLOTS = {
    "speedup_vs_pes": ("n_pes", "cycles"),
    "latency_vs_pes": ("n_pes", "cycles"),
    "utilization_vs_fifo": ("queue_depth", "cycles"),
    "spmat_energy_vs_width": (figures.energy.WIDTH_COLUMN, "spmat_energy"),
    "energy_vs_pes": ("n_pes", "energy"),
}
#: Fields a line plot takes as x: kept as plot axes before any other varied field.
X_FIELDS = tuple(dict.fromkeys(x for x, _ in LINE_PLOTS.values()))


def _fix(df: pd.DataFrame, column: str, value: object) -> pd.DataFrame:
    return df[df[column].map(lambda v: v == value or (pd.isna(v) and pd.isna(value)))]


def _why(column: str, value: object) -> str:
    field = FIELD.get(column)
    return "its default" if field is not None and value == field.default else "its first value"


def narrow(df: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """The rows a plot can show, and a note per choice made: one seed, sparsity model, engine and
    input source per layer, and at most two varied config fields (the x-variables first)."""
    notes = []
    for c in PINNED_COLUMNS:  # one at a time: fixing the seed may fix the input source with it
        values = varying(df, [c]).get(c)
        if values is None:
            continue
        pick = values[0]
        df = _fix(df, c, pick)
        notes.append(f"{c} varies within a layer; drew {c}={value_text(pick)} "
                     f"(values: {values_text(values)}); choose with --where {c}=VALUE")
    var = varying(df)
    if len(var) > 2:
        keep = sorted(var, key=lambda c: (c not in X_FIELDS, CONFIG_COLUMNS.index(c)))[:2]
        fixed = []
        for c in [c for c in var if c not in keep]:
            pick = preferred_value(c, var[c])
            df = _fix(df, c, pick)
            fixed.append(f"{c}={value_text(pick)} ({_why(c, pick)}; values: {values_text(var[c])})")
        notes.append(f"{base.and_list(list(var))} vary and a plot shows at most two; drew "
                     f"{base.and_list(keep)} with {', '.join(fixed)}; choose with --where FIELD=VALUE")
    return df, notes


def plan(df: pd.DataFrame, baselines: pd.DataFrame | None = None
         ) -> tuple[list[tuple[str, Callable[[], Figure]]], list[str]]:
    """Which figures to make (name, maker) and a note on every choice (see :func:`narrow`)."""
    df, notes = narrow(df)
    later: list[str] = []
    var = varying(df)
    lines = {"speedup_vs_pes": lambda: figures.speedup_vs_pes(df),
             "latency_vs_pes": lambda: figures.latency_vs_pes(df),
             "utilization_vs_fifo": lambda: figures.utilization_vs_fifo(df),
             "spmat_energy_vs_width": lambda: figures.spmat_energy_vs_width(df),
             "energy_vs_pes": lambda: figures.energy_vs_pes(df, baselines)}
    out: list[tuple[str, Callable[[], Figure]]] = []
    heat: dict[str, str] = {}
    for name in PLOT_NAMES:
        if name == "energy_breakdown":
            out.append((name, _breakdown(df, var, later)))
            continue
        x, metric = LINE_PLOTS[name]
        if x not in var:
            continue  # nothing to draw along x
        if len(var) == 1:
            out.append((name, lines[name]))
        elif metric not in heat:
            fx, fy = sorted(var, key=CONFIG_COLUMNS.index)
            heat[metric] = figures.HEATMAP_METRICS[metric].name
            out.append((f"{metric}_heatmap", lambda m=metric, fx=fx, fy=fy: figures.heatmap(df, m, fx, fy)))
    if heat:
        drawn = "is a heat map" if len(heat) == 1 else "are heat maps"
        notes.append(f"{base.and_list(list(var))} both vary, so {base.and_list(list(heat.values()))} "
                     f"{drawn} over the two; for line plots fix one with {where_hint(var)}")
    return out, notes + later


def _breakdown(df: pd.DataFrame, var: Mapping[str, list[object]], notes: list[str]) -> Callable[[], Figure]:
    """The energy breakdown: by layer (nothing swept), by the one swept field, or by the first of
    two with the other fixed (and a note)."""
    if not var:
        return lambda: figures.energy_breakdown(df, by="layer")
    by, *rest = sorted(var, key=lambda c: (c not in X_FIELDS, CONFIG_COLUMNS.index(c)))
    rows = df
    if rest:
        (other,) = rest
        pick = preferred_value(other, var[other])
        rows = _fix(df, other, pick)
        notes.append(f"energy_breakdown: bars by {by} at {other}={value_text(pick)} ({_why(other, pick)}; "
                     f"values: {values_text(var[other])}); choose with --where {other}=VALUE")
    return lambda: figures.energy_breakdown(rows, by=by)


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

    ``where`` first keeps the rows with those field values (:func:`select_where`); then
    :func:`narrow` fixes whatever still varies beyond what a plot can show. A line plot whose
    x-variable does not vary within a layer is left out silently. If its x-variable varies alongside
    exactly one other config field, it becomes a heat map over both (``cycles_heatmap``,
    ``energy_heatmap``, ``spmat_energy_heatmap``). Each choice is a one-line note; Python warnings
    raised while plotting become notes too, and matplotlib's log messages are hushed. Files are
    named ``{stem}_{plot}.png`` / ``.svg`` (``{plot}`` without a stem).

    Nothing is written until every output path is checked (existing files without ``force`` are one
    EieInputError listing them all) and every figure is built (bad data is an EieInputError);
    ``out_dir`` is created if missing.
    """
    base.require(df, ["layer"], "plot_all")
    out = Path(out_dir)
    base.check_out_dir(out)
    with _quiet() as caught:
        df = select_where(df, where)
        made, notes = plan(df, baselines)
        prefix = f"{stem}_" if stem else ""
        stems = [out / f"{prefix}{name}" for name, _ in made]
        base.check_targets([p for s in stems for p in base.outputs(s)], force)
        figs: list[Figure] = []
        try:
            for _, make in made:
                figs.append(make())
        except BaseException:
            for fig in figs:
                base.close(fig)
            raise
        paths: list[Path] = []
        if made:
            out.mkdir(parents=True, exist_ok=True)
        for fig, s in zip(figs, stems, strict=True):
            paths += base.save(fig, s, force=force)
    seen = set()
    for w in caught:
        first = (str(w.message).strip().splitlines() or [""])[0]
        text = f"plotting warned ({w.category.__name__}): {first}"
        if text not in seen:
            seen.add(text)
            notes.append(text)
    return paths, notes
