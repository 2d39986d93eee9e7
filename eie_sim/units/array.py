"""The PE array: the CCU with its LNZD tree, N PEs and the DRAM channel, and the jobs it runs.

The array runs one job (a GEMV of one encoded layer) at a time. It hands each PE the job's
input when the host sends it, starts the job's segments (the whole layer when it is
resident, else one tile after another as the DRAM channel brings them), waits until the CCU
has scanned a segment and every PE's pipeline has drained, and finally has the PEs write
their outputs back: kept on chip as the next job's input, or sent to the host.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import simpy

from compressor.encode import EncodedLayer, local_rows
from eie_sim.counts import Counts
from eie_sim.fields import Field
from eie_sim.linetrace import render
from eie_sim.memory import LayerPlan
from eie_sim.run import ItemTimes, LayerRun
from eie_sim.units import act_queue, act_rw, arith, ccu, dram, ptr_read, spmat_read
from eie_sim.units.act_rw import HostInput, JobEnd
from eie_sim.units.channels import BroadcastBus, Channel
from eie_sim.units.messages import JobStart, SegmentStart
from eie_sim.units.pe import ProcessingElement

NAME = "array"
TITLE = "PE array"
TABLE2 = False

FIELDS = (
    Field("n_pes", 64, int, "PE count",
          "processing elements N (also an encoding parameter: a layer encoded for another N is "
          "re-encoded)", lo=1, hi=4096, flag="pes"),
    Field("clock_hz", 800e6, float, "clock", "clock frequency", unit="Hz", lo=1e6, hi=1e11,
          flag="clock_mhz", flag_unit="MHz", scale=1e6),
)
EVENTS = ()

#: The units whose energy is counted per PE-cycle (the fitted static term), as Table II lists them.
CLOCKED = (act_queue, ptr_read, spmat_read, arith, act_rw)


def add_clock_counts(counts: Counts, n_pes: int, cycles: int) -> None:
    """The events every cycle of a job brings, busy or not: each LNZD node's, and each clocked
    unit's in every PE (their static energy is priced per cycle)."""
    counts.add(ccu.NAME, "node_cycle", ccu.lnzd_nodes(n_pes) * cycles)
    for unit in CLOCKED:
        counts.add(unit.NAME, "cycle", n_pes * cycles)


@dataclass(frozen=True)
class JobSpec:
    """One job as the array runs it."""

    name: str
    layer: EncodedLayer
    plan: LayerPlan
    relu: bool
    bias_value: int  # the bias column's constant 1 in the activation format
    host_input: np.ndarray | None  # the job's input from the host; None: already in the PEs
    to_host: bool  # its outputs go to the host (else they stay on chip for the next job)


