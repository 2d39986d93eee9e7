"""Parameter sweeps: a cartesian product of layers and configuration fields.

Results are one tidy DataFrame, a row per design point: every configuration
field and every scalar figure a column (units in the names), plus provenance.
Rows are appended and flushed to the CSV as points finish, so a killed sweep
loses nothing: a rerun with the same output skips finished points (a torn last
line is dropped and its point recomputed), then sorts the file by point.

Points run on any :class:`concurrent.futures.Executor`: local processes by
default, or a Dask cluster's executor (``eie sweep --dask ADDRESS``).
"""

from __future__ import annotations

import csv
import ctypes
import hashlib
import io
import itertools
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from compressor import eiefile
from compressor.errors import EieFormatError, EieInputError
from compressor.importers import SUFFIXES, load_layers
from compressor.model import EncodedModel
from compressor.outputs import write_atomic
from compressor.pipeline import compress_model
from compressor.provenance import CONTRACT_VERSION, git_commit, package_version
from eie_sim.config import FIELDS, SimConfig
from eie_sim.energy import dense_model
from eie_sim.study.batch import Inputs, figure_spread, load_inputs, load_labels, simulate_batch
from eie_sim.study.threads import limit_from_env
from eie_sim.workload.benchmarks import (
    BENCHMARKS,
    DEFAULT_SPARSITY,
    benchmark_activations,
    benchmark_model,
    check_sparsity,
    random_activations,
    variation_spreads,
)

#: Configuration fields a sweep may vary (as the fields declare themselves).
SWEEPABLE = tuple(f.name for f in FIELDS if f.sweepable)
#: Columns that differ between identical reruns: left out of reproducibility checks.
TIMING_COLUMNS = ("wall_s",)


