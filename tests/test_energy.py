"""Tests for eie_sim.energy: per-event pricing, the static-term fit, area, dense baseline, tables."""

from __future__ import annotations

import csv
import io
import math
from importlib import resources
from pathlib import Path

import pytest

from compressor.errors import EieFormatError, EieInputError
from eie_sim.config import SimConfig
from eie_sim.counts import Counts, known_events
from eie_sim.energy import (
    UNITS,
    EnergyModel,
    area,
    calibration_counts,
    calibration_table,
    dense_baseline,
    dense_model,
    energy,
)
from eie_sim.energy_table import TABLE2_UNITS as PE_UNITS
from eie_sim.energy_table import load_energy_table, table2
from eie_sim.units.act_queue import column_index_bits

TABLE_II_MW = {"act_queue": 0.112, "ptr_read": 1.807, "spmat_read": 4.955, "arith": 1.162,
               "act_rw": 1.122}
KB = 1024


def static_pj(config: SimConfig) -> dict[str, float]:
    """Each Table II unit's static price: its ``cycle`` event, pJ per PE-cycle."""
    pj = EnergyModel.for_config(config).per_event_pj
    return {u: pj[(u, "cycle")] for u in PE_UNITS}


def close(x: float, rel: float = 1e-9):
    """pytest.approx without its absolute 1e-12 slack, which would swallow picojoule-sized errors."""
    return pytest.approx(x, rel=rel, abs=0)


def _packaged_rows() -> list[dict[str, str]]:
    text = resources.files("eie_sim").joinpath("data", "energy_45nm.csv").read_text()
    return list(csv.DictReader(io.StringIO(text)))


def _write_table(path: Path, rows: list[dict[str, str]], columns: list[str] | None = None) -> str:
    columns = columns or ["name", "value", "unit", "source"]
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=columns, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    return str(path)


def _with_value(name: str, value: str) -> list[dict[str, str]]:
    rows = _packaged_rows()
    assert any(r["name"] == name for r in rows)
    return [{**r, "value": value} if r["name"] == name else r for r in rows]


# --------------------------------------------------------------------------- calibration


def test_calibrated_power_matches_table2_per_unit_and_total():
    df = calibration_table()
    for unit, mw in TABLE_II_MW.items():
        assert df.loc[unit, "table2_mw"] == mw
        assert df.loc[unit, "calibrated_mw"] == close(mw, rel=0.02)
        assert abs(df.loc[unit, "error_pct"]) < 2.0
    assert df.loc["total", "calibrated_mw"] == close(9.157, rel=0.02)
    assert list(df.index) == [*PE_UNITS, "total"]


def test_uncalibrated_dynamic_power_is_positive_below_table2_and_the_rest_is_static():
    df = calibration_table()
    for unit, mw in TABLE_II_MW.items():
        dyn, static = df.loc[unit, "uncalibrated_dynamic_mw"], df.loc[unit, "static_fitted_mw"]
        assert 0 < dyn < mw, unit
        assert static == close(mw - dyn, rel=1e-9)
    # the fitted static total should be of the order of Table II's clock network (1.874 mW)
    assert 1.0 < df.loc["total", "static_fitted_mw"] < 4.0


def test_uncalibrated_power_recomputed_by_hand_from_event_energies():
    pj = EnergyModel.for_config(SimConfig()).per_event_pj
    f = 800e6
    per_8_cycles = {  # pJ of one PE over 8 cycles of the paper's steady state
        "act_queue": pj[("act_queue", "push")] + pj[("act_queue", "pop")],
        "ptr_read": pj[("ptr_read", "read")],
        "spmat_read": pj[("spmat_read", "word_read")],
        "arith": 8 * (pj[("arith", "codebook_read")] + pj[("arith", "multiply")]
                      + pj[("arith", "add")]),
        "act_rw": 8 * (pj[("act_rw", "dest_read")] + pj[("act_rw", "dest_write")]),
    }
    df = calibration_table()
    for unit, e in per_8_cycles.items():
        assert df.loc[unit, "uncalibrated_dynamic_mw"] == close(e / 8 * f * 1e-9, rel=1e-12)


