"""Keras tier: a saved pair of inference models (the Keras example's ``encoder_model`` + ``decoder_model``) in
place of the training model, in all three flavours, and a hand-written decoder model that returns the LSTM's outputs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from s2s_onnx.runtime import Seq2SeqModel
from s2s_onnx.runtime.cli import main

pytestmark = pytest.mark.keras
LEGACY = Path(__file__).resolve().parent / "fixtures" / "legacy-keras2-pair"


@pytest.fixture(scope="module")
def pair_files(trained, workdir: Path) -> dict[str, tuple[Path, Path, Path]]:
    """The example's inference models built from the trained model's layers, saved as .keras and Keras 3 .h5;
    with the committed Keras 2 pair. Each: (encoder file, decoder file, decoder file returning the LSTM output)."""
    import keras

    model = trained.model
    encoder_inputs = model.get_layer("encoder_inputs").output
    _, state_h_enc, state_c_enc = model.get_layer("encoder_lstm").output
    encoder_model = keras.Model(encoder_inputs, [state_h_enc, state_c_enc])
    latent_dim = state_h_enc.shape[-1]
    decoder_inputs = model.get_layer("decoder_inputs").output
    decoder_states_inputs = [keras.Input(shape=(latent_dim,)), keras.Input(shape=(latent_dim,))]
    decoder_outputs, state_h_dec, state_c_dec = model.get_layer("decoder_lstm")(
        decoder_inputs, initial_state=decoder_states_inputs
    )
    probs = model.get_layer("decoder_dense")(decoder_outputs)
    decoder_model = keras.Model([decoder_inputs, *decoder_states_inputs], [probs, state_h_dec, state_c_dec])
    mistaken = keras.Model([decoder_inputs, *decoder_states_inputs], [decoder_outputs, state_h_dec, state_c_dec])
    files = {}
    for suffix in ("keras", "h5"):
        folder = workdir / f"pair-{suffix}"
        folder.mkdir(exist_ok=True)
        names = [folder / f"{n}.{suffix}" for n in ("encoder_model", "decoder_model", "decoder_model_lstm_output")]
        for keras_model, path in zip((encoder_model, decoder_model, mistaken), names, strict=True):
            keras_model.save(path)
        files[suffix] = (names[0], names[1], names[2])
    files["legacy"] = (
        LEGACY / "encoder_model.h5",
        LEGACY / "decoder_model.h5",
        LEGACY / "decoder_model_lstm_output.h5",
    )
    return files


def _convert(files: tuple[Path, Path, Path], vocab: Path, out: Path, decoder_index: int = 1) -> int:
    args = ["convert", str(files[0]), "--decoder-model", str(files[decoder_index]), "--vocab", str(vocab)]
    return main([*args, "--fused", "-o", str(out)])


@pytest.mark.parametrize("flavour", ["keras", "h5"])
def test_keras3_pair_decodes_like_the_example_with_the_users_models(
    pair_files, flavour, workdir, tmp_path, sources, capsys
) -> None:
    import keras

    from s2s_onnx.models.reference import example_decode

    files = pair_files[flavour]
    assert _convert(files, workdir / "keras3" / "vocabulary.json", tmp_path / "bundle") == 0
    assert "parity: PASS" in capsys.readouterr().out
    user_encoder, user_decoder = (keras.saving.load_model(f, compile=False) for f in files[:2])
    bundle = tmp_path / "bundle"
    model = Seq2SeqModel.load(bundle)
    config = json.loads((bundle / "config.json").read_text())
    assert config["provenance"]["source_decoder_file"] == files[1].name
    texts = sources[:16]
    for limit in (None, 3):
        expected = example_decode(
            user_encoder, user_decoder, model.vocabulary.encode_sources(texts), model.vocabulary, limit
        )
        for strategy in ("steps", "fused"):
            results = model.decode(texts, max_length=limit, strategy=strategy, batch_size=16)
            assert [list(r.token_ids) for r in results] == expected.token_ids
            assert [r.stop_reason == "end" for r in results] == expected.ended


def test_keras2_pair_decodes_like_keras2_itself(pair_files, tmp_path, capsys) -> None:
    """The committed Keras 2 pair; its decodes were made by tf_keras's own predict() loop when it was saved."""
    assert _convert(pair_files["legacy"], LEGACY / "vocabulary.json", tmp_path / "bundle") == 0
    assert "parity: PASS" in capsys.readouterr().out
    stored = json.loads((LEGACY / "keras2_decodes.json").read_text())["decodes"]
    model = Seq2SeqModel.load(tmp_path / "bundle")
    end_id = model.vocabulary.end_id
    for strategy, batch_size in (("steps", 1), ("fused", 16)):
        results = model.decode([r["text"] for r in stored], strategy=strategy, batch_size=batch_size)
        want = [[t for t in r["token_ids"] if t != end_id] for r in stored]
        assert [list(r.token_ids) for r in results] == want
        assert [r.stop_reason == "end" for r in results] == [r["token_ids"][-1] == end_id for r in stored]


@pytest.mark.parametrize("flavour", ["keras", "h5", "legacy"])
def test_the_walk_through_decoder_that_returns_the_lstm_output_is_refused(
    pair_files, flavour, tmp_path, capsys
) -> None:
    vocab = LEGACY / "vocabulary.json"
    assert _convert(pair_files[flavour], vocab, tmp_path / "bundle", decoder_index=2) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("s2s-onnx")]
    assert len(errors) == 1 and "output sequence of layer" in errors[0] and "''s" not in errors[0]
    assert "convert the training model" in errors[0] and "Traceback" not in errors[0]
    assert not (tmp_path / "bundle").exists()


def test_an_encoder_model_alone_points_to_decoder_model(pair_files, tmp_path, capsys) -> None:
    args = [
        "convert",
        str(pair_files["keras"][0]),
        "--vocab",
        str(LEGACY / "vocabulary.json"),
        "-o",
        str(tmp_path / "b"),
    ]
    assert main(args) == 2
    assert "--decoder-model" in capsys.readouterr().err
