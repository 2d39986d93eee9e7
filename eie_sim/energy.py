"""Energy and area of EIE: event counts x energy per event, plus one fitted static term.

The model (docs/ARCHITECTURE.md section 6), in the Accelergy manner: the engines count
events keyed by (unit, action) (:mod:`eie_sim.counts`); this module prices them.

- **Per-event energies** are formulas evaluated with the constants of a CSV table
  (``data/energy_45nm.csv``, replaceable through ``SimConfig.energy_table``): SRAM
  reads interpolated through Horowitz's 45 nm anchors and scaled with width
  (CACTI-style), Horowitz's arithmetic, the EIE paper's LNZD node. Nothing in them
  is fitted.
- **The static term** (clock network and leakage, per PE-cycle) is the only fitted
  quantity: on the paper's steady-state workload at the design Table II was
  measured on (``data/table2_pe.csv``), each unit's static power is its Table II
  power minus the dynamic power of its events.
- **Area** is Table II's, with the two big SRAM units scaled by capacity.
"""

from __future__ import annotations

import bisect
import functools
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from pathlib import Path

import pandas as pd

from compressor.errors import EieFormatError, EieInputError
from eie_sim.config import SimConfig
from eie_sim.counts import EVENTS, PE_UNITS, UNITS, Counts
from eie_sim.csvdata import number, packaged_text, parse_csv

VALUE_BITS = 16  # the datapath's fixed-point width (docs/ARCHITECTURE.md section 3)
# The codebook register file is sized for EIE's 4-bit codes (16 entries); a layer's own
# wbits is a property of the encoded file, not of the hardware, so it is not a parameter here.
CODEBOOK_WBITS = 4
#: The calibration workload spans 8 cycles of one PE: 8 entries of one column.
CALIBRATION_CYCLES = 8

_PE_CYCLE = ("pe", "cycle")
_MAX_TABLE_BYTES = 1 << 20  # a user table is a few rows; refuse to slurp anything huge
_PJ = 1e-12


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


def _parse_energy_table(label: str, text: str) -> EnergyTable:
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


def _table_source(path: str | None) -> tuple[str, str]:
    return packaged_text("energy_45nm.csv") if path is None else (str(path), _read_text(path))


def load_energy_table(path: str | None = None) -> EnergyTable:
    """The validated constants of ``path``, or of the packaged 45 nm table when None."""
    return _parse_energy_table(*_table_source(path))


# --------------------------------------------------------------------------- Table II


# Reference-design rows of table2_pe.csv: the SimConfig fields a per-event energy depends on.
_REF_INT = ("spmat_bytes", "spmat_width_bits", "ptr_bytes", "ptr_bits", "act_bytes", "queue_depth",
            "regs", "acc_bits")
_T2_ROWS = (*PE_UNITS, "filler", "lnzd_node", "total")


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


# --------------------------------------------------------------------------- per-event energies


@dataclass(frozen=True)
class _Design:
    """The SimConfig fields the energy model depends on: the cache key, and the reference design."""

    clock_hz: float
    spmat_bytes: int
    spmat_width_bits: int
    ptr_bytes: int
    ptr_bits: int
    ptr_banks: int
    act_bytes: int
    queue_depth: int
    regs: int
    acc_bits: int
    dram_pj_per_bit: float

    @classmethod
    def of(cls, config: SimConfig) -> _Design:
        return cls(**{f.name: getattr(config, f.name) for f in fields(cls)})


