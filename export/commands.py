"""The ``convert``, ``quantize`` and ``triton`` subcommands. Nothing heavy at module level: TensorFlow (convert)
and ``onnx`` (quantize, triton) are imported when they run."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Any

from s2s_onnx.models.data import HELD_OUT_NAME, VOCAB_NAME, read_pairs
from s2s_onnx.runtime.cli.arguments import field_default, from_args, option, output_flag, positive_int, verbose_flag
from s2s_onnx.runtime.config import CONFIG_NAME
from s2s_onnx.runtime.errors import DataFormatError, ModelFileNotFoundError, ModelFormatError
from s2s_onnx.runtime.loop import STOPS, LoopRules
from s2s_onnx.runtime.vocab import Vocabulary

from .options import ConvertOptions, QuantizeOptions, TritonSettings
from .vocab_files import VocabSettings, load_vocabulary, pair_vocabulary, read_side

PARITY_SENTENCES = 256


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("convert", help="convert a trained Keras model file to a verified ONNX bundle")
    verbose_flag(p)
    p.add_argument("model_file", type=Path, metavar="MODEL_FILE", help=".keras or .h5 training model")
    p.add_argument(
        "--decoder-model",
        type=Path,
        default=None,
        metavar="DECODER_FILE",
        help="convert a saved pair of inference models: MODEL_FILE is the encoder model, this the decoder model",
    )
    vocab = p.add_mutually_exclusive_group()
    vocab.add_argument(
        "--vocab", type=Path, help="vocabulary of both sides: vocabulary.json, token lists, or the example's dicts"
    )
    vocab.add_argument("--data", type=Path, help="pairs file the model was trained on (rebuilds the vocabulary)")
    vocab.add_argument(
        "--source-vocab", type=Path, help="the input side's Tokenizer JSON, {token: id} dict or TextVectorization list"
    )
    p.add_argument("--target-vocab", type=Path, help="with --source-vocab: the output side's, in any of those forms")
    p.add_argument("--num-samples", type=positive_int, default=None, help="with --data: pairs used in training")
    v = VocabSettings
    option(p, "--start-token", source=(v, "start"), help="with --source-vocab: the target start token (default: found)")
    option(p, "--end-token", source=(v, "end"), help="with --source-vocab: the target end token (default: found)")
    option(p, "--max-encoder-length", source=(v, "max_encoder_len"), type=positive_int, help="longest input trained on")
    option(
        p, "--max-decoder-length", source=(v, "max_decoder_len"), type=positive_int, help="longest output trained on"
    )
    loop_flags(p)
    output_flag(p, "bundle directory to write")
    c = ConvertOptions
    option(p, "--opset", source=(c, "opset"), type=int, help="ONNX opset")
    option(
        p, "--fused", source=(c, "fused"), action="store_true",
        help="also write the fused graphs: greedy.onnx and beam.onnx (the whole loop in one graph each)",
    )  # fmt: skip
    p.add_argument("--no-verify", action="store_true", help="skip the Keras/ONNX parity check")
    option(p, "--tolerance", source=(c, "tolerance"), type=float, help="max abs difference allowed in parity")
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


def loop_flags(parser: argparse.ArgumentParser) -> None:
    """The author's decode loop where it is not the Keras example's (recorded in the bundle; default: the
    vocabulary's, else the example's)."""
    stop = "end: at the end token or the cap (the Keras example); length: always the cap, no end token"
    parser.add_argument("--stop", choices=STOPS, default=None, help=stop)
    cap = "the loop's cap in tokens (default: the Keras example's, max decoder length + 1)"
    parser.add_argument("--max-length", type=positive_int, default=None, help=cap)
    joiner = "what joins output tokens (default: nothing for characters, a space for words)"
    parser.add_argument("--joiner", default=None, help=joiner)


def with_loop(vocab: Vocabulary, args: argparse.Namespace) -> Vocabulary:
    """``vocab`` with the loop rules the flags give (each flag not given keeps the vocabulary's)."""
    if args.stop is None and args.max_length is None and args.joiner is None:
        return vocab
    own = vocab.loop
    rules = LoopRules(
        stop=args.stop if args.stop is not None else own.stop,
        max_length=args.max_length if args.max_length is not None else own.max_length,
        joiner=args.joiner if args.joiner is not None else own.joiner,
    )
    return dataclasses.replace(vocab, loop=rules)


def _min_identical_argument(parser: argparse.ArgumentParser) -> None:
    option(
        parser, "--min-identical", source=(QuantizeOptions, "min_identical"), type=float,
        help="int8: share of decodes that must equal the fp32 bundle's, 0..1; below it nothing is written",
    )  # fmt: skip


def register_quantize(subparsers: Any) -> None:
    p = subparsers.add_parser("quantize", help="int8 weights for a bundle, kept only if its decodes stay the same")
    verbose_flag(p)
    p.add_argument(
        "bundle", type=Path, nargs="?", default=None, metavar="BUNDLE", help="fp32 bundle (default: the built-in model)"
    )
    output_flag(p, "int8 bundle directory to write")
    q = QuantizeOptions
    scales = p.add_mutually_exclusive_group()
    default_scale = "per-channel" if field_default(q, "per_channel") else "per-tensor"
    scales.add_argument("--per-tensor", dest="per_channel", action="store_false", help="one scale per weight matrix")
    scales.add_argument("--per-channel", dest="per_channel", action="store_true", help="one scale per gate/column")
    p.set_defaults(per_channel=field_default(q, "per_channel"))
    p.epilog = f"default scales: {default_scale}"
    option(p, "--weight-type", source=(q, "weight_type"), choices=("int8", "uint8"), help="weight element type")
    option(p, "--reduce-range", source=(q, "reduce_range"), action="store_true", help="7-bit weights (no VNNI)")
    _min_identical_argument(p)
    p.add_argument("--data", type=Path, help="pairs file: its sources are the check's inputs, its targets score both")
    p.add_argument("--num-samples", type=positive_int, default=1000, help="with --data: pairs to use (default 1000)")
    p.add_argument("--force", action="store_true", help="replace an existing output")
    p.set_defaults(handler=run_quantize, onnx_only=True)


def register_triton(subparsers: Any) -> None:
    p = subparsers.add_parser("triton", help="a Triton Inference Server model repository from a fused bundle")
    verbose_flag(p)
    p.add_argument("bundle", type=Path, nargs="?", default=None, metavar="BUNDLE", help="fused bundle (default: ours)")
    output_flag(p, "model repository directory to write")
    t = TritonSettings
    option(p, "--name", source=(t, "name"), help="the model's name in the repository")
    option(p, "--max-batch", source=(t, "max_batch_size"), type=positive_int, help="Triton's max_batch_size")
    option(p, "--max-queue-delay-us", source=(t, "max_queue_delay_us"), type=int, help="dynamic batching's delay")
    option(p, "--instances", source=(t, "instances"), type=positive_int, help="model instances")
    p.add_argument("--gpu", action="store_true", help="KIND_GPU instances (default: KIND_CPU)")
    p.add_argument("--force", action="store_true", help="replace an existing output")
    p.set_defaults(handler=run_triton, onnx_only=True)


def run_triton(args: argparse.Namespace) -> int:
    from s2s_onnx.runtime.bundle import default_model_path

    from .graphs.triton import write_triton_repository

    settings = from_args(TritonSettings, args, kind="KIND_GPU" if args.gpu else "KIND_CPU")
    bundle = args.bundle if args.bundle is not None else default_model_path()
    home = write_triton_repository(bundle, args.output, settings, force=args.force)
    print(f"wrote {home} (config.pbtxt, 1/model.onnx, s2s_config.json, client.py)")
    print(f"serve it: tritonserver --model-repository {args.output}; ask it: python {home / 'client.py'} TEXT")
    return 0


def run_quantize(args: argparse.Namespace) -> int:
    from .graphs.quantize import quantize

    options = from_args(QuantizeOptions, args, per_channel=args.per_channel, force=args.force)
    from s2s_onnx.runtime.bundle import default_model_path

    texts, targets = read_pairs(args.data, args.num_samples) if args.data is not None else (None, None)
    report = quantize(args.bundle or default_model_path(), args.output, options, texts, targets)
    print(report.format())
    print(f"int8 bundle written to {args.output}")
    return 0


def resolve_vocabulary(args: argparse.Namespace) -> tuple[Vocabulary, list[str], str]:
    """The vocabulary from --vocab, from --data/--num-samples (the example's way), or beside the model; and real
    inputs for parity (the pairs file's sources, or the held-out pairs 's2s-onnx train' saved), with their name."""
    if args.data is not None:
        sources, targets = read_pairs(args.data, args.num_samples)
        return Vocabulary.from_pairs(sources, targets), sources, "sentences of the pairs file"
    if (args.source_vocab is None) != (args.target_vocab is None):
        raise DataFormatError("--source-vocab and --target-vocab go together: give the model's two vocabularies")
    if args.source_vocab is not None:
        pair = pair_vocabulary(
            read_side(args.source_vocab), read_side(args.target_vocab), from_args(VocabSettings, args)
        )
        return pair, [], ""
    path = args.vocab if args.vocab is not None else args.model_file.parent / VOCAB_NAME
    if args.vocab is None and not path.is_file():
        raise ModelFileNotFoundError(
            f"no vocabulary given and none found beside the model ({path}); pass --vocab JSON, or "
            "--data PAIRS_FILE --num-samples N for models trained with the Keras example"
        )
    held_out = args.model_file.parent / HELD_OUT_NAME
    sentences = read_pairs(held_out)[0] if args.vocab is None and held_out.is_file() else []
    return load_vocabulary(path), sentences, "held-out pairs saved by 's2s-onnx train'"


def check_model_file(path: Path, flag: str = "MODEL_FILE") -> None:
    """Name the real problem before anything else: a missing file, a bundle, a pairs file or other text."""
    if not path.exists():
        raise ModelFileNotFoundError(f"model file {str(path)!r} does not exist ({flag})")
    if path.is_dir() and (path / CONFIG_NAME).is_file():
        raise ModelFormatError(
            f"{str(path)!r} is an s2s-onnx bundle, already converted: translate with "
            f"'s2s-onnx translate --model {path}', or give the Keras model file it came from"
        )
    from s2s_onnx.models.loading import detect_flavour

    if not path.is_file():
        detect_flavour(path)  # a folder: a SavedModel, or an error that says what it is not
        return
    with path.open("rb") as handle:
        head = handle.read(4096)
    if head[:4] == b"PK\x03\x04" or head[:8] == b"\x89HDF\r\n\x1a\n":
        detect_flavour(path)  # a weights-only file or a zip that is no Keras model: said now, in one line
        return
    if b"\t" in head and b"\0" not in head:
        raise ModelFormatError(
            f"{str(path)!r} looks like a pairs file (text with tabs), not a Keras model; give the trained model "
            f"file ({flag}) and this file as --data"
        )
    raise ModelFormatError(
        f"{str(path)!r} is not a Keras model file (a .keras archive or an .h5 file); give the model you saved "
        "with model.save()"
    )


def run(args: argparse.Namespace) -> int:
    from s2s_onnx.models.quiet import quiet_frameworks

    check_model_file(args.model_file)
    if args.decoder_model is not None:
        check_model_file(args.decoder_model, "--decoder-model")
    vocab, sentences, inputs = resolve_vocabulary(args)  # its errors before TensorFlow starts
    vocab = with_loop(vocab, args)
    quiet_frameworks(args.verbose)
    from .tf.convert import convert

    options = ConvertOptions(
        opset=args.opset,
        verify=not args.no_verify,
        sentences=tuple(sentences[:PARITY_SENTENCES]),
        inputs=inputs,
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
    print(f"wrote {result.bundle_dir} in {result.seconds:.1f} s")
    return 0


def _convert_quantized(args: argparse.Namespace, vocab: Vocabulary, options: Any) -> int:
    """``convert --quantize int8``: the verified fp32 bundle in a scratch directory, then its int8 bundle."""
    import tempfile

    from .graphs.quantize import quantize
    from .tf.convert import convert
    from .writing import check_target

    quantize_options = QuantizeOptions(force=args.force, min_identical=args.min_identical)
    check_target(args.output, args.force)
    args.output.resolve().parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".s2s-fp32-", dir=args.output.parent) as scratch:
        fp32 = Path(scratch) / "bundle"
        result = convert(args.model_file, fp32, vocab, dataclasses.replace(options, force=False))
        if result.report is not None:
            print(result.report.format())
        texts = list(options.sentences) or None
        report = quantize(fp32, args.output, quantize_options, texts, texts_are=options.inputs)
    print(report.format())
    print(f"wrote the int8 bundle {args.output}")
    return 0
