"""Event counts keyed by (unit, action): what the energy step multiplies by energy per event.

Units count their own events (each unit's module declares them, :data:`eie_sim.units.EVENTS`
lists them all); this object only holds and adds them (Accelergy's "action counts"). Traces
are kept apart from counters.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache


@cache
def known_events() -> tuple[tuple[str, str], ...]:
    """Every (unit, action) the units declare, in report order."""
    from eie_sim.units import EVENTS

    return EVENTS


@dataclass
class Counts:
    """A multiset of events; adding two Counts adds per key."""

    n: dict[tuple[str, str], int] = field(default_factory=dict)

    def add(self, unit: str, action: str, count: int = 1) -> None:
        key = (unit, action)
        if key not in known_events():
            raise KeyError(f"unknown event {key}; the units declare {', '.join(map(str, known_events()))}")
        self.n[key] = self.n.get(key, 0) + int(count)

    def __getitem__(self, key: tuple[str, str]) -> int:
        return self.n.get(key, 0)

    def __iadd__(self, other: Counts) -> Counts:
        for (unit, action), c in other.n.items():
            self.add(unit, action, c)
        return self

    @staticmethod
    def total(parts: Iterable[Counts]) -> Counts:
        out = Counts()
        for p in parts:
            out += p
        return out

    def items(self) -> Iterable[tuple[tuple[str, str], int]]:
        """Known events in report order, zeros included, so that tables have fixed columns."""
        return ((key, self.n.get(key, 0)) for key in known_events())

    def to_dict(self) -> dict[str, int]:
        return {f"{unit}.{action}": c for (unit, action), c in self.items()}

    @classmethod
    def from_mapping(cls, m: Mapping[tuple[str, str], int]) -> Counts:
        out = cls()
        for (unit, action), c in m.items():
            out.add(unit, action, c)
        return out
