"""Plots of sweep DataFrames: series counts, units, scales, markers, saving and plot_all's choices.

The sweeps are synthetic (closed-form stand-ins for the simulator's figures) so the file runs in
a few seconds; what is tested is the drawing, not the model.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure

from compressor.errors import EieInputError
from eie_sim import plots

LAYERS3 = ("Alex-6", "Alex-7", "NT-We")
LAYERS9 = ("Alex-6", "Alex-7", "Alex-8", "VGG-6", "VGG-7", "VGG-8", "NT-We", "NT-Wd", "NT-LSTM")
PAPER = dict(n_pes=64, queue_depth=8, spmat_width_bits=64, spmat_bytes=128 * 1024, regs=64, clock_hz=800e6)
# Share of the on-chip energy per unit (sparse-matrix reads and DRAM are modelled apart).
SHARES = dict(act_queue=0.05, ptr_read=0.3, spmat_read=0.0, arith=0.3, act_rw=0.3, lnzd=0.05, dram=0.0)


def sweep(layers: tuple[str, ...] = LAYERS3, **swept: list[float]) -> pd.DataFrame:
    """One row per layer x combination of ``swept`` values, other fields at the paper's design."""
    grid = pd.MultiIndex.from_product(list(swept.values()), names=list(swept)) if swept else [()]
    rows = []
    for i, layer in enumerate(layers):
        work = 2e6 * (i + 1)  # MACs
        for combo in grid:
            cfg = {**PAPER, **dict(zip(swept, combo if swept else (), strict=True))}
            n, q, w = cfg["n_pes"], cfg["queue_depth"], cfg["spmat_width_bits"]
            # Balance worsens with more PEs and with the layer index (NT-We-like layers last).
            util = (0.5 + 0.45 * (1 - 1 / q)) / (1 + 0.01 * i * math.log2(n)) - 0.03 * i
            cycles = work / n / util + 50 * math.log2(n) + 10
            resident = n >= 8 * (i + 1)
            spmat = 1e-6 * (i + 1) * (32 / w + w / 128)  # minimum at 64 bits
            on_chip = 2e-5 * (i + 1) * (1 + 0.002 * n)
            row = dict(layer=layer, **cfg, cycles=cycles, time_s=cycles / cfg["clock_hz"],
                       pe_utilization=util, mac_efficiency=util * 0.9, resident=resident,
                       tiles=1 if resident else 4, dram_bytes=0 if resident else 10**6)
            row.update({f"energy_breakdown_j.{u}": on_chip * s for u, s in SHARES.items()})
            row["energy_breakdown_j.spmat_read"] = spmat
            row["energy_breakdown_j.dram"] = 0.0 if resident else 1e-4  # weights streamed
            row["energy_j"] = sum(row[f"energy_breakdown_j.{u}"] for u in SHARES)
            row["power_w"] = row["energy_j"] / row["time_s"]
            rows.append(row)
    return pd.DataFrame(rows)


PES = [1, 4, 16, 64, 256]
DEPTHS = [1, 2, 4, 8, 16, 32, 64, 128, 256]
WIDTHS = [32, 64, 128, 256, 512]


def labelled(fig: Figure, prefix: str = "") -> list:
    """Lines of the first axes whose label starts with ``prefix`` (legend-less ones start '_')."""
    return [ln for ln in fig.axes[0].get_lines() if ln.get_label().startswith(prefix)]


def legend_texts(fig: Figure) -> list[str]:
    return [t.get_text() for leg in fig.legends for t in leg.get_texts()]


# --- speed-up -----------------------------------------------------------------------------------

def test_speedup_vs_pes_series_ideal_and_scales():
    fig = plots.speedup_vs_pes(sweep(n_pes=PES))
    ax = fig.axes[0]
    assert isinstance(fig, Figure)
    layers = [ln for ln in ax.get_lines() if ln.get_label() in LAYERS3]
    assert len(layers) == 3 and len(ax.get_lines()) == 4  # 3 layers + the ideal line
    (ideal,) = labelled(fig, "ideal")
    x, y = ideal.get_data()
    assert (x[0], y[0]) == (1, 1) and np.allclose(y, x / 1) and ideal.get_linestyle() == "--"
    for ln in layers:
        assert ln.get_ydata()[0] == pytest.approx(1.0)  # speed-up at the smallest PE count
        assert np.all(np.diff(ln.get_ydata()) > 0)
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    assert ax.get_xlabel() == "PE count" and "(×)" in ax.get_ylabel()
    assert "ideal (linear)" in legend_texts(fig)


