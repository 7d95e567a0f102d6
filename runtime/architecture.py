"""``Architecture``: what kind of encoder-decoder a bundle holds, as format version 2 of ``config.json`` states it.

The recurrent cell, the layer count, the encoder's direction, the state tensors the decoder step carries
(names and widths), the input kind (one-hot or token ids) and the tokenization (characters or words). This
runtime decodes the classic shape (one LSTM layer each side, the encoder forward or bidirectional, one-hot
characters); a bundle that describes anything else is refused at load with an error that says what it holds
and what is supported.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from .errors import BundleFormatError

CELLS = ("lstm", "gru")
DIRECTIONS = ("forward", "bidirectional")
INPUT_KINDS = ("one_hot", "ids")
TOKENIZATIONS = ("char", "word")


@dataclass(frozen=True)
class StateTensor:
    name: str
    width: int


@dataclass(frozen=True)
class Architecture:
    cell: str
    layers: int
    direction: str
    input: str
    tokenization: str
    states: tuple[StateTensor, ...]

    @classmethod
    def classic_lstm(cls, latent_dim: int, state_names: tuple[str, str]) -> Architecture:
        """The Keras example's model: what every format-1 bundle holds."""
        states = tuple(StateTensor(name, latent_dim) for name in state_names)
        return cls("lstm", 1, "forward", "one_hot", "char", states)

    def to_dict(self) -> dict[str, Any]:
        return {
            "cell": self.cell,
            "layers": self.layers,
            "direction": self.direction,
            "input": self.input,
            "tokenization": self.tokenization,
            "states": [{"name": s.name, "width": s.width} for s in self.states],
        }

    @classmethod
    def from_dict(cls, data: object, source: str) -> Architecture:
        if not isinstance(data, dict):
            raise BundleFormatError(f"{source}: field 'model' must be a JSON object; re-export the bundle")
        choices = {"cell": CELLS, "direction": DIRECTIONS, "input": INPUT_KINDS, "tokenization": TOKENIZATIONS}
        for key, allowed in choices.items():
            if data.get(key) not in allowed:
                raise BundleFormatError(
                    f"{source}: model.{key} must be one of {', '.join(allowed)}, not {data.get(key)!r}"
                )
        layers = data.get("layers")
        if not isinstance(layers, int) or isinstance(layers, bool) or not 1 <= layers <= 64:
            raise BundleFormatError(f"{source}: model.layers must be an integer from 1 to 64, not {layers!r}")
        return cls(
            cell=data["cell"],
            layers=layers,
            direction=data["direction"],
            input=data["input"],
            tokenization=data["tokenization"],
            states=_states(data.get("states"), source),
        )

    def check_supported(self, classic: Architecture, source: str) -> None:
        """This runtime decodes ``classic`` with a forward or bidirectional encoder (the decoder step is the same
        LSTM either way); more families come with later versions."""
        if self not in (classic, replace(classic, direction="bidirectional")):
            raise BundleFormatError(
                f"{source} describes a {self.layers}-layer {self.direction} {self.cell} model with {self.input} "
                f"{self.tokenization} inputs and states {[(s.name, s.width) for s in self.states]}; this s2s-onnx "
                f"decodes one LSTM layer (forward or bidirectional encoder) with one-hot characters and states "
                f"{[(s.name, s.width) for s in classic.states]}"
            )


def _states(value: object, source: str) -> tuple[StateTensor, ...]:
    if not isinstance(value, list) or not value:
        raise BundleFormatError(f"{source}: model.states must be a non-empty list; re-export the bundle")
    states = []
    for index, item in enumerate(value):
        name = item.get("name") if isinstance(item, dict) else None
        width = item.get("width") if isinstance(item, dict) else None
        if not isinstance(name, str) or not name or not isinstance(width, int) or isinstance(width, bool) or width < 1:
            raise BundleFormatError(f"{source}: model.states[{index}] must be {{'name': str, 'width': int >= 1}}")
        states.append(StateTensor(name, width))
    return tuple(states)
