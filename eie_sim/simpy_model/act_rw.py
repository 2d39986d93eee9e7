"""Activation read/write: a PE's activation memory, destination registers and write-back."""

from __future__ import annotations

import numpy as np

from eie_sim.functional import write_back


class DestinationRegisters:
    """The R accumulators of the current round; the arithmetic unit reads and writes them."""

    def __init__(self, regs: int) -> None:
        self.values = [0] * regs
        self.reads = 0
        self.writes = 0

    def clear(self) -> None:
        self.values = [0] * len(self.values)

    def accessed(self, n: int) -> None:
        """``n`` register updates (a read and a write each) by the arithmetic unit."""
        self.reads += n
        self.writes += n


class ActivationReadWrite:
    """Holds the PE's slice of a layer's input and receives its outputs.

    Input ``j`` with ``j mod N = p`` sits at local index ``j // N``, output ``i`` with
    ``i mod N = p`` at ``i // N``: a layer's outputs are in place as the next layer's
    inputs. The activation SRAM holds ``capacity`` values, inputs first, then outputs;
    the rest spill to DRAM (2 bytes a value). The LNZD reads a source activation once
    per round (an SRAM read into the source register, then the register read).
    """

    def __init__(self, *, regs: int, capacity: int) -> None:
        self.registers = DestinationRegisters(regs)
        self.capacity = capacity
        self.memory: list[int] = []  # the layer's input slice, then (after the layer) its outputs
        self._outputs: list[int] = []
        self._relu = False
        self._round = -1
        self._written: set[int] = set()
        # counters
        self.sram_reads = 0
        self.src_reads = 0
        self.sram_writes = 0
        self.spill_bytes = 0

    def load(self, values: list[int]) -> None:
        """The model's input slice, from the host."""
        self.memory = list(values)

    def append_bias(self, value: int) -> None:
        """The bias column's constant activation, in the PE that holds input n."""
        self.memory.append(value)

    def start_layer(self, *, n_outputs: int, relu: bool) -> None:
        self._outputs = [0] * n_outputs
        self._relu = relu
        self._round = -1
        self._written = set()
        self.registers.clear()

    def read_source(self, index: int) -> int:
        """The LNZD reads input ``index`` of this PE for the current row."""
        self.sram_reads += 1
        self.src_reads += 1
        if index >= self.capacity:
            self.spill_bytes += 2
        return self.memory[index]

    def select_round(self, r: int) -> None:
        """Items of round ``r`` arrive: the previous round's registers are written back first."""
        if r != self._round:
            if self._round >= 0:
                self._write_back()
            self._round = r
            self.registers.clear()

    def _write_back(self) -> None:
        """ReLU (all but the last layer), clamp to 16 bits, store the round's outputs."""
        regs = len(self.registers.values)
        lo = self._round * regs
        hi = min(lo + regs, len(self._outputs))
        if hi > lo:
            out = write_back(np.asarray(self.registers.values[: hi - lo], np.int64), self._relu)
            self._outputs[lo:hi] = out.tolist()
        n_in = min(len(self.memory), self.capacity)
        for i in range(lo, hi):  # outputs go after the inputs; beyond the SRAM they spill
            self.sram_writes += 1
            if n_in + i >= self.capacity:
                self.spill_bytes += 2
        self._written.add(self._round)

    def finish_layer(self, rounds: int) -> None:
        """Write back the last round and any round that saw no item; outputs become the input."""
        if self._round >= 0:
            self._write_back()
        for r in range(rounds):
            if r not in self._written:
                self._round = r
                self.registers.clear()
                self._write_back()
        self.memory = self._outputs
