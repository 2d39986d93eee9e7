"""Run a model on the SimPy PE array."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import simpy

from compressor.errors import EieSimulationError
from compressor.fixedpoint import acc_limits
from compressor.model import EncodedModel
from eie_sim.config import SimConfig
from eie_sim.functional import bias_fix
from eie_sim.linetrace import TRACE_LINES
from eie_sim.memory import LayerPlan
from eie_sim.run import LayerRun
from eie_sim.simpy_model.array import PEArray


def run_model(model: EncodedModel, plans: Sequence[LayerPlan], x_fix: np.ndarray, fa: int,
              config: SimConfig) -> list[LayerRun]:
    """Simulate every layer in one SimPy environment; layers run back to back."""
    env = simpy.Environment()
    array = PEArray(env, config=config, acc_limits=acc_limits(config.acc_bits))
    loads = [array.preload(layer, plan) if plan.resident else 0
             for layer, plan in zip(model.layers, plans, strict=True)]
    array.load_input(x_fix)
    runs: list[LayerRun] = []

    def host():
        """Host: hand the array one layer after another."""
        for i, (layer, plan) in enumerate(zip(model.layers, plans, strict=True)):
            yield env.process(array.run_layer(layer, plan, relu=model.relu(i), bias_value=bias_fix(fa),
                                              weight_load_bytes=loads[i], result=runs))

    main = env.process(host())
    limit = env.timeout(config.max_cycles)
    env.run(until=env.any_of([main, limit]))
    if not main.triggered or env.now >= config.max_cycles:
        done = [f"{r.name}: {r.cycles} cycles" for r in runs]
        trace = "\n".join(array.recent_trace(TRACE_LINES))
        raise EieSimulationError(
            f"the SimPy model reached the cycle limit max_cycles = {config.max_cycles} at cycle "
            f"{env.now} without finishing layer {len(runs) + 1} of {len(model.layers)} "
            f"(finished: {', '.join(done) or 'none'}); raise max_cycles or check the layer. "
            f"Last cycles:\n{trace}")
    return runs
