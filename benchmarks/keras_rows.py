"""Benchmark rows that need TensorFlow: the Keras ways of decoding, and LiteRT (needs the ``export`` extra)."""

from __future__ import annotations

import logging

import keras
import numpy as np
import tensorflow as tf

from s2s_onnx.models.inference import InferenceModels
from s2s_onnx.runtime.vocab import Vocabulary

from .rows import Row, Run, naive_loop

logger = logging.getLogger(__name__)


def _start(batch: int, vocab: Vocabulary) -> np.ndarray:
    token = np.zeros((batch, 1, vocab.num_decoder_tokens), dtype=np.float32)
    token[:, 0, vocab.start_id] = 1.0
    return token


def keras_rows(models: InferenceModels, vocab: Vocabulary) -> list[Row]:
    encoder, decoder = models.encoder, models.decoder
    width = vocab.num_decoder_tokens

    def predict_loop(x: np.ndarray, steps: int) -> Run:
        """The Keras example's decode_sequence: predict() per step."""

        def step(token: np.ndarray, h: np.ndarray, c: np.ndarray) -> list[np.ndarray]:
            return decoder.predict([token, h, c], verbose=0)

        return lambda: naive_loop(lambda: encoder.predict(x, verbose=0), step, x.shape[0], steps, vocab)

    def direct(x: np.ndarray, steps: int) -> Run:
        x_t = tf.constant(x)

        def run() -> np.ndarray:
            state_h, state_c = encoder(x_t, training=False)
            token = tf.constant(_start(x.shape[0], vocab))
            out = []
            for _ in range(steps):
                probs, state_h, state_c = decoder([token, state_h, state_c], training=False)
                chosen = tf.argmax(probs[:, -1, :], axis=-1)
                out.append(chosen.numpy())
                token = tf.one_hot(chosen, width)[:, None, :]
            return np.stack(out, axis=1)

        return run

    @tf.function(reduce_retracing=True)
    def step_fn(token: tf.Tensor, state_h: tf.Tensor, state_c: tf.Tensor) -> tuple[tf.Tensor, ...]:
        probs, state_h, state_c = decoder([token, state_h, state_c], training=False)
        chosen = tf.argmax(probs[:, -1, :], axis=-1)
        return chosen, tf.one_hot(chosen, width)[:, None, :], state_h, state_c

    encode_fn = tf.function(lambda x: encoder(x, training=False), reduce_retracing=True)

    def tf_step(x: np.ndarray, steps: int) -> Run:
        x_t = tf.constant(x)

        def run() -> np.ndarray:
            state_h, state_c = encode_fn(x_t)
            token = tf.constant(_start(x.shape[0], vocab))
            out = []
            for _ in range(steps):
                chosen, token, state_h, state_c = step_fn(token, state_h, state_c)
                out.append(chosen)
            return np.stack([c.numpy() for c in out], axis=1)

        return run

    @tf.function(reduce_retracing=True)
    def loop_fn(x: tf.Tensor, steps: tf.Tensor) -> tf.Tensor:
        state_h, state_c = encoder(x, training=False)
        token = tf.one_hot(tf.fill([tf.shape(x)[0]], vocab.start_id), width)[:, None, :]
        ids = tf.TensorArray(tf.int64, size=steps)
        for t in tf.range(steps):
            probs, state_h, state_c = decoder([token, state_h, state_c], training=False)
            chosen = tf.argmax(probs[:, -1, :], axis=-1)
            ids = ids.write(t, chosen)
            token = tf.one_hot(chosen, width)[:, None, :]
        return tf.transpose(ids.stack())

    def tf_loop(x: np.ndarray, steps: int) -> Run:
        x_t, steps_t = tf.constant(x), tf.constant(steps)
        return lambda: loop_fn(x_t, steps_t).numpy()

    return [
        Row("Keras example loop, predict() per step", predict_loop, slow=True),
        Row("Keras models called directly per step", direct),
        Row("tf.function decoder step", tf_step),
        Row("tf.function whole greedy loop", tf_loop),
    ]


def _tflite(fn: object, specs: list[tf.TensorSpec]) -> bytes:
    concrete = tf.function(fn).get_concrete_function(*specs)
    # Without trackable_obj the converter freezes the weights into constants (no variables to initialise).
    return tf.lite.TFLiteConverter.from_concrete_functions([concrete]).convert()