@dataclass(frozen=True)
class Point:
    """One design point: a layer source, configuration overrides, seed and sparsity model, and
    its inputs (a batch file, with labels, or random activations at a density)."""

    index: int
    layer: str  # a benchmark name (EIE Table III), a .eie file, or a weight file
    overrides: tuple[tuple[str, object], ...]
    seed: int
    sparsity: str
    act_density: float | None  # random inputs of non-benchmark layers; None: dense
    inputs: str | None = None  # x.npy or x.npz:NAME, a vector or a batch (every layer source)
    labels: str | None = None  # y.npy: integer classes of the batch, for top-1 accuracy
    select: tuple[str | None, str | None] = (None, None)  # --layer / --bias of a weight file

    @property
    def key(self) -> str:
        """Stable identity of the point's inputs (not its index), for resuming: an edited input,
        label or layer file (another size or modification time) makes a new point."""
        files = [_file_stamp(f) for f in (self.layer, self.inputs, self.labels)
                 if f is not None and f not in BENCHMARKS]
        blob = json.dumps([self.layer, sorted(self.overrides), self.seed, self.sparsity,
                           self.act_density, self.inputs, self.labels, self.select, files], default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _file_stamp(spec: str) -> tuple[int, int] | None:
    """(size, mtime) of the file a source names (``x.npz:NAME`` names x.npz), None if absent."""
    path = Path(spec.partition(":")[0] if ".npz:" in spec.lower() else spec)
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns


def make_points(layers: Sequence[str], grid: dict[str, Sequence[object]], *,
                seeds: Sequence[int] = (0,), sparsity: str = DEFAULT_SPARSITY,
                act_density: float | None = None, inputs: str | None = None, labels: str | None = None,
                select: tuple[str | None, str | None] = (None, None)) -> list[Point]:
    """The cartesian product layers x grid values x seeds, in a deterministic order."""
    for name in grid:
        if name not in SWEEPABLE:
            raise EieInputError(f"cannot sweep {name!r}; sweepable fields: {', '.join(SWEEPABLE)}")
        if not grid[name]:
            raise EieInputError(f"sweep field {name!r} has no values")
    check_sparsity(sparsity)
    for layer in layers:
        _check_layer_source(layer)
    names = list(grid)
    points = []
    for layer, values, seed in itertools.product(layers, itertools.product(*grid.values()), seeds):
        points.append(Point(len(points), layer, tuple(zip(names, values, strict=True)), int(seed),
                            sparsity, act_density, inputs, labels, select))
    return points


def _check_layer_source(layer: str) -> None:
    if layer in BENCHMARKS:
        return
    p = Path(layer)
    if p.suffix.lower() not in (".eie", *SUFFIXES):
        raise EieInputError(f"layer {layer!r} is neither a benchmark ({', '.join(BENCHMARKS)}) nor a "
                            f".eie or weight file ({', '.join(SUFFIXES)})")
    if not p.is_file():
        raise EieInputError(f"layer file {layer!r} does not exist")


# ----------------------------------------------------------------------------- one point


def _cache_file(cache_dir: Path, layer: str, seed: int, sparsity: str,
                select: tuple[str | None, str | None]) -> Path:
    """Where a generated layer is kept: keyed by everything that shapes its weights."""
    ident: list[object] = [layer, seed, sparsity, variation_spreads(sparsity), CONTRACT_VERSION,
                           package_version(), select]
    if layer not in BENCHMARKS:
        st = Path(layer).stat()
        ident += [str(Path(layer).resolve()), st.st_size, st.st_mtime_ns]
    digest = hashlib.sha256(json.dumps(ident, default=str).encode()).hexdigest()[:20]
    return cache_dir / f"{Path(layer).stem}-{digest}.eie"


def _generate(layer: str, seed: int, sparsity: str, select: tuple[str | None, str | None]) -> EncodedModel:
    if layer in BENCHMARKS:
        return benchmark_model(layer, seed=seed, sparsity=sparsity)
    if layer.lower().endswith(".eie"):
        return eiefile.load(layer)
    return compress_model(load_layers(layer, *select), source=layer)


def prepare_layer(layer: str, seed: int, sparsity: str, cache_dir: str | None,
                  select: tuple[str | None, str | None] = (None, None)) -> None:
    """Generate and quantize a layer source once, into the shared disk cache."""
    _base_model(layer, seed, sparsity, cache_dir, select)


@lru_cache(maxsize=16)
def _base_model(layer: str, seed: int, sparsity: str, cache_dir: str | None,
                select: tuple[str | None, str | None] = (None, None)) -> EncodedModel:
    """The quantized model of a layer source, before re-encoding for a configuration.

    Generating a benchmark layer costs seconds; a disk cache lets every worker process
    (and every rerun) load it instead.
    """
    if cache_dir is None or layer.lower().endswith(".eie"):
        return _generate(layer, seed, sparsity, select)
    path = _cache_file(Path(cache_dir), layer, seed, sparsity, select)
    if path.exists():
        return eiefile.load(path)
    model = _generate(layer, seed, sparsity, select)
    path.parent.mkdir(parents=True, exist_ok=True)
    eiefile.save(model, path, force=True)  # atomic: a concurrent writer leaves a whole file
    return model


@lru_cache(maxsize=32)
def encoded_model(layer: str, seed: int, sparsity: str, n_pes: int, regs: int, word_bits: int,
                  cache_dir: str | None = None,
                  select: tuple[str | None, str | None] = (None, None)) -> EncodedModel:
    """Cached per every encoding field: (source, seed, sparsity) x (N, R, word width);
    wbits and ibits come with the source."""
    base = _base_model(layer, seed, sparsity, cache_dir, select)
    layers = [lay if (lay.n_pes, lay.regs, lay.word_bits) == (n_pes, regs, word_bits)
              else lay.reencode(n_pes=n_pes, regs=regs, word_bits=word_bits) for lay in base.layers]
    return base.with_layers(layers)


def point_inputs(point: Point, model: EncodedModel) -> Inputs:
    """The point's inputs: its batch file, a benchmark layer's own activations, or random ones."""
    if point.inputs is not None:
        return load_inputs(point.inputs, model.n_inputs)
    if point.layer in BENCHMARKS:
        return Inputs(benchmark_activations(point.layer, point.seed)[None, :],
                      f"benchmark activations (seed {point.seed})", True)
    density = 1.0 if point.act_density is None else point.act_density
    return Inputs(random_activations(model.n_inputs, density, point.seed)[None, :],
                  f"random (density {density:g}, seed {point.seed})", True)


def dense_figures(shapes: Sequence[tuple[int, int]], config: SimConfig) -> dict[str, object]:
    """The dense accelerator of contract section 7 on layers of these (outputs, inputs) shapes:
    the sweep's dense columns (cycles, time, energy, residency)."""
    d = dense_model(shapes, config)
    return {"dense_cycles": d["cycles"], "dense_time_s": d["seconds"], "dense_energy_j": d["energy_j"],
            "dense_resident": d["resident"]}


def _batch_row(results: Sequence[dict[str, object]]) -> dict[str, object]:
    """Summary columns over a batch: numbers averaged (and min / max of the main figures)."""
    df = pd.DataFrame(list(results))
    row: dict[str, object] = {}
    for col in df.columns:
        numeric = pd.api.types.is_numeric_dtype(df[col]) and not pd.api.types.is_bool_dtype(df[col])
        row[col] = float(df[col].mean()) if numeric and len(df) > 1 else df[col].iloc[0]
    for f, (_, lo, hi) in figure_spread(df).items():
        row.update({f"{f}_min": lo, f"{f}_max": hi})
    return row


def run_point(point: Point, base: SimConfig, engine: str = "fast",
              cache_dir: str | None = None) -> dict[str, object]:
    """Simulate one point (every input of its batch, in this worker); the row holds the point,
    every config field, the figures (batch means, with min and max), the dense baseline and
    provenance."""
    start = time.perf_counter()
    config = base.replace(**dict(point.overrides))
    model = encoded_model(point.layer, point.seed, point.sparsity, config.n_pes, config.regs,
                          config.word_bits, cache_dir, point.select)
    inputs = point_inputs(point, model)
    labels = load_labels(point.labels, len(inputs)) if point.labels else None
    batch = simulate_batch(model, inputs, config, engine=engine, labels=labels)
    row: dict[str, object] = {"point": point.index, "key": point.key, "layer": point.layer,
                              "seed": point.seed, "sparsity": point.sparsity, "engine": engine,
                              "input_source": inputs.source, "input_density": inputs.density,
                              "batch_size": len(inputs), "top1_accuracy": batch.accuracy}
    row.update({k: v for k, v in config.to_dict().items() if k not in ("energy_table", "check")})
    row.update(_batch_row([r.summary() for r in batch.results]))
    row.update(dense_figures([(layer.m, layer.n) for layer in model.layers], config))
    row.update(contract_version=CONTRACT_VERSION, package_version=package_version(),
               git_commit=git_commit(), energy_table=config.energy_table or "packaged",
               wall_s=time.perf_counter() - start)
    return row


# ----------------------------------------------------------------------------- worker processes

#: Linux's prctl option: a signal for this process when its parent dies.
PR_SET_PDEATHSIG = 1
#: How often a worker checks that its parent is still there (the portable fallback).
WATCH_PARENT_S = 0.5


def local_pool(jobs: int | None) -> ProcessPoolExecutor:
    """A pool of ``jobs`` local workers (default: all cores) that keep the BLAS limit and exit
    with their parent (:func:`worker_init`): every local pool eie-sim starts is made here."""
    return ProcessPoolExecutor(max_workers=jobs or os.cpu_count() or 1, initializer=worker_init,
                               initargs=(os.getpid(),))


def worker_init(parent: int) -> None:
    """Start-up of a local worker process: the parent's BLAS thread limit, and an exit when the
    parent dies.

    A sweep killed with SIGKILL cannot shut its pool down, and its workers used to live on under
    PID 1, each finishing (or idling on) its queue forever. On Linux the kernel sends a worker
    SIGTERM when its parent dies (``PR_SET_PDEATHSIG``); elsewhere, and as a second line, a
    daemon thread polls the parent's pid.
    """
    limit_from_env()
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
        except (OSError, AttributeError):
            pass  # no prctl here: the watchdog below still works
    watched = os.getppid()  # the pool's process (or its fork server)
    if watched != parent and not _alive(parent):
        os._exit(1)  # the parent died before the death signal was armed
    threading.Thread(target=_watch_parent, args=(watched,), name="eie-watch-parent", daemon=True).start()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _watch_parent(parent: int) -> None:
    """Exit the worker once it has been re-parented (its parent died)."""
    while True:
        time.sleep(WATCH_PARENT_S)
        if os.getppid() != parent:
            os._exit(1)


# ----------------------------------------------------------------------------- the sweep


def read_rows(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    """Finished rows of a (possibly killed) sweep file; a torn last line is dropped."""
    text = path.read_text(encoding="utf-8")
    if not text:
        return [], []
    lines = text.splitlines(keepends=True)
    if not lines[-1].endswith("\n"):
        lines = lines[:-1]  # the writer died mid-line: that point is recomputed
    reader = csv.DictReader(io.StringIO("".join(lines)))
    header = reader.fieldnames or []
    rows = [r for r in reader if None not in r and len(r) == len(header)]
    return list(header), rows


class RowWriter:
    """Appends rows to a CSV and flushes each one to disk.

    The file is opened at the first row: a sweep that fails before any point finishes leaves
    no file behind (not an empty one that a rerun would take for a results file).
    """

    def __init__(self, path: Path, header: list[str] | None) -> None:
        self.path = path
        self.header = header
        self.file: io.TextIOBase | None = None

    def write(self, row: dict[str, object]) -> None:
        if self.file is None:
            self.file = self.path.open("a", encoding="utf-8", newline="")
        if self.header is None:
            self.header = list(row)
            csv.writer(self.file).writerow(self.header)
        missing = set(row) ^ set(self.header)
        if missing:
            raise EieFormatError(f"{self.path}: row columns differ from the file's header "
                                 f"({', '.join(sorted(missing))}); write to a new file or --force")
        csv.writer(self.file).writerow([_cell(row[h]) for h in self.header])
        self.file.flush()
        os.fsync(self.file.fileno())

    def close(self) -> None:
        if self.file is not None:
            self.file.close()


def _cell(v: object) -> object:
    return "" if v is None else v


def check_configs(points: Sequence[Point], base: SimConfig) -> None:
    """Every point's configuration is valid (each value, and the values together)."""
    for p in points:
        base.replace(**dict(p.overrides))


def validate_points(points: Sequence[Point], base: SimConfig) -> None:
    """Refuse a sweep before any work: every point's configuration, and its inputs and labels
    against each layer source's input count."""
    check_configs(points, base)
    checked: dict[tuple[str, str | None], int] = {}
    for p in points:
        if p.inputs is None or (p.layer, p.inputs) in checked:
            continue
        n = _n_inputs(p.layer, p.select)
        inputs = load_inputs(p.inputs, n)
        if p.labels is not None:
            load_labels(p.labels, len(inputs))
        checked[(p.layer, p.inputs)] = n


def _n_inputs(layer: str, select: tuple[str | None, str | None]) -> int:
    """Inputs of a layer source's first layer, without generating or compressing it."""
    if layer in BENCHMARKS:
        return BENCHMARKS[layer].n_in
    if layer.lower().endswith(".eie"):
        return eiefile.load(layer).n_inputs
    return int(load_layers(layer, *select)[0][1].shape[1])


def finished_points(points: Sequence[Point], out: str | Path) -> int:
    """How many of ``points`` a results file already holds (0 when there is none): what a rerun
    resumes from."""
    path = Path(out)
    if not path.is_file():
        return 0
    keys = {p.key for p in points}
    return len({r.get("key") for r in read_rows(path)[1]} & keys)


def default_cache_dir(results: str | Path) -> Path:
    """Where a sweep keeps its generated layers unless told otherwise: beside its results file."""
    return Path(results).parent / ".eie-cache"


def run_sweep(points: Sequence[Point], out: str | Path, *, base: SimConfig | None = None,
              engine: str = "fast", executor: Executor | None = None, jobs: int | None = None,
              force: bool = False, progress: bool = True,
              cache_dir: str | Path | None = "default") -> pd.DataFrame:
    """Run every point not already in ``out``; return the full table sorted by point.

    Without ``force`` an existing ``out`` is resumed; its rows must belong to this sweep.
    Generated layers are kept in ``cache_dir`` (default: ``.eie-cache`` beside ``out``;
    None: no disk cache).
    """
    base = base or SimConfig()
    validate_points(points, base)
    out = Path(out)
    cache = str(default_cache_dir(out)) if cache_dir == "default" else (
        None if cache_dir is None else str(cache_dir))
    if out.exists() and force:
        out.unlink()
    header, done_rows = read_rows(out) if out.exists() else ([], [])
    keys = {p.key: p for p in points}
    foreign = [r["key"] for r in done_rows if r.get("key") not in keys]
    if foreign:
        raise EieInputError(f"{out}: holds {len(foreign)} row(s) of a different sweep; write to "
                            f"another file or pass --force to start afresh")
    done = {r["key"] for r in done_rows}
    todo = [p for p in points if p.key not in done]
    if done_rows:
        # rewrite without a torn tail so that appends start on a fresh line
        write_atomic(out, _rows_to_csv(header, done_rows), force=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    own = executor is None
    if own:
        executor = local_pool(jobs)
    writer = RowWriter(out, header or None)
    try:
        for _ in _run(todo, base, engine, executor, writer, progress, cache, done=len(points) - len(todo)):
            pass
    finally:
        writer.close()
        if own:
            executor.shutdown(cancel_futures=True)
    if not out.exists():  # nothing to do and nothing done: an empty sweep
        return pd.DataFrame()
    _, rows = read_rows(out)
    order = {p.key: p.index for p in points}
    rows.sort(key=lambda r: order[r["key"]])
    write_atomic(out, _rows_to_csv(list(rows[0]) if rows else [], rows), force=True)
    return load_results(out)


def _run(todo: Sequence[Point], base: SimConfig, engine: str, executor: Executor,
         writer: RowWriter, progress: bool, cache: str | None, done: int = 0) -> Iterable[dict]:
    # Generate each distinct layer once, in parallel, before the points fan out: the
    # points of a layer then load it from the disk cache instead of regenerating it.
    if cache is not None:
        sources = sorted({(p.layer, p.seed, p.sparsity, cache, p.select) for p in todo}, key=str)
        for f in as_completed([executor.submit(prepare_layer, *s) for s in sources]):
            f.result()
    futures = {executor.submit(run_point, p, base, engine, cache): p for p in todo}
    # the whole sweep, the points a resumed run found done included: "10/32", as announced
    bar = tqdm(total=done + len(todo), initial=done, desc="sweep", unit="point", disable=not progress)
    try:
        for fut in as_completed(futures):
            row = fut.result()
            writer.write(row)
            bar.update()
            yield row
    finally:
        bar.close()


def _rows_to_csv(header: list[str], rows: list[dict[str, object]]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=header, lineterminator="\n")
    if header:
        w.writeheader()
    w.writerows(rows)
    return buf.getvalue()


def load_results(path: str | Path) -> pd.DataFrame:
    """A sweep CSV as a DataFrame (booleans and numbers typed)."""
    p = Path(path)
    try:
        df = pd.read_csv(p)
    except FileNotFoundError:
        raise EieInputError(f"{p}: no such results file") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        raise EieFormatError(f"{p}: not a readable results CSV ({e})") from None
    for col in ("resident", "act_spilled", "dense_resident"):
        if col in df and df[col].dtype == object:
            df[col] = df[col].map({"True": True, "False": False})
    return df


def write_parquet(df: pd.DataFrame, path: str | Path, force: bool = False) -> Path | None:
    """Parquet beside the CSV when pyarrow is installed; None otherwise."""
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        return None
    return write_atomic(path, lambda tmp: df.to_parquet(tmp, index=False), force=force)
