"""Every bad input to ``s2s-onnx convert``: one line on stderr, exit code 2, and no bundle left behind."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from s2s_onnx.runtime.cli import main

pytestmark = pytest.mark.keras


def run_convert(capsys, *args: str) -> tuple[int, str]:
    code = main(["convert", *args])
    err = capsys.readouterr().err.strip().splitlines()
    assert err, "expected an error line on stderr"
    return code, err[-1]


def assert_nothing_left(out: Path) -> None:
    assert not out.exists()
    assert not [p for p in out.parent.iterdir() if p.name.startswith(f".{out.name}")]


def test_missing_model_file(tmp_path, capsys, workdir) -> None:
    out = tmp_path / "b"
    code, line = run_convert(
        capsys, str(tmp_path / "nope.keras"), "--vocab", str(workdir / "keras3/vocabulary.json"), "-o", str(out)
    )
    assert code == 2 and "does not exist" in line and "nope.keras" in line
    assert "Traceback" not in line
    assert_nothing_left(out)


def test_not_a_keras_file(tmp_path, capsys, workdir, trained) -> None:
    bogus = tmp_path / "model.h5"
    bogus.write_text("this is not HDF5")
    out = tmp_path / "b"
    code, line = run_convert(capsys, str(bogus), "--vocab", str(workdir / "keras3/vocabulary.json"), "-o", str(out))
    assert code == 2 and "not a Keras model file" in line
    assert_nothing_left(out)


def test_corrupt_keras_archive(tmp_path, capsys, workdir, keras_file) -> None:
    broken = tmp_path / "broken.keras"
    broken.write_bytes(keras_file.read_bytes()[:2000])
    out = tmp_path / "b"
    code, line = run_convert(capsys, str(broken), "--vocab", str(workdir / "keras3/vocabulary.json"), "-o", str(out))
    assert code == 2 and "broken.keras" in line
    assert_nothing_left(out)


def test_not_an_encoder_decoder(tmp_path, capsys, workdir) -> None:
    import keras

    x = keras.Input((None, 4), name="only_input")
    model = keras.Model(x, keras.layers.Dense(3, name="head")(keras.layers.LSTM(8, name="solo")(x)))
    path = tmp_path / "classifier.keras"
    model.save(path)
    out = tmp_path / "b"
    code, line = run_convert(capsys, str(path), "--vocab", str(workdir / "keras3/vocabulary.json"), "-o", str(out))
    assert (
        code == 2
        and "found no recurrent decoder layer initialised" in line
        and "solo (LSTM)" in line
        and "Supported:" in line
    )
    assert_nothing_left(out)


def test_vocabulary_mismatch_names_both_numbers(tmp_path, capsys, keras_file, vocab) -> None:
    wrong = vocab.to_dict()
    wrong["input_chars"] = wrong["input_chars"] + "XYZ"
    vocab_path = tmp_path / "wrong.json"
    vocab_path.write_text(json.dumps(wrong))
    out = tmp_path / "b"
    code, line = run_convert(capsys, str(keras_file), "--vocab", str(vocab_path), "-o", str(out))
    n = vocab.num_encoder_tokens
    assert code == 2 and f"{n + 3} input tokens" in line and f"takes {n}" in line
    assert_nothing_left(out)


def test_existing_output_needs_force(tmp_path, capsys, keras_file, workdir) -> None:
    out = tmp_path / "b"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    code, line = run_convert(
        capsys, str(keras_file), "--vocab", str(workdir / "keras3/vocabulary.json"), "-o", str(out)
    )
    assert code == 2 and "already exists" in line and "--force" in line
    assert (out / "keep.txt").read_text() == "mine"


def test_force_replaces_atomically(tmp_path, capsys, keras_file, workdir) -> None:
    out = tmp_path / "b"
    out.mkdir()
    (out / "old.txt").write_text("old")
    code = main(["convert", str(keras_file), "-o", str(out), "--force", "--no-verify"])  # vocabulary beside model
    assert code == 0
    assert (out / "decoder.onnx").is_file() and not (out / "old.txt").exists()
    assert "parity" not in capsys.readouterr().out


def test_unwritable_output(tmp_path, capsys, keras_file, workdir) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("a file, not a directory")
    out = blocker / "b"
    code, line = run_convert(
        capsys, str(keras_file), "--vocab", str(workdir / "keras3/vocabulary.json"), "-o", str(out)
    )
    assert code == 2 and "cannot write" in line


def test_parity_failure_writes_nothing(tmp_path, capsys, keras_file, workdir) -> None:
    out = tmp_path / "b"
    code = main(["convert", str(keras_file), "-o", str(out), "--tolerance", "0"])
    captured = capsys.readouterr()
    if code == 0:  # bit-identical conversions exist in principle; then there is nothing to fail
        pytest.skip("ONNX matched Keras bit for bit")
    assert code == 2 and "disagree" in captured.err and "parity: FAIL" in captured.out
    assert_nothing_left(out)


def test_interrupted_convert_leaves_nothing_and_no_traceback(tmp_path, keras_file, workdir) -> None:
    """Ctrl-C in the middle of a conversion: one line, exit 130, no output and no temporary directory."""
    import signal
    import subprocess
    import sys

    out = tmp_path / "interrupted"
    command = [sys.executable, "-m", "s2s_onnx", "convert", str(keras_file), "--fused", "-o", str(out)]
    with subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd="/") as process:
        assert process.stderr is not None
        seen = b""
        while b"converted with tf2onnx" not in seen and process.poll() is None:
            seen += process.stderr.read1(4096)  # the progress bar: tf2onnx is done, parity is next
        process.send_signal(signal.SIGINT)
        rest = process.stderr.read()
        process.wait(timeout=60)
    after = (seen + rest).decode().split("\r")[-1].strip().splitlines()
    assert process.returncode == 130 and after[-1] == "s2s-onnx: interrupted", (seen + rest).decode()
    assert b"Traceback" not in seen + rest
    assert list(tmp_path.iterdir()) == []


def test_tensorflow_start_up_lines_stay_quiet(tmp_path, keras_file) -> None:
    import subprocess
    import sys

    vocab = keras_file.parent / "vocabulary.json"
    command = [
        sys.executable,
        "-m",
        "s2s_onnx",
        "convert",
        str(keras_file),
        "--vocab",
        str(vocab),
        "-o",
        str(tmp_path / "b"),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd="/")
    assert done.returncode == 0, done.stderr
    for noise in ("absl", "cuda drivers", "oneDNN", "WARNING", "Traceback"):
        assert noise not in done.stderr, done.stderr
