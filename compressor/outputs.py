"""Safe output files: written to a temporary file beside the target, then renamed.

A crash never leaves a half-written ``.eie``, report, plot or JSON behind, and an
existing output is never replaced unless the caller asked for it (``--force``).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from compressor.errors import EieInputError


def check_writable(path: str | os.PathLike, force: bool) -> Path:
    """Refuse to overwrite ``path`` unless ``force``; return it as a Path."""
    p = Path(path)
    if p.is_dir():
        raise EieInputError(f"{p}: is a directory; give a file path to write")
    if p.exists() and not force:
        raise EieInputError(f"{p}: already exists; pass --force to overwrite it")
    return p


def write_atomic(path: str | os.PathLike, data: bytes | str | Callable[[Path], None], *,
                 force: bool = False) -> Path:
    """Write ``data`` (bytes, text, or a function that writes a given path) atomically to ``path``."""
    p = check_writable(path, force)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent)
    tmp = Path(tmp_name)
    try:
        if callable(data):
            os.close(fd)
            data(tmp)
        else:
            with os.fdopen(fd, "wb") as f:
                f.write(data.encode() if isinstance(data, str) else data)
                f.flush()
                os.fsync(f.fileno())
        # mkstemp creates the file private (0600); a finished output gets the usual mode.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, p)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return p
