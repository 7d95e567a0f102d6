"""Writing a folder all at once: a temporary directory that replaces the target only when complete (bundles,
``s2s-onnx web``'s sites), so that no reader ever sees half of one."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from .errors import BundleExistsError, OutputError


def check_target(target: Path, force: bool) -> None:
    """Refuse an existing output unless ``force``; refuse a file where a directory should go."""
    if target.exists() and not force:
        raise BundleExistsError(f"output {str(target)!r} already exists; pass --force to replace it")
    if target.exists() and not target.is_dir():
        raise OutputError(f"output {str(target)!r} exists and is not a directory")


@contextlib.contextmanager
def atomic_directory(target: Path, force: bool) -> Iterator[Path]:
    """Yield a temporary directory that replaces ``target`` only if the block succeeds."""
    check_target(target, force)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
        umask = os.umask(0)
        os.umask(umask)
        work.chmod(0o777 & ~umask)  # mkdtemp makes it private; a bundle is an ordinary directory
    except OSError as exc:
        raise OutputError(f"cannot write to {str(target.parent)!r}: {exc.strerror or exc}") from exc
    try:
        yield work
        if target.exists():
            old = target.with_name(f".{target.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            target.rename(old)
            work.rename(target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            work.rename(target)
    finally:
        shutil.rmtree(work, ignore_errors=True)
