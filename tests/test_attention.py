"""Keras tier: encoder-decoders with attention over the encoder's outputs (``Attention`` dot and concat,
``AdditiveAttention``, the hand-written Luong form; LSTM and GRU; one-hot and Embedding inputs, masked or not; an
optional combining Dense) are found by structure, convert with parity, and decode what the Keras loop decodes,
token for token, steps and fused, batch 1 and 16, at the default cap and at a cap most rows hit; both beam searches
equal a reference beam search over the Keras step model."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from families import family_pairs, randomize

from s2s_onnx.runtime import DecodeOptions, Seq2SeqModel
from s2s_onnx.runtime.vocab import Vocabulary

pytestmark = [
    pytest.mark.keras,
    pytest.mark.filterwarnings("ignore:You are using a softmax over axis -1"),
    pytest.mark.filterwarnings("ignore:Layer .decoder_step. .of type Functional. was passed an input with a mask"),
]


@dataclass(frozen=True)
class AttentionFamily:
    name: str
    form: str  # dot, concat, additive, luong
    cell: str = "LSTM"
    embedding: bool = False  # Embedding(mask_zero=True) on both sides, else one-hot
    masking: bool = False  # Masking(0.) on a one-hot encoder input
    use_scale: bool = False
    combine: bool = False  # Dense(tanh) between the Concatenate and the softmax
    context_first: bool = True
    units: int = 6
    end_bias: float = 0.5


ATTENTION_FAMILIES = (
    AttentionFamily("dot-lstm-onehot", "dot", end_bias=1.0),
    AttentionFamily("dot-gru-embedding", "dot", cell="GRU", embedding=True, use_scale=True, end_bias=1.5),
    AttentionFamily("concat-lstm-embedding", "concat", embedding=True, use_scale=True, context_first=False),
    AttentionFamily("additive-gru-onehot", "additive", cell="GRU", combine=True, use_scale=True, end_bias=-0.5),
    AttentionFamily("additive-lstm-masking", "additive", masking=True, end_bias=1.0),
    AttentionFamily("luong-lstm-combine", "luong", combine=True, end_bias=2.0),
    AttentionFamily("luong-gru-embedding", "luong", cell="GRU", embedding=True, context_first=False, end_bias=2.5),
)


def attention_vocabulary(family: AttentionFamily) -> Vocabulary:
    return Vocabulary.from_pairs(*family_pairs(_plain(family)), ids=family.embedding)  # type: ignore[arg-type]


def _plain(family: AttentionFamily) -> Any:
    from families import Family

    return Family(family.name)


def build_attention_model(keras: Any, family: AttentionFamily, vocab: Vocabulary, seed: int = 0) -> Any:
    """The training model as its tutorial builds it, with seeded random weights."""
    layers = keras.layers
    rnn = getattr(layers, family.cell)

    def side(name: str, tokens: int) -> tuple[Any, Any]:
        if family.embedding:
            inputs = keras.Input((None,), name=f"{name}_inputs")
            return inputs, layers.Embedding(tokens, 5, mask_zero=True)(inputs)
        inputs = keras.Input((None, tokens), name=f"{name}_inputs")
        return inputs, (layers.Masking(0.0)(inputs) if family.masking and name == "encoder" else inputs)

    enc_in, x = side("encoder", vocab.num_encoder_tokens)
    enc_out, *states = rnn(family.units, return_sequences=True, return_state=True)(x)
    dec_in, y = side("decoder", vocab.num_decoder_tokens)
    dec_out, *_ = rnn(family.units, return_sequences=True, return_state=True)(y, initial_state=states)
    if family.form == "luong":
        scores = layers.Dot(axes=[2, 2])([dec_out, enc_out])
        context = layers.Dot(axes=[2, 1])([layers.Activation("softmax")(scores), enc_out])
    elif family.form == "additive":
        context = layers.AdditiveAttention(use_scale=family.use_scale)([dec_out, enc_out])
    else:
        context = layers.Attention(use_scale=family.use_scale, score_mode=family.form)([dec_out, enc_out])
    joined = layers.Concatenate()([context, dec_out] if family.context_first else [dec_out, context])
    if family.combine:
        joined = layers.Dense(family.units, activation="tanh")(joined)
    probs = layers.Dense(vocab.num_decoder_tokens, activation="softmax")(joined)
    model = keras.Model([enc_in, dec_in], probs)
    randomize(model, vocab.end_id, family.end_bias, seed)
    if family.embedding:  # as training leaves it (the padding target is masked out of the loss): never chosen
        dense = model.layers[-1]
        kernel, bias = dense.get_weights()
        bias[0] -= 20.0
        dense.set_weights([kernel, bias])
    return model


@pytest.fixture(scope="module", params=ATTENTION_FAMILIES, ids=[f.name for f in ATTENTION_FAMILIES])
def attention_bundle(request, workdir: Path) -> tuple[AttentionFamily, Path, Path]:
    """(family, model file, bundle converted with parity)."""
    import keras

    from s2s_onnx.export.tf.convert import ConvertOptions, convert

    family: AttentionFamily = request.param
    vocab = attention_vocabulary(family)
    directory = workdir / f"attention-{family.name}"
    directory.mkdir()
    model_file = directory / "model.keras"
    build_attention_model(keras, family, vocab).save(model_file)
    sentences = tuple(family_pairs(_plain(family))[0][:16])
    result = convert(model_file, directory / "bundle", vocab, ConvertOptions(fused=True, sentences=sentences))
    assert result.report is not None and result.report.ok, result.report.format()
    return family, model_file, result.bundle_dir


def test_config_names_the_attention(attention_bundle) -> None:
    family, _, bundle = attention_bundle
    model = json.loads((bundle / "config.json").read_text())["model"]
    assert model["attention"] == family.form and model["cell"] == family.cell.lower()
    masked = (family.embedding or family.masking) and family.form != "luong"
    assert model["memory"] == (["encoder_outputs", "encoder_mask"] if masked else ["encoder_outputs"])


def test_decodes_equal_the_keras_loop(attention_bundle) -> None:
    from s2s_onnx.models.inference import build_inference_models
    from s2s_onnx.models.loading import load_training_model
    from s2s_onnx.models.reference import example_decode

    family, model_file, bundle = attention_bundle
    user = build_inference_models(load_training_model(model_file).model)
    model = Seq2SeqModel.load(bundle)
    vocab = model.vocabulary
    texts = family_pairs(_plain(family), seed=7)[0][:20]  # 1 to 8 characters: one batch, different lengths
    x = model.bundle.encoder_input([vocab.clean(t) for t in texts])
    ended_and_capped = set()
    for max_length in (None, 3):
        keras = example_decode(user.encoder, user.decoder, x, vocab, max_length)
        ended_and_capped |= set(keras.ended)
        for strategy in ("steps", "fused"):
            for batch_size in (1, 16):
                options = DecodeOptions(strategy=strategy, batch_size=batch_size, max_length=max_length)
                results = model.decode(texts, options)
                assert [list(r.token_ids) for r in results] == keras.token_ids, (strategy, batch_size, max_length)
                assert [r.stop_reason == "end" for r in results] == keras.ended
    assert ended_and_capped == {True, False}, "the texts should include decodes that end and decodes that hit the cap"


def test_beam_search_equals_a_reference_over_the_keras_step_model(attention_bundle) -> None:
    from test_beam_keras import keras_beam

    from s2s_onnx.models.inference import build_inference_models
    from s2s_onnx.models.loading import load_training_model

    family, model_file, bundle = attention_bundle
    user = build_inference_models(load_training_model(model_file).model)
    model = Seq2SeqModel.load(bundle)
    texts = family_pairs(_plain(family), seed=3)[0][:3]
    assert model.bundle.beam is not None, "an attention bundle carries beam.onnx too"
    for strategy in ("auto", "steps"):  # beam.onnx, and the step path's search
        results = model.decode(texts, beam_size=3, num_return=3, length_penalty=0.6, strategy=strategy)
        for text, result in zip(texts, results, strict=True):
            want = keras_beam(user, model.vocabulary, text, 3, model.max_length(), 0.6)[: len(result.hypotheses)]
            assert [list(h.token_ids) for h in result.hypotheses] == [w[0] for w in want], (strategy, text)
            np.testing.assert_allclose([h.score for h in result.hypotheses], [w[2] for w in want], atol=1e-4)
    assert [r.text for r in model.decode(texts, beam_size=1)] == model.translate(texts)


def test_masked_attention_ignores_padding(attention_bundle) -> None:
    """Where training masked the encoder's padding, the decoder step must not see it: the encoder's outputs at
    padded positions can be anything without changing a probability; unmasked families are told apart."""
    family, _, bundle = attention_bundle
    model = Seq2SeqModel.load(bundle)
    arch = model.bundle.architecture
    x = model.bundle.encoder_input(["ab", "hgfedcba"])
    outputs = dict(
        zip(
            [*arch.memory, *arch.state_names],
            model.bundle.encoder.run([*arch.memory, *arch.state_names], {"encoder_inputs": x}),
            strict=True,
        )
    )
    token = np.full((2, 1), model.vocabulary.start_id, np.int64)
    if arch.target_input == "one_hot":
        token = np.eye(model.vocabulary.num_decoder_tokens, dtype=np.float32)[token]
    feeds = {"decoder_inputs": token, **outputs}
    probs = model.bundle.decoder.run(["probs"], feeds)[0]
    noisy = outputs["encoder_outputs"].copy()
    noisy[0, 2:] = np.random.default_rng(0).normal(0, 3, noisy[0, 2:].shape)  # "ab": everything after it
    changed = model.bundle.decoder.run(["probs"], {**feeds, "encoder_outputs": noisy})[0]
    masked = (family.embedding or family.masking) and family.form != "luong"
    if masked:
        assert outputs["encoder_mask"][0].sum() == 2 and outputs["encoder_mask"][1].sum() == 8
        np.testing.assert_allclose(changed, probs, atol=1e-6)
    else:
        assert np.abs(changed[0] - probs[0]).max() > 1e-4  # it attends to every position, as its training did
    np.testing.assert_allclose(changed[1], probs[1], atol=1e-6)


def test_unsupported_attention_is_refused_with_what_is_supported(workdir: Path) -> None:
    import keras

    from s2s_onnx.models.graph_search import find_seq2seq
    from s2s_onnx.runtime.errors import NotEncoderDecoderError

    vocab = attention_vocabulary(ATTENTION_FAMILIES[0])
    enc_in = keras.Input((None, vocab.num_encoder_tokens))
    enc_out, h, c = keras.layers.LSTM(4, return_sequences=True, return_state=True)(enc_in)
    dec_in = keras.Input((None, vocab.num_decoder_tokens))
    dec_out, _, _ = keras.layers.LSTM(4, return_sequences=True, return_state=True)(dec_in, initial_state=[h, c])
    context = keras.layers.Attention()([dec_out, enc_out])
    added = keras.layers.Add()([context, dec_out])  # added, not concatenated
    model = keras.Model([enc_in, dec_in], keras.layers.Dense(vocab.num_decoder_tokens, activation="softmax")(added))
    with pytest.raises(NotEncoderDecoderError, match="not concatenated with the decoder's outputs.*Supported"):
        find_seq2seq(model)


@pytest.mark.parametrize("index", [0, 6], ids=["dot-lstm-onehot", "luong-gru-embedding"])
def test_an_attention_inference_pair_converts_and_decodes_as_its_loop(index: int, workdir: Path) -> None:
    """The encoder model returning ``[encoder outputs, *states]`` and the decoder step model taking ``[token,
    encoder outputs, *states]``, saved on their own as a user saves them: converted as a pair, decoded as the
    user's loop over those two files decodes."""
    import keras

    from s2s_onnx.export.tf.convert import ConvertOptions, convert
    from s2s_onnx.models.reference import example_decode

    family = ATTENTION_FAMILIES[index]
    vocab = attention_vocabulary(family)
    directory = workdir / f"attention-pair-{family.name}"
    directory.mkdir()
    from s2s_onnx.models.inference import build_inference_models

    pair = build_inference_models(build_attention_model(keras, family, vocab))
    assert [i.name for i in pair.decoder.inputs][:2] == ["decoder_inputs", "encoder_outputs"]
    pair.encoder.save(directory / "encoder_model.keras")
    pair.decoder.save(directory / "decoder_model.keras")
    options = ConvertOptions(fused=True, decoder_model=directory / "decoder_model.keras")
    result = convert(directory / "encoder_model.keras", directory / "bundle", vocab, options)
    assert result.report is not None and result.report.ok
    assert json.loads((directory / "bundle" / "config.json").read_text())["model"]["attention"] == family.form
    encoder = keras.saving.load_model(directory / "encoder_model.keras")
    decoder = keras.saving.load_model(directory / "decoder_model.keras")
    model = Seq2SeqModel.load(directory / "bundle")
    texts = family_pairs(_plain(family), seed=7)[0][:12]
    x = model.bundle.encoder_input([vocab.clean(t) for t in texts])
    want = example_decode(encoder, decoder, x, vocab).token_ids
    for strategy in ("steps", "fused"):
        assert [list(r.token_ids) for r in model.decode(texts, strategy=strategy)] == want, strategy
