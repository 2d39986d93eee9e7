"""A model: encoded layers whose shapes chain, with one activation format."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from compressor.encode import EncodedLayer
from compressor.errors import EieInputError


@dataclass(frozen=True, eq=False)
class EncodedModel:
    """Layers run in order; layer ``l``'s outputs, in place in the PEs, are layer ``l+1``'s inputs.

    ``fa`` is the fraction-bit count of the activation format (one for the whole
    model); ``None`` means no calibration inputs were given, and the simulator
    calibrates on the input it is handed. ``input_after_relu`` records that the
    first layer's inputs come from a ReLU, so negative inputs deserve a warning.
    Every layer but the last applies ReLU at write-back (docs/ARCHITECTURE.md section 1).
    """

    layers: tuple[EncodedLayer, ...]
    fa: int | None = None
    input_after_relu: bool = False
    provenance: dict[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "layers", tuple(self.layers))
        check_chain([(lay.name, lay.m, lay.n) for lay in self.layers])
        if self.fa is not None and not (isinstance(self.fa, int) and 0 <= self.fa <= 15):
            raise EieInputError(f"model: activation fraction bits fa = {self.fa!r} is outside 0..15")

    @property
    def n_inputs(self) -> int:
        return self.layers[0].n

    @property
    def n_outputs(self) -> int:
        return self.layers[-1].m

    def relu(self, index: int) -> bool:
        """ReLU at write-back for every layer but the last."""
        return index < len(self.layers) - 1

    def with_layers(self, layers: Sequence[EncodedLayer]) -> EncodedModel:
        return EncodedModel(tuple(layers), self.fa, self.input_after_relu, dict(self.provenance))

    def with_fa(self, fa: int, **provenance: object) -> EncodedModel:
        """The model with an activation format (and notes on how it was found)."""
        return EncodedModel(self.layers, fa, self.input_after_relu, {**self.provenance, **provenance})


def check_chain(shapes: Sequence[tuple[str, int, int]], where: str = "model", *,
                transposable: bool = False) -> None:
    """Each layer's ``(name, outputs, inputs)``: its inputs must equal the previous layer's outputs.

    With ``transposable`` (trained weights, not yet encoded), the error names a layer at the
    break that would fit the chain transposed: weights saved inputs x outputs.
    """
    if not shapes:
        raise EieInputError(f"{where}: it has no layers")
    dims = [(m, n) for _, m, n in shapes]
    for i in range(1, len(dims)):
        if dims[i][1] == dims[i - 1][0]:
            continue
        hint = ""
        for j in (i - 1, i) if transposable else ():  # only the layers at the break can mend it
            t = dims[:j] + [dims[j][::-1]] + dims[j + 1:]
            if all(t[k][1] == t[k - 1][0] for k in range(1, len(t))):
                hint = (f"; {shapes[j][0]} ({dims[j][0]} x {dims[j][1]}) fits the chain transposed: weights "
                        "must be outputs x inputs (PyTorch's Linear.weight), not inputs x outputs as ONNX "
                        "MatMul, TensorFlow and Keras store them; transpose it")
                break
        raise EieInputError(f"{where}: layer {shapes[i][0]} ({dims[i][0]} x {dims[i][1]}) takes {dims[i][1]} "
                            f"inputs but the layer before it, {shapes[i - 1][0]}, has {dims[i - 1][0]} "
                            f"outputs; shapes must chain{hint}")


def as_model(layer_or_model: EncodedLayer | EncodedModel) -> EncodedModel:
    """Wrap a single layer as a one-layer model."""
    if isinstance(layer_or_model, EncodedModel):
        return layer_or_model
    if isinstance(layer_or_model, EncodedLayer):
        return EncodedModel((layer_or_model,))
    raise EieInputError(f"expected an EncodedLayer or EncodedModel, got {type(layer_or_model).__name__}")
