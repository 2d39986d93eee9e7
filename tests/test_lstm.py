"""An LSTM a time step at a time: two GEMV jobs on EIE, the gates on the host.

The sequence is checked against the oracle's fixed-point jobs and gates written here, step
by step; the host transfers against the vector sizes; and the command line runs the step
graph the API writes.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from compressor.errors import EieInputError
from eie_sim.config import SimConfig
from eie_sim.workload import lstm
from tests import oracle
from tests.conftest import oracle_hw, pair, random_codebook, random_codes, run

HIDDEN, INPUTS = 6, 5


def small_lstm(rng, config):
    w = pair(random_codes(rng, 4 * HIDDEN, INPUTS + 1, 0.5), random_codebook(rng, scale=0.5),
             has_bias=True, config=config, name="W")
    u = pair(random_codes(rng, 4 * HIDDEN, HIDDEN, 0.5), random_codebook(rng, scale=0.5),
             has_bias=False, config=config, name="U")
    return lstm.LstmLayers(w[0], u[0]), w[1], u[1]


def sigmoid(v):
    return 0.5 * (1 + np.tanh(v / 2))  # written differently from the host code on purpose


@pytest.mark.parametrize("engine", ["fast", "simpy"])
def test_a_sequence_is_the_oracles_jobs_and_gates(rng, engine):
    config = SimConfig(n_pes=4, regs=4, check=True)
    layers, w_ref, u_ref = small_lstm(rng, config)
    xs = rng.normal(0, 1, (4, INPUTS))
    fa = 11
    seq = lstm.run(layers, xs, config, fa=fa, engine=engine)
    hw = oracle_hw(config)
    h, c = np.zeros(HIDDEN), np.zeros(HIDDEN)
    want_cycles = 0
    for t, x in enumerate(xs):
        jobs = [oracle.Job("Wx", w_ref, "x", relu=False), oracle.Job("Uh", u_ref, "h", relu=False)]
        refs = oracle.run_graph(jobs, {"x": x, "h": h}, fa, hw)
        step = seq.steps[t]
        assert step.outputs_fix["Wx"].tolist() == refs[0]["output"].tolist()
        assert step.outputs_fix["Uh"].tolist() == refs[1]["output"].tolist()
        assert step.cycles == refs[0]["cycles"] + refs[1]["cycles"]
        want_cycles += refs[0]["cycles"] + refs[1]["cycles"]
        pre = (refs[0]["output"] + refs[1]["output"]) / 2.0**fa
        i, f, g, o = pre[:HIDDEN], pre[HIDDEN:2 * HIDDEN], pre[2 * HIDDEN:3 * HIDDEN], pre[3 * HIDDEN:]
        c = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
        h = sigmoid(o) * np.tanh(c)
        np.testing.assert_allclose(seq.h[t], h, rtol=0, atol=1e-12)
        # the host sends x (INPUTS values) and h (HIDDEN) and takes both jobs' 4H outputs, 2 bytes each
        assert step.host_bytes == 2 * (INPUTS + HIDDEN + 2 * 4 * HIDDEN)
    assert seq.fa == fa and seq.cycles == want_cycles


def test_the_float_reference_is_close(rng):
    """16-bit fixed point with the format :func:`lstm.activation_format` picks stays within a few
    LSBs a step of the float LSTM on the same encoded weights."""
    config = SimConfig(n_pes=4)
    layers, _, _ = small_lstm(rng, config)
    xs = rng.normal(0, 1, (6, INPUTS))
    seq = lstm.run(layers, xs, config)
    ref = lstm.reference(layers, xs, np.zeros(HIDDEN), np.zeros(HIDDEN))
    assert np.max(np.abs(seq.h - ref)) < 64 * 2.0**-seq.fa


def test_bad_lstm_inputs_are_named(rng):
    config = SimConfig(n_pes=4)
    layers, _, _ = small_lstm(rng, config)
    with pytest.raises(EieInputError, match=r"shape \(3,\); expected \(steps, 5\)"):
        lstm.run(layers, np.ones(3), config)
    with pytest.raises(EieInputError, match="h0 and c0 must have 6 values"):
        lstm.run(layers, np.ones((2, INPUTS)), config, h0=np.ones(4))
    with pytest.raises(EieInputError, match="expected 4H x X and 4H x H"):
        lstm.compress_lstm(np.ones((8, 3)), np.ones((8, 3)), None)
    with pytest.raises(EieInputError, match="must be 4H x H"):
        lstm.LstmLayers(layers.w, layers.w)


def test_the_step_graph_runs_from_the_command_line(rng, tmp_path, capsys):
    """The files the API writes are a graph ``eie simulate`` runs: the same cycles and outputs."""
    config = SimConfig(n_pes=4)
    layers, _, _ = small_lstm(rng, config)
    x, h = rng.normal(0, 1, INPUTS), np.tanh(rng.normal(0, 1, HIDDEN))
    lstm.write_graph_files(layers, tmp_path, 11, x, h)
    api = lstm.run(layers, x[None, :], config, h0=h, fa=11).steps[0]
    out = tmp_path / "r.json"
    rc, _, err = run(capsys, "simulate", str(tmp_path / "lstm.toml"), "--pes", "4",
                     "--activations", f"x={tmp_path / 'x.npy'}", "--activations", f"h={tmp_path / 'h.npy'}",
                     "--json", str(out))
    assert rc == 0, err
    got = json.loads(out.read_text())
    assert got["cycles"] == api.cycles and got["host_bytes"] == api.host_bytes
    assert got["outputs_fix"]["Uh"] == api.outputs_fix["Uh"].tolist()


def test_the_example_writes_its_files(tmp_path):
    from eie_sim.study.examples.lstm_step import run_lstm_example

    lines = run_lstm_example(tmp_path, hidden=8, inputs=6, steps=3, config=SimConfig(n_pes=4))
    assert any(line.startswith("largest |h_EIE - h_float|") for line in lines)
    rows = (tmp_path / "steps.csv").read_text().splitlines()
    assert len(rows) == 4 and rows[0].startswith("step,cycles")
    assert {p.name for p in tmp_path.iterdir()} >= {"W.eie", "U.eie", "lstm.toml", "x.npy", "h.npy"}
