"""Choosing rows of a sweep by field values: ``eie plot --where FIELD=VALUE``, ``eie table --baseline``.

Names, kinds and units come from the configuration's field table (:data:`eie_sim.config.FIELD`,
:data:`~eie_sim.config.FLAG`): a field is named by its column (``spmat_bytes=131072``, in the
field's unit) or by its flag (``spmat_kb=128``, in the flag's unit, converted and checked as the
command line converts it). Booleans are read by :func:`eie_sim.fields.parse_bool`, so ``--where``
takes exactly the on/off words the command line and TOML files take.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from compressor.errors import EieConfigError, EieInputError
from eie_sim.config import FIELD, FIELDS, FLAG
from eie_sim.fields import Field, parse_bool

#: Config fields whose variation changes the results (not ``check`` or ``max_cycles``).
CONFIG_COLUMNS = tuple(f.name for f in FIELDS if f.affects_results)
#: Columns that tell apart rows at the same design point, named first when duplicates are refused.
IDENTITY_COLUMNS = ("seed", "sparsity", "engine", "energy_table")
#: Non-config columns a plot needs at one value per layer (a plot of two seeds is two plots).
PINNED_COLUMNS = ("seed", "sparsity", "engine", "input_source")


# --- showing values -----------------------------------------------------------------------------

def value_text(v: object) -> str:
    """A value as ``--where`` takes it: 8 (not 8.0), 800000000, 0.5, on, Alex-7."""
    if isinstance(v, bool | np.bool_):
        return "on" if v else "off"
    if isinstance(v, int | np.integer):
        return str(int(v))
    if isinstance(v, float | np.floating):
        return str(int(v)) if float(v).is_integer() and abs(v) < 1e15 else f"{v:g}"
    return str(v)


def values_text(values: Sequence[object], limit: int = 12) -> str:
    """'2, 8' or '1, 2, ..., (40 values)': the values present, for an error or a hint."""
    shown = [value_text(v) for v in values[:limit]]
    return ", ".join(shown) + (f", ... ({len(values)} values)" if len(values) > limit else "")


def sort_key(v: object) -> tuple[int, object]:
    """Numbers before text, numbers by value (a column may mix ints and floats)."""
    if isinstance(v, int | float | np.number) and not isinstance(v, bool | np.bool_):
        return (0, float(v))
    return (1, str(v))


def selectable(df: pd.DataFrame) -> list[str]:
    """The columns worth suggesting: layer, the identity columns and the config fields."""
    return [c for c in ("layer", *PINNED_COLUMNS, *CONFIG_COLUMNS, "batch_size") if c in df.columns]


# --- parsing ------------------------------------------------------------------------------------

def parse_where(items: Sequence[str] | None, option: str = "--where") -> dict[str, str]:
    """``["queue_depth=8", "layer=Alex-7"]`` as ``{"queue_depth": "8", "layer": "Alex-7"}``.

    Values stay text here; :func:`select_where` reads them by each column's field. A malformed
    item or a field given twice is an EieInputError naming the item.
    """
    out: dict[str, str] = {}
    for item in items or ():
        name, sep, value = str(item).partition("=")
        name, value = name.strip(), value.strip()
        if not sep or not name or not value:
            raise EieInputError(f"{option} {item!r}: expected FIELD=VALUE, e.g. {option} queue_depth=8")
        if name in out:
            raise EieInputError(f"{option} {item!r}: {name} is already fixed to {out[name]}; give each "
                                "field once")
        out[name] = value
    return out


def parse_assignments(text: str | None, option: str) -> dict[str, str]:
    """``"n_pes=64,queue_depth=8"`` (one option, comma-separated) as :func:`parse_where` reads it."""
    if text is None:
        return {}
    return parse_where([part for part in text.split(",") if part.strip()] or [text], option)


# --- matching -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Target:
    """What a ``--where`` name refers to: a column, its field (if any), and whether the value is
    in the flag's unit (the name was the flag's)."""

    column: str
    field: Field | None
    by_flag: bool


def _target(name: str, df: pd.DataFrame, value: object, option: str) -> _Target:
    if name in df.columns:
        return _Target(name, FIELD.get(name), False)
    flag = FLAG.get(name.lstrip("-").replace("-", "_"))
    if flag is not None and flag.name in df.columns:
        return _Target(flag.name, flag, flag.flag_name != flag.name)
    hint = ""
    if flag is not None:
        hint = f" (the sweep's {flag.option} would be the column {flag.name}, which these results lack)"
    raise EieInputError(f"{option} {name}={value}: the results have no field {name!r}{hint}; fields "
                        f"you can fix: {', '.join(selectable(df))}")


def _is_bool_column(col: pd.Series) -> bool:
    if pd.api.types.is_bool_dtype(col):
        return True
    present = col.dropna()
    return col.dtype == object and not present.empty and present.map(
        lambda v: isinstance(v, bool | np.bool_)).all()


def _present(col: pd.Series, target: _Target) -> str:
    """The values a column holds, as the name given spells them (in the flag's unit for a flag)."""
    values = sorted(col.dropna().unique().tolist(), key=sort_key)
    if target.by_flag and target.field is not None:
        unit = target.field.shown_unit
        return values_text([target.field.to_flag(v) for v in values]) + (f" ({unit})" if unit else "")
    return values_text(values)


def _match(col: pd.Series, name: str, value: object, target: _Target, option: str) -> pd.Series:
    """Rows of ``col`` equal to ``value``: booleans by the on/off words, numbers numerically (in
    the flag's unit when named by the flag), text as text."""
    at = f"{option} {name}={value}"
    if _is_bool_column(col):
        try:
            want = parse_bool(value, at)
        except EieConfigError as e:
            raise EieInputError(f"{e}; values present: {_present(col, target)}") from None
        return col.map(lambda v: v is not None and not pd.isna(v) and bool(v) == want)
    if pd.api.types.is_numeric_dtype(col):
        field = target.field
        if target.by_flag and field is not None:
            try:
                number = float(field.from_flag(value))  # the flag's unit, as the command line reads it
            except EieConfigError as e:
                raise EieInputError(f"{at}: {str(e).split(': ', 1)[-1]}; values present: "
                                    f"{_present(col, target)}") from None
        else:
            try:
                number = float(value)  # type: ignore[arg-type]
            except (TypeError, ValueError):
                raise EieInputError(f"{at}: {name} is a number; values present: "
                                    f"{_present(col, target)}") from None
        x = col.to_numpy(float)
        return pd.Series(np.isclose(x, number, rtol=1e-9, atol=0.0) & ~np.isnan(x), index=col.index)
    return col.astype(str) == str(value)


def select_where(df: pd.DataFrame, where: Mapping[str, object] | None, *,
                 option: str = "--where") -> pd.DataFrame:
    """The rows whose fields equal ``where``'s values, one field after the other.

    A name that is neither a column nor the flag of one, or a value no remaining row has, is an
    EieInputError naming it and listing the fields or values present.
    """
    narrowed = False
    for name, value in (where or {}).items():
        target = _target(name, df, value, option)
        col = df[target.column]
        mask = _match(col, name, value, target, option)
        if not mask.any():
            raise EieInputError(f"{option} {name}={value}: no row has {name} = {value}; values present"
                                f"{f' (in the rows the other {option} fields keep)' if narrowed else ''}: "
                                f"{_present(col, target) or 'none'}")
        df = df[mask.to_numpy(bool)]
        narrowed = True
    return df


# --- what varies --------------------------------------------------------------------------------

def varying(df: pd.DataFrame, columns: Sequence[str] = CONFIG_COLUMNS,
            exclude: Sequence[str] = ()) -> dict[str, list[object]]:
    """Those of ``columns`` that take more than one value inside some layer, with their values."""
    out: dict[str, list[object]] = {}
    for c in columns:
        if c in df.columns and c not in exclude:
            if (df.groupby("layer", sort=False)[c].nunique(dropna=False) > 1).any():
                out[c] = sorted(df[c].dropna().unique().tolist(), key=sort_key)
    return out


def preferred_value(column: str, values: Sequence[object]) -> object:
    """The value to fix a column at when asked to choose: the field's default when the data has
    it (the paper's design point), else the first value."""
    field = FIELD.get(column)
    if field is not None:
        for v in values:
            if same_value(v, field.default):
                return v
    return values[0]


def same_value(a: object, b: object) -> bool:
    """Whether two field values are the same: numbers to 1e-9 relative, booleans by truth."""
    if isinstance(a, bool | np.bool_) or isinstance(b, bool | np.bool_):
        return isinstance(a, bool | np.bool_) and isinstance(b, bool | np.bool_) and bool(a) == bool(b)
    if isinstance(a, int | float | np.number) and isinstance(b, int | float | np.number):
        return bool(np.isclose(float(a), float(b), rtol=1e-9, atol=0.0))
    return a == b


def where_hint(options: Mapping[str, list[object]], joiner: str = "or") -> str:
    """'--where queue_depth=8 (values: 2, 8) or --where n_pes=64 (values: ...)': each field at its
    preferred value; later config fields first, since n_pes is the usual x-variable."""
    order = sorted(options, key=lambda c: -CONFIG_COLUMNS.index(c) if c in CONFIG_COLUMNS else 1)
    return f" {joiner} ".join(f"--where {c}={value_text(preferred_value(c, options[c]))} "
                              f"(values: {values_text(options[c])})" for c in order)
