"""Keras tier: a Bidirectional LSTM encoder whose forward and backward states are concatenated into a decoder
of twice the width, in all three file flavours, against the Keras example's own decode loop."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from s2s_onnx.runtime import Bundle, DecodeOptions, Seq2SeqModel

pytestmark = pytest.mark.keras
LEGACY = Path(__file__).resolve().parent / "fixtures" / "legacy-keras2-bidirectional"
FLAVOURS = ("keras", "h5", "legacy")


@pytest.fixture(scope="module")
def bi_trained(workdir: Path, pairs_file: Path):
    from s2s_onnx.models.data import read_pairs
    from s2s_onnx.models.training import TrainSettings, save, train

    settings = TrainSettings(epochs=10, latent_dim=12, verbose=0, learning_rate=0.01, bidirectional=True)
    result = train(*read_pairs(pairs_file, 500), settings)
    save(result, workdir / "bi")
    result.model.save(workdir / "bi" / "model.h5")
    return result


@pytest.fixture(scope="module")
def bi_bundles(bi_trained, workdir: Path, sources: list[str]) -> dict[str, Path]:
    """Each flavour converted with --fused and parity (the legacy one is a committed tf_keras 2.21 file whose
    states are concatenated [backward, forward])."""
    from s2s_onnx.export.tf.convert import ConvertOptions, convert
    from s2s_onnx.export.vocab_files import load_vocabulary

    sources_of = {
        "keras": workdir / "bi" / "model.keras",
        "h5": workdir / "bi" / "model.h5",
        "legacy": LEGACY / "model.h5",
    }
    bundles = {}
    for flavour, source in sources_of.items():
        vocab = load_vocabulary(source.parent / "vocabulary.json")
        options = ConvertOptions(fused=True, sentences=tuple(sources[:24]))
        result = convert(source, workdir / f"bi-bundle-{flavour}", vocab, options)
        assert result.report is not None and result.report.ok, result.report.format()
        bundles[flavour] = result.bundle_dir
    return bundles


def test_keras2_bidirectional_file_is_rebuilt_exactly(bi_bundles) -> None:
    from s2s_onnx.models.graph_search import find_seq2seq
    from s2s_onnx.models.loading import load_training_model

    loaded = load_training_model(LEGACY / "model.h5")
    stored = np.load(LEGACY / "keras2_outputs.npz")
    probs = np.asarray(loaded.model([stored["encoder_input"], stored["decoder_input"]], training=False))
    np.testing.assert_allclose(probs, stored["probs"], atol=1e-6, rtol=0)
    spec = find_seq2seq(loaded.model)
    assert spec.bidirectional and spec.backward_first and spec.latent_dim == 2 * spec.encoder[0].units


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_bundle_describes_a_bidirectional_encoder(bi_bundles, flavour: str) -> None:
    import onnx

    bundle = bi_bundles[flavour]
    config = json.loads((bundle / "config.json").read_text())
    assert config["model"]["direction"] == "bidirectional" and config["model"]["cell"] == "lstm"
    lstms = [n for n in onnx.load(str(bundle / "encoder.onnx")).graph.node if n.op_type == "LSTM"]
    assert len(lstms) == 1
    assert {a.name: a.s for a in lstms[0].attribute}["direction"] == b"bidirectional"
    width = config["latent_dim"]
    assert [s["width"] for s in config["model"]["states"]] == [width, width]


def test_inspect_shows_the_family(bi_bundles, capsys) -> None:
    from s2s_onnx.runtime.cli import main

    assert main(["inspect", str(bi_bundles["keras"])]) == 0
    assert (
        "model: 1-layer LSTM, bidirectional encoder, one-hot inputs, characters; decoder states state_h [24]"
        in capsys.readouterr().out
    )


@pytest.mark.parametrize("batch_size", [1, 16])
@pytest.mark.parametrize("strategy", ["steps", "fused"])
@pytest.mark.parametrize("flavour", FLAVOURS)
def test_decodes_equal_the_example_loop(bi_bundles, flavour: str, strategy: str, batch_size: int, sources) -> None:
    from s2s_onnx.models.inference import build_inference_models
    from s2s_onnx.models.loading import load_training_model
    from s2s_onnx.models.reference import example_decode

    bundle = bi_bundles[flavour]
    model = Seq2SeqModel(Bundle.open(bundle), DecodeOptions(strategy=strategy, batch_size=batch_size))
    source = {"legacy": LEGACY / "model.h5"}.get(flavour, bundle.parent / "bi" / f"model.{flavour}")
    keras_models = build_inference_models(load_training_model(source).model)
    texts = sources[:18]
    for limit in (None, 3):
        x = model.vocabulary.encode_sources(texts)
        expected = example_decode(keras_models.encoder, keras_models.decoder, x, model.vocabulary, limit)
        results = model.decode(texts, max_length=limit)
        assert [list(r.token_ids) for r in results] == expected.token_ids
        assert [r.stop_reason == "end" for r in results] == expected.ended
        if limit == 3:
            assert not all(expected.ended)  # decodes that hit the cap are among them


def test_train_command_makes_a_bidirectional_model(tmp_path: Path, pairs_file: Path, capsys) -> None:
    from s2s_onnx.models.graph_search import find_seq2seq
    from s2s_onnx.models.loading import load_training_model
    from s2s_onnx.runtime.cli import main

    args = ["train", "--data", str(pairs_file), "--num-samples", "100", "--epochs", "1", "--latent-dim", "6"]
    assert main([*args, "--bidirectional", "-o", str(tmp_path / "run")]) == 0
    spec = find_seq2seq(load_training_model(tmp_path / "run" / "model.keras").model)
    assert spec.bidirectional and not spec.backward_first and (spec.encoder[0].units, spec.decoder[0].units) == (6, 12)


def test_the_benchmark_runs_on_the_family(bi_bundles, workdir: Path, tmp_path: Path) -> None:
    from s2s_onnx.runtime.cli import main

    out = tmp_path / "bench"
    args = ["bench", "--model", str(bi_bundles["keras"]), "--keras", str(workdir / "bi" / "model.keras")]
    assert main([*args, "--quick", "--steps", "3", "--batch-sizes", "1", "--out", str(out)]) == 0
    records = json.loads((out / "bench.json").read_text())["results"]
    decoding = [r for r in records if not r["row"].startswith("floor")]
    assert len(decoding) >= 6 and all(r["tokens_match_runtime"] is True for r in decoding)