def test_speedup_ideal_starts_at_the_smallest_swept_count():
    fig = plots.speedup_vs_pes(sweep(n_pes=[4, 16, 64]))
    x, y = labelled(fig, "ideal")[0].get_data()
    assert (x[0], y[0]) == (4, 1) and y[-1] == pytest.approx(16)
    assert "over 4 PEs" in fig.axes[0].get_ylabel()


def test_speedup_needs_two_pe_counts_per_layer():
    df = sweep(n_pes=PES)
    df = df[(df.layer != "NT-We") | (df.n_pes == 64)]
    with pytest.raises(EieInputError, match=r"at least two n_pes values per layer.*NT-We: \[64\]"):
        plots.speedup_vs_pes(df)


def test_one_x_plot_refuses_a_second_swept_field():
    with pytest.raises(EieInputError, match="queue_depth also varies"):
        plots.speedup_vs_pes(sweep(n_pes=[16, 64], queue_depth=[4, 8]))


def test_duplicate_points_name_the_differing_column():
    # As a multi-seed sweep gives: same design point, different seed (and figures).
    one, two = sweep(n_pes=PES).assign(seed=0), sweep(n_pes=PES).assign(seed=1)
    two["cycles"] *= 1.1
    with pytest.raises(EieInputError, match=r"per \(layer, n_pes\) \(columns that differ: seed, cycles"):
        plots.energy_vs_pes(pd.concat([one, two]))


# --- utilisation --------------------------------------------------------------------------------

def test_utilization_vs_fifo_percent_log2():
    df = sweep(queue_depth=DEPTHS)
    fig = plots.utilization_vs_fifo(df)
    ax = fig.axes[0]
    assert len(ax.get_lines()) == 3
    first = df[df.layer == "Alex-6"].sort_values("queue_depth")
    assert np.allclose(ax.get_lines()[0].get_ydata(), 100 * first.pe_utilization)
    assert ax.get_xscale() == "log" and ax.xaxis.get_transform().base == 2
    assert "(entries)" in ax.get_xlabel() and "%" in ax.get_ylabel()
    assert ax.get_ylim()[1] >= 100


def test_utilization_in_percent_is_refused():
    df = sweep(queue_depth=DEPTHS)
    df["pe_utilization"] *= 100
    with pytest.raises(EieInputError, match="fraction in 0..1"):
        plots.utilization_vs_fifo(df)


# --- energy breakdown ---------------------------------------------------------------------------

def test_energy_breakdown_by_layer_stacks_every_unit():
    df = sweep()
    fig = plots.energy_breakdown(df)
    ax = fig.axes[0]
    assert len(ax.containers) == len(plots.ENERGY_UNITS)
    assert all(len(c) == 3 for c in ax.containers)
    unit = ax.get_ylabel().split("(")[1].rstrip(")")
    scale = dict(plots._ENERGY_SCALES)[unit]
    tops = [max(r.get_y() + r.get_height() for c in ax.containers for r in [c[i]]) for i in range(3)]
    assert np.allclose(tops, df.energy_j / scale)
    assert 1 <= max(tops) < 1000  # the unit keeps the numbers readable
    assert [t.get_text() for t in ax.get_xticklabels()] == list(LAYERS3)
    assert "DRAM" in legend_texts(fig)


def test_energy_breakdown_by_config_column_draws_a_panel_per_layer():
    fig = plots.energy_breakdown(sweep(n_pes=PES), by="n_pes")
    assert len(fig.axes) == 3
    for ax in fig.axes:
        assert len(ax.containers) == 7 and all(len(c) == len(PES) for c in ax.containers)
    assert fig.axes[0].get_xlabel() == "PE count" and "energy per inference (" in fig.axes[0].get_ylabel()


def test_energy_breakdown_by_layer_needs_one_row_per_layer():
    with pytest.raises(EieInputError, match="one row per layer.*by='n_pes'"):
        plots.energy_breakdown(sweep(n_pes=PES))


# --- sparse-matrix width ------------------------------------------------------------------------

def test_spmat_energy_minimum_marked_at_64_bits():
    fig = plots.spmat_energy_vs_width(sweep(spmat_width_bits=WIDTHS))
    ax = fig.axes[0]
    series = [ln for ln in ax.get_lines() if ln.get_label() in LAYERS3]
    minima = labelled(fig, "_min:")
    assert len(series) == 3 and len(minima) == 3
    for ln, mark in zip(series, minima, strict=True):
        assert mark.get_xdata()[0] == 64 and mark.get_ydata()[0] == min(ln.get_ydata())
        assert mark.get_marker() == "*" and mark.get_color() == ln.get_color()
    assert ax.get_xscale() == "log" and ax.get_xlabel() == "sparse-matrix SRAM width (bits)"
    assert [t.get_text() for t in ax.get_xticklabels()] == [str(w) for w in WIDTHS]
    assert "J)" in ax.get_ylabel()


