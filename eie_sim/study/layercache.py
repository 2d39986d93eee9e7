"""Generated benchmark layers kept on disk between runs (``eie reproduce --cache DIR``).

Generating a Table III layer (trained-like weights, pruning, 4-bit weight sharing, Huffman
coding) takes 2-8 s, and ``eie reproduce`` needs 135 of them (9 layers x 3 sparsity models x 5
seeds). They are kept as ``.eie`` files under one cache directory (default
``$EIE_SIM_CACHE``, else ``$XDG_CACHE_HOME/eie-sim``, else ``~/.cache/eie-sim``) and reused by
every later run, whatever its output directory.

A file's name is keyed by everything that determines its bytes: the benchmark, seed, sparsity
model and its fitted spreads, the contract and package versions (the sweep's own key,
:func:`eie_sim.study.sweep._cache_file`), and, in the directory's name, the ``.eie`` format
version and the encoding the layer is generated at (PEs, registers, word width). A cached file is
never trusted blindly: before a run uses it, it is read and fully validated (checksums, format
and contract version, shape, encoding, the benchmark, seed and sparsity model it records); a file
that fails is generated again. Files are written atomically, so a killed run leaves whole files.
"""

from __future__ import annotations

import inspect
import os
from collections import Counter
from collections.abc import Iterable, Sequence
from concurrent.futures import Executor, as_completed
from pathlib import Path

from tqdm import tqdm

from compressor import eiefile
from compressor.errors import EieFormatError
from compressor.provenance import CONTRACT_VERSION
from eie_sim.study import sweep
from eie_sim.workload.benchmarks import BENCHMARKS, benchmark_model

ENV = "EIE_SIM_CACHE"
#: The encoding a benchmark layer is generated at (benchmark_model's defaults; points re-encode).
GENERATION = {name: p.default for name, p in inspect.signature(benchmark_model).parameters.items()
              if name in ("n_pes", "regs", "word_bits")}
_NO_SELECT: tuple[str | None, str | None] = (None, None)


def default_cache_dir() -> Path:
    """``$EIE_SIM_CACHE``, else ``$XDG_CACHE_HOME/eie-sim``, else ``~/.cache/eie-sim``."""
    if os.environ.get(ENV):
        return Path(os.environ[ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "eie-sim"


def layer_dir(root: str | Path) -> Path:
    """The directory of one format version and generation encoding under the cache ``root``."""
    g = GENERATION
    return Path(root) / (f"layers-eie{eiefile.FORMAT_VERSION}-contract{CONTRACT_VERSION}-"
                         f"{g['n_pes']}pe-{g['regs']}regs-{g['word_bits']}bit")


def cache_file(root: str | Path, layer: str, seed: int, sparsity: str) -> Path:
    """Where a benchmark layer is kept: the sweep's key, in :func:`layer_dir`."""
    return sweep._cache_file(layer_dir(root), layer, seed, sparsity, _NO_SELECT)


def problem(path: Path, layer: str, seed: int, sparsity: str) -> str | None:
    """Why a cached file cannot be used as this layer (None: it can)."""
    try:
        model = eiefile.load(path)  # every checksum, bound and Huffman stream
        versions = eiefile.file_versions(path)
    except EieFormatError as e:
        return str(e)
    except OSError as e:
        return f"{path}: cannot read ({e.strerror or e})"
    b = BENCHMARKS[layer]
    want = (eiefile.FORMAT_VERSION, CONTRACT_VERSION)
    if versions != want:
        return f"{path}: format/contract version {versions}, expected {want}"
    if len(model.layers) != 1:
        return f"{path}: {len(model.layers)} layers, expected 1"
    lay = model.layers[0]
    got = {"shape": (lay.m, lay.n), "n_pes": lay.n_pes, "regs": lay.regs, "word_bits": lay.word_bits,
           "benchmark": model.provenance.get("benchmark"), "seed": model.provenance.get("seed"),
           "sparsity": model.provenance.get("sparsity")}
    expected = {"shape": (b.n_out, b.n_in), **GENERATION, "benchmark": layer, "seed": seed,
                "sparsity": sparsity}
    wrong = [f"{k} {got[k]!r} (expected {v!r})" for k, v in expected.items() if got[k] != v]
    return f"{path}: {', '.join(wrong)}" if wrong else None


def ensure(root: str | Path, layer: str, seed: int, sparsity: str) -> tuple[str, str]:
    """Make sure a valid file of the layer is cached: ('cached', '') when one was, ('generated', '')
    when none was, ('regenerated', why) when the one there failed :func:`problem`."""
    path = cache_file(root, layer, seed, sparsity)
    why = problem(path, layer, seed, sparsity) if path.exists() else None
    if path.exists() and why is None:
        return "cached", ""
    model = benchmark_model(layer, seed=seed, sparsity=sparsity)
    path.parent.mkdir(parents=True, exist_ok=True)
    eiefile.save(model, path, force=True)  # atomic: a temporary file renamed into place
    return ("regenerated", why or "") if why is not None else ("generated", "")


def prepare(root: str | Path, sources: Iterable[tuple[str, int, str]], *, executor: Executor,
            progress: bool = True) -> tuple[Counter[str], list[str]]:
    """Every (layer, seed, sparsity) of ``sources`` valid in the cache, in parallel, with a progress
    bar; returns the counts of cached / generated / regenerated files and one note per regenerated
    file."""
    todo: Sequence[tuple[str, int, str]] = sorted(set(sources), key=str)
    counts: Counter[str] = Counter()
    notes: list[str] = []
    bar = tqdm(total=len(todo), desc="layers", unit="layer", disable=not progress)
    try:
        futures = [executor.submit(ensure, str(root), *s) for s in todo]
        for f in as_completed(futures):
            status, why = f.result()
            counts[status] += 1
            if why:
                notes.append(f"regenerated a cached layer that failed validation: {why}")
            bar.set_postfix_str(", ".join(f"{k} {v}" for k, v in sorted(counts.items())), refresh=False)
            bar.update()
    finally:
        bar.close()
    return counts, notes


def size_bytes(root: str | Path) -> int:
    """Bytes of every file under ``root`` (0 if it does not exist)."""
    return sum(p.stat().st_size for p in Path(root).rglob("*") if p.is_file())
