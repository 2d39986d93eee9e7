"""The machine's configuration: one frozen dataclass, assembled from the units' own fields.

Every field is declared by the unit that owns it (``FIELDS`` in each module of
``eie_sim/units``, plus the run settings below); :data:`SimConfig` is built from those
declarations, so a knob a unit adds is a configuration field, a flag, a TOML key, a sweep
column and a plot label at once. Configurations are built at the boundary (command line,
TOML file, sweep) and passed down; no unit reads a module global, so a sweep over any
field really changes the model.
"""

from __future__ import annotations

import difflib
import tomllib
from collections import namedtuple
from dataclasses import asdict, dataclass, make_dataclass, replace
from dataclasses import field as dataclass_field
from pathlib import Path

from compressor.errors import EieConfigError, EieFormatError
from eie_sim.fields import Field
from eie_sim.units import MODULES

KB = 1024

#: Settings of a run rather than of a unit.
RUN_FIELDS = (
    Field("energy_table", None, str, "energy table", "CSV of per-event energies (docs/ENERGY.md)",
          optional=True, none_text="the packaged 45 nm table", file_kind="CSV", sweepable=False),
    Field("max_cycles", 10**12, int, "cycle limit", "stop a run with an error after this many cycles",
          unit="cycles", lo=1, hi=1 << 62, sweepable=False, affects_results=False),
    Field("check", False, bool, "conservation checks", "run the conservation checks after each job",
          sweepable=False, affects_results=False),
)


def _gather() -> tuple[Field, ...]:
    out: list[Field] = []
    for module in MODULES:
        out += [replace(f, owner=module.NAME) for f in module.FIELDS]
    out += [replace(f, owner="run") for f in RUN_FIELDS]
    names = [f.name for f in out] + [f.flag for f in out if f.flag]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise RuntimeError(f"configuration names declared twice: {', '.join(twice)}")
    return tuple(out)


#: Every field, in printing order: the units' (array, CCU, queue, ... DRAM), then the run's.
FIELDS: tuple[Field, ...] = _gather()
FIELD: dict[str, Field] = {f.name: f for f in FIELDS}
#: Fields by their flag / TOML name (``spmat_kb``), which is the field's name unless it differs.
FLAG: dict[str, Field] = {f.flag_name: f for f in FIELDS}
#: (type, lowest, highest) of every field with a range (for fuzzers and tests).
RANGES: dict[str, tuple[type, float, float]] = {
    f.name: (f.kind, f.lo, f.hi) for f in FIELDS if f.lo is not None}


@dataclass(frozen=True)
class _Config:
    """Methods of :data:`SimConfig` (its fields come from the units' declarations)."""

    def __post_init__(self) -> None:
        for f in FIELDS:
            f.check(getattr(self, f.name))
        for module in MODULES:
            rule = getattr(module, "check", None)
            problem = rule(self) if rule is not None else None
            if problem:
                raise EieConfigError(problem)

    def replace(self, /, **changes: object) -> SimConfig:
        """A validated copy with some fields changed."""
        unknown = [k for k in changes if k not in FIELD]
        if unknown:
            raise EieConfigError(f"unknown configuration field {unknown[0]!r}{_did_you_mean(unknown[0])}; "
                                 f"fields: {', '.join(FIELD)}")
        return replace(self, **changes)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def from_toml(cls, path: str | Path, **overrides: object) -> SimConfig:
        """Load a TOML file; ``overrides`` (field names, field units) win over the file.

        Keys are the command line's flag names in the flags' units (``spmat_kb = 128``,
        ``clock_mhz = 800``, ``bypass = false``) or field names in theirs
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
        values = toml_fields(p, data)
        if isinstance(values.get("energy_table"), str):
            # a relative table path is relative to the TOML file, not to the working directory
            try:
                values["energy_table"] = str((p.parent / values["energy_table"]).resolve())
            except (OSError, ValueError, RuntimeError) as e:  # a NUL byte; a symlink loop
                raise EieConfigError(f"{p}: energy_table = {values['energy_table']!r:.80} is not a "
                                     f"usable path ({e})") from None
        try:
            return cls().replace(**{**values, **overrides})
        except EieConfigError as e:
            raise EieConfigError(f"{p}: {e}") from None


SimConfig = make_dataclass(
    "SimConfig", [(f.name, f.kind if not f.optional else f.kind | None, dataclass_field(default=f.default))
                  for f in FIELDS], bases=(_Config,), frozen=True)
SimConfig.__module__ = __name__
SimConfig.__doc__ = ("EIE's parameters; the defaults are the paper's 64-PE design (docs/ARCHITECTURE.md, "
                     "'Configuration reference'). Fields: " + ", ".join(f.name for f in FIELDS) + ".")

#: The numeric and boolean fields, as the fast engine's compiled rules read them (``knobs.queue_depth``).
Knobs = namedtuple("Knobs", [f.name for f in FIELDS if f.kind in (int, float, bool)])
Knobs.__module__ = __name__


def knobs(config: SimConfig) -> Knobs:
    """The configuration as the tuple the fast engine's rule functions take."""
    return Knobs(*(getattr(config, name) for name in Knobs._fields))


