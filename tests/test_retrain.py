"""Deep Compression with retraining for a user's MLP (compressor.retrain, `eie compress --retrain`) and
the study's trained MLP (`eie example mlp`).

Accuracies are computed here with plain numpy forward passes on the models' decoded weights
(``weights_and_bias()``), not taken from the code under test.
"""

from __future__ import annotations

import shlex
import time
from pathlib import Path

import numpy as np
import pytest

from compressor import eiefile
from compressor.errors import EieInputError
from compressor.pipeline import CompressOptions, compress_model
from compressor.prune import prune_by_threshold
from compressor.retrain import RetrainOptions, retrain_compress
from compressor.train import (
    TrainConfig,
    finetune_shared,
    init_mlp,
    share_layer,
    shared_layers,
    train,
)
from eie_sim.study.cli import main

DENSITIES = (0.08, 0.25)
FAST = RetrainOptions(epochs=6, batch_size=32)


def blobs(seed: int = 0, n: int = 600, d: int = 16, h: int = 64, c: int = 4):
    """Four classes of three Gaussian blobs each in 16-D; a 16-64-4 ReLU MLP trained without weight
    decay (as a user would), ~100 % accurate. Returns the layers and a train / held-out split."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(0, 1, (3 * c, d))
    k = rng.integers(0, 3 * c, 2 * n)
    x = centers[k] + rng.normal(0, 0.45, (2 * n, d))
    y = k % c
    net = train(init_mlp(rng, (d, h, c)), x[:n], y[:n], epochs=30, lr=0.05,
                config=TrainConfig(weight_decay=0.0), rng=rng)
    layers = [(f"fc{i}", w, b) for i, (w, b) in enumerate(zip(net.weights, net.biases, strict=True))]
    return layers, x[:n], y[:n], x[n:], y[n:]


def top1(layers, x: np.ndarray, y: np.ndarray) -> float:
    """Top-1 accuracy of (W, b) layers, ReLU after every layer but the last."""
    a = x
    for i, (w, b) in enumerate(layers):
        a = a @ w.T + (0.0 if b is None else b)
        if i < len(layers) - 1:
            a = np.maximum(a, 0.0)
    return float(np.mean(np.argmax(a, axis=1) == y))


def model_top1(model, x, y) -> float:
    return top1([layer.weights_and_bias() for layer in model.layers], x, y)


def options(densities=DENSITIES, **kw) -> list[CompressOptions]:
    return [CompressOptions(density=d, n_pes=4, regs=16, **kw) for d in densities]


@pytest.fixture(scope="module")
def task():
    return blobs()


@pytest.fixture(scope="module")
def retrained(task):
    layers, xtr, ytr, _, _ = task
    return retrain_compress(layers, options(), xtr, ytr, FAST)


# --------------------------------------------------------------------------- RetrainOptions


def test_defaults_and_a_deterministic_train_config():
    r = RetrainOptions()
    assert (r.epochs, r.dense_epochs, r.steps) == (4, 0, (0.5, 0.25, 0.125))
    cfg = r.train_config()
    assert (cfg.retrain_lr, cfg.finetune_lr, cfg.weight_decay, cfg.dropout) == (r.retrain_lr, r.finetune_lr,
                                                                                 r.weight_decay, 0.0)


@pytest.mark.parametrize("kw, field", [
    ({"epochs": 0}, "epochs"), ({"epochs": 2.5}, "epochs"), ({"dense_epochs": -1}, "dense_epochs"),
    ({"finetune_epochs": True}, "finetune_epochs"), ({"batch_size": 0}, "batch_size"),
    ({"seed": -1}, "seed"), ({"lr": 0.0}, "lr"), ({"retrain_lr": float("nan")}, "retrain_lr"),
    ({"finetune_lr": float("inf")}, "finetune_lr"), ({"momentum": 1.0}, "momentum"),
    ({"weight_decay": -1e-4}, "weight_decay"), ({"steps": (0.5, 0.5)}, "steps"),
    ({"steps": (0.25, 0.5)}, "steps"), ({"steps": (1.5,)}, "steps"), ({"steps": "0.5"}, "steps"),
])
def test_bad_options_are_refused_naming_the_field(kw, field):
    with pytest.raises(EieInputError, match=f"retrain option {field}"):
        RetrainOptions(**kw)


def test_options_are_plain_numbers_for_the_provenance():
    r = RetrainOptions(epochs=np.int64(3), steps=[0.5, np.float64(0.2)], lr=np.float32(0.5))
    assert type(r.epochs) is int and r.steps == (0.5, 0.2) and type(r.lr) is float


# --------------------------------------------------------------------------- retrain_compress


def test_retraining_recovers_what_pruning_at_once_loses(task, retrained):
    """Measured on the held-out half: float 99.8 %; pruned to 8 / 25 % and quantized without
    retraining 86.2 %; with retraining 98.8 % (other seeds of this task: margins 13 to 37 points)."""
    layers, _, _, xte, yte = task
    model, _ = retrained
    plain = compress_model(layers, options())
    dense = top1([(w, b) for _, w, b in layers], xte, yte)
    without, with_retraining = model_top1(plain, xte, yte), model_top1(model, xte, yte)
    assert dense > 0.99
    assert without < dense - 0.08
    assert with_retraining > 0.97 and with_retraining > without + 0.08


def test_every_layer_reaches_its_density_exactly(task, retrained):
    layers, *_ = task
    model, _ = retrained
    for layer, (_, w, _), d in zip(model.layers, layers, DENSITIES, strict=True):
        codes = layer.decode()
        assert np.count_nonzero(codes[:, :layer.n]) == round(d * w.size)
        assert np.all(codes[:, layer.n] != 0)  # the bias column is never pruned
        assert (layer.n_pes, layer.regs, layer.wbits, layer.ibits) == (4, 16, 4, 4)


def test_log_and_provenance_say_what_was_done(retrained):
    model, log = retrained
    lines = log.splitlines()
    assert lines[0].startswith("retraining on 600 training inputs (seed 0)")
    assert "densities (fc0, fc1)" in lines[1]
    assert any(line.split()[:3] == ["4", "0.0801", "0.2500"] for line in lines)  # the last step
    assert "without retraining" in lines[-1] and lines[-1].endswith(" s")
    prov = model.provenance
    assert prov["retrained"] is True and prov["calibrated"] is False
    assert prov["retrain_options"]["epochs"] == 6 and prov["retrain_options"]["targets"] == list(DENSITIES)
    assert prov["retrain_options"]["training_inputs"] == 600
    # the provenance survives the file
    assert eiefile.from_bytes(eiefile.to_bytes(model)).provenance["retrain_options"]["batch_size"] == 32


def test_same_seed_same_bytes_other_seed_other_bytes(task, retrained):
    layers, xtr, ytr, _, _ = task
    model, _ = retrained
    again, _ = retrain_compress(layers, options(), xtr, ytr, FAST)
    other, _ = retrain_compress(layers, options(), xtr, ytr, RetrainOptions(epochs=6, batch_size=32, seed=1))
    assert eiefile.to_bytes(again) == eiefile.to_bytes(model)
    assert eiefile.to_bytes(other) != eiefile.to_bytes(model)


def test_threshold_none_no_bias_balanced_and_calibration(task):
    layers, xtr, ytr, _, _ = task
    (n0, w0, b0), (n1, w1, _) = layers
    w1 = w1.copy()
    w1[:, :8] = 0.0  # a sparse layer without a bias and without a pruning rule keeps its zeros
    opts = [CompressOptions(threshold=1.0, n_pes=4, regs=16), CompressOptions(n_pes=4, regs=16)]
    model, _ = retrain_compress([(n0, w0, b0), (n1, w1, None)], opts, xtr, ytr,
                                RetrainOptions(epochs=1, finetune_epochs=1), calibration=xtr[:50],
                                input_after_relu=False, source="blobs")
    first, second = model.layers
    assert np.count_nonzero(first.decode()[:, :first.n]) == np.count_nonzero(prune_by_threshold(w0, 1.0))
    w, b = second.weights_and_bias()
    assert not second.has_bias and b is None
    assert np.all(w[:, :8] == 0) and np.count_nonzero(w) == np.count_nonzero(w1)
    assert model.fa is not None and model.provenance["source"] == "blobs"

    balanced, _ = retrain_compress(layers, options(balanced=True), xtr, ytr, RetrainOptions(epochs=1))
    codes = balanced.layers[0].decode()[:, :16]
    per_pe = [np.count_nonzero(codes[pe::4]) for pe in range(4)]
    assert per_pe == [round(0.08 * 64 * 16 / 4)] * 4


@pytest.mark.parametrize("change, message", [
    (lambda x, y: (x[:, :5], y), "each input has 5 values, the first layer takes 16"),
    (lambda x, y: (x.T, y), "is it transposed"),
    (lambda x, y: (x[0], y), r"batch of shape \(samples, 16\)"),
    (lambda x, y: (np.where(np.arange(16) == 3, np.nan, x), y), "training inputs.*non-finite"),
    (lambda x, y: (x.astype(str), y), "numeric array"),
    (lambda x, y: (x, y[:-1]), "599 labels for 600 training inputs"),
    (lambda x, y: (x, y.astype(float)), "vector of integer classes"),
    (lambda x, y: (x, np.where(np.arange(600) == 7, 4, y)), r"0\.\.3 .*label 7 is 4"),
])
def test_bad_training_data_is_named(task, change, message):
    layers, xtr, ytr, _, _ = task
    x, y = change(xtr, ytr)
    with pytest.raises(EieInputError, match=message):
        retrain_compress(layers, options(), x, y, FAST)


def test_bad_layers_are_named(task):
    layers, xtr, ytr, _, _ = task
    (n0, w0, b0), (n1, w1, b1) = layers
    with pytest.raises(EieInputError, match="last layer 'fc1' has 1 output"):
        retrain_compress([(n0, w0, b0), (n1, w1[:1], b1[:1])], options(), xtr, np.zeros(600, int), FAST)
    with pytest.raises(EieInputError, match="shapes must chain"):
        retrain_compress([(n0, w0, b0), (n1, w1[:, :10], b1)], options(), xtr, ytr, FAST)
    with pytest.raises(EieInputError, match="layer 'fc0' bias"):
        retrain_compress([(n0, w0, b0[:3]), (n1, w1, b1)], options(), xtr, ytr, FAST)
    with pytest.raises(EieInputError, match="3 sets of compression options for 2 layer"):
        retrain_compress(layers, options((0.5, 0.5, 0.5)), xtr, ytr, FAST)
    with pytest.raises(EieInputError, match="threshold 100 x std keeps no weight"):
        retrain_compress(layers, [CompressOptions(threshold=100.0)] * 2, xtr, ytr, FAST)


def test_diverging_retraining_is_reported(task):
    layers, xtr, ytr, _, _ = task
    with pytest.raises(EieInputError, match="diverged.*lower the learning rates"), \
            np.errstate(all="ignore"):
        retrain_compress(layers, options(), xtr * 1e6, ytr, RetrainOptions(epochs=1, retrain_lr=10.0))


# --------------------------------------------------------------------------- the trainer's extras


def test_frozen_biases_and_layers_without_a_bias():
    rng = np.random.default_rng(0)
    net = init_mlp(rng, (6, 5, 3))
    x, y = rng.random((40, 6)), rng.integers(0, 3, 40)
    train(net, x, y, epochs=2, lr=0.1, config=TrainConfig(batch_size=8), rng=rng, train_biases=[True, False])
    assert np.any(net.biases[0] != 0) and np.all(net.biases[1] == 0)
    masks = [np.ones(w.shape, bool) for w in net.weights]
    quants = [share_layer(net.weights[0], net.biases[0], masks[0], wbits=3),
              share_layer(net.weights[1], None, masks[1], wbits=3)]
    assert quants[0].codes.shape == (5, 7) and quants[1].codes.shape == (3, 5)
    tuned = finetune_shared(quants, x, y, epochs=1, lr=0.01, batch_size=8, rng=rng, has_bias=[True, False])
    (w0, b0), (w1, b1) = shared_layers(tuned, [True, False])
    assert w0.shape == (5, 6) and w1.shape == (3, 5) and np.all(b1 == 0)
    assert not np.array_equal(tuned[1].codebook, quants[1].codebook)


# --------------------------------------------------------------------------- the command line


@pytest.fixture(scope="module")
def files(task, tmp_path_factory):
    layers, xtr, ytr, xte, yte = task
    d = tmp_path_factory.mktemp("retrain")
    state = {}
    for i, (_, w, b) in enumerate(layers):  # PyTorch's names and dtype
        state[f"net.{2 * i}.weight"], state[f"net.{2 * i}.bias"] = w.astype(np.float32), b.astype(np.float32)
    np.savez(d / "mlp.npz", **state)
    for name, a in (("x_train", xtr), ("y_train", ytr), ("x_test", xte[:150]), ("y_test", yte[:150])):
        np.save(d / f"{name}.npy", a)
    return d


def test_cli_retrain_prints_the_log_and_the_evaluation_and_judges_the_retrained_model(files, capsys):
    d = files
    out = d / "m.eie"
    rc = main(["compress", str(d / "mlp.npz"), "--density", "0.08,0.25", "--pes", "4", "--regs", "16",
               "--retrain", str(d / "x_train.npy"), "--retrain-labels", str(d / "y_train.npy"),
               "--epochs", "6", "--eval", str(d / "x_test.npy"), "--labels", str(d / "y_test.npy"),
               "-o", str(out), "--quiet"])
    stdout, stderr = capsys.readouterr()
    assert rc == 0, stderr
    assert "retraining on 600 training inputs" in stdout and "training accuracy: float" in stdout
    table = stdout.split("evaluation on")[1].split("\n\n")[0]  # the table ends at a blank line
    rows = {" ".join(line.split()[:-2]): line.split()[-2:] for line in table.splitlines()[2:]}
    assert set(rows) == {"float", "pruned (no retraining)", "quantized (retrained)", "fixed-point (EIE)"}
    # the retrained model is judged against the float one (no advice to retrain it)
    assert "without retraining" not in stderr
    loss = float(rows["float"][0]) - float(rows["quantized (retrained)"][0])
    warned = f"warning: retraining with pruning and weight sharing lost {loss:.1f} points" in stderr
    assert warned == (loss > 1)
    model = eiefile.load(out)
    assert model.provenance["retrained"] is True and model.provenance["retrain_options"]["epochs"] == 6
    x, y = np.load(d / "x_test.npy"), np.load(d / "y_test.npy")
    assert float(rows["quantized (retrained)"][0]) == pytest.approx(100 * model_top1(model, x, y), abs=0.01)
    # pruning without retraining is scored from the given weights, and it is worse
    assert float(rows["pruned (no retraining)"][0]) < float(rows["quantized (retrained)"][0]) - 5


def test_cli_retrain_without_labels_is_refused(files, capsys):
    d = files
    rc = main(["compress", str(d / "mlp.npz"), "--density", "0.1", "--retrain", str(d / "x_train.npy"),
               "-o", str(d / "n.eie")])
    assert rc == 2 and "--retrain-labels y_train.npy" in capsys.readouterr().err


# --------------------------------------------------------------------------- eie example mlp


TINY = {"sizes": (784, 24, 16, 10), "epochs": 2, "n_train": 300, "n_test": 100}


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    from eie_sim.study.examples.mlp_study import run_mlp_study

    out = tmp_path_factory.mktemp("study")
    return out, run_mlp_study(out, seed=3, **TINY)


def test_study_writes_pytorch_names_data_and_a_readme(study):
    out, lines = study
    with np.load(out / "mlp.npz") as z:
        arrays = dict(z)
    assert list(arrays) == ["net.0.weight", "net.0.bias", "net.2.weight", "net.2.bias", "net.4.weight",
                            "net.4.bias"]
    assert [arrays[f"net.{i}.weight"].shape for i in (0, 2, 4)] == [(24, 784), (16, 24), (10, 16)]
    assert all(a.dtype == np.float32 for a in arrays.values())
    x, y = np.load(out / "x_train.npy"), np.load(out / "y_train.npy")
    assert x.shape == (300, 784) and x.dtype == np.float32 and 0 <= x.min() and x.max() <= 1
    assert y.shape == (300,) and y.dtype == np.int64 and set(np.unique(y)) <= set(range(10))
    assert np.load(out / "x_test.npy").shape == (100, 784) and np.load(out / "y_test.npy").shape == (100,)
    readme = (out / "README.txt").read_text()
    assert "net.4.bias" in readme and f"eie compress {out / 'mlp.onnx'} --density 0.08,0.09,0.26" in readme
    # the printed accuracy is the saved float32 network's, recomputed here
    layers = [(arrays[f"net.{i}.weight"], arrays[f"net.{i}.bias"]) for i in (0, 2, 4)]
    acc = top1(layers, np.load(out / "x_test.npy").astype(np.float64), np.load(out / "y_test.npy"))
    assert f"float top-1 accuracy {100 * acc:.2f} % on the 100 test digits" in lines[0]
    assert lines[-4:] == [f"  {c}" for c in (
        f"eie compress {out}/mlp.onnx --density 0.08,0.09,0.26 --calibration {out}/x_train.npy "
        f"--eval {out}/x_test.npy --labels {out}/y_test.npy -o {out}/mlp.eie",
        f"eie compress {out}/mlp.onnx --density 0.08,0.09,0.26 --retrain {out}/x_train.npy "
        f"--retrain-labels {out}/y_train.npy --calibration {out}/x_train.npy --eval {out}/x_test.npy "
        f"--labels {out}/y_test.npy -o {out}/mlp_retrained.eie",
        f"eie sweep {out}/mlp_retrained.eie --activations {out}/x_test.npy --labels {out}/y_test.npy "
        f"--pes 1,2,4,8,16,32,64,128,256 --fifo 1,2,4,8,16 -o {out}/sweep.csv",
        f"eie plot {out}/sweep.csv --where queue_depth=8 --out {out}/plots")]


def test_study_onnx_is_pytorchs_layout_with_the_npz_weights(study):
    pytest.importorskip("onnx")
    import onnx

    from compressor.onnx_import import read_onnx

    out, _ = study
    chain = read_onnx(out / "mlp.onnx")
    with np.load(out / "mlp.npz") as z:
        for (_, w, b), i in zip(chain.layers, (0, 2, 4), strict=True):
            np.testing.assert_array_equal(w, z[f"net.{i}.weight"])
            np.testing.assert_array_equal(b, z[f"net.{i}.bias"])
    assert chain.relu == [True, True, False] and chain.tail is None
    model = onnx.load(str(out / "mlp.onnx"))
    assert [n.op_type for n in model.graph.node] == ["Gemm", "Relu", "Gemm", "Relu", "Gemm"]
    assert all(a.i == 1 for n in model.graph.node if n.op_type == "Gemm" for a in n.attribute
               if a.name == "transB")
    assert model.opset_import[0].version == 17


def test_study_commands_run_as_printed(study, capsys):
    """The README's two compress commands, on the tiny study (the sweep is the slow test below)."""
    out, lines = study
    for cmd in lines[-4:-2]:
        argv = shlex.split(cmd)
        assert argv[0] == "eie"
        assert main([*argv[1:], "--quiet"] if "--retrain" in argv else argv[1:]) == 0
    stdout, stderr = capsys.readouterr()
    assert "warning: pruning lost" in stderr  # the first command: no retraining
    assert stdout.count("evaluation on") == 2 and "retraining on 300 training inputs" in stdout
    assert eiefile.load(out / "mlp_retrained.eie").provenance["retrained"] is True


