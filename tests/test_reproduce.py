"""`eie reproduce`: the table builders on small synthetic sweeps, paper figures read from data,
tidy CSVs, the report template filled section by section, seeds reaching provenance and text,
and (slow) a real run of a small plan."""

from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from compressor.errors import EieInputError
from eie_sim.study import baselines, figures, paper_tables, report, reproduce, tables
from eie_sim.study.cli import main
from eie_sim.workload.benchmarks import BENCHMARKS, DEFAULT_SPARSITY, SPARSITY_MODELS
from tests.test_plots import sweep

PAPER_DATA = Path(reproduce.__file__).parents[1] / "data"
LAYERS = list(BENCHMARKS)
MODELS = list(SPARSITY_MODELS)


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


def stats(seeds=(0, 1)) -> pd.DataFrame:
    return paper_tables.table4_stats(fake_table4(seeds), 800e6)


def with_dense(df: pd.DataFrame) -> pd.DataFrame:
    return df.assign(dense_energy_j=df.energy_j * 30, dense_resident=df.n_pes >= 64)


def fake_sweeps(seeds=(0, 1), plan: reproduce.Plan = reproduce.PAPER) -> dict[str, pd.DataFrame]:
    """Every sweep of a reproduction, synthetic (tests.test_plots.sweep's closed forms)."""
    layers = tuple(plan.layers)
    ablation = []
    for k, (_, knobs) in enumerate(plan.ablation):
        part = sweep(layers).assign(**{"bypass": True, "ptr_banks": 2, **knobs})
        ablation.append(part.assign(cycles=part.cycles * (1 + 0.05 * k),
                                    energy_j=part.energy_j * (1 + 0.01 * k)))
    return {"table4": fake_table4(seeds),
            "pes": with_dense(sweep(layers, n_pes=list(plan.pes))).assign(act_spilled=lambda d: d.n_pes <= 2),
            "pes_on_chip": with_dense(sweep(layers, n_pes=list(plan.pes))).assign(resident=True, tiles=1),
            "fifo": sweep(layers, queue_depth=list(plan.fifos)),
            "width": sweep(tuple(plan.alexnet), word_bits=list(plan.widths)),
            "ablation": pd.concat(ablation, ignore_index=True)}


# ----------------------------------------------------------------------------- Table IV


def test_table4_stats_errors_and_overheads():
    s = stats()
    s = s[(s.sparsity == DEFAULT_SPARSITY) & (s.layer == "Alex-6")].iloc[0]
    actual = [1000 / 800, 1010 / 800]  # us, seeds 0 and 1
    theoretical = 900 / 800
    assert s["actual_us_mean"] == pytest.approx(np.mean(actual))
    assert s["actual_us_sd"] == pytest.approx(np.std(actual, ddof=1))
    assert (s["actual_us_min"], s["actual_us_max"]) == pytest.approx(actual)
    assert s["overhead_pct_mean"] == pytest.approx(np.mean([100 * (a / theoretical - 1) for a in actual]))
    assert s["error_pct_mean"] == pytest.approx(np.mean([100 * (a - 30.3) / 30.3 for a in actual]))
    assert s["padding_pct_mean"] == pytest.approx(100 * (1 - 800 / 900))
    assert s["seeds"] == 2


def test_headline_compares_overheads_in_their_own_columns():
    hl = paper_tables.headline_table(stats(), LAYERS)
    alex6 = hl.iloc[0]
    assert alex6["paper overhead (%)"] == pytest.approx(100 * (30.3 / 28.1 - 1))
    actual = np.array([1000, 1010]) / 800
    oh = 100 * (actual / (900 / 800) - 1)
    assert alex6["ours overhead mean (%)"] == pytest.approx(oh.mean())
    assert alex6["ours overhead sd (%)"] == pytest.approx(oh.std(ddof=1))
    assert (alex6["ours overhead min (%)"], alex6["ours overhead max (%)"]) == pytest.approx(tuple(oh))
    assert len(hl) == 9
    # Markdown shows each group as one mean ± sd column; the CSV keeps the four numbers
    lines = tables.md(hl).splitlines()
    assert "| ours overhead (%) |" in lines[0] and "min" not in lines[0]
    assert re.search(rf"\| {oh.mean():.1f} ± {oh.std(ddof=1):.1f} \|", lines[2])  # 1 decimal from 10