def _did_you_mean(name: str) -> str:
    close = difflib.get_close_matches(name, [*FIELD, *FLAG], n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def toml_fields(path: Path, data: dict[str, object]) -> dict[str, object]:
    """TOML keys (flag names in the flags' units, or field names) as SimConfig fields."""
    out: dict[str, object] = {}
    for key, value in data.items():
        flag = FLAG.get(key)
        if flag is not None and flag.flag_name != flag.name:
            name, value = flag.name, _from_toml(path, flag, value)
        elif key in FIELD:
            name = key
        else:
            raise EieConfigError(
                f"{path}: unknown key {key!r}{_did_you_mean(key)}; keys are the flags' names in their "
                f"units ({', '.join(FLAG)}) or the fields' names in theirs ({', '.join(FIELD)})")
        if name in out:
            raise EieConfigError(f"{path}: {name} is given twice ({FIELD[name].flag_name} and {name}); "
                                 "keep one")
        out[name] = value
    return out


def _from_toml(path: Path, flag: Field, value: object) -> object:
    if isinstance(value, str) and flag.kind is not str:
        raise EieConfigError(f"{path}: {flag.flag_name} = {value!r} must be a "
                             + ("boolean" if flag.kind is bool else f"number ({flag.shown_unit or 'count'})"))
    try:
        return flag.from_flag(value)
    except EieConfigError as e:
        raise EieConfigError(f"{path}: {flag.flag_name}: {str(e).split(': ', 1)[-1]}") from None


def format_config(config: SimConfig, swept: dict[str, list[object]] | None = None) -> list[str]:
    """The configuration as the command line spells it: ``--flag value unit`` per line; swept
    fields list their values."""
    lines = []
    for f in FIELDS:
        if swept and f.name in swept:
            values = ", ".join(str(f.to_flag(v)) for v in swept[f.name])
            lines.append(f"  {f.option:22s} {values}" + (f" {f.shown_unit}" if f.shown_unit else "")
                         + "  (swept)")
        else:
            lines.append(f"  {f.option:22s} {f.describe(getattr(config, f.name))}")
    return lines


def _number(v: float) -> str:
    """A range bound as people write it: 2^34 rather than 17179869184."""
    if float(v).is_integer() and v >= 1 << 20 and (int(v) & (int(v) - 1)) == 0:
        return f"2^{int(v).bit_length() - 1}"
    return f"{v:g}"


def _range_text(f: Field) -> str:
    """A field's allowed values, in the field's unit."""
    if f.kind is bool:
        return "on / off"
    if f.kind is str and not f.choices:
        return f"an existing {f.file_kind} file"
    if f.choices:
        return " or ".join(map(str, f.choices))
    if f.lo is None:
        return ""
    text = f"{_number(f.lo)} .. {_number(f.hi)}"
    return text + (f", a multiple of {f.multiple_of}" if f.multiple_of > 1 else "")


def config_reference() -> str:
    """The configuration reference of docs/ARCHITECTURE.md, from the fields' declarations: each
    field's owner, unit, range, default and flag (in the flag's unit), and its TOML keys."""
    rows = ["| field | owner | unit | range | flag | default | TOML keys | what |",
            "|---|---|---|---|---|---|---|---|"]
    for f in FIELDS:
        keys = ", ".join(f"`{k}`" for k in dict.fromkeys((f.flag_name, f.name)))
        rows.append(f"| `{f.name}` | {f.owner} | {f.unit} | {_range_text(f)} | `{f.option}` | "
                    f"{f.describe(f.default)} | {keys} | {f.help} |")
    return "\n".join(rows) + "\n"

