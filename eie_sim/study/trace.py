"""Chrome trace-event files (open in Perfetto or chrome://tracing) of a simulation.

One track per PE with a span per column visit, and a CCU track with its
broadcasts and the gaps between them (row loads of the LNZD scan, or
back-pressure holding a broadcast back).
"""

from __future__ import annotations

from collections.abc import Sequence

from compressor.errors import EieInputError
from eie_sim.run import LayerRun
from eie_sim.workload.graph import Graph

MAX_EVENTS = 2_000_000  # beyond this, trace viewers grind; refuse rather than write it


def trace_events(graph: Graph, runs: Sequence[LayerRun], clock_hz: float) -> dict:
    """The trace as a dict ready for ``json.dump``; timestamps in microseconds."""
    n_events = sum(run.times.pop.size + 2 * run.times.broadcast.size for run in runs)
    if n_events > MAX_EVENTS:
        raise EieInputError(f"a trace of this run would hold {n_events:,} events, more than the "
                            f"{MAX_EVENTS:,} a trace viewer handles; trace a smaller layer, fewer "
                            f"PEs or sparser activations")
    us = 1e6 / clock_hz
    n_pes = runs[0].times.pop.shape[0] if runs else 0
    events: list[dict] = [{"ph": "M", "name": "thread_name", "pid": 0, "tid": 0,
                           "args": {"name": "CCU / LNZD"}}]
    events += [{"ph": "M", "name": "thread_name", "pid": 0, "tid": p + 1,
                "args": {"name": f"PE {p}"}} for p in range(n_pes)]
    offset = 0
    for job, run in zip(graph.jobs, runs, strict=True):
        tm = run.times
        rounds, cols = tm.rounds.tolist(), tm.columns.tolist()
        for i in range(len(tm.segment_start)):
            lo, hi = int(tm.segment_bounds[i]), int(tm.segment_bounds[i + 1])
            prev = int(tm.segment_start[i]) - 1
            for k in range(lo, hi):
                t = int(tm.broadcast[k])
                if t - prev > 1:
                    events.append({"ph": "X", "name": "scan / stall", "pid": 0, "tid": 0,
                                   "ts": (offset + prev + 1) * us, "dur": (t - prev - 1) * us})
                events.append({"ph": "X", "name": f"broadcast a{cols[k]}", "pid": 0, "tid": 0,
                               "ts": (offset + t) * us, "dur": us,
                               "args": {"layer": job.name, "round": rounds[k], "column": cols[k]}})
                prev = t
        for p in range(n_pes):
            for k in range(tm.pop.shape[1]):
                events.append({"ph": "X", "name": f"col {cols[k]}", "pid": 0, "tid": p + 1,
                               "ts": (offset + int(tm.pop[p, k])) * us,
                               "dur": (int(tm.finish[p, k]) - int(tm.pop[p, k])) * us,
                               "args": {"layer": job.name, "round": rounds[k],
                                        "entries": int(tm.entries[p, k])}})
        offset += run.cycles
    return {"traceEvents": events, "displayTimeUnit": "ns",
            "otherData": {"clock_hz": clock_hz, "cycles": offset}}

