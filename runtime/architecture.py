"""``Architecture``: what kind of encoder-decoder a bundle holds, as format version 2 of ``config.json`` states it.

The recurrent cell (LSTM or GRU), the layer count, the encoder's direction, the state tensors the decoder step
carries (names and widths, layer by layer), the input kind of each side (one-hot vectors, or token ids for an
``Embedding``) and the tokenization (characters or words). Every combination decodes; a description that does
not hang together (say, a GRU with two states per layer) is refused at load with an error that says why.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .errors import BundleFormatError

CELLS = ("lstm", "gru")
DIRECTIONS = ("forward", "bidirectional")
INPUT_KINDS = ("one_hot", "ids")
TOKENIZATIONS = ("char", "word")
ATTENTION_FORMS = ("dot", "concat", "additive", "luong")
ENCODER_OUTPUTS = "encoder_outputs"  # the top encoder layer's output sequence, which the attention reads
ENCODER_MASK = "encoder_mask"  # 1.0 at the encoder's real positions, 0.0 at masked ones (attention models)
MEMORY_NAMES = (ENCODER_OUTPUTS, ENCODER_MASK)


@dataclass(frozen=True)
class StateTensor:
    name: str
    width: int


def state_names(cell: str, layers: int) -> tuple[str, ...]:
    """The decoder step's state tensors: ``state_h``/``state_c`` (one GRU state: ``state_h``) for the first layer,
    then ``state_h_1``/``state_c_1`` and so on."""
    kinds = ("h", "c") if cell == "lstm" else ("h",)
    return tuple(f"state_{kind}" + (f"_{layer}" if layer else "") for layer in range(layers) for kind in kinds)


@dataclass(frozen=True)
class Architecture:
    cell: str
    layers: int
    direction: str
    input: str  # the encoder's input: "one_hot" or "ids"
    tokenization: str
    states: tuple[StateTensor, ...]
    target_input: str = "one_hot"  # the decoder's input
    attention: str | None = None  # one of ATTENTION_FORMS: the decoder attends over the encoder's outputs
    memory: tuple[str, ...] = ()  # encoder outputs besides the states that every decoder step reads, in order

    @property
    def state_names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.states)

    def describe(self) -> str:
        """E.g. ``2-layer bidirectional gru, ids/ids input, word tokens``."""
        direction = " bidirectional" if self.direction == "bidirectional" else ""
        inputs = self.input if self.input == self.target_input else f"{self.input}/{self.target_input}"
        attention = f", {self.attention} attention" if self.attention else ""
        return f"{self.layers}-layer{direction} {self.cell}{attention}, {inputs} input, {self.tokenization} tokens"

    @classmethod
    def classic_lstm(cls, latent_dim: int) -> Architecture:
        """The Keras example's model: what every format-1 bundle holds."""
        states = tuple(StateTensor(name, latent_dim) for name in state_names("lstm", 1))
        return cls("lstm", 1, "forward", "one_hot", "char", states)

    def to_dict(self) -> dict[str, Any]:
        return {
            "cell": self.cell,
            "layers": self.layers,
            "direction": self.direction,
            "input": self.input,
            "target_input": self.target_input,
            "tokenization": self.tokenization,
            "states": [{"name": s.name, "width": s.width} for s in self.states],
            **({"attention": self.attention, "memory": list(self.memory)} if self.attention else {}),
        }

    @classmethod
    def from_dict(cls, data: object, source: str) -> Architecture:
        if not isinstance(data, dict):
            raise BundleFormatError(f"{source}: field 'model' must be a JSON object; re-export the bundle")
        choices = {"cell": CELLS, "direction": DIRECTIONS, "input": INPUT_KINDS, "tokenization": TOKENIZATIONS}
        choices["target_input"] = INPUT_KINDS
        data = {"target_input": data.get("input"), **data}  # bundles written before target_input: both sides alike
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
            target_input=data["target_input"],
            **_attention(data, source),
        )

    def check_consistent(self, source: str) -> None:
        """The states are the ones this cell and layer count carry (names in order), or the bundle is refused."""
        wanted = state_names(self.cell, self.layers)
        if self.state_names != wanted:
            raise BundleFormatError(
                f"{source}: a {self.layers}-layer {self.cell} model carries states {list(wanted)}, but model.states "
                f"lists {list(self.state_names)}; re-export the bundle"
            )


def _attention(data: dict[str, Any], source: str) -> dict[str, Any]:
    """``attention`` and ``memory``, checked (bundles without attention have neither)."""
    attention, memory = data.get("attention"), data.get("memory", [])
    if attention is None and not memory:
        return {}
    if attention not in ATTENTION_FORMS:
        raise BundleFormatError(
            f"{source}: model.attention must be one of {', '.join(ATTENTION_FORMS)}, not {attention!r}"
        )
    if not isinstance(memory, list) or not memory or memory[0] != ENCODER_OUTPUTS or len(set(memory)) != len(memory):
        raise BundleFormatError(f"{source}: model.memory must list {ENCODER_OUTPUTS!r} first; re-export the bundle")
    if any(name not in MEMORY_NAMES for name in memory):
        raise BundleFormatError(f"{source}: model.memory may hold only {', '.join(MEMORY_NAMES)}, not {memory}")
    return {"attention": attention, "memory": tuple(memory)}


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
