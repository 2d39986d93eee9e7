"""Training and Deep Compression's retraining for an MLP of ReLU layers, in plain numpy.

The network is what EIE runs (docs/ARCHITECTURE.md section 1): a chain of fully
connected layers, weights ``outputs x inputs`` (PyTorch's ``Linear.weight``), a
ReLU after every layer but the last, softmax cross-entropy on the logits. Here:

* :class:`MLP`, :func:`init_mlp` (He initialisation), :func:`forward` (with
  inverted dropout), :func:`loss_and_grads`, :func:`accuracy`;
* :func:`train`: mini-batch SGD with momentum, L2 weight decay and cosine
  learning-rate decay; with masks, updates that keep pruned weights at exactly 0;
* :func:`prune_schedule` and :func:`prune_and_retrain`: iterative magnitude
  pruning with retraining of the whole network after every step (Deep Compression);
* :func:`share_weights` / :func:`share_layer`, :func:`shared_layers` and
  :func:`finetune_shared`: k-means weight sharing with the bias as the last column
  (as :func:`compressor.pipeline.compress_layer` does) and centroid fine-tuning.

It lives in the compressor (the lower layer) because both the LeNet-300-100
example (:mod:`eie_sim.study.examples.lenet`) and accuracy-aware compression of a
user's own MLP (:mod:`compressor.retrain`, ``eie compress --retrain``) use it.
Every random choice (initialisation, shuffling, dropout masks) comes from the
generator the caller passes, so a seed fixes the result.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import ParamSpec, TypeVar

import numpy as np
from threadpoolctl import threadpool_limits

from compressor.errors import EieInputError
from compressor.prune import masked_update, prune_to_density
from compressor.quantize import Quantized, finetune_codebook, quantize

__all__ = [
    "MLP",
    "PRUNE_STEPS",
    "TrainConfig",
    "init_mlp",
    "forward",
    "loss_and_grads",
    "accuracy",
    "train",
    "prune_schedule",
    "prune_and_retrain",
    "share_layer",
    "share_weights",
    "shared_layers",
    "finetune_shared",
    "single_blas_thread",
]

#: Intermediate densities of iterative pruning; a layer never goes below its target.
PRUNE_STEPS = (0.5, 0.25, 0.125)

#: Called after each retraining step: (step index, that step's densities, the network, its masks).
StepCallback = Callable[[int, tuple[float, ...], "MLP", list[np.ndarray]], None]
#: Chooses the weights a layer keeps at one step: (layer index, its weights with the pruned ones
#: at 0, density) -> bool mask. The default is :func:`compressor.prune.prune_to_density`.
Selector = Callable[[int, np.ndarray, float], np.ndarray]


_P = ParamSpec("_P")
_R = TypeVar("_R")


def single_blas_thread(fn: Callable[_P, _R]) -> Callable[_P, _R]:
    """Run ``fn`` with BLAS on one thread: the same seed then gives the same bits on any machine.

    A threaded OpenBLAS matrix product partitions its work by the thread count, and the last
    bit of some products changes with the partition; over thousands of SGD steps that grew into
    a retrained ``.eie`` of the README study that differed by 1,434 bytes between one and two
    threads. The products here are small (a mini-batch through an MLP), so one thread is also
    the fast choice. "Any machine" means any thread count on the same BLAS build and CPU.
    """
    @functools.wraps(fn)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        with threadpool_limits(limits=1, user_api="blas"):
            return fn(*args, **kwargs)
    return wrapper


# --------------------------------------------------------------------------- configuration


@dataclass(frozen=True)
class TrainConfig:
    """SGD hyper-parameters (the defaults are LeNet-300-100's, chosen on a held-out part of the
    *training* set of :mod:`eie_sim.study.examples.lenet`, never the test set)."""

    lr: float = 0.05  # dense training, cosine-decayed to 0 over the stage
    retrain_lr: float = 0.03  # each retraining step after pruning, again cosine-decayed
    finetune_lr: float = 0.003  # centroids: their gradient is a sum over many weights, keep it small
    momentum: float = 0.9
    # L2 on weights (not biases), as Deep Compression used; stronger than Caffe's 5e-4 because
    # 4,000 images give few steps and the unused inputs' weights must still shrink to be pruned
    weight_decay: float = 2e-3
    batch_size: int = 64
    # Inverted dropout on the hidden layers' activations (every layer's output but the last)
    # while training and retraining, rate p (0: off, the default); off at evaluation and during
    # centroid fine-tuning. The keep masks come from the training generator, so a seed fixes them.
    dropout: float = 0.0

    def __post_init__(self) -> None:
        p = self.dropout
        if isinstance(p, bool) or not isinstance(p, int | float) or not 0.0 <= p < 1.0:
            raise EieInputError(f"dropout = {self.dropout!r} must be in 0 <= p < 1")


# --------------------------------------------------------------------------- the network


@dataclass
class MLP:
    """Weights as (outputs x inputs) float64 matrices, one bias vector per layer."""

    weights: list[np.ndarray]
    biases: list[np.ndarray]

    def copy(self) -> MLP:
        return MLP([w.copy() for w in self.weights], [b.copy() for b in self.biases])

    @property
    def sizes(self) -> tuple[int, ...]:
        """Inputs, then every layer's outputs (784, 300, 100, 10 for LeNet-300-100)."""
        return (self.weights[0].shape[1], *(w.shape[0] for w in self.weights))