def test_speedups_against_paper_platforms():
    sp = paper_tables.speedups(stats(seeds=(0,)), LAYERS).set_index("layer")
    assert sp.loc["Alex-6", "speed-up vs CPU (x)"] == pytest.approx(7516.2e-6 / (1000 / 800e6))
    assert sp.loc["Alex-6", "energy eff. vs CPU (x)"] == pytest.approx(73 * 7516.2e-6 / 1e-6)
    per_layer = sp.drop(index=["geometric mean", "paper, geometric mean"])
    assert sp.loc["geometric mean", "speed-up vs GPU (x)"] == pytest.approx(
        np.exp(np.log(per_layer["speed-up vs GPU (x)"]).mean()))
    # the paper's own 189x is close to what its own Table IV gives
    assert paper_tables.paper_speedup_from_table4() == pytest.approx(189, rel=0.05)


# ----------------------------------------------------------------------------- paper figures from data


def _headlines() -> pd.DataFrame:
    return pd.read_csv(PAPER_DATA / "paper_headlines.csv").set_index("name")


def test_paper_figures_are_read_from_the_data_file(monkeypatch):
    """Change every headline figure in the data: the report's figures change with it."""
    changed = _headlines().assign(value=lambda d: d["value"] * 1.5)
    monkeypatch.setattr(baselines, "paper_headlines", lambda: changed)
    sp = paper_tables.speedups(stats(seeds=(0,)), LAYERS).set_index("layer")
    assert sp.loc["paper, geometric mean", "speed-up vs CPU (x)"] == pytest.approx(189 * 1.5)
    assert paper_tables.paper("eie_power_64pe") == f"{0.59 * 1.5:g} W"
    assert paper_tables.paper("pe_scaling_256_over_64") == f"{3.25 * 1.5:g}x"
    assert paper_tables.paper("eie_energy_efficiency_vs_cpu_geomean") == f"{24207 * 1.5:g}x"
    e = paper_tables.alex7_energy_table(fake_sweeps()["pes"]).set_index("method")
    assert e.loc["paper's power x our time", "power (W)"] == pytest.approx(0.59 * 1.5)


def test_table4_paper_times_are_read_from_the_data_file(monkeypatch):
    t4 = baselines.paper_table4().copy()
    t4.loc[(t4.layer == "Alex-6") & (t4.platform == "EIE") & (t4.kind == "actual"), "time_us"] = 99.9
    monkeypatch.setattr(paper_tables, "paper_time_us", lambda layer, plat, kind: float(
        t4[(t4.layer == layer) & (t4.platform == plat) & (t4.kind == kind)]["time_us"].iloc[0]))
    timing = paper_tables.timing_table(stats(), 800e6, LAYERS, MODELS).set_index("layer")
    assert timing.loc["Alex-6", "paper actual (us)"] == 99.9


def test_no_paper_figure_is_typed_into_the_report_code():
    """Every headline figure reaches the report through the data file, never as a literal."""
    sources = [Path(m.__file__).read_text() for m in (reproduce, paper_tables, report)]
    sources.append((PAPER_DATA / report.TEMPLATE).read_text())
    for name, row in _headlines().iterrows():
        value = f"{row['value']:g}"
        if name in ("fifo_depth_design", "spmat_width_best"):
            continue  # 8 and 64 are also the default configuration, printed from SimConfig
        for literal in {value, f"{row['value']:,.0f}"} if row["value"] >= 1000 else {value}:
            for source in sources:
                assert not re.search(rf"(?<![\d.]){re.escape(literal)}(?![\d.])", source), (name, literal)


