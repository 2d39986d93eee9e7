"""Safe output files: written to a temporary file beside the target, then renamed.

A crash never leaves a half-written ``.eie``, report, plot or JSON behind, and an
existing output is never replaced unless the caller asked for it (``--force``).
"""

from __future__ import annotations

import os
import re
import tempfile
import zlib
from collections.abc import Callable, Sequence
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


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
_MAX_STEM = 200  # below the usual 255-byte limit on a file name, leaving room for a suffix


def file_stems(names: Sequence[str]) -> dict[str, str]:
    """A file-name stem for each name: the name itself where it is safe on every file system
    (letters, digits, ``.``, ``_``, ``-``; dots kept, so ``encoder.layer.0.intermediate.dense``
    stays as it is), otherwise with each other character replaced by ``_``. Stems never start
    with a dot and are unique even on case-insensitive file systems (a clash gets ``-2``, ``-3``);
    an overlong name is shortened and given a checksum of the whole name."""
    out: dict[str, str] = {}
    taken: set[str] = set()
    for name in names:
        stem = _UNSAFE.sub("_", name)
        stem = "_" + stem[1:] if stem.startswith(".") else stem or "_"
        if len(stem) > _MAX_STEM:
            stem = f"{stem[:_MAX_STEM - 9]}-{zlib.crc32(name.encode()):08x}"
        base, k = stem, 1
        while stem.lower() in taken:
            k += 1
            stem = f"{base}-{k}"
        taken.add(stem.lower())
        out[name] = stem
    return out


def check_output_dir(path: str | os.PathLike, files: Sequence[str], force: bool, *, why: str = "") -> Path:
    """A directory to write ``files`` (names inside it) into: an existing non-directory is
    refused (the message adds ``why`` a directory is needed), and so is an existing file among
    ``files`` unless ``force``. Nothing is created."""
    d = Path(path)
    if d.exists() and not d.is_dir():
        why = why or "the outputs go into a directory"
        raise EieInputError(f"{d}: exists and is not a directory; {why}: give a new or existing directory")
    for name in files:
        check_writable(d / name, force)
    return d