def test_static_term_scales_with_sram_capacity_only():
    base = static_pj(SimConfig())
    big = static_pj(SimConfig(spmat_bytes=256 * KB, ptr_bytes=16 * KB, regs=128, queue_depth=16))
    assert big["spmat_read"] == close(2 * base["spmat_read"])
    assert big["ptr_read"] == close(base["ptr_read"] / 4)
    for u in ("act_queue", "arith", "act_rw"):
        assert big[u] == close(base[u])
    # static pJ per cycle at the reference = fitted static mW / 800 MHz
    df = calibration_table()
    assert base["arith"] == close(df.loc["arith", "static_fitted_mw"] * 1e9 / 800e6)


def test_calibration_table_is_at_the_reference_design_not_the_users():
    a = calibration_table(SimConfig(spmat_bytes=512 * KB, clock_hz=1e9))
    b = calibration_table()
    assert a["uncalibrated_dynamic_mw"].tolist() == close(b["uncalibrated_dynamic_mw"].tolist())


# --------------------------------------------------------------------------- energy of counts


def test_energy_equals_independent_sum_of_count_times_event_energy():
    config = SimConfig()
    pj = EnergyModel.for_config(config).per_event_pj
    assert set(pj) == set(known_events())
    primes = [2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73]
    given = dict(zip(known_events(), primes, strict=False))
    counts = Counts.from_mapping(given)
    expected = sum(n * pj[key] for key, n in given.items()) * 1e-12
    b = energy(counts, config)
    assert b.total_j == close(expected, rel=1e-12)
    assert set(b.by_unit_j) == set(UNITS)
    assert sum(b.by_event_j.values()) == close(b.total_j, rel=1e-12)
    mult = ("arith", "multiply")
    assert b.by_event_j["arith.multiply"] == close(given[mult] * pj[mult] * 1e-12)
    assert b.dynamic_j["dram"] == close(given[("dram", "bit")] * 20.0 * 1e-12)
    assert b.static_j["ccu"] == 0.0 and b.static_j["dram"] == 0.0
    assert b.static_j["spmat_read"] == close(given[("spmat_read", "cycle")] * static_pj(config)["spmat_read"]
                                             * 1e-12)
    for u in UNITS:
        assert b.by_unit_j[u] == close(b.dynamic_j[u] + b.static_j[u])


def test_empty_counts_cost_nothing():
    b = energy(Counts(), SimConfig())
    assert b.total_j == 0.0 and all(v == 0.0 for v in b.by_event_j.values())


def test_lnzd_and_dram_prices_follow_the_config():
    pj = EnergyModel.for_config(SimConfig()).per_event_pj
    assert pj[("ccu", "node_cycle")] == close(0.023e-3 / 800e6 * 1e12)
    assert pj[("dram", "bit")] == 20.0
    other = EnergyModel.for_config(SimConfig(clock_hz=400e6, dram_pj_per_bit=5.0)).per_event_pj
    assert other[("ccu", "node_cycle")] == close(2 * pj[("ccu", "node_cycle")])
    assert other[("dram", "bit")] == 5.0
    # the static term is a power: at half the clock a cycle lasts twice as long
    slow = static_pj(SimConfig(clock_hz=400e6))
    base = static_pj(SimConfig())
    assert all(slow[u] == close(2 * base[u]) for u in PE_UNITS)


def test_model_dicts_are_fresh_per_call():
    m = EnergyModel.for_config(SimConfig())
    m.per_event_pj[("arith", "multiply")] = 1e9
    m.per_event_pj[("arith", "cycle")] = 1e9
    again = EnergyModel.for_config(SimConfig())
    assert again.per_event_pj[("arith", "multiply")] == close(0.62)
    assert again.per_event_pj[("arith", "cycle")] < 1.0


def test_no_activation_sram_prices_its_events_at_zero():
    pj = EnergyModel.for_config(SimConfig(act_bytes=0)).per_event_pj
    assert pj[("act_rw", "sram_read")] == 0.0 and pj[("act_rw", "sram_write")] == 0.0
    assert EnergyModel.for_config(SimConfig()).per_event_pj[("act_rw", "sram_read")] > 0


