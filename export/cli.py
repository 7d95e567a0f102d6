"""``s2s-onnx convert``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from s2s_onnx.models.data import read_pairs
from s2s_onnx.models.training import VOCAB_NAME
from s2s_onnx.runtime.errors import DataFormatError, ModelFileNotFoundError
from s2s_onnx.runtime.vocab import Vocabulary

from .convert import convert


def load_vocabulary(path: Path) -> Vocabulary:
    if not path.is_file():
        raise ModelFileNotFoundError(f"vocabulary file {str(path)!r} does not exist")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataFormatError(f"{path}: not a JSON vocabulary ({exc})") from exc
    if not isinstance(data, dict):
        raise DataFormatError(f"{path}: not a JSON vocabulary object")
    return Vocabulary.from_dict(data)


def resolve_vocabulary(args: argparse.Namespace) -> tuple[Vocabulary, list[str]]:
    """The vocabulary from --vocab, from --data/--num-samples (the example's way), or beside the model."""
    if args.data is not None:
        sources, targets = read_pairs(args.data, args.num_samples)
        return Vocabulary.from_pairs(sources, targets), sources
    path = args.vocab if args.vocab is not None else args.model_file.parent / VOCAB_NAME
    if args.vocab is None and not path.is_file():
        raise ModelFileNotFoundError(
            f"no vocabulary given and none found beside the model ({path}); pass --vocab JSON, or "
            "--data PAIRS_FILE --num-samples N for models trained with the Keras example"
        )
    return load_vocabulary(path), []


def convert_command(args: argparse.Namespace) -> int:
    vocab, sentences = resolve_vocabulary(args)
    result = convert(
        args.model_file,
        args.output,
        vocab,
        opset=args.opset,
        verify=not args.no_verify,
        sentences=sentences[:256],
        tolerance=args.tolerance,
        fused=args.fused,
        force=args.force,
        progress=True,
    )
    if result.report is not None:
        print(result.report.format())
    print(f"wrote {result.bundle} in {result.seconds:.1f} s")
    return 0
