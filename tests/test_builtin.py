"""TensorFlow-free tier: the runtime against the shipped dates bundle and the Keras decodes stored beside it.

``reference.json`` was written by ``convert`` when the bundle was built: the Keras example's own loop decoded
those texts at the default cap and at a short one. Nothing here imports TensorFlow.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from s2s_onnx.models import dates
from s2s_onnx.models.realistic_dates import realistic_pairs
from s2s_onnx.runtime import (
    Bundle,
    BundleFormatError,
    DecodeOptions,
    DecodeResult,
    InputTooLongError,
    ModelFileNotFoundError,
    ProviderNotAvailableError,
    Seq2SeqModel,
    SessionConfig,
    UnknownCharacterError,
    default_model_path,
)

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = json.loads((default_model_path() / "reference.json").read_text(encoding="utf-8"))["decodes"]


@pytest.fixture(scope="module")
def model() -> Seq2SeqModel:
    return Seq2SeqModel(Bundle.open(sessions=SessionConfig(threads=1)))


def _by_limit() -> dict[int, list[dict]]:
    groups: dict[int, list[dict]] = {}
    for row in REFERENCE:
        groups.setdefault(row["max_length"], []).append(row)
    return groups


def test_reference_covers_both_caps_and_the_samples() -> None:
    groups = _by_limit()
    vocab = Bundle.open().vocabulary
    assert set(groups) == {vocab.max_decoder_len + 1, 3}
    assert [r["text"] for r in groups[3]][: len(dates.SAMPLE_INPUTS)] == list(dates.SAMPLE_INPUTS)
    assert not any(r["ended"] for r in groups[3])  # a short cap: every row stops at it


@pytest.mark.parametrize("batch_size", [1, 16])
@pytest.mark.parametrize("strategy", ["steps", "fused"])
def test_decodes_equal_the_keras_reference(model, strategy, batch_size) -> None:
    for limit, rows in _by_limit().items():
        options = DecodeOptions(strategy=strategy, batch_size=batch_size, max_length=limit)
        results = model.decode([r["text"] for r in rows], options)
        assert [list(r.token_ids) for r in results] == [r["token_ids"] for r in rows]
        assert [r.stop_reason == "end" for r in results] == [r["ended"] for r in rows]


def test_default_cap_is_the_example_rule(model) -> None:
    assert model.max_length() == model.vocabulary.max_decoder_len + 1
    assert all(r["max_length"] == model.max_length() for r in REFERENCE if r["ended"])


def test_samples_and_realistic_spellings(model) -> None:
    assert model.translate(list(dates.SAMPLE_INPUTS)) == [iso for _, iso in dates.SAMPLES]
    sources, targets = realistic_pairs(300, seed=99)
    correct = sum(p == t for p, t in zip(model.translate(sources), targets, strict=True))
    assert correct / len(targets) >= 0.99


def test_stream_equals_decode(model) -> None:
    for text in dates.SAMPLE_INPUTS[:4]:
        chunks = list(model.stream(text))
        assert all(len(c) == 1 for c in chunks) and "".join(chunks) == model.translate(text)


def test_one_in_one_out_list_in_list_out(model) -> None:
    assert isinstance(model.translate("3 March 2021"), str)
    assert isinstance(model.decode("3 March 2021"), DecodeResult)
    assert model.translate(["3 March 2021"]) == ["2021-03-03"]
    assert model.translate([]) == []
    result = model.decode("14 Jul 1989")
    assert result.text == "1989-07-14" and result.stop_reason == "end"
    assert len(result.probabilities) == len(result.token_ids) == 10
    assert all(0.5 < p <= 1.0 for p in result.probabilities)


def test_threads_give_sequential_results(model) -> None:
    sources = realistic_pairs(120, seed=5)[0]
    requests = [sources[i : i + 1 + i % 5] for i in range(0, 120, 3)]
    for strategy in ("fused", "steps"):
        sequential = [model.translate(r, batch_size=3, strategy=strategy) for r in requests]
        with ThreadPoolExecutor(max_workers=8) as pool:
            concurrent = list(pool.map(lambda r: model.translate(r, batch_size=3, strategy=strategy), requests))  # noqa: B023
        assert concurrent == sequential


def test_input_rules(model) -> None:
    with pytest.raises(UnknownCharacterError, match="'#'"):
        model.translate("3 March 2021#")
    assert model.translate("3 March# 2021", unknown="skip") == "2021-03-03"
    assert model.translate("3 March#2021", unknown="replace") == "2021-03-03"
    too_long = "Wednesday, March 3rd, 2021" + " " * 40
    with pytest.raises(InputTooLongError, match=str(model.vocabulary.max_encoder_len)):
        model.translate(too_long)
    assert model.translate(too_long, truncate=True) == "2021-03-03"
    with pytest.raises(TypeError, match="texts"):
        model.translate(42)  # type: ignore[call-overload]
    with pytest.raises(TypeError, match=r"texts\[1\]"):
        model.translate(["3 March 2021", None])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="texts"):
        model.translate(b"3 March 2021")  # type: ignore[call-overload]


def test_decode_options_are_validated(model) -> None:
    with pytest.raises(TypeError, match="unknown decode option.*max_length"):
        model.translate("3 March 2021", max_len=3)
    with pytest.raises(ValueError, match="strategy"):
        model.translate("3 March 2021", strategy="beam")
    with pytest.raises(ValueError, match="unknown"):
        DecodeOptions(unknown="ignore")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="max_length"):
        DecodeOptions(max_length=3.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="batch_size"):
        DecodeOptions(batch_size=0)
    options = DecodeOptions(max_length=4)
    assert options.replace(batch_size=2) == DecodeOptions(max_length=4, batch_size=2)
    assert (
        Seq2SeqModel(model.bundle, options).decode("3 March 2021").token_ids
        == model.decode("3 March 2021", max_length=4).token_ids
    )


def test_providers_and_session_config() -> None:
    import onnxruntime as ort

    assert Bundle.open(sessions=SessionConfig(device="cpu")).providers == ["CPUExecutionProvider"]
    auto = Bundle.open(sessions=SessionConfig(device="auto")).providers
    cuda = "CUDAExecutionProvider" in ort.get_available_providers()
    assert auto[0] == ("CUDAExecutionProvider" if cuda else "CPUExecutionProvider")
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    assert Seq2SeqModel.load(providers=["CPUExecutionProvider"], sess_options=options).translate("3 March 2021")
    assert options.intra_op_num_threads == 1
    with pytest.raises(ValueError, match="not both"):
        SessionConfig(sess_options=options, threads=2)
    with pytest.raises(ValueError, match="device"):
        SessionConfig(device="tpu")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="threads"):
        SessionConfig(threads=0)


def test_cuda_absent_is_a_clear_error() -> None:
    import onnxruntime as ort

    if "CUDAExecutionProvider" in ort.get_available_providers():
        pytest.skip("CUDA is available here")
    with pytest.raises(ProviderNotAvailableError, match="CUDAExecutionProvider is not available.*CPUExecutionProvider"):
        Seq2SeqModel.load(device="cuda")
    with pytest.raises(ProviderNotAvailableError, match="TensorrtExecutionProvider"):
        Seq2SeqModel.load(providers=["TensorrtExecutionProvider"])


def _copy(tmp_path: Path) -> Path:
    target = tmp_path / "bundle"
    shutil.copytree(default_model_path(), target)
    return target


def _edit_config(bundle: Path, **changes: object) -> None:
    config = json.loads((bundle / "config.json").read_text())
    for key, value in changes.items():
        if value is None:
            config.pop(key, None)
        else:
            config[key] = value
    (bundle / "config.json").write_text(json.dumps(config))


def test_bad_bundles(tmp_path: Path) -> None:
    with pytest.raises(ModelFileNotFoundError):
        Seq2SeqModel.load(tmp_path / "missing")
    broken = _copy(tmp_path)
    _edit_config(broken, format_version=99)
    with pytest.raises(BundleFormatError, match="format_version 99"):
        Seq2SeqModel.load(broken)
    _edit_config(broken, format_version=1, latent_dim=None)
    with pytest.raises(BundleFormatError, match="latent_dim"):
        Seq2SeqModel.load(broken)
    shutil.copy(default_model_path() / "config.json", broken / "config.json")
    (broken / "decoder.onnx").write_bytes(b"garbage")
    with pytest.raises(BundleFormatError, match="decoder.onnx is not a valid ONNX model"):
        Seq2SeqModel.load(broken)
    shutil.copy(default_model_path() / "decoder.onnx", broken / "decoder.onnx")
    vocabulary = json.loads((broken / "config.json").read_text())["vocabulary"]
    _edit_config(broken, vocabulary={**vocabulary, "target_chars": vocabulary["target_chars"] + "%"})
    with pytest.raises(BundleFormatError, match="target characters but decoder.onnx takes"):
        Seq2SeqModel.load(broken)


NO_TF_SCRIPT = """
import sys, json
from s2s_onnx.runtime import Seq2SeqModel
model = Seq2SeqModel.load()
out = model.translate(["3 March 2021", "14 Jul 1989"]) + [model.translate("2021-03-03", strategy="steps")]
out.append("".join(model.stream("July 4th, 1976")))
heavy = sorted(m for m in ("tensorflow", "keras", "tf_keras", "tf2onnx") if m in sys.modules)
print(json.dumps({"out": out, "heavy": heavy}))
"""


def test_runtime_never_imports_tensorflow() -> None:
    done = subprocess.run(
        [sys.executable, "-c", NO_TF_SCRIPT], capture_output=True, text=True, check=True, timeout=120, cwd="/"
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result == {"out": ["2021-03-03", "1989-07-14", "2021-03-03", "1976-07-04"], "heavy": []}


def test_core_requirements_are_light() -> None:
    tomllib = pytest.importorskip("tomllib")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    core = " ".join(project["dependencies"]).lower()
    assert "numpy" in core and "onnxruntime" in core
    for heavy in ("tensorflow", "keras", "tf2onnx", "onnx>", "onnx ", "tf-keras"):
        assert heavy not in core
    assert "tf2onnx" in " ".join(project["optional-dependencies"]["export"])
    assert not any("tensorflow" in d for d in project["optional-dependencies"]["test"])
    assert any("onnxruntime-gpu" in d for d in project["optional-dependencies"]["gpu"])
