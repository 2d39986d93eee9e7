"""Plots of sweep DataFrames: series counts, units, scales, markers, saving and plot_all's choices
(--where, heat maps of two-field sweeps, notes instead of warnings, stems, checking every path first).

The sweeps are synthetic (closed-form stand-ins for the simulator's figures) so the file runs in
a few seconds; what is tested is the drawing, not the model. One small real sweep checks that a
sweep CSV's own columns (dense baseline, batch min/max, booleans) reach the plots.
"""

from __future__ import annotations

import io
import math
import re
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure

from compressor.errors import EieInputError
from eie_sim.config import SimConfig
from eie_sim.energy import EnergyModel
from eie_sim.study import figures, plots
from eie_sim.study.sweep import load_results, make_points, run_sweep

LAYERS3 = ("Alex-6", "Alex-7", "NT-We")
LAYERS9 = ("Alex-6", "Alex-7", "Alex-8", "VGG-6", "VGG-7", "VGG-8", "NT-We", "NT-Wd", "NT-LSTM")
PAPER = dict(n_pes=64, queue_depth=8, word_bits=64, spmat_bytes=128 * 1024, regs=64, clock_hz=800e6)
# Share of the on-chip energy per unit (sparse-matrix reads and DRAM are modelled apart).
SHARES = dict(act_queue=0.05, ptr_read=0.3, spmat_read=0.0, arith=0.3, act_rw=0.3, ccu=0.05, dram=0.0)


def sweep(layers: tuple[str, ...] = LAYERS3, **swept: list[float]) -> pd.DataFrame:
    """One row per layer x combination of ``swept`` values, other fields at the paper's design."""
    grid = pd.MultiIndex.from_product(list(swept.values()), names=list(swept)) if swept else [()]
    rows = []
    for i, layer in enumerate(layers):
        work = 2e6 * (i + 1)  # MACs
        for combo in grid:
            cfg = {**PAPER, **dict(zip(swept, combo if swept else (), strict=True))}
            n, q, w = cfg["n_pes"], cfg["queue_depth"], cfg["word_bits"]
            # Balance worsens with more PEs and with the layer index (NT-We-like layers last).
            util = (0.5 + 0.45 * (1 - 1 / q)) / (1 + 0.01 * i * math.log2(n)) - 0.03 * i
            cycles = work / n / util + 50 * math.log2(n) + 10
            resident = n >= 8 * (i + 1)
            spmat = 1e-6 * (i + 1) * (32 / w + w / 128)  # dynamic read energy, minimum at 64 bits
            on_chip = 2e-5 * (i + 1) * (1 + 0.002 * n)
            row = dict(layer=layer, **cfg, cycles=cycles, time_s=cycles / cfg["clock_hz"],
                       pe_utilization=util, mac_efficiency=util * 0.9, resident=resident,
                       tiles=1 if resident else 4, dram_bytes=0 if resident else 10**6)
            row.update({f"energy_breakdown_j.{u}": on_chip * s for u, s in SHARES.items()})
            # the reads that cost ``spmat`` at this width's price per read; the unit's total adds a
            # static share that grows with the width (its minimum moves to 32 bits)
            row["access_counts.spmat_read.word_read"] = spmat / (read_pj(w) * 1e-12)
            row["energy_breakdown_j.spmat_read"] = spmat + 1e-6 * w / 32
            row["energy_breakdown_j.dram"] = 0.0 if resident else 1e-4  # weights streamed
            row["energy_j"] = sum(row[f"energy_breakdown_j.{u}"] for u in SHARES)
            row["power_w"] = row["energy_j"] / row["time_s"]
            rows.append(row)
    return pd.DataFrame(rows)


def read_pj(word_bits: int) -> float:
    """The packaged table's price of one sparse-matrix word read at ``word_bits`` (pJ)."""
    return EnergyModel.for_config(SimConfig(word_bits=word_bits)).per_event_pj[("spmat_read", "word_read")]


PES = [1, 4, 16, 64, 256]
DEPTHS = [1, 2, 4, 8, 16, 32, 64, 128, 256]
WIDTHS = [32, 64, 128, 256, 512]


def labelled(fig: Figure, prefix: str = "") -> list:
    """Lines of the first axes whose label starts with ``prefix`` (legend-less ones start '_')."""
    return [ln for ln in fig.axes[0].get_lines() if ln.get_label().startswith(prefix)]


def legend_texts(fig: Figure) -> list[str]:
    return [t.get_text() for leg in fig.legends for t in leg.get_texts()]


def caption(fig: Figure) -> str:
    return plots.caption_text(fig)


# --- speed-up -----------------------------------------------------------------------------------

def test_speedup_vs_pes_series_ideal_and_scales():
    fig = plots.speedup_vs_pes(sweep(n_pes=PES))
    ax = fig.axes[0]
    assert isinstance(fig, Figure)
    layers = [ln for ln in ax.get_lines() if ln.get_label() in LAYERS3]
    assert len(layers) == 3 and len(labelled(fig, "ideal")) == 1
    (ideal,) = labelled(fig, "ideal")
    x, y = ideal.get_data()
    assert (x[0], y[0]) == (1, 1) and np.allclose(y, x / 1) and ideal.get_linestyle() == "--"
    for ln in layers:
        assert ln.get_ydata()[0] == pytest.approx(1.0)  # speed-up at the smallest PE count
        assert np.all(np.diff(ln.get_ydata()) > 0)
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    assert ax.get_xlabel() == "PE count" and "(×)" in ax.get_ylabel()
    assert "ideal (linear)" in legend_texts(fig)
    assert fig.get_suptitle() == "Speed-up vs PE count"
    assert "cycles at the fewest PEs / cycles" in caption(fig)


