"""``eie example lstm``: an LSTM layer on EIE, a time step at a time (eie_sim/workload/lstm.py).

The layer has NeuralTalk's LSTM shape by default (hidden 600, input 600, so the 2400 x 1201
gate matrix of the paper's NT-LSTM benchmark, split into ``W`` with the bias and ``U``), with
seeded Gaussian weights pruned to 10 % and shared to 4-bit codes, and seeded Gaussian input
vectors. Each step runs ``Wx`` and ``Uh`` on the array and the gates on the host. It writes
``W.eie``, ``U.eie``, the step's graph ``lstm.toml`` with its first inputs ``x.npy`` and
``h.npy`` (what ``eie simulate lstm.toml --activations x=x.npy --activations h=h.npy`` runs),
and ``steps.csv`` (cycles, energy and host traffic per step), and prints a summary with the
largest difference between EIE's hidden states and the float LSTM on the same encoded weights.
"""

from __future__ import annotations

import io
import time
from pathlib import Path

import numpy as np

from compressor.outputs import write_atomic
from compressor.pipeline import CompressOptions
from eie_sim.config import SimConfig
from eie_sim.simulate import DEFAULT_ENGINE
from eie_sim.workload import lstm

DEFAULT_OUT = "lstm_out"


def synthetic_lstm(hidden: int, inputs: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Seeded ``W`` (4H x X), ``U`` (4H x H) and ``b``: N(0, 1/fan-in) weights, and the usual
    forget-gate bias of 1 (so the cell keeps its state at the start of training)."""
    rng = np.random.default_rng(seed)
    w = rng.normal(0, 1 / np.sqrt(inputs), (4 * hidden, inputs))
    u = rng.normal(0, 1 / np.sqrt(hidden), (4 * hidden, hidden))
    b = np.zeros(4 * hidden)
    b[hidden: 2 * hidden] = 1.0
    return w, u, b


def run_lstm_example(out: str | Path = DEFAULT_OUT, *, hidden: int = 600, inputs: int = 600, steps: int = 8,
                     density: float = 0.1, seed: int = 0, config: SimConfig | None = None,
                     engine: str = DEFAULT_ENGINE) -> list[str]:
    """Compress, write the graph files, run ``steps`` steps; the summary's lines."""
    config = config or SimConfig()
    out = Path(out)
    t0 = time.perf_counter()
    w, u, b = synthetic_lstm(hidden, inputs, seed)
    options = CompressOptions(density=density, n_pes=config.n_pes, regs=config.regs,
                              word_bits=config.word_bits, seed=seed)
    layers = lstm.compress_lstm(w, u, b, options)
    xs = np.random.default_rng(seed + 1).normal(0, 1, (steps, inputs))
    h0 = np.zeros(hidden)
    fa = lstm.activation_format(layers, xs, h0, np.zeros(hidden))
    lstm.write_graph_files(layers, out, fa, xs[0], h0)
    seq = lstm.run(layers, xs, config, fa=fa, engine=engine)
    ref = lstm.reference(layers, xs, h0, np.zeros(hidden))
    err = np.max(np.abs(seq.h - ref), axis=1)
    rows = ["step,cycles,time_us,energy_uj,host_bytes,host_cycles,dram_bytes,max_abs_h_error"]
    for t, (r, e) in enumerate(zip(seq.steps, err, strict=True)):
        rows.append(f"{t},{r.cycles},{r.time_s * 1e6:.4f},{r.energy_j * 1e6:.4f},{r.host_bytes},"
                    f"{r.host_cycles},{r.dram_bytes},{e:.6g}")
    write_atomic(out / "steps.csv", "\n".join(rows) + "\n", force=True)
    first = seq.steps[0]
    per_step_us = np.mean([r.time_s for r in seq.steps]) * 1e6
    buf = io.StringIO()
    print(f"LSTM layer: hidden {hidden}, input {inputs}, weights pruned to {density:.0%}, "
          f"4-bit shared; {steps} steps on {config.n_pes} PEs ({engine} engine), fa = {fa}", file=buf)
    print(f"per step: jobs {lstm.WX} ({layers.w.m} x {layers.w.n} + bias) and {lstm.UH} "
          f"({layers.u.m} x {layers.u.n}), {first.cycles:,} cycles in step 0, "
          f"{per_step_us:.2f} us and {seq.energy_j / steps * 1e6:.2f} uJ on average", file=buf)
    print(f"host transfers per step: {first.host_bytes:,} bytes (x and h sent, both jobs' "
          f"{layers.w.m} outputs returned), {first.host_cycles:,} cycles on the off-chip link, "
          f"not in the step's cycles", file=buf)
    print(f"largest |h_EIE - h_float| over the steps: {err.max():.3g} (16-bit fixed point, "
          f"fa = {fa}; the float LSTM uses the same encoded weights)", file=buf)
    print(f"wrote {out / 'steps.csv'}, {out / 'lstm.toml'}, W.eie, U.eie, x.npy, h.npy "
          f"({time.perf_counter() - t0:.1f} s)", file=buf)
    print(f"one step from the command line: eie simulate {out / 'lstm.toml'} "
          f"--activations x={out / 'x.npy'} --activations h={out / 'h.npy'}", file=buf)
    return buf.getvalue().splitlines()