def init_mlp(rng: np.random.Generator, sizes: Sequence[int]) -> MLP:
    """He initialisation (N(0, 2/fan_in)) for ReLU layers of the given sizes (inputs first); zero
    biases."""
    if len(sizes) < 2 or any(isinstance(s, bool) or not isinstance(s, int | np.integer) or s < 1
                             for s in sizes):
        raise EieInputError(f"sizes {tuple(sizes)}: give the inputs and at least one layer's outputs, "
                            "each an integer >= 1")
    ws = [rng.normal(0.0, math.sqrt(2.0 / n), (m, n)) for n, m in itertools.pairwise(sizes)]
    return MLP(ws, [np.zeros(m) for m in sizes[1:]])


def forward(weights: Sequence[np.ndarray], biases: Sequence[np.ndarray], x: np.ndarray, *,
            dropout: float = 0.0, rng: np.random.Generator | None = None) -> list[np.ndarray]:
    """Float forward pass; returns every layer's activations, input first, logits last.

    With ``dropout`` p > 0 (training only) every hidden activation is kept with probability
    1 - p, drawn from ``rng``, and the kept ones are scaled by 1 / (1 - p) (inverted dropout),
    so evaluation (p = 0) needs no rescaling.
    """
    if dropout > 0.0 and rng is None:
        raise EieInputError("dropout needs a random generator (rng)")
    acts = [x]
    for i, (w, b) in enumerate(zip(weights, biases, strict=True)):
        z = acts[-1] @ w.T + b
        if i == len(weights) - 1:
            acts.append(z)
            continue
        a = np.maximum(z, 0.0)
        if dropout > 0.0:
            a *= (rng.random(a.shape) >= dropout) * (1.0 / (1.0 - dropout))
        acts.append(a)
    return acts


def loss_and_grads(weights: Sequence[np.ndarray], biases: Sequence[np.ndarray], x: np.ndarray,
                   y: np.ndarray, *, dropout: float = 0.0, rng: np.random.Generator | None = None
                   ) -> tuple[float, list[np.ndarray], list[np.ndarray]]:
    """Mean softmax cross-entropy of a batch and its gradients (dL/dW, dL/db per layer).

    ``dropout`` / ``rng`` as in :func:`forward` (the same keep masks scale the backward pass).
    """
    acts = forward(weights, biases, x, dropout=dropout, rng=rng)
    scale = 1.0 / (1.0 - dropout)
    z = acts[-1] - acts[-1].max(axis=1, keepdims=True)
    p = np.exp(z)
    p /= p.sum(axis=1, keepdims=True)
    rows = np.arange(len(y))
    loss = float(-np.mean(np.log(p[rows, y] + 1e-300)))
    d = p
    d[rows, y] -= 1.0
    d /= len(y)
    gw: list[np.ndarray] = [np.empty(0)] * len(weights)
    gb: list[np.ndarray] = [np.empty(0)] * len(weights)
    for i in range(len(weights) - 1, -1, -1):
        gw[i] = d.T @ acts[i]
        gb[i] = d.sum(axis=0)
        if i:
            # a dropped unit has activation 0, so (acts > 0) is ReLU's and dropout's mask at once
            d = (d @ weights[i]) * (acts[i] > 0)
            if dropout > 0.0:
                d *= scale
    return loss, gw, gb


