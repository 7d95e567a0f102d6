"""Train the Keras example's model: the classic character-level LSTM encoder-decoder with teacher forcing, or any of the
families s2s-onnx converts (GRU, stacked, bidirectional, Embedding inputs, word tokens)."""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import keras

from s2s_onnx.runtime.vocab import Vocabulary

from .data import VOCAB_NAME
from .settings import TrainSettings

logger = logging.getLogger(__name__)

SaveFormat = Literal["keras", "h5"]


@dataclass
class TrainResult:
    model: keras.Model
    vocabulary: Vocabulary
    history: dict[str, list[float]] = field(default_factory=dict)
    seconds: float = 0.0
    model_path: Path | None = None
    vocabulary_path: Path | None = None


def build_training_model(num_encoder_tokens: int, num_decoder_tokens: int, settings: TrainSettings) -> keras.Model:
    """The example's training model: encoder states initialise the decoder; Dense softmax on top. ``settings``
    choose the cell, the depth (layer k's states start decoder layer k), a Bidirectional encoder (forward and
    backward states concatenated into a decoder twice as wide) and Embedding inputs, as the tutorials that extend
    the example do."""
    rnn = keras.layers.LSTM if settings.cell == "lstm" else keras.layers.GRU
    width, layers = settings.latent_dim, settings.layers
    encoder_inputs, x = _side_input("encoder", num_encoder_tokens, settings.embedding)
    states: list[Any] = []
    for depth in range(layers):
        suffix = f"{settings.cell}_{depth}" if layers > 1 else settings.cell  # one layer: the example's names
        sequences = depth < layers - 1 or settings.attention is not None
        layer = rnn(width, return_sequences=sequences, return_state=True, name=f"encoder_{suffix}")
        if settings.bidirectional:
            layer = keras.layers.Bidirectional(layer, name=f"encoder_bi{suffix}")
        x, *found = layer(x)
        if settings.bidirectional:
            half = len(found) // 2
            found = [keras.layers.Concatenate()([f, b]) for f, b in zip(found[:half], found[half:], strict=True)]
        states.append(found)
    encoder_outputs = x
    decoder_inputs, x = _side_input("decoder", num_decoder_tokens, settings.embedding)
    decoder_width = width * (2 if settings.bidirectional else 1)
    for depth in range(layers):
        suffix = f"{settings.cell}_{depth}" if layers > 1 else settings.cell
        layer = rnn(decoder_width, return_sequences=True, return_state=True, name=f"decoder_{suffix}")
        x, *_ = layer(x, initial_state=states[depth])
    if settings.attention is not None:
        x = _attended(settings.attention, x, encoder_outputs, decoder_width)
    outputs = keras.layers.Dense(num_decoder_tokens, activation="softmax", name="decoder_dense")(x)
    return keras.Model([encoder_inputs, decoder_inputs], outputs, name="seq2seq")


def _attended(form: str, decoder_outputs: Any, encoder_outputs: Any, width: int) -> Any:
    """The decoder's outputs with their attention over the encoder's, as the tutorials write it: Keras'
    ``Attention`` (dot) or ``AdditiveAttention`` context concatenated with the decoder's outputs, or Luong's by
    hand (``Dot`` scores, softmax, ``Dot`` context, concatenated, then ``Dense(tanh)``)."""
    layers = keras.layers
    if form == "luong":
        scores = layers.Dot(axes=[2, 2], name="attention_scores")([decoder_outputs, encoder_outputs])
        weights = layers.Activation("softmax", name="attention_weights")(scores)
        context = layers.Dot(axes=[2, 1], name="attention_context")([weights, encoder_outputs])
    else:
        layer = layers.AdditiveAttention(name="attention") if form == "additive" else layers.Attention(name="attention")
        context = layer([decoder_outputs, encoder_outputs])
    joined = layers.Concatenate(name="attention_concat")([context, decoder_outputs])
    if form != "luong":
        return joined
    return layers.Dense(width, activation="tanh", name="attention_combine")(joined)


def _side_input(side: str, tokens: int, embedding: int) -> tuple[Any, Any]:
    """(Input, what the first recurrent layer reads): one-hot vectors, or ids through a masking Embedding."""
    if not embedding:
        inputs = keras.Input(shape=(None, tokens), name=f"{side}_inputs")
        return inputs, inputs
    inputs = keras.Input(shape=(None,), dtype="int64", name=f"{side}_inputs")
    return inputs, keras.layers.Embedding(tokens, embedding, mask_zero=True, name=f"{side}_embedding")(inputs)


