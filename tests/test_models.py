"""Training the Keras example's model and splitting it into encoder + decoder-step models (real Keras)."""

from __future__ import annotations

import numpy as np
import pytest

from s2s_onnx.runtime import NotEncoderDecoderError

pytestmark = pytest.mark.keras


def test_loss_falls(trained) -> None:
    loss = trained.history["loss"]
    assert loss[-1] < 0.9 * loss[0]
    assert "val_loss" in trained.history


def test_saved_files(keras_file, workdir) -> None:
    assert keras_file.is_file()
    assert (workdir / "keras3" / "vocabulary.json").is_file()
    assert (workdir / "keras3" / "model.h5").is_file()


def unusual_model():
    """Same architecture, odd layer names and creation order, decoder input first."""
    import keras

    dense = keras.layers.Dense(7, activation="softmax", name="aaa_first")
    dec_in = keras.Input((None, 7), name="zz_target_side")
    enc_in = keras.Input((None, 5), name="a_source_side")
    dec_lstm = keras.layers.LSTM(12, return_sequences=True, return_state=True, name="lstm_encoderish")
    enc_lstm = keras.layers.LSTM(12, return_state=True, name="lstm_decoderish")
    _, h, c = enc_lstm(enc_in)
    seq, _, _ = dec_lstm(dec_in, initial_state=[h, c])
    return keras.Model([dec_in, enc_in], dense(seq))


def test_split_is_exact_for_unusual_names_and_order() -> None:
    from s2s_onnx.models.inference import build_inference_models, split_max_abs_diff

    model = unusual_model()
    models = build_inference_models(model)
    assert models.spec.layer_names == ("lstm_decoderish", "lstm_encoderish", "aaa_first")
    assert models.spec.encoder_input_position == 1
    assert split_max_abs_diff(model, models) <= 1e-5


def test_split_is_exact_for_trained_model(trained, inference) -> None:
    from s2s_onnx.models.inference import split_max_abs_diff

    assert split_max_abs_diff(trained.model, inference) <= 1e-5
    assert [i.name for i in inference.encoder.inputs] == ["encoder_inputs"]
    assert [i.name for i in inference.decoder.inputs] == ["decoder_inputs", "state_h", "state_c"]


def test_not_an_encoder_decoder_says_what_was_found() -> None:
    import keras

    x = keras.Input((None, 4))
    y = keras.layers.Dense(3)(keras.layers.LSTM(8, return_sequences=True)(x))
    from s2s_onnx.models.inference import build_inference_models

    with pytest.raises(NotEncoderDecoderError, match="found no recurrent decoder layer initialised") as info:
        build_inference_models(keras.Model(x, y))
    assert "Dense" in str(info.value)


def test_reference_decoders_stop_at_end_or_cap(inference, vocab, sources) -> None:
    """The batched reference applies the example's rule exactly as the literal one-at-a-time loop does."""
    from s2s_onnx.models.reference import example_decode, greedy_decode

    x = vocab.encode_sources(sources[:8])
    for limit in (None, 2):
        batched = greedy_decode(inference.encoder, inference.decoder, x, vocab, max_length=limit)
        literal = example_decode(inference.encoder, inference.decoder, x, vocab, max_length=limit)
        assert batched == literal
    capped = greedy_decode(inference.encoder, inference.decoder, x, vocab, max_length=2)
    assert all(len(ids) <= 2 for ids in capped.token_ids)
    full = greedy_decode(inference.encoder, inference.decoder, x, vocab)
    for a, b in zip(full.token_ids, capped.token_ids, strict=True):
        assert a[: len(b)] == b
    assert np.mean(full.ended) > 0.5


def _seq2seq(keras, head, cells=("LSTM", "LSTM"), enc_units=8, dec_units=8):
    """A seq2seq training model whose decoder output goes through ``head(layer output) -> probs``."""
    enc_in, dec_in = keras.Input((None, 4)), keras.Input((None, 5))
    _, *states = getattr(keras.layers, cells[0])(enc_units, return_state=True)(enc_in)
    seq = getattr(keras.layers, cells[1])(dec_units, return_sequences=True)(dec_in, initial_state=states)
    return keras.Model([enc_in, dec_in], head(seq, enc_in))


def test_unsupported_families_list_the_layers_and_what_is_supported() -> None:
    import keras

    from s2s_onnx.models.graph_search import find_seq2seq

    def self_attention(seq, _):  # the decoder attending over itself, not over the encoder
        return keras.layers.Dense(5, activation="softmax")(keras.layers.Attention()([seq, seq]))

    with pytest.raises(NotEncoderDecoderError) as info:
        find_seq2seq(_seq2seq(keras, self_attention))
    message = str(info.value)
    assert "(Attention)" in message and "expected [decoder outputs, encoder outputs]" in message
    assert "Supported:" in message and "AdditiveAttention" in message

    def custom(seq, _):
        return keras.layers.TimeDistributed(keras.layers.Dropout(0.1))(seq)

    with pytest.raises(NotEncoderDecoderError, match=r"TimeDistributed\)"):
        find_seq2seq(_seq2seq(keras, custom))


def test_time_distributed_dense_is_a_dense() -> None:
    import keras

    from s2s_onnx.models.graph_search import find_seq2seq
    from s2s_onnx.models.inference import build_inference_models, split_max_abs_diff

    def head(seq, _):
        return keras.layers.TimeDistributed(keras.layers.Dense(5, activation="softmax"))(seq)

    model = _seq2seq(keras, head, cells=("GRU", "GRU"))
    spec = find_seq2seq(model)
    assert spec.cell == "gru" and spec.dense_activation == "softmax"
    assert split_max_abs_diff(model, build_inference_models(model)) <= 1e-5
