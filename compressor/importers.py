"""Import trained layers from ``.npy``, ``.npz``, ``.safetensors`` and ``.onnx`` files.

Files are untrusted: numpy files are read with ``allow_pickle=False``, and every
failure becomes an :class:`EieFormatError` (the file is broken) or an
:class:`EieInputError` (the array is unusable) naming the file and the array.
Weights are ``m x n`` (outputs x inputs), as PyTorch stores ``Linear.weight``.

:func:`load_layers` reads a whole model (a chain of layers). In ``.npz`` and
``.safetensors`` files a weight named ``X.weight`` (or ``weight``) is paired with
the bias ``X.bias`` (``bias``) when the file has one, as PyTorch names a
``Linear``'s parameters; without ``--layer`` names the ``*.weight`` matrices are
taken in order, and refused when their order is ambiguous:

- ``.npz`` keeps the order the arrays were saved in (``np.savez(**state_dict)``
  keeps the model's); that order is taken when it is also the names' natural
  order (numbers compared as numbers: ``net.2`` before ``net.10``);
- ``.safetensors`` writers reorder tensors (by dtype, then name), so only the
  names can give the order: it is taken when the names differ only in their
  numbers (``net.0 / net.2``, ``fc1 / fc2``, ``layers.3.linear``).

``.onnx`` files are read by :mod:`compressor.onnx_import`.

:func:`load_named_layers` reads independent layers (a transformer's projections, which
do not chain) selected by glob patterns over module names, e.g.
``encoder.layer.*.intermediate.dense`` or ``model.layers.*.self_attn.q_proj``.
"""

from __future__ import annotations

import difflib
import fnmatch
import io
import math
import re
import tokenize
import zipfile
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO

import numpy as np

from compressor.errors import EieFormatError, EieInputError
from compressor.model import check_chain
from compressor.validate import check_finite

SUFFIXES = (".npy", ".npz", ".safetensors", ".onnx")
_NPY_MAGIC = b"\x93NUMPY"
_NPY_MAX_HEADER = 10000  # np.load's default max_header_size
# numpy parses a .npy header as a Python literal: these are what a malformed one raises
_NPY_HEADER_ERRORS = (ValueError, SyntaxError, tokenize.TokenError, EOFError)


def _check_npy_size(f: BinaryIO, size: int, where: str) -> None:
    """Refuse a ``.npy`` stream of ``size`` bytes whose header declares more data than follows.

    Runs before numpy allocates the declared array, so that a 100-byte file cannot ask for
    terabytes. Streams that are not ``.npy`` (a pickle, a zip) are left to ``np.load``.
    """
    head = f.read(8)
    if len(head) < 8 or not head.startswith(_NPY_MAGIC):
        return
    version = (head[6], head[7])
    if version not in ((1, 0), (2, 0), (3, 0)):
        return  # np.load rejects the version
    # numpy reads the whole declared header before checking its length: check it first
    len_bytes = f.read(2 if version == (1, 0) else 4)
    head_len = int.from_bytes(len_bytes, "little")
    if head_len > min(_NPY_MAX_HEADER, size):
        raise EieFormatError(f"{where}: .npy header length {head_len:,} is corrupt (numpy reads at "
                             f"most {_NPY_MAX_HEADER:,} bytes; the file has {size:,})")
    read = (np.lib.format.read_array_header_1_0 if version == (1, 0)
            else np.lib.format.read_array_header_2_0)
    try:
        shape, _, dtype = read(io.BytesIO(len_bytes + f.read(head_len)))
    except _NPY_HEADER_ERRORS as e:
        raise EieFormatError(f"{where}: not a readable .npy array (bad header: {e})") from None
    need = math.prod(shape) * dtype.itemsize
    have = size - f.tell()
    if need > have:
        raise EieFormatError(f"{where}: the header declares a {dtype} array of shape {shape} "
                             f"({need:,} bytes) but only {max(have, 0):,} bytes of data follow "
                             f"(truncated or corrupt file)")


def load_npy(path: str | Path) -> np.ndarray:
    """One array from a ``.npy`` file, never unpickling anything."""
    p = Path(path)
    try:
        with p.open("rb") as f:
            _check_npy_size(f, p.stat().st_size, str(p))
        arr = np.load(p, allow_pickle=False)
    except FileNotFoundError:
        raise EieInputError(f"{p}: no such file") from None
    except IsADirectoryError:
        raise EieInputError(f"{p}: is a directory, expected a .npy file") from None
    except (ValueError, EOFError, OSError) as e:
        # numpy raises ValueError for object arrays (pickle) and bad headers, EOFError/OSError
        # for truncated data; all mean the file cannot be used as a plain array.
        raise EieFormatError(f"{p}: not a readable .npy array ({e})") from None
    if not isinstance(arr, np.ndarray):
        arr.close()
        raise EieFormatError(f"{p}: holds several arrays; use a .npz file with --layer NAME")
    return arr


