"""The bundle in the browser and in Node: ``s2s-onnx web`` writes a static page whose ES module, ``s2s.mjs``,
decodes with the bundle's fused graphs on onnxruntime-web (or onnxruntime-node), token for token as this runtime;
``s2s-onnx serve`` serves it at ``/web/``."""