def test_tables_have_no_scientific_notation():
    s = stats()
    built = (paper_tables.timing_table(s, 800e6, LAYERS, MODELS), paper_tables.speedups(s, LAYERS),
             paper_tables.model_table(s, "overhead_pct", LAYERS, MODELS))
    text = "\n".join(tables.md(t) for t in built)
    assert not re.search(r"\d[eE][+-]?\d", text)
    assert tables.fmt(24207.4) == "24,207" and tables.fmt(0.01234) == "0.012"
    assert tables.fmt(1234567) == "1,234,567" and tables.pm(12.345, 0.678) == "12.3 ± 0.7"


# ----------------------------------------------------------------------------- tidy CSVs and the report


@pytest.fixture(scope="module")
def built() -> tuple[dict[str, pd.DataFrame], dict[str, pd.DataFrame]]:
    sw = fake_sweeps()
    return sw, reproduce.build_tables(sw)


def test_every_reproduce_csv_holds_one_number_per_cell(built):
    """pandas reads every numeric column of every table's CSV as numbers: no 'mean ± sd' text, no
    '9,216 -> 4,096', no '0.2 (default)'; and floats carry at most six significant digits."""
    _, tabs = built
    assert set(tabs) == set(reproduce.TABLES)
    for name, df in tabs.items():
        text = tables.csv_text(df)
        back = pd.read_csv(io.StringIO(text))
        assert list(back.columns) == list(df.columns), name
        for c in back.columns:
            col = back[c]
            if pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col):
                continue
            # a text column (layer, unit, method) holds no number at all
            numbers = pd.to_numeric(col.dropna(), errors="coerce").notna()
            assert not numbers.any(), (name, c, col[col.notna()][numbers].tolist()[:3])
        assert "±" not in text and "->" not in text, name
        for cell in re.findall(r"(?<![\w.])-?\d+\.\d+(?:e[-+]?\d+)?", text):
            digits = re.sub(r"[^0-9]", "", cell.split("e")[0]).strip("0")
            assert len(digits) <= 6, (name, cell)
        units = [c for c in df.columns if pd.api.types.is_float_dtype(df[c])]
        assert all(re.search(r"\(.+\)$", c) or c == "periphery fraction P" for c in units), (name, units)


def test_the_report_template_is_filled_section_by_section(built):
    sw, tabs = built
    prov = {"seeds": [0, 1], "contract_version": 2, "package_version": "x", "git_commit": "abc"}
    cache = reproduce.CacheReport(Path("/c"), {"generated": 3, "cached": 24}, 5_000_000, [])
    text = report.render(report.ReportInputs(tables=tabs, sweeps=sw, prov=prov, wall=12.0,
                                             plan=reproduce.PAPER, cache=cache))
    assert "$" not in text  # every placeholder filled
    for section in ("Load imbalance", "Table IV", "FIFO depth", "PE count", "SRAM width", "Alex-7",
                    "dense baselines", "ablation"):
        assert section in text
    assert "seeds 0, 1" in text and "24 from the cache, 3 generated" in text and "5 MB" in text
    for name in _headlines().index:
        if name not in ("fifo_depth_design", "spmat_width_best"):
            assert paper_tables.paper(name) in text, name
    assert not re.search(r"\|[^|\n]*\d[eE][+-]?\d[^|\n]*\|", text)  # no scientific notation in tables
    assert " T |" in text  # DRAM-tiled points of the 128 KB PE table are marked
    one = report.header(report.ReportInputs(tables=tabs, sweeps=sw, prov={**prov, "seeds": [3]}, wall=1.0,
                                            plan=reproduce.PAPER))
    assert one["seed_text"] == "seed 3" and one["cache_line"] == "generated for this run"


def test_reproduce_builds_every_figure_with_the_plot_functions(built):
    sw, tabs = built
    figs = reproduce.build_figures(sw, tabs)
    assert tuple(figs) == reproduce.FIGURES
    for fig in figs.values():
        figures.close(fig)


