"""Serving: dynamic batching (:mod:`.batching`, numpy + onnxruntime only) and the HTTP service of
``s2s-onnx serve`` (:mod:`.server`, :mod:`.metrics`, :mod:`.serve`; the ``serve`` extra: Starlette and uvicorn,
imported only there)."""
