"""Human-readable summaries of a Result, with units (printed by the CLI and the demo)."""

from __future__ import annotations

import numpy as np

from eie_sim.result import Result


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
