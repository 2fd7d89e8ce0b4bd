"""
Atomic file writes: a crash or Ctrl-C leaves either the old file or the new one, never half of one.
"""

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w") -> Iterator[IO]:
    """
    Open a temporary file next to ``path``; on success it replaces ``path`` (``os.replace``), on error it is removed.

    :param path: the destination file; its directory is created if missing
    :param mode: ``"w"`` (text, UTF-8) or ``"wb"``
    :return: a context manager yielding the open temporary file
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"mode must be 'w' or 'wb', got {mode!r}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode, **({"encoding": "utf-8", "newline": ""} if mode == "w" else {})) as file:
            yield file
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def write_atomic(path: str | os.PathLike, text: str) -> None:
    """
    Write ``text`` to ``path`` atomically.

    :param path: the destination file
    :param text: its content
    """
    with atomic_open(path) as file:
        file.write(text)
