"""Conservation checks (``SimConfig.check``): invariants every run must satisfy.

Each expected count is derived here from the encoded layer, the memory plan and
the layer's input alone (walking the entry arrays, not using either engine's
closed forms), and compared with what the engine's units counted. Two exceptions:
DRAM and weight-load bytes are compared with the memory plan, which is also where
the fast engine takes them from, so for the fast engine they are a tautology and
they check the SimPy DRAM channel only; and energy is re-priced here event by
event (the table's per-event energies, not the breakdown's own sums). A failure is a
bug in eie-sim, not bad input, so it raises ConservationError (exit code 1 from
the CLI). The test suite switches these on for every run.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from compressor.encode import EncodedLayer
from eie_sim.config import SimConfig, knobs
from eie_sim.counts import Counts, known_events
from eie_sim.energy import EnergyModel, energy
from eie_sim.layout import scan_rows
from eie_sim.memory import LayerPlan
from eie_sim.run import LayerRun
from eie_sim.units import ptr_read


class ConservationError(RuntimeError):
    """An invariant of the model does not hold: an internal error."""


def _visited(layer: EncodedLayer, plan: LayerPlan, a_fix: np.ndarray) -> list[tuple[int, np.ndarray]]:
    """Per segment: (its rows, the slices its items visit, in broadcast order)."""
    out = []
    for seg in plan.segments:
        cols = np.flatnonzero(a_fix[seg.col_start:seg.col_end]) + seg.col_start
        slices = np.concatenate([r * layer.ncols + cols for r in seg.rounds]).astype(np.int64)
        out.append((scan_rows(layer, seg), slices))
    return out


def implied_counts(layer: EncodedLayer, plan: LayerPlan, a_fix: np.ndarray, config: SimConfig) -> dict:
    """What the layout implies for one layer's run, by walking the entries of every visited slice."""
    n_pes, epw = layer.n_pes, layer.entries_per_word
    kn = knobs(config)
    word_reads = entries = kept = items = rows = pointer_reads = 0
    busy = np.zeros(n_pes, np.int64)
    kept_before = [np.concatenate([[0], np.cumsum(layer.v[layer.pe_offsets[p]:layer.pe_offsets[p + 1]] != 0)])
                   for p in range(n_pes)]  # per PE: kept entries before entry e
    for (seg_rows, slices), seg in zip(_visited(layer, plan, a_fix), plan.segments, strict=True):
        items += len(slices)
        rows += seg_rows
        for p in range(n_pes):
            first, end = layer.ptr[p, slices], layer.ptr[p, slices + 1]
            sizes = end - first
            # the pointer read unit's own rule, asked once per distinct column size
            distinct, which = np.unique(sizes, return_inverse=True)
            read = np.array([ptr_read.column_cycles(kn, int(s)) for s in distinct], np.int64)[which]
            accesses = np.array([ptr_read.column_accesses(kn, int(s)) for s in distinct], np.int64)
            pointer_reads += int(accesses[which].sum())
            busy[p] += int(np.maximum(sizes, read).sum())
            entries += int(sizes.sum())
            kept += int((kept_before[p][end] - kept_before[p][first]).sum())
            full = sizes > 0
            w0 = (first[full] - seg.entry_base[p]) // epw
            w1 = (end[full] - 1 - seg.entry_base[p]) // epw
            word_reads += int((w1 - w0 + 1).sum() - np.count_nonzero(w0[1:] == w1[:-1]))
    return {
        "queue pushes": n_pes * items, "queue pops": n_pes * items,
        "pointer reads": pointer_reads, "sparse-matrix word reads": word_reads,
        "entries processed": entries, "kept entries processed": kept, "multiplies": entries,
        "destination register reads": kept, "destination register writes": kept,
        "source activation reads": layer.ncols * layer.rounds, "write-backs": layer.m,
        "LNZD row loads": rows, "DRAM bytes": plan.dram_bytes, "weight load bytes": plan.weight_load_bytes,
        "busy": busy,
    }


def check_layer(layer: EncodedLayer, plan: LayerPlan, run: LayerRun, a_fix: np.ndarray,
                config: SimConfig) -> None:
    """Raise ConservationError naming the first invariant that fails for this layer."""
    want = implied_counts(layer, plan, a_fix, config)
    c = run.counts
    got = {
        "queue pushes": c["act_queue", "push"], "queue pops": c["act_queue", "pop"],
        "pointer reads": c["ptr_read", "read"], "sparse-matrix word reads": c["spmat_read", "word_read"],
        "entries processed": run.entries_processed, "kept entries processed": run.kept_processed,
        "multiplies": c["arith", "multiply"], "destination register reads": c["act_rw", "dest_read"],
        "destination register writes": c["act_rw", "dest_write"],
        "source activation reads": c["act_rw", "src_read"], "write-backs": c["act_rw", "sram_write"],
        "LNZD row loads": run.lnzd_row_loads, "DRAM bytes": run.dram_bytes,
        "weight load bytes": run.weight_load_bytes, "busy": run.busy_cycles,
    }
    for what, expected in want.items():
        if not np.array_equal(got[what], expected):
            raise ConservationError(f"layer {layer.name!r}: {what}: the engine counted {got[what]}, "
                                    f"the layout implies {expected}")
    n_pes = layer.n_pes
    work = int(run.busy_cycles.sum()) + run.hazard_stall_cycles
    if run.cycles * n_pes < work or (n_pes and run.cycles < int(run.busy_cycles.max())):
        raise ConservationError(f"layer {layer.name!r}: {run.cycles} cycles cannot hold {work} "
                                f"busy and stalled PE-cycles on {n_pes} PEs")
    if config.bypass and run.hazard_stall_cycles or not config.bypass and run.bypass_count:
        raise ConservationError(f"layer {layer.name!r}: hazard stalls with bypass on, or bypasses "
                                f"with it off")
    check_energy(c, config, f"layer {layer.name!r}")


def check_energy(counts: Counts, config: SimConfig, where: str) -> None:
    """The breakdown's total is every known event priced once (sum of count x pJ), and its units'
    dynamic and static parts add up to it."""
    e = energy(counts, config)
    prices = EnergyModel.for_config(config).per_event_pj
    priced = sum(counts[event] * prices[event] for event in known_events()) * 1e-12
    parts = sum(e.dynamic_j.values()) + sum(e.static_j.values())
    if not np.isclose(e.total_j, priced, rtol=1e-12, atol=0):
        raise ConservationError(f"{where}: energy {e.total_j} J, but its events priced one by one "
                                f"give {priced} J")
    if not np.isclose(parts, priced, rtol=1e-12, atol=0):
        raise ConservationError(f"{where}: dynamic plus static parts give {parts} J, events {priced} J")


def check_runs(layers: Sequence[EncodedLayer], plans: Sequence[LayerPlan], runs: Sequence[LayerRun],
               inputs: Sequence[np.ndarray], config: SimConfig) -> None:
    for layer, plan, run, a_fix in zip(layers, plans, runs, inputs, strict=True):
        check_layer(layer, plan, run, a_fix, config)
