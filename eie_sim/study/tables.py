"""Tables as files: tidy CSVs (one number per cell, units in the column names) and Markdown.

A CSV cell holds one number, rounded to six significant digits (float noise such as
``0.11199999999999999`` is not a figure); spreads have columns of their own, named
``<quantity> mean (<unit>)``, ``<quantity> sd (<unit>)``, ``... min``, ``... max``. Markdown is
for reading: such a group becomes one ``mean ± sd`` column, numbers get thousands separators and
decimals by magnitude, never scientific notation.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

import numpy as np
import pandas as pd

#: Significant digits of a number in a CSV.
CSV_DIGITS = 6
_STAT = re.compile(r"^(?P<name>.+?) (?P<stat>mean|sd|min|max)(?P<unit> \([^()]*\))?$")


def decimals_for(v: float) -> int:
    """Decimals for a number read by people: 0 from 100, 1 from 10, 2 from 0.1, else 3."""
    a = abs(v)
    return 0 if a >= 100 else 1 if a >= 10 else 2 if a >= 0.1 or a == 0 else 3


def fmt(v: object, decimals: int | None = None) -> str:
    """A table cell: thousands separators, decimals by magnitude, never scientific notation."""
    if v is None or (isinstance(v, float | np.floating) and math.isnan(v)):
        return ""
    if isinstance(v, bool | np.bool_):
        return "yes" if v else "no"
    if isinstance(v, int | np.integer):
        return f"{int(v):,}"
    if isinstance(v, float | np.floating):
        return f"{float(v):,.{decimals_for(float(v)) if decimals is None else decimals}f}"
    return str(v)


def pm(mean: float, sd: float | None, decimals: int | None = None) -> str:
    """``mean ± sd`` (no sd, as over one seed: the mean alone); decimals by the mean's magnitude."""
    if mean is None or (isinstance(mean, float) and math.isnan(mean)):
        return ""
    d = decimals_for(float(mean)) if decimals is None else decimals
    if sd is None or (isinstance(sd, float | np.floating) and math.isnan(sd)):
        return fmt(float(mean), d)
    return f"{fmt(float(mean), d)} ± {fmt(float(sd), d)}"


def stat_groups(columns: list[str]) -> dict[str, dict[str, str]]:
    """``{"overhead (%)": {"mean": "overhead mean (%)", "sd": ...}}`` for the columns with a mean."""
    groups: dict[str, dict[str, str]] = {}
    for c in columns:
        m = _STAT.match(c)
        if m:
            groups.setdefault(f"{m['name']}{m['unit'] or ''}", {})[m["stat"]] = c
    return {k: v for k, v in groups.items() if "mean" in v}


def md(df: pd.DataFrame, decimals: Mapping[str, int] | None = None) -> str:
    """A DataFrame as a Markdown table: each mean / sd / min / max group as one ``mean ± sd``
    column (min and max stay in the CSV), numbers rounded for reading (``decimals`` per shown
    column, else by magnitude)."""
    decimals = dict(decimals or {})
    cols = [str(c) for c in df.columns]
    groups = stat_groups(cols)
    member = {c: name for name, g in groups.items() for c in g.values()}
    shown: list[str] = []
    for c in cols:
        name = member.get(c, c)
        if name not in shown:
            shown.append(name)
    lines = ["| " + " | ".join(shown) + " |", "|" + "---|" * len(shown)]
    for i in range(len(df)):
        row = {c: df[c].iloc[i] for c in df.columns}  # per column: iterrows would turn ints into floats
        cells = []
        for name in shown:
            if name in groups:
                g = groups[name]
                cells.append(pm(row[g["mean"]], row[g["sd"]] if "sd" in g else None, decimals.get(name)))
            else:
                cells.append(fmt(row[name], decimals.get(name)))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _round(v: object) -> object:
    if isinstance(v, float | np.floating) and math.isfinite(v):
        return float(f"{float(v):.{CSV_DIGITS}g}")
    return v


def tidy(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with float columns rounded to :data:`CSV_DIGITS` significant digits."""
    out = df.copy()
    for c in out.columns:
        if pd.api.types.is_float_dtype(out[c]):
            out[c] = out[c].map(_round).astype(float)
    return out


def csv_text(df: pd.DataFrame) -> str:
    """The tidy CSV of a table."""
    return tidy(df).to_csv(index=False, lineterminator="\n")

