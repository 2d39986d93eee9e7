"""Accuracy-aware compression of a user's own MLP: Deep Compression *with* retraining.

Pruning a trained network to ~10 % of its weights in one shot, without retraining,
can cost tens of points of accuracy (issue 11: a user's MLP lost 40). Deep
Compression (Han, Mao, Dally, ICLR 2016) avoids that by pruning in steps and
retraining the surviving weights after each, then fine-tuning the shared
centroids. :func:`retrain_compress` does this for a chain of fully connected
ReLU layers (the networks EIE runs; softmax cross-entropy on the last layer's
outputs) with the numpy trainer of :mod:`compressor.train`:

1. optional dense fine-tuning (0 epochs by default: the user's net is trained);
2. iterative magnitude pruning with retraining of every layer after each step,
   each layer down to its own target density (the layer's ``CompressOptions``:
   a density; a threshold, turned into the density it implies on the given
   weights; or none, keeping every non-zero weight). A weight that is 0 in the
   given net stays 0, as in :func:`compressor.pipeline.compress_model`;
3. k-means weight sharing per layer with the layer's ``wbits`` / ``init`` /
   ``method`` / ``seed`` (the bias as the last column, sharing the codebook);
4. centroid fine-tuning (codes fixed), then encoding for EIE as the layer's
   options ask (:func:`compressor.pipeline.encode_quantized`).

``eie compress --retrain X_train.npy --retrain-labels y_train.npy`` calls it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass

import numpy as np
from tqdm.auto import tqdm

from compressor.errors import EieInputError
from compressor.model import EncodedModel, check_chain
from compressor.pipeline import CompressOptions, encode_quantized, model_of, per_layer_options
from compressor.prune import prune_balanced, prune_by_threshold, prune_to_density
from compressor.train import (
    MLP,
    PRUNE_STEPS,
    TrainConfig,
    accuracy,
    finetune_shared,
    prune_and_retrain,
    share_layer,
    shared_layers,
    single_blas_thread,
    train,
)
from compressor.validate import check_bias, check_finite, check_weights

__all__ = ["RetrainOptions", "retrain_compress"]

Layer = tuple[str, np.ndarray, np.ndarray | None]


@dataclass(frozen=True)
class RetrainOptions:
    """How to retrain while compressing (SGD with momentum, cosine learning-rate decay per stage).

    The defaults suit a net trained on inputs of order 1 (e.g. pixels in [0, 1]). They were
    chosen on the MNIST study's net (``eie example mlp``) trained and retrained on 3,000 of its
    *training* images and scored on the other 1,000, never on its test images.
    """

    epochs: int = 4  # retraining epochs after each pruning step
    dense_epochs: int = 0  # fine-tuning of the dense net before pruning (0: it is trained already)
    finetune_epochs: int = 2  # centroid fine-tuning after weight sharing
    lr: float = 0.01  # dense fine-tuning: a trained net needs a gentle rate
    # each retraining step, cosine-decayed; 0.005 .. 0.04 were tried: 0.02 .. 0.04 recover the most
    retrain_lr: float = 0.03
    # the centroids' gradient sums over every weight sharing them: a small rate (LeNet's)
    finetune_lr: float = 0.003
    batch_size: int = 64
    momentum: float = 0.9
    # L2 on the weights (not biases), as Deep Compression used (Caffe's 5e-4)
    weight_decay: float = 5e-4
    # intermediate densities; each layer goes max(step, target) at each step, then to its target
    steps: tuple[float, ...] = PRUNE_STEPS
    seed: int = 0  # shuffling (the k-means seed is each layer's CompressOptions.seed)

    def __post_init__(self) -> None:
        for name, low in (("epochs", 1), ("dense_epochs", 0), ("finetune_epochs", 0), ("batch_size", 1),
                          ("seed", 0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
                raise EieInputError(f"retrain option {name} = {value!r} must be an integer >= {low}")
        for name in ("lr", "retrain_lr", "finetune_lr"):
            value = getattr(self, name)
            if not _is_number(value) or not 0.0 < value < math.inf:
                raise EieInputError(f"retrain option {name} = {value!r} must be a finite number > 0")
        if not _is_number(self.momentum) or not 0.0 <= self.momentum < 1.0:
            raise EieInputError(f"retrain option momentum = {self.momentum!r} must be in 0 <= m < 1")
        if not _is_number(self.weight_decay) or not 0.0 <= self.weight_decay < math.inf:
            raise EieInputError(f"retrain option weight_decay = {self.weight_decay!r} must be a finite "
                                "number >= 0")
        steps = self.steps
        if isinstance(steps, str) or not isinstance(steps, Sequence) or not all(map(_is_number, steps)):
            raise EieInputError(f"retrain option steps = {steps!r} must be a sequence of densities")
        for i, s in enumerate(steps):
            if not 0.0 < s <= 1.0:
                raise EieInputError(f"retrain option steps[{i}] = {s!r} must be a density in (0, 1]")
            if i and s >= steps[i - 1]:
                raise EieInputError(f"retrain option steps must decrease, but steps[{i}] = {s!r} >= "
                                    f"steps[{i - 1}] = {steps[i - 1]!r}")
        # plain Python numbers: the options go into the model's JSON provenance
        for name, kind in (("epochs", int), ("dense_epochs", int), ("finetune_epochs", int),
                           ("batch_size", int), ("seed", int), ("lr", float), ("retrain_lr", float),
                           ("finetune_lr", float), ("momentum", float), ("weight_decay", float)):
            object.__setattr__(self, name, kind(getattr(self, name)))
        object.__setattr__(self, "steps", tuple(float(s) for s in steps))

    def train_config(self) -> TrainConfig:
        """The same settings as :mod:`compressor.train` takes them (no dropout: the net is trained)."""
        return TrainConfig(lr=self.lr, retrain_lr=self.retrain_lr, finetune_lr=self.finetune_lr,
                           momentum=self.momentum, weight_decay=self.weight_decay,
                           batch_size=self.batch_size)


def _is_number(value: object) -> bool:
    return not isinstance(value, bool) and isinstance(value, int | float | np.integer | np.floating) \
        and not math.isnan(value)


# --------------------------------------------------------------------------- checks


def _check_layers(layers: Sequence[Layer]) -> list[tuple[str, np.ndarray, np.ndarray | None]]:
    out = []
    for name, w, b in layers:
        w = check_weights(w, f"layer {name!r} weights").astype(np.float64)
        if b is not None:
            b = check_bias(b, w.shape[0], name)
        out.append((name, w, b))
    check_chain([(name, w.shape[0], w.shape[1]) for name, w, _ in out], transposable=True)
    return out


def _check_data(x: object, y: object, n_inputs: int, n_classes: int, last: str) -> tuple[np.ndarray,
                                                                                          np.ndarray]:
    """The training set as float64 inputs (samples x inputs) and int64 classes, or a named error."""
    what_x, what_y = "training inputs (--retrain)", "training labels (--retrain-labels)"
    if not isinstance(x, np.ndarray) or x.dtype.kind not in "fiub":
        raise EieInputError(f"{what_x} must be a numeric array, got "
                            f"{getattr(x, 'dtype', type(x).__name__)}")
    if x.ndim != 2:
        raise EieInputError(f"{what_x} must be a batch of shape (samples, {n_inputs}), got shape {x.shape}")
    if x.shape[1] != n_inputs:
        hint = "; is it transposed?" if x.shape[0] == n_inputs else ""
        raise EieInputError(f"{what_x}: each input has {x.shape[1]} values, the first layer takes "
                            f"{n_inputs}{hint}")
    if x.shape[0] == 0:
        raise EieInputError(f"{what_x}: the batch is empty")
    x = x.astype(np.float64)
    check_finite(x, what_x)
    if not isinstance(y, np.ndarray) or y.dtype.kind not in "iub" or y.ndim != 1:
        raise EieInputError(f"{what_y} must be a vector of integer classes, got "
                            f"{getattr(y, 'dtype', type(y).__name__)} of shape {getattr(y, 'shape', '?')}")
    if len(y) != len(x):
        raise EieInputError(f"{what_y}: {len(y)} labels for {len(x)} training inputs")
    if n_classes < 2:
        raise EieInputError(f"retraining needs a classifier: the last layer {last!r} has {n_classes} "
                            "output; softmax cross-entropy needs at least 2 classes")
    y = y.astype(np.int64)
    bad = np.flatnonzero((y < 0) | (y >= n_classes))
    if len(bad):
        raise EieInputError(f"{what_y}: classes must lie in 0..{n_classes - 1} (the outputs of the last "
                            f"layer {last!r}); label {bad[0]} is {y[bad[0]]} ({len(bad)} out of range)")
    return x, y


def _target(w: np.ndarray, option: CompressOptions, name: str) -> float:
    """The density a layer is pruned to: its density, the one its threshold implies on the given
    weights, or (no pruning rule) the share of non-zero weights."""
    if option.density is not None:
        return float(option.density)
    kept = prune_by_threshold(w, option.threshold) if option.threshold is not None else w != 0
    if not kept.any():
        rule = f"threshold {option.threshold:g} x std" if option.threshold is not None else "no pruning"
        raise EieInputError(f"layer {name!r}: {rule} keeps no weight; nothing to retrain")
    return float(np.count_nonzero(kept)) / w.size


def _diverged(stage: str) -> EieInputError:
    return EieInputError(f"retraining diverged during {stage} (weights or gradients became NaN or inf); "
                         "lower the learning rates (RetrainOptions) or scale the inputs to ~1")


@contextmanager
def _divergence(stage: Callable[[], str]) -> Iterator[None]:
    """Report a non-finite gradient met while training as divergence: the inputs were checked before,
    so that is the only way one arises (masked_update and finetune_codebook refuse it)."""
    try:
        yield
    except EieInputError as e:
        if "non-finite" not in str(e):
            raise
        raise _diverged(stage()) from e


# --------------------------------------------------------------------------- the pipeline


@single_blas_thread  # the same seed, the same bytes, whatever the thread count
def retrain_compress(layers: Sequence[Layer], options: CompressOptions | Sequence[CompressOptions],
                     x: np.ndarray, y: np.ndarray, retrain: RetrainOptions | None = None, *,
                     calibration: np.ndarray | None = None, input_after_relu: bool = False,
                     source: str | None = None, progress: bool = False) -> tuple[EncodedModel, str]:
    """Prune with retraining, share weights, fine-tune the centroids and encode: the model and a log.

    ``layers`` are ``(name, W (outputs x inputs), b or None)`` of a ReLU MLP (no ReLU after
    the last layer), ``options`` one :class:`CompressOptions` per layer (or one for all),
    ``x`` / ``y`` the training inputs (samples x inputs) and integer classes. The log is
    a short text: each step's densities and training accuracy, the final float, pruned and
    quantized training accuracies and the wall time. Deterministic for the options' seeds.
    """
    t0 = time.perf_counter()
    retrain = retrain or RetrainOptions()
    checked = _check_layers(layers)
    opts = per_layer_options(options, len(checked))
    names = [name for name, _, _ in checked]
    x, y = _check_data(x, y, checked[0][1].shape[1], checked[-1][1].shape[0], names[-1])
    targets = [_target(w, o, name) for (name, w, _), o in zip(checked, opts, strict=True)]
    has_bias = [b is not None for _, _, b in checked]
    net = MLP([w.copy() for _, w, _ in checked],
              [np.zeros(w.shape[0]) if b is None else b.copy() for _, w, b in checked])
    start_masks = [w != 0 for w in net.weights]  # zero weights stay zero, as without retraining
    config = retrain.train_config()
    rng = np.random.default_rng(retrain.seed)  # shuffling of every stage
    steps = [s for s in retrain.steps if any(s > t for t in targets)]  # no step that prunes nothing

    def acc(weights: Sequence[np.ndarray], biases: Sequence[np.ndarray]) -> str:
        return f"{100 * accuracy(weights, biases, x, y):.2f} %"

    float_acc = acc(net.weights, net.biases)

    def dens(masks: Sequence[np.ndarray]) -> str:
        return " ".join(f"{np.count_nonzero(m) / m.size:6.4f}" for m in masks)

    def check(stage: str, weights: Sequence[np.ndarray]) -> None:
        if not all(np.isfinite(w).all() for w in weights):
            raise _diverged(stage)

    def select(i: int, w: np.ndarray, d: float) -> np.ndarray:
        if opts[i].balanced:  # the same count in every PE's rows, at every step
            return prune_balanced(w, d, opts[i].n_pes)
        return prune_to_density(w, d)

    log = [f"retraining on {len(y):,} training inputs (seed {retrain.seed}): {len(steps) + 1} pruning "
           f"step(s) of {retrain.epochs} epoch(s), lr {retrain.retrain_lr:g}, momentum "
           f"{retrain.momentum:g}, weight decay {retrain.weight_decay:g}, batch {retrain.batch_size}",
           f"  {'step':12s} densities ({', '.join(names)})   training accuracy",
           f"  {'given':12s} {dens(start_masks)}   {float_acc}"]
    one_shot = [np.where(m & select(i, np.where(m, w, 0.0), t), w, 0.0)
                for i, (w, m, t) in enumerate(zip(net.weights, start_masks, targets, strict=True))]
    one_shot_acc = acc(one_shot, net.biases)
    log.append(f"  {'at once':12s} {dens([w != 0 for w in one_shot])}   {one_shot_acc}"
               "   (pruned to the targets without retraining, for comparison)")

    n_stages = int(retrain.dense_epochs > 0) + len(steps) + 1 + int(retrain.finetune_epochs > 0)
    with tqdm(total=n_stages, desc="retraining", disable=not progress) as bar:
        if retrain.dense_epochs:
            bar.set_postfix_str("dense fine-tuning")
            with _divergence(lambda: "dense fine-tuning"):
                train(net, x, y, epochs=retrain.dense_epochs, lr=config.lr, config=config, rng=rng,
                      masks=start_masks, train_biases=has_bias)
            check("dense fine-tuning", net.weights)
            log.append(f"  {'dense':12s} {dens(start_masks)}   {acc(net.weights, net.biases)}"
                       f"   ({retrain.dense_epochs} epoch(s) before pruning)")
            bar.update()

        done = [0]  # pruning steps retrained so far

        def on_step(step: int, _: tuple[float, ...], pruned: MLP, masks: list[np.ndarray]) -> None:
            done[0] = step + 1
            check(f"pruning step {step + 1}", pruned.weights)
            log.append(f"  {step + 1:<12d} {dens(masks)}   {acc(pruned.weights, pruned.biases)}")
            bar.update()

        bar.set_postfix_str("pruning + retraining")
        with _divergence(lambda: f"pruning step {done[0] + 1}"):
            pruned, masks = prune_and_retrain(net, x, y, epochs=retrain.epochs, config=config, rng=rng,
                                              targets=targets, steps=steps, masks=start_masks,
                                              select=select, train_biases=has_bias, on_step=on_step)
        pruned_acc = acc(pruned.weights, pruned.biases)

        bar.set_postfix_str("weight sharing")
        quants = [share_layer(w, b if wb else None, mk, wbits=o.wbits, init=o.init, method=o.method,
                              seed=o.seed, max_iter=o.max_iter)
                  for w, b, mk, o, wb in zip(pruned.weights, pruned.biases, masks, opts, has_bias,
                                             strict=True)]
        shared = shared_layers(quants, has_bias)
        shared_acc = acc([w for w, _ in shared], [b for _, b in shared])
        if retrain.finetune_epochs:
            bar.set_postfix_str("centroid fine-tuning")
            with _divergence(lambda: "centroid fine-tuning"):
                quants = finetune_shared(quants, x, y, epochs=retrain.finetune_epochs,
                                         lr=config.finetune_lr, batch_size=config.batch_size, rng=rng,
                                         has_bias=has_bias)
            check("centroid fine-tuning", [q.codebook for q in quants])
            bar.update()
        shared = shared_layers(quants, has_bias)
        quant_acc = acc([w for w, _ in shared], [b for _, b in shared])

    bits = sorted({o.wbits for o in opts})
    log.append(f"  weight sharing ({'/'.join(map(str, bits))}-bit codes): {shared_acc}, after "
               f"{retrain.finetune_epochs} epoch(s) of centroid fine-tuning: {quant_acc}")
    log.append(f"training accuracy: float {float_acc}, pruned {pruned_acc} (without retraining "
               f"{one_shot_acc}), quantized {quant_acc}; {time.perf_counter() - t0:.1f} s")

    encoded = [encode_quantized(q, has_bias=wb, options=o, name=name)
               for q, wb, o, name in zip(quants, has_bias, opts, names, strict=True)]
    model = model_of(encoded, calibration=calibration, input_after_relu=input_after_relu,
                     options=opts, source=source, retrained=True,
                     retrain_options={**asdict(retrain), "steps": list(retrain.steps),
                                      "targets": targets, "training_inputs": len(y)})
    return model, "\n".join(log)
