"""JSON read with an explicit bound on nesting, the same wherever it is read: a bundle's files and request
bodies. Python's own parser stops at its recursion limit, which depends on how deep the caller's stack already is,
so the same file could load from one entry point and fail from another."""

from __future__ import annotations

import json
import re
from typing import Any

import numpy as np

MAX_JSON_DEPTH = 64  # arrays and objects inside one another; a bundle's files and requests nest a few levels

_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)  # UTF-8 continuation bytes are never ASCII


class JsonDepthError(ValueError):
    """JSON nested deeper than :data:`MAX_JSON_DEPTH`."""

    def __init__(self, depth: int) -> None:
        super().__init__(f"arrays and objects nest {depth} deep, more than the {MAX_JSON_DEPTH} read")
        self.depth = depth


def nesting_depth(raw: bytes) -> int:
    """How deeply arrays and objects nest in the JSON ``raw`` (brackets inside strings do not count)."""
    code = np.frombuffer(_STRING.sub(b'""', raw), dtype=np.uint8)
    opens = (code == ord("[")) | (code == ord("{"))
    closes = (code == ord("]")) | (code == ord("}"))
    steps = opens.astype(np.int64) - closes.astype(np.int64)
    return int(np.cumsum(steps).max(initial=0))


def load_json(raw: bytes) -> Any:
    """``raw`` (UTF-8) parsed; :class:`JsonDepthError` past :data:`MAX_JSON_DEPTH`, else ``json``'s own errors
    (``ValueError``, ``UnicodeDecodeError``)."""
    depth = nesting_depth(raw)
    if depth > MAX_JSON_DEPTH:
        raise JsonDepthError(depth)
    return json.loads(raw.decode("utf-8"))
