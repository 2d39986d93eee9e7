"""What the array is asked to run: a graph of GEMV jobs.

A :class:`Job` is one layer's ``b = f(W a + bias)`` on the array: an encoded layer, where its
input comes from (a vector the host sends, or an earlier job's output), its on-chip output
function (ReLU or none) and whether its output stays on chip for the next job or goes to
the host. Jobs run one after another, each on the whole array.

- A model of ReLU layers is a chain (:meth:`Graph.chain`): every output but the last stays
  on chip, where the next layer reads it, and the last goes to the host.
- A transformer block's projections fed by the host are independent jobs, each reading a
  host vector and sending its output back.
- An LSTM step is two jobs, ``W x_t`` and ``U h_{t-1}``, both fed by the host; the host adds
  them, applies the gates' non-linearities and keeps the cell state (:mod:`eie_sim.workload.lstm`).

What runs on the host (anything between jobs that is not a GEMV: adds, gates, attention,
layer norms) is not modelled; the activations it sends and receives are counted as host
transfers (docs/ARCHITECTURE.md, "Workload graphs").

An output kept on chip sits in the PEs' activation memories only until the next job writes
its own there, so only the next job can read it.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from compressor.calibrate import float_forward
from compressor.encode import EncodedLayer
from compressor.errors import EieConfigError, EieFormatError, EieInputError
from compressor.fixedpoint import frac_bits
from compressor.model import EncodedModel, as_model
from eie_sim.fields import parse_bool

#: The name of a chain's host input.
CHAIN_INPUT = "x"


@dataclass(frozen=True, eq=False)
class Job:
    """One GEMV job on the array."""

    name: str
    layer: EncodedLayer
    input: str  # a host input's name, or an earlier job's name
    relu: bool = True  # ReLU at write-back; False: the accumulators as they are (clamped to 16 bits)
    keep: bool = False  # the output stays on chip, for the next job; False: it goes to the host


@dataclass(frozen=True, eq=False)
class Graph:
    """Jobs in the order they run, with one activation format for all of them.

    ``fa`` is the format's fraction bits (None: calibrate on the inputs simulated);
    ``input_after_relu`` names the host inputs that come from a ReLU (negative values in them
    deserve a warning).
    """

    jobs: tuple[Job, ...]
    fa: int | None = None
    input_after_relu: frozenset[str] = frozenset()
    provenance: dict[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "jobs", tuple(self.jobs))
        object.__setattr__(self, "input_after_relu", frozenset(self.input_after_relu))
        check_jobs(self.jobs)
        if self.fa is not None and not (isinstance(self.fa, int) and 0 <= self.fa <= 15):
            raise EieInputError(f"graph: activation fraction bits fa = {self.fa!r} is outside 0..15")

    @classmethod
    def chain(cls, model: EncodedModel | EncodedLayer) -> Graph:
        """A model as a chain: ReLU after every layer but the last; outputs stay on chip but the last."""
        model = as_model(model)
        last = len(model.layers) - 1
        jobs = tuple(Job(layer.name, layer, CHAIN_INPUT if i == 0 else model.layers[i - 1].name,
                         relu=i < last, keep=i < last) for i, layer in enumerate(model.layers))
        return cls(jobs, model.fa, frozenset({CHAIN_INPUT}) if model.input_after_relu else frozenset(),
                   dict(model.provenance))

    @classmethod
    def independent(cls, layers: Sequence[EncodedLayer], inputs: Sequence[str], *, fa: int | None = None,
                    input_after_relu: bool = False, **provenance: object) -> Graph:
        """Layers as independent jobs (a transformer's projections): each job, named after its
        layer, reads its own host input (``inputs``, one per layer), applies no ReLU and sends
        its output to the host. ``input_after_relu`` marks every host input as coming from a ReLU."""
        if len(inputs) != len(layers):
            raise EieInputError(f"graph: {len(inputs)} host input name(s) for {len(layers)} layer(s)")
        jobs = tuple(Job(lay.name, lay, inp, relu=False, keep=False)
                     for lay, inp in zip(layers, inputs, strict=True))
        return cls(jobs, fa, frozenset(inputs) if input_after_relu else frozenset(), provenance)

    @property
    def job_names(self) -> tuple[str, ...]:
        return tuple(j.name for j in self.jobs)

    @property
    def host_inputs(self) -> dict[str, int]:
        """The vectors the host sends, each with its length, in the order jobs first read them."""
        names = set(self.job_names)
        out: dict[str, int] = {}
        for job in self.jobs:
            if job.input not in names:
                out.setdefault(job.input, job.layer.n)
        return out

    def input_on_chip(self, i: int) -> bool:
        """Whether job ``i`` reads the output the job before it kept in the PEs' activation
        memories, so that the host sends it nothing."""
        return i > 0 and self.jobs[i - 1].keep and self.jobs[i].input == self.jobs[i - 1].name

    @property
    def outputs(self) -> tuple[str, ...]:
        """The jobs whose outputs go to the host."""
        return tuple(j.name for j in self.jobs if not j.keep)

    @property
    def is_chain(self) -> bool:
        """One host input, each job reading the one before, every output but the last kept."""
        return (len(self.host_inputs) == 1 and all(j.keep == (i < len(self.jobs) - 1) for i, j in
                                                   enumerate(self.jobs))
                and all(j.input == self.jobs[i - 1].name for i, j in enumerate(self.jobs) if i))

    def with_layers(self, layers: Sequence[EncodedLayer]) -> Graph:
        """The same graph with each job's layer replaced (re-encoded for another configuration)."""
        jobs = tuple(replace(j, layer=lay) for j, lay in zip(self.jobs, layers, strict=True))
        return Graph(jobs, self.fa, self.input_after_relu, dict(self.provenance))

    def with_fa(self, fa: int, **provenance: object) -> Graph:
        return Graph(self.jobs, fa, self.input_after_relu, {**self.provenance, **provenance})

    def layers(self) -> list[EncodedLayer]:
        """The distinct layers of the jobs, in the order jobs first use them."""
        seen: dict[int, EncodedLayer] = {}
        for j in self.jobs:
            seen.setdefault(id(j.layer), j.layer)
        return list(seen.values())


def check_jobs(jobs: Sequence[Job]) -> None:
    """Names unique, inputs that exist and fit, on-chip outputs read by the next job only."""
    if not jobs:
        raise EieInputError("graph: it has no jobs")
    names: dict[str, Job] = {}
    host: dict[str, tuple[int, str]] = {}
    for i, job in enumerate(jobs):
        where = f"graph: job {job.name!r}"
        if not isinstance(job.name, str) or not job.name:
            raise EieInputError(f"graph: job {i + 1} has no name")
        if job.name in names:
            raise EieInputError(f"{where}: the name is used twice")
        if not isinstance(job.layer, EncodedLayer):
            raise EieInputError(f"{where}: its layer must be an EncodedLayer, got {type(job.layer).__name__}")
        src = names.get(job.input)
        if src is not None:
            if src.layer.m != job.layer.n:
                raise EieInputError(f"{where} takes {job.layer.n} inputs but its input, job {src.name!r}, "
                                    f"has {src.layer.m} outputs")
        elif job.input in host:
            n, first = host[job.input]
            if n != job.layer.n:
                raise EieInputError(f"{where} takes {job.layer.n} inputs but host input {job.input!r} "
                                    f"has {n} (job {first!r} reads it)")
        elif any(j.name == job.input for j in jobs[i:]):
            raise EieInputError(f"{where} reads the output of job {job.input!r}, which runs after it")
        else:
            host[job.input] = (job.layer.n, job.name)
        prev = jobs[i - 1] if i else None
        if prev is not None and prev.keep and job.input != prev.name:
            raise EieInputError(f"graph: job {prev.name!r} keeps its output on chip, but the next job, "
                                f"{job.name!r}, does not read it; send it to the host (keep = false)")
        if src is not None and src.keep and src is not prev:
            raise EieInputError(f"{where} reads the on-chip output of job {src.name!r}, which only the "
                                f"job right after it can; send it to the host (keep = false)")
        names[job.name] = job
    if jobs[-1].keep:
        raise EieInputError(f"graph: the last job, {jobs[-1].name!r}, keeps its output on chip: nothing "
                            "reads it; send it to the host (keep = false)")


def float_outputs(graph: Graph, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Every job's float output (quantized weights, after its output function) for batches of
    host inputs (each batch x length)."""
    values: dict[str, np.ndarray] = {k: np.atleast_2d(np.asarray(v, np.float64)) for k, v in inputs.items()}
    for job in graph.jobs:
        values[job.name] = float_forward(job.layer, values[job.input], relu=job.relu)
    return values


def activation_frac_bits(graph: Graph, inputs: Mapping[str, np.ndarray]) -> int:
    """``fa`` (docs/ARCHITECTURE.md section 3): the largest magnitude among the host inputs, every
    job's float output and 1.0 when a job has a bias."""
    for name, x in inputs.items():
        if not np.all(np.isfinite(x)) or np.size(x) == 0:
            raise EieInputError(f"calibration input {name!r} must be non-empty and finite")
    values = float_outputs(graph, inputs)
    biggest = max(float(np.max(np.abs(v))) if v.size else 0.0 for v in values.values())
    if any(j.layer.has_bias for j in graph.jobs):
        biggest = max(biggest, 1.0)
    return frac_bits(biggest)


# --------------------------------------------------------------------------- graph description files


def load_graph(path: str | Path) -> Graph:
    """A graph described in TOML: ``[[job]]`` tables with ``name``, ``layer`` (``FILE.eie`` or
    ``FILE.eie:LAYER``, relative to the TOML file), ``input`` (a host input's name or an earlier
    job's), ``relu`` (default true) and ``keep`` (default false); optional top-level ``fa`` and
    ``input_after_relu`` (a list of host inputs).

    ::

        [[job]]
        name = "Wx"
        layer = "lstm.eie:W"
        input = "x"
        relu = false
    """
    from compressor import eiefile

    p = Path(path)
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise EieInputError(f"{p}: no such graph file") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise EieFormatError(f"{p}: not valid TOML: {e}") from None
    except OSError as e:
        raise EieInputError(f"{p}: cannot read the graph file ({e.strerror or e})") from None
    known = {"job", "fa", "input_after_relu"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise EieFormatError(f"{p}: unknown top-level key {unknown[0]!r}; "
                             f"a graph has {', '.join(sorted(known))}")
    tables = data.get("job")
    if not isinstance(tables, list) or not tables:
        raise EieFormatError(f"{p}: no [[job]] tables; a graph file lists its jobs as [[job]] tables")
    files: dict[Path, EncodedModel] = {}
    jobs = []
    for i, t in enumerate(tables):
        where = f"{p}: job {i + 1}"
        if not isinstance(t, dict):
            raise EieFormatError(f"{where}: must be a table")
        bad = sorted(set(t) - {"name", "layer", "input", "relu", "keep"})
        if bad:
            raise EieFormatError(f"{where}: unknown key {bad[0]!r}; a job has name, layer, input, relu, keep")
        for key in ("name", "layer", "input"):
            if not isinstance(t.get(key), str) or not t[key]:
                raise EieFormatError(f"{where}: '{key}' must be a non-empty string")
        spec, _, layer_name = t["layer"].partition(".eie:")
        file = (p.parent / (spec + ".eie" if layer_name else t["layer"])).resolve()
        if file not in files:
            files[file] = eiefile.load(file)
        model = files[file]
        if layer_name:
            found = [lay for lay in model.layers if lay.name == layer_name]
            if not found:
                raise EieInputError(f"{where}: {file} has no layer {layer_name!r}; it holds "
                                    f"{', '.join(lay.name for lay in model.layers)}")
            layer = found[0]
        elif len(model.layers) == 1:
            layer = model.layers[0]
        else:
            raise EieInputError(f"{where}: {file} holds {len(model.layers)} layers; name one as "
                                f"{t['layer']}:LAYER")
        try:
            relu = parse_bool(t.get("relu", True), f"{where}: relu")
            keep = parse_bool(t.get("keep", False), f"{where}: keep")
        except EieConfigError as e:
            raise EieFormatError(str(e)) from None
        jobs.append(Job(t["name"], layer, t["input"], relu=relu, keep=keep))
    fa = data.get("fa")
    if fa is not None and (not isinstance(fa, int) or isinstance(fa, bool)):
        raise EieFormatError(f"{p}: fa = {fa!r} must be an integer (fraction bits, 0..15)")
    after = data.get("input_after_relu", [])
    if not isinstance(after, list) or not all(isinstance(a, str) for a in after):
        raise EieFormatError(f"{p}: input_after_relu must be a list of host input names")
    try:
        return Graph(tuple(jobs), fa, frozenset(after), {"graph_file": str(p)})
    except EieInputError as e:
        raise EieInputError(f"{p}: {e}") from None


def _toml_str(text: str) -> str:
    """``text`` as a TOML basic string (the file is UTF-8: only quotes, backslashes and control
    characters are escaped)."""
    body = "".join("\\" + c if c in '"\\' else f"\\u{ord(c):04x}" if ord(c) < 0x20 or ord(c) == 0x7F
                   else c for c in text)
    return f'"{body}"'


def graph_toml(graph: Graph, layer_files: Mapping[str, str], *, comment: str = "") -> str:
    """``graph`` as a description file :func:`load_graph` reads back: each job's ``layer`` is
    ``layer_files[job.name]`` (a ``.eie`` path relative to the TOML file, holding that one layer).
    ``comment`` (lines) heads the file."""
    lines = [f"# {line}" if line else "#" for line in comment.splitlines()]
    if graph.fa is not None:
        lines.append(f"fa = {graph.fa}")
    if graph.input_after_relu:
        lines.append(f"input_after_relu = [{', '.join(map(_toml_str, sorted(graph.input_after_relu)))}]")
    for job in graph.jobs:
        lines += ["", "[[job]]", f"name = {_toml_str(job.name)}",
                  f"layer = {_toml_str(layer_files[job.name])}", f"input = {_toml_str(job.input)}",
                  f"relu = {str(job.relu).lower()}", f"keep = {str(job.keep).lower()}"]
    return "\n".join(lines) + "\n"
