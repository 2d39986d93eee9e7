"""Event counts keyed by (unit, action): what the energy step multiplies by energy per event.

Units count their own events; this object only holds and adds them (Accelergy's
"action counts"). Traces are kept apart from counters.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

#: Table II's per-PE units, in its order; the only units with a static term and an area.
PE_UNITS: tuple[str, ...] = ("act_queue", "ptr_read", "spmat_read", "arith", "act_rw")
#: Units of an energy breakdown: Table II's five, then the chip-level LNZD tree and DRAM.
UNITS: tuple[str, ...] = (*PE_UNITS, "lnzd", "dram")

#: Every (unit, action) an engine may report, in report order. Energy tables price these.
EVENTS: tuple[tuple[str, str], ...] = (
    ("act_queue", "push"),
    ("act_queue", "pop"),
    ("ptr_read", "read"),            # per item per PE: one access of both banks (two of one bank)
    ("spmat_read", "word_read"),
    ("arith", "codebook_read"),
    ("arith", "multiply"),
    ("arith", "add"),
    ("act_rw", "dest_read"),         # per kept entry (padding flows through, write disabled)
    ("act_rw", "dest_write"),
    ("act_rw", "src_read"),          # LNZD scan of the source registers
    ("act_rw", "sram_read"),         # activation SRAM -> source registers
    ("act_rw", "sram_write"),        # write-back to the activation SRAM
    ("lnzd", "node_cycle"),
    ("dram", "bit"),
    ("pe", "cycle"),                 # PE-cycles: the static (clock and leakage) term
)
_KNOWN = frozenset(EVENTS)


@dataclass
class Counts:
    """A multiset of events; adding two Counts adds per key."""

    n: dict[tuple[str, str], int] = field(default_factory=dict)

    def add(self, unit: str, action: str, count: int = 1) -> None:
        key = (unit, action)
        if key not in _KNOWN:
            raise KeyError(f"unknown event {key}; known events are listed in eie_sim.counts.EVENTS")
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
        return ((key, self.n.get(key, 0)) for key in EVENTS)

    def to_dict(self) -> dict[str, int]:
        return {f"{unit}.{action}": c for (unit, action), c in self.items()}

    @classmethod
    def from_mapping(cls, m: Mapping[tuple[str, str], int]) -> Counts:
        out = cls()
        for (unit, action), c in m.items():
            out.add(unit, action, c)
        return out