def litert_row(models: InferenceModels, vocab: Vocabulary) -> tuple[Row | None, str]:
    """LiteRT (TensorFlow Lite runtime) on the same encoder and decoder; (None, reason) if it cannot run.

    The converter needs static shapes for the LSTM's tensor lists, so each batch size gets its own conversion.
    """
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError as exc:
        return None, f"ai-edge-litert is not installed ({exc})"
    encoder, decoder = models.encoder, models.decoder
    latent, width = models.spec.latent_dim, vocab.num_decoder_tokens

    def convert(batch: int, steps_in: int) -> tuple[bytes, bytes]:
        enc = _tflite(
            lambda x: encoder(x, training=False),
            [tf.TensorSpec((batch, steps_in, vocab.num_encoder_tokens), tf.float32, name="x")],
        )
        dec = _tflite(
            lambda token, state_h, state_c: decoder([token, state_h, state_c], training=False),
            [
                tf.TensorSpec((batch, 1, width), tf.float32, name="token"),
                tf.TensorSpec((batch, latent), tf.float32, name="state_h"),
                tf.TensorSpec((batch, latent), tf.float32, name="state_c"),
            ],
        )
        return enc, dec

    try:
        convert(1, vocab.max_encoder_len)
    except Exception as exc:  # the converter raises many kinds
        first = str(exc).strip().splitlines()[-1][:200] if str(exc).strip() else type(exc).__name__
        return None, f"the TFLite converter failed: {first}"

    def prepare(x: np.ndarray, steps: int) -> Run:
        batch = x.shape[0]
        enc_blob, dec_blob = convert(batch, x.shape[1])
        enc = Interpreter(model_content=enc_blob, num_threads=_threads())
        dec = Interpreter(model_content=dec_blob, num_threads=_threads())
        enc.allocate_tensors()
        dec.allocate_tensors()
        enc_in = enc.get_input_details()[0]["index"]
        enc_h, enc_c = _outputs_in_order(enc)
        dec_in = {_arg_name(d["name"]): d["index"] for d in dec.get_input_details()}
        probs_out, h_out, c_out = _outputs_in_order(dec)

        def run() -> np.ndarray:
            enc.set_tensor(enc_in, x)
            enc.invoke()
            state_h, state_c = enc.get_tensor(enc_h), enc.get_tensor(enc_c)
            token = _start(batch, vocab)
            rows = np.arange(batch)
            out = []
            for _ in range(steps):
                dec.set_tensor(dec_in["token"], token)
                dec.set_tensor(dec_in["state_h"], state_h)
                dec.set_tensor(dec_in["state_c"], state_c)
                dec.invoke()
                chosen = dec.get_tensor(probs_out)[:, -1, :].argmax(axis=-1)
                state_h, state_c = dec.get_tensor(h_out), dec.get_tensor(c_out)
                out.append(chosen)
                token = np.zeros_like(token)
                token[rows, 0, chosen] = 1.0
            return np.stack(out, axis=1)

        return run

    return Row("LiteRT (TFLite converter + interpreter) per step", prepare), ""


def _arg_name(name: str) -> str:
    """'serving_default_state_h:0' or 'state_h' -> 'state_h'."""
    base = name.split(":")[0]
    for arg in ("token", "state_h", "state_c", "x"):
        if base.endswith(arg):
            return arg
    return base


def _outputs_in_order(interpreter: object) -> list[int]:
    """Output tensor indices in the function's return order (Identity, Identity_1, ...)."""
    details = interpreter.get_output_details()  # type: ignore[attr-defined]

    def order(d: dict) -> int:
        tail = d["name"].split(":")[0].rsplit("_", 1)[-1]
        return int(tail) if tail.isdigit() else 0

    return [d["index"] for d in sorted(details, key=order)]


_THREADS = [1]


def set_threads(threads: int) -> None:
    _THREADS[0] = threads
    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:
        logger.warning("TensorFlow was already initialised; its thread settings stay as they were")


def _threads() -> int:
    return _THREADS[0]


__all__ = ["keras", "keras_rows", "litert_row", "set_threads"]
