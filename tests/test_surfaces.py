"""The public surfaces: every package's ``__all__`` imports, every CLI default is its dataclass's, flags mean one
thing across commands, ``-v`` goes anywhere, and a pipe is answered as soon as its input pauses."""

from __future__ import annotations

import argparse
import importlib
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from probes import run_python

from s2s_onnx.runtime import DecodeOptions, InvalidOptionError, Seq2SeqModel
from s2s_onnx.runtime.cli import build_parser
from s2s_onnx.runtime.cli.arguments import SOURCE, field_default

TF_FREE_PACKAGES = ("s2s_onnx.runtime", "s2s_onnx.runtime.cli")


def subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    found = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(found.choices)


@pytest.mark.parametrize("package", TF_FREE_PACKAGES)
def test_every_public_name_imports(package: str) -> None:
    module = importlib.import_module(package)
    for name in module.__all__:
        assert getattr(module, name) is not None, f"{package}.{name}"
        exec(f"from {package} import {name}", {})


@pytest.mark.keras
def test_the_export_package_api_is_the_function_and_its_options() -> None:
    code = (
        "from s2s_onnx.export import ConvertOptions, ConvertResult, ParityReport, DEFAULT_OPSET, convert\n"
        "import s2s_onnx.export as e, s2s_onnx.export.tf.convert\n"
        "assert callable(convert) and e.convert is convert and type(convert).__name__ == 'function'\n"
        "assert ConvertOptions().opset == DEFAULT_OPSET\n"
        "for name in e.__all__: getattr(e, name)\n"
    )
    done = run_python(code, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]


def test_export_options_import_without_tensorflow() -> None:
    code = (
        "import sys\nfrom s2s_onnx.export import ConvertOptions, DEFAULT_OPSET\n"
        "from s2s_onnx.export.options import QuantizeOptions, TritonSettings\n"
        "assert ConvertOptions().opset == DEFAULT_OPSET\n"
        "assert 'tensorflow' not in sys.modules and 'onnx' not in sys.modules, sorted(sys.modules)\n"
    )
    done = run_python(code, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]


def test_every_flag_default_is_its_dataclass_default() -> None:
    checked = 0
    for command, parser in subcommands().items():
        for action in parser._actions:
            source = getattr(action, SOURCE, None)
            if source is None:
                continue
            assert action.default == field_default(*source), f"{command} {action.option_strings}"
            checked += 1
    assert checked >= 40


@pytest.mark.parametrize(
    ("command", "flag", "owner", "field"),
    [
        ("translate", "--batch-size", "DecodeOptions", "batch_size"),
        ("translate", "--device", "SessionConfig", "device"),
        ("translate", "--unknown", "DecodeOptions", "unknown"),
        ("serve", "--max-batch", "BatchingOptions", "max_batch_size"),
        ("serve", "--max-texts", "ServerLimits", "max_texts"),
        ("convert", "--opset", "ConvertOptions", "opset"),
        ("convert", "--tolerance", "ConvertOptions", "tolerance"),
        ("convert", "--min-identical", "QuantizeOptions", "min_identical"),
        ("quantize", "--min-identical", "QuantizeOptions", "min_identical"),
        ("triton", "--max-batch", "TritonSettings", "max_batch_size"),
        ("train", "--latent-dim", "TrainSettings", "latent_dim"),
    ],
)
def test_library_defaults_come_from_their_dataclass(command: str, flag: str, owner: str, field: str) -> None:
    action = next(a for a in subcommands()[command]._actions if flag in a.option_strings)
    source = getattr(action, SOURCE)
    assert (source[0].__name__, source[1]) == (owner, field)
    assert str(action.default) in (action.help or "") or action.default is None


def test_quantize_scale_default_is_the_documented_one() -> None:
    from s2s_onnx.export.options import QuantizeOptions

    args = build_parser().parse_args(["quantize", "-o", "x"])
    assert args.per_channel is QuantizeOptions().per_channel is False
    assert build_parser().parse_args(["quantize", "-o", "x", "--per-channel"]).per_channel is True


def test_output_is_dash_o_everywhere_and_old_spellings_still_work() -> None:
    for command, parser in subcommands().items():
        writes = [a for a in parser._actions if "--output" in a.option_strings]
        outs = [a for a in parser._actions if "--out" in a.option_strings]
        assert outs == writes, f"{command}: --out is only the old spelling of -o/--output"
        for action in writes:
            assert "-o" in action.option_strings and action.dest == "output", command
    parse = build_parser().parse_args
    assert parse(["bench", "--model", "b", "--out", "r"]).output == Path("r")
    assert parse(["bench", "--model", "b", "--steps", "7"]).old_steps == 7
    assert parse(["bench", "--model", "b", "--tokens", "7"]).tokens == 7


def test_no_flag_changes_its_meaning_between_commands() -> None:
    meanings: dict[str, set[str]] = {}
    for parser in subcommands().values():
        for action in parser._actions:
            if action.help == argparse.SUPPRESS:  # an old spelling kept for one release
                continue
            for flag in action.option_strings:
                kind = "flag" if action.nargs == 0 else "value"
                meanings.setdefault(flag, set()).add(f"{action.dest}:{kind}")
    changing = {flag: m for flag, m in meanings.items() if len(m) > 1}
    assert not changing


def test_verbose_goes_before_or_after_the_subcommand() -> None:
    parse = build_parser().parse_args
    assert parse(["-v", "translate", "x"]).verbose is True
    assert parse(["translate", "x", "--verbose"]).verbose is True
    assert parse(["convert", "m.keras", "-o", "b", "-v"]).verbose is True
    assert parse(["translate", "x"]).verbose is False


def test_sampling_options_without_sampling_are_refused(capsys) -> None:
    with pytest.raises(InvalidOptionError, match="temperature applies only when sampling"):
        DecodeOptions(temperature=1.5)
    from s2s_onnx.runtime.cli import main

    assert main(["translate", "--temperature", "1.5", "March 3rd, 2021"]) == 2
    assert "--sample" in capsys.readouterr().err


def test_a_pipe_is_answered_as_soon_as_its_input_pauses() -> None:
    """A co-process: write one line, read its answer with the pipe still open, then the next."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "s2s_onnx", "translate", "--batch-size", "32"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    assert process.stdin is not None and process.stdout is not None
    expected = Seq2SeqModel.load().translate(["March 3rd, 2021", "14 Jul 1989"])
    try:
        answers = []
        for text in ("March 3rd, 2021", "14 Jul 1989"):
            process.stdin.write(text.encode() + b"\n")
            process.stdin.flush()
            started = time.monotonic()
            answers.append(process.stdout.readline().decode().strip())  # blocks if the line waits for a batch
            assert time.monotonic() - started < 60
        assert answers == expected
    finally:
        process.stdin.close()
        process.wait(timeout=60)
    assert process.returncode == 0


def test_stream_lines_pauses_only_when_nothing_is_ready() -> None:
    from s2s_onnx.runtime.cli.streaming import stream_lines

    read, write = os.pipe()
    os.write(write, b"a\nb\n")
    os.close(write)
    with os.fdopen(read, "rb") as stream:
        items = list(stream_lines(stream))
    assert items == [(1, "a"), (2, "b")]
    read, write = os.pipe()
    os.write(write, b"a\n")
    with os.fdopen(read, "rb") as stream:
        lines = stream_lines(stream)
        assert next(lines) == (1, "a")
        assert next(lines) is None  # nothing more yet: answer what is pending
        os.write(write, b"b")
        os.close(write)
        assert list(lines) == [(2, "b")]
