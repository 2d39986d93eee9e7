"""DRAM presets (eie_sim/data/dram_presets.csv, --dram NAME) and where a streamed job's cycles go."""

from __future__ import annotations

import math

import numpy as np
import pytest

from compressor.errors import EieConfigError, EieFormatError
from compressor.pipeline import CompressOptions, compress_layer
from eie_sim.config import SimConfig
from eie_sim.simulate import prepare, run_prepared, simulate
from eie_sim.study.cli import build_parser, resolve_config, sweep_grid
from eie_sim.study.examples.transformer_common import stream_gap
from eie_sim.units import dram
from eie_sim.workload.benchmarks import trained_like_weights
from eie_sim.workload.graph import Graph, Job
from tests.conftest import run

HEADER = "name,gbps,latency_ns,pj_per_bit,configuration,bandwidth_source,latency_source,energy_source\n"


def test_presets_match_the_data_rates_and_timings_they_cite():
    p = dram.dram_presets()
    assert list(p) == ["LPDDR4", "DDR4", "HBM2"]
    # bandwidth = transfers per second x the bus width of the part each row describes
    assert p["LPDDR4"].gbps == pytest.approx(3200e6 * 32 / 8 / 1e9)  # one x32 LPDDR4-3200 package
    assert p["DDR4"].gbps == pytest.approx(3200e6 * 64 / 8 / 1e9)  # one 64-bit DDR4-3200 channel
    assert p["HBM2"].gbps == pytest.approx(1024 * 2e9 / 8 / 1e9)  # one 1024-bit stack at 2 Gb/s
    assert p["DDR4"].latency_ns == pytest.approx(3 * 22 * 0.625)  # 22-22-22 at tCK 0.625 ns
    assert p["HBM2"].pj_per_bit < p["LPDDR4"].pj_per_bit < p["DDR4"].pj_per_bit
    for q in p.values():
        assert q.configuration and q.bandwidth_source and q.latency_source and q.energy_source


def test_preset_names_ignore_case_and_an_unknown_name_lists_the_presets():
    assert dram.preset("hbm2") is dram.preset("HBM2")
    with pytest.raises(EieConfigError, match=r"unknown DRAM preset 'HBM3' \(did you mean HBM2\?\); the "
                                             r"presets are LPDDR4, DDR4, HBM2"):
        dram.preset("HBM3")


@pytest.mark.parametrize("row, message", [
    ("X,12.8,50,8,one part,a,b,", r"line 2 \(row 'X'\), field 'energy_source' is empty"),
    ("X,0,50,8,one part,a,b,c", r"line 2 \(row 'X'\), field 'gbps' = 0 must be > 0"),
    ("X,12.8,50,-1,one part,a,b,c", r"field 'pj_per_bit' = -1 is negative"),
    ("X,12.8,fast,8,one part,a,b,c", r"field 'latency_ns' = 'fast' is not a number"),
])
def test_a_bad_preset_row_is_refused_naming_line_and_field(row, message):
    with pytest.raises(EieFormatError, match=message):
        dram.parse_presets("presets.csv", HEADER + row + "\n")
    with pytest.raises(EieFormatError, match=r"preset 'x' is given twice"):
        dram.parse_presets("presets.csv", HEADER + "X,1,1,1,a,b,c,d\nx,1,1,1,a,b,c,d\n")


def _args(*argv: str):
    return build_parser().parse_args(list(argv))


def test_dram_flag_sets_bandwidth_latency_and_energy_and_their_own_flags_win():
    hbm = dram.preset("HBM2")
    c = resolve_config(_args("simulate", "--dram", "HBM2"))
    assert (c.dram_gbps, c.dram_latency_ns, c.dram_pj_per_bit) == (hbm.gbps, hbm.latency_ns, hbm.pj_per_bit)
    c = resolve_config(_args("simulate", "--dram", "HBM2", "--dram-bw", "100", "--dram-pj-per-bit", "2"))
    assert (c.dram_gbps, c.dram_latency_ns, c.dram_pj_per_bit) == (100.0, hbm.latency_ns, 2.0)


def test_a_sweep_keeps_the_preset_and_sweeps_its_bandwidth():
    args = _args("sweep", "Alex-6", "-o", "r.csv", "--dram", "LPDDR4", "--dram-bw", "6.4,12.8")
    base = resolve_config(args)
    assert base.dram_latency_ns == dram.preset("LPDDR4").latency_ns
    assert base.dram_pj_per_bit == dram.preset("LPDDR4").pj_per_bit
    assert sweep_grid(args) == {"dram_gbps": [6.4, 12.8]}


