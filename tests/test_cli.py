"""The ``s2s-onnx`` command line: help/version, translate and inspect on the built-in bundle (no TensorFlow),
train (Keras tier), and the missing-extra hint."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from probes import run_python

from s2s_onnx.models import dates
from s2s_onnx.runtime import Seq2SeqModel
from s2s_onnx.runtime.cli import main
from s2s_onnx.runtime.cli.main import COMMAND_MODULES

SAMPLES = list(dates.SAMPLE_INPUTS[:3])


def test_version_and_help(capsys) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0 and "s2s-onnx 0." in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for command in ("translate", "inspect", "train", "convert", "bench", "demo"):
        assert command in out
    assert len(COMMAND_MODULES) == 4


def test_python_dash_m_runs_the_cli() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "s2s_onnx", "translate", "14 Jul 1989"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd="/",
    )
    assert done.returncode == 0 and done.stdout.strip() == "1989-07-14", done.stderr


def test_translate_arguments_stdin_and_json(capsys, monkeypatch) -> None:
    expected = Seq2SeqModel.load().translate(SAMPLES)
    assert main(["translate", *SAMPLES]) == 0
    assert capsys.readouterr().out.splitlines() == expected == ["2021-03-03"] * 3
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(("\n".join(SAMPLES) + "\n").encode())))
    assert main(["translate", "--json", "--batch-size", "2", "--steps"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["text"] for r in rows] == expected
    assert [r["input"] for r in rows] == SAMPLES
    assert all(len(r["token_ids"]) == len(r["probabilities"]) == len(r["text"]) for r in rows)
    assert {r["stop_reason"] for r in rows} == {"end"}
    assert main(["translate", "--max-length", "4", "3 March 2021"]) == 0
    assert capsys.readouterr().out.strip() == "2021"


def test_translate_beam_and_n_best(capsys) -> None:
    """--beam/--n-best/--length-penalty: tab-separated n-best texts, best first; JSON carries the scores."""
    model = Seq2SeqModel.load()
    expected = model.decode(SAMPLES, beam_size=4, num_return=3, length_penalty=0.6)
    assert main(["translate", "--beam", "4", "--n-best", "3", "--length-penalty", "0.6", *SAMPLES]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split("\t") for line in lines] == [list(r.texts) for r in expected]
    assert all(len(line.split("\t")) == 3 for line in lines) and lines[0].split("\t")[0] == "2021-03-03"
    assert main(["translate", "--beam", "2", "--json", SAMPLES[0]]) == 0
    row = json.loads(capsys.readouterr().out)
    assert row["text"] == "2021-03-03" and row["score"] <= 0 and len(row["n_best"]) == 1
    assert main(["translate", "--n-best", "3", SAMPLES[0]]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--beam" in err[0]


def test_translate_bad_input_is_one_line_exit_2(capsys) -> None:
    import onnxruntime as ort

    assert main(["translate", "ab#"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "'#'" in err[0] and "--unknown" in err[0]
    assert main(["translate", "--unknown", "skip", "3 March# 2021"]) == 0
    assert capsys.readouterr().out.strip() == "2021-03-03"
    assert main(["translate", "--model", "/nonexistent-bundle", "ab"]) == 2
    assert "does not exist" in capsys.readouterr().err
    cuda = "CUDAExecutionProvider" in ort.get_available_providers()
    assert main(["translate", "--device", "cuda", "3 March 2021"]) == (0 if cuda else 2)
    if not cuda:
        assert "CUDAExecutionProvider is not available" in capsys.readouterr().err


def test_inspect_shows_graphs_vocabulary_and_provenance(capsys) -> None:
    assert main(["inspect"]) == 0
    out = capsys.readouterr().out
    assert "LSTM x1" in out and "Loop x1" in out
    assert (
        "model: 1-layer LSTM, forward encoder, one-hot inputs, characters; decoder states state_h [256], state_c [256]"
        in out
    )
    assert "encoder_inputs" in out and "state_h_out" in out and "token_ids" in out
    assert "input / " in out and "max encoder length" in out
    assert "source_sha256" in out and "netron" in out


@pytest.mark.keras
def test_train_on_pairs_file(tmp_path: Path, pairs_file: Path, capsys) -> None:
    out = tmp_path / "run"
    args = ["train", "--data", str(pairs_file), "--num-samples", "200", "--epochs", "1", "--latent-dim", "8"]
    assert main([*args, "--format", "h5", "-o", str(out)]) == 0
    assert (out / "model.h5").is_file() and (out / "vocabulary.json").is_file()
    assert len((out / "held-out.tsv").read_text("utf-8").splitlines()) == 40  # Keras' validation split: the last 20 %
    printed = capsys.readouterr().out
    assert "trained in" in printed and "epoch 1/1:" in printed and "min left" in printed


@pytest.mark.keras
def test_train_dates_reports_accuracy(tmp_path: Path, capsys) -> None:
    args = ["train", "--task", "dates", "--num-samples", "256", "--epochs", "1", "--latent-dim", "8"]
    assert main([*args, "-o", str(tmp_path / "d")]) == 0
    assert "held-out exact match" in capsys.readouterr().out


@pytest.mark.keras
def test_train_bad_data_file(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "bad.txt"
    bad.write_text("only one column\n")
    assert main(["train", "--data", str(bad), "-o", str(tmp_path / "o")]) == 2
    assert "line 1" in capsys.readouterr().err


def test_missing_export_extra_prints_install_hint(tmp_path: Path) -> None:
    code = (
        "import sys; sys.modules['tensorflow'] = None; sys.modules['keras'] = None\n"
        "from s2s_onnx.runtime.cli import main\n"
        f"sys.exit(main(['train', '--task', 'dates', '-o', {str(tmp_path)!r}]))\n"
    )
    done = run_python(code, timeout=120)
    assert done.returncode == 2
    assert "pip install 's2s-onnx[export]'" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.keras
def test_demo_refuses_an_existing_output_directory(tmp_path: Path, capsys) -> None:
    (tmp_path / "keep.txt").write_text("mine")
    assert main(["demo", "-o", str(tmp_path)]) == 2
    assert "already exists and was not written by the demo; pass --force" in capsys.readouterr().err
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]


def test_demo_replaces_its_own_earlier_output(tmp_path: Path) -> None:
    from s2s_onnx.benchmarks.demo import DEMO_MARKER, DemoSettings, prepare_output

    settings = DemoSettings(output=tmp_path / "s2s-demo")
    first = prepare_output(settings)
    (first / "bundle").mkdir()
    again = prepare_output(settings)  # the README's first command, run a second time
    assert again == first and (again / DEMO_MARKER).is_file() and not (again / "bundle").exists()
