"""Deep Compression for one layer or a model: prune -> share weights -> encode for EIE.

The bias is folded in as the last column (docs/ARCHITECTURE.md section 1): it shares
the layer's codebook and is never pruned (a bias that is exactly 0 stays 0).
Huffman coding is applied when the model is stored (:mod:`compressor.eiefile`)
and reported by :mod:`compressor.sizes`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from compressor.calibrate import activation_frac_bits
from compressor.encode import EncodedLayer, encode_layer
from compressor.errors import EieInputError
from compressor.model import EncodedModel, check_chain
from compressor.provenance import provenance
from compressor.prune import (
    check_n_m,
    prune_balanced,
    prune_by_threshold,
    prune_n_m,
    prune_to_density,
    prune_wanda,
    wanda_scores,
)
from compressor.quantize import INITS, METHODS, Quantized
from compressor.train import share_layer
from compressor.validate import check_bias, check_mask, check_weights

#: Pruning rules of :class:`CompressOptions` (``prune_method``).
PRUNE_METHODS = ("magnitude", "wanda", "n:m")


@dataclass(frozen=True)
class CompressOptions:
    """How to compress: pruning rule, weight sharing, and the EIE encoding to produce.

    ``prune_method`` "magnitude" (the default) is Deep Compression's: ``density``, ``threshold``
    or ``balanced``, or no pruning. "wanda" keeps the ``density`` fraction of every output row by
    ``|W_ij| * ||X_j||_2`` and needs the layer's calibration input norms
    (``compress_layer(..., input_norms=...)``). "n:m" keeps ``nm[0]`` of every ``nm[1]``
    consecutive inputs of a row, by ``|W|``, or by Wanda's score when input norms are given.
    """

    density: float | None = None  # keep this fraction of weights (largest magnitudes)
    threshold: float | None = None  # or keep |w| > threshold * std(w) (Deep Compression's rule)
    balanced: bool = False  # with density: the same count in every PE's row slice
    wbits: int = 4
    ibits: int = 4
    init: str = "linear"
    method: str = "lloyd"
    n_pes: int = 64
    regs: int = 64
    word_bits: int = 64
    seed: int = 0  # for the random (Forgy) initialisation
    max_iter: int = 100
    prune_method: str = "magnitude"  # or "wanda" (needs input norms) or "n:m" (the nm pattern)
    nm: tuple[int, int] = (2, 4)  # with prune_method "n:m": keep N of every M consecutive inputs

    def __post_init__(self) -> None:
        if self.prune_method not in PRUNE_METHODS:
            raise EieInputError(f"prune_method {self.prune_method!r} is not one of "
                                f"{', '.join(PRUNE_METHODS)}")
        if isinstance(self.nm, str) or not hasattr(self.nm, "__len__") or len(self.nm) != 2:
            raise EieInputError(f"nm = {self.nm!r} must be a pair (N, M), e.g. (2, 4)")
        object.__setattr__(self, "nm", check_n_m(*self.nm))
        if self.prune_method == "wanda" and (self.density is None or self.threshold is not None
                                             or self.balanced):
            raise EieInputError("Wanda pruning (prune_method 'wanda') keeps a density of every row: give "
                                "a density, and no threshold or balanced")
        if self.prune_method == "n:m" and (self.density is not None or self.threshold is not None
                                           or self.balanced):
            n, m = self.nm
            raise EieInputError(f"N:M pruning (prune_method 'n:m') keeps {n} of every {m} inputs (density "
                                f"{n / m:g}): give no density, threshold or balanced")
        if self.density is not None and self.threshold is not None:
            raise EieInputError("give a pruning density or a threshold, not both")
        if self.balanced and self.density is None:
            raise EieInputError("load-balance-aware pruning (balanced) needs a target density")
        if self.init not in INITS:
            raise EieInputError(f"init {self.init!r} is not one of {', '.join(INITS)}")
        if self.method not in METHODS:
            raise EieInputError(f"method {self.method!r} is not one of {', '.join(METHODS)}")


def prune_mask(weights: np.ndarray, options: CompressOptions, *, input_norms: np.ndarray | None = None,
               name: str = "layer") -> np.ndarray:
    """The kept weights: the options' pruning rule, or every non-zero weight without one.

    ``input_norms`` (Wanda's ``||X_j||_2`` per input, :func:`compressor.prune.input_norms_of`)
    are needed by "wanda" and optional for "n:m"; magnitude pruning refuses them rather than
    ignore them.
    """
    if options.prune_method == "wanda":
        return prune_wanda(weights, input_norms, options.density, name=name)
    if options.prune_method == "n:m":
        scores = None if input_norms is None else wanda_scores(weights, input_norms, name=name)
        return prune_n_m(weights, *options.nm, scores, name=name)
    if input_norms is not None:
        raise EieInputError(f"layer {name!r}: input norms are used by Wanda and N:M pruning, not by "
                            "magnitude pruning (set prune_method)")
    if options.density is not None:
        if options.balanced:
            return prune_balanced(weights, options.density, options.n_pes)
        return prune_to_density(weights, options.density)
    if options.threshold is not None:
        return prune_by_threshold(weights, options.threshold)
    return weights != 0


def compress_layer(weights: np.ndarray, bias: np.ndarray | None = None,
                   options: CompressOptions | None = None, *, name: str = "layer",
                   mask: np.ndarray | None = None, input_norms: np.ndarray | None = None) -> EncodedLayer:
    """Prune (unless ``mask`` is given, e.g. after retraining), quantize and encode one layer.

    ``weights`` is ``m x n`` (outputs x inputs, as PyTorch's ``Linear.weight``). ``input_norms``:
    the L2 norm of each of the ``n`` inputs over calibration tokens, for Wanda (see
    :class:`CompressOptions`).
    """
    options = options or CompressOptions()
    w = check_weights(weights, f"layer {name!r} weights")
    m, n = w.shape
    if mask is None:
        mask = prune_mask(w, options, input_norms=input_norms, name=name)
    else:
        if input_norms is not None:
            raise EieInputError(f"layer {name!r}: give a mask or input norms to prune by, not both")
        check_mask(mask, w.shape, f"layer {name!r} mask")
    if bias is not None:
        bias = check_bias(bias, m, name)
    q = share_layer(w, bias, mask, wbits=options.wbits, init=options.init, method=options.method,
                    seed=options.seed, max_iter=options.max_iter)
    return encode_quantized(q, has_bias=bias is not None, options=options, name=name)


def encode_quantized(q: Quantized, *, has_bias: bool, options: CompressOptions | None = None,
                     name: str = "layer") -> EncodedLayer:
    """Encode a weight-shared layer as it is (codes and codebook kept, e.g. after centroid
    fine-tuning); with ``has_bias`` the last column of ``q.codes`` is the bias."""
    options = options or CompressOptions()
    return encode_layer(q.codes, q.codebook, n=q.codes.shape[1] - int(has_bias), has_bias=has_bias,
                        wbits=q.wbits, ibits=options.ibits, n_pes=options.n_pes, regs=options.regs,
                        word_bits=options.word_bits, name=name)


def model_of(layers: Sequence[EncodedLayer], *, calibration: np.ndarray | None = None,
             input_after_relu: bool = False, options: Sequence[CompressOptions] | None = None,
             **prov: object) -> EncodedModel:
    """A model of encoded layers; ``calibration`` inputs fix its activation format.

    ``options`` (one per layer) go into the provenance: once if every layer shares them.
    """
    if options:
        same = all(o == options[0] for o in options)
        prov = {"compress_options": asdict(options[0]) if same else [asdict(o) for o in options],
                "seed": options[0].seed, **prov}
    fa = activation_frac_bits(list(layers), calibration) if calibration is not None else None
    return EncodedModel(tuple(layers), fa=fa, input_after_relu=input_after_relu,
                        provenance=provenance(calibrated=calibration is not None, **prov))


def compress_model(layers: Sequence[tuple[str, np.ndarray, np.ndarray | None]],
                   options: CompressOptions | Sequence[CompressOptions] | None = None, *,
                   calibration: np.ndarray | None = None, input_after_relu: bool = False,
                   masks: Sequence[np.ndarray | None] | None = None,
                   source: str | None = None,
                   input_norms: Sequence[np.ndarray | None] | None = None) -> EncodedModel:
    """Compress ``(name, weights, bias)`` layers into a model; ``calibration`` fixes ``fa``.

    ``options`` is one CompressOptions for every layer, or one per layer (e.g. a density each).
    ``input_norms``: one per layer (or None) for Wanda / N:M pruning (:func:`compress_layer`).
    """
    per_layer = per_layer_options(options, len(layers))
    check_chain([(name, np.shape(w)[0], np.shape(w)[-1]) for name, w, _ in layers], transposable=True)
    masks = masks or [None] * len(layers)
    norms = list(input_norms) if input_norms is not None else [None] * len(layers)
    if len(norms) != len(layers):
        raise EieInputError(f"{len(norms)} sets of input norms for {len(layers)} layer(s); give one per "
                            "layer (None where unused)")
    encoded = [compress_layer(w, b, opt, name=name, mask=mk, input_norms=nx)
               for (name, w, b), mk, opt, nx in zip(layers, masks, per_layer, norms, strict=True)]
    return model_of(encoded, calibration=calibration, input_after_relu=input_after_relu,
                    options=per_layer, source=source)


def per_layer_options(options: CompressOptions | Sequence[CompressOptions] | None,
                      n_layers: int) -> list[CompressOptions]:
    """One CompressOptions per layer: the same for all, or a list of exactly one per layer."""
    if options is None or isinstance(options, CompressOptions):
        return [options or CompressOptions()] * n_layers
    options = list(options)
    if len(options) != n_layers:
        raise EieInputError(f"{len(options)} sets of compression options for {n_layers} layer(s); "
                            f"give one per layer or one for all")
    return options