class PEArray:
    """The array's units, their channels, and the process that runs jobs on them."""

    def __init__(self, env: simpy.Environment, config: object) -> None:
        # interface: the host's end of the outputs a job sends off chip
        self.env = env
        self.n_pes = config.n_pes
        self.host_out = Channel(env)
        # channels the array's units share
        self.filled = Channel(env)  # SRAM write ports -> DRAM: a burst is written
        self.done = Channel(env)  # arithmetic units -> array: a segment has drained
        self.act_done = Channel(env)  # activation read/write units -> array: outputs written
        self.spill = Channel(env)  # activation read/write units -> DRAM: spilled bytes
        # sub-components
        self.pes = [ProcessingElement(env, config, index=p, filled=self.filled, done=self.done,
                                      act_done=self.act_done, host_out=self.host_out, spill=self.spill)
                    for p in range(self.n_pes)]
        self.bus = BroadcastBus(env, [pe.queue for pe in self.pes])
        self.ccu = ccu.CentralControlUnit(env, sources=[pe.sources for pe in self.pes], bus=self.bus)
        self.dram = dram.DramChannel.from_config(
            env, config, spmat_fill=[pe.spmat_fill for pe in self.pes],
            ptr_fill=[pe.ptr_fill for pe in self.pes], filled=self.filled, spill=self.spill)
        self._job_start = 0
        self._seg_start: list[int] = []
        self._seg_end: list[int] = []
        self._seg_items: list[int] = [0]

    def preload(self, layer: EncodedLayer, plan: LayerPlan, loaded: list[int]):
        """Copy a resident layer into its SRAM region, before any inference (not timed); append
        the bytes copied to ``loaded``."""
        before = self.dram.weight_load_bytes
        self.dram.control.offer(dram.Load(layer, plan, preload=True))
        yield self.dram.loaded.get()
        loaded.append(self.dram.weight_load_bytes - before)

    def run_job(self, job: JobSpec, result: list[LayerRun]):
        """Array: run one job's segments, streaming tiles from DRAM when it is not resident."""
        env, pes, n = self.env, self.pes, self.n_pes
        layer, plan = job.layer, job.plan
        self._job_start = env.now
        self._seg_start, self._seg_end, self._seg_items = [], [], [0]
        if job.host_input is not None:
            for pe in pes:
                pe.act_control.offer(HostInput(tuple(job.host_input[pe.index::n].tolist())))
        rows = local_rows(layer.m, n)
        # the PE holding the bias column's constant: lane 0 of the bias's own row
        holder = ccu.position(layer.n, layer.n, n) % n
        codebook = tuple(layer.codebook_fix.tolist())
        for pe in pes:
            start = JobStart(wbits=layer.wbits, ibits=layer.ibits, codebook_fix=codebook, fw=layer.fw,
                             n_outputs=int(rows[pe.index]), relu=job.relu,
                             bias_value=job.bias_value if layer.has_bias and pe.index == holder else None,
                             rounds=layer.rounds, regs=layer.regs)
            pe.act_control.offer(start)
            pe.control.offer(start)
        if not plan.resident:
            self.dram.control.offer(dram.Load(layer, plan, preload=False))
        for i, seg in enumerate(plan.segments):
            if not plan.resident:
                yield self.dram.loaded.get()
            half = dram.buffer_half(i) if not plan.resident else 0
            self._seg_start.append(env.now)
            spmat_address = plan.region.spmat_address(half)
            scanned = range(ccu.position(seg.col_start, layer.n, n),
                            ccu.position(seg.col_end - 1, layer.n, n) + 1)
            for pe in pes:
                msg = SegmentStart(rounds=seg.rounds, col_start=seg.col_start, col_end=seg.col_end,
                                   stride=layer.ncols, ptr_slot=plan.region.ptr_address(half),
                                   spmat_address=int(spmat_address[pe.index]), positions=scanned)
                pe.control.offer(msg)
                pe.act_control.offer(msg)
            has_bias_here = layer.has_bias and seg.col_end == layer.ncols
            self.ccu.control.offer(ccu.Scan(seg.rounds, scanned.start // n, (scanned.stop - 1) // n,
                                            bias_row=(scanned.stop - 1) // n if has_bias_here else -1,
                                            bias_column=layer.n))
            for _ in range(n):
                yield self.done.get()
            yield self.ccu.done.get()
            if not plan.resident:
                self.dram.finished.offer(i)
            self._seg_end.append(env.now)
            self._seg_items.append(len(self.ccu.broadcast_cycles))
        for pe in pes:
            pe.act_control.offer(JobEnd(to_host=job.to_host))
        for _ in range(n):
            yield self.act_done.get()
        if job.to_host:
            out = np.zeros(layer.m, np.int64)
            for _ in range(n):
                p, values = yield self.host_out.get()
                out[p::n] = values
        else:  # the outputs stay in the PEs' memories; the Result reads them there (a probe)
            out = self.probe_outputs(layer.m)
        result.append(self._collect(job, out))

    def store_outputs(self, out: np.ndarray) -> None:
        """Put a job's outputs into the PEs' activation memories, where the next job reads them
        (what the memories hold when a stop rule ended the job early)."""
        for pe in self.pes:
            pe.act_rw.memory = out[pe.index::self.n_pes].tolist()

    def probe_outputs(self, m: int) -> np.ndarray:
        """The outputs held in the PEs' activation memories (an observation, not a transfer)."""
        out = np.zeros(m, np.int64)
        for pe in self.pes:
            out[pe.index::self.n_pes] = pe.act_rw.memory
        return out

    def _times(self, *, running: bool = False) -> ItemTimes:
        """The job's item timeline from the units' traces (a column still running ends at -1)."""
        t0 = self._job_start
        n_items = len(self.ccu.broadcast_cycles)
        pop = np.full((self.n_pes, n_items), -1, np.int64)
        finish = np.full((self.n_pes, n_items), -1, np.int64)
        entries = np.zeros((self.n_pes, n_items), np.int64)
        for pe in self.pes:
            unit = pe.ptr_read
            k, done = len(unit.pops), len(unit.finishes)
            if k:
                pop[pe.index, :k] = np.asarray(unit.pops, np.int64) - t0
                finish[pe.index, :done] = np.asarray(unit.finishes, np.int64) - t0
                entries[pe.index, :k] = unit.entries
        items = np.asarray(self.ccu.broadcast_items, np.int64).reshape(-1, 2)
        bounds = self._seg_items + ([n_items] if running else [])
        return ItemTimes(
            broadcast=np.asarray(self.ccu.broadcast_cycles, np.int64) - t0, pop=pop, finish=finish,
            entries=entries, rounds=items[:, 0], columns=items[:, 1],
            segment_bounds=np.asarray(bounds, np.int64),
            segment_start=np.asarray(self._seg_start, np.int64) - t0,
            segment_end=np.asarray(self._seg_end, np.int64) - t0)

    def recent_trace(self, cycles: int) -> list[str]:
        """Line trace of the last ``cycles`` cycles of the job running now."""
        from eie_sim.units import trace_columns

        now = int(self.env.now) - self._job_start
        array_cols, pe_cols = trace_columns()
        return render(self._times(running=True), array_cols, pe_cols, start=max(0, now - cycles),
                      stop=now, key=False)

    def _collect(self, job: JobSpec, out: np.ndarray) -> LayerRun:
        """The job's record, from every unit's own counters; then the counters restart."""
        cycles = int(self.env.now - self._job_start)
        pes = self.pes
        counts = Counts()
        for pe in pes:
            for unit_name, unit in pe.units:
                for action, c in unit.event_counts().items():
                    counts.add(unit_name, action, c)
        for action, c in self.dram.event_counts().items():
            counts.add(dram.NAME, action, c)
        add_clock_counts(counts, self.n_pes, cycles)
        times = self._times()
        run = LayerRun(
            name=job.name, cycles=cycles, counts=counts,
            busy_cycles=np.array([pe.busy_cycles() for pe in pes], np.int64),
            queue_occupancy_sum=np.array([pe.queue.occupancy_sum for pe in pes], np.int64),
            queue_occupancy_max=np.array([pe.queue.occupancy_max for pe in pes], np.int64),
            ccu_stall_cycles=self.ccu.stall_cycles,
            hazard_stall_cycles=sum(pe.hazard_stall_cycles() for pe in pes),
            lnzd_row_loads=self.ccu.row_loads, bypass_count=sum(pe.arith.bypasses for pe in pes),
            entries_processed=sum(pe.arith.issued for pe in pes),
            kept_processed=sum(pe.arith.kept for pe in pes),
            dram_bytes=self.dram.streamed_bytes + self.dram.spill_bytes,
            weight_load_bytes=0, out_fix=out, times=times)
        for pe in pes:
            pe.reset_counts()
        self.ccu.reset_counts()
        self.dram.reset_counts()
        return run
