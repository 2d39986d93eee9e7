"""Import a chain of fully connected layers from an ONNX model file.

eie-sim's model (:class:`compressor.model.EncodedModel`) is a chain of fully
connected layers with a ReLU after every layer but the last. This module finds
that chain in an ONNX graph, walking from the graph's one input to its one
output:

- a layer is a ``Gemm`` (``transB``, ``alpha`` and ``beta`` folded into the
  weights and bias, ``C`` of shape ``(N,)``, ``(1, N)`` or a broadcast scalar as
  the bias; ``transA=1`` only on a first layer reading the graph input, which is
  then features x batch) or a ``MatMul`` whose second input is a constant (ONNX
  stores it inputs x outputs, so it is transposed here), either one optionally
  followed directly by an ``Add`` of a constant ``(N,)`` or ``(1, N)`` bias (on
  either side; added to ``C`` when a Gemm has both);
- weights and biases come from initializers or ``Constant`` nodes; float16,
  bfloat16, float32 and float64 are accepted and returned as float32 (other
  types, NaN or inf in a tensor, or a value float32 cannot hold, are refused
  naming the tensor);
- ``Flatten`` (axis 1, or 0) / ``Reshape`` (to 1 or 2 dims) before the first
  layer, ``Identity`` and ``Dropout`` (not in training mode: the identity)
  anywhere, and one trailing ``Softmax`` / ``LogSoftmax`` over the outputs
  (monotonic, so top-1 is unchanged; the simulator's outputs are the logits
  before it, and :attr:`OnnxChain.tail` names it) are accepted, each with a note;
- where the graph input declares its shape, the first layer's inputs must match
  its features (the last dimension, or all but the batch after a ``Flatten``),
  and each layer's inputs must equal the previous layer's outputs.

ReLU placement (the decision this module makes):

- a layer followed by another layer with no ``Relu`` between them is **refused**:
  EIE applies ReLU at write-back of every layer but the last, and a purely
  linear pair cannot be expressed without changing its sparsity (multiply the
  two matrices offline, or add the ReLU);
- a ``Relu`` after the last layer is **accepted with a note** and reported in
  :attr:`OnnxChain.relu`: the simulator's last layer has no ReLU, and the
  model's outputs are ``max(0, y)`` of the simulator's, which the caller can
  apply (the information is not lost, unlike the missing ReLU above);
- a ``Relu`` on the graph input, before any layer, is refused (eie-sim does not
  apply it; clamp the inputs yourself and export without it);
- two ``Relu`` in a row are accepted with a note (``Relu`` is idempotent).

Everything else is refused with an :class:`EieInputError` (a valid model eie-sim
cannot represent: a ``Conv`` or any other op, a branch where a tensor feeds two
nodes, several graph inputs or outputs, a weight computed by a node, external
data) or an :class:`EieFormatError` (a broken file: undecodable protobuf,
tensor data that does not match its shape, an undefined tensor, a cycle). Each
message names the file, and the node (op type and name) or tensor at fault.

Files from users are untrusted: the size is bounded before anything is read
(:data:`MAX_ONNX_BYTES`), the protobuf is decoded directly (``onnx.load`` would
follow external-data paths, which are refused here instead), no checker, shape
inference or runtime is run, and tensors are decoded here with their sizes
checked against their shapes before numpy sees them, so memory stays
proportional to the file.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from compressor.errors import EieFormatError, EieInputError
from compressor.validate import check_finite

MAX_ONNX_BYTES = 1 << 30  # VGG-16's three FC layers are ~0.5 GB as float32; protobuf itself stops at 2 GB

# ONNX TensorProto.DataType numbers used here (stable across ONNX versions)
_FLOAT, _BOOL, _INT64, _FLOAT16, _DOUBLE, _BFLOAT16 = 1, 9, 7, 10, 11, 16
_RAW_DTYPE = {_FLOAT: np.dtype("<f4"), _FLOAT16: np.dtype("<f2"), _DOUBLE: np.dtype("<f8"),
              _BFLOAT16: np.dtype("<u2"), _INT64: np.dtype("<i8"), _BOOL: np.dtype("u1")}
# The data types each use of a constant accepts: weights and biases, Reshape's shape, Dropout's flag
_KINDS = {"float": ((_FLOAT, _FLOAT16, _DOUBLE, _BFLOAT16), "float16, bfloat16, float32 or float64"),
          "int64": ((_INT64,), "int64"), "bool": ((_BOOL,), "bool")}
_EXTERNAL = 1  # TensorProto.DataLocation.EXTERNAL
# AttributeProto.AttributeType numbers, and the field each one fills
_ATTR_FLOAT, _ATTR_INT, _ATTR_TENSOR, _ATTR_FLOATS = 1, 2, 4, 6
_ATTR_FIELD = {_ATTR_FLOAT: "f", _ATTR_INT: "i", _ATTR_TENSOR: "t"}

# The attributes each accepted op may carry (legacy opsets' ones included); any other is refused,
# so that an attribute changing the meaning of an op is never silently ignored.
_ATTRS: dict[str, set[str]] = {
    "Gemm": {"alpha", "beta", "transA", "transB", "broadcast"},
    "MatMul": set(),
    "Add": {"broadcast"},
    "Relu": {"consumed_inputs"},
    "Flatten": {"axis"},
    "Reshape": {"allowzero"},
    "Identity": set(),
    "Dropout": {"ratio", "seed", "is_test", "consumed_inputs"},
    "Softmax": {"axis"},
    "LogSoftmax": {"axis"},
}
_WHY_NOT = {  # a hint for ops users commonly meet in models that are not plain MLPs
    "Conv": "convolution layers are out of scope (EIE runs fully connected layers)",
    "ConvTranspose": "convolution layers are out of scope (EIE runs fully connected layers)",
    "BatchNormalization": "fold the normalisation into the preceding layer's weights before export",
    "Sigmoid": "EIE's only non-linearity is ReLU", "Tanh": "EIE's only non-linearity is ReLU",
    "LeakyRelu": "EIE's only non-linearity is ReLU", "Clip": "EIE's only non-linearity is ReLU",
    "Transpose": "export the weights already transposed (the activations must stay a vector)",
}


@dataclass(frozen=True)
class OnnxChain:
    """The fully connected chain found in an ONNX model.

    ``layers`` are ``(name, W, b)`` with ``W`` float32 ``outputs x inputs`` (PyTorch's
    ``Linear.weight`` orientation) and ``b`` float32 ``(outputs,)`` or ``None``;
    ``relu[i]`` says whether layer ``i`` is followed by a ReLU (always true but for the
    last layer, where true means the model clamps its outputs and the simulator does not);
    ``tail`` is ``"Softmax"`` / ``"LogSoftmax"`` when one ends the graph; ``notes`` says
    what was accepted beyond plain layers and ReLUs.
    """

    layers: list[tuple[str, np.ndarray, np.ndarray | None]]
    relu: list[bool]
    tail: str | None = None
    notes: list[str] = field(default_factory=list)
    input_name: str = ""
    output_name: str = ""


def read_onnx(path: str | Path, *, max_bytes: int = MAX_ONNX_BYTES) -> OnnxChain:
    """The fully connected chain of the ONNX model in ``path`` (refusing files over ``max_bytes``)."""
    p = Path(path)
    try:
        size = p.stat().st_size
        if size > max_bytes:
            raise EieInputError(f"{p}: {size:,} bytes is more than the {max_bytes:,} bytes eie-sim reads "
                                f"from an ONNX file")
        with p.open("rb") as f:
            # bounded even if the file grows after stat(); read(n) allocates n bytes up front
            data = f.read(size + 1)
    except FileNotFoundError:
        raise EieInputError(f"{p}: no such file") from None
    except IsADirectoryError:
        raise EieInputError(f"{p}: is a directory, expected an .onnx file") from None
    except OSError as e:
        raise EieInputError(f"{p}: cannot be read ({e})") from None
    return parse_onnx(data, str(p), max_bytes=max_bytes)


def parse_onnx(data: bytes, source: str = "<onnx bytes>", *, max_bytes: int = MAX_ONNX_BYTES) -> OnnxChain:
    """The fully connected chain of a serialised ONNX model; ``source`` names it in messages."""
    if len(data) > max_bytes:
        raise EieInputError(f"{source}: {len(data):,} bytes is more than the {max_bytes:,} bytes eie-sim "
                            f"reads from an ONNX file")
    try:
        import onnx
        from google.protobuf.message import DecodeError
    except ImportError:
        raise EieInputError(f"{source}: reading .onnx files needs the optional package 'onnx' "
                            "(pip install 'eie-sim[onnx]')") from None
    model = onnx.ModelProto()
    try:
        # Not onnx.load: it would follow external-data paths named in the file.
        model.ParseFromString(data)
    except DecodeError as e:
        raise EieFormatError(f"{source}: not a readable ONNX model (protobuf decoding failed: {e})") from None
    except (ValueError, RuntimeError, OverflowError, UnicodeDecodeError) as e:  # defensive: other backends
        raise EieFormatError(f"{source}: not a readable ONNX model ({e})") from None
    if not model.HasField("graph"):
        raise EieFormatError(f"{source}: not an ONNX model (no graph"
                             f"{'; the file is empty' if not data else ''})")
    try:
        return _Reader(model, source).read()
    except UnicodeDecodeError as e:  # a name that is not UTF-8 (protobuf decodes strings lazily)
        raise EieFormatError(f"{source}: a name in the graph is not valid UTF-8 ({e})") from None


# ----------------------------------------------------------------------------- the reader


@dataclass
class _Const:
    """A constant tensor: an initializer or a Constant node's value, decoded when used."""

    where: str  # e.g. "initializer 'fc1.weight'"
    tensor: Any = None  # a TensorProto
    floats: list[float] | None = None  # a Constant's value_float / value_floats
    scalar: bool = False


