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

import numpy as np
import pytest

from s2s_onnx.models import dates
from s2s_onnx.models.realistic_dates import realistic_pairs
from s2s_onnx.runtime import (
    Bundle,
    BundleFormatError,
    BundleReadError,
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
    with pytest.raises(ValueError, match="not both"):
        SessionConfig(sess_options=options, cpu_arena=True)
    assert not SessionConfig().session_options().enable_cpu_mem_arena  # off unless asked for
    assert SessionConfig(cpu_arena=True).session_options().enable_cpu_mem_arena
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
    _edit_config(broken, format_version=2, latent_dim=None)
    with pytest.raises(BundleFormatError, match="latent_dim"):
        Seq2SeqModel.load(broken)
    shutil.copy(default_model_path() / "config.json", broken / "config.json")
    (broken / "decoder.onnx").write_bytes(b"garbage")
    with pytest.raises(BundleFormatError, match="decoder.onnx is not a valid ONNX model"):
        Seq2SeqModel.load(broken)
    shutil.copy(default_model_path() / "decoder.onnx", broken / "decoder.onnx")
    vocabulary = json.loads((broken / "config.json").read_text())["vocabulary"]
    _edit_config(broken, vocabulary={**vocabulary, "target_tokens": [*vocabulary["target_tokens"], "%"]})
    with pytest.raises(
        BundleFormatError, match="gives decoder_inputs a width of 14 but decoder.onnx decoder_inputs has width 13"
    ):
        Seq2SeqModel.load(broken)


BAD_CONFIGS = [
    ({"fused": "false"}, "'fused' must be true or false, not str"),
    ({"format_version": True}, "'format_version' must be an integer, not bool"),
    ({"provenance": "abc"}, "'provenance' must be a JSON object, not str"),
    ({"latent_dim": 0}, "'latent_dim' must be between 1 and"),
    ({"latent_dim": 17}, "model.states[0] is 256 wide but latent_dim is 17"),
    (
        {"latent_dim": 17, "model.states": [{"name": "state_h", "width": 17}, {"name": "state_c", "width": 17}]},
        "gives state_h a width of 17 but encoder.onnx state_h has width 256",
    ),
    ({"opset": "17"}, "'opset' must be an integer"),
    ({"vocabulary": []}, "'vocabulary' must be a JSON object"),
    ({"vocabulary.padding": ["x"]}, "'padding' must be a single character"),
    ({"vocabulary.start": "ab"}, "'start' must be a single character"),
    ({"vocabulary.max_decoder_seq_length": 10**9}, "'max_decoder_seq_length' must be between 1 and 9999"),
    ({"vocabulary.max_encoder_seq_length": 0}, "'max_encoder_seq_length' must be between 1 and"),
    ({"vocabulary.input_tokens": []}, "'input_tokens' must not be empty"),
    ({"vocabulary.target_tokens": 7}, "'target_tokens' must be list, not int"),
    ({"vocabulary.end": "Z"}, "end_char 'Z' is not among the target tokens"),
    ({"vocabulary.tokenization": "word"}, "model.tokenization is 'char' but the vocabulary's is 'word'"),
    ({"vocabulary.tokenization": "morse"}, "tokenization must be 'char' or 'word', not 'morse'"),
    ({"model": "lstm"}, "field 'model' must be a JSON object"),
    ({"model.cell": "transformer"}, "model.cell must be one of lstm, gru"),
    ({"model.layers": 0}, "model.layers must be an integer from 1 to 64"),
    ({"model.states": []}, "model.states must be a non-empty list"),
    ({"model.cell": "gru"}, "a 1-layer gru model carries states ['state_h'], but model.states lists"),
    ({"model.layers": 2}, "a 2-layer lstm model carries states ['state_h', 'state_c', 'state_h_1', 'state_c_1']"),
    ({"model.input": "ids"}, "says encoder_inputs takes ids but encoder.onnx takes a 3-d tensor(float)"),
    ({"model.target_input": "words"}, "model.target_input must be one of one_hot, ids"),
]


@pytest.mark.parametrize(
    ("changes", "message"), BAD_CONFIGS, ids=[m.split("'")[1] if "'" in m else m[:12] for _, m in BAD_CONFIGS]
)
def test_every_config_field_is_validated_at_load(tmp_path: Path, changes: dict, message: str) -> None:
    bundle = _copy(tmp_path)
    config = json.loads((bundle / "config.json").read_text())
    for key, value in changes.items():
        section, _, field = key.rpartition(".")
        (config[section] if section else config)[field] = value
    (bundle / "config.json").write_text(json.dumps(config))
    with pytest.raises(BundleFormatError) as info:
        Bundle.open(bundle)
    assert message in str(info.value)
    assert str(bundle) in str(info.value)


def test_format_1_bundles_still_load(tmp_path: Path, model) -> None:
    """A bundle written before format 2 (the built-in model's own config as it shipped, committed) decodes the same."""
    bundle = _copy(tmp_path)
    shutil.copy(Path(__file__).parent / "fixtures" / "dates-config-v1.json", bundle / "config.json")
    old = Seq2SeqModel.load(bundle)
    assert old.config.format_version == 1 and old.config.model == model.config.model
    assert old.vocabulary == model.vocabulary
    texts = [r["text"] for r in REFERENCE]
    assert old.translate(texts) == model.translate(texts)
    assert json.loads((bundle / "config.json").read_text())["vocabulary"]["input_chars"]  # really format 1


def test_config_that_is_not_an_object_or_not_json(tmp_path: Path) -> None:
    bundle = _copy(tmp_path)
    (bundle / "config.json").write_text("[1, 2]")
    with pytest.raises(BundleFormatError, match="config.json must hold a JSON object, not list"):
        Bundle.open(bundle)
    (bundle / "config.json").write_bytes(b"\xff\xfe{")
    with pytest.raises(BundleFormatError, match="not valid JSON"):
        Bundle.open(bundle)


@pytest.mark.parametrize(
    "swap", [("greedy.onnx", "decoder.onnx"), ("encoder.onnx", "greedy.onnx"), ("decoder.onnx", "encoder.onnx")]
)
def test_swapped_onnx_files_fail_at_load(tmp_path: Path, swap: tuple[str, str]) -> None:
    bundle = _copy(tmp_path)
    target, source = swap
    shutil.copy(default_model_path() / source, bundle / target)
    with pytest.raises(BundleFormatError, match=f"{target} has inputs .* but a {target} needs"):
        Bundle.open(bundle)


def test_external_data_is_refused(tmp_path: Path) -> None:
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    (tmp_path / "secret.bin").write_bytes(np.ones(64, np.float32).tobytes())
    bundle = _copy(tmp_path)
    model = onnx.load(str(bundle / "decoder.onnx"))
    tensor = numpy_helper.from_array(np.ones((4, 4), np.float32), "planted")
    tensor.ClearField("raw_data")
    tensor.data_location = TensorProto.EXTERNAL
    tensor.external_data.add(key="location", value="../secret.bin")
    model.graph.initializer.append(tensor)
    model.graph.node.append(helper.make_node("Identity", ["planted"], ["planted_out"]))
    (bundle / "decoder.onnx").write_bytes(model.SerializeToString())
    with pytest.raises(BundleFormatError, match="tensor 'planted' is stored as external data"):
        Bundle.open(bundle)


def test_a_directory_in_place_of_a_file(tmp_path: Path) -> None:
    bundle = _copy(tmp_path)
    (bundle / "greedy.onnx").unlink()
    (bundle / "greedy.onnx").mkdir()
    with pytest.raises(BundleReadError, match="greedy.onnx: it is a directory"):
        Bundle.open(bundle)


UNREADABLE_SCRIPT = """
import sys
from s2s_onnx.runtime import Bundle, BundleReadError
try:
    Bundle.open(sys.argv[1])
except BundleReadError as exc:
    print(exc)
"""


def as_ordinary_user(command: list[str]) -> list[str]:
    """``command`` without the root powers that read any file (setpriv drops them), or as it is for a non-root."""
    import os

    if os.geteuid() != 0:
        return command
    if shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv: file permissions cannot be tested")
    return ["setpriv", "--inh-caps=-all", "--bounding-set=-dac_override,-dac_read_search", "--", *command]


@pytest.mark.parametrize("name", ["config.json", "decoder.onnx"])
def test_unreadable_files_say_so(tmp_path: Path, name: str) -> None:
    bundle = _copy(tmp_path)
    (bundle / name).chmod(0)
    command = as_ordinary_user([sys.executable, "-c", UNREADABLE_SCRIPT, str(bundle)])
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd="/")
    assert f"cannot read {bundle / name}: permission denied" in done.stdout, done.stderr


