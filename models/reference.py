"""The Keras reference decoders: the oracle of every parity check and test.

:func:`decode_sequence` is the Keras example's own ``decode_sequence``, line for line (calling the models
directly instead of ``predict()``, which gives the same numbers): append the argmax character and stop when it
is ``"\\n"`` **or when the decoded text is longer than** ``max_decoder_seq_length``, so it can emit
``max_decoder_seq_length + 1`` characters. :func:`greedy_decode` applies the same rule to a batch at once, for
accuracy measurements over many inputs.

``max_length`` is the runtime's: the most tokens generated, so the example's rule is
``max_length = max_decoder_seq_length + 1`` (the default).
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np

from s2s_onnx.runtime.vocab import Vocabulary


@dataclass(frozen=True)
class ReferenceDecode:
    token_ids: list[list[int]]  # per row, without the end token
    ended: list[bool]  # True where the end token was emitted

    def texts(self, vocab: Vocabulary) -> list[str]:
        return [vocab.decode_ids(ids) for ids in self.token_ids]


def _numpy(value: object) -> np.ndarray:
    return np.asarray(keras.ops.convert_to_numpy(value))


def decode_sequence(
    encoder: keras.Model, decoder: keras.Model, input_seq: np.ndarray, vocab: Vocabulary, max_length: int | None = None
) -> tuple[list[int], bool]:
    """The example's loop for one input ``(1, time, chars)``: (token ids without the end token, ended)."""
    max_decoder_seq_length = (vocab.max_decoder_len + 1 if max_length is None else max_length) - 1
    states_value = list(encoder(keras.ops.convert_to_tensor(input_seq), training=False))
    target_seq = np.zeros((1, 1, vocab.num_decoder_tokens), dtype=np.float32)
    target_seq[0, 0, vocab.start_id] = 1.0
    stop_condition = False
    decoded_sentence: list[int] = []
    while not stop_condition:
        output_tokens, h, c = decoder([keras.ops.convert_to_tensor(target_seq), *states_value], training=False)
        sampled_token_index = int(np.argmax(_numpy(output_tokens)[0, -1, :]))
        decoded_sentence.append(sampled_token_index)
        if sampled_token_index == vocab.end_id or len(decoded_sentence) > max_decoder_seq_length:
            stop_condition = True
        target_seq = np.zeros((1, 1, vocab.num_decoder_tokens), dtype=np.float32)
        target_seq[0, 0, sampled_token_index] = 1.0
        states_value = [h, c]
    ended = decoded_sentence[-1] == vocab.end_id
    return (decoded_sentence[:-1] if ended else decoded_sentence), ended


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
    limit = vocab.max_decoder_len + 1 if max_length is None else max_length
    batch = encoder_input.shape[0]
    state_h, state_c = encoder(keras.ops.convert_to_tensor(encoder_input), training=False)
    token = np.zeros((batch, 1, vocab.num_decoder_tokens), dtype=np.float32)
    token[:, 0, vocab.start_id] = 1.0
    ids: list[list[int]] = [[] for _ in range(batch)]
    ended = [False] * batch
    for _ in range(limit):
        probs, state_h, state_c = decoder([keras.ops.convert_to_tensor(token), state_h, state_c], training=False)
        chosen = np.argmax(_numpy(probs)[:, -1, :], axis=-1)
        for row, token_id in enumerate(chosen.tolist()):
            if ended[row]:
                continue
            if token_id == vocab.end_id:
                ended[row] = True
            else:
                ids[row].append(token_id)
        if all(ended):
            break
        token[:] = 0.0
        token[np.arange(batch), 0, chosen] = 1.0
    return ReferenceDecode(token_ids=ids, ended=ended)


def translate(
    encoder: keras.Model, decoder: keras.Model, texts: list[str], vocab: Vocabulary, batch_size: int = 64
) -> list[str]:
    """Reference translations of raw texts (which must be in the vocabulary), batched."""
    out: list[str] = []
    for start in range(0, len(texts), batch_size):
        chunk = [vocab.clean(t) for t in texts[start : start + batch_size]]
        out.extend(greedy_decode(encoder, decoder, vocab.encode_sources(chunk), vocab).texts(vocab))
    return out
