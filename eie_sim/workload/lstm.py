"""An LSTM on EIE: each time step is two GEMV jobs on the array, the gates on the host.

A step computes the four gates' pre-activations ``W x_t + U h_{t-1} + b`` (PyTorch's gate
order i, f, g, o: ``W`` is ``4H x X``, ``U`` is ``4H x H``, the bias rides in ``W``'s bias
column). On EIE those are two jobs fed by the host, ``Wx`` (input ``x``) and ``Uh`` (input
``h``), with no ReLU at write-back; both outputs go to the host, which adds them, applies
the sigmoids and tanhs, keeps the cell state and sends ``h_t`` back for the next step. The
host's work is not modelled; the vectors it sends and receives are counted as host
transfers (``Result.host_bytes``, ``host_cycles``, ``host_energy_j``).
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from compressor.calibrate import float_forward
from compressor.encode import EncodedLayer
from compressor.errors import EieInputError
from compressor.fixedpoint import frac_bits
from compressor.pipeline import CompressOptions, compress_layer
from eie_sim.config import SimConfig
from eie_sim.result import Result
from eie_sim.simulate import DEFAULT_ENGINE, simulate
from eie_sim.workload.graph import Graph, Job, graph_toml

#: The host inputs and the jobs of a step, as a graph file names them.
X, H, WX, UH = "x", "h", "Wx", "Uh"

GRAPH_COMMENT = ("One LSTM time step on EIE: two GEMVs fed by the host, no ReLU; the host adds them\n"
                 "and applies the gates (eie_sim/workload/lstm.py). fa: the sequence's activation format.")


@dataclass(frozen=True)
class LstmLayers:
    """The two encoded matrices of an LSTM layer: ``w`` (4H x X, with the bias) and ``u`` (4H x H)."""

    w: EncodedLayer
    u: EncodedLayer

    def __post_init__(self) -> None:
        if self.w.m != self.u.m or self.w.m % 4:
            raise EieInputError(f"LSTM: W has {self.w.m} rows and U {self.u.m}; both must be 4 x hidden")
        if self.u.n != self.u.m // 4:
            raise EieInputError(f"LSTM: U is {self.u.m} x {self.u.n}; it must be 4H x H with H = "
                                f"{self.u.m // 4}")

    @property
    def hidden(self) -> int:
        return self.u.n


def compress_lstm(w: np.ndarray, u: np.ndarray, b: np.ndarray | None,
                  options: CompressOptions | None = None) -> LstmLayers:
    """Prune, share and encode an LSTM layer's ``W`` (with ``b``) and ``U``, each on its own."""
    w, u = np.asarray(w), np.asarray(u)
    if w.ndim != 2 or u.ndim != 2 or u.shape[0] != 4 * u.shape[1] or w.shape[0] != u.shape[0]:
        raise EieInputError(f"LSTM: W is {w.shape} and U {u.shape}; expected 4H x X and 4H x H")
    return LstmLayers(compress_layer(w, b, options, name="W"), compress_layer(u, None, options, name="U"))


def step_graph(layers: LstmLayers, fa: int) -> Graph:
    """One time step: the graph ``eie simulate`` runs from ``lstm.toml``."""
    return Graph((Job(WX, layers.w, X, relu=False), Job(UH, layers.u, H, relu=False)), fa=fa)


