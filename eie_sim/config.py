"""The architecture configuration: one frozen dataclass, validated field by field.

Built at the boundary (CLI, TOML file, sweep) and passed down as explicit values;
no unit reads a module global, so a sweep over any field really changes the model.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

from compressor.errors import EieConfigError, EieFormatError

KB = 1024


@dataclass(frozen=True)
class SimConfig:
    """EIE's parameters (defaults: the paper's 64-PE design, ARCHITECTURE.md sections 4-5)."""

    n_pes: int = 64
    queue_depth: int = 8  # activation queue entries per PE
    clock_hz: float = 800e6
    regs: int = 64  # destination registers per PE (R): outputs per PE per round
    spmat_bytes: int = 128 * KB  # sparse-matrix SRAM per PE
    spmat_width_bits: int = 64  # bits per sparse-matrix SRAM word
    ptr_bytes: int = 64 * KB  # pointer SRAM per PE (two banks)
    ptr_bits: int = 18  # bits per column pointer
    act_bytes: int = 2 * KB  # activation SRAM per PE
    acc_bits: int = 16  # accumulator width, saturating
    dram_bytes_per_cycle: float = 16.0
    dram_latency_cycles: int = 100  # cycles per tile transfer
    dram_pj_per_bit: float = 20.0
    energy_table: str | None = None  # CSV of per-event energies; None = the packaged 45 nm table
    max_cycles: int = 10**12  # a run that reaches this many cycles stops with an error
    check: bool = False  # conservation checks after every layer (the tests switch them on)

    def __post_init__(self) -> None:
        for f in fields(self):
            _validate(f.name, getattr(self, f.name))
        if self.spmat_width_bits > self.spmat_bytes * 8:
            raise EieConfigError(f"spmat_width_bits = {self.spmat_width_bits} bits is wider than the whole "
                                 f"sparse-matrix SRAM ({self.spmat_bytes} bytes)")

    @property
    def lnzd_levels(self) -> int:
        """L = max(1, ceil(log4 N)): one cycle per level of the 4-ary LNZD tree."""
        levels, span = 0, 1
        while span < self.n_pes:
            span *= 4
            levels += 1
        return max(1, levels)

    @property
    def lnzd_nodes(self) -> int:
        """Nodes of the 4-ary tree over N PEs (64 PEs: 16 + 4 + 1 = 21)."""
        nodes, width = 0, self.n_pes
        for _ in range(self.lnzd_levels):
            width = -(-width // 4)
            nodes += width
        return nodes

    def replace(self, /, **changes: object) -> SimConfig:
        """A validated copy with some fields changed."""
        unknown = set(changes) - {f.name for f in fields(self)}
        if unknown:
            raise EieConfigError(f"unknown configuration field(s): {', '.join(sorted(unknown))}; "
                                 f"known: {', '.join(f.name for f in fields(self))}")
        return replace(self, **changes)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def from_toml(cls, path: str | Path, **overrides: object) -> SimConfig:
        """Load a TOML file whose keys are field names; ``overrides`` win over the file."""
        p = Path(path)
        try:
            with p.open("rb") as f:
                data = tomllib.load(f)
        except FileNotFoundError:
            raise EieConfigError(f"{p}: no such configuration file") from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
            raise EieFormatError(f"{p}: not valid TOML: {e}") from None
        except RecursionError:
            raise EieFormatError(f"{p}: not valid TOML: nested too deeply") from None
        except OSError as e:  # a directory, no permission
            raise EieConfigError(f"{p}: cannot read the configuration file ({e.strerror or e})") from None
        if not isinstance(data, dict):
            raise EieFormatError(f"{p}: top level must be a table")
        data = {k: v for k, v in data.items()}
        if "energy_table" in data and isinstance(data["energy_table"], str):
            # a relative table path is relative to the TOML file, not to the working directory
            try:
                data["energy_table"] = str((p.parent / data["energy_table"]).resolve())
            except (OSError, ValueError, RuntimeError) as e:  # a NUL byte; a symlink loop
                raise EieConfigError(f"{p}: energy_table = {data['energy_table']!r:.80} is not a "
                                     f"usable path ({e})") from None
        try:
            return cls().replace(**{**data, **overrides})
        except EieConfigError as e:
            raise EieConfigError(f"{p}: {e}") from None


# (type, lowest, highest) per field; every field is checked, and the message names the range.
_RANGES: dict[str, tuple[type, float, float]] = {
    "n_pes": (int, 1, 4096),
    "queue_depth": (int, 1, 4096),
    "clock_hz": (float, 1e6, 1e11),
    "regs": (int, 1, 65536),
    "spmat_bytes": (int, 1, 1 << 34),
    "spmat_width_bits": (int, 8, 4096),
    "ptr_bytes": (int, 1, 1 << 34),
    "ptr_bits": (int, 1, 48),
    "act_bytes": (int, 0, 1 << 34),
    "acc_bits": (int, 16, 48),
    "dram_bytes_per_cycle": (float, 1e-3, 1e6),
    "dram_latency_cycles": (int, 0, 10**7),
    "dram_pj_per_bit": (float, 0.0, 1e6),
    "max_cycles": (int, 1, 1 << 62),
}


def _validate(name: str, value: object) -> None:
    if name == "check":
        if not isinstance(value, bool):
            raise EieConfigError(f"check = {value!r} must be true or false")
        return
    if name == "energy_table":
        if value is not None and not (isinstance(value, str) and Path(value).is_file()):
            raise EieConfigError(f"energy_table = {value!r} must be the path of an existing CSV file")
        return
    typ, lo, hi = _RANGES[name]
    ok_type = (isinstance(value, int) and not isinstance(value, bool)) if typ is int else (
        isinstance(value, int | float) and not isinstance(value, bool))
    if not ok_type or (typ is float and not math.isfinite(value)) or not lo <= value <= hi:
        kind = "an integer" if typ is int else "a number"
        raise EieConfigError(f"{name} = {value!r} must be {kind} in {lo:g}..{hi:g}")
    if name == "spmat_width_bits" and value % 8:
        raise EieConfigError(f"spmat_width_bits = {value} must be a multiple of 8 bits")
