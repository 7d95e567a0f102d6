"""``Masking(mask_value=0.)`` in front of the encoder (and decoder) RNN on zero-padded one-hot inputs: Keras skips
the padded steps (states carried through), and so do the converted graphs, step loop and fused alike, for batches
of inputs of different lengths; an inference pair with Masking converts too; other mask values are refused."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from families import randomize

from s2s_onnx.runtime import Seq2SeqModel
from s2s_onnx.runtime.vocab import Vocabulary

pytestmark = pytest.mark.keras
WORDS = ["abc", "ab", "abcdefg", "a", "bca", "cab", "gfedcba", "bb", "c", "fed"]


def vocabulary() -> Vocabulary:
    """Zero-vector padding (``padding: ""``): what a model with Masking(0.) was trained on."""
    base = Vocabulary.from_pairs(WORDS, [w[::-1].upper() for w in WORDS])
    return dataclasses.replace(base, pad_char="")


def masked_model(keras, cell: str, vocab: Vocabulary, masking: bool = True, mask_value: float = 0.0):  # type: ignore[no-untyped-def]
    rnn = getattr(keras.layers, cell)
    enc_in = keras.Input((None, vocab.num_encoder_tokens), name="encoder_inputs")
    x = keras.layers.Masking(mask_value)(enc_in) if masking else enc_in
    _, *states = rnn(6, return_state=True)(x)
    dec_in = keras.Input((None, vocab.num_decoder_tokens), name="decoder_inputs")
    y = keras.layers.Masking(0.0)(dec_in) if masking else dec_in
    seq, *_ = rnn(6, return_sequences=True, return_state=True)(y, initial_state=states)
    model = keras.Model([enc_in, dec_in], keras.layers.Dense(vocab.num_decoder_tokens, activation="softmax")(seq))
    randomize(model, vocab.end_id, 0.5, 3)
    return model


@pytest.fixture(scope="module", params=["LSTM", "GRU"])
def masked(request, tmp_path_factory):  # type: ignore[no-untyped-def]
    import keras

    from s2s_onnx.export.tf.convert import ConvertOptions, convert

    vocab = vocabulary()
    model = masked_model(keras, request.param, vocab)
    directory = tmp_path_factory.mktemp(f"masked-{request.param}")
    model.save(directory / "model.keras")
    result = convert(
        directory / "model.keras", directory / "bundle", vocab, ConvertOptions(fused=True, sentences=tuple(WORDS))
    )
    assert result.report is not None and result.report.ok, result.report.format()
    return request.param, model, vocab, result.bundle_dir, directory


def test_masked_decodes_equal_the_keras_loop_in_mixed_length_batches(masked) -> None:
    from s2s_onnx.models.inference import build_inference_models
    from s2s_onnx.models.reference import example_decode

    _, model, vocab, bundle, _ = masked
    models = build_inference_models(model)
    x = vocab.encode_sources(WORDS)
    assert x[1, 2:].sum() == 0  # padded with zero vectors
    expected = example_decode(models.encoder, models.decoder, x, vocab).texts(vocab)
    runtime = Seq2SeqModel.load(bundle)
    for strategy in ("fused", "steps"):
        assert runtime.translate(WORDS, strategy=strategy, batch_size=16) == expected
        assert [runtime.translate(w, strategy=strategy) for w in WORDS] == expected


def test_the_mask_matters(masked) -> None:
    """Without the Masking layers the same weights give other encoder states on padded inputs: the graphs that
    equal the masked model do skip the padding."""
    import keras

    from s2s_onnx.models.inference import build_inference_models, call_keras

    cell, model, vocab, bundle, _ = masked
    plain = masked_model(keras, cell, vocab, masking=False)
    plain.set_weights(model.get_weights())
    x = vocab.encode_sources(WORDS)
    masked_states = call_keras(build_inference_models(model).encoder, [x])[0]
    plain_states = call_keras(build_inference_models(plain).encoder, [x])[0]
    runtime = Seq2SeqModel.load(bundle)
    onnx_states = runtime.bundle.encoder.run(None, {"encoder_inputs": x})[0]
    np.testing.assert_allclose(onnx_states, masked_states, atol=1e-5)
    assert np.abs(onnx_states - plain_states).max() > 1e-2


def test_an_inference_pair_with_masking_converts(masked, capsys) -> None:
    import keras

    from s2s_onnx.runtime.cli import main

    cell, model, vocab, bundle, directory = masked
    rnns = [layer for layer in model.layers if isinstance(layer, getattr(keras.layers, cell))]
    maskings = [layer for layer in model.layers if isinstance(layer, keras.layers.Masking)]
    enc_in, dec_in = model.inputs
    _, *states = rnns[0](maskings[0](enc_in))
    keras.Model(enc_in, states).save(directory / "encoder.keras")
    state_in = [keras.Input((6,)) for _ in states]
    seq, *out = rnns[1](maskings[1](dec_in), initial_state=state_in)
    keras.Model([dec_in, *state_in], [model.layers[-1](seq), *out]).save(directory / "decoder.keras")
    (directory / "vocab.json").write_text(__import__("json").dumps(vocab.to_token_lists()))
    args = ["convert", str(directory / "encoder.keras"), "--decoder-model", str(directory / "decoder.keras")]
    assert main([*args, "--vocab", str(directory / "vocab.json"), "-o", str(directory / "pair")]) == 0
    assert Seq2SeqModel.load(directory / "pair").translate(WORDS) == Seq2SeqModel.load(bundle).translate(WORDS)


def test_other_mask_values_are_refused(tmp_path: Path, capsys) -> None:
    import json

    import keras

    from s2s_onnx.runtime.cli import main

    vocab = vocabulary()
    masked_model(keras, "LSTM", vocab, mask_value=1.0).save(tmp_path / "model.keras")
    (tmp_path / "vocab.json").write_text(json.dumps(vocab.to_token_lists()))
    code = main(
        ["convert", str(tmp_path / "model.keras"), "--vocab", str(tmp_path / "vocab.json"), "-o", str(tmp_path / "b")]
    )
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("s2s-onnx:")]
    assert code == 2 and len(err) == 1 and "(Masking) has mask_value=1.0" in err[0] and not (tmp_path / "b").exists()