def test_study_refuses_to_overwrite_before_training(study):
    from eie_sim.study.examples.mlp_study import run_mlp_study

    out, _ = study
    t = time.perf_counter()
    with pytest.raises(EieInputError, match="already exists"):
        run_mlp_study(out, **TINY)
    assert time.perf_counter() - t < 2
    assert run_mlp_study(Path(out), seed=3, force=True, **TINY)[0].startswith("trained a 784-24-16-10")


def test_cli_example_mlp_passes_its_options(monkeypatch, capsys):
    import eie_sim.study.examples.mlp_study as study_mod

    seen = {}

    def fake(out, **kw):
        seen.update(out=out, **kw)
        return ["line one", "line two"]

    monkeypatch.setattr(study_mod, "run_mlp_study", fake)
    assert main(["example", "mlp", "--seeds", "5,6", "--force"]) == 0
    assert seen == {"out": None, "seed": 5, "force": True}
    assert capsys.readouterr().out == "line one\nline two\n"


@pytest.mark.slow
def test_study_sweep_and_plot_commands_run_as_printed(study, capsys):
    out, lines = study
    for cmd in lines[-4:]:
        argv = shlex.split(cmd)[1:]
        if argv[0] == "sweep":
            argv += ["--jobs", "1", "--quiet"]
        assert main(argv + (["--force"] if argv[0] in ("compress", "plot") else [])) == 0, \
            capsys.readouterr().err
    assert (out / "sweep.csv").is_file() and any((out / "plots").iterdir())
