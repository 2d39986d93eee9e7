"""`eie reproduce`: the table builders on small synthetic sweeps, paper figures read from data,
seeds reaching provenance and text, and (slow) the full run."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from compressor.errors import EieInputError
from eie_sim.study import baselines, reproduce
from eie_sim.study.cli import main
from eie_sim.workload.benchmarks import BENCHMARKS, DEFAULT_SPARSITY, SPARSITY_MODELS

PAPER_DATA = Path(reproduce.__file__).parents[1] / "data"


def fake_table4(seeds=(0, 1), **cols) -> pd.DataFrame:
    """A 64-PE sweep of every layer, model and seed: layer i takes 1000 (i + 1) cycles, +10 per seed."""
    rows = []
    for model in SPARSITY_MODELS:
        for seed in seeds:
            for i, layer in enumerate(BENCHMARKS):
                cycles = 1000 * (i + 1) + 10 * seed
                rows.append({"layer": layer, "sparsity": model, "seed": seed, "n_pes": 64, "cycles": cycles,
                             "time_s": cycles / 800e6, "entries_processed": 64 * 900 * (i + 1),
                             "kept_processed": 64 * 800 * (i + 1), "pe_utilization": 0.9,
                             "energy_j": 1e-6 * (i + 1), **cols})
    return pd.DataFrame(rows)


def test_table4_stats_errors_and_overheads():
    stats = reproduce.table4_stats(fake_table4(), 800e6)
    s = stats[(stats.sparsity == DEFAULT_SPARSITY) & (stats.layer == "Alex-6")].iloc[0]
    actual = [1000 / 800, 1010 / 800]  # us, seeds 0 and 1
    theoretical = 900 / 800
    assert s["actual_us_mean"] == pytest.approx(np.mean(actual))
    assert s["actual_us_sd"] == pytest.approx(np.std(actual, ddof=1))
    assert s["overhead_pct_mean"] == pytest.approx(np.mean([100 * (a / theoretical - 1) for a in actual]))
    assert s["error_pct_mean"] == pytest.approx(np.mean([100 * (a - 30.3) / 30.3 for a in actual]))
    assert s["padding_pct_mean"] == pytest.approx(100 * (1 - 800 / 900))
    assert s["seeds"] == 2


def test_headline_compares_overheads_and_errors():
    hl = reproduce.headline_table(reproduce.table4_stats(fake_table4(), 800e6))
    alex6 = hl.iloc[0]
    assert alex6["paper overhead (%)"] == pytest.approx(100 * (30.3 / 28.1 - 1))
    assert re.fullmatch(r"-?\d+\.\d ± \d+\.\d", alex6["ours overhead (%)"])
    assert len(hl) == 9


def test_speedups_against_paper_platforms():
    stats = reproduce.table4_stats(fake_table4(seeds=(0,)), 800e6)
    sp = reproduce.speedups(stats).set_index("layer")
    assert sp.loc["Alex-6", "speed-up vs CPU"] == pytest.approx(7516.2e-6 / (1000 / 800e6))
    assert sp.loc["Alex-6", "energy eff. vs CPU"] == pytest.approx(73 * 7516.2e-6 / 1e-6)
    per_layer = sp.drop(index=["geometric mean", "paper, geometric mean"])
    assert sp.loc["geometric mean", "speed-up vs GPU"] == pytest.approx(
        np.exp(np.log(per_layer["speed-up vs GPU"]).mean()))
    # the paper's own 189x is close to what its own Table IV gives
    assert reproduce.paper_speedup_from_table4() == pytest.approx(189, rel=0.05)


# ----------------------------------------------------------------------------- paper figures from data


def _headlines() -> pd.DataFrame:
    return pd.read_csv(PAPER_DATA / "paper_headlines.csv").set_index("name")


def test_paper_figures_are_read_from_the_data_file(monkeypatch):
    """Change every headline figure in the data: the report's figures change with it."""
    changed = _headlines().assign(value=lambda d: d["value"] * 1.5)
    monkeypatch.setattr(baselines, "paper_headlines", lambda: changed)
    stats = reproduce.table4_stats(fake_table4(seeds=(0,)), 800e6)
    sp = reproduce.speedups(stats).set_index("layer")
    assert sp.loc["paper, geometric mean", "speed-up vs CPU"] == pytest.approx(189 * 1.5)
    assert reproduce.paper("eie_power_64pe") == f"{0.59 * 1.5:g} W"
    assert reproduce.paper("pe_scaling_256_over_64") == f"{3.25 * 1.5:g}x"
    assert reproduce.paper("eie_energy_efficiency_vs_cpu_geomean") == f"{24207 * 1.5:g}x"


def test_table4_paper_times_are_read_from_the_data_file(monkeypatch):
    t4 = baselines.paper_table4().copy()
    t4.loc[(t4.layer == "Alex-6") & (t4.platform == "EIE") & (t4.kind == "actual"), "time_us"] = 99.9
    monkeypatch.setattr(reproduce, "paper_time_us", lambda layer, plat, kind: float(
        t4[(t4.layer == layer) & (t4.platform == plat) & (t4.kind == kind)]["time_us"].iloc[0]))
    timing = reproduce.timing_table(reproduce.table4_stats(fake_table4(), 800e6), 800e6).set_index("layer")
    assert timing.loc["Alex-6", "paper actual"] == 99.9


