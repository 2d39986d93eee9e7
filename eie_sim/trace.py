"""Chrome trace-event files (open in Perfetto or chrome://tracing) of a simulation.

One track per PE with a span per column visit, and a CCU track with its
broadcasts and the stalls where back-pressure held a broadcast back.
"""

from __future__ import annotations

from collections.abc import Sequence

from compressor.errors import EieInputError
from compressor.model import EncodedModel
from eie_sim.run import LayerRun

MAX_EVENTS = 2_000_000  # beyond this, trace viewers grind; refuse rather than write it


def trace_events(model: EncodedModel, runs: Sequence[LayerRun], clock_hz: float) -> dict:
    """The trace as a dict ready for ``json.dump``; timestamps in microseconds."""
    n_events = sum(run.s.size + 2 * run.t.size for run in runs)
    if n_events > MAX_EVENTS:
        raise EieInputError(f"a trace of this run would hold {n_events:,} events, more than the "
                            f"{MAX_EVENTS:,} a trace viewer handles; trace a smaller layer, fewer "
                            f"PEs or sparser activations")
    us = 1e6 / clock_hz
    n_pes = runs[0].s.shape[0] if runs else 0
    events: list[dict] = [{"ph": "M", "name": "thread_name", "pid": 0, "tid": 0,
                           "args": {"name": "CCU / LNZD"}}]
    events += [{"ph": "M", "name": "thread_name", "pid": 0, "tid": p + 1,
                "args": {"name": f"PE {p}"}} for p in range(n_pes)]
    offset = 0
    for layer, run in zip(model.layers, runs, strict=True):
        rounds_cols = [divmod(int(s), layer.ncols) for s in run.slices]
        for i in range(len(run.seg_start)):
            lo, hi = int(run.seg_bounds[i]), int(run.seg_bounds[i + 1])
            prev = int(run.seg_start[i]) - 1
            for k in range(lo, hi):
                t = int(run.t[k])
                if t - prev > 1:
                    events.append({"ph": "X", "name": "stall", "pid": 0, "tid": 0,
                                   "ts": (offset + prev + 1) * us, "dur": (t - prev - 1) * us})
                r, j = rounds_cols[k]
                events.append({"ph": "X", "name": f"broadcast a{j}", "pid": 0, "tid": 0,
                               "ts": (offset + t) * us, "dur": us,
                               "args": {"layer": layer.name, "round": r, "column": j}})
                prev = t
        for p in range(n_pes):
            for k in range(run.s.shape[1]):
                r, j = rounds_cols[k]
                events.append({"ph": "X", "name": f"col {j}", "pid": 0, "tid": p + 1,
                               "ts": (offset + int(run.s[p, k])) * us,
                               "dur": (int(run.fin[p, k]) - int(run.s[p, k])) * us,
                               "args": {"layer": layer.name, "round": r,
                                        "entries": int(run.c[p, k])}})
        offset += run.cycles
    return {"traceEvents": events, "displayTimeUnit": "ns",
            "otherData": {"clock_hz": clock_hz, "cycles": offset}}

