"""A user's own study from the command line (issue 11): batches with labels, sweeps over real
inputs with dense baselines, ONNX models, per-layer densities and accuracy-aware compression.

Expected values are derived here from the inputs with the independent reference
(tests/reference.py) and plain numpy, not taken from the code under test.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from compressor import eiefile
from eie_sim.study.cli import main
from tests import oracle as ref
from tests.conftest import run

FAST = ("--engine", "fast")


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A 16-30-10 MLP with PyTorch names, a batch of 24 inputs and labels the float model gets right."""
    d = tmp_path_factory.mktemp("study")
    rng = np.random.default_rng(7)
    w0, b0 = rng.normal(0, 0.4, (30, 16)), rng.normal(0, 0.1, 30)
    w1, b1 = rng.normal(0, 0.4, (10, 30)), rng.normal(0, 0.1, 10)
    np.savez(d / "mlp.npz", **{"net.0.weight": w0, "net.0.bias": b0, "net.2.weight": w1, "net.2.bias": b1})
    x = np.maximum(rng.normal(0.2, 1.0, (24, 16)), 0.0)
    y = np.argmax(np.maximum(x @ w0.T + b0, 0) @ w1.T + b1, axis=1)  # the float model is always right
    np.save(d / "x.npy", x)
    np.save(d / "y.npy", y)
    np.savez(d / "xs.npz", test=x, other=x[:3])
    return {"dir": d, "npz": d / "mlp.npz", "x": d / "x.npy", "y": d / "y.npy", "xs": d / "xs.npz"}


@pytest.fixture(scope="module")
def model_file(study: dict[str, Path]) -> Path:
    out = study["dir"] / "mlp.eie"
    assert main(["compress", str(study["npz"]), "--density", "0.6,0.9", "--pes", "8",
                 "--calibration", str(study["x"]), "-o", str(out), "--force"]) == 0
    return out


def reference_accuracy(model_path: Path, x: np.ndarray, y: np.ndarray) -> float:
    """Top-1 of the fixed-point outputs computed by the independent reference, input by input."""
    model = eiefile.load(model_path)
    layers = [ref.RefLayer(layer.decode(), layer.codebook, layer.has_bias) for layer in model.layers]
    hits = [int(np.argmax(ref.functional(layers, row, model.fa)[-1])) == label
            for row, label in zip(x, y, strict=True)]
    return float(np.mean(hits))


# ----------------------------------------------------------------------------- compress


def test_pytorch_names_pair_biases_and_densities_are_per_layer(study, model_file, capsys):
    model = eiefile.load(model_file)
    assert [layer.name for layer in model.layers] == ["net.0", "net.2"]
    assert all(layer.has_bias for layer in model.layers)
    kept = [layer.kept - layer.m for layer in model.layers]  # kept weights, bias entries left out
    assert kept == [round(0.6 * 30 * 16), round(0.9 * 10 * 30)]


def test_a_density_list_of_the_wrong_length_is_refused(study, tmp_path, capsys):
    rc, _, err = run(capsys, "compress", str(study["npz"]), "--density", "0.5,0.5,0.5", "-o",
                     str(tmp_path / "m.eie"))
    assert rc == 2 and "3 values for 2 layer(s)" in err


def test_eval_reports_every_stage_and_warns_on_a_loss(study, tmp_path, capsys):
    rc, out, err = run(capsys, "compress", str(study["npz"]), "--density", "0.05", "--eval", str(study["x"]),
                       "--labels", str(study["y"]), "-o", str(tmp_path / "m.eie"))
    assert rc == 0, err
    table = out.split("evaluation on")[1]
    for stage in ("float", "pruned", "quantized", "fixed-point (EIE)"):
        assert stage in table
    float_row = next(line for line in table.splitlines() if line.strip().startswith("float"))
    assert float_row.split()[1] == "100.00"  # the labels are the float model's own answers
    assert "warning: pruning lost" in err and "without retraining" in err


