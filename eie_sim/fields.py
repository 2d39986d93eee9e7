"""A configuration field, declared once by the unit that owns it.

Each hardware unit's module (``eie_sim/units/``) lists its :class:`Field` s: name,
default, range, unit, label and command-line flag. Everything that shows or reads a
configuration takes them from there: :class:`eie_sim.config.SimConfig` (its fields
and their checks), the command line's flags and help, TOML files, the printed
configuration, sweep columns and plot labels. A knob added to a unit's list is
therefore a flag, a TOML key, a sweep column and an axis label at once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from compressor.errors import EieConfigError

#: The words that mean true and false, on the command line, in TOML files and in ``--where``.
TRUE_WORDS = ("on", "true", "yes", "1")
FALSE_WORDS = ("off", "false", "no", "0")


def parse_bool(value: object, where: str) -> bool:
    """``value`` as a boolean: a bool, or one of the on/off words (any case); else an error
    naming ``where``."""
    if isinstance(value, bool):
        return value
    word = str(value).strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise EieConfigError(f"{where}: must be on or off (also {'/'.join(TRUE_WORDS[1:])} or "
                         f"{'/'.join(FALSE_WORDS[1:])})")


@dataclass(frozen=True)
class Field:
    """One configuration field of the machine.

    The field's value is in ``unit``; its flag (``--<flag>``, also a TOML key) may be in another
    unit, ``flag_unit``, with ``value = flag value x scale`` (``--spmat-kb 128`` is 131072 bytes).
    """

    name: str
    default: object
    kind: type  # int, float, bool, or str (a path, or one of ``choices``)
    label: str  # what it is, for axis labels and tables ("pointer SRAM banks")
    help: str  # one line for --help
    unit: str = ""  # of the field's value: bytes, bits, cycles, Hz, ...; "" for plain counts
    lo: float | None = None
    hi: float | None = None
    choices: tuple[object, ...] = ()
    multiple_of: int = 1
    flag: str | None = None  # the flag and TOML name when it differs from the field's name
    flag_unit: str | None = None  # the flag's unit when it differs from the field's
    scale: float = 1.0
    optional: bool = False  # None is allowed (the packaged energy table)
    none_text: str = "none"  # how None is shown
    file_kind: str = ""  # a path field: what the file is (CSV)
    sweepable: bool = True  # a sweep may take a list of values
    affects_results: bool = True  # False: a run's figures do not depend on it (a cycle limit)
    owner: str = ""  # the unit that declares it (filled in when units are gathered)

    # --- names and units

    @property
    def flag_name(self) -> str:
        """The flag and TOML key, with underscores (``spmat_kb``)."""
        return self.flag or self.name

    @property
    def option(self) -> str:
        """The command-line option (``--spmat-kb``)."""
        return "--" + self.flag_name.replace("_", "-")

    @property
    def shown_unit(self) -> str:
        """The unit values are shown and given in on the command line."""
        return self.unit if self.flag_unit is None else self.flag_unit

    @property
    def axis_label(self) -> str:
        """Label for a plot axis or a table column of this field's values (in the field's unit)."""
        return f"{self.label} ({self.unit})" if self.unit else self.label

    # --- values

    def check(self, value: object) -> None:
        """Raise EieConfigError naming the field when ``value`` is not allowed."""
        if value is None and self.optional:
            return
        if self.kind is bool:
            if not isinstance(value, bool):
                raise EieConfigError(f"{self.name} = {value!r} must be true or false")
            return
        if self.kind is str and self.choices:
            if value not in self.choices:
                raise EieConfigError(f"{self.name} = {value!r} must be one of {', '.join(self.choices)}")
            return
        if self.kind is str:
            if not (isinstance(value, str) and Path(value).is_file()):
                raise EieConfigError(f"{self.name} = {value!r} must be the path of an existing "
                                     f"{self.file_kind} file")
            return
        is_int = isinstance(value, int) and not isinstance(value, bool)
        ok = is_int if self.kind is int else (
            isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value))
        if self.choices and value not in self.choices:
            raise EieConfigError(f"{self.name} = {value!r} must be one of "
                                 f"{', '.join(map(str, self.choices))}")
        if not ok or (self.lo is not None and value < self.lo) or (self.hi is not None and value > self.hi):
            raise EieConfigError(f"{self.name} = {value!r} must be {self._range()}")
        if self.multiple_of > 1 and value % self.multiple_of:
            raise EieConfigError(f"{self.name} = {value} must be a multiple of {self.multiple_of}"
                                 + (f" {self.unit}" if self.unit else ""))

    def _range(self, *, in_flag_unit: bool = False) -> str:
        """``an integer in 1..1024 KB``: the allowed range, in the field's or the flag's unit."""
        kind = "an integer" if self.kind is int else "a number"
        scale, unit = (self.scale, self.shown_unit) if in_flag_unit else (1.0, self.unit)
        lo = "" if self.lo is None else f"{self.lo / scale:g}"
        hi = "" if self.hi is None else f"{self.hi / scale:g}"
        if in_flag_unit and self.kind is int and scale != 1:
            kind = "a number"  # 0.5 KB is a whole number of bytes
        return f"{kind} in {lo}..{hi}" + (f" {unit}" if unit else "")

    def from_flag(self, value: object) -> object:
        """A value given in the flag's unit (command-line text or a TOML value) as the field's value,
        checked; errors name the option."""
        where = f"{self.option} {value!r}"
        if self.kind is bool:
            out: object = parse_bool(value, where)
        elif self.kind is str:
            out = str(value)
        else:
            if isinstance(value, bool):
                raise EieConfigError(f"{where}: must be a number")
            try:
                number = float(value) if isinstance(value, str) else value
            except ValueError:
                raise EieConfigError(f"{where}: not a valid (finite) number") from None
            if not isinstance(number, int | float) or not math.isfinite(number):
                raise EieConfigError(f"{where}: not a valid (finite) number")
            scaled = number * self.scale
            if self.kind is int:
                if scaled != int(scaled):
                    whole = "a whole number" + (f" of {self.unit}" if self.scale != 1 else "")
                    raise EieConfigError(f"{where}: must be {whole}")
                out = int(scaled)
            else:
                out = float(scaled)
        if (self.kind in (int, float) and not self.choices and self.flag_unit is not None
                and ((self.lo is not None and out < self.lo) or (self.hi is not None and out > self.hi))):
            # in the unit the user typed: "--clock-mhz 0: must be a number in 1..100000 MHz", not
            # the field's Hz (a flag in the field's own unit keeps the field's message below)
            raise EieConfigError(f"{self.option} {value}: must be {self._range(in_flag_unit=True)}")
        try:
            self.check(out)
        except EieConfigError as e:
            raise EieConfigError(f"{self.option} {value}: {e}") from None
        return out

    def to_flag(self, value: object) -> object:
        """The field's value in the flag's unit, for printing (booleans as on / off)."""
        if isinstance(value, bool):
            return "on" if value else "off"
        if value is None or isinstance(value, str):
            return value
        shown = value / self.scale
        return int(shown) if float(shown).is_integer() else shown

    def describe(self, value: object) -> str:
        """``value`` as the command line spells it, with the unit: ``128 KB``, ``on``."""
        shown = self.to_flag(value)
        if shown is None:
            return self.none_text
        unit = self.shown_unit
        return f"{shown} {unit}" if unit and not isinstance(value, bool | str) else str(shown)


@dataclass(frozen=True)
class Event:
    """An action of a unit that energy is charged for: counted by the unit, priced by the table."""

    action: str
    what: str  # when it is counted
