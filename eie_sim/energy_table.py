"""The energy model's data: the per-event constants table and the EIE paper's Table II.

Both are CSV files in the package (``data/energy_45nm.csv``, ``data/table2_pe.csv``); a user
can replace the first (``--energy-table``). They are read and validated here, with errors
naming the file, line, row and field; the units' modules turn the constants into prices
(``prices``) and :mod:`eie_sim.energy` fits the static term to Table II.
"""

from __future__ import annotations

import bisect
import functools
import math
import re
from dataclasses import dataclass
from pathlib import Path

from compressor.errors import EieFormatError
from eie_sim.csvdata import number, packaged_text, parse_csv

_MAX_TABLE_BYTES = 1 << 20  # a user table is a few rows; refuse to slurp anything huge


# --------------------------------------------------------------------------- reading CSV tables


def _read_text(path: str) -> str:
    """A user table's text; unreadable or binary files are format errors naming the file."""
    p = Path(path)
    try:
        with p.open("rb") as f:
            data = f.read(_MAX_TABLE_BYTES + 1)
    except OSError as e:
        raise EieFormatError(f"{p}: cannot read the table: {e.strerror or e}") from None
    if len(data) > _MAX_TABLE_BYTES:
        raise EieFormatError(f"{p}: larger than {_MAX_TABLE_BYTES} bytes; not an energy table")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise EieFormatError(f"{p}: not UTF-8 text") from None


# --------------------------------------------------------------------------- the energy table