def set_forget_bias(model: keras.Model, value: float) -> None:
    """Start every LSTM's forget gate at ``value``: the encoder must carry what it read across the padding
    spaces that follow a short input, and a forget bias above Keras' 1.0 lets gradients through from the start.
    Only the initial weights change; the architecture and the saved file stay the standard ones."""
    lstms = [layer for layer in model.layers if isinstance(layer, keras.layers.LSTM)]
    for wrapper in model.layers:
        if isinstance(wrapper, keras.layers.Bidirectional) and isinstance(wrapper.forward_layer, keras.layers.LSTM):
            lstms += [wrapper.forward_layer, wrapper.backward_layer]
    for layer in lstms:
        kernel, recurrent, bias = layer.get_weights()
        units = layer.units
        bias[units : 2 * units] = value  # Keras gate order: i, f, c, o
        layer.set_weights([kernel, recurrent, bias])


def train(
    sources: list[str], targets: list[str], settings: TrainSettings, callbacks: Sequence[Any] = ()
) -> TrainResult:
    """Build the vocabulary, the one-hot arrays and the model, and fit it with teacher forcing (``callbacks``:
    Keras callbacks for ``fit``, e.g. :class:`TimeLeft`)."""
    keras.utils.set_random_seed(settings.seed)
    ids = settings.embedding > 0
    vocab = Vocabulary.from_pairs(sources, targets, settings.tokenization, ids=ids)
    encoder_input = vocab.encode_sources(sources, ids)
    decoder_input, decoder_target = vocab.encode_targets(targets, ids)
    logger.info(
        "training on %d pairs: %d input and %d output tokens, lengths %d/%d, latent %d",
        len(sources),
        vocab.num_encoder_tokens,
        vocab.num_decoder_tokens,
        vocab.max_encoder_len,
        vocab.max_decoder_len,
        settings.latent_dim,
    )
    model = build_training_model(vocab.num_encoder_tokens, vocab.num_decoder_tokens, settings)
    if settings.forget_bias is not None:
        set_forget_bias(model, settings.forget_bias)
    options: dict[str, float] = {}
    if settings.learning_rate is not None:
        options["learning_rate"] = settings.learning_rate
    if settings.clipnorm is not None:
        options["clipnorm"] = settings.clipnorm
    optimizer = keras.optimizers.get({"class_name": settings.optimizer, "config": options})
    model.compile(
        optimizer=optimizer,
        loss="categorical_crossentropy" if decoder_target.ndim == 3 else "sparse_categorical_crossentropy",
        metrics=["accuracy"],
        jit_compile=settings.jit_compile,
    )
    verbose = settings.verbose if settings.verbose is not None else (1 if sys.stdout.isatty() else 2)
    started = time.perf_counter()
    history = model.fit(
        [encoder_input, decoder_input],
        decoder_target,
        batch_size=settings.batch_size,
        epochs=settings.epochs,
        validation_split=settings.validation_split,
        shuffle=True,
        verbose=verbose,
        callbacks=list(callbacks),
    )
    seconds = time.perf_counter() - started
    return TrainResult(
        model=model,
        vocabulary=vocab,
        history={k: [float(v) for v in vals] for k, vals in history.history.items()},
        seconds=seconds,
    )


def save(result: TrainResult, out_dir: str | Path, fmt: SaveFormat = "keras", name: str = "model") -> TrainResult:
    """Save the model (``model.keras`` or ``model.h5``) and ``vocabulary.json`` beside it."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model_path = out / f"{name}.{fmt}"
    result.model.save(model_path)
    vocab_path = out / VOCAB_NAME
    vocab = result.vocabulary
    data = vocab.to_dict() if vocab.tokenization == "char" and vocab.pad_char else vocab.to_token_lists()
    vocab_path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", "utf-8")
    result.model_path, result.vocabulary_path = model_path, vocab_path
    return result


class TimeLeft(keras.callbacks.Callback):
    """Reports after each epoch how long training has taken and about how long it has left."""

    def __init__(self, report: Callable[[str], None]) -> None:
        super().__init__()
        self.report = report
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        total = int(self.params.get("epochs") or 0)
        elapsed = time.perf_counter() - self.started
        left = elapsed / (epoch + 1) * (total - epoch - 1)
        self.report(f"epoch {epoch + 1}/{total}: {elapsed / 60:.1f} min so far, about {left / 60:.1f} min left")
