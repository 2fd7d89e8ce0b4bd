"""
Atomic file writes: a crash or Ctrl-C leaves either the old file or the new one, never half of one.
"""

import contextlib
import errno
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO


def _umask() -> int:
    mask = os.umask(0)  # the only way to read the umask is to set it
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w") -> Iterator[IO]:
    """
    Open a temporary file next to ``path``; on success it replaces ``path`` (``os.replace``), on error it is removed.

    The file gets the permissions of a file created by ``open`` (0666 less the process's umask), not the 0600 of
    ``tempfile.mkstemp``.

    :param path: the destination file; its directory is created if missing
    :param mode: ``"w"`` (text, UTF-8) or ``"wb"``
    :return: a context manager yielding the open temporary file
    :raises OSError: naming ``path`` (not the temporary file), e.g. ``IsADirectoryError`` when it is a directory
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"mode must be 'w' or 'wb', got {mode!r}")
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(path))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as error:
        raise OSError(error.errno, error.strerror, str(path)) from error
    try:
        os.chmod(tmp, 0o666 & ~_umask())
        with os.fdopen(fd, mode, **({"encoding": "utf-8", "newline": ""} if mode == "w" else {})) as file:
            yield file
        os.replace(tmp, path)
    except OSError as error:
        os.unlink(tmp)
        raise OSError(error.errno, error.strerror, str(path)) from error
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
