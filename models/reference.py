"""The Keras reference decoders: the oracle of every parity check and test.

:func:`decode_sequence` is the Keras example's own ``decode_sequence``, line for line (calling the models
through one compiled ``tf.function`` each instead of ``predict()``, which runs the same graph: an eager call of
a recurrent layer steps through time in Python, minutes for a model with inputs of hundreds of characters):
append the argmax character and stop when it is ``"\\n"`` **or when the decoded text is longer than**
``max_decoder_seq_length``, so it can emit
``max_decoder_seq_length + 1`` characters. :func:`greedy_decode` applies the same rule to a batch at once, for
accuracy measurements over many inputs.

``max_length`` is the runtime's: the most tokens generated, so the example's rule is
``max_length = max_decoder_seq_length + 1`` (the default).
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from s2s_onnx.runtime.vocab import Vocabulary


@dataclass(frozen=True)
class ReferenceDecode:
    token_ids: list[list[int]]  # per row, without the end token
    ended: list[bool]  # True where the end token was emitted

    def texts(self, vocab: Vocabulary) -> list[str]:
        return [vocab.decode_ids(ids) for ids in self.token_ids]


_COMPILED: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()


def compiled(model: keras.Model) -> Any:
    """``model`` called in graph mode, as ``predict()`` calls it: one ``tf.function`` per model, traced once per
    input shape."""
    if model not in _COMPILED:
        _COMPILED[model] = tf.function(lambda inputs: model(inputs, training=False), reduce_retracing=True)
    return _COMPILED[model]


def _numpy(value: object) -> np.ndarray:
    return np.asarray(keras.ops.convert_to_numpy(value))


def _states(outputs: object) -> list[object]:
    """A model's outputs as a list (a one-layer GRU encoder has a single output)."""
    return list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]


def _encoded(encoder: keras.Model, decoder: keras.Model, input_seq: np.ndarray) -> tuple[list[object], list[object]]:
    """The encoder's outputs for ``input_seq`` as (memory, states): an attention decoder step takes
    ``[token, *memory, *states]`` (the encoder's outputs, and its mask) and returns ``[probs, *states]``."""
    outputs = _states(compiled(encoder)(keras.ops.convert_to_tensor(input_seq)))
    count = len(decoder.inputs) - len(decoder.outputs)
    return outputs[:count], outputs[count:]


def target_tokens(decoder: keras.Model, token_ids: np.ndarray, vocab: Vocabulary) -> np.ndarray:
    """The decoder's input for one step: ``(batch, 1)`` ids if it reads an Embedding, else one-hot vectors."""
    if len(decoder.inputs[0].shape) == 2:
        return np.asarray(token_ids, dtype=np.int64).reshape(-1, 1)
    target_seq = np.zeros((len(token_ids), 1, vocab.num_decoder_tokens), dtype=np.float32)
    target_seq[np.arange(len(token_ids)), 0, token_ids] = 1.0
    return target_seq


def decode_sequence(
    encoder: keras.Model, decoder: keras.Model, input_seq: np.ndarray, vocab: Vocabulary, max_length: int | None = None
) -> tuple[list[int], bool]:
    """The example's loop for one input ``(1, time, ...)``: (token ids without the end token, ended); with the
    author's loop rules where the vocabulary records them (another default cap; no end token: always the cap)."""
    max_decoder_seq_length = default_limit(vocab, max_length) - 1
    at_end = vocab.loop.stops_at_end
    memory, states_value = _encoded(encoder, decoder, input_seq)
    target_seq = target_tokens(decoder, np.array([vocab.start_id]), vocab)
    stop_condition = False
    decoded_sentence: list[int] = []
    while not stop_condition:
        token = keras.ops.convert_to_tensor(target_seq)
        output_tokens, *states = compiled(decoder)([token, *memory, *states_value])
        sampled_token_index = int(np.argmax(_numpy(output_tokens)[0, -1, :]))
        decoded_sentence.append(sampled_token_index)
        if (at_end and sampled_token_index == vocab.end_id) or len(decoded_sentence) > max_decoder_seq_length:
            stop_condition = True
        target_seq = target_tokens(decoder, np.array([sampled_token_index]), vocab)
        states_value = states
    ended = at_end and decoded_sentence[-1] == vocab.end_id
    return (decoded_sentence[:-1] if ended else decoded_sentence), ended


def default_limit(vocab: Vocabulary, max_length: int | None) -> int:
    """``max_length``, else the author's cap, else the example's ``max_decoder_seq_length + 1``."""
    if max_length is not None:
        return max_length
    return vocab.loop.max_length if vocab.loop.max_length is not None else vocab.max_decoder_len + 1


def example_decode(
    encoder: keras.Model,
    decoder: keras.Model,
    encoder_input: np.ndarray,
    vocab: Vocabulary,
    max_length: int | None = None,
) -> ReferenceDecode:
    """:func:`decode_sequence` for each row of a batch, one at a time, as the example decodes."""
    rows = [
        decode_sequence(encoder, decoder, encoder_input[i : i + 1], vocab, max_length)
        for i in range(len(encoder_input))
    ]
    return ReferenceDecode(token_ids=[ids for ids, _ in rows], ended=[ended for _, ended in rows])


def greedy_decode(
    encoder: keras.Model,
    decoder: keras.Model,
    encoder_input: np.ndarray,
    vocab: Vocabulary,
    max_length: int | None = None,
) -> ReferenceDecode:
    """The example's rule on a whole batch at once: each row stops at its end token or after ``max_length``."""
    limit = default_limit(vocab, max_length)
    at_end = vocab.loop.stops_at_end
    batch = encoder_input.shape[0]
    memory, states = _encoded(encoder, decoder, encoder_input)
    token = target_tokens(decoder, np.full(batch, vocab.start_id), vocab)
    ids: list[list[int]] = [[] for _ in range(batch)]
    ended = [False] * batch
    for _ in range(limit):
        probs, *states = compiled(decoder)([keras.ops.convert_to_tensor(token), *memory, *states])
        chosen = np.argmax(_numpy(probs)[:, -1, :], axis=-1)
        for row, token_id in enumerate(chosen.tolist()):
            if ended[row]:
                continue
            if at_end and token_id == vocab.end_id:
                ended[row] = True
            else:
                ids[row].append(token_id)
        if at_end and all(ended):
            break
        token = target_tokens(decoder, chosen, vocab)
    return ReferenceDecode(token_ids=ids, ended=ended)


def translate(
    encoder: keras.Model, decoder: keras.Model, texts: list[str], vocab: Vocabulary, batch_size: int = 64
) -> list[str]:
    """Reference translations of raw texts (which must be in the vocabulary), batched."""
    out: list[str] = []
    ids = len(encoder.inputs[0].shape) == 2
    for start in range(0, len(texts), batch_size):
        chunk = [vocab.clean(t) for t in texts[start : start + batch_size]]
        out.extend(greedy_decode(encoder, decoder, vocab.encode_sources(chunk, ids), vocab).texts(vocab))
    return out
