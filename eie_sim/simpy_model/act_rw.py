"""Activation read/write: source and destination registers, the activation SRAM, write-back."""

from __future__ import annotations

import numpy as np

from eie_sim.functional import write_back


class ActivationReadWrite:
    """Holds the PE's slice of the layer input and its local outputs.

    Inputs ``j`` with ``j mod N = p`` and outputs ``i`` with ``i mod N = p`` live
    here, so a layer's outputs are already in place as the next layer's inputs.
    """

    def __init__(self) -> None:
        self.source = np.zeros(0, np.int64)  # this PE's input slice (activation SRAM)
        self.output = np.zeros(0, np.int64)
        self.dest = np.zeros(0, np.int64)  # destination registers of the current round
        self.regs = 0
        self.relu = False
        self.round = -1
        self.written: set[int] = set()
        self.dest_reads = self.dest_writes = 0
        self.sram_reads = self.sram_writes = 0

    def load_input(self, values: np.ndarray) -> None:
        self.source = np.asarray(values, np.int64)

    def start_layer(self, *, n_outputs: int, regs: int, relu: bool) -> None:
        self.output = np.zeros(n_outputs, np.int64)
        self.dest = np.zeros(regs, np.int64)
        self.regs = regs
        self.relu = relu
        self.round = -1
        self.written = set()

    def load_round(self, n_values: int) -> None:
        """The round's source activations come from the activation SRAM."""
        self.sram_reads += n_values

    def select_round(self, r: int) -> np.ndarray:
        """Destination registers for round ``r``: a new round writes back the previous one."""
        if r != self.round:
            if self.round >= 0:
                self.write_back()
            self.round = r
            self.dest[:] = 0
        return self.dest

    def access(self, n: int) -> None:
        """One read and one write of a destination register per entry."""
        self.dest_reads += n
        self.dest_writes += n

    def write_back(self) -> None:
        """ReLU (all but the last layer), clamp to 16 bits, store the round's outputs."""
        lo = self.round * self.regs
        hi = min(lo + self.regs, len(self.output))
        self.output[lo:hi] = write_back(self.dest[: hi - lo], self.relu)
        self.sram_writes += max(0, hi - lo)
        self.written.add(self.round)

    def finish_layer(self, rounds: int) -> None:
        """Write back the last round, and rounds that saw no item (their registers stay 0)."""
        if self.round >= 0:
            self.write_back()
        for r in range(rounds):
            if r not in self.written:
                self.round = r
                self.dest[:] = 0
                self.write_back()
        self.source = self.output  # outputs stay in place as the next layer's inputs