@dataclass
class _Layer:
    name: str
    label: str  # the node that made it, for messages
    w: np.ndarray  # float64, outputs x inputs
    w_where: str  # the weight tensor, for messages
    b: np.ndarray | None = None
    b_where: str = "bias"
    relu: bool = False


class _Reader:
    def __init__(self, model: Any, source: str) -> None:
        self.model, self.graph, self.src = model, model.graph, source
        self.notes: list[str] = []
        self.opset = 13  # the default domain's version, for Softmax's default axis
        for imp in model.opset_import:
            if imp.domain in ("", "ai.onnx"):
                self.opset = int(imp.version)

    # -- messages

    def input_error(self, msg: str) -> EieInputError:
        return EieInputError(f"{self.src}: {msg}")

    def format_error(self, msg: str) -> EieFormatError:
        return EieFormatError(f"{self.src}: {msg}")

    def label(self, node: Any) -> str:
        """``Gemm node 'fc1'``, or ``Gemm node #3 (unnamed)``: how messages name a node."""
        op = node.op_type or "(no op type)"
        return f"{op} node {node.name!r}" if node.name else f"{op} node #{self.index[id(node)]} (unnamed)"

    # -- the graph

    def read(self) -> OnnxChain:
        g = self.graph
        # One wrapper object per node, kept alive: protobuf may hand out a new wrapper on each access,
        # and nodes are identified by id() below.
        self.nodes = list(g.node)
        self.index = {id(node): i for i, node in enumerate(self.nodes)}
        self._check_names()
        if len(g.sparse_initializer):
            raise self.input_error(f"sparse initializer {g.sparse_initializer[0].values.name!r}: sparse "
                                   "tensors are not supported; store the weights dense")
        self.consts: dict[str, _Const] = {}
        for t in g.initializer:
            self._define_const(t.name, _Const(f"initializer {t.name!r}", tensor=t))
        self.producer: dict[str, Any] = {}
        ops = []  # the nodes that compute (not Constants)
        for node in self.nodes:
            if node.op_type == "Constant" and node.domain in ("", "ai.onnx"):
                self._constant_node(node)
                continue
            ops.append(node)
            for out in node.output:
                if out:
                    if out in self.producer or out in self.consts:
                        raise self.format_error(f"tensor {out!r} is defined twice (by {self.label(node)})")
                    self.producer[out] = node
        inputs = [v for v in g.input if v.name not in self.consts]  # old IR versions list initializers
        if len(inputs) != 1:
            names = ", ".join(repr(v.name) for v in inputs) or "none"
            raise self.input_error(f"the graph has {len(inputs)} inputs ({names}); eie-sim imports a chain "
                                   "of layers with one input")
        if len(g.output) != 1:
            names = ", ".join(repr(v.name) for v in g.output) or "none"
            raise self.input_error(f"the graph has {len(g.output)} outputs ({names}); eie-sim imports a "
                                   "chain of layers with one output")
        self.input, self.output = inputs[0], g.output[0].name
        if self.input.name in self.producer:
            raise self.format_error(f"graph input {self.input.name!r} is also computed by "
                                    f"{self.label(self.producer[self.input.name])}")
        self.consumers: dict[str, list[Any]] = {}
        for node in ops:
            for name in node.input:
                if not name:
                    continue  # an omitted optional input
                if name not in self.consts and name not in self.producer and name != self.input.name:
                    raise self.format_error(f"input {name!r} of {self.label(node)} is not defined by "
                                            "any node, initializer or graph input")
                users = self.consumers.setdefault(name, [])
                if not users or users[-1] is not node:
                    users.append(node)
        if self.output not in self.producer and self.output != self.input.name:
            raise self.format_error(f"graph output {self.output!r} is not computed by any node")
        chain = self._walk()
        result = self._build(chain)  # first: it names a weight computed by a node precisely
        visited = {id(n) for n in chain}
        for node in ops:
            if id(node) not in visited:
                raise self.input_error(f"{self.label(node)} is not on the chain from input "
                                       f"{self.input.name!r} to output {self.output!r}; eie-sim imports a "
                                       "single chain of layers (a side branch cannot be imported)")
        return result

    def _check_names(self) -> None:
        """Every name read below must be text: protobuf hands out a string that is not valid UTF-8 as
        bytes, which would become a layer's name."""
        g = self.graph
        groups = [("the graph's inputs, outputs and initializers",
                   [v.name for v in [*g.input, *g.output, *g.initializer]])]
        groups += [(f"node #{i}", [node.op_type, node.name, node.domain, *node.input, *node.output,
                                   *(s for a in node.attribute for s in (a.name, a.ref_attr_name))])
                   for i, node in enumerate(self.nodes)]
        for where, names in groups:
            for name in names:
                if not isinstance(name, str):
                    raise self.format_error(f"a name in {where} is not valid UTF-8 text: {name!r}")

    def _define_const(self, name: str, const: _Const) -> None:
        if not name:
            raise self.format_error(f"{const.where}: a constant tensor has no name")
        if name in self.consts:
            raise self.format_error(f"tensor {name!r} is defined twice ({self.consts[name].where} and "
                                    f"{const.where})")
        self.consts[name] = const

    def _constant_node(self, node: Any) -> None:
        label = self.label(node)
        outs = [o for o in node.output if o]
        if len(outs) != 1 or len(node.input) != 0 or len(node.attribute) != 1:
            raise self.format_error(f"{label} must have no inputs, one output and one value attribute")
        attr = node.attribute[0]
        where = f"tensor {outs[0]!r} ({label})"
        if attr.name == "value" and self._attr_type(attr) == _ATTR_TENSOR:
            const = _Const(where, tensor=attr.t)
        elif attr.name == "value_float" and self._attr_type(attr) == _ATTR_FLOAT:
            const = _Const(where, floats=[attr.f], scalar=True)
        elif attr.name == "value_floats" and self._attr_type(attr) == _ATTR_FLOATS:
            const = _Const(where, floats=list(attr.floats))
        else:
            raise self.input_error(f"{label}: its value attribute {attr.name!r} is not a float tensor "
                                   "(value, value_float or value_floats)")
        if outs[0] in self.producer:
            raise self.format_error(f"tensor {outs[0]!r} is defined twice (by {label})")
        self._define_const(outs[0], const)

    def _walk(self) -> list[Any]:
        """The nodes from the graph input to the graph output, each feeding only the next."""
        chain: list[Any] = []
        seen: set[int] = set()
        cur = self.input.name
        while True:
            users = self.consumers.get(cur, [])
            if cur == self.output:
                if users:
                    raise self.input_error(f"graph output {cur!r} also feeds {self._list(users)}: a branch, "
                                           "not a chain of layers")
                return chain
            if not users:
                what = f"the output of {self.label(chain[-1])}" if chain else "the graph input"
                raise self.format_error(f"tensor {cur!r} ({what}) is used by no node and is not the graph "
                                        f"output {self.output!r}")
            if len(users) > 1:
                raise self.input_error(f"tensor {cur!r} feeds {len(users)} nodes ({self._list(users)}): a "
                                       "branch, not a chain of layers")
            node = users[0]
            if id(node) in seen:
                raise self.format_error(f"{self.label(node)} is reached twice: the graph has a cycle")
            seen.add(id(node))
            chain.append(node)
            outs = [o for o in node.output if o]
            if not outs or node.output[0] == "":
                raise self.format_error(f"{self.label(node)} has no output")
            for extra in outs[1:]:  # e.g. Dropout's mask: fine while nothing uses it
                if extra in self.consumers or extra == self.output:
                    raise self.input_error(f"the second output {extra!r} of {self.label(node)} is used: a "
                                           "branch, not a chain of layers")
            cur = node.output[0]

    def _list(self, nodes: list[Any]) -> str:
        return ", ".join(self.label(n) for n in nodes[:4]) + (", ..." if len(nodes) > 4 else "")

    # -- attributes and tensors

    def _attr_type(self, attr: Any) -> int:
        """The attribute's type (old files may leave it unset when the value field is set)."""
        if attr.ref_attr_name:
            raise self.format_error(f"attribute {attr.name!r} refers to a function attribute outside a "
                                    "function")
        if attr.type:
            return int(attr.type)
        for typ, fld in _ATTR_FIELD.items():
            if attr.HasField(fld):
                return typ
        return 0

    def _attrs(self, node: Any) -> dict[str, Any]:
        allowed = _ATTRS[node.op_type]
        out: dict[str, Any] = {}
        for attr in node.attribute:
            if attr.name not in allowed:
                raise self.input_error(f"{self.label(node)} has attribute {attr.name!r}, which eie-sim "
                                       f"does not support for {node.op_type}")
            if attr.name in out:
                raise self.format_error(f"{self.label(node)} has attribute {attr.name!r} twice")
            typ = self._attr_type(attr)
            if typ not in (_ATTR_INT, _ATTR_FLOAT):
                raise self.format_error(f"{self.label(node)}: attribute {attr.name!r} has type {typ}, "
                                        "expected an int or a float")
            out[attr.name] = attr.i if typ == _ATTR_INT else attr.f
        return out

    def _int_attr(self, node: Any, attrs: dict[str, Any], name: str, default: int,
                  allowed: tuple[int, ...] | None = None) -> int:
        v = attrs.get(name, default)
        if not isinstance(v, int) or (allowed is not None and v not in allowed):
            want = f"one of {', '.join(map(str, allowed))}" if allowed else "an integer"
            raise self.input_error(f"{self.label(node)}: attribute {name}={v!r} must be {want}")
        return v

    def _float_attr(self, node: Any, attrs: dict[str, Any], name: str, default: float) -> float:
        v = attrs.get(name, default)
        if isinstance(v, int):  # protobuf gives an int for an int-typed attribute
            raise self.format_error(f"{self.label(node)}: attribute {name} must be a float, got an int")
        if not math.isfinite(v):
            raise self.input_error(f"{self.label(node)}: attribute {name}={v!r} is not finite")
        return float(v)

    def _const(self, node: Any, name: str, what: str, kind: str = "float") -> tuple[np.ndarray, str]:
        """The constant tensor ``name`` (an input of ``node``) as an array -- float64 for ``kind``
        "float", else int64 or bool -- and how to name it."""
        if name not in self.consts:
            by = self.producer.get(name)
            origin = (f"computed by {self.label(by)}" if by is not None
                      else "the graph input" if name == self.input.name else "not defined")
            raise self.input_error(f"{self.label(node)}: its {what} {name!r} is not a constant "
                                   f"(initializer or Constant node) but {origin}; eie-sim needs fixed "
                                   "weights")
        c = self.consts[name]
        types, wanted = _KINDS[kind]
        dt = _FLOAT if c.floats is not None else int(c.tensor.data_type)
        if dt not in types:
            raise self.input_error(f"{c.where}, the {what} of {self.label(node)}, has data type "
                                   f"{_type_name(dt)}; it must be {wanted}")
        if c.floats is not None:
            arr = np.asarray(c.floats, np.float64).reshape(() if c.scalar else (-1,))
            check_finite(arr, f"{self.src}: {c.where}")
        else:
            arr = self._decode(c.tensor, c.where)
        return arr, c.where

    def _decode(self, t: Any, where: str) -> np.ndarray:
        """A TensorProto (of a type in ``_RAW_DTYPE``) as float64, int64 or bool, its data size checked
        against its dims before anything is allocated."""
        if t.data_location == _EXTERNAL or len(t.external_data):
            raise self.input_error(f"{where} is stored in an external data file; eie-sim reads only "
                                   "self-contained .onnx files (re-save with onnx.save(model, path, "
                                   "save_as_external_data=False))")
        if t.HasField("segment"):
            raise self.input_error(f"{where} is a segment of a larger tensor; segmented tensors are not "
                                   "supported")
        dt = int(t.data_type)
        dims = [int(d) for d in t.dims]
        if any(d < 0 for d in dims):
            raise self.format_error(f"{where} has a negative dimension in its shape {tuple(dims)}")
        count = math.prod(dims)
        raw = t.raw_data
        typed: Any = {_FLOAT: t.float_data, _DOUBLE: t.double_data,
                      _INT64: t.int64_data}.get(dt, t.int32_data)  # 16-bit floats and bool: int32_data
        if raw and len(typed):
            raise self.format_error(f"{where} holds its values twice (raw_data and a typed field)")
        dtype = _RAW_DTYPE[dt]
        have = len(raw) // dtype.itemsize if raw else len(typed)
        if (len(raw) % dtype.itemsize if raw else 0) or have != count:
            held = f"{len(raw):,} bytes of raw data" if raw else f"{len(typed):,} values"
            raise self.format_error(f"{where} has shape {tuple(dims)} ({count:,} values of "
                                    f"{_type_name(dt)}) but holds {held}")
        if raw:
            arr = np.frombuffer(raw, dtype)
        elif dt in (_FLOAT16, _BFLOAT16, _BOOL):  # 16-bit patterns, or 0/1, stored one per int32
            bits = np.asarray(typed, np.int64)
            top = 1 if dt == _BOOL else 0xFFFF
            bad = bits[(bits < 0) | (bits > top)]
            if bad.size:
                raise self.format_error(f"{where}: a {_type_name(dt)} value is stored as {int(bad[0])}, "
                                        f"outside 0..{top}")
            arr = bits.astype(np.uint8 if dt == _BOOL else np.uint16).view(dtype)
        else:
            arr = np.asarray(typed, dtype.newbyteorder("="))
        if dt == _INT64:
            return arr.astype(np.int64).reshape(dims)
        if dt == _BOOL:
            return (arr != 0).reshape(dims)
        if dt == _BFLOAT16:  # the upper half of a float32
            arr = (arr.astype(np.uint32) << 16).view(np.float32)
        with np.errstate(invalid="ignore"):  # a signalling NaN warns on the cast; it is refused just below
            arr = arr.astype(np.float64).reshape(dims)
        check_finite(arr, f"{self.src}: {where}")
        return arr

    # -- the layers

    def _build(self, chain: list[Any]) -> OnnxChain:
        layers: list[_Layer] = []
        features, rank = self._input_features()
        tail: str | None = None
        prev_op, prev_out = "", self.input.name  # the node before, and the activation it computed
        for i, node in enumerate(chain):
            op, label = node.op_type, self.label(node)
            if node.domain not in ("", "ai.onnx") or op not in _ATTRS:
                dom = f" (domain {node.domain!r})" if node.domain not in ("", "ai.onnx") else ""
                why = _WHY_NOT.get(op, "eie-sim imports chains of Gemm / MatMul+Add layers with Relu between "
                                       "them")
                raise self.input_error(f"{label}{dom} is not supported: {why}")
            attrs = self._attrs(node)
            if tail is not None:
                raise self.input_error(f"{label} follows the {tail}; only a trailing {tail} is accepted")
            data = self._data_input(node, prev_out)
            if op in ("Identity", "Dropout"):
                self._identity(node)
            elif op in ("Flatten", "Reshape"):
                if layers:
                    raise self.input_error(f"{label} between layers is not supported: only a leading "
                                           "Flatten or Reshape (before the first layer) is")
                features, rank = (self._flatten(node, attrs, rank) if op == "Flatten"
                                  else self._reshape(node))
            elif op in ("Gemm", "MatMul"):
                if layers and not layers[-1].relu:
                    raise self.input_error(
                        f"{layers[-1].label} and {label} have no Relu between them; eie-sim's model "
                        "applies ReLU after every layer but the last (multiply the two weight matrices "
                        "into one layer, or add the ReLU)")
                if op == "Gemm":
                    layer, trans_a = self._gemm(node, attrs, first=i == 0)
                    if trans_a:  # the graph input is features x batch: its first dimension is the features
                        features = self.input_dims[0] if len(self.input_dims) == 2 else None
                else:
                    layer = self._matmul(node)
                self._check_inputs(layer, layers, features)
                layers.append(layer)
                features, rank = layer.w.shape[0], (2 if op == "Gemm" else rank)
            elif op == "Add":
                if prev_op not in ("Gemm", "MatMul"):
                    raise self.input_error(f"{label} is not the bias of a layer: an Add is accepted only "
                                           "directly after a Gemm or MatMul, adding a constant vector")
                self._add_bias(node, 1 - data, layers[-1])
            elif op == "Relu":
                if not layers:
                    raise self.input_error(f"{label} acts on the graph input, before any layer; eie-sim "
                                           "does not apply it (apply max(0, x) to the inputs and export "
                                           "without it)")
                if layers[-1].relu:
                    self.notes.append(f"{label} repeats the ReLU before it (idempotent), accepted")
                layers[-1].relu = True
            else:  # Softmax, LogSoftmax
                if not layers:
                    raise self.input_error(f"{label} comes before any layer")
                self._softmax(node, attrs, rank)
                tail = op
            prev_op, prev_out = op, node.output[0]
        if not layers:
            raise self.input_error(f"the graph from {self.input.name!r} to {self.output!r} has no Gemm or "
                                   "MatMul layer")
        if layers[-1].relu:
            self.notes.append(f"the last layer, {layers[-1].label}, is followed by a ReLU; eie-sim's last "
                              "layer has none, so the model's outputs are max(0, y) of the simulator's")
        names = _unique([lay.name for lay in layers])
        out = []
        for name, lay in zip(names, layers, strict=True):
            w = _as_float32(lay.w, f"{self.src}: {lay.w_where} ({lay.label})")
            b = _as_float32(lay.b, f"{self.src}: {lay.b_where} ({lay.label})") if lay.b is not None else None
            out.append((name, w, b))
        return OnnxChain(out, [lay.relu for lay in layers], tail, self.notes, self.input.name, self.output)

    def _data_input(self, node: Any, prev: str) -> int:
        """Which input of ``node`` is the activation ``prev`` flowing down the chain."""
        positions = [k for k, name in enumerate(node.input) if name == prev]
        if len(positions) != 1:
            raise self.input_error(f"{self.label(node)} uses the activation {prev!r} as {len(positions)} "
                                   "of its inputs")
        k = positions[0]
        if node.op_type != "Add" and k != 0:  # the weight of Gemm/MatMul, the shape of Reshape, ...
            raise self.input_error(f"{self.label(node)} takes the activation {prev!r} as input {k}, not as "
                                   "its first input (W @ x, with the activation on the right, is not "
                                   "supported)")
        return k

    def _input_features(self) -> tuple[int | None, int | None]:
        """The graph input's feature count (its last dimension) and rank, where declared."""
        t = self.input.type
        self.input_dims: list[int | None] = []
        if not t.HasField("tensor_type") or not t.tensor_type.HasField("shape"):
            return None, None
        self.input_dims = [d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else None
                           for d in t.tensor_type.shape.dim]
        return (self.input_dims[-1] if self.input_dims else None), len(self.input_dims)

    def _identity(self, node: Any) -> None:
        if node.op_type == "Dropout":
            if len(node.input) > 2 and node.input[2]:
                mode, _ = self._const(node, node.input[2], "training_mode input", "bool")
                if mode.size != 1 or bool(mode.reshape(-1)[0]):
                    raise self.input_error(f"{self.label(node)} is in training mode; export for inference")
            self.notes.append(f"{self.label(node)} treated as the identity (inference)")
        elif len(node.input) != 1:
            raise self.format_error(f"{self.label(node)} must have one input")
        else:
            self.notes.append(f"{self.label(node)} accepted (the identity)")

    def _flatten(self, node: Any, attrs: dict[str, Any], rank: int | None) -> tuple[int | None, int]:
        axis = self._int_attr(node, attrs, "axis", 1)
        if rank is not None and axis < 0:
            axis += rank
        if axis not in (0, 1):
            raise self.input_error(f"{self.label(node)} flattens from axis {attrs.get('axis')}; only axis 1 "
                                   "(batch x features) or 0 is supported")
        dims = self.input_dims[axis:]
        feats = math.prod(dims) if dims and all(dims) else None  # type: ignore[arg-type]
        self.notes.append(f"leading {self.label(node)} accepted: each input is taken as a flat vector"
                          + (f" of {feats} features" if feats else "")
                          + (" (axis 0: a batch of one)" if axis == 0 else ""))
        return feats, 2

    def _reshape(self, node: Any) -> tuple[int | None, int]:
        if len(node.input) != 2:
            raise self.format_error(f"{self.label(node)} must have two inputs (data, shape)")
        shape, where = self._const(node, node.input[1], "shape input", "int64")
        if shape.ndim != 1 or not 1 <= shape.size <= 2:
            raise self.input_error(f"{self.label(node)}: its shape {where} must hold 1 or 2 values "
                                   f"(features, or batch x features), got shape {shape.shape}")
        # the dims a Flatten after it sees (-1 and 0 depend on the input: unknown here)
        self.input_dims = [int(d) if d > 0 else None for d in shape]
        self.notes.append(f"leading {self.label(node)} to {tuple(int(s) for s in shape)} accepted: each "
                          "input is taken as a flat vector")
        return self.input_dims[-1], int(shape.size)

    def _gemm(self, node: Any, attrs: dict[str, Any], *, first: bool) -> tuple[_Layer, bool]:
        """A Gemm as a layer: W = alpha * B' (outputs x inputs), b = beta * C; and its transA."""
        label = self.label(node)
        if not 2 <= len(node.input) <= 3:
            raise self.format_error(f"{label} must have 2 or 3 inputs (A, B, C)")
        trans_a = self._int_attr(node, attrs, "transA", 0, (0, 1))
        trans_b = self._int_attr(node, attrs, "transB", 0, (0, 1))
        alpha = self._float_attr(node, attrs, "alpha", 1.0)
        beta = self._float_attr(node, attrs, "beta", 1.0)
        if trans_a and not first:
            # transA reads the activation as features x batch; only the graph input can be laid out so
            raise self.input_error(f"{label} has transA=1 on an activation computed by another node, whose "
                                   "layout is batch x features; only a first layer reading the graph input "
                                   "may transpose it")
        if trans_a:
            self.notes.append(f"{label} has transA=1: the graph input is taken as features x batch")
        b_arr, w_where = self._const(node, node.input[1], "weight input B")
        if b_arr.ndim != 2 or b_arr.size == 0:
            raise self.input_error(f"{label}: weight {w_where} must be a non-empty 2-D matrix, got shape "
                                   f"{b_arr.shape}")
        w = alpha * (b_arr if trans_b else b_arr.T)  # B is inputs x outputs unless transB=1
        self._check_scaled(w, w_where, node, "alpha", alpha)
        layer = _Layer(self._layer_name(node, node.input[1]), label, w, w_where)
        if len(node.input) == 3 and node.input[2]:
            c, layer.b_where = self._const(node, node.input[2], "bias input C")
            layer.b = beta * self._bias_vector(node, c, layer.b_where, w.shape[0], scalar_ok=True)
            self._check_scaled(layer.b, layer.b_where, node, "beta", beta)
        return layer, bool(trans_a)

    def _matmul(self, node: Any) -> _Layer:
        label = self.label(node)
        if len(node.input) != 2:
            raise self.format_error(f"{label} must have 2 inputs")
        b_arr, where = self._const(node, node.input[1], "weight input")
        if b_arr.ndim != 2 or b_arr.size == 0:
            raise self.input_error(f"{label}: weight {where} must be a non-empty 2-D (inputs x outputs) "
                                   f"matrix, got shape {b_arr.shape}")
        return _Layer(self._layer_name(node, node.input[1]), label, b_arr.T, where)  # ONNX: x @ B

    def _add_bias(self, node: Any, k: int, layer: _Layer) -> None:
        """Fold ``Add(y, c)`` (input ``k`` is the constant) into the layer's bias."""
        if len(node.input) != 2:
            raise self.format_error(f"{self.label(node)} must have 2 inputs")
        c, where = self._const(node, node.input[k], "bias")
        vec = self._bias_vector(node, c, where, layer.w.shape[0], scalar_ok=False)
        layer.b = vec if layer.b is None else layer.b + vec
        layer.b_where = where if layer.b_where == "bias" else f"{layer.b_where} + {where}"

    def _bias_vector(self, node: Any, c: np.ndarray, where: str, m: int, *, scalar_ok: bool) -> np.ndarray:
        """A bias of shape (m,) or (1, m) -- or, for Gemm's C, a broadcast scalar -- as an (m,) vector."""
        if c.shape in ((m,), (1, m)):
            return c.reshape(m)
        if scalar_ok and c.size == 1 and c.ndim <= 2:
            return np.full(m, float(c.reshape(-1)[0]))
        raise self.input_error(f"{self.label(node)}: bias {where} has shape {c.shape}; the layer has {m} "
                               f"outputs, so it must have shape ({m},) or (1, {m})")

    def _check_scaled(self, arr: np.ndarray, where: str, node: Any, name: str, value: float) -> None:
        if value != 1.0:
            check_finite(arr, f"{self.src}: {where} times {name}={value!r} of {self.label(node)}")
            self.notes.append(f"{name}={value!r} of {self.label(node)} folded into {where}")

    def _check_inputs(self, layer: _Layer, layers: list[_Layer], features: int | None) -> None:
        """The layer's input count against the previous layer's outputs, or the graph input's features."""
        n = layer.w.shape[1]
        if layers:
            prev = layers[-1]
            if prev.w.shape[0] != n:
                raise self.input_error(f"{layer.label} takes {n} inputs but the layer before it, "
                                       f"{prev.label}, has {prev.w.shape[0]} outputs; shapes must chain")
        elif features is not None and features != n:
            raise self.input_error(f"{layer.label} takes {n} inputs but the graph input "
                                   f"{self.input.name!r} gives {features} features per sample")

    def _softmax(self, node: Any, attrs: dict[str, Any], rank: int | None) -> None:
        default = -1 if self.opset >= 13 else 1
        axis = self._int_attr(node, attrs, "axis", default)
        r = rank or 2
        if axis < 0:
            axis += r
        if axis != r - 1:
            raise self.input_error(f"{self.label(node)} normalises over axis {attrs.get('axis', default)}, "
                                   "not over the outputs (the last axis); top-1 would change")
        self.notes.append(f"trailing {self.label(node)} accepted: it does not change the top-1 output; "
                          "the simulator's outputs are the values before it")

    def _layer_name(self, node: Any, weight: str) -> str:
        """A PyTorch-style weight's module name (``net.0`` of ``net.0.weight``), else the node's
        name, else the weight's (exporters name nodes like ``/net/net.0/Gemm``)."""
        if weight.endswith(".weight") and weight.removesuffix(".weight"):
            return weight.removesuffix(".weight")
        return node.name or weight or f"layer{self.index[id(node)]}"


def _type_name(dt: int) -> str:
    try:
        from onnx import TensorProto

        return TensorProto.DataType.Name(dt).lower()
    except ValueError:
        return f"unknown type {dt}"


def _unique(names: list[str]) -> list[str]:
    """The names, with ``-2``, ``-3`` ... appended to repeats (layer names key the .eie file)."""
    seen: dict[str, int] = {}
    out = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        out.append(name if seen[name] == 1 else f"{name}-{seen[name]}")
    return out


def _as_float32(arr: np.ndarray, where: str) -> np.ndarray:
    """float64 -> float32, refusing values that overflow float32 (e.g. float64 weights of 1e300)."""
    with np.errstate(over="ignore"):
        out = arr.astype(np.float32)
    if not np.isfinite(out).all():
        bad = int(np.count_nonzero(~np.isfinite(out)))
        raise EieInputError(f"{where}: {bad} value(s) are too large for float32 (|x| > 3.4e38)")
    return out

