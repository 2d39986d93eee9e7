"""Provenance carried by every file and result (docs/ARCHITECTURE.md section 8)."""

from __future__ import annotations

import subprocess
from functools import cache
from importlib import metadata
from pathlib import Path

#: Version of the modelling contract (docs/ARCHITECTURE.md) that every engine implements.
#: Bump it, and argue the change in docs/ARCHITECTURE.md, whenever the modelled behaviour
#: changes. Version 2 (the EIE authors' RTL-derived timing) changed timing, not the encoding.
CONTRACT_VERSION = 3


@cache
def package_version() -> str:
    try:
        return metadata.version("eie-sim")
    except metadata.PackageNotFoundError:  # running from a source tree without install
        return "unknown"


@cache
def git_commit() -> str | None:
    """The commit of the source tree this package runs from, when it is a git checkout."""
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True,
                             text=True, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def provenance(**extra: object) -> dict[str, object]:
    """Contract version, package version, git commit, plus the caller's fields (config, seeds)."""
    return {"contract_version": CONTRACT_VERSION, "package_version": package_version(),
            "git_commit": git_commit(), **extra}
