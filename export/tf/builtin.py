"""Regenerate the built-in dates bundle shipped in ``s2s_onnx/runtime/assets/dates``.

    python -m s2s_onnx.export.tf.builtin [--out runtime/assets/dates] [--model MODEL.keras]

Trains with the defaults of ``train --task dates`` (or takes ``--model``, a model trained that way, with its
``vocabulary.json`` beside it) and converts it with ``--fused`` and parity verification, so the shipped model
is exactly what a user gets from those commands. The bundle's ``reference.json`` holds the Keras example
loop's decodes that the TensorFlow-free tests compare the runtime against.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from pathlib import Path

from s2s_onnx.models import dates
from s2s_onnx.models.realistic_dates import realistic_pairs

from ..vocab_files import load_vocabulary
from .convert import ConvertOptions, convert

logger = logging.getLogger(__name__)
DEFAULT_OUT = Path(__file__).resolve().parents[1] / "runtime" / "assets" / "dates"


def train_default(directory: Path) -> Path:
    """``train --task dates`` with its defaults; returns the saved ``model.keras``."""
    from s2s_onnx.models.training import TrainSettings, save, train

    sources, targets = dates.make_pairs(dates.DEFAULT_SAMPLES, seed=0)
    settings = TrainSettings(epochs=dates.DEFAULT_EPOCHS, **dates.TRAIN_SETTINGS)
    result = save(train(sources, targets, settings), directory)
    return result.model_path or directory / "model.keras"


BUILTIN_INPUTS = "date spellings of the README and the realistic set"  # reference.json's "inputs"


def parity_sentences() -> tuple[str, ...]:
    """The README's samples first, then realistic spellings: the inputs of ``reference.json``."""
    return (*dates.SAMPLE_INPUTS, *realistic_pairs(200, seed=7)[0])


def build(out: Path, model_file: Path | None = None) -> Path:
    with tempfile.TemporaryDirectory() as tmp:
        source = model_file if model_file is not None else train_default(Path(tmp))
        vocab = load_vocabulary(source.parent / "vocabulary.json")
        options = ConvertOptions(
            fused=True, force=True, sentences=parity_sentences(), inputs=BUILTIN_INPUTS, progress=True
        )
        result = convert(source, out, vocab, options)
    if result.report is not None:
        logger.info("%s", result.report.format())
    return result.bundle_dir


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--model", type=Path, default=None, help="a model trained by 'train --task dates'")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    print(f"built-in model written to {build(args.out, args.model)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