def test_eval_without_labels_reports_output_error(study, tmp_path, capsys):
    rc, out, err = run(capsys, "compress", str(study["npz"]), "--eval", str(study["x"]), "-o",
                       str(tmp_path / "m.eie"))
    assert rc == 0
    assert "output_rms_error_pct" in out and "top1_accuracy_pct" not in out
    assert "warning" not in err  # nothing pruned, 4-bit codes: each step adds little error
    rc, out, err = run(capsys, "compress", str(study["npz"]), "--density", "0.05", "--eval",
                       str(study["x"]), "-o", str(tmp_path / "p.eie"))
    assert rc == 0
    assert "warning: pruning raised the output error from 0.0 % to" in err and "without retraining" in err


def _table(rows):
    import pandas as pd
    return pd.DataFrame(rows, columns=["stage", "top1_accuracy_pct"][:len(rows[0]) - 1]
                        + ["output_rms_error_pct"])


def test_losses_flag_each_step_against_the_stage_before_it():
    from compressor.evaluate import losses

    labelled = _table([("float", 95.0, 0.0), ("pruned", 94.5, 3.0), ("quantized", 92.0, 9.0),
                       ("fixed-point (EIE)", 90.5, 9.5)])
    found = dict(losses(labelled, max_loss=1.0))
    assert set(found) == {"weight sharing", "16-bit fixed-point arithmetic"}  # 0.5, 2.5, 1.5 points
    assert "94.5 % -> 92.0 %" in found["weight sharing"]
    unlabelled = labelled.drop(columns="top1_accuracy_pct")
    found = dict(losses(unlabelled, max_error=5.0))
    assert set(found) == {"weight sharing"}  # the error rose 3.0, 6.0, 0.5 points
    assert dict(losses(unlabelled, max_error=2.0)).keys() == {"pruning", "weight sharing"}


def test_onnx_chain_compresses(tmp_path, capsys):
    onnx_tests = pytest.importorskip("tests.test_onnx_import")
    model, params = onnx_tests.gemm_mlp((12, 8, 6, 3))
    path = onnx_tests.save(tmp_path, model)
    rc, out, err = run(capsys, "compress", str(path), "--density", "0.5,0.5,1.0", "-o",
                       str(tmp_path / "m.eie"))
    assert rc == 0, err
    got = eiefile.load(tmp_path / "m.eie")
    assert [(layer.m, layer.n, layer.has_bias) for layer in got.layers] == [(8, 12, True), (6, 8, True),
                                                                             (3, 6, True)]
    w, _ = got.layers[2].weights_and_bias()
    assert np.count_nonzero(w) == np.count_nonzero(params[2][0])  # density 1.0 keeps every weight


def test_onnx_convolution_is_refused_naming_the_node(tmp_path, capsys):
    onnx_tests = pytest.importorskip("tests.test_onnx_import")
    from onnx import helper

    conv = helper.make_node("Conv", ["x", "w"], ["y"], name="conv1")
    model = onnx_tests.make([conv], {"w": onnx_tests.f32(4, 1, 3, 3)}, [1, 1, 8, 8], [1, 4, 6, 6])
    rc, _, err = run(capsys, "compress", str(onnx_tests.save(tmp_path, model)), "-o", str(tmp_path / "m.eie"))
    assert rc == 2 and "Conv node 'conv1'" in err


# ----------------------------------------------------------------------------- simulate a batch


def test_batch_with_labels_reports_reference_accuracy(study, model_file, tmp_path, capsys):
    per_input = tmp_path / "per_input.csv"
    rc, out, err = run(capsys, "simulate", str(model_file), "--activations", str(study["x"]), "--labels",
                       str(study["y"]), "--pes", "8", "--per-input", str(per_input), "--json",
                       str(tmp_path / "r.json"), *FAST)
    assert rc == 0, err
    x, y = np.load(study["x"]), np.load(study["y"])
    want = reference_accuracy(model_file, x, y)
    assert f"top-1 accuracy       {100 * want:.2f} % of 24" in out
    for column in ("mean", "min", "max"):
        assert column in out
    rows = pd.read_csv(per_input)
    assert len(rows) == 24 and rows["correct"].mean() == pytest.approx(want)
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["summary"]["batch_size"] == 24 and len(data["results"]) == 24
    assert data["summary"]["cycles_min"] <= data["summary"]["cycles_mean"] <= data["summary"]["cycles_max"]
    assert data["summary"]["input_density"] == pytest.approx(np.count_nonzero(x) / x.size)