def column_index_bits(ptr_bytes: int, ptr_bits: int) -> int:
    """Bits of a queue entry's column index: it addresses the pointer SRAM's pointers.

    64 KB of 18-bit pointers holds 29,127 of them: 15 bits (the paper's 32 KB of 16-bit: 14).
    """
    pointers = max(2, ptr_bytes * 8 // ptr_bits)
    return math.ceil(math.log2(pointers))


def _event_pj(t: EnergyTable, d: _Design) -> dict[tuple[str, str], float]:
    """Dynamic pJ per event; ("pe", "cycle") is added by the caller (it is the static term)."""
    # Activation queue: a register FIFO of queue_depth entries (16-bit value + column index).
    # No register-file figure is in the table, so it is priced as a tiny SRAM of the same
    # bits, extrapolated below the smallest anchor; a write costs the same as a read.
    entry_bits = VALUE_BITS + column_index_bits(d.ptr_bytes, d.ptr_bits)
    queue = t.sram_pj(d.queue_depth * entry_bits / 8, entry_bits)
    regfile = t.sram_pj(d.regs * VALUE_BITS / 8, VALUE_BITS)  # 64 x 16-bit registers, same way
    # With no activation SRAM every activation spills to DRAM and these counts are 0.
    act_sram = t.sram_pj(d.act_bytes, VALUE_BITS) if d.act_bytes > 0 else 0.0
    out = {
        ("act_queue", "push"): queue,
        ("act_queue", "pop"): queue,
        # p_j and p_j+1 from the two banks (half the pointer SRAM each) in one cycle
        # Two banks: p_j and p_j+1 in one access of both halves. One bank: each access of the
        # whole SRAM reads one pointer, and a column takes two.
        ("ptr_read", "read"): (2 * t.sram_pj(d.ptr_bytes / 2, d.ptr_bits) if d.ptr_banks == 2
                               else t.sram_pj(d.ptr_bytes, d.ptr_bits)),
        ("spmat_read", "word_read"): t.sram_pj(d.spmat_bytes, d.spmat_width_bits),
        ("arith", "codebook_read"): t.sram_pj(2**CODEBOOK_WBITS * VALUE_BITS / 8, VALUE_BITS),
        ("arith", "multiply"): t.mult16_pj,
        ("arith", "add"): t.add32_pj * d.acc_bits / 32,  # ripple adder energy ~ its width
        ("act_rw", "dest_read"): regfile,
        ("act_rw", "dest_write"): regfile,
        ("act_rw", "src_read"): regfile,
        ("act_rw", "sram_read"): act_sram,
        ("act_rw", "sram_write"): act_sram,
        ("lnzd", "node_cycle"): t.lnzd_node_mw * 1e9 / d.clock_hz,  # mW / Hz -> pJ per cycle
        ("dram", "bit"): d.dram_pj_per_bit,
    }
    assert set(out) | {_PE_CYCLE} == set(EVENTS), "every counted event needs a price"
    return out


def calibration_counts(n_pes: int = 1) -> Counts:
    """The paper's steady state for ``n_pes`` PEs over CALIBRATION_CYCLES (8) cycles.

    One entry per cycle (codebook lookup, multiply, add, destination read and write) and
    eight entries per column (one sparse-matrix word, one pointer read, one queue push and pop).
    """
    c, cols = CALIBRATION_CYCLES * n_pes, CALIBRATION_CYCLES * n_pes // 8
    return Counts.from_mapping({
        ("arith", "codebook_read"): c, ("arith", "multiply"): c, ("arith", "add"): c,
        ("act_rw", "dest_read"): c, ("act_rw", "dest_write"): c,
        ("spmat_read", "word_read"): cols, ("ptr_read", "read"): cols,
        ("act_queue", "push"): cols, ("act_queue", "pop"): cols,
        _PE_CYCLE: c,
    })


def _dynamic_mw(pj: dict[tuple[str, str], float], clock_hz: float) -> dict[str, float]:
    """Per-unit dynamic power of one PE on the calibration workload."""
    out = dict.fromkeys(PE_UNITS, 0.0)
    for (unit, action), n in calibration_counts().items():
        if unit in out:
            out[unit] += n * pj[(unit, action)]
    return {u: e / CALIBRATION_CYCLES * clock_hz * 1e-9 for u, e in out.items()}  # pJ*Hz -> mW


def _reference(t2: Table2, d: _Design) -> _Design:
    """The design Table II was measured on (DRAM energy, irrelevant to it, is kept from ``d``).

    EIE's pointer SRAM has two banks (the paper's even/odd pointer banks)."""
    ref = {k: (v if k == "clock_hz" else int(v)) for k, v in t2.reference.items()}
    return replace(d, **ref, ptr_banks=2)


@functools.lru_cache(maxsize=256)
def _model(label: str, text: str, d: _Design) -> tuple[
        tuple[tuple[tuple[str, str], float], ...], tuple[tuple[str, float], ...]]:
    """(per-event pJ items, static pJ per PE-cycle items) for one table text and design."""
    t = _parse_energy_table(label, text)
    t2 = table2()
    ref = _reference(t2, d)
    # The fit: static power of a unit = Table II power - its events' power at the reference.
    ref_dyn = _dynamic_mw(_event_pj(t, ref), ref.clock_hz)
    static_mw: dict[str, float] = {}
    for u in PE_UNITS:
        s = t2.power_mw[u] - ref_dyn[u]
        if s < 0:
            raise EieFormatError(
                f"{label}: cannot calibrate unit '{u}': its events alone draw {ref_dyn[u]:.4g} mW "
                f"on the calibration workload at the reference design, more than Table II's "
                f"{t2.power_mw[u]:.4g} mW (the fitted static power would be negative)")
        static_mw[u] = s
    # Leakage grows with the bits stored: the SRAM units' static term scales with capacity.
    # The clock-network share of it would not; Table II does not split the two per unit.
    static_mw["spmat_read"] *= d.spmat_bytes / ref.spmat_bytes
    static_mw["ptr_read"] *= d.ptr_bytes / ref.ptr_bytes
    # A power drawn every cycle: energy per cycle = power / the configured clock.
    static_pj = {u: p * 1e9 / d.clock_hz for u, p in static_mw.items()}
    pj = _event_pj(t, d)
    pj[_PE_CYCLE] = sum(static_pj.values())
    return tuple(pj.items()), tuple(static_pj.items())


def max_calibratable_periphery(config: SimConfig | None = None, *, tolerance: float = 1e-4) -> float:
    """The largest SRAM periphery fraction P for which every unit still calibrates to Table II.

    A larger P makes every SRAM access dearer; above this value some unit's events alone
    draw more than its Table II power on the calibration workload (a negative static term).
    Found by bisection on the configuration's energy table.
    """
    config = config or SimConfig()
    table = load_energy_table(config.energy_table)
    t2 = table2()
    ref = _reference(t2, _Design.of(config))

    def fits(p: float) -> bool:
        dyn = _dynamic_mw(_event_pj(replace(table, periphery=p), ref), ref.clock_hz)
        return all(dyn[u] <= t2.power_mw[u] for u in PE_UNITS)

    lo, hi = 0.0, 1.0
    if fits(hi):
        return hi
    while hi - lo > tolerance:
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if fits(mid) else (lo, mid)
    return lo


@dataclass(frozen=True)
class EnergyModel:
    """Per-event energies (pJ) and the static pJ per PE-cycle of each unit, for one SimConfig.

    Per-event energies are formulas over the table's constants; only the static term is
    fitted (to Table II on the calibration workload, see :func:`calibration_table`).
    ``per_event_pj[("pe", "cycle")]`` is the sum of the static terms.
    """

    per_event_pj: dict[tuple[str, str], float]
    static_pj_per_pe_cycle: dict[str, float]  # keyed by unit (Table II's five)
    source: str  # path of the energy table used

    @classmethod
    def for_config(cls, config: SimConfig) -> EnergyModel:
        """The model of ``config``: its ``energy_table`` or the packaged CSV.

        Cached per (table contents, relevant config fields): an edited table is re-read.
        Each call returns fresh dicts, so a caller cannot corrupt the cache.
        """
        label, text = _table_source(config.energy_table)
        pj, static = _model(label, text, _Design.of(config))
        return cls(dict(pj), dict(static), label)


# --------------------------------------------------------------------------- energy of a run


@dataclass(frozen=True)
class EnergyBreakdown:
    """Joules of a run, per unit (dynamic + static), per kind and per event."""

    total_j: float
    by_unit_j: dict[str, float]  # UNITS
    dynamic_j: dict[str, float]
    static_j: dict[str, float]
    by_event_j: dict[str, float]  # "unit.action" -> J; "pe.cycle" is the static total


def _breakdown(counts: Counts, model: EnergyModel) -> EnergyBreakdown:
    dynamic = dict.fromkeys(UNITS, 0.0)
    by_event: dict[str, float] = {}
    for (unit, action), n in counts.items():
        if (unit, action) == _PE_CYCLE:
            continue
        j = n * model.per_event_pj[(unit, action)] * _PJ
        by_event[f"{unit}.{action}"] = j
        dynamic[unit] += j
    pe_cycles = counts[_PE_CYCLE]
    static = {u: pe_cycles * model.static_pj_per_pe_cycle.get(u, 0.0) * _PJ for u in UNITS}
    by_event["pe.cycle"] = sum(static.values())
    by_unit = {u: dynamic[u] + static[u] for u in UNITS}
    return EnergyBreakdown(total_j=sum(by_unit.values()), by_unit_j=by_unit, dynamic_j=dynamic,
                           static_j=static, by_event_j=by_event)


def energy(counts: Counts, config: SimConfig) -> EnergyBreakdown:
    """Energy of ``counts`` under ``config``; the static part uses counts[("pe", "cycle")].

    ``total_j`` is computed as the sum of ``by_unit_j``.
    """
    return _breakdown(counts, EnergyModel.for_config(config))


def calibration_table(config: SimConfig | None = None) -> pd.DataFrame:
    """Table II against the model, per unit and in total, on the calibration workload.

    Evaluated at the reference design of table2_pe.csv with the constants of
    ``config.energy_table`` (the packaged table when None). ``uncalibrated_dynamic_mw``
    is what the per-event energies alone give; ``static_fitted_mw`` is the fitted term.
    """
    config = config or SimConfig()
    t2 = table2()
    label, text = _table_source(config.energy_table)
    ref = _reference(t2, _Design.of(config))
    pj, static = _model(label, text, ref)
    b = _breakdown(calibration_counts(), EnergyModel(dict(pj), dict(static), label))
    to_mw = ref.clock_hz / CALIBRATION_CYCLES * 1e3  # J over the workload -> mW
    rows = [{"unit": u, "table2_mw": t2.power_mw[u],
             "uncalibrated_dynamic_mw": b.dynamic_j[u] * to_mw,
             "static_fitted_mw": b.static_j[u] * to_mw,
             "calibrated_mw": b.by_unit_j[u] * to_mw} for u in PE_UNITS]
    total = {k: sum(r[k] for r in rows) for k in rows[0] if k != "unit"}
    rows.append({**total, "unit": "total", "table2_mw": t2.power_mw["total"]})
    df = pd.DataFrame(rows).set_index("unit")
    df["error_pct"] = (df["calibrated_mw"] / df["table2_mw"] - 1.0) * 100.0
    return df


# --------------------------------------------------------------------------- area


def area(config: SimConfig) -> dict[str, float]:
    """Area from Table II: um2 per unit of one PE, the PE, the LNZD tree and the chip (mm2).

    The sparse-matrix and pointer units scale linearly with their SRAM capacity (their
    area is ~all SRAM); the other units, the filler cells and an LNZD node stay as measured.
    """
    t2 = table2()
    ref = t2.reference
    out = {u: t2.area_um2[u] for u in PE_UNITS}
    out["spmat_read"] *= config.spmat_bytes / ref["spmat_bytes"]
    out["ptr_read"] *= config.ptr_bytes / ref["ptr_bytes"]
    out["filler"] = t2.area_um2["filler"]  # Table II's total includes filler cells
    pe = sum(out.values())
    nodes = config.lnzd_nodes
    lnzd = nodes * t2.area_um2["lnzd_node"]
    return {**out, "pe_um2": pe, "lnzd_node_um2": t2.area_um2["lnzd_node"],
            "lnzd_nodes": nodes, "lnzd_um2": lnzd,
            "chip_mm2": (config.n_pes * pe + lnzd) * 1e-6}


# --------------------------------------------------------------------------- dense baseline


def dense_baseline(m: int, n: int, config: SimConfig, *, resident: bool | None = None) -> dict[str, object]:
    """The dense accelerator of docs/ARCHITECTURE.md section 7 on an m x n layer, priced by the same table.

    Cycles: ceil(m/N)*n + 3 with 16-bit weights resident in the N sparse-matrix SRAMs, or
    max(that, ceil(2mn / B)) + L_dram when streamed. Energy: multiply + add per MAC, an
    SRAM word per spmat_width_bits/16 weights (or 16 DRAM bits per weight), n activation SRAM
    reads per round, and the static term per PE-cycle. ``resident`` overrides the fit (a
    model's layers share the SRAMs: :func:`dense_model`).
    """
    for name, v in (("m", m), ("n", n)):
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise EieInputError(f"dense_baseline: {name} = {v!r} must be a positive integer")
    npe = config.n_pes
    rows_per_pe = -(-m // npe)
    compute = rows_per_pe * n + 3
    weight_bytes = 2 * m * n
    if resident is None:
        resident = weight_bytes <= npe * config.spmat_bytes
    cycles = compute if resident else (
        max(compute, math.ceil(weight_bytes / config.dram_bytes_per_cycle)) + config.dram_latency_cycles)
    rounds = -(-rows_per_pe // config.regs)
    macs = m * n
    counts = Counts()
    counts.add("arith", "multiply", macs)
    counts.add("arith", "add", macs)
    if resident:
        counts.add("spmat_read", "word_read", -(-VALUE_BITS * macs // config.spmat_width_bits))
    else:
        counts.add("dram", "bit", VALUE_BITS * macs)
    counts.add("act_rw", "sram_read", n * rounds)
    counts.add("pe", "cycle", npe * cycles)
    b = energy(counts, config)
    return {"cycles": cycles, "seconds": cycles / config.clock_hz, "resident": resident,
            "energy_j": b.total_j, "energy_by_unit_j": b.by_unit_j, "macs": macs}


def dense_model(shapes: Sequence[tuple[int, int]], config: SimConfig) -> dict[str, object]:
    """Section 7's dense accelerator on a model's ``(m, n)`` layers, run one after another.

    The layers share the SRAMs: a resident prefix of them, while their 16-bit weights fit the
    N sparse-matrix SRAMs together, as EIE's own memory plan keeps one; the rest stream from
    DRAM. Cycles and energy add up; ``resident`` says whether every layer is resident.
    """
    capacity = config.n_pes * config.spmat_bytes
    used, prefix, parts = 0, True, []
    for m, n in shapes:
        prefix = prefix and used + 2 * m * n <= capacity
        used += 2 * m * n if prefix else 0
        parts.append(dense_baseline(m, n, config, resident=prefix))
    return {"cycles": sum(p["cycles"] for p in parts), "seconds": sum(p["seconds"] for p in parts),
            "energy_j": sum(p["energy_j"] for p in parts), "resident": all(p["resident"] for p in parts),
            "layers": parts}
