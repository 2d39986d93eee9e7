"""A processing element: activation queue, pointer read, sparse-matrix read, arithmetic, act R/W."""

from __future__ import annotations

import numpy as np
import simpy

from compressor.encode import EncodedLayer
from eie_sim.layout import Items
from eie_sim.simpy_model.act_queue import ActivationQueue
from eie_sim.simpy_model.act_rw import ActivationReadWrite
from eie_sim.simpy_model.arith import ArithmeticUnit
from eie_sim.simpy_model.ptr_read import PointerReadUnit
from eie_sim.simpy_model.spmat_read import SparseMatrixReadUnit

#: Pointer read, sparse-matrix read, arithmetic and write-back overlap; after the last
#: column the pipeline needs three more cycles to drain (ARCHITECTURE.md section 4).
PIPELINE_DRAIN = 3


class ProcessingElement:
    """One PE. Its process pops an item, reads the column's pointers and entries, and
    spends one cycle per entry (one for an empty slice) in the arithmetic unit."""

    def __init__(self, env: simpy.Environment, *, index: int, queue_depth: int) -> None:
        # interface: the channel from the CCU
        self.env = env
        self.index = index
        self.queue = ActivationQueue(env, depth=queue_depth)
        # units
        self.ptr_read = PointerReadUnit()
        self.spmat_read = SparseMatrixReadUnit(entries_per_word=1)
        self.arith = ArithmeticUnit()
        self.act_rw = ActivationReadWrite()
        # record of the current segment: pop and finish cycle of every item
        self.pop_cycles = np.zeros(0, np.int64)
        self.finish_cycles = np.zeros(0, np.int64)

    def load_layer(self, layer: EncodedLayer, *, relu: bool, acc_limits: tuple[int, int]) -> None:
        """Write this PE's share of the layer into its SRAMs and registers."""
        p = self.index
        lo, hi = layer.pe_offsets[p], layer.pe_offsets[p + 1]
        self.ptr_read.load(layer.ptr[p])
        self.spmat_read.load(layer.v[lo:hi], layer.entry_rows[lo:hi] % layer.regs,
                             entries_per_word=layer.entries_per_word)
        self.arith.load(layer.codebook_fix, fw=layer.fw, acc_limits=acc_limits)
        n_local = max(0, -(-(layer.m - p) // layer.n_pes))
        self.act_rw.start_layer(n_outputs=n_local, regs=layer.regs, relu=relu)

    def start_segment(self, entry_base: int, n_items: int) -> None:
        self.spmat_read.start_segment(entry_base)
        self.pop_cycles = np.full(n_items, -1, np.int64)
        self.finish_cycles = np.full(n_items, -1, np.int64)

    def run(self, items: Items, done: simpy.Event):
        """PE: pop the head activation, read its column, multiply-accumulate each entry."""
        env = self.env
        for k in range(len(items)):
            item = yield self.queue.pop()
            assert item == k, "activation queue delivered out of order"
            self.queue.release()
            start = env.now
            r = int(items.rounds[k])
            if r != self.act_rw.round:
                self.arith.last_reg = -1  # a new round uses fresh registers: no bypass across
            dest = self.act_rw.select_round(r)
            first, end = self.ptr_read.read(int(items.slices[k]))
            n = end - first
            if n:
                codes, regs = self.spmat_read.read(first, end)
                self.arith.mac(dest, codes, regs, int(items.values[k]), cycle=start)
                self.act_rw.access(n)
            self.pop_cycles[k] = start
            yield env.timeout(n if n else 1)
            self.finish_cycles[k] = env.now
        yield done
        yield env.timeout(PIPELINE_DRAIN)
