"""The files the README's "The files people have" table converts, written into the README test's scratch folder
under the README's names: the committed Keras 2 fixtures, and small Keras 3 models built like their tests'."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).resolve().parent / "fixtures"
KERAS2 = FIXTURES / "keras2-formats"


def write_readme_files(root: Path, example_vocab: Any) -> None:
    import keras
    from test_author_loops import write_loop_model
    from test_masking import masked_model, vocabulary
    from test_vocab_files import write_tokenizer_model

    from s2s_onnx.export.vocab_files import example_dicts

    shutil.copytree(KERAS2 / "lstm" / "savedmodel", root / "s2s")
    shutil.copy(KERAS2 / "lstm" / "vocabulary.json", root / "s2s-vocabulary.json")
    shutil.copy(KERAS2 / "lstm" / "model-windows.keras", root / "s2s-tf2.keras")
    for name, family in (("cudnn", "cudnn-lstm"), ("keras22", "hard-sigmoid-lstm")):
        shutil.copy(KERAS2 / family / "model.h5", root / f"{name}.h5")
        shutil.copy(KERAS2 / family / "vocabulary.json", root / f"{name}-vocabulary.json")
    masked = vocabulary()
    masked_model(keras, "LSTM", masked).save(root / "masked.keras")
    (root / "masked-vocabulary.json").write_text(json.dumps(masked.to_token_lists()))
    write_tokenizer_model(root / "tokenized.keras")
    for side in ("source", "target"):
        shutil.copy(FIXTURES / "tokenizers" / f"{side}_tokenizer.json", root / f"{side}_tokenizer.json")
    (root / "token-index.json").write_text(json.dumps(example_dicts(example_vocab)))
    write_loop_model(root / "fixed.keras", root / "fixed-vocabulary.json")
    (root / "dates.txt").write_text("March 3rd, 2021\n14 July 1989\n", "utf-8")  # translate-file's input