def _npz_arrays(p: Path) -> dict[str, np.ndarray]:
    try:
        with zipfile.ZipFile(p) as zf:  # a file that is not a zip fails here, not in np.load
            for info in zf.infolist():  # np.load reads any member that starts like a .npy
                with zf.open(info) as f:
                    _check_npy_size(f, info.file_size, f"{p}[{info.filename.removesuffix('.npy')}]")
        with np.load(p, allow_pickle=False) as z:
            arrays = {name: z[name] for name in z.files}
    except FileNotFoundError:
        raise EieInputError(f"{p}: no such file") from None
    # zlib.error: corrupt deflate data; NotImplementedError: an unsupported compression method;
    # RuntimeError: an encrypted member (zipfile's exceptions for these)
    except (ValueError, EOFError, OSError, zipfile.BadZipFile, KeyError, zlib.error,
            NotImplementedError, RuntimeError, tokenize.TokenError, SyntaxError) as e:
        raise EieFormatError(f"{p}: not a readable .npz archive ({e})") from None
    # np.load hands over members that are not .npy arrays as raw bytes: they are not weights
    return {name: a for name, a in arrays.items() if isinstance(a, np.ndarray)}


def _safetensors(p: Path) -> tuple[object, type[Exception]]:
    """safetensors' reader and its error class, for an existing file ``p``; clear errors when the
    optional package is missing or the file is."""
    try:
        from safetensors import SafetensorError
        from safetensors.numpy import safe_open
    except ImportError:
        raise EieInputError(f"{p}: reading .safetensors needs the optional package "
                            "'safetensors' (pip install 'eie-sim[examples]')") from None
    if not p.is_file():
        raise EieInputError(f"{p}: no such file")
    return safe_open, SafetensorError


def _safetensors_arrays(p: Path, names: list[str | None] | None) -> dict[str, np.ndarray]:
    """The tensors named (all when ``names`` holds no name)."""
    safe_open, SafetensorError = _safetensors(p)
    try:
        with safe_open(str(p), framework="numpy") as f:
            keys = list(f.keys())
            wanted = [n for n in names or [] if n is not None] or keys
            missing = [n for n in wanted if n not in keys]
            if missing:
                raise EieInputError(f"{p}: no tensor named {missing[0]!r}; it holds {', '.join(keys)}")
            return {n: f.get_tensor(n) for n in wanted}
    except SafetensorError as e:
        raise EieFormatError(f"{p}: not a readable .safetensors file ({e})") from None
    except TypeError as e:  # dtypes numpy has no type for, e.g. bfloat16
        raise EieFormatError(f"{p}: a tensor has a dtype numpy cannot hold ({e})") from None


def _pick(arrays: dict[str, np.ndarray], name: str, p: Path) -> np.ndarray:
    if name not in arrays:
        raise EieInputError(f"{p}: no array named {name!r}; it holds {', '.join(sorted(arrays))}")
    return arrays[name]


