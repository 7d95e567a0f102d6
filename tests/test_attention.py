"""Keras tier: encoder-decoders with attention over the encoder's outputs (``Attention`` dot and concat,
``AdditiveAttention``, the hand-written Luong form; LSTM and GRU; one-hot and Embedding inputs, masked or not; an
optional combining Dense) are found by structure, convert with parity, and decode what the Keras loop decodes,
token for token, steps and fused, batch 1 and 16, at the default cap and at a cap most rows hit; both beam searches
equal a reference beam search over the Keras step model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from attention_families import ATTENTION_FAMILIES, AttentionFamily, attention_vocabulary, build_attention_model, plain
from families import family_pairs
from web_checks import node_agrees

from s2s_onnx.runtime import DecodeOptions, Seq2SeqModel

pytestmark = [
    pytest.mark.keras,
    pytest.mark.filterwarnings("ignore:You are using a softmax over axis -1"),
    pytest.mark.filterwarnings("ignore:Layer .decoder_step. .of type Functional. was passed an input with a mask"),
]


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
    model = build_attention_model(keras, family, vocab)
    model.save(model_file)
    sentences = tuple(family_pairs(plain(family))[0][:16])
    result = convert(model_file, directory / "bundle", vocab, ConvertOptions(fused=True, sentences=sentences))
    assert result.report is not None and result.report.ok, result.report.format()
    if family.name == ATTENTION_FAMILIES[0].name:  # the other file flavour Keras 3 writes: .h5
        model.save(directory / "model.h5")
        h5 = convert(directory / "model.h5", directory / "bundle-h5", vocab, ConvertOptions(sentences=sentences))
        assert h5.report is not None and h5.report.ok and h5.config.model.attention == family.form
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
    texts = family_pairs(plain(family), seed=7)[0][:20]  # 1 to 8 characters: one batch, different lengths
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
    texts = family_pairs(plain(family), seed=3)[0][:3]
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
    texts = family_pairs(plain(family), seed=7)[0][:12]
    x = model.bundle.encoder_input([vocab.clean(t) for t in texts])
    want = example_decode(encoder, decoder, x, vocab).token_ids
    for strategy in ("steps", "fused"):
        assert [list(r.token_ids) for r in model.decode(texts, strategy=strategy)] == want, strategy


def test_bench_and_int8_run_on_an_attention_bundle(attention_bundle, tmp_path: Path) -> None:
    """Every benchmark row (the Keras ways and LiteRT included) decodes the runtime's tokens on an attention
    bundle; the all-products floor counts the attention's products; int8 is measured (and may be refused)."""
    from s2s_onnx.benchmarks.rows import attention_head
    from s2s_onnx.export.graphs.quantize import QuantizeOptions, quantize
    from s2s_onnx.runtime import Bundle
    from s2s_onnx.runtime.cli import main

    family, model_file, bundle = attention_bundle
    if family.name != "luong-lstm-combine":
        pytest.skip("one family is enough for the benchmark's plumbing")
    head = attention_head(Bundle.open(bundle))
    assert head is not None and len(head) == 3  # context and query parts of the combining Dense, then the softmax
    report = quantize(bundle, tmp_path / "int8", QuantizeOptions(min_identical=0))
    assert 0.0 <= report.identical <= 1.0 and report.fused_equals_steps is not None
    assert len(Seq2SeqModel.load(tmp_path / "int8").decode(["abc", "d"], strategy="fused")) == 2
    argv = ["bench", "--model", str(bundle), "--keras", str(model_file), "--batch-sizes", "2", "--tokens", "3"]
    assert main([*argv, "--quick", "--out", str(tmp_path / "bench")]) == 0
    rows = json.loads((tmp_path / "bench" / "bench.json").read_text())["results"]
    assert any(r["row"].startswith("LiteRT") for r in rows) and any(r["row"].startswith("Keras") for r in rows)
    differ = [r["row"] for r in rows if r.get("tokens_match_runtime") is False]  # floors check no tokens (None)
    assert not differ, differ