def test_speedup_and_latency_mark_dram_tiled_points_hollow():
    """A plateau of the speed-up where weights stream from DRAM must be visibly a DRAM effect."""
    df = sweep(n_pes=PES)
    for fig in (plots.speedup_vs_pes(df), plots.latency_vs_pes(df)):
        for layer in LAYERS3:
            rows = df[df.layer == layer].sort_values("n_pes")
            tiled = labelled(fig, f"_tiled:{layer}")
            assert list(tiled[0].get_xdata()) == list(rows.n_pes[~rows.resident])
            assert tiled[0].get_markerfacecolor() == "none"
            (res,) = labelled(fig, f"_resident:{layer}")
            assert list(res.get_xdata()) == list(rows.n_pes[rows.resident])
        assert "DRAM-tiled (weights streamed)" in legend_texts(fig)
        assert "stream from DRAM in tiles" in caption(fig)
    resident = plots.speedup_vs_pes(df.assign(resident=True))
    assert not labelled(resident, "_tiled") and "DRAM-tiled (weights streamed)" not in legend_texts(resident)


def test_spilled_activations_get_half_filled_markers():
    df = sweep(n_pes=PES).assign(resident=True, act_spilled=lambda d: d.n_pes <= 4)
    fig = plots.speedup_vs_pes(df)
    for layer in LAYERS3:
        (spilled,) = labelled(fig, f"_spilled:{layer}")
        assert list(spilled.get_xdata()) == [1, 4] and spilled.get_fillstyle() == "bottom"
        assert list(labelled(fig, f"_resident:{layer}")[0].get_xdata()) == [16, 64, 256]
        assert not labelled(fig, f"_tiled:{layer}")
    assert "activations spill to DRAM" in legend_texts(fig) and "half-filled markers" in caption(fig)
    assert "DRAM-tiled (weights streamed)" not in legend_texts(fig)


def test_latency_vs_pes_in_microseconds():
    df = sweep(n_pes=PES)
    fig = plots.latency_vs_pes(df)
    ax = fig.axes[0]
    alex7 = df[df.layer == "Alex-7"].sort_values("n_pes")
    (line,) = [ln for ln in ax.get_lines() if ln.get_label() == "Alex-7"]
    assert np.allclose(line.get_ydata(), alex7.cycles / 800e6 * 1e6)
    assert ax.get_ylabel() == "latency per inference (us)" and ax.get_xlabel() == "PE count"
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"


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
    assert "(activations)" in ax.get_xlabel() and "%" in ax.get_ylabel()
    assert ax.get_ylim()[1] >= 100


def test_utilization_in_percent_is_refused():
    df = sweep(queue_depth=DEPTHS)
    df["pe_utilization"] *= 100
    with pytest.raises(EieInputError, match="fraction in 0..1"):
        plots.utilization_vs_fifo(df)


# --- energy breakdown ---------------------------------------------------------------------------

def test_energy_breakdown_by_layer_stacks_every_unit():
    df = sweep()  # 64 PEs: every layer resident, so no DRAM energy and no DRAM panel
    fig = plots.energy_breakdown(df)
    (ax,) = fig.axes
    assert len(ax.containers) == len(plots.ON_CHIP_UNITS) == len(plots.ENERGY_UNITS) - 1
    assert all(len(c) == 3 for c in ax.containers)
    assert ax.get_ylabel() == "energy per inference (uJ)"
    tops = [max(r.get_y() + r.get_height() for c in ax.containers for r in [c[i]]) for i in range(3)]
    assert np.allclose(tops, df.energy_j * 1e6)
    assert ax.get_ylim()[1] > max(tops) * 1.05  # the tallest bar does not touch the frame
    assert [t.get_text() for t in ax.get_xticklabels()] == list(LAYERS3)
    assert "DRAM" not in legend_texts(fig) and "DRAM: none" in caption(fig)


def test_energy_breakdown_by_config_column_draws_a_panel_per_layer_and_dram_apart():
    df = sweep(n_pes=PES)  # the tiled points stream 100 uJ from DRAM, about 50x the on-chip energy
    fig = plots.energy_breakdown(df, by="n_pes")
    assert len(fig.axes) == 6  # per layer: the on-chip stack and, under it, DRAM on its own scale
    on_chip, dram = fig.axes[0::2], fig.axes[1::2]
    for ax, low, layer in zip(on_chip, dram, LAYERS3, strict=True):
        rows = df[df.layer == layer].sort_values("n_pes")
        assert len(ax.containers) == 6 and all(len(c) == len(PES) for c in ax.containers)
        tops = [max(r.get_y() + r.get_height() for c in ax.containers for r in [c[i]])
                for i in range(len(PES))]
        assert np.allclose(tops, (rows.energy_j - rows["energy_breakdown_j.dram"]) * 1e6)
        assert ax.get_ylim()[1] < 2 * max(tops)  # the on-chip split fills its panel
        (bars,) = low.containers
        assert np.allclose([b.get_height() for b in bars], rows["energy_breakdown_j.dram"] * 1e6)
    assert {ax.get_xlabel() for ax in on_chip} == {""} and {ax.get_xlabel() for ax in dram} == {"PE count"}
    assert fig.axes[0].get_ylabel() == "on-chip energy per inference (uJ)"
    assert fig.axes[1].get_ylabel() == "DRAM (uJ)" and "DRAM" in legend_texts(fig)


