"""Beam search against a plain reference beam search written directly over the user's Keras step model (the
example's ``decoder_model``, one beam at a time): both of the runtime's searches, ``beam.onnx`` and the step
path, give the same hypotheses in the same order, log-probabilities and scores within 1e-4."""

from __future__ import annotations

import heapq
from pathlib import Path

import numpy as np
import pytest

from s2s_onnx.runtime import Seq2SeqModel
from s2s_onnx.runtime.search import length_norm


def keras_beam(inference, vocab, text: str, beam: int, max_length: int, alpha: float) -> list[tuple]:
    """(token ids, log-prob, score, ended) of every finished hypothesis, best first: each live beam is fed its
    last token through the Keras decoder step, the best ``beam`` candidates (ties: earlier beam, lower token)
    go on, and one that emits the end token (or reaches ``max_length``) is finished."""
    import keras

    from s2s_onnx.models.reference import target_tokens

    x = vocab.encode_sources([vocab.clean(text)], len(inference.encoder.inputs[0].shape) == 2)
    start = inference.encoder(keras.ops.convert_to_tensor(x), training=False)
    start = list(start) if isinstance(start, (list, tuple)) else [start]
    memory_count = len(inference.decoder.inputs) - len(inference.decoder.outputs)  # an attention step's extra inputs
    memory, start = start[:memory_count], start[memory_count:]
    live = [(0.0, [], start)]
    finished = []
    for step in range(max_length):
        candidates = []
        for order, (score, ids, states) in enumerate(live):
            token = target_tokens(inference.decoder, np.array([ids[-1] if ids else vocab.start_id]), vocab)
            step_inputs = [keras.ops.convert_to_tensor(token), *memory, *states]
            probs, *new_states = inference.decoder(step_inputs, training=False)
            with np.errstate(divide="ignore"):
                log_probs = np.log(np.asarray(probs, dtype=np.float64)[0, -1])
            candidates += [(score + log_probs[v], order, v, ids, new_states) for v in range(len(log_probs))]
        best = heapq.nsmallest(beam, candidates, key=lambda c: (-c[0], c[1], c[2]))
        live = []
        for score, _, token, ids, states in best:
            if token == vocab.end_id or step == max_length - 1:
                ended = token == vocab.end_id
                kept = ids if ended else [*ids, token]
                finished.append((kept, score, score / length_norm(len(ids) + 1, alpha), ended))
            else:
                live.append((score, [*ids, token], states))
        if not live:
            break
    return sorted(finished, key=lambda f: -f[2])


@pytest.mark.parametrize(("beam", "alpha"), [(2, 0.0), (4, 0.6)])
def test_beam_search_equals_a_reference_over_the_keras_step_model(
    bundle: Path, inference, vocab, sources: list[str], beam: int, alpha: float
) -> None:
    model = Seq2SeqModel.load(bundle)
    assert model.bundle.beam is not None, "a fused bundle carries beam.onnx"
    texts = sorted(set(sources), key=len)[::97][:6]
    max_length = model.max_length()
    for strategy in ("auto", "steps"):
        results = model.decode(texts, beam_size=beam, num_return=beam, length_penalty=alpha, strategy=strategy)
        for text, result in zip(texts, results, strict=True):
            want = keras_beam(inference, vocab, text, beam, max_length, alpha)[: len(result.hypotheses)]
            got = result.hypotheses
            assert [list(h.token_ids) for h in got] == [w[0] for w in want], (strategy, text)
            assert [h.stop_reason == "end" for h in got] == [w[3] for w in want]
            np.testing.assert_allclose([h.log_prob for h in got], [w[1] for w in want], atol=1e-4)
            np.testing.assert_allclose([h.score for h in got], [w[2] for w in want], atol=1e-4)
