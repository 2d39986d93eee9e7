"""The Python API: ``simulate(layer_or_model, activations, config, engine=...)``."""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from compressor.calibrate import activation_frac_bits
from compressor.encode import EncodedLayer
from compressor.errors import EieInputError
from compressor.model import EncodedModel, as_model
from compressor.provenance import provenance
from eie_sim import fast
from eie_sim.checks import check_runs
from eie_sim.config import SimConfig
from eie_sim.functional import bias_fix, input_fix
from eie_sim.layout import layer_input
from eie_sim.memory import LayerPlan, plan_model
from eie_sim.result import Result, build_result
from eie_sim.run import LayerRun
from eie_sim.simpy_model import engine as simpy_engine

ENGINES: dict[str, Callable] = {"simpy": simpy_engine.run_model, "fast": fast.run_model}
#: Setting this environment variable to 1 turns the conservation checks on for every run
#: (as ``SimConfig.check`` does for one); the test suite sets it, so every test run is checked,
#: including sweep workers in other processes.
CHECK_ENV = "EIE_SIM_CHECK"


class EieWarning(UserWarning):
    """Suspicious but valid input (e.g. negative activations after a ReLU)."""


def adapt_encoding(model: EncodedModel, config: SimConfig) -> tuple[EncodedModel, list[str]]:
    """Re-encode layers whose PE count, R or word width differ from the configuration."""
    notes = []
    layers = []
    want = (config.n_pes, config.regs, config.spmat_width_bits)
    for layer in model.layers:
        have = (layer.n_pes, layer.regs, layer.word_bits)
        if have != want:
            layer = layer.reencode(n_pes=want[0], regs=want[1], word_bits=want[2])
            notes.append(f"layer {layer.name!r}: encoded for N={have[0]}, R={have[1]}, "
                         f"{have[2]}-bit words; re-encoded for N={want[0]}, R={want[1]}, "
                         f"{want[2]}-bit words from its decoded quantized matrix")
        layers.append(layer)
    return (model.with_layers(layers) if notes else model), notes


def check_activations(x: object, model: EncodedModel) -> tuple[np.ndarray, list[str]]:
    """A 1-D finite float vector of the first layer's input length; warnings for oddities."""
    arr = np.asarray(x)
    n = model.n_inputs
    if arr.dtype.kind not in "fiub":
        raise EieInputError(f"activations must be numeric, got dtype {arr.dtype}")
    if arr.ndim != 1 or arr.shape[0] != n:
        first = model.layers[0]
        hint = ""
        if len(model.layers) == 1 and arr.ndim == 1 and arr.shape[0] == first.m:
            hint = (f"; the layer's weights are {first.m} x {n} (outputs x inputs): if they were "
                    f"saved inputs x outputs, transpose them")
        raise EieInputError(f"activations have shape {arr.shape}; the first layer "
                            f"{first.name!r} takes a vector of {n} inputs{hint}")
    arr = arr.astype(np.float64)
    bad = np.flatnonzero(~np.isfinite(arr))
    if len(bad):
        raise EieInputError(f"activations hold {len(bad)} NaN or inf value(s), the first at index "
                            f"{bad[0]}")
    notes = []
    if model.input_after_relu and np.any(arr < 0):
        notes.append(f"{int(np.sum(arr < 0))} activation(s) are negative, but the first layer "
                     f"follows a ReLU; check the input")
    return arr, notes


def simulate(layer_or_model: EncodedLayer | EncodedModel, activations: np.ndarray,
             config: SimConfig | None = None, *, engine: str = "simpy") -> Result:
    """Run one inference of a layer or model on EIE; bit-exact outputs, cycles, traffic, energy.

    ``engine="simpy"`` is the discrete-event model, ``"fast"`` the compiled recurrence;
    both return identical Results. A model without a stored activation format is
    calibrated on ``activations`` (docs/ARCHITECTURE.md section 3).
    """
    return simulate_runs(layer_or_model, activations, config, engine=engine)[0]


@dataclass(frozen=True)
class Prepared:
    """A model encoded for a configuration and its memory plan: what every input of a batch shares."""

    model: EncodedModel
    plans: list[LayerPlan]
    config: SimConfig
    engine: str
    notes: list[str]  # re-encoding notes


def prepare(layer_or_model: EncodedLayer | EncodedModel, config: SimConfig | None = None, *,
            engine: str = "simpy") -> Prepared:
    """Re-encode the model for ``config`` where needed and plan its memory, once."""
    config = config or SimConfig()
    if engine not in ENGINES:
        raise EieInputError(f"engine {engine!r} is not one of {sorted(ENGINES)}")
    model, notes = adapt_encoding(as_model(layer_or_model), config)
    return Prepared(model, plan_model(model.layers, config), config, engine, notes)


def run_prepared(prep: Prepared, activations: np.ndarray, *, fa: int | None = None,
                 stacklevel: int = 2) -> tuple[Result, list[LayerRun]]:
    """One inference of a prepared model; ``fa`` (or the model's, or calibration on this input)
    fixes the activation format."""
    model, config = prep.model, prep.config
    x, input_notes = check_activations(activations, model)
    for note in input_notes:
        warnings.warn(note, EieWarning, stacklevel=stacklevel + 1)
    fa = fa if fa is not None else model.fa if model.fa is not None else activation_frac_bits(
        list(model.layers), x)
    x_fix = input_fix(x, fa)
    runs = ENGINES[prep.engine](model, prep.plans, x_fix, fa, config)
    if config.check or os.environ.get(CHECK_ENV) == "1":
        ins = [layer_input(layer, a, bias_fix(fa)) for a, layer in
               zip([x_fix, *(r.out_fix for r in runs[:-1])], model.layers, strict=True)]
        check_runs(model.layers, prep.plans, runs, ins, config)
    prov = provenance(config=config.to_dict(), engine=prep.engine, model=dict(model.provenance))
    result = build_result(model, runs, prep.plans, fa=fa, config=config, engine=prep.engine,
                          warnings=[*prep.notes, *input_notes], provenance=prov)
    return result, runs


def simulate_runs(layer_or_model: EncodedLayer | EncodedModel, activations: np.ndarray,
                  config: SimConfig | None = None, *,
                  engine: str = "simpy") -> tuple[Result, EncodedModel, list[LayerRun]]:
    """:func:`simulate`, also returning the (possibly re-encoded) model and the engines' raw
    timelines, for traces."""
    prep = prepare(layer_or_model, config, engine=engine)
    result, runs = run_prepared(prep, activations, stacklevel=3)
    return result, prep.model, runs
