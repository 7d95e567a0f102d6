"""The TensorFlow side of export (the ``export`` extra: TensorFlow, Keras, tf2onnx): a Keras model file to a
verified ONNX bundle (:mod:`.convert`), the parity check against Keras (:mod:`.parity`) and the built-in
bundle's rebuild (:mod:`.builtin`). Everything that needs only ``onnx`` lives in :mod:`s2s_onnx.export.graphs`."""
