import json

import numpy as np
import pytest

from s2s_onnx.runtime import CleanRules, DataFormatError, InputTooLongError, UnknownCharacterError, Vocabulary


@pytest.fixture()
def small() -> Vocabulary:
    return Vocabulary.from_pairs(["ab", "b a"], ["X", "YX"])


def test_tables_built_the_example_way(small: Vocabulary) -> None:
    assert small.input_chars == (" ", "a", "b")
    assert small.target_chars == ("\t", "\n", "X", "Y")
    assert small.max_encoder_len == 3
    assert small.max_decoder_len == 4  # "\tYX\n"


def test_one_hot_layout_and_space_padding(small: Vocabulary) -> None:
    x = small.encode_sources(["ab", ""])
    expected = np.zeros((2, 3, 3), dtype=np.float32)
    expected[0, 0, 1] = 1  # a
    expected[0, 1, 2] = 1  # b
    expected[0, 2, 0] = 1  # padding space
    expected[1, :, 0] = 1  # empty input: all spaces
    np.testing.assert_array_equal(x, expected)


def test_teacher_forcing_arrays(small: Vocabulary) -> None:
    dec_in, dec_target = small.encode_targets(["X"])
    # "\tX\n" then a space pad; Y is absent so the pad space is not in the targets table -> zeros.
    expected_in = np.zeros((1, 4, 4), dtype=np.float32)
    expected_in[0, 0, 0] = expected_in[0, 1, 2] = expected_in[0, 2, 1] = 1
    np.testing.assert_array_equal(dec_in, expected_in)
    expected_target = np.zeros((1, 4, 4), dtype=np.float32)
    expected_target[0, 0, 2] = expected_target[0, 1, 1] = 1
    np.testing.assert_array_equal(dec_target, expected_target)


def test_json_round_trip(small: Vocabulary) -> None:
    text = json.dumps(small.to_dict())
    again = Vocabulary.from_dict(json.loads(text))
    assert again == small
    np.testing.assert_array_equal(again.encode_sources(["ba"]), small.encode_sources(["ba"]))


def test_unknown_characters_are_listed(small: Vocabulary) -> None:
    with pytest.raises(UnknownCharacterError) as info:
        small.clean("abzq")
    assert info.value.characters == ("q", "z")
    assert "'q', 'z'" in str(info.value) and "unknown=" in str(info.value)
    assert small.clean("azb", CleanRules(unknown="skip")) == list("ab")
    assert small.clean("azb", CleanRules(unknown="replace")) == list("a b")


def test_too_long_and_truncate(small: Vocabulary) -> None:
    with pytest.raises(InputTooLongError, match="at most 3"):
        small.clean("abab")
    assert small.clean("abab", CleanRules(truncate=True)) == list("aba")


def test_non_string_is_type_error(small: Vocabulary) -> None:
    with pytest.raises(TypeError):
        small.clean(3)  # type: ignore[arg-type]


def test_bad_dict_names_field() -> None:
    with pytest.raises(DataFormatError, match="max_encoder_len"):
        Vocabulary.from_dict({"input_chars": "ab", "target_chars": "\t\nx", "max_decoder_len": 3})


def plain_json(vocab: Vocabulary) -> dict:
    return {
        "tokenization": "char",
        "input_tokens": list(vocab.input_chars),
        "target_tokens": list(vocab.target_chars),
        "padding": " ",
        "start": "\t",
        "end": "\n",
        "max_encoder_seq_length": vocab.max_encoder_len,
        "max_decoder_seq_length": vocab.max_decoder_len,
    }