def test_width_table_and_figure_show_one_quantity(built):
    """The width table, eie plot's figure and eie reproduce's figure draw the same read energy."""
    sw, tabs = built
    width = sw["width"]
    fig = figures.spmat_energy_vs_width(width)
    (line,) = [ln for ln in fig.axes[0].get_lines() if ln.get_label() == "Alex-7"]
    table = tabs["width"].set_index(paper_tables.WIDTH_LABEL)
    assert np.allclose(line.get_ydata(), table["Alex-7 dynamic (uJ)"])
    alex7 = width[width.layer == "Alex-7"].sort_values("word_bits")
    # fake_sweeps' Alex-7 (the second AlexNet layer of test_plots.sweep): 2 uJ x (32/w + w/128)
    assert list(reproduce.PAPER.alexnet).index("Alex-7") == 1
    assert np.allclose(table["Alex-7 dynamic (uJ)"], [2 * (32 / w + w / 128) for w in alex7["word_bits"]])
    # the whole unit's energy (dynamic + its static share) is there too, under its own name
    assert np.allclose(table["Alex-7 dynamic + static (uJ)"], alex7["energy_breakdown_j.spmat_read"] * 1e6)
    figures.close(fig)


def test_alex7_energy_the_papers_way_beside_ours(built):
    """Like for like: the paper multiplies one power by its time; that method on our time is in
    the table beside our own figure."""
    sw, tabs = built
    e = tabs["alex7_energy"].set_index("method")
    row = sw["pes"][(sw["pes"].layer == "Alex-7") & (sw["pes"].n_pes == 64)].iloc[0]
    power = float(_headlines().loc["eie_power_64pe", "value"])
    paper_time = baselines.paper_time_us("Alex-7", "EIE", "actual")
    assert e.loc["paper: its power x its time", "energy per inference (uJ)"] == pytest.approx(
        power * paper_time)
    assert e.loc["paper's power x our time", "energy per inference (uJ)"] == pytest.approx(
        power * row.time_s * 1e6)
    assert e.loc["ours: events priced + fitted static", "energy per inference (uJ)"] == pytest.approx(
        row.energy_j * 1e6)
    assert e.loc["paper: its power x its time", "energy per inference (uJ)"] == pytest.approx(
        float(_headlines().loc["eie_alex7_energy", "value"]), abs=0.05)  # 0.59 W x 12.2 us = 7.2 uJ


def test_pe_tables_mark_dram_tiled_points(built):
    sw, tabs = built
    t = tabs["pes_128kb"]
    pes = sw["pes"].set_index(["layer", "n_pes"])
    assert list(t["weights resident"]) == [bool(pes.loc[(r.layer, r[paper_tables.PES_LABEL]), "resident"])
                                           for _, r in t.iterrows()]
    assert (~t["weights resident"]).any() and t["weights resident"].any()
    md_text = report.pes_markdown(t)
    assert list(t["activations spilled"]) == list(t[paper_tables.PES_LABEL] <= 2)
    for _, r in t.iterrows():
        cell = (f"{r['speed-up over fewest PEs (x)']:.1f}" + ("" if r["weights resident"] else " T")
                + (" S" if r["activations spilled"] else ""))
        assert f"| {cell} |" in md_text


# ----------------------------------------------------------------------------- seeds and the CLI


def test_cli_seed_and_cache_reach_the_run(monkeypatch, tmp_path, capsys):
    seen = {}

    def fake_run(out, *, seeds, jobs, force, progress, cache_dir):
        seen.update(seeds=seeds, cache_dir=cache_dir)
        path = Path(out) / "report.md"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x")
        return path

    monkeypatch.setattr(reproduce, "run_reproduce", fake_run)
    assert main(["reproduce", "--out", str(tmp_path), "--seed", "3"]) == 0
    assert seen == {"seeds": [3], "cache_dir": None} and "seeds: 3" in capsys.readouterr().out
    assert main(["reproduce", "--out", str(tmp_path), "--seeds", "0,1,2,3,4", "--force",
                 "--cache", str(tmp_path / "c")]) == 0
    assert seen == {"seeds": [0, 1, 2, 3, 4], "cache_dir": str(tmp_path / "c")}


# ----------------------------------------------------------------------------- ablation


