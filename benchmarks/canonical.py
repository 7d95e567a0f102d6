"""Reproduce the canonical configuration of benchmarks/README.md.

    python -m s2s_onnx.benchmarks.canonical --data ../shared/data/fra-eng.txt --out runs/canonical

Trains the Keras example's model (latent 256) briefly on the first 10,000 pairs, saves it in all three
flavours (Keras 3 ``.keras``, Keras 3 ``.h5``, legacy Keras 2 ``.h5`` with the same weights), converts each
with parity verification (reports in ``parity.json``), then benchmarks the fused bundle with one thread
and with all cores.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from s2s_onnx.runtime.cli import main as cli


def save_legacy_copy(keras_file: Path, target: Path) -> None:
    """The same trained weights in a legacy Keras 2 (tf_keras) .h5 file."""
    import keras
    import tf_keras

    from s2s_onnx.models.inference import find_seq2seq

    spec = find_seq2seq(keras.saving.load_model(keras_file))
    enc_in = tf_keras.Input((None, spec.num_encoder_tokens))
    _, h, c = tf_keras.layers.LSTM(spec.latent_dim, return_state=True)(enc_in)
    dec_in = tf_keras.Input((None, spec.num_decoder_tokens))
    dec_lstm = tf_keras.layers.LSTM(spec.latent_dim, return_sequences=True, return_state=True)
    seq, _, _ = dec_lstm(dec_in, initial_state=[h, c])
    dense = tf_keras.layers.Dense(spec.num_output_tokens, activation="softmax")
    model = tf_keras.Model([enc_in, dec_in], dense(seq))
    model.layers[2].set_weights(list(spec.encoder.weights))  # the encoder LSTM follows the first input
    dec_lstm.set_weights(list(spec.decoder.weights))
    dense.set_weights(list(spec.dense_weights))
    model.save(target)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--out", type=Path, default=Path("runs/canonical"))
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--skip-train", action="store_true")
    args = parser.parse_args(argv)
    out: Path = args.out
    data = ["--data", str(args.data), "--num-samples", "10000"]
    if not args.skip_train:
        code = cli(["train", *data, "--epochs", str(args.epochs), "-o", str(out / "model")])
        if code:
            return code
    keras_file = out / "model" / "model.keras"
    import keras

    keras.saving.load_model(keras_file).save(out / "model" / "model.h5")
    save_legacy_copy(keras_file, out / "model" / "legacy.h5")
    reports = {}
    for name in ("model.keras", "model.h5", "legacy.h5"):
        bundle = out / f"bundle-{name.replace('.', '-')}"
        code = cli(["convert", str(out / "model" / name), *data, "-o", str(bundle), "--fused", "--force"])
        if code:
            return code
        from s2s_onnx.runtime.config import BundleConfig

        reports[name] = BundleConfig.load(bundle).provenance.get("source_flavour")
    (out / "flavours.json").write_text(json.dumps(reports, indent=2))
    bundle = out / "bundle-model-keras"
    for threads in (1, os.cpu_count() or 1):
        # A fresh process per run: TensorFlow's thread settings only apply before it initialises.
        command = [
            sys.executable,
            "-m",
            "s2s_onnx.runtime.cli",
            "bench",
            "--model",
            str(bundle),
            "--keras",
            str(keras_file),
            "--threads",
            str(threads),
            "--out",
            str(out / f"bench-{threads}-thread"),
        ]
        if subprocess.run(command, check=False).returncode:
            return 1

    return 0


if __name__ == "__main__":
    sys.exit(main())
