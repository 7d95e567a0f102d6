"""Decode loops as their authors wrote them, recorded in the bundle: a fixed number of steps and no end token, the
end token at id 0, another default cap, output words joined with no separator. Each bundle's default decode equals
that author's loop, written out here in plain Keras."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from s2s_onnx.runtime import InvalidOptionError, Seq2SeqModel
from s2s_onnx.runtime.cli import main

pytestmark = pytest.mark.keras
WORDS = ["ก", "ข", "ค", "ง", "จ"]  # word tokens of a script written without spaces
VOCAB = {
    "tokenization": "word",
    "input_tokens": ["", "a", "b", "c", "d"],
    "target_tokens": ["", "<s>", *WORDS],
    "padding": "",
    "start": "<s>",
    "end": "",  # the author stops at id 0
    "max_encoder_seq_length": 4,
    "max_decoder_seq_length": 6,
}
TEXTS = ["a b", "c", "d d a", "b c d a", "a"]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("loops")
    write_loop_model(directory / "model.keras", directory / "vocab.json")
    return directory


def write_loop_model(model_path: Path, vocab_path: Path) -> None:
    """A word-level GRU model of :data:`VOCAB`, seeded, and that vocabulary."""
    import keras
    from families import randomize

    enc_in = keras.Input((None,), name="encoder_inputs")
    x = keras.layers.Embedding(5, 4, mask_zero=True)(enc_in)
    _, h = keras.layers.GRU(6, return_state=True)(x)
    dec_in = keras.Input((None,), name="decoder_inputs")
    seq, _ = keras.layers.GRU(6, return_sequences=True, return_state=True)(
        keras.layers.Embedding(7, 4)(dec_in), initial_state=[h]
    )
    model = keras.Model([enc_in, dec_in], keras.layers.Dense(7, activation="softmax")(seq))
    randomize(model, 0, 0.0, 11)
    model.save(model_path)
    vocab_path.write_text(json.dumps(VOCAB, ensure_ascii=False))


def author_loop(model_dir: Path, text: str, steps: int, stop_at_zero: bool) -> list[int]:
    """The author's loop: feed the start id, take the argmax, feed it back, ``steps`` times (or until id 0)."""
    import keras

    from s2s_onnx.models.inference import build_inference_models

    models = build_inference_models(keras.saving.load_model(model_dir / "model.keras"))
    ids = [VOCAB["input_tokens"].index(w) for w in text.split()]
    x = np.array([ids + [0] * (4 - len(ids))])
    (state,) = [np.asarray(s) for s in [models.encoder(x, training=False)]]
    token, out = 1, []
    for _ in range(steps):
        probs, state = models.decoder([np.array([[token]]), state], training=False)
        token, state = int(np.argmax(np.asarray(probs)[0, -1])), np.asarray(state)
        if stop_at_zero and token == 0:
            break
        out.append(token)
    return out


def convert(model_dir: Path, name: str, *flags: str) -> Path:
    out = model_dir / name
    assert (
        main(
            [
                "convert",
                str(model_dir / "model.keras"),
                "--vocab",
                str(model_dir / "vocab.json"),
                "-o",
                str(out),
                "--fused",
                *flags,
            ]
        )
        == 0
    )
    return out


def test_a_fixed_length_loop_without_an_end_token(model_dir: Path, capsys) -> None:
    bundle = convert(model_dir, "fixed", "--stop", "length", "--max-length", "8", "--joiner", "")
    model = Seq2SeqModel.load(bundle)
    for strategy in ("fused", "steps"):
        results = model.decode(TEXTS, strategy=strategy)
        assert [list(r.token_ids) for r in results] == [author_loop(model_dir, t, 8, False) for t in TEXTS]
        assert all(len(r.token_ids) == 8 and r.stop_reason == "max_length" for r in results)
        assert any(0 in r.token_ids for r in results)  # id 0 came, and the loop went on as the author's does
    assert model.translate("a b") == "".join(
        model.vocabulary.target_chars[i] for i in author_loop(model_dir, "a b", 8, False)
    )
    with pytest.raises(InvalidOptionError, match="no end token"):
        model.decode("a", beam_size=2)
    assert main(["inspect", str(bundle)]) == 0
    assert "after exactly the cap (no end token); cap 8; joined ''" in capsys.readouterr().out


def test_the_end_token_at_id_zero_and_another_cap(model_dir: Path) -> None:
    bundle = convert(model_dir, "at-zero", "--max-length", "2")
    model = Seq2SeqModel.load(bundle)
    expected = [author_loop(model_dir, t, 2, True) for t in TEXTS]
    assert any(len(ids) < 2 for ids in expected) and any(len(ids) == 2 for ids in expected)
    for strategy in ("fused", "steps"):
        assert [list(r.token_ids) for r in model.decode(TEXTS, strategy=strategy)] == expected
    assert "".join(model.stream("a b")) == model.translate("a b").replace(" ", "")
    config = json.loads((bundle / "config.json").read_text())
    assert config["vocabulary"]["loop"] == {"stop": "end", "max_length": 2, "joiner": None}
