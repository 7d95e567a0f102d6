"""Conversion of all three model-file flavours, parity, and the example's workflow (real tf2onnx)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from s2s_onnx.runtime import Seq2SeqModel

pytestmark = pytest.mark.keras

SAMPLE = 24


LEGACY = Path(__file__).resolve().parent / "fixtures" / "legacy-keras2"


@pytest.fixture(scope="session")
def legacy_file() -> Path:
    """A committed legacy Keras 2 .h5 (the example's unnamed layers, trained with tf_keras 2.21) with its vocabulary
    and Keras 2's own teacher-forced outputs on fixed inputs (keras2_outputs.npz)."""
    return LEGACY / "model.h5"


def test_keras2_file_is_rebuilt_exactly_without_tf_keras(legacy_file: Path) -> None:
    import sys

    from s2s_onnx.models.loading import load_training_model

    loaded = load_training_model(legacy_file)
    stored = np.load(LEGACY / "keras2_outputs.npz")
    probs = np.asarray(loaded.model([stored["encoder_input"], stored["decoder_input"]], training=False))
    np.testing.assert_allclose(probs, stored["probs"], atol=1e-6, rtol=0)
    assert loaded.flavour == "keras2-h5" and "tf_keras" not in sys.modules


def test_flavours_are_detected(keras_file: Path, legacy_file: Path) -> None:
    from s2s_onnx.models.loading import detect_flavour

    assert detect_flavour(keras_file)[0] == "keras3-keras"
    assert detect_flavour(keras_file.with_suffix(".h5"))[0] == "keras3-h5"
    flavour, version = detect_flavour(legacy_file)
    assert flavour == "keras2-h5" and version.startswith("2.")


@pytest.mark.parametrize("flavour", ["keras", "h5", "legacy"])
def test_convert_each_flavour_with_parity(flavour, keras_file, legacy_file, vocab, sources, workdir) -> None:
    import onnx

    from s2s_onnx.export.tf.convert import ConvertOptions, convert
    from s2s_onnx.export.vocab_files import load_vocabulary
    from s2s_onnx.runtime.onnx_scan import op_counts

    source = {"keras": keras_file, "h5": keras_file.with_suffix(".h5"), "legacy": legacy_file}[flavour]
    if flavour == "legacy":
        vocab = load_vocabulary(LEGACY / "vocabulary.json")
    result = convert(source, workdir / f"bundle-{flavour}", vocab, ConvertOptions(sentences=tuple(sources[:SAMPLE])))
    report = result.report
    assert report is not None and report.ok, report.format()
    assert report.worst <= 1e-4 and report.split_max_abs_diff <= 1e-5
    assert report.decodes_compared >= 2 * SAMPLE and report.decodes_equal == report.decodes_compared
    reference = json.loads((result.bundle_dir / "reference.json").read_text())["decodes"]
    assert {r["max_length"] for r in reference} == {vocab.max_decoder_len + 1, 3}
    for name in ("encoder.onnx", "decoder.onnx"):
        graph = onnx.load(str(result.bundle_dir / name))
        counts = op_counts(graph)
        assert counts["LSTM"] == 1 and counts["Loop"] == 0, counts
    decoder = onnx.load(str(result.bundle_dir / "decoder.onnx")).graph
    assert [i.name for i in decoder.input] == ["decoder_inputs", "state_h", "state_c"]
    assert [o.name for o in decoder.output] == ["probs", "state_h_out", "state_c_out"]
    assert decoder.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    assert result.config.provenance["source_sha256"]
    assert result.config.provenance["source_flavour"].startswith("keras2" if flavour == "legacy" else "keras3")


def test_example_workflow_rebuilds_vocabulary_from_data(workdir, pairs_file, sources) -> None:
    """A model trained with the Keras example (no vocabulary saved) converts with --data/--num-samples."""
    import keras

    from s2s_onnx.models.data import read_pairs
    from s2s_onnx.models.inference import build_inference_models
    from s2s_onnx.models.reference import example_decode
    from s2s_onnx.runtime.cli import main
    from s2s_onnx.runtime.vocab import Vocabulary

    # The example's own script, in short: its own vocabulary code, unnamed layers, model.save("s2s_model.keras").
    n = 500
    lines = pairs_file.read_text(encoding="utf-8").split("\n")
    input_texts, target_texts = [], []
    for line in lines[: min(n, len(lines) - 1)]:
        input_text, target_text, _ = line.split("\t")
        input_texts.append(input_text)
        target_texts.append("\t" + target_text + "\n")
    input_characters = sorted(set("".join(input_texts)))
    target_characters = sorted(set("".join(target_texts)))
    enc_in = keras.Input(shape=(None, len(input_characters)))
    _, h, c = keras.layers.LSTM(16, return_state=True)(enc_in)
    dec_in = keras.Input(shape=(None, len(target_characters)))
    seq, _, _ = keras.layers.LSTM(16, return_sequences=True, return_state=True)(dec_in, initial_state=[h, c])
    model = keras.Model([enc_in, dec_in], keras.layers.Dense(len(target_characters), activation="softmax")(seq))
    model_path = workdir / "example" / "s2s_model.keras"
    model_path.parent.mkdir()
    model.save(model_path)

    out = workdir / "example-bundle"
    code = main(["convert", str(model_path), "--data", str(pairs_file), "--num-samples", str(n), "-o", str(out)])
    assert code == 0
    vocab = Vocabulary.from_pairs(*read_pairs(pairs_file, n))
    assert vocab.input_chars == tuple(input_characters) and vocab.target_chars == tuple(target_characters)
    models = build_inference_models(keras.saving.load_model(model_path))
    texts = input_texts[:40]
    expected = example_decode(models.encoder, models.decoder, vocab.encode_sources(texts), vocab).texts(vocab)
    assert Seq2SeqModel.load(out).translate(texts) == expected


def test_fused_bundle_layout(bundle: Path) -> None:
    config = json.loads((bundle / "config.json").read_text())
    assert config["format_version"] == 2 and config["fused"] is True
    assert config["model"] == {
        "cell": "lstm",
        "layers": 1,
        "direction": "forward",
        "input": "one_hot",
        "target_input": "one_hot",
        "tokenization": "char",
        "states": [{"name": "state_h", "width": 32}, {"name": "state_c", "width": 32}],
    }
    assert {"encoder.onnx", "decoder.onnx", "greedy.onnx", "config.json", "reference.json"} <= {
        p.name for p in bundle.iterdir()
    }
    for key in ("input_tokens", "target_tokens", "max_encoder_seq_length", "max_decoder_seq_length", "start", "end"):
        assert key in config["vocabulary"]
    for key in ("keras_version", "tensorflow_version", "tf2onnx_version", "source_sha256"):
        assert key in config["provenance"]
    assert config["opset"] == 17 and config["latent_dim"] == 32
    assert not [p for p in bundle.parent.iterdir() if p.name.startswith(".bundle")]


def test_random_inputs_parity_numbers(bundle: Path, inference, vocab) -> None:
    """Independent check: ONNX encoder states vs Keras on fresh random inputs, explicit tolerance."""
    import onnxruntime as ort

    from s2s_onnx.models.inference import call_keras, random_one_hot

    session = ort.InferenceSession(str(bundle / "encoder.onnx"), providers=["CPUExecutionProvider"])
    x = random_one_hot(np.random.default_rng(7), 5, 9, vocab.num_encoder_tokens)
    keras_h, keras_c = call_keras(inference.encoder, [x])
    onnx_h, onnx_c = session.run(None, {"encoder_inputs": x})
    np.testing.assert_allclose(onnx_h, keras_h, atol=1e-4, rtol=0)
    np.testing.assert_allclose(onnx_c, keras_c, atol=1e-4, rtol=0)


def test_no_verify_writes_no_reference(keras_file, vocab, tmp_path: Path, capsys) -> None:
    from s2s_onnx.runtime.cli import main

    out = tmp_path / "unverified"
    assert (
        main(
            [
                "convert",
                str(keras_file),
                "--vocab",
                str(keras_file.parent / "vocabulary.json"),
                "-o",
                str(out),
                "--no-verify",
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert "parity:" not in printed and "wrote" in printed
    assert {p.name for p in out.iterdir()} == {"encoder.onnx", "decoder.onnx", "config.json"}
    assert Seq2SeqModel.load(out).translate("abc") == Seq2SeqModel.load(keras_file.parent.parent / "bundle").translate(
        "abc", strategy="steps"
    )


def test_convert_with_a_plain_token_list_vocabulary(keras_file: Path, vocab, tmp_path: Path, capsys) -> None:
    """`--vocab` also takes the plain JSON any training script can write (token lists in id order)."""
    from s2s_onnx.runtime.cli import main

    plain = vocab.to_token_lists()
    assert set(plain) == {"tokenization", "input_tokens", "target_tokens", "padding", "start", "end"} | {
        "max_encoder_seq_length",
        "max_decoder_seq_length",
    }
    path = tmp_path / "tokens.json"
    path.write_text(json.dumps(plain))
    out = tmp_path / "bundle"
    assert main(["convert", str(keras_file), "--vocab", str(path), "-o", str(out)]) == 0
    assert "parity: PASS" in capsys.readouterr().out
    assert Seq2SeqModel.load(out).vocabulary == vocab
    path.write_text(json.dumps({**plain, "tokenization": "morse"}))
    assert main(["convert", str(keras_file), "--vocab", str(path), "-o", str(tmp_path / "morse")]) == 2
    assert "tokenization must be 'char' or 'word', not 'morse'" in capsys.readouterr().err


def test_convert_quantize_int8_writes_a_checked_int8_bundle(
    keras_file: Path, pairs_file: Path, tmp_path: Path, capsys
) -> None:
    """Checked on the training sentences (--data). This tiny, briefly trained model is fragile under int8: the
    default threshold refuses it (one line, nothing written); --min-identical 0 accepts and records the rate."""
    from s2s_onnx.runtime.cli import main

    out = tmp_path / "int8"
    args = ["convert", str(keras_file), "--data", str(pairs_file), "--fused", "--quantize", "int8", "-o", str(out)]
    assert main(args) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line and not line.startswith("convert:")]
    assert len(err) == 1 and "decodes of sentences of the pairs file identical (required 99.0%)" in err[0], err
    assert "nothing was written" in err[0]
    assert list(tmp_path.iterdir()) == []  # neither the int8 bundle nor the fp32 scratch bundle
    assert main([*args, "--min-identical", "0"]) == 0
    assert "decodes of sentences of the pairs file identical to fp32" in capsys.readouterr().out
    quantization = json.loads((out / "config.json").read_text())["provenance"]["quantization"]
    # The int8 loop is the step decoder's own LSTM op and Dense, quantized alike: fused and steps agree even here
    assert 0.5 < quantization["identical"] < 0.99 and quantization["fused_equals_steps"] == 1.0
    assert quantization["fused_loop"].startswith("LSTM ops")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["int8"]
