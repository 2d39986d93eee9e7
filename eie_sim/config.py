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
MHZ = 1e6

#: Cycles from the last issued entry's column end (and the scan's end) to the layer's end:
#: the arithmetic pipeline drains and the destination registers are written back
#: (contract section 4, "End"; the EIE authors' count is the last kept entry's cycle + 6).
DRAIN_CYCLES = 5


def pointer_read_cycles(ptr_banks: int) -> int:
    """Cycles to read a column's two pointers: one with two banks (p_j and p_j+1 at once), two with one."""
    return 1 if ptr_banks == 2 else 2


@dataclass(frozen=True)
class SimConfig:
    """EIE's parameters (defaults: the paper's 64-PE design, docs/ARCHITECTURE.md sections 4-5)."""

    n_pes: int = 64
    queue_depth: int = 8  # activations a PE's queue holds (the paper's "FIFO depth")
    broadcast_latency: int = 2  # cycles from a broadcast until the PEs can pop it
    ptr_banks: int = 2  # pointer SRAM banks: 2 reads p_j and p_j+1 in one cycle, 1 takes two
    bypass: bool = True  # forward back-to-back updates of a register; off: stall on hazards
    acc_latency: int = 2  # cycles between two updates of one register without bypass
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
    def ptr_read_cycles(self) -> int:
        """P: cycles a PE spends reading a column's two pointers (one per bank)."""
        return pointer_read_cycles(self.ptr_banks)

    @property
    def lnzd_nodes(self) -> int:
        """Nodes of the 4-ary LNZD tree with one leaf per PE (64 PEs: 16 + 4 + 1 = 21)."""
        nodes, width = 0, self.n_pes
        while True:
            width = -(-width // 4)
            nodes += width
            if width == 1:
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
        """Load a TOML file; ``overrides`` (field names, field units) win over the file.

        Keys are the command line's flag names in the flags' units (``spmat_kb = 128``,
        ``clock_mhz = 800``, ``bypass = false``) or SimConfig field names in theirs
        (``spmat_bytes = 131072``); naming one field both ways is an error.
        """
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
        data = _toml_fields(p, data)
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
    "broadcast_latency": (int, 1, 64),
    "ptr_banks": (int, 1, 2),
    "acc_latency": (int, 1, 64),
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
    if name in ("check", "bypass"):
        if not isinstance(value, bool):
            raise EieConfigError(f"{name} = {value!r} must be true or false")
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


@dataclass(frozen=True)
class ArchFlag:
    """A SimConfig field as the command line and TOML files spell it: a name, a unit, a scale."""

    name: str  # the flag (--spmat-kb) and TOML key (spmat_kb)
    field: str  # the SimConfig field
    unit: str  # of the flag's value; "" for plain counts
    help: str
    scale: float = 1  # field value = flag value x scale

    @property
    def option(self) -> str:
        return "--" + self.name.replace("_", "-")

    def to_field(self, value: object) -> object:
        """A value given in the flag's unit (command-line text or a TOML value) as the field's,
        range-checked: the message names the flag and the field."""
        out = self._convert(value)
        try:
            _validate(self.field, out)
        except EieConfigError as e:
            raise EieConfigError(f"{self.option} {value}: {e}") from None
        return out

    def _convert(self, value: object) -> object:
        where = f"{self.option} {value!r}"
        kind = _RANGES.get(self.field, (None,))[0]
        if self.field in ("bypass", "check"):
            if isinstance(value, bool):
                return value
            word = str(value).strip().lower()
            if word not in _BOOLEANS:
                raise EieConfigError(f"{where}: must be on or off")
            return _BOOLEANS[word]
        if kind is None:  # a path
            return str(value)
        if isinstance(value, bool):
            raise EieConfigError(f"{where}: must be a number")
        try:
            number = float(value) if isinstance(value, str) else value
        except ValueError:
            raise EieConfigError(f"{where}: not a valid (finite) number") from None
        if not isinstance(number, int | float) or not math.isfinite(number):
            raise EieConfigError(f"{where}: not a valid (finite) number")
        scaled = number * self.scale
        if kind is int:
            if scaled != int(scaled):
                whole = "a whole number" + (f" of {self.field.rsplit('_', 1)[-1]}" if self.scale != 1 else "")
                raise EieConfigError(f"{where}: must be {whole}")
            return int(scaled)
        return float(scaled)

    def from_field(self, value: object) -> object:
        """The field's value in the flag's unit, for printing."""
        if isinstance(value, bool) or value is None or isinstance(value, str):
            return {True: "on", False: "off"}.get(value, value) if isinstance(value, bool) else value
        shown = value / self.scale
        return int(shown) if float(shown).is_integer() else shown


_BOOLEANS = {"on": True, "off": False, "true": True, "false": False, "yes": True, "no": False,
             "1": True, "0": False}

#: Every SimConfig field, as the command line and TOML files spell it, in printing order.
ARCH_FLAGS: tuple[ArchFlag, ...] = (
    ArchFlag("pes", "n_pes", "", "processing elements N"),
    ArchFlag("fifo", "queue_depth", "activations", "activation queue depth Q (the paper's FIFO depth)"),
    ArchFlag("broadcast_latency", "broadcast_latency", "cycles", "cycles from a broadcast to a pop"),
    ArchFlag("ptr_banks", "ptr_banks", "", "pointer SRAM banks, 1 or 2 (2 reads both pointers at once)"),
    ArchFlag("bypass", "bypass", "", "forward back-to-back register updates (on/off)"),
    ArchFlag("acc_latency", "acc_latency", "cycles", "cycles between updates of a register, bypass off"),
    ArchFlag("regs", "regs", "", "destination registers per PE (R, outputs per round)"),
    ArchFlag("spmat_kb", "spmat_bytes", "KB", "sparse-matrix SRAM per PE", KB),
    ArchFlag("spmat_width", "spmat_width_bits", "bits", "sparse-matrix SRAM word width"),
    ArchFlag("ptr_kb", "ptr_bytes", "KB", "pointer SRAM per PE", KB),
    ArchFlag("ptr_bits", "ptr_bits", "bits", "bits per column pointer"),
    ArchFlag("act_kb", "act_bytes", "KB", "activation SRAM per PE", KB),
    ArchFlag("acc_bits", "acc_bits", "bits", "accumulator width"),
    ArchFlag("clock_mhz", "clock_hz", "MHz", "clock", MHZ),
    ArchFlag("dram_bw", "dram_bytes_per_cycle", "bytes/cycle", "DRAM bandwidth"),
    ArchFlag("dram_latency", "dram_latency_cycles", "cycles", "DRAM latency per tile"),
    ArchFlag("dram_pj_per_bit", "dram_pj_per_bit", "pJ/bit", "DRAM energy"),
    ArchFlag("energy_table", "energy_table", "", "CSV of per-event energies"),
    ArchFlag("max_cycles", "max_cycles", "cycles", "stop a run with an error after this many cycles"),
    ArchFlag("check", "check", "", "run the conservation checks after each layer"),
)
FLAG_BY_NAME = {f.name: f for f in ARCH_FLAGS}
FLAG_BY_FIELD = {f.field: f for f in ARCH_FLAGS}


def _toml_fields(path: Path, data: dict[str, object]) -> dict[str, object]:
    """TOML keys (flag names in their units, or field names) as SimConfig fields."""
    out: dict[str, object] = {}
    for key, value in data.items():
        flag = FLAG_BY_NAME.get(key)
        if flag is not None and flag.name != flag.field:
            field, value = flag.field, _from_toml(path, flag, value)
        else:
            field = key
        if field in out:
            raise EieConfigError(f"{path}: {field} is given twice ({FLAG_BY_FIELD[field].name} and "
                                 f"{field}); keep one")
        out[field] = value
    return out


def _from_toml(path: Path, flag: ArchFlag, value: object) -> object:
    if isinstance(value, str) and flag.field != "energy_table":
        raise EieConfigError(f"{path}: {flag.name} = {value!r} must be a "
                             + ("boolean" if flag.field == "bypass" else f"number ({flag.unit or 'count'})"))
    try:
        return flag.to_field(value)
    except EieConfigError as e:
        raise EieConfigError(f"{path}: {flag.name}: {str(e).split(': ', 1)[-1]}") from None


def format_config(config: SimConfig) -> list[str]:
    """The configuration as the command line spells it: ``--flag value unit`` per line."""
    lines = []
    for flag in ARCH_FLAGS:
        value = flag.from_field(getattr(config, flag.field))
        unit = f" {flag.unit}" if flag.unit and value is not None else ""
        lines.append(f"  {flag.option:22s} {'packaged 45 nm table' if value is None else value}{unit}")
    return lines
