"""The engines that run a workload graph on the units: the SimPy machine and the fast engine.

Both take the same arguments and return the same per-job records (:class:`eie_sim.run.LayerRun`),
from which :mod:`eie_sim.result` builds the Result; the tests hold them to every field of it.
"""

from __future__ import annotations

from collections.abc import Callable

from eie_sim.engines import fast, machine

#: engine name -> run_graph(graph, plans, inputs, fa, config)
ENGINES: dict[str, Callable] = {machine.NAME: machine.run_graph, fast.NAME: fast.run_graph}
