"""ONNX-only export tools (``onnx``, no TensorFlow; the ``quantize`` extra is enough): the fused greedy and beam
graphs (:mod:`.fused`, :mod:`.fused_beam`, :mod:`.fused_lstm`, their weights in :mod:`.fused_weights`, built
with :mod:`.onnx_builder`), checks and renames of converted graphs (:mod:`.graph`), int8 quantization
(:mod:`.quantize`) and the Triton repository (:mod:`.triton`, its client :mod:`.triton_client`)."""