def test_event_energies_follow_the_formulas():
    t = load_energy_table()
    config = SimConfig()
    pj = EnergyModel.for_config(config).per_event_pj
    assert pj[("spmat_read", "word_read")] == close(t.sram_pj(128 * KB, 64))
    assert pj[("ptr_read", "read")] == close(2 * t.sram_pj(32 * KB, 18))
    assert pj[("arith", "codebook_read")] == close(t.sram_pj(32, 16))
    assert pj[("arith", "add")] == close(0.1 * 16 / 32)
    assert pj[("act_rw", "dest_write")] == close(t.sram_pj(128, 16))
    assert pj[("act_queue", "push")] == close(t.sram_pj(8 * 31 / 8, 31))
    wide = EnergyModel.for_config(SimConfig(acc_bits=32)).per_event_pj
    assert wide[("arith", "add")] == close(2 * pj[("arith", "add")])


def test_column_index_bits_address_the_pointer_sram():
    assert column_index_bits(64 * KB, 18) == 15  # 29,127 pointers
    assert column_index_bits(32 * KB, 16) == 14  # the paper's 16,384 pointers
    assert column_index_bits(1, 1) == 3


# --------------------------------------------------------------------------- SRAM formula


def test_sram_anchors_interpolation_and_extrapolation():
    t = load_energy_table()
    P = t.periphery
    assert t.sram_pj(8 * KB, 64) == close(10.0)
    assert t.sram_pj(32 * KB, 64) == close(20.0)
    assert t.sram_pj(1024 * KB, 64) == close(100.0)
    # log-log midpoint of 8 KB and 32 KB (16 KB): the geometric mean of 10 and 20 pJ
    assert t.sram_pj(16 * KB, 64) == close(math.sqrt(10 * 20))
    # and of 32 KB and 1 MB: sqrt(32K * 1M) bytes -> sqrt(20 * 100)
    assert t.sram_pj(math.sqrt(32 * KB * 1024 * KB), 64) == close(math.sqrt(20 * 100))
    # 128 KB by hand: 20 * (128/32) ** (log 5 / log 32)
    assert t.sram_pj(128 * KB, 64) == close(20 * 4 ** (math.log(5) / math.log(32)))
    # below the first anchor with the first slope (1/2), above the last with the last slope
    assert t.sram_pj(2 * KB, 64) == close(10 * (2 / 8) ** 0.5)
    assert t.sram_pj(4096 * KB, 64) == close(100 * 4 ** (math.log(5) / math.log(32)))
    # width: E64 * (P + (1-P) w / 64)
    assert t.sram_pj(16 * KB, 16) == close(math.sqrt(200) * (P + (1 - P) / 4))
    assert 0 < P < 1


def test_sram_energy_is_monotone_in_capacity_and_width():
    t = load_energy_table()
    caps = [2**k for k in range(3, 31)]
    for w in (8, 16, 64, 256):
        e = [t.sram_pj(c, w) for c in caps]
        assert all(a < b for a, b in zip(e, e[1:], strict=False)), w
    for c in (32, 8 * KB, 128 * KB, 4 * 1024 * KB):
        e = [t.sram_pj(c, w) for w in (1, 8, 16, 18, 64, 128, 512)]
        assert all(a < b for a, b in zip(e, e[1:], strict=False)), c


# --------------------------------------------------------------------------- the 64-PE chip


def test_chip_area_at_reference_is_40_8_mm2():
    a = area(SimConfig())
    assert a["chip_mm2"] == close(40.8, rel=0.01)
    assert a["pe_um2"] == close(638_024)
    assert a["lnzd_nodes"] == 21 and a["lnzd_um2"] == close(21 * 189)
    big = area(SimConfig(spmat_bytes=256 * KB, n_pes=16))
    assert big["spmat_read"] == close(2 * 469_412)
    assert big["lnzd_nodes"] == 5  # 4 + 1
    assert big["chip_mm2"] == close((16 * big["pe_um2"] + 5 * 189) * 1e-6)


def test_chip_power_on_calibration_workload_is_0_59_w():
    config = SimConfig()
    counts = calibration_counts(n_pes=64)
    counts.add("ccu", "node_cycle", 21 * 8)
    b = energy(counts, config)
    watts = b.total_j / (8 / config.clock_hz)
    assert watts == close(0.59, rel=0.01)
    assert b.by_unit_j["ccu"] / (8 / config.clock_hz) == close(21 * 0.023e-3)


