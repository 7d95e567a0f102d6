"""The TensorFlow-free runtime against the Keras reference decoder (real onnxruntime sessions)."""

from __future__ import annotations

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import tomllib

from s2s_onnx.runtime import (
    BundleFormatError,
    DecodeResult,
    InputTooLongError,
    ModelFileNotFoundError,
    ProviderNotAvailableError,
    Seq2SeqModel,
    UnknownCharacterError,
)

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def steps_model(bundle: Path) -> Seq2SeqModel:
    return Seq2SeqModel.load(bundle, use_fused=False, threads=1)


@pytest.fixture(scope="module")
def fused_model(bundle: Path) -> Seq2SeqModel:
    return Seq2SeqModel.load(bundle, threads=1)


@pytest.fixture(scope="module")
def reference(inference, vocab, mixed_inputs):
    from s2s_onnx.models.reference import greedy_decode

    def decode(texts: list[str], max_length: int | None = None):
        return greedy_decode(inference.encoder, inference.decoder, vocab.encode_sources(texts), vocab, max_length)

    return decode


def test_mixed_inputs_have_mixed_output_lengths(reference, mixed_inputs) -> None:
    lengths = {len(ids) for ids in reference(mixed_inputs).token_ids}
    assert len(lengths) >= 3  # the parity tests below really mix short and long outputs


@pytest.mark.parametrize("batch_size", [1, 3, 16])
@pytest.mark.parametrize("which", ["steps", "fused"])
def test_identical_to_keras_reference(which, batch_size, steps_model, fused_model, reference, mixed_inputs) -> None:
    model = steps_model if which == "steps" else fused_model
    assert model.fused == (which == "fused")
    expected = reference(mixed_inputs)
    results = model.decode(mixed_inputs, batch_size=batch_size)
    assert [list(r.token_ids) for r in results] == expected.token_ids
    assert [r.stop_reason == "end" for r in results] == expected.ended


@pytest.mark.parametrize("which", ["steps", "fused"])
def test_max_length_reached(which, steps_model, fused_model, reference, mixed_inputs) -> None:
    model = steps_model if which == "steps" else fused_model
    expected = reference(mixed_inputs, max_length=2)
    results = model.decode(mixed_inputs, max_length=2, batch_size=5)
    assert [list(r.token_ids) for r in results] == expected.token_ids
    assert any(r.stop_reason == "max_length" for r in results)
    assert all(len(r.token_ids) <= 2 for r in results)


def test_fused_exits_early_when_all_rows_end(fused_model, steps_model, mixed_inputs) -> None:
    from s2s_onnx.runtime.decoding import decode_fused

    vocab = fused_model.vocabulary
    x = vocab.encode_sources(mixed_inputs)
    tokens = decode_fused(fused_model.sessions[2], x, 1000)  # type: ignore[arg-type]
    assert tokens.ended.all()
    assert tokens.ids.shape[1] == int(tokens.lengths.max()) + 1 < 1000


def test_strategies_agree_and_probabilities(fused_model, mixed_inputs) -> None:
    fused = fused_model.decode(mixed_inputs)
    steps = fused_model.decode(mixed_inputs, strategy="steps")
    assert [r.token_ids for r in fused] == [r.token_ids for r in steps]
    for a, b in zip(fused, steps, strict=True):
        np.testing.assert_allclose(a.probabilities, b.probabilities, atol=1e-5)
        assert all(0.0 < p <= 1.0 for p in a.probabilities)


def test_one_in_one_out_list_in_list_out(fused_model, mixed_inputs) -> None:
    single = fused_model.translate(mixed_inputs[0])
    assert isinstance(single, str)
    many = fused_model.translate(mixed_inputs[:3])
    assert isinstance(many, list) and many[0] == single
    assert isinstance(fused_model.decode(mixed_inputs[0]), DecodeResult)
    assert fused_model.translate([]) == []


def test_streaming_matches_reference(steps_model, reference, mixed_inputs, vocab) -> None:
    expected = reference(mixed_inputs).texts(vocab)
    for text, want in zip(mixed_inputs, expected, strict=True):
        chunks = list(steps_model.stream(text))
        assert all(len(c) == 1 for c in chunks)
        assert "".join(chunks) == want


def test_threads_give_sequential_results(fused_model, steps_model, sources) -> None:
    requests = [sources[i : i + 1 + i % 5] for i in range(0, 160, 2)]
    for model in (fused_model, steps_model):
        sequential = [model.translate(r, batch_size=3) for r in requests]
        with ThreadPoolExecutor(max_workers=8) as pool:
            concurrent = list(pool.map(lambda r: model.translate(r, batch_size=3), requests))  # noqa: B023
        assert concurrent == sequential


