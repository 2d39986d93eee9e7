"""The result of a simulation, built in one place from the engines' layer runs."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields

import numpy as np
import pandas as pd

from compressor.fixedpoint import from_fixed
from compressor.provenance import CONTRACT_VERSION
from eie_sim.config import SimConfig
from eie_sim.counts import Counts
from eie_sim.energy import UNITS, energy
from eie_sim.memory import LayerPlan
from eie_sim.run import LayerRun
from eie_sim.units import PRICED, dram
from eie_sim.workload.graph import Graph


@dataclass(frozen=True)
class Figures:
    """Everything section 4-6 reports, for a layer or a whole model (same fields for both)."""

    cycles: int
    time_s: float
    busy_cycles: list[int]  # per PE
    idle_cycles: list[int]  # per PE
    pe_utilization: float  # sum(busy) / (N * cycles): the paper's load-balance efficiency
    mac_efficiency: float  # kept entries / (N * cycles): the EIE authors' simulator's "efficiency"
    ccu_stall_cycles: int  # cycles the CCU held a found activation because a queue was full
    hazard_stall_cycles: int  # cycles PEs waited on a register update (bypass off)
    lnzd_row_loads: int  # activation rows the LNZD loaded
    queue_occupancy_mean: list[float]  # per PE
    queue_occupancy_max: list[int]  # per PE
    bypass_count: int
    entries_processed: int  # padding included
    kept_processed: int
    access_counts: dict[str, int]  # "unit.action" -> events
    sram_bytes: int  # bytes read or written at the SRAMs per inference
    dram_bytes: int  # bytes through DRAM per inference (streamed tiles, spilled activations)
    weight_load_bytes: int  # one-time load of resident layers (not per inference)
    energy_j: float
    energy_breakdown_j: dict[str, float]  # per unit, dynamic + static
    energy_dynamic_j: float
    energy_static_j: float
    weight_load_energy_j: float  # one-time, not in energy_j
    power_w: float
    host_bytes: int  # activations between the host and the chip (inputs it sends, outputs it takes)
    host_cycles: int  # those transfers over the off-chip link, apart from ``cycles``
    host_energy_j: float  # and their energy, apart from ``energy_j``


@dataclass(frozen=True)
class LayerResult(Figures):
    """One job of the graph (a layer of a model)."""

    name: str
    shape: tuple[int, int]  # (outputs m, inputs n)
    resident: bool
    tiles: int
    act_spilled: bool
    input: str  # a host input's name or the job whose output it reads
    relu: bool
    kept_on_chip: bool  # its output stayed in the PEs for the next job


@dataclass(frozen=True)
class Result(Figures):
    """One inference of a graph (a model) on one configuration, with provenance.

    ``output_fix`` are the last job's outputs in the activation format Q(15-fa).fa,
    ``output`` the same as floats; ``outputs_fix`` holds every output sent to the host.
    """

    engine: str
    contract_version: int
    config: dict[str, object]
    provenance: dict[str, object]
    warnings: list[str]
    fa: int
    output_fix: np.ndarray
    output: np.ndarray
    outputs_fix: dict[str, np.ndarray]
    tiled_layers: list[str]
    spilled_layers: list[str]
    layers: list[LayerResult]

    def to_dict(self) -> dict[str, object]:
        """JSON-ready: arrays become lists, layers nested."""
        d = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "layers"}
        d["output_fix"] = self.output_fix.tolist()
        d["output"] = self.output.tolist()
        d["outputs_fix"] = {k: v.tolist() for k, v in self.outputs_fix.items()}
        d["layers"] = [asdict(layer) for layer in self.layers]
        return d

    def __repr__(self) -> str:
        """A short description (the full figures are in :meth:`to_dict` and :meth:`to_frame`)."""
        return (f"Result(engine={self.engine!r}, {len(self.layers)} job(s), {self.config['n_pes']} PEs, "
                f"cycles={self.cycles}, time_s={self.time_s:.4g}, energy_j={self.energy_j:.4g}, "
                f"pe_utilization={self.pe_utilization:.3f})")

    def summary(self) -> dict[str, object]:
        """Scalar figures only (a sweep row): per-PE lists reduced to mean and max."""
        row = _flatten(self)
        row["tiles"] = sum(layer.tiles for layer in self.layers)
        row["resident"] = all(layer.resident for layer in self.layers)
        row["act_spilled"] = any(layer.act_spilled for layer in self.layers)
        return row

    def to_frame(self) -> pd.DataFrame:
        """One row per layer and a ``total`` row, scalar figures as columns."""
        rows = [{"layer": layer.name, **_flatten(layer)} for layer in self.layers]
        rows.append({"layer": "total", **_flatten(self)})
        return pd.DataFrame(rows).set_index("layer")


def _flatten(item: Figures) -> dict[str, object]:
    """The Figures of a layer or model as scalars: lists to mean and max, dicts to dotted keys."""
    row: dict[str, object] = {}
    for f in fields(Figures):
        value = getattr(item, f.name)
        if isinstance(value, list):
            row[f"{f.name}_mean"] = float(np.mean(value))
            row[f"{f.name}_max"] = float(np.max(value))
        elif isinstance(value, dict):
            row.update({f"{f.name}.{k}": v for k, v in value.items()})
        else:
            row[f.name] = value
    return row


#: Result fields that name how a result was made rather than what it is.
IDENTITY_FIELDS = ("engine", "provenance")


def tree_differences(a: object, b: object, path: str = "") -> list[str]:
    """Where two to_dict() trees differ: exact values and identical types (NaN equals NaN)."""
    if type(a) is not type(b):
        return [f"{path or '.'}: type {type(a).__name__} != {type(b).__name__}"]
    if isinstance(a, dict):
        out = [f"{path}.{k}: missing on one side" for k in sorted(set(a) ^ set(b), key=str)]
        for k in a:
            if k in b:
                out += tree_differences(a[k], b[k], f"{path}.{k}")
        return out
    if isinstance(a, list | tuple):
        if len(a) != len(b):
            return [f"{path}: length {len(a)} != {len(b)}"]
        return [d for i, (x, y) in enumerate(zip(a, b, strict=True))
                for d in tree_differences(x, y, f"{path}[{i}]")]
    if isinstance(a, np.ndarray):
        nan = a.dtype.kind == "f"
        same = a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b, equal_nan=nan)
        return [] if same else [f"{path}: arrays differ"]
    if isinstance(a, float) and math.isnan(a) and math.isnan(b):
        return []
    return [] if a == b else [f"{path}: {a!r} != {b!r}"]


def result_differences(a: Result, b: Result) -> list[str]:
    """Every field where two Results differ (exact values and types), ignoring which engine
    made them: the engines must agree on everything else."""
    return tree_differences({k: v for k, v in a.to_dict().items() if k not in IDENTITY_FIELDS},
                            {k: v for k, v in b.to_dict().items() if k not in IDENTITY_FIELDS})


@dataclass(frozen=True)
class _Totals:
    """A layer's run, or several layers' runs added up (layers run one after another)."""

    cycles: int
    busy: np.ndarray
    occupancy_sum: np.ndarray
    occupancy_max: np.ndarray
    ccu_stall_cycles: int
    hazard_stall_cycles: int
    lnzd_row_loads: int
    bypass_count: int
    entries: int
    kept: int
    counts: Counts

    @classmethod
    def of(cls, runs: Sequence[LayerRun]) -> _Totals:
        return cls(
            cycles=sum(r.cycles for r in runs), busy=sum(r.busy_cycles for r in runs),
            occupancy_sum=sum(r.queue_occupancy_sum for r in runs),
            occupancy_max=np.max([r.queue_occupancy_max for r in runs], axis=0),
            ccu_stall_cycles=sum(r.ccu_stall_cycles for r in runs),
            hazard_stall_cycles=sum(r.hazard_stall_cycles for r in runs),
            lnzd_row_loads=sum(r.lnzd_row_loads for r in runs),
            bypass_count=sum(r.bypass_count for r in runs),
            entries=sum(r.entries_processed for r in runs), kept=sum(r.kept_processed for r in runs),
            counts=Counts.total(r.counts for r in runs))


def sram_bits(counts: Counts, config: SimConfig) -> int:
    """Bits read or written at the SRAMs: each SRAM event's count times the bits it moves (as
    the units declare them)."""
    total = 0
    for unit in PRICED:
        bits_of = getattr(unit, "sram_bits", None)
        if bits_of is not None:
            total += sum(counts[unit.NAME, action] * bits for action, bits in bits_of(config).items())
    return total


def _host(graph: Graph, config: SimConfig, jobs: Sequence[int]) -> tuple[int, int]:
    """(bytes, cycles) of the host transfers of ``jobs``: a job's input when the host sends it,
    its output when it goes to the host; 16 bits a value, one transfer per vector over the
    off-chip link (docs/ARCHITECTURE.md, "Workload graphs")."""
    sizes = []
    for i in jobs:
        job = graph.jobs[i]
        if not graph.input_on_chip(i):
            sizes.append(2 * job.layer.n)
        if not job.keep:
            sizes.append(2 * job.layer.m)
    cycles = sum(dram.transfer_cycles(b, config) for b in sizes)
    return sum(sizes), cycles


def _figures(tot: _Totals, dram_bytes: int, weight_load_bytes: int, host: tuple[int, int],
             config: SimConfig) -> dict[str, object]:
    counts = tot.counts
    e = energy(counts, config)
    n_pes, cycles = len(tot.busy), tot.cycles
    time_s = cycles / config.clock_hz
    return dict(
        cycles=cycles, time_s=time_s, busy_cycles=tot.busy.tolist(),
        idle_cycles=(cycles - tot.busy).tolist(),
        pe_utilization=float(tot.busy.sum() / (n_pes * cycles)),
        mac_efficiency=float(tot.kept / (n_pes * cycles)),
        ccu_stall_cycles=tot.ccu_stall_cycles, hazard_stall_cycles=tot.hazard_stall_cycles,
        lnzd_row_loads=tot.lnzd_row_loads, queue_occupancy_mean=(tot.occupancy_sum / cycles).tolist(),
        queue_occupancy_max=tot.occupancy_max.tolist(), bypass_count=tot.bypass_count,
        entries_processed=tot.entries, kept_processed=tot.kept, access_counts=counts.to_dict(),
        sram_bytes=math.ceil(sram_bits(counts, config) / 8), dram_bytes=dram_bytes,
        weight_load_bytes=weight_load_bytes, energy_j=e.total_j,
        energy_breakdown_j={u: e.by_unit_j.get(u, 0.0) for u in UNITS},
        energy_dynamic_j=sum(e.dynamic_j.values()), energy_static_j=sum(e.static_j.values()),
        weight_load_energy_j=weight_load_bytes * 8 * config.dram_pj_per_bit * 1e-12,
        power_w=e.total_j / time_s, host_bytes=host[0], host_cycles=host[1],
        host_energy_j=host[0] * 8 * config.dram_pj_per_bit * 1e-12,
    )


def build_result(graph: Graph, runs: Sequence[LayerRun], plans: Sequence[LayerPlan], *,
                 fa: int, config: SimConfig, engine: str, warnings: Sequence[str],
                 provenance: dict[str, object]) -> Result:
    """Every figure of the Result, from the engines' runs; the one place both engines share."""
    layers = [LayerResult(
        **_figures(_Totals.of([run]), run.dram_bytes, run.weight_load_bytes, _host(graph, config, [i]),
                   config),
        name=job.name, shape=(job.layer.m, job.layer.n), resident=plan.resident, tiles=plan.n_tiles,
        act_spilled=plan.act_spilled, input=job.input, relu=job.relu, kept_on_chip=job.keep)
        for i, (job, run, plan) in enumerate(zip(graph.jobs, runs, plans, strict=True))]
    out = runs[-1].out_fix
    return Result(
        **_figures(_Totals.of(runs), sum(r.dram_bytes for r in runs), sum(r.weight_load_bytes for r in runs),
                   _host(graph, config, range(len(graph.jobs))), config),
        engine=engine, contract_version=CONTRACT_VERSION, config=config.to_dict(),
        provenance=provenance, warnings=list(warnings), fa=fa, output_fix=out.copy(),
        output=from_fixed(out, fa),
        outputs_fix={job.name: run.out_fix.copy() for job, run in zip(graph.jobs, runs, strict=True)
                     if not job.keep},
        tiled_layers=[r.name for r in layers if not r.resident],
        spilled_layers=[r.name for r in layers if r.act_spilled], layers=layers)
