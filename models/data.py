"""Pairs files in the Keras example's format: ``source<TAB>target[<TAB>anything]`` per line, UTF-8."""

from __future__ import annotations

from pathlib import Path

from s2s_onnx.runtime.errors import DataFormatError, ModelFileNotFoundError

VOCAB_NAME = "vocabulary.json"  # written beside a trained model by `s2s-onnx train`
HELD_OUT_NAME = "held-out.tsv"  # the validation pairs, written beside it too: inputs like the model's own
MAX_HELD_OUT = 1000


def read_pairs(path: str | Path, num_samples: int | None = None) -> tuple[list[str], list[str]]:
    """Read the first ``num_samples`` pairs exactly as the Keras example does.

    The example splits the file on ``"\\n"`` and reads ``lines[: min(num_samples, len(lines) - 1)]``,
    so the same ``num_samples`` gives the same vocabulary here and there.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelFileNotFoundError(f"pairs file {str(path)!r} does not exist")
    if num_samples is not None and num_samples < 1:
        raise DataFormatError(f"num_samples must be at least 1, not {num_samples}")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise DataFormatError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    lines = text.split("\n")
    count = len(lines) - 1 if num_samples is None else min(num_samples, len(lines) - 1)
    if count < 1:
        raise DataFormatError(f"{path}: no pairs found; expected lines of 'source<TAB>target'")
    sources: list[str] = []
    targets: list[str] = []
    for number, line in enumerate(lines[:count], start=1):
        parts = line.rstrip("\r").split("\t")
        if len(parts) < 2 or not parts[0] or not parts[1]:
            raise DataFormatError(
                f"{path}, line {number}: expected 'source<TAB>target[<TAB>anything]', got {line[:60]!r}"
            )
        sources.append(parts[0])
        targets.append(parts[1])
    return sources, targets


def write_held_out(directory: Path, sources: list[str], targets: list[str], share: float) -> Path:
    """The pairs Keras held out for validation (``validation_split`` takes the last ``share`` of them, before
    shuffling), at most ``MAX_HELD_OUT``, as a pairs file beside the model: ``convert`` checks parity on them and
    ``quantize`` judges int8 on them, so that both see inputs like the model's own."""
    count = min(int(len(sources) * share), MAX_HELD_OUT)
    pairs = [(s, t) for s, t in zip(sources[len(sources) - count :], targets[len(targets) - count :], strict=True)]
    lines = [f"{s}\t{t}\n" for s, t in pairs if not any(c in s + t for c in "\t\n\r")]
    path = directory / HELD_OUT_NAME
    path.write_text("".join(lines), encoding="utf-8")
    return path
