"""eie-sim: a cycle-accurate model of the EIE sparse accelerator (Han et al., ISCA 2016).

``simulate(layer_or_model, activations, config, engine="simpy"|"fast")`` runs one
inference and returns a :class:`Result`; see README.md.
"""

from eie_sim.config import SimConfig
from eie_sim.result import LayerResult, Result
from eie_sim.simulate import simulate

__version__ = "0.1.0"
__all__ = ["SimConfig", "Result", "LayerResult", "simulate"]
