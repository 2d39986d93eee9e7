"""Energy and area of EIE: event counts x energy per event, and nothing else (Accelergy's way).

The model (docs/ARCHITECTURE.md section 6): the engines count events keyed by
(unit, action); each unit's module prices its own actions (``prices``) from the constants
of an energy table (:mod:`eie_sim.energy_table`); energy is the sum of count x price.

- **Dynamic prices** are formulas over the table's constants: SRAM reads interpolated
  through Horowitz's 45 nm anchors and scaled with width (CACTI-style), Horowitz's
  arithmetic, the EIE paper's LNZD node. Nothing in them is fitted.
- **The static term** is each Table II unit's ``cycle`` event, one per PE-cycle: the clock
  network and leakage. It is the only fitted price: on the paper's steady-state workload
  (each unit's ``steady_state``) at the design Table II was measured on
  (``data/table2_pe.csv``), a unit's static power is its Table II power minus the power of
  its dynamic events; SRAM units scale it with their capacity (``static_scale``).
- **Area** is Table II's, the SRAM units scaled by capacity (``area_scale``).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import pandas as pd

from compressor.errors import EieFormatError, EieInputError
from eie_sim.config import FIELDS, SimConfig
from eie_sim.counts import Counts, known_events
from eie_sim.energy_table import (
    TABLE2_UNITS,
    EnergyTable,
    load_energy_table,
    parse_energy_table,
    table2,
    table_source,
)
from eie_sim.units import PRICED, dram

#: The calibration workload spans 8 cycles of one PE: 8 entries of one column.
CALIBRATION_CYCLES = 8
STATIC = "cycle"  # the action of a unit's per-PE-cycle static term
_PJ = 1e-12
_TABLE2 = tuple(u for u in PRICED if u.TABLE2)
assert tuple(u.NAME for u in _TABLE2) == TABLE2_UNITS, "Table II's units are the units with a static term"
#: Unit names of an energy breakdown, in order.
UNITS: tuple[str, ...] = tuple(u.NAME for u in PRICED)


def dynamic_prices(table: EnergyTable, config: SimConfig) -> dict[tuple[str, str], float]:
    """pJ per event of every unit's dynamic actions, as the units price them."""
    out: dict[tuple[str, str], float] = {}
    for unit in PRICED:
        for action, pj in unit.prices(table, config).items():
            out[(unit.NAME, action)] = pj
    missing = [e for e in known_events() if e[1] != STATIC and e not in out]
    if missing:
        raise RuntimeError(f"events without a price: {missing}")
    return out


def calibration_counts(n_pes: int = 1) -> Counts:
    """The paper's steady state for ``n_pes`` PEs over CALIBRATION_CYCLES (8) cycles: one entry
    per cycle, eight entries per column, each unit counting its own events."""
    entries, columns = CALIBRATION_CYCLES * n_pes, CALIBRATION_CYCLES * n_pes // 8
    counts = Counts()
    for unit in _TABLE2:
        for action, n in unit.steady_state(entries, columns).items():
            counts.add(unit.NAME, action, n)
        counts.add(unit.NAME, STATIC, entries)  # a PE-cycle per entry
    return counts


def _dynamic_mw(pj: dict[tuple[str, str], float], clock_hz: float) -> dict[str, float]:
    """Per-unit dynamic power of one PE on the calibration workload."""
    out = dict.fromkeys(TABLE2_UNITS, 0.0)
    for (unit, action), n in calibration_counts().items():
        if unit in out and action != STATIC:
            out[unit] += n * pj[(unit, action)]
    return {u: e / CALIBRATION_CYCLES * clock_hz * 1e-9 for u, e in out.items()}  # pJ*Hz -> mW


def _reference(config: SimConfig) -> SimConfig:
    """The design Table II was measured on (with EIE's two pointer banks); the other fields
    (DRAM energy, irrelevant to it) are kept from ``config``."""
    ref = {k: (v if k == "clock_hz" else int(v)) for k, v in table2().reference.items()}
    return config.replace(**ref, ptr_banks=2)


def _priced_config(config: SimConfig) -> SimConfig:
    """``config`` with the fields that cannot change a price reset (a smaller cache key)."""
    return config.replace(**{f.name: f.default for f in FIELDS if not f.affects_results},
                          energy_table=None)


@functools.lru_cache(maxsize=256)
def _model(label: str, text: str, config: SimConfig) -> tuple[tuple[tuple[str, str], float], ...]:
    """Every event's pJ (the static ``cycle`` events fitted) for one table text and design."""
    t = parse_energy_table(label, text)
    t2 = table2()
    ref = _reference(config)
    ref_dyn = _dynamic_mw(dynamic_prices(t, ref), ref.clock_hz)
    pj = dynamic_prices(t, config)
    for unit in _TABLE2:
        u = unit.NAME
        static_mw = t2.power_mw[u] - ref_dyn[u]
        if static_mw < 0:
            raise EieFormatError(
                f"{label}: cannot calibrate unit '{u}': its events alone draw {ref_dyn[u]:.4g} mW "
                f"on the calibration workload at the reference design, more than Table II's "
                f"{t2.power_mw[u]:.4g} mW (the fitted static power would be negative)")
        scale = getattr(unit, "static_scale", None)
        if scale is not None:  # leakage grows with the bits stored
            static_mw *= scale(config, ref)
        pj[(u, STATIC)] = static_mw * 1e9 / config.clock_hz  # a power every cycle -> pJ per cycle
    return tuple(pj.items())


