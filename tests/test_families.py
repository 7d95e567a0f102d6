"""Keras tier: every model family (GRU, stacked, bidirectional GRU, Embedding with and without mask_zero, word
tokens) in all three file flavours converts with parity, and decodes equal the Keras example's own loop token
for token (steps and fused, batch 1 and 16, at the default cap and at a cap most rows hit)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from families import FAMILIES, Family, build_family_model, family_pairs, family_vocabulary
from web_checks import node_agrees

from s2s_onnx.runtime import DecodeOptions, Seq2SeqModel

pytestmark = pytest.mark.keras
LEGACY = Path(__file__).resolve().parent / "fixtures" / "legacy-families"
FLAVOURS = ("keras", "h5", "legacy")


@pytest.fixture(scope="module", params=FAMILIES, ids=[f.name for f in FAMILIES])
def family_bundles(request, workdir: Path) -> tuple[Family, dict[str, Path], dict[str, Path]]:
    """(family, flavour -> model file, flavour -> fused bundle converted with parity)."""
    import keras

    from s2s_onnx.export.tf.convert import ConvertOptions, convert
    from s2s_onnx.export.vocab_files import load_vocabulary

    family: Family = request.param
    vocab = family_vocabulary(family)
    assert load_vocabulary(LEGACY / family.name / "vocabulary.json") == vocab
    directory = workdir / f"family-{family.name}"
    directory.mkdir()
    model = build_family_model(keras, family, vocab)
    files = {
        "keras": directory / "model.keras",
        "h5": directory / "model.h5",
        "legacy": LEGACY / family.name / "model.h5",
    }
    model.save(files["keras"])
    model.save(files["h5"])
    sentences = tuple(family_pairs(family)[0][:16])
    bundles = {}
    for flavour, source in files.items():
        result = convert(
            source, directory / f"bundle-{flavour}", vocab, ConvertOptions(fused=True, sentences=sentences)
        )
        assert result.report is not None and result.report.ok, result.report.format()
        bundles[flavour] = result.bundle_dir
    return family, files, bundles


def test_config_describes_the_family(family_bundles) -> None:
    from s2s_onnx.runtime import Bundle
    from s2s_onnx.runtime.cli.inspect import describe

    family, _, bundles = family_bundles
    direction = "bidirectional" if family.bidirectional else "forward"
    text = describe(Bundle.open(bundles["keras"]))
    assert f"model: {family.layers}-layer {family.cell}, {direction} encoder" in text
    assert ("words" if family.tokenization == "word" else "characters") in text
    for bundle in bundles.values():
        model = json.loads((bundle / "config.json").read_text())["model"]
        assert model["cell"] == family.cell.lower() and model["layers"] == family.layers
        assert model["direction"] == ("bidirectional" if family.bidirectional else "forward")
        assert model["input"] == ("ids" if family.encoder_embedding else "one_hot")
        assert model["target_input"] == ("ids" if family.decoder_embedding else "one_hot")
        assert model["tokenization"] == family.tokenization
        per_layer = 2 if family.cell == "LSTM" else 1
        assert len(model["states"]) == per_layer * family.layers


def test_legacy_file_is_rebuilt_exactly(family_bundles) -> None:
    from s2s_onnx.models.loading import load_training_model

    family, files, _ = family_bundles
    loaded = load_training_model(files["legacy"])
    assert loaded.flavour == "keras2-h5"
    stored = np.load(LEGACY / family.name / "keras2_outputs.npz")
    probs = np.asarray(loaded.model([stored["encoder_input"], stored["decoder_input"]], training=False))
    np.testing.assert_allclose(probs, stored["probs"], atol=1e-5, rtol=0)


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_decodes_equal_the_example_loop(family_bundles, flavour: str) -> None:
    from s2s_onnx.models.inference import build_inference_models
    from s2s_onnx.models.loading import load_training_model
    from s2s_onnx.models.reference import example_decode

    family, files, bundles = family_bundles
    user = build_inference_models(load_training_model(files[flavour]).model)
    model = Seq2SeqModel.load(bundles[flavour])
    vocab = model.vocabulary
    texts = family_pairs(family, seed=7)[0][:20]
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
                assert [r.text for r in results] == keras.texts(vocab)
    assert ended_and_capped == {True, False}, "the texts should include decodes that end and decodes that hit the cap"


def test_stream_and_ids_api_agree_with_decode(family_bundles) -> None:
    family, _, bundles = family_bundles
    model = Seq2SeqModel.load(bundles["keras"])
    texts = family_pairs(family, seed=3)[0][:4]
    results = model.decode(texts)
    for text, result in zip(texts, results, strict=True):
        assert "".join(model.stream(text)) == result.text
    ids = model.vocabulary.source_ids([model.vocabulary.clean(t) for t in texts])

    def essence(result) -> tuple:  # probabilities may differ in the last bit between batch sizes
        return result.text, result.token_ids, result.stop_reason

    assert [essence(r) for r in model.decode_ids(ids)] == [essence(r) for r in results]
    assert essence(model.decode_ids(ids[0])) == essence(results[0])


def test_beam_search_and_sampling_run_on_the_family(family_bundles) -> None:
    """Beam search and top-1 sampling on every family (states per layer and cell, id or one-hot tokens):
    ``beam.onnx`` finds what the step path finds, n-best lists come sorted and decode to their texts, and top-1
    sampling (the step model driven by the search module) decodes exactly what greedy does."""
    family, _, bundles = family_bundles
    model = Seq2SeqModel.load(bundles["keras"])
    texts = family_pairs(family, seed=4)[0][:6]
    greedy = model.decode(texts, strategy="steps")
    beams = model.decode(texts, beam_size=4, num_return=2)
    stepped = model.decode(texts, beam_size=4, num_return=2, strategy="steps")
    assert model.bundle.beam is not None  # beam.onnx, the same search in one graph
    assert [[h.token_ids for h in b.hypotheses] for b in beams] == [
        [h.token_ids for h in b.hypotheses] for b in stepped
    ]
    for b in beams:
        scores = [h.score for h in b.hypotheses]
        assert b.score == scores[0] and scores == sorted(scores, reverse=True) and len(scores) == 2
        assert list(b.texts) == [model.vocabulary.decode_ids(list(h.token_ids)) for h in b.hypotheses]
    sampled = model.decode(texts, sampling=True, top_k=1, seed=0)
    assert [r.token_ids for r in sampled] == [g.token_ids for g in greedy]


def test_triton_repository_of_the_family(family_bundles, tmp_path: Path) -> None:
    """``s2s-onnx triton`` for every family (one-hot or id inputs, words or characters): the config matches
    the graph and the repository's client decodes what the runtime does."""
    from triton_check import check_decodes

    from s2s_onnx.export.graphs.triton import TritonSettings, write_triton_repository

    family, _, bundles = family_bundles
    home = write_triton_repository(bundles["keras"], tmp_path / "repo", TritonSettings(name="family"))
    check_decodes(home, Seq2SeqModel.load(bundles["keras"]), family_pairs(family, seed=5)[0][:8])