def test_no_paper_figure_is_typed_into_the_report_code():
    """Every headline figure reaches the report through the data file, never as a literal."""
    source = Path(reproduce.__file__).read_text()
    for name, row in _headlines().iterrows():
        value = f"{row['value']:g}"
        if name in ("fifo_depth_design", "spmat_width_best"):
            continue  # 8 and 64 are also the default configuration, printed from SimConfig
        for literal in {value, f"{row['value']:,.0f}"} if row["value"] >= 1000 else {value}:
            assert not re.search(rf"(?<![\d.]){re.escape(literal)}(?![\d.])", source), (name, literal)


def test_tables_have_no_scientific_notation():
    stats = reproduce.table4_stats(fake_table4(), 800e6)
    tables = (reproduce.timing_table(stats, 800e6), reproduce.speedups(stats),
              reproduce.model_table(stats, "overhead_pct", None))
    text = "\n".join(reproduce.md(t) for t in tables)
    assert not re.search(r"\d[eE][+-]?\d", text)
    assert reproduce.fmt(24207.4) == "24,207" and reproduce.fmt(0.01234) == "0.012"
    assert reproduce.fmt(1234567) == "1,234,567" and reproduce.pm(12.345, 0.678) == "12.3 ± 0.7"


# ----------------------------------------------------------------------------- seeds


def test_seed_reaches_provenance_and_text():
    prov = {"seeds": [3], "contract_version": 2, "package_version": "x", "git_commit": "abc"}
    text = reproduce.header(prov, wall=1.0)
    assert "seed 3" in text
    assert "seeds 0, 1, 2" in reproduce.header({**prov, "seeds": [0, 1, 2]}, wall=1.0)


def test_cli_seed_reaches_the_run(monkeypatch, tmp_path, capsys):
    seen = {}

    def fake_run(out, *, seeds, jobs, force, progress):
        seen["seeds"] = seeds
        path = Path(out) / "report.md"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x")
        return path

    monkeypatch.setattr(reproduce, "run_reproduce", fake_run)
    assert main(["reproduce", "--out", str(tmp_path), "--seed", "3"]) == 0
    assert seen["seeds"] == [3] and "seeds: 3" in capsys.readouterr().out
    assert main(["reproduce", "--out", str(tmp_path), "--seeds", "0,1,2,3,4", "--force"]) == 0
    assert seen["seeds"] == [0, 1, 2, 3, 4]


# ----------------------------------------------------------------------------- ablation


def test_ablation_table_names_variants_and_changes():
    rows = []
    for name, knobs in reproduce.ABLATION:
        cfg = {"bypass": True, "ptr_banks": 2, "queue_depth": 8, **knobs}
        factor = {"default": 1.0, "bypass off": 1.1}.get(name, 1.2 if name == "one pointer bank" else 1.05)
        part = fake_table4(seeds=(0,))
        part = part[part.sparsity == DEFAULT_SPARSITY].assign(**cfg)
        rows += part.assign(cycles=part["cycles"] * factor).to_dict("records")
    df = pd.DataFrame(rows)
    t = reproduce.ablation_table(df, "cycles")
    assert list(t["layer"]) == list(BENCHMARKS)
    assert t.iloc[0]["default (cycles)"] == 1000
    assert t.iloc[0]["bypass off (%)"] == pytest.approx(10)
    assert t.iloc[0]["one pointer bank (%)"] == pytest.approx(20)
    assert t.iloc[0]["queue depth 1 (%)"] == pytest.approx(5)
    fig = reproduce.plots.ablation(reproduce.ablation_rows(df))
    assert len(fig.axes) == 2


# ----------------------------------------------------------------------------- the full run


@pytest.mark.slow
def test_full_reproduce(tmp_path):
    report = reproduce.run_reproduce(tmp_path, seeds=[3], jobs=2, progress=False)
    text = report.read_text()
    for section in ("Load imbalance", "Table IV", "FIFO depth", "PE count", "SRAM width", "Alex-7",
                    "dense baselines", "ablation"):
        assert section in text
    assert "seed 3" in text
    assert not re.search(r"\|[^|\n]*\d[eE][+-]?\d[^|\n]*\|", text)  # no scientific notation in tables
    for name in _headlines().index:
        if name not in ("fifo_depth_design", "spmat_width_best"):
            assert reproduce.paper(name) in text, name
    for name in ("headline_overhead", "table4_timing", "speedup", "fifo", "pes_on_chip", "width", "latency",
                 "power", "ablation_cycles", "periphery"):
        assert (tmp_path / f"{name}.csv").stat().st_size > 0
    assert (tmp_path / "energy_vs_pes_alexnet.png").exists()


def test_an_existing_output_is_refused_before_any_sweep_runs(monkeypatch, tmp_path):
    (tmp_path / "fifo.csv").write_text("mine")
    monkeypatch.setattr(reproduce, "run_sweeps", lambda *a, **k: pytest.fail("sweeps ran"))
    with pytest.raises(EieInputError, match="fifo.csv: already exists"):
        reproduce.run_reproduce(tmp_path, seeds=[0], progress=False)
    assert (tmp_path / "fifo.csv").read_text() == "mine"