def test_an_unknown_dram_preset_on_the_command_line_is_a_usage_error(capsys, tmp_path):
    w = tmp_path / "w.npy"
    np.save(w, np.ones((4, 4)))
    rc, _, err = run(capsys, "simulate", "--weights", str(w), "--dram", "XDR")
    assert rc == 2
    assert "--dram XDR: unknown DRAM preset 'XDR'" in err and "LPDDR4, DDR4, HBM2" in err
    rc, _, err = run(capsys, "example", "llama", "--quick", "--dram", "LPDDR4,GDDR7", "--out",
                     str(tmp_path / "l"))
    assert rc == 2 and "'GDDR7'" in err and "LPDDR4, DDR4, HBM2" in err


def _streamed(seed: int = 0):
    """A 256 x 512 layer, 50 % pruned, on 16 PEs whose 2 KB SRAMs make it stream in tiles."""
    w = trained_like_weights(256, 512, seed)
    layer = compress_layer(w, None, CompressOptions(density=0.5, n_pes=16), name="fc")
    x = np.abs(np.random.default_rng(seed).standard_normal(512))
    return Graph((Job("fc", layer, "x", relu=False),)), x


def test_a_preset_prices_dram_bits_and_sets_the_transfer_time():
    graph, x = _streamed()
    runs = {}
    for name in ("LPDDR4", "DDR4"):
        config = SimConfig(n_pes=16, spmat_bytes=2048).replace(**dram.preset(name).fields())
        runs[name] = r = simulate(graph, x, config)
        assert r.dram_bytes > 0 and not r.layers[0].resident
        # every streamed bit is charged the preset's pJ
        assert r.energy_breakdown_j["dram"] == pytest.approx(r.dram_bytes * 8 * dram.preset(name).pj_per_bit
                                                             * 1e-12)
    assert runs["LPDDR4"].dram_bytes == runs["DDR4"].dram_bytes
    assert runs["DDR4"].cycles < runs["LPDDR4"].cycles  # twice the bandwidth


@pytest.mark.parametrize("gbps", [0.8, 3.2, 51.2])
def test_the_gap_above_the_dram_bound_adds_up_and_follows_the_double_buffered_schedule(gbps):
    graph, x = _streamed(1)
    config = SimConfig(n_pes=16, spmat_bytes=2048, dram_gbps=gbps)
    prep = prepare(graph, config)
    _, runs = run_prepared(prep, x)
    run_, plan = runs[0], prep.plans[0]
    g = stream_gap(run_, plan, config)
    assert plan.n_tiles > 2
    assert min(g.latency, g.rounding, g.channel_wait, g.drain) >= 0
    assert g.bound + g.latency + g.rounding + g.channel_wait + g.drain == run_.cycles
    assert g.bound == math.ceil(run_.dram_bytes / dram.bytes_per_cycle(config))
    assert g.latency == plan.n_tiles * dram.latency_cycles(config)
    # from the inputs, not the split's own formulas: 125 ns at 800 MHz per tile, and rounding each
    # tile's transfer up to whole cycles adds less than one cycle a tile
    assert (config.dram_latency_ns, config.clock_hz) == (125.0, 800e6)
    assert g.latency == 100 * plan.n_tiles
    assert 0 <= g.rounding < plan.n_tiles
    # the engine's tiles follow the DRAM unit's documented schedule, which the split assumes
    loads = [dram.transfer_cycles(s.dram_bytes, config) for s in plan.segments]
    compute = run_.times.segment_end - run_.times.segment_start
    start, end = dram.schedule(loads, compute)
    assert np.array_equal(start, run_.times.segment_start) and end[-1] == run_.cycles
    # the drain is at least the last tile's own compute
    assert g.drain >= compute[-1]


def test_on_a_slow_dram_a_streamed_layer_runs_close_to_its_bandwidth_bound():
    graph, x = _streamed(2)
    gaps = []
    for gbps in (0.4, 4.0):
        config = SimConfig(n_pes=16, spmat_bytes=2048, dram_gbps=gbps)
        prep = prepare(graph, config)
        _, runs = run_prepared(prep, x)
        gaps.append(stream_gap(runs[0], prep.plans[0], config))
    slow, fast = gaps
    assert slow.gap < 0.10  # compute hides behind the transfers
    assert fast.gap > slow.gap  # the same tile compute weighs more against a faster channel
