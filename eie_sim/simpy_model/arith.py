"""The arithmetic unit: codebook lookup, 16-bit multiply, saturating accumulate, bypass or stall."""

from __future__ import annotations

from eie_sim.functional import mac
from eie_sim.simpy_model.act_rw import DestinationRegisters

_NEVER = -(1 << 40)


class ArithmeticUnit:
    """Issues one entry per cycle into the destination registers.

    For each ``(v, z)`` it finds the destination register by accumulating ``z + 1``,
    decodes ``v`` through the codebook, multiplies by the column's activation and
    accumulates with saturation (:func:`eie_sim.functional.mac`). Padding (``v = 0``)
    takes its cycle with the register write disabled. With ``bypass`` the adder output
    is forwarded when a column's first kept entry hits the register the previous
    column's last entry updated in the cycle before (counted); without it, an update
    waits until ``acc_latency`` cycles after the register's previous update (in order).
    """

    def __init__(self, *, registers: DestinationRegisters, bypass: bool, acc_latency: int,
                 acc_limits: tuple[int, int]) -> None:
        # interface: the destination registers of activation read/write
        self.registers = registers
        self.bypass = bypass
        self.acc_latency = acc_latency
        self.lo, self.hi = acc_limits
        self.codebook: list[int] = []
        self.fw = 0
        self._history: dict[int, int] = {}  # register -> cycle of its last update
        self._last_reg = -1
        self._last_cycle = _NEVER
        # counters
        self.entries = 0
        self.kept = 0
        self.bypasses = 0

    def load(self, codebook_fix: list[int], fw: int) -> None:
        """The layer's codebook, in Q(15-fw).fw."""
        self.codebook = codebook_fix
        self.fw = fw

    def forget(self) -> None:
        """A new round or tile: no update of the past can be forwarded or collide."""
        self._history = {}
        self._last_cycle = _NEVER

    def column(self, entries: list[tuple[int, int]], activation: int, start: int) -> int:
        """Issue a column's entries from cycle ``start``; returns cycles until its last issue ends."""
        values = self.registers.values
        codebook, fw, lo, hi = self.codebook, self.fw, self.lo, self.hi
        history, latency = self._history, self.acc_latency
        reg = -1
        issue = start - 1
        kept = 0
        for v, z in entries:
            reg += z + 1
            issue += 1
            if v:
                if self.bypass:
                    if kept == 0 and issue == self._last_cycle + 1 and reg == self._last_reg:
                        self.bypasses += 1
                else:
                    ready = history.get(reg, _NEVER) + latency
                    if ready > issue:
                        issue = ready
                    history[reg] = issue
                values[reg] = mac(values[reg], codebook[v], activation, fw, lo, hi)
                kept += 1
        # a slice never ends in padding, so its last entry is the last kept update
        self._last_reg, self._last_cycle = reg, issue
        self.entries += len(entries)
        self.kept += kept
        self.registers.accessed(kept)
        return issue + 1 - start