def test_cancellation_from_another_thread(model) -> None:
    import threading
    import time

    from s2s_onnx.runtime import Cancellation, DecodeCancelledError

    done = Cancellation()
    assert model.translate("3 March 2021", cancel=done) == "2021-03-03"
    assert done._runs == []  # finished runs are released
    cancelled = Cancellation()
    cancelled.cancel()
    for strategy in ("fused", "steps"):
        with pytest.raises(DecodeCancelledError):
            model.translate("3 March 2021", strategy=strategy, cancel=cancelled)

    class CancelledByAnotherThread(Cancellation):
        """Cancelled from another thread while its third batch runs."""

        batches = 0

        def run_options(self):  # type: ignore[no-untyped-def]
            options = super().run_options()
            self.batches += 1
            if self.batches == 3:
                threading.Thread(target=self.cancel).start()
                time.sleep(0.05)
            return options

    for strategy in ("fused", "steps"):
        later = CancelledByAnotherThread()
        with pytest.raises(DecodeCancelledError):
            model.decode(["3 March 2021"] * 640, batch_size=64, strategy=strategy, cancel=later)
        assert later.batches == 3


def test_decode_ids_takes_token_ids_and_checks_them() -> None:
    model = Seq2SeqModel.load()
    vocab = model.vocabulary
    texts = ["March 3rd, 2021", "14 Jul 1989"]
    rows = vocab.source_ids([vocab.clean(t) for t in texts])
    results = model.decode_ids(rows)
    assert [r.text for r in results] == model.translate(texts) == ["2021-03-03", "1989-07-14"]
    assert model.decode_ids(np.array(rows[0])).token_ids == results[0].token_ids  # one list in, one result out
    with pytest.raises(ValueError, match=r"ids\[0\] holds 59; input ids go from 0 to 58"):
        model.decode_ids([59])
    with pytest.raises(TypeError, match="input ids are integers"):
        model.decode_ids([[1, "a"]])
    with pytest.raises(TypeError, match="ids must be a list"):
        model.decode_ids("abc")  # type: ignore[call-overload]
    with pytest.raises(ValueError, match="has 35 tokens but the encoder takes at most 34"):
        model.decode_ids([1] * 35)
    assert len(model.decode_ids([1] * 35, truncate=True).token_ids) > 0
    with pytest.raises(ValueError, match="is empty"):
        model.decode_ids([[]])
