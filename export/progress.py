"""Stage progress for long exports: a tqdm bar on stderr when asked for, log lines always."""

from __future__ import annotations

import logging
from types import TracebackType
from typing import Any

logger = logging.getLogger(__name__)


class Progress:
    def __init__(self, total: int, enabled: bool, desc: str = "convert") -> None:
        self._bar: Any = None
        if enabled:
            from tqdm import tqdm

            self._bar = tqdm(total=total, desc=desc, unit="step", leave=True)

    def stage(self, text: str) -> None:
        logger.info("%s", text)
        if self._bar is not None:
            self._bar.set_postfix_str(text)
            self._bar.update(1)

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        if self._bar is not None:
            self._bar.close()
