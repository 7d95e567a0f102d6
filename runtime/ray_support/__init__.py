"""s2s-onnx on Ray (the ``ray`` extra): Ray Data for translating corpora (:func:`translate_dataset`). Imported only
on request; the core install never imports Ray."""

from __future__ import annotations

from .data import Translator, translate_dataset

__all__ = ["Translator", "translate_dataset"]
