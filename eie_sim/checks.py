"""Conservation checks (``SimConfig.check``): invariants every run must satisfy.

A failure is a bug in eie-sim, not bad input, so it raises ConservationError
(exit code 1 from the CLI). The tests switch these on for every run.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from compressor.encode import EncodedLayer
from eie_sim.config import SimConfig
from eie_sim.counts import Counts
from eie_sim.energy import energy
from eie_sim.layout import Items, segment_items
from eie_sim.memory import LayerPlan
from eie_sim.run import LayerRun


class ConservationError(RuntimeError):
    """An invariant of the model does not hold: an internal error."""


def word_reads_implied(layer: EncodedLayer, plan: LayerPlan, a_fix: np.ndarray) -> int:
    """Sparse-matrix word reads implied by the layout alone, vectorized per PE and segment."""
    total = 0
    for seg in plan.segments:
        items: Items = segment_items(layer, seg, a_fix)
        first = layer.ptr[:, items.slices]
        end = layer.ptr[:, items.slices + 1]
        for p in range(layer.n_pes):
            nonempty = end[p] > first[p]
            w0 = (first[p][nonempty] - seg.entry_base[p]) // layer.entries_per_word
            w1 = (end[p][nonempty] - 1 - seg.entry_base[p]) // layer.entries_per_word
            total += int((w1 - w0 + 1).sum() - np.count_nonzero(w0[1:] == w1[:-1]))
    return total


def check_layer(layer: EncodedLayer, plan: LayerPlan, run: LayerRun, a_fix: np.ndarray,
                config: SimConfig) -> None:
    """Raise ConservationError naming the first invariant that fails for this layer."""
    n_pes, n_items = run.c.shape
    c = run.counts
    expect = {
        "entries processed (each visited slice's entries exactly once)": (run.entries, int(run.c.sum())),
        "queue pushes": (c["act_queue", "push"], n_pes * n_items),
        "queue pops": (c["act_queue", "pop"], n_pes * n_items),
        "pointer reads": (c["ptr_read", "read"], n_pes * n_items),
        "multiplies": (c["arith", "multiply"], int(run.c.sum())),
        "sparse-matrix word reads": (c["spmat_read", "word_read"],
                                     word_reads_implied(layer, plan, a_fix)),
        "write-backs": (c["act_rw", "sram_write"], layer.m),
    }
    for what, (got, want) in expect.items():
        if got != want:
            raise ConservationError(f"layer {layer.name!r}: {what}: engine counted {got}, "
                                    f"the layout implies {want}")
    busy = np.maximum(1, run.c).sum(axis=1)
    if run.cycles * n_pes < busy.sum() or (len(busy) and run.cycles < busy.max()):
        raise ConservationError(f"layer {layer.name!r}: {run.cycles} cycles cannot hold "
                                f"{int(busy.sum())} busy PE-cycles on {n_pes} PEs")
    if run.kept > run.entries:
        raise ConservationError(f"layer {layer.name!r}: more kept entries than entries")
    check_energy(c, config, f"layer {layer.name!r}")


def check_energy(counts: Counts, config: SimConfig, where: str) -> None:
    e = energy(counts, config)
    parts = sum(e.by_unit_j.values())
    events = sum(e.by_event_j.values())
    if not np.isclose(e.total_j, parts, rtol=1e-12, atol=0) or not np.isclose(
            sum(e.dynamic_j.values()) + sum(e.static_j.values()), parts, rtol=1e-12, atol=0):
        raise ConservationError(f"{where}: energy {e.total_j} J is not the sum of its units {parts} J")
    if not np.isclose(events, parts, rtol=1e-12, atol=0):
        raise ConservationError(f"{where}: per-event energies sum to {events} J, units to {parts} J")


def check_runs(layers: Sequence[EncodedLayer], plans: Sequence[LayerPlan], runs: Sequence[LayerRun],
               inputs: Sequence[np.ndarray], config: SimConfig) -> None:
    for layer, plan, run, a_fix in zip(layers, plans, runs, inputs, strict=True):
        check_layer(layer, plan, run, a_fix, config)
