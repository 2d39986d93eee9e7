"""Where numba keeps the compiled kernels: one directory per version of the sources.

numba invalidates a cached function when its own source file changes, not when a function it
inlines from another file does, and the fast engine composes rules that live in the units'
modules. Keying the cache directory by a hash of every source file of both packages means a
rule edited in its unit's module is always recompiled (and a mutant in a copy of the sources
never reads a stale kernel). Set before numba is imported, through ``NUMBA_CACHE_DIR``, so
that importing the packages does not import numba.
"""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("compressor", "eie_sim")


def sources_hash() -> str:
    """A short hash of every Python source of both packages (path and content)."""
    h = hashlib.sha256()
    for pkg in PACKAGES:
        for f in sorted((ROOT / pkg).rglob("*.py")):
            h.update(f.relative_to(ROOT).as_posix().encode())
            h.update(f.read_bytes())
    return h.hexdigest()[:16]


def configure() -> Path:
    """Point numba's cache at ``<base>/<sources hash>``: ``<base>`` is ``$EIE_SIM_NUMBA_CACHE``, or
    ``$XDG_CACHE_HOME/eie-sim/numba`` (``~/.cache/eie-sim/numba``)."""
    base = os.environ.get("EIE_SIM_NUMBA_CACHE") or Path(
        os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "eie-sim" / "numba"
    path = Path(base) / sources_hash()
    os.environ["NUMBA_CACHE_DIR"] = str(path)
    numba = sys.modules.get("numba")
    if numba is not None:  # imported before us: its configuration is already read
        numba.config.CACHE_DIR = str(path)
    return path
