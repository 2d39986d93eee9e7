"""``eie table``: a sweep's cycles and energy per point, relative to a baseline point.

An ablation reads best as numbers: each design point's cycles and energy per inference, and each
as a multiple of a baseline point's. The baseline is chosen per layer (and per seed, sparsity
model, engine and input source when those vary): by default the point at which every varied
field has its default value (the paper's design point), or, for a field whose default the sweep
lacks, its value at the layer's first point; ``--baseline FIELD=VALUE,...`` names another.
Naming ``layer`` there makes one baseline for all layers (``--baseline layer=Alex-7``).
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from compressor.errors import EieInputError
from compressor.outputs import check_writable, write_atomic
from eie_sim.config import FIELD
from eie_sim.study.metrics import ENERGY_UNIT
from eie_sim.study.tables import csv_text, md
from eie_sim.study.where import (
    CONFIG_COLUMNS,
    PINNED_COLUMNS,
    parse_assignments,
    parse_where,
    preferred_value,
    select_where,
    value_text,
    varying,
)

#: (column, table heading, scale) of the figures compared with the baseline.
FIGURES = (("cycles", "cycles", 1.0), ("time_s", "latency (us)", 1e6),
           ("energy_j", f"energy per inference ({ENERGY_UNIT})", 1e6))
RELATIVE = {"cycles": "cycles vs baseline (x)", "energy_j": "energy vs baseline (x)"}
BASELINE_COLUMN = "baseline"


def _label(column: str) -> str:
    f = FIELD.get(column)
    return f.axis_label if f is not None else column


def _groups(df: pd.DataFrame, pinned: Mapping[str, object]) -> list[str]:
    """The columns a baseline is chosen within: layer and the identity columns that vary in a layer,
    minus those ``--baseline`` fixes."""
    keys = ["layer", *varying(df, PINNED_COLUMNS)]
    return [k for k in keys if k not in pinned]


def _default_baseline(g: pd.DataFrame, fields: list[str]) -> tuple[pd.DataFrame, dict[str, object]]:
    chosen = {c: preferred_value(c, list(pd.unique(g[c]))) for c in fields}
    rows = g
    for c, v in chosen.items():
        rows = rows[rows[c] == v]
    return rows, chosen


def _group_name(keys: list[str], values: tuple[object, ...]) -> str:
    return ", ".join(f"{k} {value_text(v)}" for k, v in zip(keys, values, strict=True)) or "the sweep"


def relative_table(df: pd.DataFrame, baseline: Mapping[str, object] | None = None
                   ) -> tuple[pd.DataFrame, list[str]]:
    """One row per design point: its varied fields, cycles, latency and energy, and cycles and
    energy as multiples of its group's baseline point; plus notes saying which point that is."""
    missing = [c for c in ("layer", "cycles", "energy_j") if c not in df.columns]
    if missing:
        raise EieInputError(f"the results lack column(s) {', '.join(missing)}; give a sweep CSV")
    if df.empty:
        raise EieInputError("the results have no rows")
    baseline = dict(baseline or {})
    fields = list(varying(df))
    keys = _groups(df, baseline)
    pieces = []
    chosen_text: set[str] = set()
    for values, g in (df.groupby(keys, sort=False) if keys else [((), df)]):
        values = values if isinstance(values, tuple) else (values,)
        name = _group_name(keys, values)
        if baseline:
            try:
                ref = select_where(g, baseline, option="--baseline")
            except EieInputError as e:
                raise EieInputError(f"{e} (in the rows of {name})") from None
        else:
            ref, chosen = _default_baseline(g, [c for c in fields if g[c].nunique(dropna=False) > 1])
            text = ", ".join(f"{c}={value_text(v)}" for c, v in chosen.items())
            chosen_text.add(text)
            if ref.empty:
                raise EieInputError(f"{name}: no point has {text} (the sweep is not a full grid); name "
                                    "one with --baseline FIELD=VALUE,...")
        if len(ref) > 1:
            differ = [c for c in (*CONFIG_COLUMNS, *PINNED_COLUMNS) if c in ref and ref[c].nunique() > 1]
            raise EieInputError(f"the baseline matches {len(ref)} rows of {name}"
                                + (f" (they differ in {', '.join(differ)})" if differ else "")
                                + "; fix more fields with --baseline FIELD=VALUE,...")
        r = ref.iloc[0]
        out = g[[*keys, *[c for c in ("layer", *PINNED_COLUMNS) if c in g and c not in keys
                          and g[c].nunique() > 1], *fields]].copy()
        for column, heading, scale in FIGURES:
            if column not in g:
                continue
            out[heading] = g[column].to_numpy(float) * scale
            if column in RELATIVE:
                out[RELATIVE[column]] = g[column].to_numpy(float) / float(r[column])
        if "resident" in g:
            out["weights resident"] = g["resident"].astype(bool).to_numpy()
        out[BASELINE_COLUMN] = (g.index == ref.index[0])
        pieces.append(out)
    table = pd.concat(pieces, ignore_index=True).rename(columns={c: _label(c) for c in fields})
    if baseline:
        how = ", ".join(f"{k}={v}" for k, v in baseline.items())
        scope = "per " + ", ".join(keys) if keys else "for the whole sweep"
        notes = [f"baseline {scope}: the point with {how} (--baseline)"]
    else:
        how = "; ".join(sorted(t for t in chosen_text if t)) or "its only point"
        notes = [f"baseline per {', '.join(keys)}: the point with {how} (each varied field at its default, "
                 "else at the layer's first point); choose another with --baseline FIELD=VALUE,..."]
    return table, notes


