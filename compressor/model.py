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


def check_chain(shapes: Sequence[tuple[str, int, int]]) -> None:
    """Each layer's input count must equal the previous layer's output count."""
    if not shapes:
        raise EieInputError("model: it has no layers")
    for (prev, m, _), (name, _, n) in zip(shapes, shapes[1:], strict=False):
        if n != m:
            raise EieInputError(f"model: layer {name!r} takes {n} inputs but the layer before it, "
                                f"{prev!r}, has {m} outputs; shapes must chain")


def as_model(layer_or_model: EncodedLayer | EncodedModel) -> EncodedModel:
    """Wrap a single layer as a one-layer model."""
    if isinstance(layer_or_model, EncodedModel):
        return layer_or_model
    if isinstance(layer_or_model, EncodedLayer):
        return EncodedModel((layer_or_model,))
    raise EieInputError(f"expected an EncodedLayer or EncodedModel, got {type(layer_or_model).__name__}")