def test_plain_token_list_json_is_the_same_vocabulary() -> None:
    vocab = Vocabulary.from_pairs(["Go.", "Hi."], ["Va !", "Salut !"])
    assert Vocabulary.from_token_lists(plain_json(vocab)) == vocab
    assert Vocabulary.from_token_lists(json.loads(json.dumps(plain_json(vocab)))).to_dict() == vocab.to_dict()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"tokenization": "words"}, "tokenization must be 'char' or 'word', not 'words'"),
        ({"input_tokens": ["ab", "a"]}, "input_tokens[0] is 'ab'; character-level vocabularies hold single"),
        ({"target_tokens": ["\t", "\n", "hello"]}, "target_tokens[2] is 'hello'"),
        ({"target_tokens": ["\t", "\n", 3]}, "target_tokens[2] is 3"),
        ({"input_tokens": []}, "'input_tokens' must not be empty"),
        ({"max_decoder_seq_length": 0}, "'max_decoder_seq_length' must be between 1 and"),
        ({"end": "$"}, "end_char '$' is not among the target tokens"),
    ],
)
def test_plain_json_errors_name_the_field(change: dict, message: str) -> None:
    vocab = Vocabulary.from_pairs(["Go."], ["Va !"])
    with pytest.raises(DataFormatError) as info:
        Vocabulary.from_token_lists({**plain_json(vocab), **change})
    assert message in str(info.value)


def test_word_vocabulary_from_pairs_and_plain_json() -> None:
    vocab = Vocabulary.from_pairs(["go now", "go"], ["va", "va vite"], tokenization="word")
    assert vocab.input_chars == ("", "go", "now") and vocab.target_chars == ("", "\t", "\n", "va", "vite")
    assert (vocab.max_encoder_len, vocab.max_decoder_len, vocab.pad_char) == (2, 4, "")
    assert vocab.clean("  go   now ") == ["go", "now"]
    assert vocab.decode_ids([3, 4]) == "va vite"
    np.testing.assert_array_equal(vocab.encode_sources(["now"], ids=True), [[2, 0]])
    one_hot = vocab.encode_sources(["go"])
    assert one_hot.shape == (1, 2, 3) and one_hot[0, 0, 1] == 1 and one_hot[0, 1, 0] == 1  # padded with "" (id 0)
    again = Vocabulary.from_token_lists(json.loads(json.dumps(vocab.to_token_lists())))
    assert again == vocab
    with pytest.raises(UnknownCharacterError, match="words the model does not know: 'later'"):
        vocab.clean("go later")
    assert vocab.clean("go later", CleanRules(unknown="skip")) == ["go"]
    assert vocab.clean("go later", CleanRules(unknown="replace")) == ["go", ""]


def test_embedding_vocabulary_pads_with_id_zero_and_sparse_targets() -> None:
    vocab = Vocabulary.from_pairs(["ab", "b"], ["X", "YX"], ids=True)
    assert vocab.input_chars == ("", "a", "b") and vocab.target_chars[0] == ""
    np.testing.assert_array_equal(vocab.encode_sources(["b"], ids=True), [[2, 0]])
    dec_in, dec_target = vocab.encode_targets(["X"], ids=True)
    start, end, x = (vocab.target_index[t] for t in ("\t", "\n", "X"))
    np.testing.assert_array_equal(dec_in, [[start, x, end, 0]])
    np.testing.assert_array_equal(dec_target, [[x, end, 0, 0]])


def test_tokens_that_text_cannot_spell_never_reach_a_key_error() -> None:
    """A word vocabulary whose padding token is ``" PAD "`` (seen in the wild): random parity inputs skip it."""
    import numpy as np

    from s2s_onnx.runtime.vocab import random_texts

    vocab = Vocabulary.from_token_lists(
        {
            "tokenization": "word",
            "input_tokens": ["", " PAD ", "go", "now"],
            "target_tokens": ["", "\t", "\n", "va"],
            "padding": "",
            "max_encoder_seq_length": 4,
            "max_decoder_seq_length": 3,
        }
    )
    texts = random_texts(vocab, np.random.default_rng(0), 50)
    assert all(set(vocab.tokenize(t)) <= {"go", "now"} for t in texts)
    assert vocab.encode_sources(texts, ids=True).shape == (50, 4)
    with pytest.raises(UnknownCharacterError):
        vocab.clean("go PAD")


def test_unknown_invisible_characters_are_named_by_code_point() -> None:
    vocab = Vocabulary.from_pairs(["ab"], ["x"])
    with pytest.raises(UnknownCharacterError, match=r"U\+0301.*U\+200B|U\+200B.*U\+0301"):
        vocab.clean("a\u0301b\u200b")
