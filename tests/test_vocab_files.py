"""Vocabularies as people saved them: a Keras Tokenizer's to_json() and word_index (files written by a real Keras 2
Tokenizer, ``fixtures/make_tokenizer_files.py``), TextVectorization lists, the Keras example's token-index dicts;
the runtime reproduces the Tokenizer's own text handling; pickles are refused."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest

from s2s_onnx.export.vocab_files import VocabSettings, example_dicts, load_vocabulary, pair_vocabulary, read_side
from s2s_onnx.runtime import CleanRules, DataFormatError, Vocabulary

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "tokenizers"
LENGTHS = VocabSettings(max_encoder_len=8, max_decoder_len=9)


def tokenizer_vocab() -> Vocabulary:
    source, target = read_side(FIXTURES / "source_tokenizer.json"), read_side(FIXTURES / "target_tokenizer.json")
    return pair_vocabulary(source, target, LENGTHS)


def test_the_runtime_tokenizes_as_the_keras_tokenizer_did() -> None:
    vocab = tokenizer_vocab()
    assert (vocab.start_char, vocab.end_char, vocab.tokenization) == ("<start>", "<end>", "word")
    assert vocab.num_encoder_tokens == 12  # num_words: ids from 12 on become the OOV token, as texts_to_sequences does
    for probe in json.loads((FIXTURES / "sequences.json").read_text("utf-8")):
        assert vocab.source_ids([vocab.clean(probe["text"])])[0] == probe["ids"], probe["text"]


def test_the_tokenizer_rules_travel_in_the_bundle_config() -> None:
    vocab = tokenizer_vocab()
    again = Vocabulary.from_token_lists(json.loads(json.dumps(vocab.to_token_lists())))
    assert again == vocab and again.text.lower and again.text.oov_token == "<unk>"


def test_a_word_index_dict_is_a_side() -> None:
    side = read_side(FIXTURES / "source_word_index.json")
    index = json.loads((FIXTURES / "source_word_index.json").read_text())
    assert side.tokens[0] == "" and all(side.tokens[i] == w for w, i in index.items())


def test_a_text_vectorization_list_uses_its_default_standardisation(tmp_path: Path) -> None:
    (tmp_path / "source.json").write_text(json.dumps(["", "[UNK]", "go", "now", "home"]))
    (tmp_path / "target.txt").write_text("\n".join(["", "[UNK]", "[start]", "[end]", "va"]) + "\n")
    source, target = read_side(tmp_path / "source.json"), read_side(tmp_path / "target.txt")
    vocab = pair_vocabulary(source, target, LENGTHS)
    assert (vocab.start_char, vocab.end_char) == ("[start]", "[end]")
    assert vocab.source_ids([vocab.clean("Go, NOW! elsewhere")])[0] == [2, 3, 1]


def test_the_keras_example_dicts_are_its_vocabulary(tmp_path: Path) -> None:
    expected = Vocabulary.from_pairs(["ab", "b a"], ["x", "yx"])
    (tmp_path / "dicts.json").write_text(json.dumps(example_dicts(expected)))
    assert load_vocabulary(tmp_path / "dicts.json") == expected


def test_pickles_are_never_loaded(tmp_path: Path) -> None:
    path = tmp_path / "tokenizer.pickle"
    path.write_bytes(pickle.dumps({"go": 1}))
    with pytest.raises(DataFormatError, match="never loads .*to_json"):
        read_side(path)
    (tmp_path / "renamed.json").write_bytes(pickle.dumps({"go": 1}))
    with pytest.raises(DataFormatError, match="pickle"):
        read_side(tmp_path / "renamed.json")


def test_what_the_files_cannot_say_is_asked_for_by_flag() -> None:
    source, target = read_side(FIXTURES / "source_tokenizer.json"), read_side(FIXTURES / "target_tokenizer.json")
    with pytest.raises(DataFormatError, match="--max-encoder-length N --max-decoder-length M"):
        pair_vocabulary(source, target, VocabSettings())
    with pytest.raises(DataFormatError, match="--end-token 'stop' is not a token"):
        pair_vocabulary(
            source, target, VocabSettings(start="<start>", end="stop", max_encoder_len=3, max_decoder_len=3)
        )
    with pytest.raises(DataFormatError, match="one side's tokenizer; give the model's two"):
        load_vocabulary(FIXTURES / "source_tokenizer.json")


def test_the_cli_reads_a_tokenizer_pair(tmp_path: Path, capsys) -> None:
    from s2s_onnx.runtime.cli import main

    model = FIXTURES.parent / "keras2-formats" / "lstm" / "model.keras"
    args = ["convert", str(model), "--source-vocab", str(FIXTURES / "source_tokenizer.json"), "-o", str(tmp_path / "b")]
    assert main(args) == 2
    assert "--source-vocab and --target-vocab go together" in capsys.readouterr().err


@pytest.mark.keras
def test_a_tokenizer_model_converts_and_decodes_as_its_keras_loop(tmp_path: Path, capsys) -> None:
    import numpy as np

    from s2s_onnx.models.inference import build_inference_models
    from s2s_onnx.models.reference import example_decode
    from s2s_onnx.runtime import Seq2SeqModel
    from s2s_onnx.runtime.cli import main

    vocab = write_tokenizer_model(tmp_path / "model.keras")
    args = [
        "--source-vocab",
        str(FIXTURES / "source_tokenizer.json"),
        "--target-vocab",
        str(FIXTURES / "target_tokenizer.json"),
    ]
    args += ["--max-encoder-length", "8", "--max-decoder-length", "9", "-o", str(tmp_path / "b"), "--fused"]
    assert main(["convert", str(tmp_path / "model.keras"), *args]) == 0
    texts = [p["text"] for p in json.loads((FIXTURES / "sequences.json").read_text("utf-8"))]
    import keras

    models = build_inference_models(keras.saving.load_model(tmp_path / "model.keras"))
    x_ids = vocab.encode_sources([vocab.clean(t) for t in texts], ids=True)
    expected = example_decode(models.encoder, models.decoder, x_ids, vocab).texts(vocab)
    runtime = Seq2SeqModel.load(tmp_path / "b")
    assert runtime.translate(texts) == expected == runtime.translate(texts, strategy="steps")
    assert runtime.vocabulary.text.oov_token == "<unk>" and np.all(x_ids >= 0)


@pytest.mark.keras
def test_text_vectorization_lists_tokenize_as_the_layer_does(tmp_path: Path) -> None:
    import keras
    import numpy as np

    layer = keras.layers.TextVectorization(output_mode="int")
    layer.adapt(["Go now!", "the cat, the mat.", "[start] va [end]", "Don't run"])
    (tmp_path / "source.json").write_text(json.dumps(layer.get_vocabulary()))
    (tmp_path / "target.json").write_text(json.dumps(["", "[UNK]", "[start]", "[end]", "va"]))
    vocab = pair_vocabulary(read_side(tmp_path / "source.json"), read_side(tmp_path / "target.json"), LENGTHS)
    for text in ["GO, now!!", "The mat... don't", "unknown cat"]:
        expected = [int(i) for i in np.asarray(layer([text]))[0] if i]
        assert vocab.source_ids([vocab.clean(text)])[0] == expected, text


def write_tokenizer_model(path: Path) -> Vocabulary:
    """A word-level GRU model (Embedding inputs, masked source) of the fixture Tokenizers' vocabulary, seeded."""
    import keras
    from families import randomize

    vocab = tokenizer_vocab()
    enc_in = keras.Input((None,), name="encoder_inputs")
    x = keras.layers.Embedding(vocab.num_encoder_tokens, 5, mask_zero=True)(enc_in)
    _, h = keras.layers.GRU(6, return_state=True)(x)
    dec_in = keras.Input((None,), name="decoder_inputs")
    y = keras.layers.Embedding(vocab.num_decoder_tokens, 5)(dec_in)
    seq, _ = keras.layers.GRU(6, return_sequences=True, return_state=True)(y, initial_state=[h])
    model = keras.Model([enc_in, dec_in], keras.layers.Dense(vocab.num_decoder_tokens, activation="softmax")(seq))
    randomize(model, vocab.end_id, 2.0, 5)
    model.save(path)
    return vocab


def test_a_char_level_tokenizer_lowercases_characters(tmp_path: Path) -> None:
    config = {"char_level": True, "lower": True, "filters": "!", "split": " ", "oov_token": None}
    config["word_index"] = json.dumps({"a": 1, "b": 2, " ": 3, "\t": 4, "\n": 5})
    (tmp_path / "chars.json").write_text(json.dumps({"class_name": "Tokenizer", "config": config}))
    side = read_side(tmp_path / "chars.json")
    vocab = pair_vocabulary(side, side, VocabSettings(max_encoder_len=5, max_decoder_len=5))
    assert vocab.tokenization == "char" and (vocab.start_char, vocab.end_char) == ("\t", "\n")
    assert vocab.source_ids([vocab.clean("AB a!", CleanRules(unknown="skip"))])[0] == [1, 2, 3, 1]