def test_npz_activations_by_name(study, model_file, capsys):
    rc, out, err = run(capsys, "simulate", str(model_file), "--activations", f"{study['xs']}:other",
                       "--pes", "8", *FAST)
    assert rc == 0, err
    assert "3 input(s) from" in out and "xs.npz:other" in out
    rc, _, err = run(capsys, "simulate", str(model_file), "--activations", str(study["xs"]), "--pes", "8",
                     *FAST)
    assert rc == 2 and "holds 2 arrays" in err


def test_labels_of_the_wrong_length(study, model_file, tmp_path, capsys):
    np.save(tmp_path / "y.npy", np.zeros(5, np.int64))
    rc, _, err = run(capsys, "simulate", str(model_file), "--activations", str(study["x"]), "--labels",
                     str(tmp_path / "y.npy"), *FAST)
    assert rc == 2 and "5 labels for a batch of 24 inputs" in err


# ----------------------------------------------------------------------------- sweep


def test_sweep_over_a_batch_records_its_inputs_accuracy_and_dense_baseline(study, model_file, tmp_path,
                                                                             capsys):
    out = tmp_path / "s.csv"
    rc, _, err = run(capsys, "sweep", str(model_file), "--activations", str(study["x"]), "--labels",
                     str(study["y"]), "--pes", "2,8", "--fifo", "1,8", "-o", str(out), "--quiet",
                     "--jobs", "1")
    assert rc == 0, err
    df = pd.read_csv(out)
    assert len(df) == 4
    x, y = np.load(study["x"]), np.load(study["y"])
    assert (df["batch_size"] == 24).all() and (df["input_source"] == str(study["x"])).all()
    assert np.allclose(df["input_density"], np.count_nonzero(x) / x.size)
    assert np.allclose(df["top1_accuracy"], reference_accuracy(model_file, x, y))
    assert (df["cycles_min"] <= df["cycles"]).all() and (df["cycles"] <= df["cycles_max"]).all()
    for n_pes, g in df.groupby("n_pes"):
        hw = ref.Hardware(n_pes=int(n_pes))
        want = sum(ref.dense_baseline(m, n, hw)["cycles"] for m, n in ((30, 16), (10, 30)))
        assert (g["dense_cycles"] == want).all()
        assert g["dense_resident"].all()
        assert (g["dense_energy_j"] > 0).all()


def test_sweep_takes_layer_and_bias_names(study, tmp_path, capsys):
    out = tmp_path / "s.csv"
    rc, _, err = run(capsys, "sweep", str(study["npz"]), "--layer", "net.0", "--pes", "4", "-o", str(out),
                     "--quiet", "--jobs", "1", "--cache-dir", str(tmp_path / "cache"))
    assert rc == 0, err
    df = pd.read_csv(out)
    assert df["input_source"].iloc[0].startswith("random (density 1")
    assert len(list((tmp_path / "cache").glob("*.eie"))) == 1  # the compressed layer, kept


def test_sweep_labels_need_a_batch(study, tmp_path, capsys):
    rc, _, err = run(capsys, "sweep", "NT-We", "--labels", str(study["y"]), "-o", str(tmp_path / "s.csv"))
    assert rc == 2 and "--labels needs the batch" in err


def test_eval_warns_when_fixed_point_saturates(study, tmp_path, capsys):
    """An activation format calibrated on tiny inputs saturates on the real ones: the fixed-point
    step, not compression, loses the accuracy, and the advice is about the format."""
    tiny = tmp_path / "tiny.npy"
    np.save(tiny, np.load(study["x"]) * 1e-3)
    rc, out, err = run(capsys, "compress", str(study["npz"]), "--calibration", str(tiny), "--eval",
                       str(study["x"]), "--labels", str(study["y"]), "-o", str(tmp_path / "m.eie"))
    assert rc == 0, err
    assert "warning: 16-bit fixed-point arithmetic lost" in err and "--calibration" in err
