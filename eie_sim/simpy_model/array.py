"""The PE array: the CCU with its LNZD tree, N PEs and the DRAM streamer."""

from __future__ import annotations

import numpy as np
import simpy

from compressor.encode import EncodedLayer, local_rows
from eie_sim.config import SimConfig
from eie_sim.counts import Counts
from eie_sim.layout import layer_input, segment_items, slice_costs
from eie_sim.linetrace import render
from eie_sim.memory import LayerPlan, load_cycles
from eie_sim.run import LayerRun
from eie_sim.simpy_model.ccu import CentralControlUnit
from eie_sim.simpy_model.dram import DramStreamer
from eie_sim.simpy_model.pe import ProcessingElement


class PEArray:
    """Runs layers one after another; a layer's outputs stay in the PEs as the next inputs."""

    def __init__(self, env: simpy.Environment, *, n_pes: int, queue_depth: int,
                 lnzd_levels: int, lnzd_nodes: int, acc_limits: tuple[int, int]) -> None:
        # interface: input activations in, outputs in place (act_rw of each PE)
        self.env = env
        self.n_pes = n_pes
        self.lnzd_nodes = lnzd_nodes
        self.acc_limits = acc_limits
        # sub-components
        self.pes = [ProcessingElement(env, index=p, queue_depth=queue_depth) for p in range(n_pes)]
        self.dram = DramStreamer(env)
        # connections: the CCU broadcasts into every PE's activation queue
        self.ccu = CentralControlUnit(env, queues=[pe.queue for pe in self.pes], levels=lnzd_levels)

    def load_input(self, x_fix: np.ndarray) -> None:
        """Input ``j`` goes to PE ``j mod N``."""
        for pe in self.pes:
            pe.act_rw.load_input(x_fix[pe.index::self.n_pes])

    def gather(self, n: int) -> np.ndarray:
        """The layer input as the LNZD tree sees it, from the PEs' source registers."""
        x = np.zeros(n, np.int64)
        for pe in self.pes:
            x[pe.index::self.n_pes] = pe.act_rw.source[: len(x[pe.index::self.n_pes])]
        return x

    def outputs(self, m: int) -> np.ndarray:
        return self.gather(m)

    def recent_trace(self, cycles: int) -> list[str]:
        """Line trace of the last ``cycles`` cycles of the segment running now."""
        items = getattr(self, "current_items", None)
        if items is None:
            return []
        cols = items.cols.tolist()
        s = np.stack([pe.pop_cycles for pe in self.pes])
        fin = np.stack([pe.finish_cycles for pe in self.pes])
        now = int(self.env.now)
        return render(self.ccu.broadcast_cycles, s, fin, cols, start=max(0, now - cycles), stop=now)

    def run_layer(self, layer: EncodedLayer, plan: LayerPlan, *, relu: bool, bias_value: int,
                  config: SimConfig, result: list[LayerRun]):
        """Array: run one layer's segments (streaming tiles from DRAM when not resident)."""
        env = self.env
        layer_start = env.now
        a_fix = layer_input(layer, self.gather(layer.n), bias_value)
        for pe in self.pes:
            pe.load_layer(layer, relu=relu, acc_limits=self.acc_limits)
        # Every round, each PE loads its input slice from its activation SRAM and the
        # LNZD nodes scan it.
        for pe, n_in in zip(self.pes, local_rows(layer.ncols, self.n_pes), strict=True):
            pe.act_rw.load_round(int(n_in) * layer.rounds)
        self.ccu.scan(layer.ncols * layer.rounds)

        segs = plan.segments
        started = [env.event() for _ in segs]
        loaded = [env.event() for _ in segs]
        if not plan.resident:
            env.process(self.dram.streamer([s.dram_bytes for s in segs],
                                           [load_cycles(s, config) for s in segs], started, loaded))
        t_parts, s_parts, fin_parts, c_parts, slice_parts, bounds = [], [], [], [], [], [0]
        seg_start, seg_end = [], []
        for i, seg in enumerate(segs):
            if not plan.resident:
                yield loaded[i]
            started[i].succeed()
            seg_start.append(env.now)
            items = segment_items(layer, seg, a_fix)
            self.current_items = items
            done = env.event()
            for pe in self.pes:
                pe.start_segment(int(seg.entry_base[pe.index]), len(items))
            self.ccu.broadcast_cycles = []
            procs = [env.process(pe.run(items, done)) for pe in self.pes]
            env.process(self.ccu.lnzd_tree())
            env.process(self.ccu.broadcaster(len(items), done))
            yield env.all_of(procs)
            seg_end.append(env.now)
            t_parts.append(np.asarray(self.ccu.broadcast_cycles, np.int64))
            s_parts.append(np.stack([pe.pop_cycles for pe in self.pes]))
            fin_parts.append(np.stack([pe.finish_cycles for pe in self.pes]))
            c_parts.append(slice_costs(layer, items))
            slice_parts.append(items.slices)
            bounds.append(bounds[-1] + len(items))
        for pe in self.pes:
            pe.act_rw.finish_layer(layer.rounds)
        cycles = env.now - layer_start
        counts = self._collect_counts(cycles, plan)
        result.append(LayerRun(
            name=layer.name, cycles=int(cycles), seg_bounds=np.asarray(bounds, np.int64),
            seg_start=np.asarray(seg_start, np.int64) - layer_start,
            seg_end=np.asarray(seg_end, np.int64) - layer_start,
            t=np.concatenate(t_parts) - layer_start,
            s=np.concatenate(s_parts, axis=1) - layer_start,
            fin=np.concatenate(fin_parts, axis=1) - layer_start,
            c=np.concatenate(c_parts, axis=1), slices=np.concatenate(slice_parts), counts=counts,
            bypass=sum(pe.arith.bypasses for pe in self.pes),
            entries=sum(pe.arith.entries for pe in self.pes),
            kept=sum(pe.arith.kept for pe in self.pes),
            out_fix=self.outputs(layer.m),
        ))
        self._reset_counters()

    def _collect_counts(self, cycles: int, plan: LayerPlan) -> Counts:
        pes = self.pes
        entries = sum(pe.arith.entries for pe in pes)
        c = Counts()
        c.add("act_queue", "push", sum(pe.queue.pushes for pe in pes))
        c.add("act_queue", "pop", sum(pe.queue.pops for pe in pes))
        c.add("ptr_read", "read", sum(pe.ptr_read.reads for pe in pes))
        c.add("spmat_read", "word_read", sum(pe.spmat_read.word_reads for pe in pes))
        for action in ("codebook_read", "multiply", "add"):
            c.add("arith", action, entries)
        c.add("act_rw", "dest_read", sum(pe.act_rw.dest_reads for pe in pes))
        c.add("act_rw", "dest_write", sum(pe.act_rw.dest_writes for pe in pes))
        c.add("act_rw", "src_read", self.ccu.src_reads)
        c.add("act_rw", "sram_read", sum(pe.act_rw.sram_reads for pe in pes))
        c.add("act_rw", "sram_write", sum(pe.act_rw.sram_writes for pe in pes))
        c.add("lnzd", "node_cycle", self.lnzd_nodes * cycles)
        c.add("dram", "bit", 8 * (self.dram.bytes + plan.act_spill_bytes))
        c.add("pe", "cycle", self.n_pes * cycles)
        return c

    def _reset_counters(self) -> None:
        self.ccu.src_reads = 0
        self.dram.bytes = 0
        for pe in self.pes:
            pe.queue.pushes = pe.queue.pops = 0
            pe.ptr_read.reads = 0
            pe.spmat_read.word_reads = 0
            pe.arith.entries = pe.arith.kept = pe.arith.bypasses = 0
            pe.act_rw.dest_reads = pe.act_rw.dest_writes = 0
            pe.act_rw.sram_reads = pe.act_rw.sram_writes = 0