@single_blas_thread
def accuracy(weights: Sequence[np.ndarray], biases: Sequence[np.ndarray], x: np.ndarray,
             y: np.ndarray) -> float:
    """Top-1 accuracy of the float network."""
    return float(np.mean(np.argmax(forward(weights, biases, x)[-1], axis=1) == y))


def _batches(n: int, batch_size: int, rng: np.random.Generator) -> Iterator[np.ndarray]:
    order = rng.permutation(n)
    for s in range(0, n, batch_size):
        yield order[s:s + batch_size]


@single_blas_thread
def train(net: MLP, x: np.ndarray, y: np.ndarray, *, epochs: int, lr: float, config: TrainConfig,
          rng: np.random.Generator, masks: Sequence[np.ndarray] | None = None,
          train_biases: Sequence[bool] | None = None) -> MLP:
    """Mini-batch SGD with momentum and L2 weight decay, in place; cosine learning-rate decay.

    ``config.dropout`` > 0 drops hidden activations (inverted dropout, masks from ``rng``).
    With ``masks`` (retraining a pruned net) every weight update goes through
    :func:`compressor.prune.masked_update`, so pruned weights stay exactly 0, and
    their momentum is cleared so nothing builds up behind the mask. ``train_biases``
    (one flag per layer, default all) freezes the biases of the layers flagged False:
    a layer that has no bias keeps a zero one.
    """
    steps = max(1, epochs * math.ceil(len(y) / config.batch_size))
    vw = [np.zeros_like(w) for w in net.weights]
    vb = [np.zeros_like(b) for b in net.biases]
    t = 0
    for _ in range(epochs):
        for idx in _batches(len(y), config.batch_size, rng):
            lr_t = lr * 0.5 * (1.0 + math.cos(math.pi * t / steps))
            t += 1
            _, gw, gb = loss_and_grads(net.weights, net.biases, x[idx], y[idx],
                                       dropout=config.dropout, rng=rng)
            for i, w in enumerate(net.weights):
                vw[i] *= config.momentum
                vw[i] += gw[i] + config.weight_decay * w
                if masks is None:
                    w -= lr_t * vw[i]
                else:
                    vw[i][~masks[i]] = 0.0
                    masked_update(w, vw[i], masks[i], lr_t)
                if train_biases is not None and not train_biases[i]:
                    continue
                vb[i] *= config.momentum
                vb[i] += gb[i]
                net.biases[i] -= lr_t * vb[i]
    return net


# --------------------------------------------------------------------------- Deep Compression


def prune_schedule(targets: Sequence[float], steps: Sequence[float] = PRUNE_STEPS
                   ) -> list[tuple[float, ...]]:
    """Per-step densities of every layer: each step's density, never below the layer's target,
    then the targets themselves (a layer that reached its target early just retrains)."""
    return [tuple(max(t, s) for t in targets) for s in steps] + [tuple(targets)]


@single_blas_thread
def prune_and_retrain(net: MLP, x: np.ndarray, y: np.ndarray, *, epochs: int, config: TrainConfig,
                      rng: np.random.Generator, targets: Sequence[float],
                      steps: Sequence[float] = PRUNE_STEPS,
                      masks: Sequence[np.ndarray] | None = None, select: Selector | None = None,
                      train_biases: Sequence[bool] | None = None,
                      on_step: StepCallback | None = None) -> tuple[MLP, list[np.ndarray]]:
    """Iterative magnitude pruning with retraining of the whole network after every step.

    :func:`compressor.prune.iterative_prune` drives one layer with a per-layer
    retrain callback; an MLP's layers are retrained jointly, so the loop is here and
    each step selects on the surviving weights (pruned ones are 0, so they rank
    last) and intersects with the previous mask: once pruned, always pruned.
    ``masks`` are the weights allowed to start with (default all; pass ``w != 0``
    to keep a sparse net's zeros at zero), ``select`` the rule of a step (default
    :func:`prune_to_density`), ``on_step`` a callback after each step's retraining.
    Returns the retrained copy and the final masks; ``net`` is not modified.
    """
    net = net.copy()
    masks = [np.ones(w.shape, bool) if masks is None else np.asarray(masks[i], bool).copy()
             for i, w in enumerate(net.weights)]
    for i in range(len(net.weights)):
        net.weights[i][~masks[i]] = 0.0
    for step, densities in enumerate(prune_schedule(targets, steps)):
        for i, d in enumerate(densities):
            w = np.where(masks[i], net.weights[i], 0.0)
            masks[i] &= prune_to_density(w, d) if select is None else select(i, w, d)
            net.weights[i][~masks[i]] = 0.0
        train(net, x, y, epochs=epochs, lr=config.retrain_lr, config=config, rng=rng, masks=masks,
              train_biases=train_biases)
        if on_step is not None:
            on_step(step, densities, net, masks)
    return net, masks