def test_input_handling(fused_model) -> None:
    vocab = fused_model.vocabulary
    with pytest.raises(UnknownCharacterError, match="'#'"):
        fused_model.translate("ab#c")
    assert fused_model.translate("ab#c", unknown="skip") == fused_model.translate("abc")
    assert isinstance(fused_model.translate("ab#c", unknown="replace"), str)
    too_long = "a" * (vocab.max_encoder_len + 3)
    with pytest.raises(InputTooLongError, match=str(vocab.max_encoder_len)):
        fused_model.translate(too_long)
    assert fused_model.translate(too_long, truncate=True) == fused_model.translate(too_long[: vocab.max_encoder_len])
    assert isinstance(fused_model.translate(""), str)
    with pytest.raises(TypeError):
        fused_model.translate(42)  # type: ignore[call-overload]
    with pytest.raises(TypeError):
        fused_model.translate(["ab", None])  # type: ignore[list-item]


def test_providers_on_cpu(bundle: Path) -> None:
    import onnxruntime as ort

    assert Seq2SeqModel.load(bundle, device="cpu").providers == ["CPUExecutionProvider"]
    auto = Seq2SeqModel.load(bundle, device="auto").providers
    expected = (
        "CUDAExecutionProvider" if "CUDAExecutionProvider" in ort.get_available_providers() else "CPUExecutionProvider"
    )
    assert auto[0] == expected
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    assert Seq2SeqModel.load(bundle, providers=["CPUExecutionProvider"], sess_options=options).translate("ab")


def test_cuda_absent_is_a_clear_error(bundle: Path) -> None:
    import onnxruntime as ort

    if "CUDAExecutionProvider" in ort.get_available_providers():
        pytest.skip("CUDA is available here")
    with pytest.raises(ProviderNotAvailableError, match="CUDAExecutionProvider is not available.*CPUExecutionProvider"):
        Seq2SeqModel.load(bundle, device="cuda")
    with pytest.raises(ProviderNotAvailableError, match="TensorrtExecutionProvider"):
        Seq2SeqModel.load(bundle, providers=["TensorrtExecutionProvider"])


def test_bad_bundles(tmp_path: Path, bundle: Path) -> None:
    import shutil

    with pytest.raises(ModelFileNotFoundError):
        Seq2SeqModel.load(tmp_path / "missing")
    broken = tmp_path / "broken"
    shutil.copytree(bundle, broken)
    config = json.loads((broken / "config.json").read_text())
    config["format_version"] = 99
    (broken / "config.json").write_text(json.dumps(config))
    with pytest.raises(BundleFormatError, match="format_version 99"):
        Seq2SeqModel.load(broken)
    del config["latent_dim"]
    config["format_version"] = 1
    (broken / "config.json").write_text(json.dumps(config))
    with pytest.raises(BundleFormatError, match="latent_dim"):
        Seq2SeqModel.load(broken)
    shutil.copy(bundle / "config.json", broken / "config.json")
    (broken / "decoder.onnx").write_bytes(b"garbage")
    with pytest.raises(BundleFormatError, match="decoder.onnx is not a valid ONNX model"):
        Seq2SeqModel.load(broken)
    shutil.copy(bundle / "decoder.onnx", broken / "decoder.onnx")
    config = json.loads((bundle / "config.json").read_text())
    config["vocabulary"]["target_chars"] += "%"
    (broken / "config.json").write_text(json.dumps(config))
    with pytest.raises(BundleFormatError, match="target characters but decoder.onnx takes"):
        Seq2SeqModel.load(broken)


NO_TF_SCRIPT = """
import sys, json
from s2s_onnx.runtime import Seq2SeqModel
model = Seq2SeqModel.load(sys.argv[1])
out = model.translate(["abc", "hgfe"]) + [model.translate("abc", strategy="steps")] + ["".join(model.stream("ab"))]
heavy = sorted(m for m in ("tensorflow", "keras", "tf_keras", "tf2onnx") if m in sys.modules)
print(json.dumps({"out": out, "heavy": heavy}))
"""


def test_runtime_never_imports_tensorflow(bundle: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", NO_TF_SCRIPT, str(bundle)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["heavy"] == []
    assert len(result["out"]) == 4


def test_core_requirements_are_light() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    core = " ".join(project["dependencies"]).lower()
    assert "numpy" in core and "onnxruntime" in core
    for heavy in ("tensorflow", "keras", "tf2onnx", "onnx>", "onnx ", "tf-keras"):
        assert heavy not in core
    assert "tf2onnx" in " ".join(project["optional-dependencies"]["export"])
    assert any("onnxruntime-gpu" in d for d in project["optional-dependencies"]["gpu"])
