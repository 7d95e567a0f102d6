"""The ``convert`` and ``quantize`` subcommands. Nothing heavy at module level: TensorFlow is imported when it runs."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from s2s_onnx.models.data import VOCAB_NAME, read_pairs
from s2s_onnx.runtime.commands import positive_int
from s2s_onnx.runtime.errors import DataFormatError, ModelFileNotFoundError
from s2s_onnx.runtime.vocab import Vocabulary

PARITY_SENTENCES = 256


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("convert", help="convert a trained Keras model file to a verified ONNX bundle")
    p.add_argument("model_file", type=Path, metavar="MODEL_FILE", help=".keras or .h5 training model")
    p.add_argument(
        "--decoder-model",
        type=Path,
        default=None,
        metavar="DECODER_FILE",
        help="convert a saved pair of inference models: MODEL_FILE is the encoder model, this the decoder model",
    )
    vocab = p.add_mutually_exclusive_group()
    vocab.add_argument("--vocab", type=Path, help="vocabulary.json written by 's2s-onnx train'")
    vocab.add_argument("--data", type=Path, help="pairs file the model was trained on (rebuilds the vocabulary)")
    p.add_argument("--num-samples", type=positive_int, default=None, help="with --data: pairs used in training")
    p.add_argument("-o", "--output", type=Path, required=True, help="bundle directory to write")
    p.add_argument("--opset", type=int, default=17)
    p.add_argument("--fused", action="store_true", help="also write greedy.onnx (the whole loop in one graph)")
    p.add_argument("--no-verify", action="store_true", help="skip the Keras/ONNX parity check")
    p.add_argument("--tolerance", type=float, default=1e-4, help="max abs difference allowed in parity")
    p.add_argument("--force", action="store_true", help="replace an existing bundle")
    p.add_argument(
        "--quantize",
        choices=("int8",),
        default=None,
        help="write the int8 bundle instead (as 's2s-onnx quantize' with its defaults, checked on the parity inputs)",
    )
    _min_identical_argument(p)
    p.set_defaults(handler=run)
    register_quantize(subparsers)
    register_triton(subparsers)


def _min_identical_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--min-identical",
        type=float,
        default=0.99,
        help="int8: share of decodes that must equal the fp32 bundle's, 0..1 (default 0.99); below it nothing is "
        "written",
    )


def _check_min_identical(value: float) -> float:
    from s2s_onnx.runtime.errors import InvalidOptionError

    if not 0.0 <= value <= 1.0:
        raise InvalidOptionError(f"--min-identical must be between 0 and 1, not {value}")
    return value


def register_quantize(subparsers: Any) -> None:
    p = subparsers.add_parser("quantize", help="int8 weights for a bundle, kept only if its decodes stay the same")
    p.add_argument(
        "bundle", type=Path, nargs="?", default=None, metavar="BUNDLE", help="fp32 bundle (default: the built-in model)"
    )
    p.add_argument("-o", "--output", type=Path, required=True, help="int8 bundle directory to write")
    scales = p.add_mutually_exclusive_group()
    scales.add_argument(
        "--per-tensor", dest="per_channel", action="store_false", help="one scale per weight matrix (the default)"
    )
    scales.add_argument("--per-channel", dest="per_channel", action="store_true", help="one scale per gate/column")
    p.add_argument("--weight-type", choices=("int8", "uint8"), default="int8")
    p.add_argument("--reduce-range", action="store_true", help="7-bit weights (some CPUs without VNNI)")
    _min_identical_argument(p)
    p.add_argument("--data", type=Path, help="pairs file: its sources are the check's inputs, its targets score both")
    p.add_argument("--num-samples", type=positive_int, default=1000, help="with --data: pairs to use (default 1000)")
    p.add_argument("--force", action="store_true", help="replace an existing output")
    p.set_defaults(handler=run_quantize)


def register_triton(subparsers: Any) -> None:
    p = subparsers.add_parser("triton", help="a Triton Inference Server model repository from a fused bundle")
    p.add_argument("bundle", type=Path, nargs="?", default=None, metavar="BUNDLE", help="fused bundle (default: ours)")
    p.add_argument("-o", "--output", type=Path, required=True, help="model repository directory to write")
    p.add_argument("--name", default="s2s", help="the model's name in the repository")
    p.add_argument("--max-batch", type=positive_int, default=64, help="Triton's max_batch_size")
    p.add_argument("--max-queue-delay-us", type=int, default=2000, help="dynamic batching's queue delay")
    p.add_argument("--instances", type=positive_int, default=1, help="model instances")
    p.add_argument("--gpu", action="store_true", help="KIND_GPU instances (default: KIND_CPU)")
    p.add_argument("--force", action="store_true", help="replace an existing output")
    p.set_defaults(handler=run_triton)


def run_triton(args: argparse.Namespace) -> int:
    from s2s_onnx.runtime.bundle import default_model_path

    from .triton import TritonSettings, write_triton_repository

    settings = TritonSettings(
        args.name, args.max_batch, args.max_queue_delay_us, args.instances, "KIND_GPU" if args.gpu else "KIND_CPU"
    )
    bundle = args.bundle if args.bundle is not None else default_model_path()
    home = write_triton_repository(bundle, args.output, settings, force=args.force)
    print(f"wrote {home} (config.pbtxt, 1/model.onnx, s2s_config.json, client.py)")
    print(f"serve it: tritonserver --model-repository {args.output}; ask it: python {home / 'client.py'} TEXT")
    return 0


def run_quantize(args: argparse.Namespace) -> int:
    from .quantize import QuantizeOptions, quantize

    options = QuantizeOptions(
        per_channel=args.per_channel,
        weight_type=args.weight_type,
        reduce_range=args.reduce_range,
        min_identical=_check_min_identical(args.min_identical),
        force=args.force,
    )
    from s2s_onnx.runtime.bundle import default_model_path

    texts, targets = read_pairs(args.data, args.num_samples) if args.data is not None else (None, None)
    report = quantize(args.bundle or default_model_path(), args.output, options, texts, targets)
    print(report.format())
    print(f"int8 bundle written to {args.output}")
    return 0


def load_vocabulary(path: Path) -> Vocabulary:
    if not path.is_file():
        raise ModelFileNotFoundError(f"vocabulary file {str(path)!r} does not exist")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataFormatError(f"{path}: not a JSON vocabulary ({exc})") from exc
    if not isinstance(data, dict):
        raise DataFormatError(f"{path}: not a JSON vocabulary object")
    try:
        return Vocabulary.from_token_lists(data) if "input_tokens" in data else Vocabulary.from_dict(data)
    except DataFormatError as exc:
        raise DataFormatError(f"{path}: {exc}") from exc


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


def run(args: argparse.Namespace) -> int:
    from s2s_onnx.models.quiet import quiet_frameworks

    quiet_frameworks(args.verbose)
    from .convert import ConvertOptions, convert

    vocab, sentences = resolve_vocabulary(args)
    options = ConvertOptions(
        opset=args.opset,
        verify=not args.no_verify,
        sentences=tuple(sentences[:PARITY_SENTENCES]),
        tolerance=args.tolerance,
        fused=args.fused,
        force=args.force,
        progress=True,
        decoder_model=args.decoder_model,
    )
    if args.quantize:
        return _convert_quantized(args, vocab, options)
    result = convert(args.model_file, args.output, vocab, options)
    if result.report is not None:
        print(result.report.format())
    print(f"wrote {result.bundle} in {result.seconds:.1f} s")
    return 0


def _convert_quantized(args: argparse.Namespace, vocab: Vocabulary, options: Any) -> int:
    """``convert --quantize int8``: the verified fp32 bundle in a scratch directory, then its int8 bundle."""
    import dataclasses
    import tempfile

    from .convert import convert
    from .quantize import QuantizeOptions, quantize
    from .writing import check_target

    quantize_options = QuantizeOptions(force=args.force, min_identical=_check_min_identical(args.min_identical))
    check_target(args.output, args.force)
    args.output.resolve().parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".s2s-fp32-", dir=args.output.parent) as scratch:
        fp32 = Path(scratch) / "bundle"
        result = convert(args.model_file, fp32, vocab, dataclasses.replace(options, force=False))
        if result.report is not None:
            print(result.report.format())
        texts = list(options.sentences) or None
        report = quantize(fp32, args.output, quantize_options, texts)
    print(report.format())
    print(f"wrote the int8 bundle {args.output}")
    return 0
