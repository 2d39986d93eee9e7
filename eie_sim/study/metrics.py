"""Figures derived from sweep rows, defined once for every plot and table that shows them.

``eie plot`` and ``eie reproduce`` draw the same quantity under the same label only if both
compute it here: :func:`spmat_read_energy_j` is the sparse-matrix SRAM's read energy, either its
dynamic part (word reads x energy per read, the paper's Fig. 9 quantity) or the unit's whole
energy (dynamic + its share of the fitted static power).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TypeVar

import numpy as np
import pandas as pd

from compressor.errors import EieConfigError, EieInputError
from eie_sim.config import FIELDS, SimConfig
from eie_sim.energy import EnergyModel

#: The one energy unit of every plot and table (axis labels, heat-map cells, breakdown bars).
ENERGY_UNIT = "uJ"

_T = TypeVar("_T", float, np.ndarray, pd.Series)

SPMAT_READS = "access_counts.spmat_read.word_read"
SPMAT_TOTAL = "energy_breakdown_j.spmat_read"
#: What each part of the sparse-matrix read energy is, for labels.
SPMAT_PARTS = {"dynamic": "dynamic: word reads × energy per read",
               "total": "dynamic + static share"}


def to_uj(joules: _T) -> _T:
    """Energy in J (a number, array or Series) in the one unit of plots and tables, uJ."""
    return joules * 1e6


def row_config(row: Mapping[str, object]) -> SimConfig:
    """The configuration a sweep row was run with: its config columns (others at their defaults).

    A row's ``energy_table`` is ``packaged`` (or empty) for the packaged table, else the CSV's path.
    """
    values: dict[str, object] = {}
    for f in FIELDS:
        if f.name not in row or not f.affects_results:
            continue
        v = row[f.name]
        if f.kind is str:
            text = "" if v is None or (isinstance(v, float) and math.isnan(v)) else str(v)
            values[f.name] = None if text in ("", "packaged") else text
            continue
        if v is None or (isinstance(v, float | np.floating) and math.isnan(v)):
            continue
        values[f.name] = bool(v) if f.kind is bool else int(v) if f.kind is int else float(v)
    try:
        return SimConfig().replace(**values)
    except EieConfigError as e:  # a missing energy table, a value out of range
        raise EieInputError(f"cannot rebuild the configuration of a sweep row ({e})") from None


def spmat_read_energy_j(df: pd.DataFrame, part: str = "dynamic") -> pd.Series:
    """Sparse-matrix SRAM read energy per inference (J) of each row.

    ``dynamic``: the row's word reads x the energy of one read under the row's configuration (its
    width, capacity and energy table); ``total``: the unit's whole energy, which adds its share of
    the fitted static power (clock and leakage, paid every cycle whatever the width).
    """
    if part not in SPMAT_PARTS:
        raise EieInputError(f"sparse-matrix read energy: part must be one of {', '.join(SPMAT_PARTS)}; "
                            f"got {part!r}")
    column = SPMAT_TOTAL if part == "total" else SPMAT_READS
    if column not in df.columns:
        raise EieInputError(f"sparse-matrix read energy ({part}) needs column {column}; rerun the sweep "
                            "with this eie-sim to get it")
    if part == "total":
        return df[column].astype(float)
    names = [f.name for f in FIELDS if f.affects_results and f.name in df.columns]
    pj = pd.Series(np.nan, index=df.index)
    for _, g in (df.groupby(names, sort=False, dropna=False) if names else [(None, df)]):
        config = row_config(g.iloc[0].to_dict())
        pj[g.index] = EnergyModel.for_config(config).per_event_pj[("spmat_read", "word_read")]
    return df[column].astype(float) * pj * 1e-12