def load_layer(path: str | Path, *, layer: str | None = None,
               bias: str | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """Weights (and optionally a bias) of one layer.

    ``.npz`` / ``.safetensors``: ``layer`` and ``bias`` name arrays in the file; without
    ``layer`` the file must hold one 2-D array. A weight named ``X.weight`` comes with its
    bias ``X.bias`` when ``bias`` is not given and the file has one (as :func:`load_layers`).
    ``.npy``: the file is the weight matrix and ``bias`` is the path of another ``.npy``.
    ``.onnx``: the model must be a single fully connected layer.
    """
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix == ".npy":
        if layer is not None:
            raise EieInputError(f"{p}: a .npy file holds one array; --layer applies to .npz and "
                                ".safetensors files")
        w, b = load_npy(p), (load_npy(bias) if bias is not None else None)
        return check_weight_array(w, str(p)), (check_bias_array(b, w.shape[0], f"{bias}", n=w.shape[1])
                                               if b is not None else None)
    biases = [bias] if bias is not None else None
    if suffix in (".npz", ".safetensors") and layer is None:
        arrays = _arrays(p, suffix, None)
        matrices = [k for k, a in arrays.items() if a.ndim == 2]
        if len(matrices) != 1:
            raise EieInputError(f"{p}: holds {len(matrices)} 2-D arrays ({', '.join(sorted(matrices))}); "
                                "choose the weight matrix with --layer NAME")
        layers = _named_layers(p, matrices, biases, arrays)
    else:
        layers = load_layers(p, [layer] if layer is not None else None, biases)
    if len(layers) != 1:
        raise EieInputError(f"{p}: holds a chain of {len(layers)} layers "
                            f"({', '.join(name for name, _, _ in layers)}); load it as a model")
    return layers[0][1], layers[0][2]


def load_layers(path: str | Path, layer: str | Sequence[str] | None = None,
                bias: str | Sequence[str | None] | None = None, *,
                notes: list[str] | None = None) -> list[tuple[str, np.ndarray, np.ndarray | None]]:
    """A model's layers ``(name, weights, bias)`` in order, weights float64 ``outputs x inputs``.

    ``layer`` / ``bias``: array names in a ``.npz`` / ``.safetensors`` file, a comma-separated
    string (as ``--layer a,b`` gives it) or a sequence; an empty bias name means none for that
    layer. Without ``layer`` the file's ``*.weight`` matrices are taken in order (see the module
    docstring); without ``bias`` each ``X.weight`` is paired with ``X.bias`` when present. A
    name ``X`` that is not an array but ``X.weight`` is, means ``X.weight`` (a PyTorch module).
    The shapes must chain; an error says which layer would fit transposed.
    ``.npy``: one layer (``bias`` is the path of another ``.npy``). ``.onnx``: the graph's chain
    (:func:`compressor.onnx_import.read_onnx`); its notes are appended to ``notes``.
    """
    p = Path(path)
    suffix = p.suffix.lower()
    names, biases = _name_list(layer, "layer"), _name_list(bias, "bias")
    if notes is None:
        notes = []
    if suffix == ".onnx":
        if names is not None or biases is not None:
            raise EieInputError(f"{p}: --layer and --bias name arrays in .npz and .safetensors files; an "
                                "ONNX model's layers are taken from its graph")
        from compressor.onnx_import import read_onnx

        chain = read_onnx(p)
        notes.extend(chain.notes)
        return [(name, w.astype(np.float64), None if b is None else b.astype(np.float64))
                for name, w, b in chain.layers]
    if suffix == ".npy":
        if biases is not None and len(biases) != 1:
            raise EieInputError(f"{p}: a .npy file holds one layer but --bias names {len(biases)} files")
        w, b = load_layer(p, layer=names[0] if names else None, bias=biases[0] if biases else None)
        return [(p.stem, w, b)]
    if suffix not in (".npz", ".safetensors"):
        raise EieInputError(f"{p}: unsupported file type {suffix or '(none)'}; use one of "
                            f"{', '.join(SUFFIXES)}")
    if names is None:
        arrays = _arrays(p, suffix, None)
        return _named_layers(p, _weights_in_order(arrays, p, suffix, notes), biases, arrays)
    if suffix == ".safetensors":  # load only the tensors used (a file may hold a large model)
        keys = _safetensors_shapes(p)  # the header only
        names = [_module_weight(n, keys) for n in names]
        paired = [b for b in map(_bias_of, names) if b in keys] if biases is None else []
        return _named_layers(p, names, biases, _arrays(p, suffix, [*names, *paired, *(biases or [])]))
    return _named_layers(p, names, biases, _arrays(p, suffix, None))


def _named_layers(p: Path, names: list[str], biases: list[str | None] | None,
                  arrays: dict[str, np.ndarray]) -> list[tuple[str, np.ndarray, np.ndarray | None]]:
    """The layers named (in this order), each with its given bias or its paired ``X.bias``."""
    names = [_module_weight(n, arrays) for n in names]
    if biases is not None and len(biases) != len(names):
        raise EieInputError(f"{p}: --bias names {len(biases)} arrays for {len(names)} layer(s)")
    weights = [check_weight_array(_pick(arrays, n, p), f"{p}[{n}]") for n in names]
    check_chain([(n, w.shape[0], w.shape[1]) for n, w in zip(names, weights, strict=True)], str(p),
                transposable=True)
    out = []
    for i, (name, w) in enumerate(zip(names, weights, strict=True)):
        paired = _bias_of(name)
        b_name = biases[i] if biases is not None else (paired if paired in arrays else None)
        b = None
        if b_name is not None:
            where = f"{p}[{b_name}]" + (f" (the bias paired with {name})" if biases is None else "")
            b = check_bias_array(_pick(arrays, b_name, p), w.shape[0], where, n=w.shape[1])
        out.append((_layer_name(name, p), w, b))
    return out


def _module_weight(name: str, keys: dict[str, object]) -> str:
    """``X`` names the array ``X``, or else ``X.weight`` when the file has that (a PyTorch module)."""
    return f"{name}.weight" if name not in keys and f"{name}.weight" in keys else name


def _name_list(value: str | Sequence[str | None] | None, what: str) -> list[str | None] | None:
    """``"a,b"`` or ``["a", "b"]`` as a list; empty names become None (no bias for that layer)."""
    if value is None:
        return None
    items = value.split(",") if isinstance(value, str) else list(value)
    out = [(s.strip() or None) if isinstance(s, str) else s for s in items]
    if what == "layer" and None in out:
        raise EieInputError(f"--layer {value!r} has an empty layer name")
    return out


def _bias_of(name: str | None) -> str | None:
    """PyTorch's bias name for a weight name: ``X.weight`` -> ``X.bias``, ``weight`` -> ``bias``."""
    if name == "weight":
        return "bias"
    if name is not None and name.endswith(".weight"):
        return name.removesuffix(".weight") + ".bias"
    return None


def _is_weight(name: str) -> bool:
    return name == "weight" or name.endswith(".weight")


def _layer_name(name: str, p: Path) -> str:
    return p.stem if name == "weight" else name.removesuffix(".weight")


_NUMBER = re.compile(r"\d+")


def _natural_key(name: str) -> list[tuple[int, int | str]]:
    """Sort key comparing digit runs as numbers (``net.2`` before ``net.10``)."""
    return [(0, int(part)) if part.isdigit() else (1, part)
            for part in re.split(r"(\d+)", name) if part]


def _weights_in_order(arrays: dict[str, np.ndarray], p: Path, suffix: str, notes: list[str]) -> list[str]:
    """The file's ``*.weight`` matrices in model order (see the module docstring), or its one matrix."""
    weights = [k for k in arrays if _is_weight(k)]
    if not weights:  # not PyTorch names: the file must hold a single matrix, as load_layer has always asked
        matrices = [k for k, a in arrays.items() if a.ndim == 2]
        if len(matrices) != 1:
            raise EieInputError(f"{p}: holds {len(matrices)} 2-D arrays ({', '.join(sorted(matrices))}) "
                                "and none named *.weight; choose the weight matrices with --layer NAME")
        return matrices
    for k in weights:  # a conv or normalisation layer's weight: the file is not a chain of Linear layers
        if arrays[k].ndim != 2:
            raise EieInputError(f"{p}: {k} has shape {arrays[k].shape}, not a fully connected layer's 2-D "
                                "weight matrix (a convolution or normalisation layer?); eie-sim imports "
                                "chains of Linear layers: name the layers to compress with --layer")
    natural = sorted(weights, key=_natural_key)
    if suffix == ".npz":
        ok = natural == weights
        why = f"their saved order ({', '.join(weights)}) is not the names' natural order"
    else:
        ok = len({_NUMBER.sub("#", k) for k in weights}) == 1
        why = (".safetensors files do not keep the model's order and the names differ in more than a "
               "layer number")
    if len(weights) > 1 and not ok:
        raise EieInputError(f"{p}: the order of its {len(weights)} weight matrices is ambiguous: {why}; give "
                            f"the layers in order with --layer, e.g. --layer {','.join(natural)}")
    used = set(weights) | {_bias_of(k) for k in weights}
    ignored = [k for k in arrays if k not in used]
    if ignored:
        notes.append(f"{p}: arrays not part of any layer, ignored: {', '.join(ignored)}")
    return natural


def _arrays(p: Path, suffix: str, names: list[str | None] | None) -> dict[str, np.ndarray]:
    """The file's arrays: ``.npz`` all of them; ``.safetensors`` those in ``names`` (all when None;
    a name the file lacks is refused, listing what it holds)."""
    return _npz_arrays(p) if suffix == ".npz" else _safetensors_arrays(p, names)


def check_weight_array(w: np.ndarray, where: str, *, dtype: type = np.float64) -> np.ndarray:
    """A real, finite, non-empty 2-D matrix, as float64 (or ``dtype``)."""
    if w.dtype.kind not in "fiu":
        raise EieInputError(f"{where}: weights must be real numbers, got dtype {w.dtype}")
    if w.ndim != 2:
        raise EieInputError(f"{where}: weights must be a 2-D (outputs x inputs) matrix, got shape "
                            f"{w.shape}")
    if w.size == 0:
        raise EieInputError(f"{where}: weights are empty (shape {w.shape})")
    w = w.astype(dtype)
    check_finite(w, f"{where}: weights")
    return w


def check_bias_array(b: np.ndarray, m: int, where: str, *, n: int | None = None,
                     dtype: type = np.float64) -> np.ndarray:
    """A real, finite ``(m,)`` vector, as float64 (or ``dtype``); ``n`` (the inputs) lets the error
    spot weights given transposed."""
    if b.dtype.kind not in "fiu":
        raise EieInputError(f"{where}: bias must be real numbers, got dtype {b.dtype}")
    if b.shape != (m,):
        hint = (" (it has one value per input: are the weights transposed? they must be outputs x "
                "inputs, PyTorch's Linear.weight)" if n is not None and n != m and b.shape == (n,) else "")
        raise EieInputError(f"{where}: bias has shape {b.shape}; the weights have {m} outputs, "
                            f"so it must have shape ({m},){hint}")
    b = b.astype(dtype)
    check_finite(b, f"{where}: bias")
    return b


# --------------------------------------------------------------------------- layers by name pattern


def load_tensors(path: str | Path, names: Sequence[str]) -> dict[str, np.ndarray]:
    """The named tensors of a ``.safetensors`` or ``.npz`` file, as stored (no pickle); a name the
    file lacks is refused, listing what it holds. For the parts of a model that are not Linear
    layers (embeddings, normalisation scales), which a caller checks against its own shapes."""
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix not in (".npz", ".safetensors"):
        raise EieInputError(f"{p}: tensors are read by name from .npz and .safetensors files, not "
                            f"{suffix or '(no suffix)'} files")
    arrays = _arrays(p, suffix, list(names))
    return {n: _pick(arrays, n, p) for n in names}



def _safetensors_shapes(p: Path) -> dict[str, tuple[int, ...]]:
    """Every tensor's shape, from the file's header only (nothing loaded)."""
    safe_open, SafetensorError = _safetensors(p)
    try:
        with safe_open(str(p), framework="numpy") as f:
            return {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}
    except SafetensorError as e:
        raise EieFormatError(f"{p}: not a readable .safetensors file ({e})") from None


def _pattern_list(patterns: str | Sequence[str], p: Path) -> list[str]:
    items = patterns.split(",") if isinstance(patterns, str) else list(patterns)
    if not all(isinstance(s, str) for s in items):
        raise EieInputError(f"{p}: layer name patterns must be strings, got {patterns!r}")
    out = [s.strip() for s in items]
    if not out or not all(out):
        raise EieInputError(f"{p}: empty layer name pattern in {patterns!r}")
    return out


def _no_match(p: Path, pattern: str, shapes: dict[str, tuple[int, ...]], modules: list[str]) -> str:
    """The error for a pattern that selects nothing: a few names that exist and the closest one."""
    names = modules or sorted(shapes, key=_natural_key)
    examples = ", ".join(names[:4]) + (", ..." if len(names) > 4 else "")
    # the most similar name, the first in natural order among equals (difflib would take the last)
    ratios = [difflib.SequenceMatcher(None, pattern, name).ratio() for name in names]
    close = [names[int(np.argmax(ratios))]] if names else []
    msg = (f"{p}: no layer matches the pattern {pattern!r} (a module X with a tensor X.weight); the file "
           f"holds {len(shapes)} tensor(s) of {len(modules)} module(s), e.g. {examples}")
    if close:
        msg += f"; the closest name is {close[0]!r}"
    plain = [k for k in shapes if fnmatch.fnmatchcase(k, pattern)]
    if plain:
        msg += f"; it matches {plain[0]!r}, which is not a module's weight (name the module, X for X.weight)"
    return msg


def load_named_layers(path: str | Path, patterns: str | Sequence[str], *, notes: list[str] | None = None,
                      dtype: type = np.float64) -> list[tuple[str, np.ndarray, np.ndarray | None]]:
    """Independent layers ``(name, weights, bias)`` whose module names match glob patterns.

    ``patterns`` (a sequence, or one comma-separated string) are :mod:`fnmatch` patterns,
    case-sensitive, over module names ``X`` of a ``.safetensors`` or ``.npz`` file having a
    tensor ``X.weight`` (a trailing ``.weight`` in a pattern is ignored): Hugging Face names such
    as ``encoder.layer.*.intermediate.dense`` or ``model.layers.*.mlp.up_proj``. ``X.weight``
    is paired with ``X.bias`` when the file has it (LLaMA's projections have none: bias None).
    Layers are returned once each, in natural name order (numbers compared as numbers), weights
    ``outputs x inputs`` as ``dtype`` (float32 halves the memory of a large model). Unlike
    :func:`load_layers` nothing is chained: a transformer's projections do not chain. Only the
    matched tensors of a ``.safetensors`` file are read. A note of what was selected is
    appended to ``notes``.

    Raises EieInputError naming the file and pattern for a pattern matching no module (with
    names that exist and the closest one) and for a matched weight that is not 2-D (a 1-D
    normalisation scale, a 3-D tensor); EieFormatError for a file that cannot be read.
    """
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix not in (".npz", ".safetensors"):
        raise EieInputError(f"{p}: layers are selected by name pattern in .npz and .safetensors files, "
                            f"not {suffix or '(no suffix)'} files")
    pats = _pattern_list(patterns, p)
    arrays = _npz_arrays(p) if suffix == ".npz" else None
    shapes = ({k: a.shape for k, a in arrays.items()} if arrays is not None else _safetensors_shapes(p))
    modules = sorted((k.removesuffix(".weight") for k in shapes if k.endswith(".weight")), key=_natural_key)
    matched: dict[str, str] = {}  # module -> the first pattern that selected it
    for pat in pats:
        hits = [mod for mod in modules if fnmatch.fnmatchcase(mod, pat.removesuffix(".weight"))]
        if not hits:
            raise EieInputError(_no_match(p, pat, shapes, modules))
        for h in hits:
            matched.setdefault(h, pat)
    names = sorted(matched, key=_natural_key)
    for mod in names:
        shape = shapes[f"{mod}.weight"]
        where = f"{p}: the pattern {matched[mod]!r} matched {mod}.weight"
        if len(shape) == 1:
            raise EieInputError(f"{where}, a 1-D tensor of shape {shape} (a normalisation layer's scale?), "
                                "not a Linear layer's 2-D (outputs x inputs) weight matrix; make the "
                                "pattern more specific")
        if len(shape) != 2:
            raise EieInputError(f"{where}, a {len(shape)}-D tensor of shape {shape}, not a Linear layer's "
                                "2-D (outputs x inputs) weight matrix (a convolution, or stacked "
                                "experts?); make the pattern more specific")
        b_shape = shapes.get(f"{mod}.bias")
        if b_shape is not None and b_shape != (shape[0],):
            raise EieInputError(f"{p}[{mod}.bias] (the bias paired with {mod}.weight): bias has shape "
                                f"{b_shape}; the weights have {shape[0]} outputs, so it must have shape "
                                f"({shape[0]},)")
    if arrays is None:
        wanted = [f"{m}.weight" for m in names] + [f"{m}.bias" for m in names if f"{m}.bias" in shapes]
        arrays = _safetensors_arrays(p, wanted)
    out = []
    for mod in names:
        w = check_weight_array(arrays[f"{mod}.weight"], f"{p}[{mod}.weight]", dtype=dtype)
        b = arrays.get(f"{mod}.bias")
        if b is not None:
            b = check_bias_array(b, w.shape[0], f"{p}[{mod}.bias]", n=w.shape[1], dtype=dtype)
        out.append((mod, w, b))
    if notes is not None:
        used = len(out) + sum(b is not None for _, _, b in out)
        notes.append(f"{p}: {len(out)} layer(s) matched {', '.join(pats)}; {len(shapes) - used} other "
                     "tensor(s) not selected")
    return out


#: The characters that make a ``--layer`` value a glob pattern rather than array names.
PATTERN_CHARS = "*?["


def is_name_pattern(text: str | None) -> bool:
    """Whether a ``--layer`` value selects modules by glob pattern (:func:`load_named_layers`)
    rather than naming arrays (:func:`load_layers`): it holds one of ``*``, ``?``, ``[``."""
    return text is not None and any(c in text for c in PATTERN_CHARS)


def layers_chain(layers: Sequence[tuple[str, np.ndarray, np.ndarray | None]]) -> bool:
    """Whether ``(name, weights, bias)`` layers, in this order, chain: each one's outputs (rows)
    are the next one's inputs (columns), so that they can run as one model."""
    return all(a.shape[0] == b.shape[1] for (_, a, _), (_, b, _) in zip(layers, layers[1:], strict=False))
