"""What ``eie simulate`` answers: traffic, tiling, energy by unit, the dense baseline, input density,
the binding bound and the simulation's wall time, for one input and for a batch.

Expected figures come from the library's Result of the same run (the summary must print what the
run measured) and, for the dense baseline, the input density and the DRAM bound, from the
inputs and the configuration with plain arithmetic.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest

from compressor.importers import load_layers
from compressor.pipeline import CompressOptions, compress_model
from eie_sim.config import SimConfig
from eie_sim.simulate import simulate
from tests.conftest import run

FAST = ("--engine", "fast")
#: A configuration that streams the layer in tiles over a slow channel: DRAM-bound.
DRAM_BOUND = ("--spmat-kb", "0.0625", "--dram-bw", "0.5")


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("summary")
    rng = np.random.default_rng(3)
    w = rng.normal(0, 0.05, (120, 200)) * (rng.random((120, 200)) < 0.15)
    np.save(d / "w.npy", w)
    x = np.zeros(200)
    x[rng.choice(200, 50, replace=False)] = rng.random(50) + 0.1  # 50 of 200 non-zero: 25 %
    np.save(d / "x.npy", x)
    batch = np.zeros((3, 200))
    for row, k in enumerate((20, 100, 200)):  # 10 %, 50 %, 100 % non-zero
        batch[row, rng.choice(200, k, replace=False)] = rng.random(k) + 0.1
    np.save(d / "xb.npy", batch)
    neg = x.copy()
    neg[np.flatnonzero(x)[:30]] *= -1  # 30 negative activations
    np.save(d / "neg.npy", neg)
    return {"dir": d, "w": d / "w.npy", "x": d / "x.npy", "xb": d / "xb.npy", "neg": d / "neg.npy"}


def line(out: str, label: str) -> str:
    """The summary line that starts with ``label`` (after the indent)."""
    found = [s for s in out.splitlines() if s.strip().startswith(label)]
    assert found, f"no {label!r} line in:\n{out}"
    return found[0]


def library_result(files: dict[str, Path], x: np.ndarray, **config: object):
    """The same run through the Python API: the layer compressed as eie simulate does it."""
    cfg = SimConfig(**config)
    layers = load_layers(files["w"])
    model = compress_model(layers, [CompressOptions(n_pes=cfg.n_pes, regs=cfg.regs, word_bits=cfg.word_bits)],
                           source=str(files["w"]))
    return simulate(model, x, cfg), cfg


def test_single_input_summary_answers(files, capsys) -> None:
    rc, out, err = run(capsys, "simulate", str(files["w"]), "--activations", str(files["x"]), *FAST)
    assert rc == 0, err
    r, _ = library_result(files, np.load(files["x"]))
    assert "non-zero activations 25.0 % of 200" in line(out, "input")
    assert line(out, "SRAM traffic").split()[2] == f"{r.sram_bytes:,}"
    assert line(out, "DRAM traffic").split()[2] == f"{r.dram_bytes:,}" == "0"
    assert "all weights resident" in line(out, "tiling")
    for unit, joules in r.energy_breakdown_j.items():
        if joules:
            assert f"{unit} {joules * 1e6:.3f} uJ" in line(out, "energy by unit")
    # the dense accelerator: 120 x 200 16-bit weights fit 64 x 128 KB, so ceil(120 / 64) * 200 + 3 cycles
    assert line(out, "dense baseline").split()[2] == f"{2 * 200 + 3:,}"
    assert "weights resident" in line(out, "dense baseline")
    took = re.search(r"simulation took\s+([0-9.]+) s wall", out)
    assert took and 0.0 <= float(took.group(1)) < 60


def test_dram_bound_run_is_named_with_its_figure(files, capsys) -> None:
    rc, out, err = run(capsys, "simulate", str(files["w"]), "--activations", str(files["x"]), *DRAM_BOUND,
                       *FAST)
    assert rc == 0, err
    r, cfg = library_result(files, np.load(files["x"]), spmat_bytes=64, dram_gbps=0.5)
    assert r.dram_bytes > 0 and r.layers[0].tiles > 1
    assert line(out, "DRAM traffic").split()[2] == f"{r.dram_bytes:,}"
    assert f"streamed in {r.layers[0].tiles} tile(s)" in line(out, "tiling")
    # 0.5 GB/s at 800 MHz moves 0.625 bytes a cycle
    dram_cycles = math.ceil(r.dram_bytes / 0.625)
    bound = line(out, "bound")
    assert bound.split(None, 1)[1].startswith(f"DRAM bandwidth: at least {dram_cycles:,} cycles")
    assert f"the run takes {r.cycles:,}, {100 * (r.cycles / dram_cycles - 1):.1f} % more" in bound


def test_compute_side_bound_when_resident(files, capsys) -> None:
    """Resident weights move no DRAM bytes: the bound is one of the compute-side ones, never DRAM."""
    rc, out, err = run(capsys, "simulate", str(files["w"]), "--activations", str(files["x"]), *FAST)
    assert rc == 0, err
    r, _ = library_result(files, np.load(files["x"]))
    binding = line(out, "bound").split(None, 1)[1].split(":")[0]
    assert binding in ("load imbalance", "compute", "CCU")
    busiest = max(r.busy_cycles)
    if binding == "load imbalance":
        assert f"at least {busiest:,} cycles" in line(out, "bound")


def test_batch_summary_answers(files, capsys) -> None:
    rc, out, err = run(capsys, "simulate", str(files["w"]), "--activations", str(files["xb"]), *DRAM_BOUND,
                       *FAST, "--quiet")
    assert rc == 0, err
    xb = np.load(files["xb"])
    results = [library_result(files, row, spmat_bytes=64, dram_gbps=0.5)[0] for row in xb]
    assert line(out, "input density").split()[2:] == ["53.3", "%", "10.0", "%", "100.0", "%"]
    dram = [r.dram_bytes for r in results]
    assert line(out, "DRAM traffic").split()[2:] == [f"{np.mean(dram):,.0f}", "B", f"{min(dram):,}", "B",
                                                     f"{max(dram):,}", "B"]
    sram = [r.sram_bytes for r in results]
    assert line(out, "SRAM traffic").split()[2] == f"{np.mean(sram):,.0f}"
    assert f"streamed in {results[0].layers[0].tiles} tile(s)" in line(out, "tiling")
    assert "DRAM bandwidth for 3 of 3 input(s)" in line(out, "bound")
    assert "for every input" in line(out, "dense baseline")
    assert "(means)" in line(out, "energy by unit")
    assert re.search(r"simulation took\s+[0-9.]+ s wall \([0-9.]+ ms per input", out)


def test_negative_activations_are_noted_with_their_density(files, capsys) -> None:
    rc, out, err = run(capsys, "simulate", str(files["w"]), "--activations", str(files["neg"]), *FAST)
    assert rc == 0, err
    assert "note: 30 of 200 activations are negative" in err and "25.0 %" in err
    assert "non-zero activations 25.0 %" in line(out, "input")


def test_summary_of_a_benchmark_gives_its_published_density(capsys) -> None:
    from eie_sim.workload.benchmarks import BENCHMARKS, benchmark_activations, benchmark_model

    rc, out, err = run(capsys, "simulate", "Alex-8", *FAST)
    assert rc == 0, err
    assert f"non-zero activations {100 * BENCHMARKS['Alex-8'].act_density:.1f} % of 4,096" in out
    r = simulate(benchmark_model("Alex-8"), benchmark_activations("Alex-8", 0), SimConfig())
    assert line(out, "cycles").split()[1] == f"{r.cycles:,}"


def test_print_result_is_short(files) -> None:
    r, _ = library_result(files, np.load(files["x"]))
    text = str(r)
    assert "\n" not in text and len(text) < 200 and f"cycles={r.cycles}" in text
