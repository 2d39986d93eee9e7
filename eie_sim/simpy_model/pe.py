"""A processing element: activation queue, pointer read, sparse-matrix read, arithmetic, act R/W."""

from __future__ import annotations

import simpy

from compressor.encode import EncodedLayer, local_rows
from eie_sim.config import DRAIN_CYCLES
from eie_sim.simpy_model.act_queue import ActivationQueue
from eie_sim.simpy_model.act_rw import ActivationReadWrite
from eie_sim.simpy_model.arith import ArithmeticUnit
from eie_sim.simpy_model.ptr_read import PointerReadUnit
from eie_sim.simpy_model.spmat_read import SparseMatrixReadUnit


class ProcessingElement:
    """One PE. Its process pops an activation, reads the column's pointers and entries, and
    issues the entries; a column takes at least the pointer read's cycles.

    A column runs as one burst (pointer read, word reads and entries together): nothing
    else touches a PE mid-column, so the burst's duration is exactly what its units took.
    """

    def __init__(self, env: simpy.Environment, *, index: int, queue_depth: int,
                 broadcast_latency: int, ptr_banks: int, ptr_slots: int, ptr_bits: int,
                 spmat_bytes: int, word_bits: int, act_capacity: int, regs: int, bypass: bool,
                 acc_latency: int, acc_limits: tuple[int, int]) -> None:
        # interface: the channel from the CCU
        self.env = env
        self.index = index
        self.queue = ActivationQueue(env, depth=queue_depth, latency=broadcast_latency)
        # units
        self.ptr_read = PointerReadUnit(slots=ptr_slots, banks=ptr_banks, ptr_bits=ptr_bits)
        self.spmat_read = SparseMatrixReadUnit(capacity_bytes=spmat_bytes, word_bits=word_bits)
        self.act_rw = ActivationReadWrite(regs=regs, capacity=act_capacity)
        # connection: the arithmetic unit updates activation read/write's destination registers
        self.arith = ArithmeticUnit(registers=self.act_rw.registers, bypass=bypass,
                                    acc_latency=acc_latency, acc_limits=acc_limits)
        # counters
        self.busy_cycles = 0
        self.hazard_stall_cycles = 0
        # trace of the current layer: per visit (pop cycle, finish cycle, entries)
        self.visits: list[tuple[int, int, int]] = []
        self._round = -1

    def load_layer(self, layer: EncodedLayer, *, relu: bool, bias_value: int) -> None:
        """Prepare the units for a layer: entry format, codebook, outputs, the bias input."""
        self.spmat_read.set_format(wbits=layer.wbits, ibits=layer.ibits)
        self.arith.load(layer.codebook_fix.tolist(), layer.fw)
        if layer.has_bias and layer.n % layer.n_pes == self.index:
            self.act_rw.append_bias(bias_value)
        self.act_rw.start_layer(n_outputs=int(local_rows(layer.m, layer.n_pes)[self.index]), relu=relu)
        self._round = -1

    def start_segment(self, *, spmat_address: int, ptr_slot: int) -> None:
        """A new segment (the layer, or one tile): its SRAM region, fresh histories."""
        self.spmat_read.use_region(spmat_address)
        self.ptr_read.use_region(ptr_slot)
        self.arith.forget()
        self.queue.open()

    def run(self, *, first_round: int, col_start: int, stride: int):
        """PE: pop the head activation, read its column, issue the entries; drain at the end."""
        env = self.env
        queue, ptr_read, spmat_read, arith = self.queue, self.ptr_read, self.spmat_read, self.arith
        while True:
            item = queue.pop()
            if item is None:
                if queue.drained():
                    break
                yield queue.wait()
                continue
            start = env.now
            r, j, activation = item
            if r != self._round:
                self.act_rw.select_round(r)
                arith.forget()
                self._round = r
            first, end, ptr_cycles = ptr_read.read((r - first_round) * stride + j - col_start)
            n = end - first
            issued = arith.column(spmat_read.fetch(first, end), activation, start) if n else 0
            work = max(ptr_cycles, n)
            took = max(ptr_cycles, issued)
            self.busy_cycles += work
            self.hazard_stall_cycles += took - work
            self.visits.append((start, start + took, n))
            yield env.timeout(took)
        yield env.timeout(DRAIN_CYCLES)  # the arithmetic pipeline drains, registers write back