def test_energy_breakdown_by_layer_needs_one_row_per_layer():
    with pytest.raises(EieInputError, match="one row per layer.*by='n_pes'"):
        plots.energy_breakdown(sweep(n_pes=PES))


# --- sparse-matrix width ------------------------------------------------------------------------

def test_spmat_energy_minimum_marked_at_64_bits():
    """The plot's read energy is the dynamic part, word reads x price per read: eie plot and eie
    reproduce draw this one quantity under this one label."""
    fig = plots.spmat_energy_vs_width(sweep(word_bits=WIDTHS))
    ax = fig.axes[0]
    series = [ln for ln in ax.get_lines() if ln.get_label() in LAYERS3]
    minima = labelled(fig, "_min:")
    assert len(series) == 3 and len(minima) == 3
    for ln, mark in zip(series, minima, strict=True):
        assert mark.get_xdata()[0] == 64 and mark.get_ydata()[0] == min(ln.get_ydata())
        assert mark.get_marker() == "*" and mark.get_color() == ln.get_color()
    assert ax.get_xscale() == "log" and ax.get_xlabel() == "sparse-matrix SRAM word width (bits)"
    assert [t.get_text() for t in ax.get_xticklabels()] == [str(w) for w in WIDTHS]
    assert ax.get_ylabel() == "sparse-matrix SRAM read energy per inference, dynamic (uJ)"
    assert "read energy per inference, dynamic: word reads × energy per read" in caption(fig)
    expected = [1e6 * 1e-6 * (32 / w + w / 128) for w in WIDTHS]  # sweep()'s Alex-6 read energy
    assert np.allclose(series[0].get_ydata(), expected)


def test_spmat_energy_total_includes_the_static_share_and_says_so():
    df = sweep(word_bits=WIDTHS)
    fig = plots.spmat_energy_vs_width(df, part="total")
    series = [ln for ln in fig.axes[0].get_lines() if ln.get_label() in LAYERS3]
    alex6 = df[df.layer == "Alex-6"].sort_values("word_bits")
    assert np.allclose(series[0].get_ydata(), alex6["energy_breakdown_j.spmat_read"] * 1e6)
    assert "dynamic + static share" in caption(fig) and "dynamic + static (uJ)" in fig.axes[0].get_ylabel()
    assert labelled(fig, "_min:")[0].get_xdata()[0] == 32  # the static share moves the minimum
    with pytest.raises(EieInputError, match="part must be one of dynamic, total"):
        plots.spmat_energy_vs_width(df, part="static")


# --- energy vs PEs ------------------------------------------------------------------------------

def test_energy_vs_pes_hollow_markers_for_tiled_points():
    df = sweep(n_pes=PES)
    fig = plots.energy_vs_pes(df)
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    assert ax.get_ylabel() == "energy per inference (uJ)" and ax.get_xlabel() == "PE count"
    alex6 = df[df.layer == "Alex-6"].sort_values("n_pes")
    assert np.allclose(next(ln for ln in ax.get_lines() if ln.get_label() == "Alex-6").get_ydata(),
                       alex6.energy_j * 1e6)
    assert not labelled(fig, "_dense") and not labelled(fig, "_band")  # no such columns here
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
    assert list(flat.get_xdata()) == [0, 1] and flat.get_ydata()[0] == pytest.approx(0.452e6)  # uJ
    per_pe = lines["_baseline:Alex-6:dense accelerator"]
    assert list(per_pe.get_xdata()) == [16, 64] and np.allclose(per_pe.get_ydata(), [1e3, 2e3])
    colours = {ln.get_label(): ln.get_color() for ln in fig.axes[0].get_lines()}
    assert to_rgba(flat.get_color()) == to_rgba(colours["Alex-7"])
    assert to_rgba(per_pe.get_color()) == to_rgba(colours["Alex-6"])
    assert flat.get_linestyle() != "-" and per_pe.get_linestyle() != "-"
    assert flat.get_linestyle() != per_pe.get_linestyle()  # one dash pattern per baseline name
    assert fig.axes[0].get_ylim()[1] > 0.452e6  # the baseline is inside the view
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
    (plots.energy_breakdown, sweep(), "energy_breakdown_j.ccu"),
    (plots.spmat_energy_vs_width, sweep(word_bits=WIDTHS), "access_counts.spmat_read.word_read"),
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
    with pytest.raises(EieInputError, match="already exist in .*: a.png, a.svg; use --force to overwrite$"):
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


def with_dense(df: pd.DataFrame, fits_from: dict[str, int]) -> pd.DataFrame:
    """A sweep CSV's dense columns: 16-bit weights resident from ``fits_from[layer]`` PEs on."""
    out = df.copy()
    out["dense_resident"] = out.n_pes >= out.layer.map(fits_from)
    out["dense_energy_j"] = np.where(out.dense_resident, 4e-4, 4e-3) * (1 + out.n_pes / 1000)
    return out