@dataclass(frozen=True)
class EnergyModel:
    """pJ per event, every event (a Table II unit's ``cycle`` is its fitted static term)."""

    per_event_pj: dict[tuple[str, str], float]
    source: str  # path of the energy table used

    @classmethod
    def for_config(cls, config: SimConfig) -> EnergyModel:
        """The model of ``config``: its ``energy_table`` or the packaged CSV.

        Cached per (table contents, the fields that change a price): an edited table is re-read.
        Each call returns a fresh dict, so a caller cannot corrupt the cache.
        """
        label, text = table_source(config.energy_table)
        return cls(dict(_model(label, text, _priced_config(config))), label)


def max_calibratable_periphery(config: SimConfig | None = None, *, tolerance: float = 1e-4) -> float:
    """The largest SRAM periphery fraction P for which every unit still calibrates to Table II.

    A larger P makes every SRAM access dearer; above this value some unit's events alone
    draw more than its Table II power on the calibration workload (a negative static term).
    Found by bisection on the configuration's energy table.
    """
    config = config or SimConfig()
    table = load_energy_table(config.energy_table)
    t2 = table2()
    ref = _reference(config)

    def fits(p: float) -> bool:
        dyn = _dynamic_mw(dynamic_prices(replace(table, periphery=p), ref), ref.clock_hz)
        return all(dyn[u] <= t2.power_mw[u] for u in TABLE2_UNITS)

    lo, hi = 0.0, 1.0
    if fits(hi):
        return hi
    while hi - lo > tolerance:
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if fits(mid) else (lo, mid)
    return lo


# --------------------------------------------------------------------------- energy of a run


@dataclass(frozen=True)
class EnergyBreakdown:
    """Joules of a run: per event, and summed per unit (dynamic, static and both)."""

    total_j: float
    by_unit_j: dict[str, float]  # UNITS
    dynamic_j: dict[str, float]
    static_j: dict[str, float]  # the units' cycle events
    by_event_j: dict[str, float]  # "unit.action" -> J


def energy(counts: Counts, config: SimConfig) -> EnergyBreakdown:
    """Energy of ``counts`` under ``config``: each event's count x its price, summed."""
    pj = EnergyModel.for_config(config).per_event_pj
    dynamic = dict.fromkeys(UNITS, 0.0)
    static = dict.fromkeys(UNITS, 0.0)
    by_event: dict[str, float] = {}
    for (unit, action), n in counts.items():
        j = n * pj[(unit, action)] * _PJ
        by_event[f"{unit}.{action}"] = j
        (static if action == STATIC else dynamic)[unit] += j
    by_unit = {u: dynamic[u] + static[u] for u in UNITS}
    return EnergyBreakdown(total_j=sum(by_event.values()), by_unit_j=by_unit, dynamic_j=dynamic,
                           static_j=static, by_event_j=by_event)


def calibration_table(config: SimConfig | None = None) -> pd.DataFrame:
    """Table II against the model, per unit and in total, on the calibration workload.

    Evaluated at the reference design of table2_pe.csv with the constants of
    ``config.energy_table`` (the packaged table when None). ``uncalibrated_dynamic_mw``
    is what the per-event energies alone give; ``static_fitted_mw`` is the fitted term.
    """
    config = config or SimConfig()
    t2 = table2()
    ref = _reference(config)
    b = energy(calibration_counts(), ref)
    to_mw = ref.clock_hz / CALIBRATION_CYCLES * 1e3  # J over the workload -> mW
    rows = [{"unit": u, "table2_mw": t2.power_mw[u],
             "uncalibrated_dynamic_mw": b.dynamic_j[u] * to_mw,
             "static_fitted_mw": b.static_j[u] * to_mw,
             "calibrated_mw": b.by_unit_j[u] * to_mw} for u in TABLE2_UNITS]
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
    from eie_sim.units import ccu

    t2 = table2()
    ref = _reference(config)
    out = {}
    for unit in _TABLE2:
        scale = getattr(unit, "area_scale", None)
        out[unit.NAME] = t2.area_um2[unit.NAME] * (scale(config, ref) if scale else 1.0)
    out["filler"] = t2.area_um2["filler"]  # Table II's total includes filler cells
    pe = sum(out.values())
    nodes = ccu.lnzd_nodes(config.n_pes)
    lnzd = nodes * t2.area_um2["lnzd_node"]
    return {**out, "pe_um2": pe, "lnzd_node_um2": t2.area_um2["lnzd_node"],
            "lnzd_nodes": nodes, "lnzd_um2": lnzd,
            "chip_mm2": (config.n_pes * pe + lnzd) * 1e-6}


# --------------------------------------------------------------------------- dense baseline

VALUE_BITS = 16


def dense_baseline(m: int, n: int, config: SimConfig, *, resident: bool | None = None) -> dict[str, object]:
    """The dense accelerator of docs/ARCHITECTURE.md section 7 on an m x n layer, priced by the same table.

    Cycles: ceil(m/N)*n + 3 with 16-bit weights resident in the N sparse-matrix SRAMs, or
    max(that, ceil(2mn / B)) + L_dram when streamed. Energy: multiply + add per MAC, an
    SRAM word per word_bits/16 weights (or 16 DRAM bits per weight), n activation SRAM
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
        max(compute, math.ceil(weight_bytes / dram.bytes_per_cycle(config))) + dram.latency_cycles(config))
    rounds = -(-rows_per_pe // config.regs)
    macs = m * n
    counts = Counts()
    counts.add("arith", "multiply", macs)
    counts.add("arith", "add", macs)
    if resident:
        counts.add("spmat_read", "word_read", -(-VALUE_BITS * macs // config.word_bits))
    else:
        counts.add("dram", "bit", VALUE_BITS * macs)
    counts.add("act_rw", "sram_read", n * rounds)
    for unit in _TABLE2:
        counts.add(unit.NAME, STATIC, npe * cycles)
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