def gates(pre: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The host's part of a step: ``(h_t, c_t)`` from the pre-activations and ``c_{t-1}``."""
    i, f, g, o = np.split(pre, 4)
    sig = lambda v: 1.0 / (1.0 + np.exp(-v))  # noqa: E731
    c = sig(f) * c + sig(i) * np.tanh(g)
    return sig(o) * np.tanh(c), c


def _float(layer: EncodedLayer, v: np.ndarray) -> np.ndarray:
    """The encoded layer's output in float for one vector, no ReLU."""
    return float_forward(layer, np.asarray(v, np.float64)[None, :], relu=False)[0]


def _float_steps(layers: LstmLayers, xs: np.ndarray, h0: np.ndarray,
                 c0: np.ndarray) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """The float LSTM with the encoded (pruned, shared) weights: ``(W x_t, U h_{t-1}, h_t)`` per step."""
    h, c = h0, c0
    for x in xs:
        wx, uh = _float(layers.w, x), _float(layers.u, h)
        h, c = gates(wx + uh, c)
        yield wx, uh, h


def reference(layers: LstmLayers, xs: np.ndarray, h0: np.ndarray, c0: np.ndarray) -> np.ndarray:
    """The float LSTM with the encoded (pruned, shared) weights: ``h_t`` for every step."""
    return np.array([h for _, _, h in _float_steps(layers, xs, h0, c0)])


def activation_format(layers: LstmLayers, xs: np.ndarray, h0: np.ndarray, c0: np.ndarray) -> int:
    """Fraction bits for the whole sequence: the largest of the inputs, the hidden states (tanh,
    so below 1) and both jobs' outputs in the float reference."""
    biggest = max(1.0, float(np.max(np.abs(xs))), float(np.max(np.abs(h0), initial=0)))
    for wx, uh, _ in _float_steps(layers, xs, h0, c0):
        biggest = max(biggest, float(np.max(np.abs(wx))), float(np.max(np.abs(uh))))
    return frac_bits(biggest)


@dataclass(frozen=True)
class LstmRun:
    """A sequence on EIE: the hidden states and each step's Result."""

    h: np.ndarray  # steps x H
    c: np.ndarray  # H, the last cell state
    steps: tuple[Result, ...]
    fa: int

    @property
    def cycles(self) -> int:
        return sum(r.cycles for r in self.steps)

    @property
    def energy_j(self) -> float:
        return sum(r.energy_j for r in self.steps)

    @property
    def host_bytes(self) -> int:
        return sum(r.host_bytes for r in self.steps)


def run(layers: LstmLayers, xs: np.ndarray, config: SimConfig | None = None, *,
        h0: np.ndarray | None = None, c0: np.ndarray | None = None, fa: int | None = None,
        engine: str = DEFAULT_ENGINE) -> LstmRun:
    """Run ``xs`` (steps x X) through the LSTM, a step at a time: two jobs on EIE, the gates on
    the host; ``h0``/``c0`` default to zeros and ``fa`` to :func:`activation_format`."""
    xs = np.asarray(xs, np.float64)
    if xs.ndim != 2 or xs.shape[1] != layers.w.n:
        raise EieInputError(f"LSTM inputs have shape {xs.shape}; expected (steps, {layers.w.n})")
    hidden = layers.hidden
    h = np.zeros(hidden) if h0 is None else np.asarray(h0, np.float64)
    c = np.zeros(hidden) if c0 is None else np.asarray(c0, np.float64)
    if h.shape != (hidden,) or c.shape != (hidden,):
        raise EieInputError(f"LSTM: h0 and c0 must have {hidden} values each")
    fa = activation_format(layers, xs, h, c) if fa is None else fa
    graph = step_graph(layers, fa)
    results, hs = [], []
    for x in xs:
        res = simulate(graph, {X: x, H: h}, config, engine=engine)
        pre = (res.outputs_fix[WX] + res.outputs_fix[UH]) / 2.0**fa
        h, c = gates(pre, c)
        results.append(res)
        hs.append(h)
    return LstmRun(np.array(hs), c, tuple(results), fa)


def write_graph_files(layers: LstmLayers, out: Path, fa: int, first_input: np.ndarray,
                      h0: Sequence[float] | np.ndarray) -> list[Path]:
    """``W.eie``, ``U.eie``, ``lstm.toml`` and a step's ``x.npy``/``h.npy`` in ``out``: what
    ``eie simulate out/lstm.toml --activations x=out/x.npy --activations h=out/h.npy`` runs."""
    from compressor import eiefile
    from compressor.outputs import write_atomic

    out.mkdir(parents=True, exist_ok=True)
    paths = [eiefile.save(layers.w, out / "W.eie", force=True),
             eiefile.save(layers.u, out / "U.eie", force=True)]
    toml = graph_toml(step_graph(layers, fa), {WX: "W.eie", UH: "U.eie"}, comment=GRAPH_COMMENT)
    paths.append(write_atomic(out / "lstm.toml", toml.encode(), force=True))
    for name, v in ((X, first_input), (H, h0)):
        buf = io.BytesIO()
        np.save(buf, np.asarray(v, np.float64))
        paths.append(write_atomic(out / f"{name}.npy", buf.getvalue(), force=True))
    return paths
