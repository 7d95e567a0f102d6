"""Benchmark rows that need TensorFlow: the Keras ways of decoding, and LiteRT (needs the ``export`` extra)."""

from __future__ import annotations

import logging
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from s2s_onnx.models.inference import InferenceModels
from s2s_onnx.runtime import config as names
from s2s_onnx.runtime.vocab import Vocabulary

from .rows import Row, Run, naive_loop, token_maker

logger = logging.getLogger(__name__)


def keras_rows(models: InferenceModels, vocab: Vocabulary) -> list[Row]:
    encoder, decoder = models.encoder, models.decoder
    width = vocab.num_decoder_tokens
    ids = models.spec.decoder_embedding is not None
    make_token = token_maker(vocab, ids)

    memory = len(decoder.inputs) - len(decoder.outputs)  # an attention step's encoder outputs, carried along

    def as_list(outputs: object) -> list[tf.Tensor]:
        return list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]

    def call_step(inputs: list[Any], **kwargs: Any) -> list[Any]:
        """``[token, *memory, *states] -> [probs, *memory, *states]``: the memory rides along like the states."""
        outputs = as_list(decoder(inputs, **kwargs))
        return [outputs[0], *inputs[1 : 1 + memory], *outputs[1:]]

    def tf_token(chosen: tf.Tensor) -> tf.Tensor:
        return chosen[:, None] if ids else tf.one_hot(chosen, width)[:, None, :]

    def predict_loop(x: np.ndarray, steps: int) -> Run:
        """The Keras example's decode_sequence: predict() per step."""

        def step(token: np.ndarray, *states: np.ndarray) -> list[np.ndarray]:
            outputs = as_list(decoder.predict([token, *states], verbose=0))
            return [outputs[0], *states[:memory], *outputs[1:]]

        def encode() -> list[np.ndarray]:
            return as_list(encoder.predict(x, verbose=0))

        return lambda: naive_loop(encode, step, x.shape[0], steps, make_token, vocab.start_id)

    def direct(x: np.ndarray, steps: int) -> Run:
        x_t = tf.constant(x)

        def run() -> np.ndarray:
            states = as_list(encoder(x_t, training=False))
            token = tf.constant(make_token(np.full(x.shape[0], vocab.start_id)))
            out = []
            for _ in range(steps):
                probs, *states = call_step([token, *states], training=False)
                chosen = tf.argmax(probs[:, -1, :], axis=-1)
                out.append(chosen.numpy())
                token = tf_token(chosen)
            return np.stack(out, axis=1)

        return run

    @tf.function(reduce_retracing=True)
    def step_fn(token: tf.Tensor, *states: tf.Tensor) -> tuple[tf.Tensor, ...]:
        probs, *new_states = call_step([token, *states], training=False)
        chosen = tf.argmax(probs[:, -1, :], axis=-1)
        return (chosen, tf_token(chosen), *new_states)

    encode_fn = tf.function(lambda x: as_list(encoder(x, training=False)), reduce_retracing=True)

    def tf_step(x: np.ndarray, steps: int) -> Run:
        x_t = tf.constant(x)

        def run() -> np.ndarray:
            states = encode_fn(x_t)
            token = tf.constant(make_token(np.full(x.shape[0], vocab.start_id)))
            out = []
            for _ in range(steps):
                chosen, token, *states = step_fn(token, *states)
                out.append(chosen)
            return np.stack([c.numpy() for c in out], axis=1)

        return run

    @tf.function(reduce_retracing=True)
    def loop_fn(x: tf.Tensor, steps: tf.Tensor) -> tf.Tensor:
        states = as_list(encoder(x, training=False))
        token = tf_token(tf.fill([tf.shape(x)[0]], tf.constant(vocab.start_id, tf.int64)))
        chosen_ids = tf.TensorArray(tf.int64, size=steps)
        for t in tf.range(steps):
            probs, *states = call_step([token, *states], training=False)
            chosen = tf.argmax(probs[:, -1, :], axis=-1)
            chosen_ids = chosen_ids.write(t, chosen)
            token = tf_token(chosen)
        return tf.transpose(chosen_ids.stack())

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

    The converter needs static shapes for the recurrent layers' tensor lists, so each batch size gets its own
    conversion.
    """
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError as exc:
        return None, f"ai-edge-litert is not installed ({exc})"
    encoder, decoder, spec = models.encoder, models.decoder, models.spec
    states = spec.state_tensors
    memory = list(spec.memory)  # an attention step's encoder outputs (and mask), carried along unchanged
    state_names = [*memory, *(s.name for s in states)]
    make_token = token_maker(vocab, spec.decoder_embedding is not None)

    def convert(batch: int, steps_in: int) -> tuple[bytes, bytes]:
        x_spec = (
            tf.TensorSpec((batch, steps_in), tf.int64, name="x")
            if spec.encoder_embedding is not None
            else tf.TensorSpec((batch, steps_in, vocab.num_encoder_tokens), tf.float32, name="x")
        )
        token = make_token(np.zeros(batch, np.int64))
        token_spec = tf.TensorSpec(token.shape, tf.as_dtype(token.dtype), name="token")
        shapes = {
            names.ENCODER_OUTPUTS: (batch, steps_in, spec.encoder_output_width),
            names.ENCODER_MASK: (batch, steps_in),
        }
        state_specs = [tf.TensorSpec(shapes[m], tf.float32, name=m) for m in memory]
        state_specs += [tf.TensorSpec((batch, s.width), tf.float32, name=s.name) for s in states]
        enc = _tflite(lambda x: encoder(x, training=False), [x_spec])
        dec = _tflite(lambda token, *states: decoder([token, *states], training=False), [token_spec, *state_specs])
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
        enc_states = _outputs_in_order(enc)
        dec_in = {_arg_name(d["name"], ["token", *state_names]): d["index"] for d in dec.get_input_details()}
        probs_out, *state_outs = _outputs_in_order(dec)

        def run() -> np.ndarray:
            enc.set_tensor(enc_in, x)
            enc.invoke()
            values = [enc.get_tensor(i) for i in enc_states]
            token = make_token(np.full(batch, vocab.start_id))
            out = []
            for _ in range(steps):
                dec.set_tensor(dec_in["token"], token)
                for name, value in zip(state_names, values, strict=True):
                    dec.set_tensor(dec_in[name], value)
                dec.invoke()
                chosen = dec.get_tensor(probs_out)[:, -1, :].argmax(axis=-1)
                values = values[: len(memory)] + [dec.get_tensor(i) for i in state_outs]
                out.append(chosen)
                token = make_token(chosen)
            return np.stack(out, axis=1)

        return run

    return Row("LiteRT (TFLite converter + interpreter) per step", prepare), ""


def _arg_name(name: str, args: list[str]) -> str:
    """'serving_default_state_h_1:0' or 'state_h_1' -> 'state_h_1' (the longest argument name it ends with)."""
    base = name.split(":")[0]
    for arg in sorted(args, key=len, reverse=True):
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
