"""The cycle limit both engines enforce, with one message."""

from __future__ import annotations

from collections.abc import Sequence

from compressor.errors import EieSimulationError
from eie_sim.run import LayerRun
from eie_sim.workload.graph import Graph


def cycle_limit_error(engine: str, limit: int, at: int, job: int, graph: Graph, runs: Sequence[LayerRun],
                      trace: Sequence[str]) -> EieSimulationError:
    """The error of a run that reached ``max_cycles`` in job ``job`` (0-based), with its last cycles."""
    done = ", ".join(f"{r.name}: {r.cycles} cycles" for r in runs) or "none"
    what = "the SimPy model" if engine == "simpy" else "the fast engine"
    return EieSimulationError(
        f"{what} reached the cycle limit max_cycles = {limit} at cycle {at} without finishing job "
        f"{job + 1} of {len(graph.jobs)} (finished: {done}); raise max_cycles or check the layer. "
        "Last cycles:\n" + "\n".join(trace))
