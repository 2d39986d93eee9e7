"""eie-sim: a cycle-accurate model of the EIE sparse accelerator (Han et al., ISCA 2016).

``simulate(workload, activations, config, engine="fast"|"simpy")`` runs one inference of a
layer, a model or a workload graph and returns a :class:`Result`; see README.md.

The names below are imported on first use, not with the package: the hardware units compile
their timing rules with numba and the results use pandas, which together take over a second
to import, and ``eie --version`` or ``eie --help`` need neither.
"""

from __future__ import annotations

import importlib
import sys
import types

__version__ = "0.1.0"
__all__ = ["SimConfig", "Result", "LayerResult", "simulate", "Graph", "Job"]

#: Where each public name lives.
_HOMES = {"SimConfig": "eie_sim.config", "Result": "eie_sim.result", "LayerResult": "eie_sim.result",
          "simulate": "eie_sim.simulate", "Graph": "eie_sim.workload.graph", "Job": "eie_sim.workload.graph"}


class _Package(types.ModuleType):
    """The package module, whose ``simulate`` is the function even though a submodule has its name.

    Importing the submodule ``eie_sim.simulate`` binds the package attribute ``simulate`` to it;
    with the eager imports that used to be here the function was bound after and stayed. A
    property (which wins over the module's own dictionary) keeps ``eie_sim.simulate`` the function
    whatever was imported first; the submodule stays reachable as ``sys.modules["eie_sim.simulate"]``
    and through ``from eie_sim.simulate import ...``.
    """

    @property
    def simulate(self):  # noqa: ANN201 -- the function's own signature is documented at its home
        return importlib.import_module("eie_sim.simulate").simulate

    @simulate.setter
    def simulate(self, value: object) -> None:
        pass  # the import system binding the submodule: the function stays the package's name

    def __getattr__(self, name: str) -> object:
        if name in _HOMES:
            value = getattr(importlib.import_module(_HOMES[name]), name)
            self.__dict__[name] = value
            return value
        raise AttributeError(f"module {self.__name__!r} has no attribute {name!r}")

    def __dir__(self) -> list[str]:
        return sorted({*super().__dir__(), *__all__})


sys.modules[__name__].__class__ = _Package
