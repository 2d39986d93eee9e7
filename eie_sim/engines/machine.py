"""The SimPy engine: the host hands the PE array one job after another.

Everything that takes time happens in the units (``eie_sim/units``): the host only loads the
resident layers into their SRAMs before the inference, sends each job's input from the host
when it is not already on chip, and collects the outputs a job sends back. A job whose input
is an earlier job's output that went to the host gets it sent back in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from heapq import heappop

import numpy as np
import simpy

from eie_sim.config import SimConfig
from eie_sim.engines import stop
from eie_sim.engines.limits import cycle_limit_error
from eie_sim.functional import bias_fix
from eie_sim.layout import layer_input
from eie_sim.linetrace import TRACE_LINES
from eie_sim.memory import LayerPlan
from eie_sim.run import LayerRun
from eie_sim.units.array import JobSpec, PEArray
from eie_sim.workload.graph import Graph

NAME = "simpy"


class Clock(simpy.Environment):
    """SimPy's environment, run by a leaner loop: an inference is hundreds of thousands of events,
    and ``Environment.run``'s ``step()`` call per event is a tenth of the machine's time. The loop
    is ``step()`` inlined (the same order of events, the same callbacks, the same failure rule),
    stopping once ``done`` has been processed or the next event lies beyond ``limit``."""

    def run_until(self, done: simpy.Event, limit: int) -> None:
        queue = self._queue
        while done.callbacks is not None:
            if not queue:
                return  # nothing left to happen: the caller reports what did not finish
            when, _, _, event = queue[0]
            if when > limit:
                self._now = limit
                return
            heappop(queue)
            self._now = when
            callbacks, event.callbacks = event.callbacks, None
            for callback in callbacks:
                callback(event)
            if not event._ok and not hasattr(event, "_defused"):
                raise event._value


def run_graph(graph: Graph, plans: Sequence[LayerPlan], inputs: dict[str, np.ndarray], fa: int,
              config: SimConfig) -> list[LayerRun]:
    """Simulate every job in one SimPy environment; jobs run back to back."""
    env = Clock()
    array = PEArray(env, config)
    runs: list[LayerRun] = []
    loaded: dict[int, int] = {}  # id of a resident layer -> the bytes its one-time load copied

    def host():
        """Host: load the resident layers, then hand the array one job after another."""
        for job, plan in zip(graph.jobs, plans, strict=True):
            if plan.resident and id(job.layer) not in loaded:
                record: list[int] = []
                yield env.process(array.preload(job.layer, plan, record))
                loaded[id(job.layer)] = record[0]
        outputs: dict[str, np.ndarray] = {}
        for i, (job, plan) in enumerate(zip(graph.jobs, plans, strict=True)):
            if graph.input_on_chip(i):
                sent = None  # already in the PEs' activation memories
            else:
                sent = np.asarray(inputs[job.input] if job.input in inputs else outputs[job.input], np.int64)
            spec = JobSpec(job.name, job.layer, plan, job.relu, bias_fix(fa), sent, to_host=not job.keep)
            yield env.process(array.run_job(spec, runs))
            if config.stop_rule != "drain":  # the completion test, on the machine's own record
                given = sent if sent is not None else outputs[job.input]
                runs[-1] = stop.apply(job.layer, plan, runs[-1], layer_input(job.layer, given, bias_fix(fa)),
                                      relu=job.relu, config=config)
                if job.keep:  # the PEs' memories hold what had landed when it stopped
                    array.store_outputs(runs[-1].out_fix)
            outputs[job.name] = runs[-1].out_fix

    main = env.process(host())
    env.run_until(main, config.max_cycles)
    if main.callbacks is not None or env.now >= config.max_cycles:
        raise cycle_limit_error(NAME, config.max_cycles, int(env.now), len(runs), graph, runs,
                                array.recent_trace(TRACE_LINES))
    first_use: set[int] = set()
    out = []
    for job, run in zip(graph.jobs, runs, strict=True):
        key = id(job.layer)
        out.append(replace(run, weight_load_bytes=loaded.get(key, 0) if key not in first_use else 0))
        first_use.add(key)
    return out