def share_layer(weights: np.ndarray, bias: np.ndarray | None, mask: np.ndarray, *, wbits: int,
                init: str = "linear", method: str = "lloyd", seed: int = 0,
                max_iter: int = 100) -> Quantized:
    """k-means weight sharing of one layer's kept weights; a bias is the last column, never pruned,
    and shares the codebook (as :func:`compressor.pipeline.compress_layer` does).

    The weights are clustered in their own float dtype (:func:`compressor.quantize.quantize`
    takes the bias as its last column), not through a float64 copy of weights and bias side by
    side: a 4096 x 11008 float32 layer no longer costs 360 MB more; the codes are the same.
    """
    w = np.asarray(weights)
    if w.dtype.kind != "f":  # integer weights: as float64, as the stacked copy used to be
        w = w.astype(np.float64)
    return quantize(w, mask, wbits=wbits, init=init, method=method, seed=seed, max_iter=max_iter,
                    bias=bias)


def share_weights(net: MLP, masks: Sequence[np.ndarray], wbits: int) -> list[Quantized]:
    """k-means weight sharing per layer, linear initialisation, every layer with a bias column
    (:func:`share_layer`)."""
    return [share_layer(w, b, mask, wbits=wbits)
            for w, b, mask in zip(net.weights, net.biases, masks, strict=True)]


def shared_layers(quants: Sequence[Quantized], has_bias: Sequence[bool] | None = None
                  ) -> list[tuple[np.ndarray, np.ndarray]]:
    """The quantized float (W, b) of each layer: ``codebook[codes]`` split at the bias column.

    ``has_bias`` (default: every layer) flags the layers whose last column is a bias; a layer
    without one gets a zero bias, so the result always feeds :func:`forward`.
    """
    out = []
    for i, q in enumerate(quants):
        d = q.dense()
        if has_bias is None or has_bias[i]:
            out.append((d[:, :-1], d[:, -1].copy()))
        else:
            out.append((d, np.zeros(d.shape[0])))
    return out


@single_blas_thread
def finetune_shared(quants: Sequence[Quantized], x: np.ndarray, y: np.ndarray, *, epochs: int,
                    lr: float, batch_size: int, rng: np.random.Generator,
                    has_bias: Sequence[bool] | None = None) -> list[Quantized]:
    """Deep Compression's centroid fine-tuning: codes fixed, each centroid moved by the sum of
    the gradients of the weights (and biases) that share it (:func:`finetune_codebook`).

    ``has_bias`` as in :func:`shared_layers`; a missing bias gets no gradient (it stays 0).
    """
    with_bias = [True] * len(quants) if has_bias is None else list(has_bias)
    codebooks = [q.codebook.copy() for q in quants]
    codes = [q.codes for q in quants]
    for _ in range(epochs):
        for idx in _batches(len(y), batch_size, rng):
            layers = shared_layers([replace(q, codebook=cb) for q, cb in zip(quants, codebooks,
                                                                                strict=True)], with_bias)
            _, gw, gb = loss_and_grads([w for w, _ in layers], [b for _, b in layers], x[idx], y[idx])
            codebooks = [finetune_codebook(cb, c, np.hstack([g, h[:, None]]) if wb else g, lr)
                         for cb, c, g, h, wb in zip(codebooks, codes, gw, gb, with_bias, strict=True)]
    return [replace(q, codebook=cb) for q, cb in zip(quants, codebooks, strict=True)]
