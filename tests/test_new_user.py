"""What a new user tripped on, following the README on a fresh clone: each now behaves (one test per item)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from probes import run_python

from s2s_onnx.runtime.bundle import default_model_path
from s2s_onnx.runtime.cli import build_parser, main

ROOT = Path(__file__).resolve().parents[1]


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("s2s-onnx: error: "), err
    return err[0]


def test_convert_names_the_real_problem_with_its_input(tmp_path: Path, capsys) -> None:
    out = str(tmp_path / "x")
    assert main(["convert", str(tmp_path / "nosuch.keras"), "-o", out]) == 2
    assert "model file" in (line := one_error_line(capsys)) and "does not exist" in line
    pairs = tmp_path / "fra-eng.txt"
    pairs.write_text("Go.\tVa !\nHi.\tSalut !\n", encoding="utf-8")
    assert main(["convert", str(pairs), "-o", out]) == 2
    assert "looks like a pairs file" in (line := one_error_line(capsys)) and "--data" in line
    assert main(["convert", str(default_model_path()), "-o", out]) == 2
    assert "already converted" in (line := one_error_line(capsys)) and "translate --model" in line
    notes = tmp_path / "notes.bin"
    notes.write_bytes(b"\x00\x01not a model")
    assert main(["convert", str(notes), "-o", out]) == 2
    assert "not a Keras model file" in one_error_line(capsys)
    assert not (tmp_path / "x").exists()


def test_a_file_given_as_model_says_it_is_not_a_bundle_folder(tmp_path: Path, capsys) -> None:
    model = tmp_path / "model.keras"
    model.write_bytes(b"PK\x03\x04")
    assert main(["translate", "--model", str(model), "hi"]) == 2
    line = one_error_line(capsys)
    assert "not a bundle folder" in line and "s2s-onnx convert" in line and "config.json is missing" not in line


def test_quantize_without_tensorflow_names_the_quantize_extra(tmp_path: Path) -> None:
    code = (
        "import sys; sys.modules['onnx'] = None\n"
        "from s2s_onnx.runtime.cli import main\n"
        f"sys.exit(main(['quantize', '-o', {str(tmp_path / 'q')!r}]))\n"
    )
    done = run_python(code, timeout=120)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "pip install 's2s-onnx[quantize]'" in done.stderr


def test_quantize_says_per_tensor_and_suggests_the_other_scheme(tmp_path: Path, capsys) -> None:
    assert main(["quantize", "-o", str(tmp_path / "q"), "--min-identical", "1.0"]) in (0, 2)
    captured = capsys.readouterr()
    assert "per-tensor" in captured.out + captured.err and "per-channel)" not in captured.out
    if "error" in captured.err:  # refused: the advice names the scheme it did not use
        assert "--per-channel" in captured.err and "--per-tensor," not in captured.err


def test_builtin_quantize_is_judged_on_inputs_like_the_models_own(tmp_path: Path, capsys) -> None:
    assert main(["quantize", "-o", str(tmp_path / "q")]) == 0
    out = capsys.readouterr().out
    reference = json.loads((default_model_path() / "reference.json").read_text("utf-8"))
    assert reference["inputs"] != "random strings"
    assert f"decodes of {reference['inputs']}" in out and "on random token strings" in out
    provenance = json.loads((tmp_path / "q" / "config.json").read_text())["provenance"]["quantization"]
    assert provenance["identical"] == 1.0 and provenance["identical_random"] is not None


def test_help_speaks_of_the_keras_example_not_of_a_seed() -> None:
    parser = build_parser()
    texts = [parser.format_help()]
    for action in parser._subparsers._group_actions:  # type: ignore[union-attr]
        texts += [sub.format_help() for sub in action.choices.values()]
    assert not [t for t in texts if "seed model" in t or "the seed" in t]


def test_readme_bundles_are_ignored_by_git() -> None:
    import re

    readme = (ROOT / "README.md").read_text("utf-8")
    found = re.findall(r"s2s-onnx [^\n`]*?(?:-o|--output) ([\w./-]+)", readme)
    outputs = {name for name in found if not name.isupper()}  # OUT, DIR: placeholders in the prose
    assert len(outputs) >= 8
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    done = subprocess.run(["git", "check-ignore", *sorted(outputs)], cwd=ROOT, capture_output=True, text=True)
    assert sorted(done.stdout.split()) == sorted(outputs)


def test_the_triton_client_without_tritonclient_is_one_line(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "s2s_onnx", "triton", "-o", str(tmp_path / "repo")], capture_output=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    client = tmp_path / "repo" / "s2s" / "client.py"
    probe = (
        "import runpy, sys; sys.modules['tritonclient'] = None; sys.argv = ['client.py', 'hi']; "
        f"runpy.run_path({str(client)!r}, run_name='__main__')"
    )
    done = run_python(probe, timeout=120)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines() == [
        "client.py: error: tritonclient is not installed; pip install 'tritonclient[http]'"
    ]


def test_load_test_rows_above_the_decode_ceiling_are_flagged() -> None:
    from s2s_onnx.benchmarks.load_test import LoadRun, ceiling_notes

    runs = [
        LoadRun("unbatched", 8, 100, 0, 0, 1.0, 100.0, 1.0, 2.0),
        LoadRun("batched", 8, 100, 0, 0, 1.0, 400.0, 1.0, 2.0),
        LoadRun("unbatched", 64, 100, 0, 0, 1.0, 100.0, 1.0, 2.0),
        LoadRun("batched", 64, 100, 0, 0, 1.0, 150.0, 1.0, 2.0),
    ]
    notes = ceiling_notes(runs, ceiling=2.0)
    assert len(notes) == 1 and notes[0].startswith("UNRELIABLE: 8 clients") and "Repeat" in notes[0]


def test_dotted_dates_are_documented_as_the_model_reads_them() -> None:
    from s2s_onnx.runtime import Seq2SeqModel

    readme = (ROOT / "README.md").read_text("utf-8")
    assert "dots day.month.year with a\nfour-digit year (`03.04.2021`)" in readme and "(`03.04.21`)" in readme
    model = Seq2SeqModel.load()
    forms = ["03.04.2021", "3.4.2021", "2021.4.3", "4/3/21", "04/03/2021", "2021/04/03", "03-Apr-21", "April 3rd, 2021"]
    assert model.translate(forms) == ["2021-04-03"] * len(forms)


@pytest.mark.keras
def test_a_trained_model_is_converted_and_quantized_on_its_own_held_out_pairs(
    keras_file: Path, pairs_file: Path, tmp_path: Path, capsys
) -> None:
    """The README's path for the user's own model: train writes held-out.tsv beside it, convert checks parity on
    those inputs and records them, quantize judges int8 on them (and reports random strings only second)."""
    from s2s_onnx.models.data import HELD_OUT_NAME, VOCAB_NAME, read_pairs, write_held_out

    run = tmp_path / "run"
    run.mkdir()
    shutil.copy(keras_file, run / "model.keras")
    shutil.copy(keras_file.parent / VOCAB_NAME, run / VOCAB_NAME)
    sources, targets = read_pairs(pairs_file)
    write_held_out(run, sources, targets, 0.2)
    held_out = read_pairs(run / HELD_OUT_NAME)[0]
    assert held_out == sources[-len(held_out) :] and len(held_out) == int(0.2 * len(sources))
    assert main(["convert", str(run / "model.keras"), "-o", str(tmp_path / "b"), "--fused"]) == 0
    reference = json.loads((tmp_path / "b" / "reference.json").read_text("utf-8"))
    assert reference["inputs"] == "held-out pairs saved by 's2s-onnx train'"
    assert {d["text"] for d in reference["decodes"]} <= set(held_out)
    capsys.readouterr()
    assert main(["quantize", str(tmp_path / "b"), "-o", str(tmp_path / "q"), "--min-identical", "0"]) == 0
    out = capsys.readouterr().out
    assert "decodes of held-out pairs saved by 's2s-onnx train'" in out and "on random token strings" in out
