"""s2s-onnx on Ray (the ``ray`` extra): Ray Data for translating corpora (:func:`translate_dataset`) and a Ray Serve
application (``serve run s2s_onnx.ray:app model=BUNDLE``). Imported only on request; the core install never imports
Ray."""

from __future__ import annotations

from typing import Any

from .data import Translator, translate_dataset

__all__ = ["Translator", "app", "translate_dataset"]


def __getattr__(name: str) -> Any:
    if name == "app":  # Ray Serve (and Starlette) only when the Serve application is asked for
        from .serve_app import app

        return app
    raise AttributeError(name)
