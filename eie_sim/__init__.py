"""eie-sim: a cycle-accurate model of the EIE sparse accelerator (Han et al., ISCA 2016).

``simulate(workload, activations, config, engine="fast"|"simpy")`` runs one inference of a
layer, a model or a workload graph and returns a :class:`Result`; see README.md.
"""

from eie_sim.config import SimConfig
from eie_sim.result import LayerResult, Result
from eie_sim.simulate import simulate
from eie_sim.workload.graph import Graph, Job

__version__ = "0.1.0"
__all__ = ["SimConfig", "Result", "LayerResult", "simulate", "Graph", "Job"]