def with_batch(df: pd.DataFrame, n: int = 8) -> pd.DataFrame:
    """Rows summarising a batch of ``n`` inputs: means with min and max."""
    return df.assign(batch_size=n, energy_j_min=df.energy_j * 0.8, energy_j_max=df.energy_j * 1.3)


# --- energy in uJ, dense baseline, batches, titles ----------------------------------------------

def test_energy_is_in_uj():
    assert plots.ENERGY_UNIT == "uJ" and plots.to_uj(2.5e-6) == pytest.approx(2.5)
    assert np.allclose(plots.to_uj(np.array([1e-6, 1e-3])), [1, 1000])
    assert [plots.num3(v) for v in (0.012345, 1.2345, 123.45, 12345.6)] == [
        "0.0123", "1.23", "123", "12,346"]


def test_energy_vs_pes_draws_the_sweeps_dense_baseline_with_residency_markers():
    df = with_dense(sweep(n_pes=PES), {"Alex-6": 64, "Alex-7": 64, "NT-We": 1})
    fig = plots.energy_vs_pes(df)
    ax = fig.axes[0]
    colours = {ln.get_label(): to_rgba(ln.get_color()) for ln in ax.get_lines()}
    for layer in LAYERS3:
        rows = df[df.layer == layer].sort_values("n_pes")
        (line,) = labelled(fig, f"_dense:{layer}")
        assert line.get_linestyle() == "--" and to_rgba(line.get_color()) == colours[layer]
        assert np.allclose(line.get_ydata(), rows.dense_energy_j * 1e6)
        (res,) = labelled(fig, f"_dense_resident:{layer}")
        assert list(res.get_xdata()) == list(rows.n_pes[rows.dense_resident])
        assert res.get_markerfacecolor() != "none" and to_rgba(res.get_color()) == colours[layer]
        # the layer's own marker shape, as on its EIE line
        assert res.get_marker() == labelled(fig, f"_resident:{layer}")[0].get_marker()
        streamed = labelled(fig, f"_dense_streamed:{layer}")
        if layer == "NT-We":
            assert not streamed
        else:
            assert list(streamed[0].get_xdata()) == [1, 4, 16]
            assert streamed[0].get_markerfacecolor() == "none"
    assert "dense accelerator (16-bit weights)" in legend_texts(fig)
    assert ("dense: 16-bit weights stream from DRAM (hollow) until they fit the SRAMs of 64 PEs, hence "
            "its drop") in caption(fig)


def test_dense_note_names_each_layers_pe_count_and_only_a_real_change():
    fig = plots.energy_vs_pes(with_dense(sweep(n_pes=PES), {"Alex-6": 64, "Alex-7": 16, "NT-We": 1}))
    text = caption(fig)
    assert "until they fit the SRAMs: Alex-6 from 64 PEs, Alex-7 from 16 PEs" in text
    assert "NT-We from" not in text
    steady = plots.energy_vs_pes(with_dense(sweep(n_pes=PES), dict.fromkeys(LAYERS3, 1)))
    assert "dense:" not in caption(steady) and len(labelled(steady, "_dense:")) == 3
    off = plots.energy_vs_pes(with_dense(sweep(n_pes=PES), dict.fromkeys(LAYERS3, 64)), dense=False)
    assert not labelled(off, "_dense") and "dense:" not in caption(off)


def test_dense_line_and_paper_baselines_have_their_own_dash_patterns():
    base = pd.DataFrame([dict(layer="Alex-7", baseline="CPU dense (paper)", n_pes=np.nan, energy_j=0.452)])
    fig = plots.energy_vs_pes(with_dense(sweep(n_pes=PES), dict.fromkeys(LAYERS3, 64)), baselines=base)
    (cpu,) = labelled(fig, "_baseline:")
    assert cpu.get_linestyle() not in ("-", "--")  # "--" is the sweep's dense line
    assert {"dense accelerator (16-bit weights)", "CPU dense (paper)"} <= set(legend_texts(fig))


def test_a_batch_gets_a_min_max_band_and_mean_labels():
    df = with_batch(sweep(n_pes=PES))
    fig = plots.energy_vs_pes(df)
    ax = fig.axes[0]
    assert ax.get_ylabel() == "energy per inference (uJ, mean over 8 inputs)"
    bands = {c.get_label(): c for c in ax.collections if c.get_label().startswith("_band:")}
    assert set(bands) == {f"_band:{layer}" for layer in LAYERS3}
    rows = df[df.layer == "Alex-6"]
    y = bands["_band:Alex-6"].get_paths()[0].vertices[:, 1]
    assert y.min() == pytest.approx(rows.energy_j_min.min() * 1e6)
    assert y.max() == pytest.approx(rows.energy_j_max.max() * 1e6)
    colour = next(ln.get_color() for ln in ax.get_lines() if ln.get_label() == "Alex-6")
    assert to_rgba(bands["_band:Alex-6"].get_facecolor()[0])[:3] == to_rgba(colour)[:3]
    assert "EIE min..max over 8 inputs" in legend_texts(fig)
    assert "mean over 8 inputs" in plots.speedup_vs_pes(df).axes[0].get_ylabel()
    assert plots.energy_breakdown(df, by="n_pes").axes[0].get_ylabel() == (
        "on-chip energy per inference (uJ, mean over 8 inputs)")
    hm = plots.heatmap(with_batch(sweep(n_pes=PES, queue_depth=[2, 8])), "cycles", "n_pes", "queue_depth")
    assert hm.get_suptitle().startswith("Cycles per inference (mean over 8 inputs) over PE count")
    # one input per point: no band, no "mean"
    single = plots.energy_vs_pes(with_batch(sweep(n_pes=PES), 1).assign(energy_j_min=lambda d: d.energy_j,
                                                                        energy_j_max=lambda d: d.energy_j))
    assert not single.axes[0].collections and single.axes[0].get_ylabel() == "energy per inference (uJ)"