def test_packaged_table2_is_self_consistent():
    t2 = table2()
    units_area = sum(t2.area_um2[u] for u in PE_UNITS)
    assert units_area + t2.area_um2["filler"] == t2.area_um2["total"]
    assert sum(t2.power_mw[u] for u in PE_UNITS) == close(t2.power_mw["total"], rel=2e-4)
    assert t2.reference["clock_hz"] == 800e6 and t2.reference["spmat_bytes"] == 128 * KB


# --------------------------------------------------------------------------- dense baseline


def test_dense_baseline_resident():
    config = SimConfig()  # 64 PEs x 128 KB = 8 MiB of weights fit
    m, n = 1000, 4096
    r = dense_baseline(m, n, config)
    assert r["resident"] and 2 * m * n <= 64 * 128 * KB
    assert r["cycles"] == math.ceil(1000 / 64) * 4096 + 3 == 65_539
    assert r["seconds"] == close(65_539 / 800e6)
    assert r["macs"] == m * n
    pj = EnergyModel.for_config(config).per_event_pj
    arith_dyn = m * n * (pj[("arith", "multiply")] + pj[("arith", "add")]) * 1e-12
    static = static_pj(config)
    arith_static = 64 * 65_539 * static["arith"] * 1e-12
    assert r["energy_by_unit_j"]["arith"] == close(arith_dyn + arith_static)
    words = m * n * 16 // 64
    assert r["energy_by_unit_j"]["spmat_read"] == close(
        (words * pj[("spmat_read", "word_read")] + 64 * 65_539 * static["spmat_read"]) * 1e-12)
    assert r["energy_by_unit_j"]["dram"] == 0.0
    assert r["energy_j"] == close(sum(r["energy_by_unit_j"].values()))
    # activations: n SRAM reads per round; 16 rows per PE in rounds of 4 registers = 4 rounds
    few = config.replace(regs=4)
    act = dense_baseline(m, n, few)["energy_by_unit_j"]["act_rw"]
    act_static = static_pj(few)["act_rw"] * 64 * 65_539
    assert act == close((4 * n * pj[("act_rw", "sram_read")] + act_static) * 1e-12)


def test_dense_baseline_streamed():
    config = SimConfig(dram_gbps=12.8, dram_latency_ns=125.0)  # 16 bytes a cycle, 100 cycles
    m, n = 4096, 4096  # 32 MiB of 16-bit weights > 8 MiB of SRAM
    r = dense_baseline(m, n, config)
    compute = math.ceil(m / 64) * n + 3
    transfer = math.ceil(2 * m * n / 16)
    assert not r["resident"]
    assert r["cycles"] == max(compute, transfer) + 100 == 2_097_252
    assert r["energy_by_unit_j"]["dram"] == close(16 * m * n * 20.0 * 1e-12)
    # compute-bound when DRAM is fast: the max picks the compute side
    fast = dense_baseline(m, n, config.replace(dram_gbps=819.2))  # 1024 bytes a cycle
    assert fast["cycles"] == compute + 100


def test_dense_baseline_rejects_bad_shapes():
    with pytest.raises(EieInputError, match="m = 0"):
        dense_baseline(0, 5, SimConfig())
    with pytest.raises(EieInputError, match="n"):
        dense_baseline(5, 2.5, SimConfig())  # type: ignore[arg-type]


# --------------------------------------------------------------------------- user tables


def test_user_table_changes_the_multiply_energy(tmp_path):
    path = _write_table(tmp_path / "my_energy.csv", _with_value("mult16", "0.93"))
    config = SimConfig(energy_table=path)
    model = EnergyModel.for_config(config)
    base = EnergyModel.for_config(SimConfig())
    assert model.source == path
    assert model.per_event_pj[("arith", "multiply")] == close(0.93)
    assert model.per_event_pj[("arith", "multiply")] == close(
        1.5 * base.per_event_pj[("arith", "multiply")])
    assert model.per_event_pj[("spmat_read", "word_read")] == base.per_event_pj[
        ("spmat_read", "word_read")]
    # a dearer multiply leaves less to the fitted static term; calibration still holds
    assert model.per_event_pj[("arith", "cycle")] < base.per_event_pj[("arith", "cycle")]
    assert calibration_table(config).loc["arith", "calibrated_mw"] == close(1.162)