def test_inference_pair_of_the_family_converts(family_bundles, workdir: Path) -> None:
    """The example's encoder_model + decoder_model, saved for this family, convert to the same decodes."""
    from s2s_onnx.export.tf.convert import ConvertOptions, convert
    from s2s_onnx.models.inference import build_inference_models
    from s2s_onnx.models.loading import load_training_model

    family, files, bundles = family_bundles
    pair = build_inference_models(load_training_model(files["keras"]).model)
    directory = workdir / f"pair-{family.name}"
    directory.mkdir()
    pair.encoder.save(directory / "encoder_model.keras")
    pair.decoder.save(directory / "decoder_model.keras")
    vocab = family_vocabulary(family)
    options = ConvertOptions(decoder_model=directory / "decoder_model.keras")
    result = convert(directory / "encoder_model.keras", directory / "bundle", vocab, options)
    assert result.report is not None and result.report.ok, result.report.format()
    texts = family_pairs(family, seed=5)[0][:8]
    assert Seq2SeqModel.load(result.bundle_dir).translate(texts) == Seq2SeqModel.load(bundles["keras"]).translate(texts)


def test_int8_of_the_family(family_bundles, tmp_path: Path) -> None:
    """``s2s-onnx quantize`` on every family: an LSTM decoder's int8 loop is one ``DynamicQuantizeLSTM`` per layer
    (read from tf2onnx's step graph, Embedding included) and decodes what the int8 step loop decodes; a GRU
    decoder keeps the lean loop, quantized."""
    from s2s_onnx.export.graphs.quantize import QuantizeOptions, quantize

    family, _, bundles = family_bundles
    texts = family_pairs(family, seed=6)[0][:32]
    report = quantize(bundles["keras"], tmp_path / "int8", QuantizeOptions(min_identical=0), texts=texts)
    loops = [n for n in onnx.load(str(tmp_path / "int8" / "greedy.onnx")).graph.node if n.op_type == "Loop"]
    ops = [n.op_type for n in loops[-1].attribute[0].g.node]  # the decoder's (a masked encoder is a Loop too)
    if family.cell == "LSTM":
        assert report.fused_loop.startswith("LSTM ops") and ops.count("DynamicQuantizeLSTM") == family.layers
        assert report.fused_equals_steps == 1.0
    else:
        assert report.fused_loop.startswith("lean") and "DynamicQuantizeLSTM" not in ops


def test_node_decodes_the_family_as_python(family_bundles, node_modules) -> None:
    """``s2s.mjs`` on onnxruntime-node, greedy and beam, on every family's fused graphs (see test_web.py)."""
    family, _, bundles = family_bundles
    texts = family_pairs(family, seed=8)[0][:40]
    for options in ({}, {"beam_size": 3, "num_return": 2}):
        node_agrees(bundles["keras"], texts, options)
