"""The Python API and `eie simulate`: results, JSON, traces, re-encoding, limits, bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest

from compressor import eiefile
from compressor.errors import EieInputError, EieSimulationError
from compressor.pipeline import CompressOptions, compress_layer, compress_model
from compressor.provenance import CONTRACT_VERSION
from eie_sim import SimConfig, simulate
from eie_sim.simulate import EieWarning
from eie_sim.study.cli import main
from eie_sim.study.trace import trace_events


@pytest.fixture(scope="module")
def model():
    rng = np.random.default_rng(11)
    layers = [("fc1", rng.normal(0, 0.2, (48, 32)), rng.normal(0, 0.05, 48)),
              ("fc2", rng.normal(0, 0.2, (16, 48)), None)]
    return compress_model(layers, CompressOptions(density=0.3, n_pes=8), input_after_relu=True)


def test_result_fields_json_and_frame(model):
    x = np.abs(np.random.default_rng(0).normal(size=32))
    r = simulate(model, x, SimConfig(n_pes=8), engine="fast")
    d = json.loads(json.dumps(r.to_dict()))
    for key in ("cycles", "time_s", "energy_j", "energy_breakdown_j", "sram_bytes", "dram_bytes",
                "pe_utilization", "mac_efficiency", "busy_cycles", "contract_version"):
        assert key in d
    assert d["contract_version"] == CONTRACT_VERSION
    assert len(d["busy_cycles"]) == 8 and len(d["layers"]) == 2
    frame = r.to_frame()
    assert list(frame.index) == ["fc1", "fc2", "total"]
    assert frame.loc["total", "cycles"] == r.cycles
    assert r.output.shape == (16,) and np.allclose(r.output, r.output_fix / 2**r.fa)


def test_re_encoding_is_announced(model):
    x = np.ones(32)
    r = simulate(model, x, SimConfig(n_pes=4))
    assert any("re-encoded for N=4" in w for w in r.warnings)
    same = simulate(model, x, SimConfig(n_pes=8))
    assert not same.warnings
    # the quantized matrix, not the encoding, decides the output
    assert np.array_equal(r.output_fix, same.output_fix)


def test_bad_activations(model):
    with pytest.raises(EieInputError, match="takes a vector of 32 inputs"):
        simulate(model, np.ones(31), SimConfig(n_pes=8))
    with pytest.raises(EieInputError, match="NaN or inf value.*index 2"):
        simulate(model, np.array([0, 1, np.nan] + [0] * 29), SimConfig(n_pes=8))
    with pytest.warns(EieWarning, match="negative"):
        simulate(model, -np.ones(32), SimConfig(n_pes=8), engine="fast")


def test_cycle_limit_is_a_clear_error(model):
    with pytest.raises(EieSimulationError, match="cycle limit max_cycles = 50"):
        simulate(model, np.ones(32), SimConfig(n_pes=8, max_cycles=50), engine="simpy")


def test_column_too_large_for_the_sram():
    layer = compress_layer(np.ones((64, 4)), options=CompressOptions(n_pes=1))
    with pytest.raises(EieSimulationError, match="more than half"):
        simulate(layer, np.ones(4), SimConfig(n_pes=1, spmat_bytes=16, ptr_bytes=64))


def test_trace_file(model, tmp_path):
    path = tmp_path / "t.json"
    assert main(["simulate", str(_save(model, tmp_path)), "--pes", "8", "--act-density", "0.5",
                 "--trace", str(path)]) == 0
    trace = json.loads(path.read_text())
    names = {e["args"]["name"] for e in trace["traceEvents"] if e["ph"] == "M"}
    assert names == {"CCU / LNZD", *(f"PE {p}" for p in range(8))}
    spans = [e for e in trace["traceEvents"] if e["ph"] == "X" and e["tid"] > 0]
    assert spans and all(e["dur"] > 0 for e in spans)
    assert trace["otherData"]["cycles"] > 0
    # every PE has a span per item of every layer
    per_pe = {tid: sum(1 for e in spans if e["tid"] == tid) for tid in range(1, 9)}
    assert len(set(per_pe.values())) == 1


def test_trace_refuses_huge_runs(model, monkeypatch):
    from eie_sim.simulate import simulate_runs
    from eie_sim.study import trace as trace_mod

    _, m, runs = simulate_runs(model, np.ones(32), SimConfig(n_pes=8), engine="fast")
    monkeypatch.setattr(trace_mod, "MAX_EVENTS", 10)
    with pytest.raises(EieInputError, match="trace viewer"):
        trace_mod.trace_events(m, runs, 800e6)
    assert trace_events  # the public name stays importable


def test_cli_weights_without_pruning_keep_every_nonzero(tmp_path, capsys):
    rng = np.random.default_rng(3)
    w = rng.normal(0, 0.1, (40, 24)) * (rng.random((40, 24)) < 0.25)
    np.save(tmp_path / "w.npy", w)
    out = tmp_path / "r.json"
    assert main(["simulate", "--weights", str(tmp_path / "w.npy"), "--act-density", "1.0",
                 "--pes", "4", "--engine", "fast", "--json", str(out)]) == 0
    r = json.loads(out.read_text())
    assert r["kept_processed"] == np.count_nonzero(w)  # all inputs non-zero: every weight used
    printed = capsys.readouterr().out
    assert printed.startswith("configuration:") and "--pes                  4" in printed


def _save(model, tmp_path):
    p = tmp_path / "m.eie"
    if not p.exists():
        eiefile.save(model, p)
    return p


def test_line_trace_matches_the_timeline(model, capsys, tmp_path):
    assert main(["simulate", str(_save(model, tmp_path)), "--pes", "8", "--act-density", "1.0",
                 "--engine", "fast", "--line-trace", "6"]) == 0
    out = capsys.readouterr().out.split("line trace of job 'fc1':")[1]
    lines = out.strip().splitlines()
    assert lines[0] == "line trace, cycles 0..5, PEs 0-7 of 8 shown; key:"
    head = next(i for i, ln in enumerate(lines) if ln.split("|")[0].strip() == "cycle")
    assert head == 5  # the key names each column: CCU, queue, pop, arithmetic
    assert lines[head].split("|")[2].split() == ["PE0", "q", "pop", "a"]
    rows = [[c for c in ln.split("|")] for ln in lines[head + 1: head + 7]]
    assert [int(r[0]) for r in rows] == [0, 1, 2, 3, 4, 5]
    # cycle 0 loads the first activation row; then one broadcast per cycle, inputs 0, 1, ...
    assert [r[1].strip() for r in rows[:3]] == ["", "b0", "b1"]

    def pe(row: list[str], p: int) -> tuple[str, str]:
        """(queue occupancy, column popped) of PE p in a row: fixed-width cells after 'PEp '."""
        cell = row[2 + p]
        return cell[5:6].strip(), cell[7:12].strip()

    # input 0, broadcast at cycle 1, can be popped two cycles later (broadcast_latency 2); it
    # waits in every queue meanwhile, with input 1 behind it from cycle 2
    assert [pe(rows[1], p) for p in range(8)] == [("1", "")] * 8
    assert [pe(rows[2], p) for p in range(8)] == [("2", "")] * 8
    assert [pe(rows[3], p)[1] for p in range(8)] == ["0"] * 8
