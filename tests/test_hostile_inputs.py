"""Garbage is never decoded as a confident answer: an input made only of characters the model does not know is
empty once they are skipped or replaced, and refused like any empty input; how much was skipped is reported."""

from __future__ import annotations

import json

import pytest

from s2s_onnx.runtime import EmptyInputError, Seq2SeqModel
from s2s_onnx.runtime.cli import main

GARBAGE = ["\u0301\u200f\u200b\x00", "\u200b", "\u0301\u0301"]


@pytest.fixture(scope="module")
def model() -> Seq2SeqModel:
    return Seq2SeqModel.load(threads=1)


@pytest.mark.parametrize("policy", ["skip", "replace"])
def test_all_unknown_inputs_are_refused(model: Seq2SeqModel, policy: str) -> None:
    for text in GARBAGE:
        with pytest.raises(EmptyInputError, match="no characters the model knows"):
            model.decode(text, unknown=policy)
    assert len(model.decode(GARBAGE, unknown=policy, allow_empty=True)) == len(GARBAGE)  # when asked for


def test_how_much_was_skipped_is_reported(model: Seq2SeqModel, capsys) -> None:
    result = model.decode("3 March\u200b 2021\u0301", unknown="skip")
    assert result.text == "2021-03-03" and result.unknown_tokens == 2 and result.to_dict()["unknown_tokens"] == 2
    assert model.decode("3 March 2021").unknown_tokens == 0
    assert main(["translate", "--json", "--unknown", "replace", "3 March\u200b 2021"]) == 0
    assert json.loads(capsys.readouterr().out)["unknown_tokens"] == 1
    assert main(["translate", "--unknown", "skip", "\u200b\u0301"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no characters the model knows" in err[0] and "U+200B" in err[0]
