"""Human-readable summaries of a Result, with units (printed by the CLI and the demo)."""

from __future__ import annotations

import numpy as np

from eie_sim.result import Result
from eie_sim.study.batch import BatchResult
from eie_sim.units.ptr_read import read_cycles

#: Show both utilisation and MAC efficiency's reason when they differ by more than this factor.
EFFICIENCY_GAP = 2.0


def format_summary(r: Result) -> str:
    """A readable summary of a Result, with units."""
    lines = [
        f"engine {r.engine}, contract v{r.contract_version}, {len(r.layers)} layer(s), "
        f"{r.config['n_pes']} PEs at {r.config['clock_hz'] / 1e6:g} MHz",
        f"  cycles               {r.cycles:,}   ({r.time_s * 1e6:.2f} us)",
        f"  PE utilization       {100 * r.pe_utilization:.1f} %   (MAC efficiency "
        f"{100 * r.mac_efficiency:.1f} %, CCU stall cycles {r.ccu_stall_cycles:,})",
        f"  queue occupancy      mean {np.mean(r.queue_occupancy_mean):.2f}, max "
        f"{max(r.queue_occupancy_max)} of {r.config['queue_depth']}",
        f"  entries processed    {r.entries_processed:,} ({r.kept_processed:,} kept weights)",
        f"  SRAM traffic         {r.sram_bytes / 1024:,.1f} KB   DRAM traffic {r.dram_bytes / 1024:,.1f} KB"
        + (f"   (tiled: {', '.join(r.tiled_layers)})" if r.tiled_layers else "   (all weights resident)"),
        f"  energy               {r.energy_j * 1e6:.3f} uJ per inference   power {r.power_w * 1e3:.1f} mW",
    ]
    lines += _efficiency_notes(r)
    parts = ", ".join(f"{u} {100 * e / r.energy_j:.1f} %" for u, e in r.energy_breakdown_j.items() if e)
    lines.append(f"  energy by unit       {parts}")
    if r.weight_load_bytes:
        lines.append(f"  weight load (once)   {r.weight_load_bytes / 1024:,.1f} KB, "
                     f"{r.weight_load_energy_j * 1e6:.2f} uJ")
    if len(r.layers) > 1:
        for lay in r.layers:
            lines.append(f"  layer {lay.name:12s} {lay.cycles:>10,} cycles  {lay.energy_j * 1e6:9.3f} uJ  "
                         + ("resident" if lay.resident else f"{lay.tiles} tiles"))
    return "\n".join(lines)


def _efficiency_notes(r: Result) -> list[str]:
    """Why PE utilisation and MAC efficiency differ, when they do by more than 2x; idle PEs."""
    out = []
    idle = [p for p, b in enumerate(r.busy_cycles) if b == 0]
    rowless = [p for p in range(r.config["n_pes"]) if p >= min(lay.shape[0] for lay in r.layers)]
    if r.mac_efficiency and r.pe_utilization > EFFICIENCY_GAP * r.mac_efficiency:
        p = read_cycles(r.config["ptr_banks"])
        out.append("  (utilisation counts every cycle a PE spends on a column, including padding entries "
                   f"and the {p} cycle{'s' if p > 1 else ''} an empty column still takes; MAC efficiency "
                   "counts only kept weights multiplied)")
    if rowless:
        out.append(f"  {len(rowless)} of {r.config['n_pes']} PEs hold no rows of the narrowest layer "
                   f"({_ranges(rowless)}): they only read pointers, never multiply there")
    elif idle:
        out.append(f"  idle PEs (no work at all): {_ranges(idle)}")
    return out


def _ranges(items: list[int]) -> str:
    """'0-3, 7' for [0, 1, 2, 3, 7]."""
    parts, start = [], None
    for i, v in enumerate(items):
        if start is None:
            start = v
        if i + 1 == len(items) or items[i + 1] != v + 1:
            parts.append(f"PE {start}" if start == v else f"PEs {start}-{v}")
            start = None
    return ", ".join(parts)


def format_batch(b: BatchResult) -> str:
    """A batch: its inputs, mean / min / max of the main figures, and top-1 accuracy."""
    s = b.summary()
    n = s["batch_size"]
    rows = [("cycles", 1, "{:,.0f}"), ("time_s", 1e6, "{:,.2f} us"), ("energy_j", 1e6, "{:,.3f} uJ"),
            ("power_w", 1e3, "{:,.1f} mW"), ("pe_utilization", 100, "{:.1f} %"),
            ("mac_efficiency", 100, "{:.1f} %")]
    density = 100 * s["input_density"]
    lines = [f"{n} input(s) from {s['input_source']} (non-zero activations {density:.1f} %), "
             f"engine {b.results[0].engine}, contract v{b.results[0].contract_version}",
             f"  {'':18s} {'mean':>14s} {'min':>14s} {'max':>14s}"]
    for f, scale, fmt in rows:
        lines.append(f"  {f:18s} " + " ".join(f"{fmt.format(s[f'{f}_{k}'] * scale):>14s}"
                                             for k in ("mean", "min", "max")))
    if b.accuracy is not None:
        lines.append(f"  top-1 accuracy     {100 * b.accuracy:.2f} % of {n} (fixed-point outputs)")
    df = b.per_input()
    shown = df.head(10).assign(time_us=df["time_s"] * 1e6, energy_uj=df["energy_j"] * 1e6)
    cols = ["input", "cycles", "time_us", "energy_uj"] + [c for c in ("prediction", "label") if c in df]
    lines.append("")
    lines.append(shown[cols].to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    if n > 10:
        lines.append(f"  ... {n - 10} more input(s); --per-input FILE.csv writes them all")
    return "\n".join(lines)