# --- energy vs PEs ------------------------------------------------------------------------------

def test_energy_vs_pes_hollow_markers_for_tiled_points():
    df = sweep(n_pes=PES)
    fig = plots.energy_vs_pes(df)
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    assert ax.get_ylabel() == "energy per inference (J)" and ax.get_xlabel() == "PE count"
    assert len([ln for ln in ax.get_lines() if ln.get_label() in LAYERS3]) == 3
    for layer in LAYERS3:
        rows = df[df.layer == layer].sort_values("n_pes")
        (res,) = labelled(fig, f"_resident:{layer}")
        assert list(res.get_xdata()) == list(rows.n_pes[rows.resident])
        assert res.get_markerfacecolor() != "none"
        tiled = labelled(fig, f"_tiled:{layer}")
        if (~rows.resident).any():
            assert list(tiled[0].get_xdata()) == list(rows.n_pes[~rows.resident])
            assert tiled[0].get_markerfacecolor() == "none"
        else:
            assert not tiled
    texts = legend_texts(fig)
    assert "weights resident in SRAM" in texts and "DRAM-tiled (weights streamed)" in texts


def test_energy_vs_pes_baselines_dashed_in_layer_colour():
    base = pd.DataFrame([
        dict(layer="Alex-7", baseline="CPU dense (paper)", n_pes=np.nan, energy_j=0.452),
        dict(layer="Alex-6", baseline="dense accelerator", n_pes=16, energy_j=1e-3),
        dict(layer="Alex-6", baseline="dense accelerator", n_pes=64, energy_j=2e-3),
        dict(layer="VGG-6", baseline="CPU dense (paper)", n_pes=np.nan, energy_j=2.5),  # not plotted
    ])
    fig = plots.energy_vs_pes(sweep(n_pes=PES), baselines=base)
    lines = {ln.get_label(): ln for ln in labelled(fig, "_baseline:")}
    assert set(lines) == {"_baseline:Alex-7:CPU dense (paper)", "_baseline:Alex-6:dense accelerator"}
    flat = lines["_baseline:Alex-7:CPU dense (paper)"]
    assert list(flat.get_xdata()) == [0, 1] and flat.get_ydata()[0] == 0.452  # axhline: full width
    per_pe = lines["_baseline:Alex-6:dense accelerator"]
    assert list(per_pe.get_xdata()) == [16, 64]
    colours = {ln.get_label(): ln.get_color() for ln in fig.axes[0].get_lines()}
    assert to_rgba(flat.get_color()) == to_rgba(colours["Alex-7"])
    assert to_rgba(per_pe.get_color()) == to_rgba(colours["Alex-6"])
    assert flat.get_linestyle() != "-" and per_pe.get_linestyle() != "-"
    assert flat.get_linestyle() != per_pe.get_linestyle()  # one dash pattern per baseline name
    assert fig.axes[0].get_ylim()[1] > 0.452  # the baseline is inside the view
    assert {"CPU dense (paper)", "dense accelerator"} <= set(legend_texts(fig))


def test_baselines_that_match_no_layer_are_refused():
    base = pd.DataFrame([dict(layer="alex7", baseline="CPU", n_pes=np.nan, energy_j=0.4)])
    with pytest.raises(EieInputError, match="no baseline row names a plotted layer"):
        plots.energy_vs_pes(sweep(n_pes=PES), baselines=base)


def test_nine_layers_get_nine_colours():
    fig = plots.energy_vs_pes(sweep(LAYERS9, n_pes=PES))
    colours = {to_rgba(ln.get_color()) for ln in fig.axes[0].get_lines() if ln.get_label() in LAYERS9}
    assert len(colours) == 9


# --- missing data -------------------------------------------------------------------------------

