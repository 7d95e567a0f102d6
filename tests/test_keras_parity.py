"""Keras tier: the runtime against the Keras example's own decode loop on tiny real models.

One model trained for seconds (mixed output lengths), and one under-trained model whose decodes all run to
the example's cap (``len(decoded) > max_decoder_seq_length``): both strategies, batch 1 and 16.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from s2s_onnx.runtime import Bundle, DecodeOptions, Seq2SeqModel

pytestmark = pytest.mark.keras


@pytest.fixture(scope="module")
def model(bundle: Path) -> Seq2SeqModel:
    return Seq2SeqModel(Bundle.open(bundle), DecodeOptions(allow_empty=True))  # the inputs include ""


@pytest.fixture(scope="module")
def reference(inference, vocab):
    from s2s_onnx.models.reference import example_decode

    def decode(texts: list[str], max_length: int | None = None):
        return example_decode(inference.encoder, inference.decoder, vocab.encode_sources(texts), vocab, max_length)

    return decode


@pytest.fixture(scope="session")
def undertrained(workdir: Path, pairs_file: Path, sources: list[str]):
    """One epoch at a tiny learning rate, and the end token's Dense bias pushed down so that it never wins: the
    example's situation with too little training, made certain (every decode runs to the cap)."""
    from s2s_onnx.export.tf.convert import ConvertOptions, convert
    from s2s_onnx.models.data import read_pairs
    from s2s_onnx.models.inference import build_inference_models
    from s2s_onnx.models.training import TrainSettings, save, train

    result = train(*read_pairs(pairs_file, 300), TrainSettings(epochs=1, latent_dim=16, verbose=0, learning_rate=1e-4))
    dense = result.model.layers[-1]
    kernel, bias = dense.get_weights()
    bias[result.vocabulary.end_id] -= 30.0
    dense.set_weights([kernel, bias])
    save(result, workdir / "undertrained")
    out = workdir / "undertrained-bundle"
    convert(
        workdir / "undertrained" / "model.keras",
        out,
        result.vocabulary,
        ConvertOptions(fused=True, sentences=tuple(sources[:32])),
    )
    return Seq2SeqModel(Bundle.open(out)), build_inference_models(result.model)


def test_mixed_inputs_have_mixed_output_lengths(reference, mixed_inputs) -> None:
    lengths = {len(ids) for ids in reference(mixed_inputs).token_ids}
    assert len(lengths) >= 3  # the parity tests below really mix short and long outputs


@pytest.mark.parametrize("batch_size", [1, 3, 16])
@pytest.mark.parametrize("strategy", ["steps", "fused"])
def test_identical_to_the_example_loop(strategy, batch_size, model, reference, mixed_inputs) -> None:
    expected = reference(mixed_inputs)
    results = model.decode(mixed_inputs, DecodeOptions(strategy=strategy, batch_size=batch_size, allow_empty=True))
    assert [list(r.token_ids) for r in results] == expected.token_ids
    assert [r.stop_reason == "end" for r in results] == expected.ended


@pytest.mark.parametrize("strategy", ["steps", "fused"])
def test_short_max_length(strategy, model, reference, mixed_inputs) -> None:
    expected = reference(mixed_inputs, max_length=2)
    results = model.decode(mixed_inputs, max_length=2, batch_size=5, strategy=strategy)
    assert [list(r.token_ids) for r in results] == expected.token_ids
    assert any(r.stop_reason == "max_length" for r in results)
    assert all(len(r.token_ids) <= 2 for r in results)


@pytest.mark.parametrize("batch_size", [1, 16])
@pytest.mark.parametrize("strategy", ["steps", "fused"])
def test_undertrained_model_hits_the_example_cap(undertrained, strategy, batch_size, sources, vocab) -> None:
    from s2s_onnx.models.reference import example_decode

    model, keras_models = undertrained
    texts = sources[:20]
    vocab = model.vocabulary
    expected = example_decode(keras_models.encoder, keras_models.decoder, vocab.encode_sources(texts), vocab)
    assert not any(expected.ended)  # every decode runs to the cap ...
    assert {len(ids) for ids in expected.token_ids} == {vocab.max_decoder_len + 1}  # ... of max_decoder_len + 1
    results = model.decode(texts, strategy=strategy, batch_size=batch_size)
    assert [list(r.token_ids) for r in results] == expected.token_ids
    assert {r.stop_reason for r in results} == {"max_length"}
    assert [model.translate(t, strategy=strategy) for t in texts[:3]] == ["".join(model.stream(t)) for t in texts[:3]]


def test_fused_exits_early_when_all_rows_end(model, mixed_inputs) -> None:
    from s2s_onnx.runtime.decoding import decode_fused

    x = model.vocabulary.encode_sources(mixed_inputs)
    tokens = decode_fused(model.bundle, x, 1000)
    assert tokens.ended.all()
    assert tokens.ids.shape[1] == int(tokens.lengths.max()) + 1 < 1000


def test_strategies_agree_and_probabilities(model, mixed_inputs) -> None:
    import numpy as np

    fused = model.decode(mixed_inputs)
    steps = model.decode(mixed_inputs, strategy="steps")
    assert [r.token_ids for r in fused] == [r.token_ids for r in steps]
    for a, b in zip(fused, steps, strict=True):
        np.testing.assert_allclose(a.probabilities, b.probabilities, atol=1e-5)
        assert all(0.0 < p <= 1.0 for p in a.probabilities)


def test_streaming_matches_reference(model, reference, mixed_inputs, vocab) -> None:
    expected = reference(mixed_inputs).texts(vocab)
    for text, want in zip(mixed_inputs, expected, strict=True):
        chunks = list(model.stream(text))
        assert all(len(c) == 1 for c in chunks)
        assert "".join(chunks) == want