def test_titles_name_the_layer_shape_and_input_density():
    fig = plots.energy_vs_pes(sweep(("Alex-7",), n_pes=PES).assign(input_density=0.353))
    assert fig.axes[0].get_title() == "Alex-7 (4096→4096, act. density 35.3 %)"
    assert fig.get_suptitle() == "Energy per inference vs PE count"  # one short line
    assert caption(fig) == ("fixed: activation queue depth 8 activations, sparse-matrix SRAM per PE 128 KB, "
                            "sparse-matrix SRAM word width 64 bits")  # from the fields' own labels and units
    assert "Alex-6 (9216→4096, act. density 50.0 %)" in legend_texts(
        plots.speedup_vs_pes(sweep(n_pes=PES).assign(input_density=0.5)))
    assert "my.eie" in legend_texts(plots.utilization_vs_fifo(sweep(("my.eie",), queue_depth=DEPTHS)))


# --- heat maps ----------------------------------------------------------------------------------

def test_heatmap_has_a_panel_per_layer_with_annotated_cells_in_uj():
    df = sweep(n_pes=PES, queue_depth=[2, 8])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fig = plots.heatmap(df, "energy", "n_pes", "queue_depth")
        fig.savefig(io.BytesIO(), format="png", dpi=30)  # layout warnings would come from drawing
    panels = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
    bars = [ax for ax in fig.axes if ax.get_label() == "<colorbar>"]
    assert len(panels) == 3 and len(bars) == 3 and all(cb.get_ylabel() == "uJ" for cb in bars)
    ax = panels[0]
    alex6 = df[df.layer == "Alex-6"]
    uj = alex6.pivot(index="queue_depth", columns="n_pes", values="energy_j").to_numpy() * 1e6
    assert np.allclose(np.asarray(ax.collections[0].get_array()), uj)
    assert sorted(t.get_text() for t in ax.texts) == sorted(plots.num3(v) for v in uj.ravel())
    assert [t.get_text() for t in ax.get_xticklabels()] == ["1", "4", "16", "64", "256"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["2", "8"]
    assert ax.get_xlabel() == "PE count" and ax.get_ylabel() == "activation queue depth (activations)"
    assert ax.get_title() == "Alex-6 (9216→4096)"
    (best,) = [p for p in ax.patches if p.get_label() == "_best:Alex-6"]
    j, k = np.unravel_index(np.argmin(uj), uj.shape)
    assert best.get_xy() == (k - 0.5, j - 0.5)
    assert fig.get_suptitle().startswith("Energy per inference (uJ) over PE count × activation queue depth")


@pytest.mark.parametrize("metric, unit, cell", [
    ("cycles", "cycles", lambda r: plots.count(r.cycles)),
    ("utilization", "%", lambda r: f"{100 * r.pe_utilization:.0f}"),
    ("spmat_energy", "uJ", lambda r: plots.num3(1e-6 * (32 / 32 + 32 / 128) * 1e6)),  # Alex-6 at 32 bits
])
def test_heatmap_metrics(metric, unit, cell):
    df = sweep(n_pes=[16, 64], word_bits=[32, 64, 128])
    fig = plots.heatmap(df, metric, "n_pes", "word_bits")
    assert fig.axes[-1].get_ylabel() == unit
    row = df[(df.layer == "Alex-6") & (df.n_pes == 16) & (df.word_bits == 32)].iloc[0]
    assert fig.axes[0].texts[0].get_text() == cell(row)  # the bottom-left cell
    best = [p for p in fig.axes[0].patches if p.get_label().startswith("_best:")]
    if metric == "utilization":  # not a goal: fewer PEs are busier but slower, so nothing is "best"
        assert not best and "outlined:" not in caption(fig)
        assert "a busier design point can be slower" in caption(fig)
    else:
        assert len(best) == 1 and "outlined: each layer's lowest" in caption(fig)


def test_heatmap_refuses_a_third_varying_field_and_duplicates():
    with pytest.raises(EieInputError, match="word_bits also varies"):
        plots.heatmap(sweep(n_pes=[16, 64], queue_depth=[4, 8], word_bits=[32, 64]), "energy",
                      "n_pes", "queue_depth")
    twice = pd.concat([sweep(n_pes=[16, 64], queue_depth=[4, 8]).assign(seed=s) for s in (0, 1)])
    with pytest.raises(EieInputError, match=r"rows at n_pes = 16, queue_depth = 4.*differ: seed"):
        plots.heatmap(twice, "energy", "n_pes", "queue_depth")
    with pytest.raises(EieInputError, match="unknown metric 'power'"):
        plots.heatmap(sweep(n_pes=[16, 64], queue_depth=[4, 8]), "power", "n_pes", "queue_depth")


# --- --where ------------------------------------------------------------------------------------

def test_parse_where_keeps_text_and_names_bad_items():
    assert plots.parse_where(["queue_depth=8", " layer = Alex-7 "]) == {"queue_depth": "8", "layer": "Alex-7"}
    assert plots.parse_where([]) == {} and plots.parse_where(None) == {}
    for bad in ("queue_depth", "=8", "queue_depth="):
        with pytest.raises(EieInputError, match=re.escape(f"--where '{bad}': expected FIELD=VALUE")):
            plots.parse_where([bad])
    with pytest.raises(EieInputError, match="'n_pes=4': n_pes is already fixed to 16"):
        plots.parse_where(["n_pes=16", "n_pes=4"])


def test_where_takes_flag_names_in_the_flags_units():
    df = sweep(n_pes=PES, queue_depth=[2, 8])
    df = df.assign(spmat_bytes=np.where(df.n_pes > 4, 1 << 17, 1 << 16))
    assert set(plots.select_where(df, {"fifo": "8"}).queue_depth) == {8}  # --fifo is queue_depth
    assert set(plots.select_where(df, {"spmat_kb": "64"}).spmat_bytes) == {65536}  # KB -> bytes
    assert set(plots.select_where(df, {"spmat-kb": "128"}).n_pes) == {16, 64, 256}
    assert len(plots.select_where(df, {"clock_mhz": "800"})) == len(df)
    assert len(plots.select_where(df, {"pes": "16"})) == 6
    with pytest.raises(EieInputError, match=r"--where pes=2\.5: must be a whole number"):
        plots.select_where(df, {"pes": "2.5"})


def test_where_compares_numbers_numerically_booleans_and_text():
    df = sweep(n_pes=PES, queue_depth=[2, 8]).assign(bypass=lambda d: d.queue_depth == 8)
    assert set(plots.select_where(df, {"queue_depth": "8"}).queue_depth) == {8}
    assert set(plots.select_where(df, {"queue_depth": 8.0}).queue_depth) == {8}
    assert len(plots.select_where(df, {"clock_hz": "8e8"})) == len(df)  # 800000000.0 in the data
    assert set(plots.select_where(df, {"bypass": "off"}).queue_depth) == {2}
    assert set(plots.select_where(df, {"bypass": "TRUE"}).queue_depth) == {8}
    one = plots.select_where(df, plots.parse_where(["layer=NT-We", "n_pes=64"]))
    assert list(one.layer.unique()) == ["NT-We"] and set(one.n_pes) == {64} and len(one) == 2
    assert plots.select_where(df, None) is df


@pytest.mark.parametrize("where, message", [
    ({"colour": "red"}, "--where colour=red: the results have no field 'colour'; fields you can fix: layer, "
                        "n_pes, clock_hz, queue_depth"),
    ({"fifo": "deep"}, "--where fifo=deep: not a valid (finite) number; values present: 2, 8 (activations)"),
    ({"spmat_kb": "64"}, "--where spmat_kb=64: no row has spmat_kb = 64; values present: 128 (KB)"),
    ({"queue_depth": "4"}, "--where queue_depth=4: no row has queue_depth = 4; values present: 2, 8"),
    ({"queue_depth": "deep"}, "--where queue_depth=deep: queue_depth is a number; values present: 2, 8"),
    ({"bypass": "maybe"}, "--where bypass=maybe: must be on or off (also true/yes/1 or false/no/0); values "
                          "present: off, on"),
    ({"layer": "alex6"}, "no row has layer = alex6; values present: Alex-6, Alex-7, NT-We"),
    ({"layer": "NT-We", "n_pes": "3"}, "no row has n_pes = 3; values present (in the rows the other --where "
                                       "fields keep): 1, 4, 16, 64, 256"),
])
def test_where_errors_name_the_field_and_the_values_present(where, message, tmp_path):
    df = sweep(n_pes=PES, queue_depth=[2, 8]).assign(bypass=lambda d: d.queue_depth == 8)
    with pytest.raises(EieInputError, match=re.escape(message)):
        plots.plot_all(df, tmp_path / "out", where=where)
    assert not (tmp_path / "out").exists()


# --- plot_all -----------------------------------------------------------------------------------

def test_plot_all_makes_only_the_supported_plots(tmp_path):
    paths, notes = plots.plot_all(sweep(n_pes=PES), tmp_path)
    assert sorted(p.name for p in paths) == sorted(
        f"{name}.{ext}" for name in ("speedup_vs_pes", "latency_vs_pes", "energy_breakdown", "energy_vs_pes")
        for ext in ("png", "svg"))
    assert all(p.stat().st_size > 0 for p in paths) and notes == []


def test_plot_all_picks_the_plots_of_each_swept_field(tmp_path, fast_savefig):
    base = pd.DataFrame([dict(layer="Alex-7", baseline="CPU", n_pes=np.nan, energy_j=0.4)])
    for field, values in (("queue_depth", DEPTHS), ("word_bits", WIDTHS)):
        out = tmp_path / field
        paths, notes = plots.plot_all(sweep(**{field: values}), out, baselines=base)
        expected = {"queue_depth": "utilization_vs_fifo", "word_bits": "spmat_energy_vs_width"}[field]
        assert sorted({p.stem for p in paths}) == sorted({expected, "energy_breakdown"}) and notes == []


PE_FIFO_NOTES = [
    "n_pes and queue_depth both vary, so cycles per inference and energy per inference are heat maps over "
    "the two; for line plots fix one with --where queue_depth=8 (values: 2, 8) or "
    "--where n_pes=64 (values: 1, 4, 16, 64, 256)",
    "energy_breakdown: bars by n_pes at queue_depth=8 (its default; values: 2, 8); choose with "
    "--where queue_depth=VALUE",
]


def test_plot_all_draws_a_pe_by_fifo_sweep_as_heat_maps_without_warnings(tmp_path):
    df = sweep(n_pes=PES, queue_depth=[2, 8])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        paths, notes = plots.plot_all(df, tmp_path)  # rendered for real: no layout warnings either
    # goals only: no utilisation map, whose "best" cell would be a slower design point
    assert sorted(p.name for p in paths) == sorted(
        f"{m}.{ext}" for m in ("cycles_heatmap", "energy_heatmap", "energy_breakdown")
        for ext in ("png", "svg"))
    assert notes == PE_FIFO_NOTES  # plain one-line strings, no "plotting warned" among them


def test_plot_all_where_turns_heat_maps_back_into_lines(tmp_path, fast_savefig, monkeypatch):
    seen = []
    real = figures.speedup_vs_pes
    monkeypatch.setattr(figures, "speedup_vs_pes", lambda d: seen.append(d) or real(d))
    paths, notes = plots.plot_all(sweep(n_pes=PES, queue_depth=[2, 8]), tmp_path, where={"queue_depth": "8"})
    assert sorted({p.stem for p in paths}) == ["energy_breakdown", "energy_vs_pes", "latency_vs_pes",
                                               "speedup_vs_pes"]
    assert notes == [] and set(seen[0].queue_depth) == {8}


def test_plot_all_fixes_a_third_field_at_its_default_and_says_so(tmp_path, fast_savefig, monkeypatch):
    seen = []
    real = figures.heatmap
    monkeypatch.setattr(figures, "heatmap", lambda d, *a: seen.append(d) or real(d, *a))
    df = sweep(n_pes=[16, 64], queue_depth=[4, 8], word_bits=[32, 64])
    paths, notes = plots.plot_all(df, tmp_path / "out")
    assert sorted({p.stem for p in paths}) == ["cycles_heatmap", "energy_breakdown", "energy_heatmap"]
    assert set(seen[0].word_bits) == {64} and len(seen[0]) == len(df) / 2
    assert notes[0] == ("n_pes, queue_depth and word_bits vary and a plot shows at most two; drew n_pes and "
                        "queue_depth with word_bits=64 (its default; values: 32, 64); choose with "
                        "--where FIELD=VALUE")
    # without the default in the sweep: the first value
    paths, notes = plots.plot_all(df[df.word_bits == 32].assign(spmat_bytes=1 << 16).pipe(
        lambda d: pd.concat([d, d.assign(spmat_bytes=1 << 18)])), tmp_path / "two", where={"word_bits": "32"})
    assert "spmat_bytes=65536 (its first value; values: 65536, 262144)" in notes[0]
    paths, notes = plots.plot_all(df, tmp_path / "where", where={"word_bits": 32})
    assert sorted({p.stem for p in paths}) == ["cycles_heatmap", "energy_breakdown", "energy_heatmap"]
    assert not any("at most two" in n for n in notes)


def test_plot_all_draws_the_first_seed_and_says_so(tmp_path, fast_savefig, monkeypatch):
    seen = []
    real = figures.energy_vs_pes
    monkeypatch.setattr(figures, "energy_vs_pes", lambda d, b=None: seen.append(d) or real(d, b))
    df = pd.concat([sweep(n_pes=PES).assign(seed=s) for s in (0, 1)])
    paths, notes = plots.plot_all(df, tmp_path)
    assert len(paths) == 8 and set(seen[-1].seed) == {0}
    assert notes == ["seed varies within a layer; drew seed=0 (values: 0, 1); choose with --where seed=VALUE"]
    # the input source follows the seed: fixing one fixes the other, with one note
    paired = pd.concat([sweep(n_pes=PES).assign(seed=s, input_source=f"benchmark (seed {s})")
                        for s in (0, 1)])
    assert plots.plot_all(paired, tmp_path / "paired")[1] == notes
    paths, notes = plots.plot_all(df, tmp_path, where={"seed": "1"}, force=True)
    assert len(paths) == 8 and notes == [] and set(seen[-1].seed) == {1}


def test_warnings_while_plotting_become_notes(tmp_path, fast_savefig, monkeypatch):
    real = figures.energy_vs_pes

    def noisy(df, baselines=None):
        warnings.warn("something odd\nsecond line", UserWarning, stacklevel=1)
        return real(df, baselines)

    monkeypatch.setattr(figures, "energy_vs_pes", noisy)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        paths, notes = plots.plot_all(sweep(n_pes=PES), tmp_path)
    assert len(paths) == 8 and notes == ["plotting warned (UserWarning): something odd"]


def test_two_sweeps_plot_into_one_folder_by_stem(tmp_path, fast_savefig):
    one, _ = plots.plot_all(sweep(n_pes=PES), tmp_path, stem="sweep1")
    two, _ = plots.plot_all(sweep(queue_depth=DEPTHS), tmp_path, stem="sweep2")
    assert {p.name for p in one} >= {"sweep1_energy_vs_pes.png", "sweep1_energy_breakdown.svg"}
    assert {p.name for p in two} >= {"sweep2_utilization_vs_fifo.png", "sweep2_energy_breakdown.svg"}
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in one + two)