def test_edited_table_is_read_again(tmp_path):
    path = tmp_path / "t.csv"
    _write_table(path, _with_value("add32", "0.1"))
    config = SimConfig(energy_table=str(path))
    assert EnergyModel.for_config(config).per_event_pj[("arith", "add")] == close(0.05)
    _write_table(path, _with_value("add32", "0.2"))
    assert EnergyModel.for_config(config).per_event_pj[("arith", "add")] == close(0.1)


def test_table_whose_events_exceed_table2_names_the_unit(tmp_path):
    path = _write_table(tmp_path / "dear.csv", _with_value("mult16", "2.0"))
    with pytest.raises(EieFormatError, match=r"dear\.csv.*'arith'"):
        EnergyModel.for_config(SimConfig(energy_table=path))
    # the historical 0.5 periphery share cannot calibrate the pointer SRAM (see the CSV source)
    path = _write_table(tmp_path / "half.csv", _with_value("sram_periphery_fraction", "0.5"))
    with pytest.raises(EieFormatError, match="'ptr_read'"):
        calibration_table(SimConfig(energy_table=path))


def _drop_column(rows):
    return rows, ["name", "value", "unit"]


def _corrupt(name, field, value):
    def f(rows):
        return [{**r, field: value} if r["name"] == name else r for r in rows], None
    return f


@pytest.mark.parametrize(("mutate", "expect"), [
    (_drop_column, "missing column.*'source'"),
    (_corrupt("mult16", "value", "abc"), r"row 'mult16'.*field 'value'.*not a number"),
    (_corrupt("add32", "value", "-0.1"), r"row 'add32'.*field 'value'.*negative"),
    (_corrupt("sram64_read_8KB", "value", "-10"), r"row 'sram64_read_8KB'.*'value'.*negative"),
    (_corrupt("mult16", "value", "nan"), r"row 'mult16'.*finite"),
    (_corrupt("mult16", "value", ""), r"row 'mult16'.*field 'value' is empty"),
    (_corrupt("mult16", "unit", "nJ"), r"row 'mult16'.*field 'unit'"),
    (_corrupt("mult16", "source", ""), r"row 'mult16'.*field 'source'"),
    (_corrupt("sram_periphery_fraction", "value", "1.5"), r"sram_periphery_fraction.*0\.\.1"),
    (_corrupt("mult16", "name", "mult_16"), r"unknown row 'mult_16'"),
    (lambda rows: ([r for r in rows if r["name"] != "add32"], None), r"missing row 'add32'"),
    (lambda rows: (rows + rows[-1:], None), r"already given"),
    (lambda rows: ([r for r in rows if not r["name"].startswith("sram64")][:] + rows[:1], None),
     r"at least two SRAM anchor"),
    (_corrupt("sram64_read_1MB", "value", "5"), r"SRAM anchor energy"),
])
def test_corrupt_table_raises_format_error_naming_the_file(tmp_path, mutate, expect):
    rows, columns = mutate(_packaged_rows())
    path = _write_table(tmp_path / "broken_table.csv", rows, columns)
    with pytest.raises(EieFormatError, match="broken_table.csv") as exc:
        EnergyModel.for_config(SimConfig(energy_table=path))
    assert exc.match(expect)


@pytest.mark.parametrize("content", [b"", b"\xff\xfe\x00garbage", b"name,value\n", b'a,"b\x00'])
def test_garbage_files_raise_format_error(tmp_path, content):
    path = tmp_path / "junk.csv"
    path.write_bytes(content)
    with pytest.raises(EieFormatError, match="junk.csv"):
        EnergyModel.for_config(SimConfig(energy_table=str(path)))


def test_dense_model_keeps_a_resident_prefix():
    """Two layers that fit alone but not together: the first stays resident, the second streams."""
    config = SimConfig(n_pes=1, spmat_bytes=1000)
    d = dense_model([(10, 30), (10, 30)], config)  # 600 bytes each, 1000 bytes of SRAM
    assert [p["resident"] for p in d["layers"]] == [True, False] and not d["resident"]
    alone = dense_baseline(10, 30, config)
    assert alone["resident"] and d["layers"][0]["cycles"] == alone["cycles"]
    streamed = 10 * 30 + 3  # ceil(10 / 1) * 30 + 3 compute cycles, 600 bytes at 16 B/cycle + 100
    assert d["layers"][1]["cycles"] == max(streamed, 600 // 16 + 1) + 100
    assert d["cycles"] == alone["cycles"] + d["layers"][1]["cycles"]
