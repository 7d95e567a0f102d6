"""Bundles that point at special files, or hold garbage: refused fast, in one line, never read forever."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pytest

from s2s_onnx.runtime import BundleReadError, Seq2SeqModel
from s2s_onnx.runtime.bundle import default_model_path
from s2s_onnx.runtime.cli import main


@pytest.fixture()
def bundle(tmp_path: Path) -> Path:
    target = tmp_path / "bundle"
    shutil.copytree(default_model_path(), target)
    return target


@pytest.mark.parametrize("name", ["encoder.onnx", "config.json", "greedy.onnx"])
@pytest.mark.parametrize("kind", ["dev-zero", "fifo"])
def test_special_files_are_refused_within_a_second(bundle: Path, name: str, kind: str, capsys) -> None:
    (bundle / name).unlink()
    if kind == "dev-zero":
        (bundle / name).symlink_to("/dev/zero")
    else:
        os.mkfifo(bundle / name)
    started = time.monotonic()
    with pytest.raises(BundleReadError, match="not a regular file"):
        Seq2SeqModel.load(bundle)
    assert main(["inspect", str(bundle)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not a regular file" in err[0]
    assert time.monotonic() - started < 1.0


def test_inspect_never_sends_a_bundles_escape_sequences_to_the_terminal(bundle: Path, capsys) -> None:
    import json

    config = json.loads((bundle / "config.json").read_text())
    config["provenance"]["source_file"] = "model\x1b[2J\x1b]0;owned\x07.keras"
    config["provenance"]["operators"] = "not an object"
    (bundle / "config.json").write_text(json.dumps(config))
    assert main(["inspect", str(bundle)]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out and "model\\x1b[2J\\x1b]0;owned\\x07.keras" in out
    assert "ops  " in out  # the operator counts still show, read from the files


def _lie(bundle: Path, change) -> None:  # type: ignore[no-untyped-def]
    import json

    config = json.loads((bundle / "config.json").read_text())
    change(config["vocabulary"])
    (bundle / "config.json").write_text(json.dumps(config))


@pytest.mark.parametrize(
    "change",
    [
        lambda v: v.update(target_tokens=v["target_tokens"][::-1]),  # a reversed target table
        lambda v: v.update(end=v["start"]),  # the start token as the end token
        lambda v: v.update(max_decoder_seq_length=9000),  # an absurd cap
    ],
    ids=["reversed-targets", "start-is-end", "absurd-cap"],
)
def test_a_bundle_whose_config_lies_is_refused_at_load(bundle: Path, change, capsys) -> None:  # type: ignore[no-untyped-def]
    from s2s_onnx.runtime import BundleFormatError

    _lie(bundle, change)
    started = time.monotonic()
    with pytest.raises(BundleFormatError, match="reference.json"):
        Seq2SeqModel.load(bundle)
    assert time.monotonic() - started < 2.0
    assert main(["translate", "--model", str(bundle), "March 3rd, 2021"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--no-verify" in err[0]
    assert main(["translate", "--model", str(bundle), "--no-verify", "March 3rd, 2021"]) == 0  # when asked to


def _write_nested_provenance(bundle: Path, depth: int) -> None:
    """config.json with ``provenance.nested`` ``depth`` objects deep (written as text: json.dumps would recurse)."""
    config = json.loads(default_model_path().joinpath("config.json").read_text("utf-8"))
    config["provenance"]["nested"] = "NESTED"
    nested = '{"x":' * depth + "{}" + "}" * depth
    (bundle / "config.json").write_text(json.dumps(config).replace('"NESTED"', nested), "utf-8")


def test_deep_provenance_gets_one_answer_from_every_entry_point(bundle: Path, capsys) -> None:
    """Provenance nested 990 deep: the same one-line refusal from the API, inspect, translate and serve (Python's
    own recursion limit would depend on how deep the caller's stack is); 50 deep loads everywhere."""
    from s2s_onnx.benchmarks.http_client import ServerStartError, start_server
    from s2s_onnx.runtime import BundleFormatError

    _write_nested_provenance(bundle, 50)
    assert Seq2SeqModel.load(bundle).translate("May 1") == Seq2SeqModel.load().translate("May 1")
    assert main(["inspect", str(bundle)]) == 0
    _write_nested_provenance(bundle, 990)
    refusal = "nest 993 deep, more than the 64 read; re-export the bundle"
    with pytest.raises(BundleFormatError, match=refusal):
        Seq2SeqModel.load(bundle)
    capsys.readouterr()
    for command in (["inspect", str(bundle)], ["translate", "--model", str(bundle), "May 1"]):
        assert main(command) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and refusal in err[0], err
    pytest.importorskip("uvicorn")
    with pytest.raises(ServerStartError, match=refusal):
        start_server(["--model", str(bundle)]).stop()


def test_an_honest_bundle_passes_its_check_in_milliseconds() -> None:
    model = Seq2SeqModel.load(verify=False)
    from s2s_onnx.runtime.reference_check import check_reference

    started = time.perf_counter()
    check_reference(model.bundle)
    assert time.perf_counter() - started < 0.5