def test_every_path_is_checked_before_anything_is_written(tmp_path, fast_savefig):
    df = sweep(n_pes=PES)
    (tmp_path / "s_energy_vs_pes.svg").write_text("keep")  # the last file plot_all would write
    with pytest.raises(EieInputError) as err:
        plots.plot_all(df, tmp_path, stem="s")
    assert str(err.value) == f"{tmp_path / 's_energy_vs_pes.svg'}: already exists; use --force to overwrite"
    assert [p.name for p in tmp_path.iterdir()] == ["s_energy_vs_pes.svg"]
    (tmp_path / "s_speedup_vs_pes.png").write_text("keep")
    with pytest.raises(EieInputError) as err:
        plots.plot_all(df, tmp_path, stem="s")
    assert str(err.value) == (f"2 plot files already exist in {tmp_path}: s_speedup_vs_pes.png, "
                              "s_energy_vs_pes.svg; use --force to overwrite")
    assert "force=True" not in str(err.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s_energy_vs_pes.svg", "s_speedup_vs_pes.png"]
    paths, _ = plots.plot_all(df, tmp_path, stem="s", force=True)
    assert len(paths) == 8 and (tmp_path / "s_energy_vs_pes.svg").read_text() == "svg"


def test_bad_data_in_a_later_plot_writes_nothing(tmp_path, fast_savefig):
    with pytest.raises(EieInputError, match="resident must be boolean"):
        plots.plot_all(sweep(n_pes=PES).assign(resident="yes"), tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_out_dir_must_be_a_directory_and_is_created(tmp_path, fast_savefig):
    (tmp_path / "plots").write_text("")
    with pytest.raises(EieInputError, match="plots: is a file; give a directory for the plots"):
        plots.plot_all(sweep(n_pes=PES), tmp_path / "plots")
    with pytest.raises(EieInputError, match="plots is a file; give a directory"):
        plots.plot_all(sweep(n_pes=PES), tmp_path / "plots" / "sub")
    paths, _ = plots.plot_all(sweep(n_pes=PES), tmp_path / "new" / "dir")
    assert paths and all(p.parent == tmp_path / "new" / "dir" for p in paths)


def test_a_real_sweep_csv_plots_with_where_dense_and_batch(tmp_path, fast_savefig):
    rng = np.random.default_rng(7)
    np.save(tmp_path / "fc.npy", rng.normal(0, 0.05, (96, 160)) * (rng.random((96, 160)) < 0.15))
    np.save(tmp_path / "x.npy", np.maximum(rng.normal(size=(3, 160)), 0))
    pts = make_points([str(tmp_path / "fc.npy")], {"n_pes": [1, 4, 16], "queue_depth": [2, 8]},
                      inputs=str(tmp_path / "x.npy"))
    with ThreadPoolExecutor(1) as ex:  # 16-bit weights (30 KB) fit sixteen 4 KB SRAMs, not four
        run_sweep(pts, tmp_path / "pexfifo.csv", base=SimConfig(spmat_bytes=4096), engine="simpy",
                  executor=ex, progress=False, cache_dir=None)
    df = load_results(tmp_path / "pexfifo.csv")
    assert df.dense_resident.tolist() == [False] * 4 + [True] * 2 and (df.batch_size == 3).all()
    paths, notes = plots.plot_all(df, tmp_path / "plots", stem="pexfifo")
    assert {p.name for p in paths} >= {"pexfifo_energy_heatmap.png", "pexfifo_cycles_heatmap.svg"}
    assert notes[0].startswith("n_pes and queue_depth both vary")
    fig = plots.energy_vs_pes(plots.select_where(df, plots.parse_where(["queue_depth=8"])))
    ax = fig.axes[0]
    assert len(labelled(fig, "_dense:")) == 1 and len(labelled(fig, "_dense_streamed:")) == 1
    assert "until they fit the SRAMs of 16 PEs" in caption(fig)
    assert ax.get_ylabel() == "energy per inference (uJ, mean over 3 inputs)"
    assert [c.get_label() for c in ax.collections][0].startswith("_band:")


def test_energy_plot_states_the_batch_accuracy():
    df = pd.DataFrame({"layer": "m.eie", "n_pes": [1, 2, 4], "energy_j": [3e-6, 2e-6, 1e-6],
                       "resident": True, "top1_accuracy": [0.946, 0.946, 0.946]})
    fig = plots.energy_vs_pes(df)
    assert "top-1 accuracy of the fixed-point outputs: 94.6 % at every point" in caption(fig)