# Scalar rows of energy_45nm.csv: name -> (unit, lowest, highest).
_SCALARS: dict[str, tuple[str, float, float]] = {
    "sram_periphery_fraction": ("fraction", 0.0, 1.0),
    "mult16": ("pJ", 0.0, math.inf),
    "add32": ("pJ", 0.0, math.inf),
    "lnzd_node_power": ("mW", 0.0, math.inf),
}
# SRAM anchors: "sram64_read_<capacity><B|KB|MB|GB>", pJ per 64-bit read; as many as the user likes.
_ANCHOR = re.compile(r"sram64_read_(\d+(?:\.\d+)?)(B|KB|MB|GB)", re.IGNORECASE)
_SCALE = {"B": 1, "KB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30}
_ENERGY_COLUMNS = ("name", "value", "unit", "source")


@dataclass(frozen=True)
class EnergyTable:
    """The constants of an energy table, validated; formulas live in the functions below."""

    source: str
    anchors: tuple[tuple[float, float], ...]  # (capacity bytes, pJ per 64-bit read), ascending
    periphery: float  # share of a 64-bit read that does not scale with width
    mult16_pj: float
    add32_pj: float
    lnzd_node_mw: float

    def sram_pj(self, capacity_bytes: float, width_bits: float) -> float:
        """One access to an SRAM of ``capacity_bytes`` and ``width_bits``: E64(C) * (P + (1-P) w/64).

        E64 is piecewise linear in log-log through the anchors, extrapolated beyond the
        first and last anchor with the slope of the nearest segment.
        """
        if capacity_bytes <= 0 or width_bits <= 0:
            raise ValueError(f"SRAM of {capacity_bytes} bytes x {width_bits} bits has no read energy")
        xs = [math.log(c) for c, _ in self.anchors]
        ys = [math.log(e) for _, e in self.anchors]
        x = math.log(capacity_bytes)
        i = min(max(bisect.bisect_right(xs, x) - 1, 0), len(xs) - 2)
        slope = (ys[i + 1] - ys[i]) / (xs[i + 1] - xs[i])
        e64 = math.exp(ys[i] + slope * (x - xs[i]))
        return e64 * (self.periphery + (1.0 - self.periphery) * width_bits / 64.0)


def parse_energy_table(label: str, text: str) -> EnergyTable:
    values: dict[str, float] = {}
    anchors: list[tuple[float, float, int]] = []
    seen: dict[str, int] = {}
    for line, r in parse_csv(label, text, _ENERGY_COLUMNS):
        name = r["name"]
        if not name:
            raise EieFormatError(f"{label}: line {line}, field 'name' is empty")
        if name in seen:
            raise EieFormatError(f"{label}: line {line}: row '{name}' already given on line {seen[name]}")
        seen[name] = line
        if not r["source"]:
            raise EieFormatError(f"{label}: line {line} (row '{name}'), field 'source' is empty; "
                                 "every constant must say where it comes from")
        m = _ANCHOR.fullmatch(name)
        if m:
            unit, lo, hi = "pJ", 0.0, math.inf
        elif name in _SCALARS:
            unit, lo, hi = _SCALARS[name]
        else:
            raise EieFormatError(
                f"{label}: line {line}, field 'name': unknown row '{name}'; known rows are "
                f"{', '.join(_SCALARS)} and SRAM anchors named like sram64_read_8KB")
        if r["unit"] != unit:
            raise EieFormatError(f"{label}: line {line} (row '{name}'), field 'unit' = {r['unit']!r}; "
                                 f"expected {unit!r}")
        v = number(label, line, name, "value", r["value"], lo=lo, hi=hi, positive=bool(m))
        if m:
            anchors.append((float(m.group(1)) * _SCALE[m.group(2).upper()], v, line))
        else:
            values[name] = v
    for name in _SCALARS:
        if name not in values:
            raise EieFormatError(f"{label}: missing row '{name}' (field 'name')")
    if len(anchors) < 2:
        raise EieFormatError(f"{label}: needs at least two SRAM anchor rows (sram64_read_<size>), "
                             f"found {len(anchors)}")
    anchors.sort()
    for (c0, e0, _), (c1, e1, line1) in zip(anchors, anchors[1:], strict=False):
        if c1 == c0:
            raise EieFormatError(f"{label}: line {line1}: two SRAM anchors for {c0:g} bytes")
        if e1 < e0:  # a larger SRAM cheaper to read would make the interpolation non-monotone
            raise EieFormatError(f"{label}: line {line1}, field 'value': SRAM anchor energy "
                                 f"{e1:g} pJ is below the smaller SRAM's {e0:g} pJ")
    return EnergyTable(source=label, anchors=tuple((c, e) for c, e, _ in anchors),
                       periphery=values["sram_periphery_fraction"], mult16_pj=values["mult16"],
                       add32_pj=values["add32"], lnzd_node_mw=values["lnzd_node_power"])


def table_source(path: str | None) -> tuple[str, str]:
    return packaged_text("energy_45nm.csv") if path is None else (str(path), _read_text(path))


def load_energy_table(path: str | None = None) -> EnergyTable:
    """The validated constants of ``path``, or of the packaged 45 nm table when None."""
    return parse_energy_table(*table_source(path))


# --------------------------------------------------------------------------- Table II


#: Table II's per-PE units, in its order (the units of eie_sim/units/ with a static term and an area).
TABLE2_UNITS = ("act_queue", "ptr_read", "spmat_read", "arith", "act_rw")
# Reference-design rows of table2_pe.csv: the SimConfig fields a per-event energy depends on.
_REF_INT = ("spmat_bytes", "word_bits", "ptr_bytes", "ptr_bits", "act_bytes", "queue_depth",
            "regs", "acc_bits")
_T2_ROWS = (*TABLE2_UNITS, "filler", "lnzd_node", "total")


@dataclass(frozen=True)
class Table2:
    """EIE Table II per PE, and the design it was measured on."""

    source: str
    power_mw: dict[str, float]
    area_um2: dict[str, float]
    reference: dict[str, float]  # clock_hz and the _REF_INT fields


@functools.cache
def table2() -> Table2:
    """The packaged Table II (validated like a user file, so a bad edit is a clear error)."""
    label, text = packaged_text("table2_pe.csv")
    power: dict[str, float] = {}
    area: dict[str, float] = {}
    ref: dict[str, float] = {}
    for line, r in parse_csv(label, text, ("unit", "power_mw", "area_um2", "value", "source")):
        unit = r["unit"]
        if unit.startswith("ref."):
            field = unit[4:]
            if field not in (*_REF_INT, "clock_hz"):
                raise EieFormatError(f"{label}: line {line}: unknown reference field '{field}'")
            v = number(label, line, unit, "value", r["value"], positive=True)
            if field != "clock_hz" and v != int(v):
                raise EieFormatError(f"{label}: line {line} (row '{unit}'), field 'value' must be "
                                     "an integer")
            ref[field] = v
        elif unit in _T2_ROWS:
            power[unit] = number(label, line, unit, "power_mw", r["power_mw"])
            area[unit] = number(label, line, unit, "area_um2", r["area_um2"])
        else:
            raise EieFormatError(f"{label}: line {line}, field 'unit': unknown row '{unit}'")
    for name in (*_T2_ROWS, *(f"ref.{f}" for f in ("clock_hz", *_REF_INT))):
        if name not in power and name.removeprefix("ref.") not in ref:
            raise EieFormatError(f"{label}: missing row '{name}' (field 'unit')")
    return Table2(label, power, area, ref)


