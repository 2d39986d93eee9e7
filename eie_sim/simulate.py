"""The Python API: ``simulate(workload, activations, config, engine=...)``.

A workload is an encoded layer, a model (a chain of layers) or a :class:`Graph` of jobs;
activations are one vector (for a workload with one host input) or a mapping from each host
input's name to its vector.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, replace

import numpy as np

from compressor.encode import EncodedLayer
from compressor.errors import EieInputError, EieWarning
from compressor.model import EncodedModel
from compressor.provenance import provenance
from eie_sim.checks import check_runs
from eie_sim.config import SimConfig
from eie_sim.engines import ENGINES
from eie_sim.functional import bias_fix, input_fix
from eie_sim.layout import layer_input
from eie_sim.memory import LayerPlan, plan_model
from eie_sim.result import Result, build_result
from eie_sim.run import LayerRun
from eie_sim.workload.graph import CHAIN_INPUT, Graph, activation_frac_bits

Workload = EncodedLayer | EncodedModel | Graph
#: The engine every entry point uses unless told otherwise.
DEFAULT_ENGINE = "fast"
#: Setting this environment variable to 1 turns the conservation checks on for every run
#: (as ``SimConfig.check`` does for one); the test suite sets it, so every test run is checked,
#: including sweep workers in other processes.
CHECK_ENV = "EIE_SIM_CHECK"


def as_graph(workload: Workload) -> Graph:
    """A layer or a model as a chain; a graph as it is."""
    if isinstance(workload, Graph):
        return workload
    if isinstance(workload, EncodedLayer | EncodedModel):
        return Graph.chain(workload)
    raise EieInputError(f"expected an EncodedLayer, EncodedModel or Graph, got {type(workload).__name__}")


def adapt_encoding(graph: Graph, config: SimConfig) -> tuple[Graph, list[str]]:
    """Re-encode layers whose PE count, R or word width differ from the configuration (each
    distinct layer once)."""
    notes = []
    want = (config.n_pes, config.regs, config.word_bits)
    done: dict[int, EncodedLayer] = {}
    for layer in graph.layers():
        have = (layer.n_pes, layer.regs, layer.word_bits)
        if have != want:
            done[id(layer)] = layer.reencode(n_pes=want[0], regs=want[1], word_bits=want[2])
            notes.append(f"layer {layer.name!r}: encoded for N={have[0]}, R={have[1]}, "
                         f"{have[2]}-bit words; re-encoded for N={want[0]}, R={want[1]}, "
                         f"{want[2]}-bit words from its decoded quantized matrix")
    if not notes:
        return graph, notes
    return graph.with_layers([done.get(id(j.layer), j.layer) for j in graph.jobs]), notes


def host_vectors(activations: object, graph: Graph) -> dict[str, object]:
    """The activations as {host input: vector}; a lone vector serves a graph with one host input."""
    names = list(graph.host_inputs)
    if isinstance(activations, Mapping):
        missing = [n for n in names if n not in activations]
        extra = [n for n in activations if n not in names]
        if missing or extra:
            which = f"missing: {', '.join(missing)}" if missing else f"unknown: {', '.join(extra)}"
            raise EieInputError(f"the graph's host inputs are {', '.join(names)}; {which}")
        return {n: activations[n] for n in names}
    if len(names) != 1:
        raise EieInputError(f"the graph has {len(names)} host inputs ({', '.join(names)}); give the "
                            "activations as a mapping from each name to its vector")
    return {names[0]: activations}


def check_activations(x: object, n: int, name: str, reader: str, *, after_relu: bool,
                      transposed_hint: str = "") -> tuple[np.ndarray, list[str]]:
    """A 1-D finite float vector of ``n`` values for host input ``name``, which job ``reader``
    reads first; warnings for oddities."""
    what = "activations" if name == CHAIN_INPUT else f"activations {name!r}"
    arr = np.asarray(x)
    if arr.dtype.kind not in "fiub":
        raise EieInputError(f"{what} must be numeric, got dtype {arr.dtype}")
    if arr.ndim != 1 or arr.shape[0] != n:
        raise EieInputError(f"{what} have shape {arr.shape}; the first layer {reader!r} takes a vector "
                            f"of {n} inputs{transposed_hint if arr.ndim == 1 else ''}")
    arr = arr.astype(np.float64)
    bad = np.flatnonzero(~np.isfinite(arr))
    if len(bad):
        raise EieInputError(f"{what} hold {len(bad)} NaN or inf value(s), the first at index {bad[0]}")
    notes = []
    if after_relu and np.any(arr < 0):
        notes.append(f"{int(np.sum(arr < 0))} activation(s) {'' if name == CHAIN_INPUT else f'of {name!r} '}"
                     "are negative, but the first layer follows a ReLU; check the input")
    return arr, notes


def check_inputs(activations: object, graph: Graph) -> tuple[dict[str, np.ndarray], list[str]]:
    """Every host input checked (shape, finite); notes for suspicious values."""
    out, notes = {}, []
    for name, x in host_vectors(activations, graph).items():
        first = next(j for j in graph.jobs if j.input == name)
        hint = ""
        if graph.is_chain and len(graph.jobs) == 1 and np.shape(x) == (first.layer.m,):
            hint = (f"; the layer's weights are {first.layer.m} x {first.layer.n} (outputs x inputs): if "
                    "they were saved inputs x outputs, transpose them")
        out[name], n = check_activations(x, graph.host_inputs[name], name, first.name,
                                         after_relu=name in graph.input_after_relu, transposed_hint=hint)
        notes += n
    return out, notes


def simulate(workload: Workload, activations: object, config: SimConfig | None = None, *,
             engine: str = DEFAULT_ENGINE) -> Result:
    """Run one inference of a layer, model or graph on EIE: bit-exact outputs, cycles, traffic,
    energy.

    ``engine="fast"`` (the default) is the compiled rules, ``"simpy"`` the discrete-event
    machine; both return identical Results. A workload without a stored activation format
    is calibrated on ``activations`` (docs/ARCHITECTURE.md section 3).
    """
    return simulate_runs(workload, activations, config, engine=engine)[0]


@dataclass(frozen=True)
class Prepared:
    """A graph encoded for a configuration and its memory plan: what every input of a batch shares."""

    graph: Graph
    plans: list[LayerPlan]  # one per job
    config: SimConfig
    engine: str
    notes: list[str]  # re-encoding notes


def prepare(workload: Workload, config: SimConfig | None = None, *, engine: str = DEFAULT_ENGINE) -> Prepared:
    """Re-encode the workload for ``config`` where needed and plan its memory, once."""
    config = config or SimConfig()
    if engine not in ENGINES:
        raise EieInputError(f"engine {engine!r} is not one of {sorted(ENGINES)}")
    graph, notes = adapt_encoding(as_graph(workload), config)
    layers = graph.layers()
    plan_of = {id(lay): plan for lay, plan in zip(layers, plan_model(layers, config), strict=True)}
    plans, seen = [], set()
    for job in graph.jobs:  # a layer two jobs share is loaded once
        plan = plan_of[id(job.layer)]
        plans.append(plan if id(job.layer) not in seen else replace(plan, weight_load_bytes=0))
        seen.add(id(job.layer))
    return Prepared(graph, plans, config, engine, notes)


def calibrated_fa(graph: Graph, inputs: Mapping[str, np.ndarray]) -> int:
    """The graph's activation format, or one calibrated on ``inputs`` (vectors or batches)."""
    return graph.fa if graph.fa is not None else activation_frac_bits(graph, inputs)


