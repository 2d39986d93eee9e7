"""Human-readable summaries of a Result or a batch, with units (printed by the CLI and the demo).

A summary answers what a researcher asks of a run without opening the JSON: how long and how
much energy, where the bytes went (SRAM, DRAM), whether the weights stayed on chip (tiles per
layer), which unit spent the energy, how the dense accelerator would do, how dense the input
was, what bounds the run (:mod:`eie_sim.study.bounds`) and how long the simulation itself took.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np

from eie_sim.config import SimConfig
from eie_sim.energy import dense_model
from eie_sim.linetrace import ranges
from eie_sim.result import Result
from eie_sim.study.batch import BatchResult
from eie_sim.study.bounds import BOUNDS, Bounds, bounds
from eie_sim.units.ptr_read import read_cycles

#: Show both utilisation and MAC efficiency's reason when they differ by more than this factor.
EFFICIENCY_GAP = 2.0


def config_of(r: Result) -> SimConfig:
    """The configuration a Result was run with, rebuilt from the copy it carries."""
    return SimConfig(**r.config)


def format_summary(r: Result, config: SimConfig | None = None, *, input_density: float | None = None,
                   n_inputs: int | None = None, input_source: str | None = None,
                   wall_s: float | None = None) -> str:
    """A readable summary of one inference, with units.

    ``input_density`` (the share of non-zero activations) and ``wall_s`` (the simulation's own
    time) come from the caller, who saw the input and the clock; ``config`` defaults to the one
    the Result carries.
    """
    config = config or config_of(r)
    lines = [
        f"engine {r.engine}, contract v{r.contract_version}, {len(r.layers)} layer(s), "
        f"{r.config['n_pes']} PEs at {r.config['clock_hz'] / 1e6:g} MHz",
    ]
    if input_density is not None:
        lines.append(f"  input                non-zero activations {100 * input_density:.1f} %"
                     + (f" of {n_inputs:,}" if n_inputs else "")
                     + (f" ({input_source})" if input_source else ""))
    lines += [
        f"  cycles               {r.cycles:,}   ({r.time_s * 1e6:.2f} us)",
        f"  PE utilization       {100 * r.pe_utilization:.1f} %   (MAC efficiency "
        f"{100 * r.mac_efficiency:.1f} %, CCU stall cycles {r.ccu_stall_cycles:,})",
        f"  queue occupancy      mean {np.mean(r.queue_occupancy_mean):.2f}, max "
        f"{max(r.queue_occupancy_max)} of {r.config['queue_depth']}",
        f"  entries processed    {r.entries_processed:,} ({r.kept_processed:,} kept weights)",
        f"  SRAM traffic         {_bytes(r.sram_bytes)} per inference",
        f"  DRAM traffic         {_bytes(r.dram_bytes)} per inference",
        f"  tiling               {tiling_text(r)}",
        f"  energy               {r.energy_j * 1e6:.3f} uJ per inference   power {r.power_w * 1e3:.1f} mW",
    ]
    lines += _efficiency_notes(r)
    lines.append(f"  energy by unit       {_by_unit(r.energy_breakdown_j, r.energy_j)}")
    if r.weight_load_bytes:
        lines.append(f"  weight load (once)   {r.weight_load_bytes / 1024:,.1f} KB, "
                     f"{r.weight_load_energy_j * 1e6:.2f} uJ")
    lines.append(f"  dense baseline       {dense_text(r, config)}")
    lines.append(f"  bound                {bound_text(bounds(r, config))}")
    if len(r.layers) > 1:
        for lay in r.layers:
            b = bounds(lay, config)
            lines.append(f"  layer {lay.name:12s} {lay.cycles:>10,} cycles  {lay.energy_j * 1e6:9.3f} uJ  "
                         + ("resident" if lay.resident else f"{lay.tiles} tiles")
                         + f"  {b.binding}-bound")
    if wall_s is not None:
        lines.append(f"  simulation took      {wall_s:.2f} s wall ({r.engine} engine)")
    return "\n".join(lines)


def _bytes(n: float) -> str:
    """``12,345 bytes (12.1 KB)``; small counts without the KB."""
    return f"{n:,.0f} bytes" + (f" ({n / 1024:,.1f} KB)" if n >= 1024 else "")


def tiling_text(r: Result) -> str:
    """Whether each layer's weights stay in the PEs' SRAMs or stream from DRAM in tiles."""
    if all(lay.resident for lay in r.layers):
        return f"all weights resident ({len(r.layers)} layer(s) fit the sparse-matrix SRAMs)"
    parts = [f"{lay.name} resident" if lay.resident else f"{lay.name} streamed in {lay.tiles} tile(s)"
             for lay in r.layers]
    spilled = [lay.name for lay in r.layers if lay.act_spilled]
    return "; ".join(parts) + (f"; activations spilled to DRAM: {', '.join(spilled)}" if spilled else "")


def _by_unit(breakdown: dict[str, float], total: float) -> str:
    return ", ".join(f"{u} {e * 1e6:.3f} uJ ({100 * e / total:.1f} %)" for u, e in breakdown.items()
                     if e) if total else "none"


def dense_text(r: Result, config: SimConfig, *, batch: Sequence[Result] = ()) -> str:
    """The dense accelerator (no zero skipping) on the same layers and PEs, against this run, or
    against the mean of a ``batch`` (the dense figure is the same for every input)."""
    d = dense_model([tuple(lay.shape) for lay in r.layers], config)
    cycles = float(np.mean([x.cycles for x in batch])) if batch else r.cycles
    energy = float(np.mean([x.energy_j for x in batch])) if batch else r.energy_j
    where = "weights resident" if d["resident"] else "weights streamed from DRAM"
    return (f"{d['cycles']:,} cycles ({d['seconds'] * 1e6:.2f} us), {d['energy_j'] * 1e6:.3f} uJ"
            f"{' for every input' if batch else ''}, {where}: EIE is {_ratio(d['cycles'], cycles)} faster "
            f"and uses {_ratio(d['energy_j'], energy)} less energy{' on average' if batch else ''}")


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.1f}x" if b else "inf x"


def bound_text(b: Bounds) -> str:
    """``DRAM bandwidth: at least 1,234 cycles; the run takes 8.2 % more (compute 100, ...)``."""
    others = ", ".join(f"{k} {v:,}" for k, v in b.values.items() if k != b.binding)
    gap = f"{100 * b.gap:.1f} % more" if b.bound else "its cycles with no bound above 0"
    return (f"{b.binding}: at least {b.bound:,} cycles; the run takes {b.cycles:,}, {gap} "
            f"(other bounds: {others})")


def _efficiency_notes(r: Result) -> list[str]:
    """Why PE utilisation and MAC efficiency differ, when they do by more than 2x; idle PEs."""
    out = []
    idle = [p for p, b in enumerate(r.busy_cycles) if b == 0]
    rowless = [p for p in range(r.config["n_pes"]) if p >= min(lay.shape[0] for lay in r.layers)]
    if r.mac_efficiency and r.pe_utilization > EFFICIENCY_GAP * r.mac_efficiency:
        p = read_cycles(r.config["ptr_banks"])
        empty = ("" if r.config.get("column_bitmap") else
                 f" and the {p} cycle{'s' if p > 1 else ''} an empty column still takes")
        out.append("  (utilisation counts every cycle a PE spends on a column, including padding entries"
                   f"{empty}; MAC efficiency counts only kept weights multiplied)")
    if rowless:
        out.append(f"  {len(rowless)} of {r.config['n_pes']} PEs hold no rows of the narrowest layer "
                   f"({ranges(rowless, 'PE ', 'PEs ')}): they only read pointers, never multiply there")
    elif idle:
        out.append(f"  idle PEs (no work at all): {ranges(idle, 'PE ', 'PEs ')}")
    return out


def _spread(values: Sequence[float], scale: float, fmt: str) -> str:
    """``mean  min  max`` columns of one figure over a batch."""
    v = np.asarray(values, dtype=np.float64) * scale
    return " ".join(f"{fmt.format(x):>14s}" for x in (v.mean(), v.min(), v.max()))


def format_batch(b: BatchResult, config: SimConfig | None = None) -> str:
    """A batch: its inputs, mean / min / max of the figures that vary, what does not vary (tiling,
    the dense baseline), what bounds the inputs, top-1 accuracy and the simulation's wall time."""
    results = b.results
    r0 = results[0]
    config = config or config_of(r0)
    n = len(results)
    lines = [f"{n} input(s) from {b.source} (non-zero activations {100 * b.input_density:.1f} %), "
             f"engine {r0.engine}, contract v{r0.contract_version}",
             f"  {'':18s} {'mean':>14s} {'min':>14s} {'max':>14s}"]
    rows: list[tuple[str, Sequence[float], float, str]] = [
        ("cycles", [r.cycles for r in results], 1, "{:,.0f}"),
        ("time", [r.time_s for r in results], 1e6, "{:,.2f} us"),
        ("energy", [r.energy_j for r in results], 1e6, "{:,.3f} uJ"),
        ("power", [r.power_w for r in results], 1e3, "{:,.1f} mW"),
        ("PE utilization", [r.pe_utilization for r in results], 100, "{:.1f} %"),
        ("MAC efficiency", [r.mac_efficiency for r in results], 100, "{:.1f} %"),
        ("SRAM traffic", [r.sram_bytes for r in results], 1, "{:,.0f} B"),
        ("DRAM traffic", [r.dram_bytes for r in results], 1, "{:,.0f} B"),
    ]
    if b.input_densities is not None:
        rows.insert(0, ("input density", b.input_densities, 100, "{:.1f} %"))
    all_bounds = [bounds(r, config) for r in results]
    rows.append(("cycles over bound", [x.gap for x in all_bounds], 100, "{:.1f} %"))
    for name, values, scale, fmt in rows:
        lines.append(f"  {name:18s} " + _spread(values, scale, fmt))
    tilings = Counter(tiling_text(r) for r in results)
    lines.append(f"  tiling               {tilings.most_common(1)[0][0]}"
                 + (f" ({len(tilings)} different tilings over the batch)" if len(tilings) > 1 else ""))
    mean_energy = float(np.mean([r.energy_j for r in results]))
    by_unit = {u: float(np.mean([r.energy_breakdown_j.get(u, 0.0) for r in results]))
               for u in r0.energy_breakdown_j}
    lines.append(f"  energy by unit       {_by_unit(by_unit, mean_energy)} (means)")
    lines.append(f"  dense baseline       {dense_text(r0, config, batch=results)}")
    lines.append(f"  bound                {_bounds_batch_text(all_bounds)}")
    if b.accuracy is not None:
        lines.append(f"  top-1 accuracy       {100 * b.accuracy:.2f} % of {n} (fixed-point outputs)")
    if b.wall_s is not None:
        lines.append(f"  simulation took      {b.wall_s:.2f} s wall ({1e3 * b.wall_s / n:.2f} ms per input, "
                     f"{r0.engine} engine)")
    df = b.per_input()
    shown = df.head(10).assign(time_us=df["time_s"] * 1e6, energy_uj=df["energy_j"] * 1e6)
    cols = ["input", "cycles", "time_us", "energy_uj"] + [c for c in ("prediction", "label") if c in df]
    lines.append("")
    lines.append(shown[cols].to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    if n > 10:
        lines.append(f"  ... {n - 10} more input(s); --per-input FILE.csv writes them all")
    return "\n".join(lines)


def _bounds_batch_text(all_bounds: Sequence[Bounds]) -> str:
    """Which bound binds, for how many inputs, and its figure over them."""
    counts = Counter(b.binding for b in all_bounds)
    n = len(all_bounds)
    parts = []
    for name in sorted(counts, key=lambda k: (-counts[k], BOUNDS.index(k))):
        own = [b.bound for b in all_bounds if b.binding == name]
        figure = (f"{own[0]:,} cycles" if min(own) == max(own)
                  else f"{np.mean(own):,.0f} cycles (min {min(own):,}, max {max(own):,})")
        gap = np.mean([b.gap for b in all_bounds if b.binding == name])
        parts.append(f"{name} for {counts[name]:,} of {n:,} input(s), at least {figure}; the runs take "
                     f"{100 * gap:.1f} % more on average")
    return "; ".join(parts)
