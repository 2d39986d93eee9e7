"""Import trained layers from ``.npy``, ``.npz`` and ``.safetensors`` files.

Files are untrusted: numpy files are read with ``allow_pickle=False``, and every
failure becomes an :class:`EieFormatError` (the file is broken) or an
:class:`EieInputError` (the array is unusable) naming the file and the array.
Weights are ``m x n`` (outputs x inputs), as PyTorch stores ``Linear.weight``.
"""

from __future__ import annotations

import io
import math
import tokenize
import zipfile
import zlib
from pathlib import Path
from typing import BinaryIO

import numpy as np

from compressor.errors import EieFormatError, EieInputError
from compressor.validate import check_finite

SUFFIXES = (".npy", ".npz", ".safetensors")
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


def _safetensors_arrays(p: Path, names: list[str | None]) -> dict[str, np.ndarray]:
    try:
        from safetensors import SafetensorError
        from safetensors.numpy import safe_open
    except ImportError:
        raise EieInputError(f"{p}: reading .safetensors needs the optional package "
                            "'safetensors' (pip install 'eie-sim[examples]')") from None
    if not p.is_file():
        raise EieInputError(f"{p}: no such file")
    try:
        with safe_open(str(p), framework="numpy") as f:
            keys = list(f.keys())
            wanted = [n for n in names if n is not None] or keys
            missing = [n for n in wanted if n not in keys]
            if missing:
                raise EieInputError(f"{p}: no tensor named {missing[0]!r}; it holds {', '.join(keys)}")
            return {n: f.get_tensor(n) for n in wanted}
    except SafetensorError as e:
        raise EieFormatError(f"{p}: not a readable .safetensors file ({e})") from None
    except TypeError as e:  # dtypes numpy has no type for, e.g. bfloat16
        raise EieFormatError(f"{p}: a tensor has a dtype numpy cannot hold ({e})") from None


def _pick(arrays: dict[str, np.ndarray], name: str | None, p: Path, what: str) -> np.ndarray:
    if name is not None:
        if name not in arrays:
            raise EieInputError(f"{p}: no array named {name!r}; it holds {', '.join(sorted(arrays))}")
        return arrays[name]
    matrices = [k for k, a in arrays.items() if a.ndim == 2]
    if len(matrices) != 1:
        raise EieInputError(f"{p}: holds {len(matrices)} 2-D arrays ({', '.join(sorted(matrices))}); "
                            f"choose the {what} with --layer NAME")
    return arrays[matrices[0]]


def load_layer(path: str | Path, *, layer: str | None = None,
               bias: str | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """Weights (and optionally a bias) of one layer.

    ``.npz`` / ``.safetensors``: ``layer`` and ``bias`` name arrays in the file.
    ``.npy``: the file is the weight matrix and ``bias`` is the path of another ``.npy``.
    """
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix == ".npy":
        if layer is not None:
            raise EieInputError(f"{p}: a .npy file holds one array; --layer applies to .npz and "
                                ".safetensors files")
        w, b = load_npy(p), (load_npy(bias) if bias is not None else None)
        where_b = f"{bias}"
    elif suffix in (".npz", ".safetensors"):
        arrays = (_npz_arrays(p) if suffix == ".npz" else _safetensors_arrays(p, [layer, bias]))
        w = _pick(arrays, layer, p, "weight matrix")
        b = _pick(arrays, bias, p, "bias") if bias is not None else None
        where_b = f"{p}[{bias}]"
    else:
        raise EieInputError(f"{p}: unsupported file type {suffix or '(none)'}; use one of "
                            f"{', '.join(SUFFIXES)}")
    where_w = f"{p}" + (f"[{layer}]" if layer else "")
    return check_weight_array(w, where_w), (check_bias_array(b, w.shape[0], where_b)
                                            if b is not None else None)


def check_weight_array(w: np.ndarray, where: str) -> np.ndarray:
    """A real, finite, non-empty 2-D matrix, as float64."""
    if w.dtype.kind not in "fiu":
        raise EieInputError(f"{where}: weights must be real numbers, got dtype {w.dtype}")
    if w.ndim != 2:
        raise EieInputError(f"{where}: weights must be a 2-D (outputs x inputs) matrix, got shape "
                            f"{w.shape}")
    if w.size == 0:
        raise EieInputError(f"{where}: weights are empty (shape {w.shape})")
    w = w.astype(np.float64)
    check_finite(w, f"{where}: weights")
    return w


def check_bias_array(b: np.ndarray, m: int, where: str) -> np.ndarray:
    if b.dtype.kind not in "fiu":
        raise EieInputError(f"{where}: bias must be real numbers, got dtype {b.dtype}")
    if b.shape != (m,):
        raise EieInputError(f"{where}: bias has shape {b.shape}; the weights have {m} outputs, "
                            f"so it must have shape ({m},)")
    b = b.astype(np.float64)
    check_finite(b, f"{where}: bias")
    return b
