"""`eie table`: a sweep's cycles and energy per point relative to a baseline point (CSV + Markdown).

Expected ratios are computed here from the sweep's own rows (cycles / the baseline row's cycles),
not from the table code.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from eie_sim.config import SimConfig
from eie_sim.study.sweep import make_points, run_sweep
from eie_sim.study.table import relative_table
from tests.conftest import run
from tests.test_plots import sweep

PES = [16, 64, 256]
DEPTHS = [2, 8]


@pytest.fixture
def results(tmp_path: Path) -> Path:
    path = tmp_path / "s.csv"
    sweep(n_pes=PES, queue_depth=DEPTHS).to_csv(path, index=False)
    return path


def ratios(df: pd.DataFrame, column: str, **at: object) -> dict[tuple[str, int, int], float]:
    """(layer, n_pes, queue_depth) -> the row's ``column`` / its layer's row at ``at``."""
    out = {}
    for layer, g in df.groupby("layer"):
        ref = g
        for k, v in at.items():
            ref = ref[ref[k] == v]
        (base,) = ref[column]
        for r in g.itertuples():
            out[(layer, r.n_pes, r.queue_depth)] = getattr(r, column) / base
    return out


def table_ratios(t: pd.DataFrame, column: str) -> dict[tuple[str, int, int], float]:
    return {(r["layer"], r["PE count"], r["activation queue depth (activations)"]): r[column]
            for _, r in t.iterrows()}


def test_default_baseline_is_the_point_at_every_fields_default(results, capsys):
    rc, out, _ = run(capsys, "table", str(results))
    assert rc == 0
    t = pd.read_csv(results.with_name("s_table.csv"))
    df = pd.read_csv(results)
    for column, src in (("cycles vs baseline (x)", "cycles"), ("energy vs baseline (x)", "energy_j")):
        got, want = table_ratios(t, column), ratios(df, src, n_pes=64, queue_depth=8)
        assert got.keys() == want.keys()
        assert all(got[k] == pytest.approx(want[k], rel=1e-5) for k in want)  # six significant digits
    base = t[t["baseline"]]
    assert len(base) == 3 and set(base["PE count"]) == {64}
    assert set(base["activation queue depth (activations)"]) == {8}
    assert np.allclose(t["energy per inference (uJ)"], df["energy_j"] * 1e6, rtol=1e-5)
    assert np.allclose(t["latency (us)"], df["time_s"] * 1e6, rtol=1e-5)
    for c in t.columns:  # one number per cell: pandas reads the figures as numbers
        if c != "layer":
            assert pd.api.types.is_numeric_dtype(t[c]) or pd.api.types.is_bool_dtype(t[c]), c
    assert ("note: baseline per layer: the point with n_pes=64, queue_depth=8 (each varied field at its "
            "default") in out
    md = results.with_name("s_table.md").read_text()
    assert md.splitlines()[0].startswith(
        "| layer | PE count | activation queue depth (activations) | cycles |")
    assert md.count("**baseline**") == 3 and "| 1.000 |" in md
    assert md in out + "\n"  # printed as written


def test_without_the_default_the_layers_first_point_is_the_baseline(tmp_path, capsys):
    df = sweep(n_pes=[16, 32], queue_depth=DEPTHS)
    t, notes = relative_table(df)
    assert table_ratios(t, "cycles vs baseline (x)") == pytest.approx(
        ratios(df, "cycles", n_pes=16, queue_depth=8))
    assert "n_pes=16, queue_depth=8" in notes[0]


def test_baseline_named_by_fields_and_flags(results, tmp_path, capsys):
    df = pd.read_csv(results)
    for spec in ("n_pes=16,queue_depth=2", "pes=16,fifo=2"):
        rc, out, _ = run(capsys, "table", str(results), "--baseline", spec, "-o", str(tmp_path / "t.csv"),
                         "--force")
        assert rc == 0
        t = pd.read_csv(tmp_path / "t.csv")
        assert table_ratios(t, "cycles vs baseline (x)") == pytest.approx(
            ratios(df, "cycles", n_pes=16, queue_depth=2), rel=1e-5)
        assert f"the point with {spec.replace(',', ', ')} (--baseline)" in out


def test_one_baseline_for_all_layers(results):
    df = pd.read_csv(results)
    t, notes = relative_table(df, {"layer": "Alex-7", "n_pes": "64", "queue_depth": "8"})
    ref = df[(df.layer == "Alex-7") & (df.n_pes == 64) & (df.queue_depth == 8)].energy_j.iloc[0]
    assert np.allclose(t["energy vs baseline (x)"], df.energy_j / ref)
    assert t["baseline"].sum() == 1 and "for the whole sweep" in notes[0]


def test_where_filters_before_the_table(results, tmp_path, capsys):
    rc, _, _ = run(capsys, "table", str(results), "--where", "queue_depth=8", "-o", str(tmp_path / "q8.csv"))
    assert rc == 0
    t = pd.read_csv(tmp_path / "q8.csv")
    assert "activation queue depth (activations)" not in t.columns and len(t) == 9
    assert (tmp_path / "q8.md").exists()


@pytest.mark.parametrize("spec, message", [
    ("n_pes=3", "--baseline n_pes=3: no row has n_pes = 3; values present: 16, 64, 256"),
    ("queue_depth=8", "the baseline matches 3 rows of layer Alex-6 (they differ in n_pes); fix more fields"),
    ("colour=red", "--baseline colour=red: the results have no field 'colour'"),
    ("n_pes", "--baseline 'n_pes': expected FIELD=VALUE"),
])
def test_bad_baselines_are_named(results, capsys, spec, message):
    rc, _, err = run(capsys, "table", str(results), "--baseline", spec)
    assert rc == 2 and message in err
    assert not results.with_name("s_table.csv").exists()


def test_existing_tables_are_refused_before_anything_is_read(results, capsys):
    results.with_name("s_table.md").write_text("mine")
    rc, _, err = run(capsys, "table", str(results))
    assert rc == 2 and "s_table.md: already exists" in err
    assert results.with_name("s_table.md").read_text() == "mine"
    assert run(capsys, "table", str(results), "--force")[0] == 0


def test_a_real_ablation_sweep(tmp_path, capsys):
    """Bypassing and pointer banks on a small layer, fast engine: the default machine is the baseline."""
    rng = np.random.default_rng(3)
    np.save(tmp_path / "fc.npy", rng.normal(0, 0.05, (64, 96)) * (rng.random((64, 96)) < 0.2))
    grid = {"n_pes": [4], "bypass": [False, True], "ptr_banks": [1, 2]}
    pts = make_points([str(tmp_path / "fc.npy")], grid, act_density=0.5)
    with ThreadPoolExecutor(1) as ex:
        run_sweep(pts, tmp_path / "abl.csv", base=SimConfig(), executor=ex, progress=False, cache_dir=None)
    rc, out, _ = run(capsys, "table", str(tmp_path / "abl.csv"))
    assert rc == 0
    df = pd.read_csv(tmp_path / "abl.csv")
    t = pd.read_csv(tmp_path / "abl_table.csv")
    ref = df[(df.bypass) & (df.ptr_banks == 2)].iloc[0]
    assert np.allclose(t["cycles vs baseline (x)"], df.cycles / ref.cycles, rtol=1e-5)
    assert t.loc[t["baseline"], "activation bypassing"].item() and "ptr_banks=2, bypass=on" in out
    assert "| on |" in out and "| off |" in out  # booleans as the flags spell them