def test_ablation_table_names_variants_and_changes():
    rows = []
    for name, knobs in reproduce.ABLATION:
        cfg = {"bypass": True, "ptr_banks": 2, "queue_depth": 8, **knobs}
        factor = {"default": 1.0, "bypass off": 1.1}.get(name, 1.2 if name == "one pointer bank" else 1.05)
        part = fake_table4(seeds=(0,))
        part = part[part.sparsity == DEFAULT_SPARSITY].assign(**cfg)
        rows += part.assign(cycles=part["cycles"] * factor).to_dict("records")
    named = paper_tables.ablation_rows(pd.DataFrame(rows), reproduce.ABLATION)
    t = paper_tables.ablation_table(named, "cycles", reproduce.PAPER.variants)
    assert list(t["layer"]) == LAYERS
    assert t.iloc[0]["default (cycles)"] == 1000
    assert t.iloc[0]["bypass off (%)"] == pytest.approx(10)
    assert t.iloc[0]["one pointer bank (%)"] == pytest.approx(20)
    assert t.iloc[0]["queue depth 1 (%)"] == pytest.approx(5)
    fig = figures.ablation(named)
    assert len(fig.axes) == 2


# ----------------------------------------------------------------------------- real runs


SMALL = reproduce.Plan(layers=("Alex-7", "NT-We"), models=(DEFAULT_SPARSITY, "uniform"), pes=(16, 64),
                       fifos=(2, 8), widths=(32, 64), alexnet=("Alex-7",),
                       ablation=reproduce.ABLATION[:3])


@pytest.mark.slow
def test_a_small_real_reproduction_and_its_warm_rerun(tmp_path):
    cache = tmp_path / "cache"
    path = reproduce.run_reproduce(tmp_path / "cold", seeds=[3, 4], jobs=2, progress=False, cache_dir=cache,
                                   plan=SMALL)
    text = path.read_text()
    assert "seeds 3, 4" in text and "0 from the cache, 8 generated" in text
    for name in reproduce.TABLES:  # real CSVs: numbers stay numbers
        df = pd.read_csv(tmp_path / "cold" / f"{name}.csv")
        assert not any(df[c].astype(str).str.contains("±").any() for c in df.columns), name
    warm = reproduce.run_reproduce(tmp_path / "warm", seeds=[3, 4], jobs=2, progress=False, cache_dir=cache,
                                   plan=SMALL)
    assert "8 from the cache, 0 generated" in warm.read_text()
    assert (tmp_path / "cold" / "table4_per_seed.csv").read_text() == (
        tmp_path / "warm" / "table4_per_seed.csv").read_text()  # the cached layers give the same figures
    for f in reproduce.FIGURES:
        assert (tmp_path / "warm" / f"{f}.png").stat().st_size > 0


def test_an_existing_output_is_refused_before_any_sweep_runs(monkeypatch, tmp_path):
    (tmp_path / "fifo.csv").write_text("mine")
    monkeypatch.setattr(reproduce, "run_sweeps", lambda *a, **k: pytest.fail("sweeps ran"))
    with pytest.raises(EieInputError, match="fifo.csv: already exists"):
        reproduce.run_reproduce(tmp_path, seeds=[0], progress=False)
    assert (tmp_path / "fifo.csv").read_text() == "mine"


def test_reproduce_pool_workers_exit_with_their_parent(monkeypatch, tmp_path):
    """`eie reproduce` runs on its own pool: its workers get the same start-up as a sweep's (BLAS
    limit, exit when the parent dies), or a killed reproduce would leave them under PID 1."""
    from eie_sim.study import sweep as sweep_mod

    class Seen(Exception):
        pass

    def capture(root, sources, *, executor, progress):
        raise Seen(getattr(executor, "_initializer", None))

    monkeypatch.setattr(reproduce.layercache, "prepare", capture)
    with pytest.raises(Seen) as got:
        reproduce.run_sweeps(tmp_path, seeds=[0], jobs=1, progress=False, force=True, cache_dir=tmp_path)
    assert got.value.args[0] is sweep_mod.worker_init