DECIMALS = {"cycles vs baseline (x)": 3, "energy vs baseline (x)": 3}


def markdown(table: pd.DataFrame) -> str:
    """The table for reading: ratios to three decimals, the baseline row marked."""
    shown = table.copy()
    shown[BASELINE_COLUMN] = [("**baseline**" if b else "") for b in shown[BASELINE_COLUMN]]
    for f in FIELD.values():  # on / off, as the flags spell a boolean field
        if f.kind is bool and f.axis_label in shown:
            shown[f.axis_label] = shown[f.axis_label].map(value_text)
    return md(shown, DECIMALS)


def run_table(results: str | Path, *, out: str | Path | None = None, baseline: str | None = None,
              where: list[str] | None = None,
              force: bool = False) -> tuple[pd.DataFrame, list[Path], list[str]]:
    """Read a sweep CSV, build the relative table, write ``out``.csv and .md (default: beside the
    results, ``<name>_table``); returns (table, paths, notes)."""
    from eie_sim.study.sweep import load_results  # local: sweep pulls in the compressor

    stem = Path(out).with_suffix("") if out else Path(results).with_name(Path(results).stem + "_table")
    for ext in (".csv", ".md"):  # refuse before reading anything
        check_writable(str(stem) + ext, force)
    df = select_where(load_results(results), parse_where(where or []))
    table, notes = relative_table(df, parse_assignments(baseline, "--baseline"))
    paths = [write_atomic(Path(str(stem) + ".csv"), csv_text(table), force=force),
             write_atomic(Path(str(stem) + ".md"), markdown(table) + "\n", force=force)]
    return table, paths, notes


def cmd_table(args: argparse.Namespace) -> int:
    table, paths, notes = run_table(args.results, out=args.output, baseline=args.baseline,
                                    where=args.where, force=args.force)
    for n in notes:
        print(f"note: {n}")
    print(markdown(table))
    for p in paths:
        print(f"wrote {p}")
    return 0


def fill_args(t: argparse.ArgumentParser) -> None:
    """``eie table``'s flags (the ``eie`` parser registers the command)."""
    t.description = __doc__.split("\n\n")[1].replace("\n", " ")
    t.add_argument("results", metavar="RESULTS.csv")
    t.add_argument("--baseline", metavar="FIELD=VALUE,...",
                   help="the baseline point (per layer): e.g. n_pes=64,queue_depth=8; default: each varied "
                        "field at its default, else at the layer's first point")
    t.add_argument("--where", action="append", metavar="FIELD=VALUE",
                   help="keep the rows with this value first (repeatable), as for eie plot")
    t.add_argument("-o", "--output", metavar="OUT.csv",
                   help="where to write (and OUT.md beside it); default RESULTS_table.csv")
    t.add_argument("--force", action="store_true", help="overwrite existing tables")
