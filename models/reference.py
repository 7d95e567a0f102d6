"""The Keras reference greedy decoder: the example's loop, calling the models directly (no ``predict()``).

It is the oracle for every parity test: start with ``"\\t"``, take the argmax, stop at ``"\\n"`` or the
length cap. Batched, with the same stop rule per row as the runtime.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np

from s2s_onnx.runtime.vocab import Vocabulary


@dataclass(frozen=True)
class ReferenceDecode:
    token_ids: list[list[int]]  # per row, without the end character
    ended: list[bool]  # True where the end character was emitted

    def texts(self, vocab: Vocabulary) -> list[str]:
        return [vocab.decode_ids(ids) for ids in self.token_ids]


def greedy_decode(
    encoder: keras.Model,
    decoder: keras.Model,
    encoder_input: np.ndarray,
    vocab: Vocabulary,
    max_length: int | None = None,
) -> ReferenceDecode:
    """Greedy-decode a batch of one-hot encoder inputs with Keras."""
    limit = vocab.max_decoder_len if max_length is None else max_length
    batch = encoder_input.shape[0]
    state_h, state_c = encoder(keras.ops.convert_to_tensor(encoder_input), training=False)
    token = np.zeros((batch, 1, vocab.num_decoder_tokens), dtype=np.float32)
    token[:, 0, vocab.start_id] = 1.0
    ids: list[list[int]] = [[] for _ in range(batch)]
    ended = [False] * batch
    for _ in range(limit):
        probs, state_h, state_c = decoder([keras.ops.convert_to_tensor(token), state_h, state_c], training=False)
        chosen = np.argmax(keras.ops.convert_to_numpy(probs)[:, -1, :], axis=-1)
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
    """Reference translations of raw texts (which must be in the vocabulary)."""
    out: list[str] = []
    for start in range(0, len(texts), batch_size):
        chunk = [vocab.clean(t) for t in texts[start : start + batch_size]]
        out.extend(greedy_decode(encoder, decoder, vocab.encode_sources(chunk), vocab).texts(vocab))
    return out
