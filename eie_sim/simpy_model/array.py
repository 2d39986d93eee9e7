"""The PE array: the CCU with its LNZD tree, N PEs and the DRAM channel."""

from __future__ import annotations

import numpy as np
import simpy

from compressor.encode import EncodedLayer
from eie_sim.config import SimConfig
from eie_sim.counts import Counts
from eie_sim.linetrace import render
from eie_sim.memory import LayerPlan
from eie_sim.run import ItemTimes, LayerRun
from eie_sim.simpy_model.ccu import CentralControlUnit
from eie_sim.simpy_model.dram import DramChannel, buffer_half
from eie_sim.simpy_model.pe import ProcessingElement


class PEArray:
    """Runs layers one after another; a layer's outputs stay in the PEs as the next inputs."""

    def __init__(self, env: simpy.Environment, *, config: SimConfig, acc_limits: tuple[int, int]) -> None:
        # interface: input activations in through load_input, outputs read back by outputs()
        self.env = env
        self.n_pes = config.n_pes
        self.lnzd_nodes = config.lnzd_nodes
        # sub-components
        self.pes = [ProcessingElement(
            env, index=p, queue_depth=config.queue_depth, broadcast_latency=config.broadcast_latency,
            ptr_banks=config.ptr_banks, ptr_slots=config.ptr_bytes * 8 // config.ptr_bits,
            ptr_bits=config.ptr_bits, spmat_bytes=config.spmat_bytes,
            word_bits=config.spmat_width_bits, act_capacity=config.act_bytes // 2, regs=config.regs,
            bypass=config.bypass, acc_latency=config.acc_latency, acc_limits=acc_limits)
            for p in range(self.n_pes)]
        self.dram = DramChannel(env, bytes_per_cycle=config.dram_bytes_per_cycle,
                                latency=config.dram_latency_cycles, ptr_bits=config.ptr_bits)
        # connections: the CCU reads the PEs' activation memories and broadcasts into their queues
        self.ccu = CentralControlUnit(env, queues=[pe.queue for pe in self.pes],
                                      sources=[pe.act_rw for pe in self.pes])
        self.layer_start = 0

    def load_input(self, x_fix: np.ndarray) -> None:
        """Input ``j`` goes to PE ``j mod N``."""
        for pe in self.pes:
            pe.act_rw.load(x_fix[pe.index::self.n_pes].tolist())

    def preload(self, layer: EncodedLayer, plan: LayerPlan) -> int:
        """A resident layer's weights, copied into the SRAMs once before inference; the bytes."""
        return self.dram.preload(layer, plan, self.pes)

    def outputs(self, m: int) -> np.ndarray:
        """The last layer's outputs, gathered from the PEs' activation memories."""
        out = np.zeros(m, np.int64)
        for pe in self.pes:
            out[pe.index::self.n_pes] = pe.act_rw.memory
        return out

    def recent_trace(self, cycles: int) -> list[str]:
        """Line trace of the last ``cycles`` cycles of the layer running now."""
        now = int(self.env.now)
        tm = self._times(running=True)
        return render(tm.broadcast, tm.pop, tm.finish, tm.columns.tolist(),
                      start=max(0, now - cycles - self.layer_start), stop=now - self.layer_start)

    def run_layer(self, layer: EncodedLayer, plan: LayerPlan, *, relu: bool, bias_value: int,
                  weight_load_bytes: int, result: list[LayerRun]):
        """Array: run one layer's segments, streaming tiles from DRAM when it is not resident."""
        env = self.env
        self.layer_start = env.now
        self._seg_start: list[int] = []
        self._seg_end: list[int] = []
        self._seg_items: list[int] = [0]
        for pe in self.pes:
            pe.load_layer(layer, relu=relu, bias_value=bias_value)
        segs = plan.segments
        loaded = [env.event() for _ in segs]
        finished = [env.event() for _ in segs]
        if not plan.resident:
            env.process(self.dram.stream(layer, plan, self.pes, loaded, finished))
        for i, seg in enumerate(segs):
            half = buffer_half(i)
            if not plan.resident:
                yield loaded[i]
            self._seg_start.append(env.now)
            for pe in self.pes:
                pe.start_segment(spmat_address=int(plan.region.spmat_address(half)[pe.index]),
                                 ptr_slot=plan.region.ptr_address(half))
            procs = [env.process(pe.run(first_round=seg.rounds.start, col_start=seg.col_start,
                                        stride=layer.ncols)) for pe in self.pes]
            env.process(self.ccu.scan(rounds=seg.rounds, col_start=seg.col_start, col_end=seg.col_end))
            yield env.all_of(procs)
            finished[i].succeed()
            self._seg_end.append(env.now)
            self._seg_items.append(len(self.ccu.broadcast_cycles))
        for pe in self.pes:
            pe.act_rw.finish_layer(layer.rounds)
        result.append(self._collect(layer, weight_load_bytes))

    def _times(self, *, running: bool = False) -> ItemTimes:
        """The layer's item timeline from the units' traces (a visit still running ends at -1)."""
        t0 = self.layer_start
        ccu = self.ccu
        n_items = len(ccu.broadcast_cycles)
        pop = np.full((self.n_pes, n_items), -1, np.int64)
        finish = np.full((self.n_pes, n_items), -1, np.int64)
        entries = np.zeros((self.n_pes, n_items), np.int64)
        for pe in self.pes:
            if pe.visits:
                v = np.asarray(pe.visits, np.int64)
                pop[pe.index, : len(v)] = v[:, 0] - t0
                done = v[:, 1] <= self.env.now if running else np.ones(len(v), bool)
                finish[pe.index, : len(v)] = np.where(done, v[:, 1] - t0, -1)
                entries[pe.index, : len(v)] = v[:, 2]
        items = np.asarray(ccu.broadcast_items, np.int64).reshape(-1, 2)
        bounds = self._seg_items + ([n_items] if running else [])
        return ItemTimes(
            broadcast=np.asarray(ccu.broadcast_cycles, np.int64) - t0, pop=pop, finish=finish,
            entries=entries, rounds=items[:, 0], columns=items[:, 1],
            segment_bounds=np.asarray(bounds, np.int64),
            segment_start=np.asarray(self._seg_start, np.int64) - t0,
            segment_end=np.asarray(self._seg_end, np.int64) - t0)

    def _collect(self, layer: EncodedLayer, weight_load_bytes: int) -> LayerRun:
        """The LayerRun, built from every unit's own counters; then the counters restart."""
        cycles = int(self.env.now - self.layer_start)
        pes = self.pes
        for pe in pes:
            pe.queue.finish_counting()
        counts = Counts()
        for pe in pes:
            q, arith, act = pe.queue, pe.arith, pe.act_rw
            counts.add("act_queue", "push", q.pushes)
            counts.add("act_queue", "pop", q.pops)
            counts.add("ptr_read", "read", pe.ptr_read.reads)
            counts.add("spmat_read", "word_read", pe.spmat_read.word_reads)
            counts.add("arith", "codebook_read", arith.entries)
            counts.add("arith", "multiply", arith.entries)
            counts.add("arith", "add", arith.entries)
            counts.add("act_rw", "dest_read", act.registers.reads)
            counts.add("act_rw", "dest_write", act.registers.writes)
            counts.add("act_rw", "src_read", act.src_reads)
            counts.add("act_rw", "sram_read", act.sram_reads)
            counts.add("act_rw", "sram_write", act.sram_writes)
        spill = sum(pe.act_rw.spill_bytes for pe in pes)
        counts.add("lnzd", "node_cycle", self.lnzd_nodes * cycles)
        counts.add("dram", "bit", 8 * (self.dram.streamed_bytes + spill))
        counts.add("pe", "cycle", self.n_pes * cycles)
        run = LayerRun(
            name=layer.name, cycles=cycles, counts=counts,
            busy_cycles=np.array([pe.busy_cycles for pe in pes], np.int64),
            queue_occupancy_sum=np.array([pe.queue.occupancy_sum for pe in pes], np.int64),
            queue_occupancy_max=np.array([pe.queue.occupancy_max for pe in pes], np.int64),
            ccu_stall_cycles=self.ccu.stall_cycles,
            hazard_stall_cycles=sum(pe.hazard_stall_cycles for pe in pes),
            lnzd_row_loads=self.ccu.lnzd.row_loads, bypass_count=sum(pe.arith.bypasses for pe in pes),
            entries_processed=sum(pe.arith.entries for pe in pes),
            kept_processed=sum(pe.arith.kept for pe in pes),
            dram_bytes=self.dram.streamed_bytes + spill, weight_load_bytes=weight_load_bytes,
            out_fix=self.outputs(layer.m),
            times=self._times())
        self._restart_counters()
        return run

    def _restart_counters(self) -> None:
        ccu = self.ccu
        ccu.stall_cycles = 0
        ccu.lnzd.row_loads = 0
        ccu.broadcast_cycles, ccu.broadcast_items = [], []
        self.dram.streamed_bytes = 0
        for pe in self.pes:
            q = pe.queue
            q.pushes = q.pops = q.occupancy_sum = q.occupancy_max = 0
            pe.ptr_read.reads = 0
            pe.spmat_read.word_reads = 0
            pe.arith.entries = pe.arith.kept = pe.arith.bypasses = 0
            pe.act_rw.registers.reads = pe.act_rw.registers.writes = 0
            act = pe.act_rw
            act.src_reads = act.sram_reads = act.sram_writes = act.spill_bytes = 0
            pe.busy_cycles = pe.hazard_stall_cycles = 0
            pe.visits = []
