"""Reproduce the canonical configuration of benchmarks/README.md.

    python -m s2s_onnx.benchmarks.canonical --data ../shared/data/fra-eng.txt --out runs/canonical

Trains the Keras example's model (latent 256) briefly on the first 10,000 pairs, saves it in all three
flavours (Keras 3 ``.keras``, Keras 3 ``.h5``, legacy Keras 2 ``.h5`` with the same weights), converts each
with parity verification (reports in ``parity.json``), quantizes the ``.keras`` bundle with every int8
scheme on 2,000 held-out pairs (``int8-schemes.json``/``.md``), scores greedy and beam 2/4/8 on them
(``beams.json``/``.md``), then benchmarks the fused bundle and its int8
copy with one thread and with all cores.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

from s2s_onnx.runtime.errors import MissingExtraError

from .held_out import beam_markdown, beam_table, held_out_pairs, int8_markdown, int8_table

SAMPLES = 10000
HELD_OUT = 2000


def save_legacy_copy(keras_file: Path, target: Path) -> None:
    """The same trained weights in a legacy Keras 2 (tf_keras) .h5 file. Writing one needs ``tf_keras``, which
    the ``export`` extra does not install (it pulls a second TensorFlow): ``pip install tf-keras --no-deps``."""
    import keras

    try:
        import tf_keras
    except ImportError as exc:
        raise MissingExtraError(
            "writing the legacy Keras 2 copy needs tf_keras: pip install tf-keras --no-deps"
        ) from exc

    from s2s_onnx.models.graph_search import find_seq2seq

    spec = find_seq2seq(keras.saving.load_model(keras_file))
    enc_in = tf_keras.Input((None, spec.num_encoder_tokens))
    _, h, c = tf_keras.layers.LSTM(spec.latent_dim, return_state=True)(enc_in)
    dec_in = tf_keras.Input((None, spec.num_decoder_tokens))
    dec_lstm = tf_keras.layers.LSTM(spec.latent_dim, return_sequences=True, return_state=True)
    seq, _, _ = dec_lstm(dec_in, initial_state=[h, c])
    dense = tf_keras.layers.Dense(spec.num_output_tokens, activation="softmax")
    model = tf_keras.Model([enc_in, dec_in], dense(seq))
    model.layers[2].set_weights(list(spec.encoder[0].weights))  # the encoder LSTM follows the first input
    dec_lstm.set_weights(list(spec.decoder[0].weights))
    dense.set_weights(list(spec.dense_weights))
    model.save(target)


def train_canonical(data: Path, out: Path, epochs: int) -> Path:
    """The Keras example's model (latent 256, rmsprop) on the first 10,000 pairs; returns ``model.keras``."""
    from s2s_onnx.models.data import read_pairs
    from s2s_onnx.models.training import TrainSettings, save, train

    sources, targets = read_pairs(data, SAMPLES)
    result = save(train(sources, targets, TrainSettings(epochs=epochs)), out / "model")
    return result.model_path or out / "model" / "model.keras"


def convert_flavours(data: Path, out: Path) -> dict[str, str]:
    """Save the model in all three flavours and convert each with parity; returns file -> detected flavour."""
    import keras

    from s2s_onnx.export.tf.convert import ConvertOptions, convert
    from s2s_onnx.models.data import read_pairs
    from s2s_onnx.runtime.vocab import Vocabulary

    keras_file = out / "model" / "model.keras"
    keras.saving.load_model(keras_file).save(out / "model" / "model.h5")
    save_legacy_copy(keras_file, out / "model" / "legacy.h5")
    sources, targets = read_pairs(data, SAMPLES)
    vocab = Vocabulary.from_pairs(sources, targets)
    options = ConvertOptions(fused=True, force=True, sentences=tuple(sources[:256]), progress=True)
    flavours = {}
    for name in ("model.keras", "model.h5", "legacy.h5"):
        result = convert(out / "model" / name, out / f"bundle-{name.replace('.', '-')}", vocab, options)
        flavours[name] = str(result.config.provenance.get("source_flavour"))
    return flavours


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--out", type=Path, default=Path("runs/canonical"))
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--skip-train", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    out: Path = args.out
    keras_file = out / "model" / "model.keras"
    if not args.skip_train:
        keras_file = train_canonical(args.data, out, args.epochs)
    flavours = convert_flavours(args.data, out)
    (out / "flavours.json").write_text(json.dumps(flavours, indent=2))
    texts, targets = held_out_pairs(args.data, SAMPLES, HELD_OUT)
    schemes = int8_table(out / "bundle-model-keras", out, texts, targets)
    (out / "int8-schemes.md").write_text(int8_markdown(schemes) + "\n", encoding="utf-8")
    beams = beam_table(out / "bundle-model-keras", out, texts, targets)
    (out / "beams.md").write_text(beam_markdown(beams) + "\n", encoding="utf-8")
    for threads in (1, os.cpu_count() or 1):
        # A fresh process per run: TensorFlow's thread settings only apply before it initialises.
        command = [
            sys.executable,
            "-m",
            "s2s_onnx.benchmarks.run_bench",
            str(out / "bundle-model-keras"),
            str(keras_file),
            str(threads),
            str(out / f"bench-{threads}-thread"),
            str(out / "int8"),
        ]
        if subprocess.run(command, check=False).returncode:
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