@pytest.mark.parametrize("make, df, column", [
    (plots.speedup_vs_pes, sweep(n_pes=PES), "cycles"),
    (plots.utilization_vs_fifo, sweep(queue_depth=DEPTHS), "pe_utilization"),
    (plots.energy_breakdown, sweep(), "energy_breakdown_j.lnzd"),
    (plots.spmat_energy_vs_width, sweep(spmat_width_bits=WIDTHS), "energy_breakdown_j.spmat_read"),
    (plots.energy_vs_pes, sweep(n_pes=PES), "resident"),
    (plots.energy_vs_pes, sweep(n_pes=PES), "layer"),
])
def test_missing_column_is_named(make, df, column):
    with pytest.raises(EieInputError, match=f"column\\(s\\) {column}"):
        make(df.drop(columns=column))


def test_missing_values_are_named():
    df = sweep(n_pes=PES)
    df.loc[0, "cycles"] = np.nan
    with pytest.raises(EieInputError, match="cycles has missing values.*Alex-6"):
        plots.speedup_vs_pes(df)


# --- saving -------------------------------------------------------------------------------------

def test_save_writes_png_and_svg_and_refuses_to_overwrite(tmp_path):
    df = sweep(n_pes=PES)
    paths = plots.save(plots.speedup_vs_pes(df), tmp_path / "a")
    assert paths == [tmp_path / "a.png", tmp_path / "a.svg"]
    assert paths[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert b"<svg" in paths[1].read_bytes()
    with pytest.raises(EieInputError, match="already exists"):
        plots.save(plots.speedup_vs_pes(df), tmp_path / "a")
    before = paths[0].stat().st_mtime_ns, paths[1].read_bytes()
    plots.save(plots.energy_vs_pes(df), tmp_path / "a", force=True)
    assert paths[1].read_bytes() != before[1]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png", "a.svg"]  # no temporary files left


def test_save_refusal_writes_neither_file(tmp_path):
    (tmp_path / "a.svg").write_text("keep")
    with pytest.raises(EieInputError):
        plots.save(plots.utilization_vs_fifo(sweep(queue_depth=DEPTHS)), tmp_path / "a")
    assert not (tmp_path / "a.png").exists() and (tmp_path / "a.svg").read_text() == "keep"


def test_same_data_gives_identical_svg_bytes(tmp_path):
    base = pd.DataFrame([dict(layer="Alex-7", baseline="CPU", n_pes=np.nan, energy_j=0.4)])
    for stem in ("one", "two"):
        plots.save(plots.energy_vs_pes(sweep(n_pes=PES), baselines=base), tmp_path / stem)
    svg = (tmp_path / "one.svg").read_bytes()
    assert svg == (tmp_path / "two.svg").read_bytes()
    assert b"<dc:date>" not in svg


@pytest.fixture
def fast_savefig(monkeypatch):
    """Rendering costs ~0.2 s a file; tests about plot_all's choices only need the files to exist."""
    monkeypatch.setattr(Figure, "savefig", lambda self, path, **kw: Path(path).write_text(kw["format"]))


# --- plot_all -----------------------------------------------------------------------------------

def test_plot_all_makes_only_the_supported_plots(tmp_path):
    paths = plots.plot_all(sweep(n_pes=PES), tmp_path)
    assert sorted(p.name for p in paths) == sorted(
        f"{name}.{ext}" for name in ("speedup_vs_pes", "energy_breakdown", "energy_vs_pes")
        for ext in ("png", "svg"))
    assert all(p.stat().st_size > 0 for p in paths)


def test_plot_all_picks_the_plots_of_each_swept_field(tmp_path, fast_savefig):
    base = pd.DataFrame([dict(layer="Alex-7", baseline="CPU", n_pes=np.nan, energy_j=0.4)])
    for field, values in (("queue_depth", DEPTHS), ("spmat_width_bits", WIDTHS)):
        out = tmp_path / field
        paths = plots.plot_all(sweep(**{field: values}), out, baselines=base)
        expected = {"queue_depth": "utilization_vs_fifo", "spmat_width_bits": "spmat_energy_vs_width"}[field]
        assert sorted({p.stem for p in paths}) == sorted({expected, "energy_breakdown"})


def test_plot_all_skips_a_2d_sweep_with_a_warning(tmp_path, fast_savefig):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        paths = plots.plot_all(sweep(n_pes=[16, 64], queue_depth=[4, 8]), tmp_path)
    assert paths == []
    text = " ".join(str(w.message) for w in caught)
    assert "skipped speedup_vs_pes" in text and "skipped energy_breakdown" in text


def test_plot_all_respects_force(tmp_path, fast_savefig):
    df = sweep()
    plots.plot_all(df, tmp_path)
    with pytest.raises(EieInputError, match="already exists"):
        plots.plot_all(df, tmp_path)
    assert len(plots.plot_all(df, tmp_path, force=True)) == 2