LEGACY = Path(__file__).resolve().parent / "fixtures" / "legacy-attention"


@pytest.mark.parametrize("name", sorted(p.name for p in LEGACY.iterdir()))
def test_legacy_keras2_attention_files_convert_and_decode_as_tf_keras(name: str, workdir: Path) -> None:
    """``model.h5`` saved by tf_keras 2: rebuilt in Keras 3 to tf_keras' own outputs, converted with parity, and
    decoded (steps and fused) as the Keras loop over the rebuilt model decodes."""
    from s2s_onnx.export.tf.convert import ConvertOptions, convert
    from s2s_onnx.export.vocab_files import load_vocabulary
    from s2s_onnx.models.inference import build_inference_models
    from s2s_onnx.models.loading import load_training_model
    from s2s_onnx.models.reference import example_decode

    loaded = load_training_model(LEGACY / name / "model.h5")
    assert loaded.flavour == "keras2-h5"
    stored = np.load(LEGACY / name / "keras2_outputs.npz")
    probs = np.asarray(loaded.model([stored["encoder_input"], stored["decoder_input"]], training=False))
    np.testing.assert_allclose(probs, stored["probs"], atol=1e-5, rtol=0)
    vocab = load_vocabulary(LEGACY / name / "vocabulary.json")
    family = next(f for f in ATTENTION_FAMILIES if f.name == name)
    texts = family_pairs(plain(family), seed=7)[0][:12]
    options = ConvertOptions(fused=True, sentences=tuple(texts))
    result = convert(LEGACY / name / "model.h5", workdir / f"legacy-attention-{name}", vocab, options)
    assert result.report is not None and result.report.ok and result.config.model.attention == family.form
    user = build_inference_models(loaded.model)
    model = Seq2SeqModel.load(result.bundle_dir)
    want = example_decode(user.encoder, user.decoder, model.bundle.encoder_input(texts), vocab).token_ids
    for strategy in ("steps", "fused"):
        assert [list(r.token_ids) for r in model.decode(texts, strategy=strategy)] == want, strategy


def test_triton_serve_and_inspect_take_an_attention_bundle(attention_bundle, tmp_path: Path) -> None:
    """The Triton generator, ``serve`` and ``inspect`` work unchanged on an attention bundle."""
    from triton_check import check_decodes

    from s2s_onnx.benchmarks.http_client import fetch, start_server
    from s2s_onnx.runtime import Bundle
    from s2s_onnx.runtime.cli.inspect import describe

    family, _, bundle = attention_bundle
    if family.name != "additive-lstm-masking":
        pytest.skip("one family is enough for the surfaces")
    model = Seq2SeqModel.load(bundle)
    texts = family_pairs(plain(family), seed=5)[0][:8]
    assert "additive attention over encoder_outputs, encoder_mask" in describe(Bundle.open(bundle))
    from s2s_onnx.export.graphs.triton import write_triton_repository
    from s2s_onnx.export.options import TritonSettings

    home = write_triton_repository(bundle, tmp_path / "repo", TritonSettings(name="attention"))
    check_decodes(home, model, texts)
    pytest.importorskip("uvicorn")
    import asyncio

    with start_server(["--model", str(bundle), "--threads", "1"]) as running:
        status, answer = asyncio.run(fetch(running.host, running.port, "POST", "/translate", {"text": texts}))
    assert status == 200 and [r["text"] for r in answer["results"]] == model.translate(texts)


def test_node_decodes_the_attention_family_as_python(attention_bundle, node_modules) -> None:
    """``s2s.mjs`` on onnxruntime-node, greedy and beam, on every attention family's fused graphs."""
    family, _, bundle = attention_bundle
    texts = family_pairs(plain(family), seed=8)[0][:40]
    for options in ({}, {"beam_size": 3, "num_return": 2}):
        node_agrees(bundle, texts, options)