def run_prepared(prep: Prepared, activations: object, *, fa: int | None = None,
                 stacklevel: int = 2) -> tuple[Result, list[LayerRun]]:
    """One inference of a prepared graph; ``fa`` (or the graph's, or calibration on this input)
    fixes the activation format."""
    graph, config = prep.graph, prep.config
    inputs, input_notes = check_inputs(activations, graph)
    for note in input_notes:
        warnings.warn(note, EieWarning, stacklevel=stacklevel + 1)
    fa = fa if fa is not None else calibrated_fa(graph, inputs)
    fixed = {name: input_fix(x, fa) for name, x in inputs.items()}
    runs = ENGINES[prep.engine](graph, prep.plans, fixed, fa, config)
    run_notes = [note for run in runs for note in run.notes]
    for note in run_notes:
        warnings.warn(note, EieWarning, stacklevel=stacklevel + 1)
    # the checks hold a run to its whole layout; a run the authors' stop cut short has less
    if (config.check or os.environ.get(CHECK_ENV) == "1") and config.stop_rule == "drain":
        values = {**fixed, **{j.name: r.out_fix for j, r in zip(graph.jobs, runs, strict=True)}}
        ins = [layer_input(j.layer, values[j.input], bias_fix(fa)) for j in graph.jobs]
        check_runs([j.layer for j in graph.jobs], prep.plans, runs, ins, config)
    prov = provenance(config=config.to_dict(), engine=prep.engine, model=dict(graph.provenance))
    result = build_result(graph, runs, prep.plans, fa=fa, config=config, engine=prep.engine,
                          warnings=[*prep.notes, *input_notes, *run_notes], provenance=prov)
    return result, runs


def simulate_runs(workload: Workload, activations: object, config: SimConfig | None = None, *,
                  engine: str = DEFAULT_ENGINE) -> tuple[Result, Graph, list[LayerRun]]:
    """:func:`simulate`, also returning the (possibly re-encoded) graph and the engines' raw
    timelines, for traces."""
    prep = prepare(workload, config, engine=engine)
    result, runs = run_prepared(prep, activations, stacklevel=3)
    return result, prep.graph, runs
