"""Keras 2 files that Keras 3 cannot load: SavedModel folders and tf.keras 2.13-2.15 ``.keras`` archives (also as
saved on Windows), read without tf_keras and rebuilt exactly; converted with parity; decoded as tf_keras' own
loop decoded them. The committed files were written by ``fixtures/make_keras2_formats.py`` (tf_keras 2.21)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from s2s_onnx.runtime import Seq2SeqModel
from s2s_onnx.runtime.cli import main

pytestmark = pytest.mark.keras
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "keras2-formats"
FLAVOURS = {"savedmodel": "keras2-savedmodel", "model.keras": "keras2-keras", "model-windows.keras": "keras2-keras"}


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("s2s-onnx: error: "), err
    return err[0]


@pytest.mark.parametrize("family", ["lstm", "stacked-bigru", "embedding-masked"])
@pytest.mark.parametrize("name", sorted(FLAVOURS))
def test_keras2_file_is_rebuilt_exactly(family: str, name: str) -> None:
    from s2s_onnx.models.loading import load_training_model

    loaded = load_training_model(FIXTURES / family / name)
    assert (loaded.flavour, loaded.keras_version) == (FLAVOURS[name], "2.21.0")
    stored = np.load(FIXTURES / family / "keras2_outputs.npz")
    probs = np.asarray(loaded.model([stored["encoder_input"], stored["decoder_input"]], training=False))
    np.testing.assert_allclose(probs, stored["probs"], atol=1e-6)


def keras2_texts(model: Seq2SeqModel) -> tuple[list[str], list[str]]:
    decodes = json.loads((FIXTURES / "lstm" / "keras2_decodes.json").read_text("utf-8"))
    end = model.vocabulary.end_id
    expected = [model.vocabulary.decode_ids([t for t in d["token_ids"] if t != end]) for d in decodes]
    return [d["text"] for d in decodes], expected


@pytest.mark.parametrize(
    "args",
    [
        ["savedmodel"],
        ["model-windows.keras"],
        ["encoder_savedmodel", "--decoder-model", str(FIXTURES / "lstm" / "decoder_savedmodel")],
    ],
    ids=["savedmodel", "windows-keras", "savedmodel-pair"],
)
def test_converted_keras2_files_decode_as_tf_keras_did(args: list[str], tmp_path: Path, capsys) -> None:
    out = tmp_path / "bundle"
    vocab = str(FIXTURES / "lstm" / "vocabulary.json")
    assert (
        main(["convert", str(FIXTURES / "lstm" / args[0]), *args[1:], "--vocab", vocab, "-o", str(out), "--fused"]) == 0
    )
    assert "parity: PASS" in capsys.readouterr().out
    model = Seq2SeqModel.load(out)
    texts, expected = keras2_texts(model)
    assert model.translate(texts) == expected
    assert model.translate(texts, strategy="steps") == expected
    config = json.loads((out / "config.json").read_text())
    assert config["provenance"]["source_flavour"].startswith("keras2-")


def test_a_folder_that_is_not_a_saved_model_is_named(tmp_path: Path, capsys) -> None:
    folder = tmp_path / "s2s"
    folder.mkdir()
    (folder / "notes.txt").write_text("hi")
    assert (
        main(["convert", str(folder), "--vocab", str(FIXTURES / "lstm" / "vocabulary.json"), "-o", str(tmp_path / "b")])
        == 2
    )
    assert "is a folder but not a TensorFlow SavedModel" in one_error_line(capsys)


def test_a_saved_model_without_keras_metadata_is_named(tmp_path: Path, capsys) -> None:
    import shutil

    folder = tmp_path / "s2s"
    shutil.copytree(FIXTURES / "lstm" / "savedmodel", folder)
    (folder / "keras_metadata.pb").unlink()
    assert (
        main(["convert", str(folder), "--vocab", str(FIXTURES / "lstm" / "vocabulary.json"), "-o", str(tmp_path / "b")])
        == 2
    )
    assert "SavedModel without Keras metadata" in one_error_line(capsys)


def test_a_weights_only_file_is_named(tmp_path: Path, capsys, trained) -> None:
    path = tmp_path / "model.weights.h5"
    trained.model.save_weights(path)
    assert (
        main(["convert", str(path), "--vocab", str(FIXTURES / "lstm" / "vocabulary.json"), "-o", str(tmp_path / "b")])
        == 2
    )
    assert "weights-only" in one_error_line(capsys)


@pytest.mark.parametrize("family", ["cudnn-lstm", "cudnn-bigru"])
def test_cudnn_layers_are_the_lstm_and_gru_they_compute(family: str, tmp_path: Path, capsys) -> None:
    from s2s_onnx.models.loading import load_training_model

    loaded = load_training_model(FIXTURES / family / "model.h5")
    stored = np.load(FIXTURES / family / "keras2_outputs.npz")
    probs = np.asarray(loaded.model([stored["encoder_input"], stored["decoder_input"]], training=False))
    np.testing.assert_allclose(probs, stored["probs"], atol=1e-5)
    vocab = str(FIXTURES / family / "vocabulary.json")
    assert (
        main(["convert", str(FIXTURES / family / "model.h5"), "--vocab", vocab, "-o", str(tmp_path / "b"), "--fused"])
        == 0
    )
    assert "parity: PASS" in capsys.readouterr().out


@pytest.mark.parametrize("family", ["hard-sigmoid-lstm", "keras22-gru"])
def test_keras22_activations_keep_their_keras2_meaning(family: str, tmp_path: Path, capsys) -> None:
    """hard_sigmoid as Keras 2 computed it, and a GRU with no reset_after as Keras 2.1's reset_after=False:
    rebuilt exactly, converted with parity against those semantics, fused graph included (ONNX HardSigmoid)."""
    from s2s_onnx.models.loading import load_training_model

    loaded = load_training_model(FIXTURES / family / "model.h5")
    stored = np.load(FIXTURES / family / "keras2_outputs.npz")
    probs = np.asarray(loaded.model([stored["encoder_input"], stored["decoder_input"]], training=False))
    np.testing.assert_allclose(probs, stored["probs"], atol=1e-6)
    out = tmp_path / "b"
    vocab = str(FIXTURES / family / "vocabulary.json")
    assert main(["convert", str(FIXTURES / family / "model.h5"), "--vocab", vocab, "-o", str(out), "--fused"]) == 0
    assert "recurrent layers vs the file's own semantics" in capsys.readouterr().out
    import onnx

    from s2s_onnx.runtime.onnx_scan import op_counts

    assert op_counts(onnx.load(str(out / "greedy.onnx")))["HardSigmoid"] >= 1
    model = Seq2SeqModel.load(out)
    texts = [d["text"] for d in json.loads((out / "reference.json").read_text())["decodes"]][:16]
    assert model.translate(texts, allow_empty=True) == model.translate(texts, allow_empty=True, strategy="steps")


def test_parity_fails_closed_on_a_wrong_activation(tmp_path: Path, capsys, monkeypatch) -> None:
    """Rebuilt with Keras 3's hard_sigmoid (the old mistake), ONNX still matches the rebuild, but not the file."""
    from s2s_onnx.models import inference

    monkeypatch.setattr(inference, "FILE_ACTIVATIONS", {"hard_sigmoid_keras2": "hard_sigmoid"})
    out = tmp_path / "b"
    vocab = str(FIXTURES / "hard-sigmoid-lstm" / "vocabulary.json")
    assert main(["convert", str(FIXTURES / "hard-sigmoid-lstm" / "model.h5"), "--vocab", vocab, "-o", str(out)]) == 2
    captured = capsys.readouterr()
    assert "parity: FAIL" in captured.out and "recurrent layers vs the file's own semantics" in captured.out
    assert "nothing was written" in captured.err and not out.exists()
