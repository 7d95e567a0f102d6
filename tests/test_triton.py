"""``s2s-onnx triton``: the generated repository for the built-in bundle matches its graph and decodes what
the runtime decodes (see ``triton_check``); bad bundles and names are refused and leave nothing behind."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("onnx")

from triton_check import check_decodes, parse_pbtxt

from s2s_onnx.export.graphs.triton import TritonSettings, write_triton_repository
from s2s_onnx.runtime import BundleFormatError, InvalidOptionError, Seq2SeqModel, default_model_path


@pytest.fixture(scope="module")
def texts() -> list[str]:
    decodes = json.loads((default_model_path() / "reference.json").read_text("utf-8"))["decodes"]
    return [d["text"] for d in decodes]


def test_cli_writes_a_repository_that_decodes_like_the_runtime(tmp_path: Path, texts: list[str]) -> None:
    out = tmp_path / "repo"
    done = subprocess.run(
        [sys.executable, "-m", "s2s_onnx", "triton", "-o", str(out), "--name", "dates", "--max-batch", "16"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    home = out / "dates"
    assert sorted(p.name for p in home.iterdir()) == ["1", "client.py", "config.pbtxt", "s2s_config.json"]
    check_decodes(home, Seq2SeqModel.load(), texts)
    config = parse_pbtxt((home / "config.pbtxt").read_text())
    assert config["max_batch_size"] == 16
    assert config["instance_group"] == [{"kind": "KIND_CPU", "count": 1}]


def test_the_parser_reads_what_triton_documents() -> None:
    text = 'name: "m" max_batch_size: 8 input [ { name: "x", data_type: TYPE_FP32, dims: [ 3, -1 ] } ]\n'
    text += 'output [ { name: "y" data_type: TYPE_INT64 dims: [ 1 ] reshape: { shape: [ ] } } ]'
    assert parse_pbtxt(text) == {
        "name": "m",
        "max_batch_size": 8,
        "input": [{"name": "x", "data_type": "TYPE_FP32", "dims": [3, -1]}],
        "output": [{"name": "y", "data_type": "TYPE_INT64", "dims": [1], "reshape": {"shape": []}}],
    }


def test_a_bundle_without_greedy_onnx_is_refused(tmp_path: Path) -> None:
    bundle = tmp_path / "steps-only"
    shutil.copytree(default_model_path(), bundle)
    (bundle / "greedy.onnx").unlink()
    with pytest.raises(BundleFormatError, match="convert --fused"):
        write_triton_repository(bundle, tmp_path / "repo", TritonSettings())
    assert not (tmp_path / "repo").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["steps-only"]  # no temporary directory left either
    done = subprocess.run(
        [sys.executable, "-m", "s2s_onnx", "triton", str(bundle), "-o", str(tmp_path / "repo")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "convert --fused" in done.stderr


@pytest.mark.parametrize(
    "changes", [{"name": "../up"}, {"name": ""}, {"max_batch_size": 0}, {"instances": 0}, {"max_queue_delay_us": -1}]
)
def test_settings_are_checked(changes: dict) -> None:
    with pytest.raises(InvalidOptionError):
        TritonSettings(**changes)
