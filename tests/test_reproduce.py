"""`eie reproduce`: the table builders on small synthetic sweeps, and (slow) the full run."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from eie_sim import reproduce
from eie_sim.workloads import BENCHMARKS


def fake_sweep(**cols) -> pd.DataFrame:
    rows = []
    for i, layer in enumerate(BENCHMARKS):
        cycles = 1000 * (i + 1)
        rows.append({"layer": layer, "n_pes": 64, "cycles": cycles, "time_s": cycles / 800e6,
                     "entries_processed": 64 * cycles * 0.9, "kept_processed": 64 * cycles * 0.8,
                     "pe_utilization": 0.9, "energy_j": 1e-6 * (i + 1), **cols})
    return pd.DataFrame(rows)


def test_table4_errors_and_overheads():
    varied, uniform = fake_sweep(), fake_sweep()
    t = reproduce.table4(varied, uniform, 800e6)
    alex6 = t.iloc[0]
    # actual 1000 cycles = 1.25 us; paper actual 30.3 us
    assert alex6["ours actual, varied (us)"] == pytest.approx(1.25)
    assert alex6["error, varied (%)"] == pytest.approx(100 * (1.25 - 30.3) / 30.3)
    assert alex6["overhead, varied (%)"] == pytest.approx(100 * (1 / 0.9 - 1))
    assert alex6["paper overhead (%)"] == pytest.approx(100 * (30.3 / 28.1 - 1))
    assert alex6["padding, varied (%)"] == pytest.approx(100 * (1 - 0.8 / 0.9))
    assert t.iloc[-1]["layer"] == "mean abs. error"
    assert t.iloc[-1]["error, varied (%)"] == pytest.approx(t.iloc[:-1]["error, varied (%)"].abs().mean())


def test_speedups_against_paper_platforms():
    sp = reproduce.speedups(fake_sweep())
    alex6 = sp.iloc[0]
    assert alex6["speed-up vs CPU"] == pytest.approx(7516.2e-6 / (1000 / 800e6))
    assert alex6["energy eff. vs CPU"] == pytest.approx(73 * 7516.2e-6 / 1e-6)
    geo = sp.iloc[-1]
    assert geo["speed-up vs GPU"] == pytest.approx(np.exp(np.log(sp.iloc[:-1]["speed-up vs GPU"]).mean()))
    # the paper's own figure from its own Table IV: 189x is its geometric mean vs CPU
    assert geo["paper EIE speed-up vs CPU"] == pytest.approx(189, rel=0.05)


@pytest.mark.slow
def test_full_reproduce(tmp_path):
    report = reproduce.run_reproduce(tmp_path, jobs=2, progress=False)
    text = report.read_text()
    for section in ("Table IV", "FIFO depth", "PE count", "SRAM width", "Alex-7", "dense baselines"):
        assert section in text
    for name in ("table4", "speedup", "fifo", "pes_on_chip", "width", "latency", "power"):
        assert (tmp_path / f"{name}.csv").stat().st_size > 0
    assert (tmp_path / "energy_vs_pes_alexnet.png").exists()


def test_ablation_table_names_variants_and_changes():
    rows = []
    for name, knobs in reproduce.ABLATION:
        cfg = {"bypass": True, "ptr_banks": 2, "queue_depth": 8, **knobs}
        factor = {"default": 1.0, "bypass off": 1.1}.get(name, 1.2 if name == "one pointer bank" else 1.05)
        rows += fake_sweep(**cfg).assign(cycles=lambda d, f=factor: d["cycles"] * f).to_dict("records")
    df = pd.DataFrame(rows)
    t = reproduce.ablation_table(df, "cycles")
    assert list(t["layer"]) == list(BENCHMARKS)
    assert t.iloc[0]["default"] == 1000
    assert t.iloc[0]["bypass off (%)"] == pytest.approx(10)
    assert t.iloc[0]["one pointer bank (%)"] == pytest.approx(20)
    assert t.iloc[0]["queue depth 1 (%)"] == pytest.approx(5)
    fig = reproduce.plots.ablation(reproduce.ablation_rows(df))
    assert len(fig.axes) == 2
