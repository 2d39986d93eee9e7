"""The fast engine: the units' closed-form rules, composed and compiled with numba.

It is the SimPy machine's twin. Where the machine's units act a segment out cycle by
cycle, this walks the segment's items once and asks each unit's rule what happens: the
CCU when it finds an item, the queues when they have a slot, the PE when it pops, the
pointer read unit how long it takes, the sparse-matrix read unit how many words it reads,
the arithmetic unit when its last issue is done and whether it forwards. The rules live
in the units' modules (``eie_sim/units``), with the components they describe; this module
only strings them together, and shares the memory plan, the items and the
multiply-accumulate with the machine. The tests hold the two to every field of the Result.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import NamedTuple

import numba
import numpy as np

from compressor.encode import EncodedLayer, local_rows
from compressor.fixedpoint import acc_limits
from eie_sim.config import Knobs, SimConfig, knobs
from eie_sim.counts import Counts
from eie_sim.engines.limits import cycle_limit_error
from eie_sim.functional import bias_fix, mac_compiled, write_back
from eie_sim.layout import Items, layer_input, segment_items, slice_totals
from eie_sim.linetrace import TRACE_LINES, render
from eie_sim.memory import LayerPlan
from eie_sim.run import ItemTimes, LayerRun
from eie_sim.units import act_queue, act_rw, arith, ccu, dram, pe, ptr_read, spmat_read, trace_columns
from eie_sim.units.array import add_clock_counts
from eie_sim.workload.graph import Graph

NAME = "fast"
NO_LIMIT = np.zeros((0, 0), np.int64)


class Segment(NamedTuple):
    """One segment's items (per item) and where its entries start (per PE)."""

    rows: np.ndarray  # int64[K]: activation row in the segment's scan
    lanes: np.ndarray  # int64[K]
    rounds: np.ndarray  # int64[K]
    slices: np.ndarray  # int64[K]: round * ncols + column
    n_rows: int  # rows the scan loads
    entry_base: np.ndarray  # int64[N]: each PE's first entry of the segment


class Layer(NamedTuple):
    """The encoded layer as the rules read it."""

    ptr: np.ndarray  # int64[N, S + 1]
    pe_offsets: np.ndarray  # int64[N + 1]
    v: np.ndarray  # uint8[E]
    entry_rows: np.ndarray  # int32[E]: local row of every entry
    first_kept_row: np.ndarray  # int32[N, S]
    last_row: np.ndarray  # int32[N, S]
    entries_total: np.ndarray  # int64[S]
    kept_total: np.ndarray  # int64[S]
    entries_per_word: int
    regs: int


class Scan(NamedTuple):
    """What a segment's scan gives: per item (K x N arrays) and counters."""

    broadcast: np.ndarray  # int64[K]
    pop: np.ndarray  # int64[K, N]
    finish: np.ndarray  # int64[K, N]
    entries: np.ndarray  # int64[K, N]
    cycles: int
    busy: np.ndarray  # int64[N]
    occupancy_sum: np.ndarray  # int64[N]
    occupancy_max: np.ndarray  # int64[N]
    word_reads: int
    pointer_reads: int
    ccu_stalls: int
    hazard_stalls: int
    bypasses: int
    entries_processed: int
    kept_processed: int


@numba.njit(cache=True)
def scan(seg: Segment, lay: Layer, kn: Knobs) -> Scan:
    """Section 4 on one segment from empty queues: every timing and counter of the contract."""
    n_pes = lay.ptr.shape[0]
    n_items = seg.rows.shape[0]
    broadcast = np.empty(n_items, np.int64)
    pop = np.empty((n_items, n_pes), np.int64)
    finish = np.empty((n_items, n_pes), np.int64)
    entries = np.empty((n_items, n_pes), np.int64)
    busy = np.zeros(n_pes, np.int64)
    occ_sum = np.zeros(n_pes, np.int64)
    occ_max = np.zeros(n_pes, np.int64)
    popped = np.zeros(n_pes, np.int64)  # per PE: items popped by the current broadcast
    buffered = np.full(n_pes, -1, np.int64)  # per PE: the word in the sparse-matrix read buffer
    history = np.full((n_pes, lay.regs if not kn.bypass else 1), arith.NO_UPDATE, np.int64)
    last_end = np.full(n_pes, arith.NO_UPDATE, np.int64)  # per PE: the last column's issue end
    last_row = np.full(n_pes, -1, np.int64)  # and the row its last entry updated
    last_issue = np.full(n_pes, arith.NO_UPDATE, np.int64)  # per PE: the segment's last issue end
    ccu_stalls = hazard_stalls = bypasses = reads = ptr_reads = n_entries = n_kept = 0
    for k in range(n_items):
        found = ccu.found_cycle(k, seg.rows, seg.lanes, broadcast, n_pes)
        credit = act_queue.credit_cycle(pop, k, kn.queue_depth)
        when = found if found > credit else credit
        ccu_stalls += when - found
        broadcast[k] = when
        visible = act_queue.visible_cycle(when, kn.broadcast_latency)
        sl = seg.slices[k]
        n_entries += lay.entries_total[sl]
        n_kept += lay.kept_total[sl]
        new_round = k == 0 or seg.rounds[k] != seg.rounds[k - 1]
        round_base = seg.rounds[k] * lay.regs
        for p in range(n_pes):
            held, now_popped = act_queue.held_after(pop[:, p], k, when, popped[p])
            popped[p] = now_popped
            if held > occ_max[p]:
                occ_max[p] = held
            if new_round:  # the hazard history and the bypass start afresh every round
                arith.forget(history[p])
                last_end[p] = arith.NO_UPDATE
            start = pe.pop_cycle(visible, finish[k - 1, p] if k > 0 else 0)
            pop[k, p] = start
            occ_sum[p] += start - when
            first = lay.ptr[p, sl]
            n = lay.ptr[p, sl + 1] - first
            entries[k, p] = n
            read = ptr_read.column_cycles(kn, n)
            ptr_reads += ptr_read.column_accesses(kn, n)
            if n == 0:
                finish[k, p] = start + read
                busy[p] += read
                continue
            words, word = spmat_read.word_reads(first - seg.entry_base[p], n, lay.entries_per_word,
                                                buffered[p])
            buffered[p] = word
            reads += words
            end = arith.issue_end(kn, start, lay.v, lay.entry_rows, lay.pe_offsets[p] + first, n,
                                  round_base, history[p])
            if arith.bypassed(kn, start, lay.first_kept_row[p, sl], last_end[p], last_row[p]):
                bypasses += 1
            last_end[p] = end
            last_issue[p] = end
            last_row[p] = lay.last_row[p, sl]
            fin = pe.finish_cycle(start, read, end)
            finish[k, p] = fin
            cost = read if read > n else n
            busy[p] += cost
            hazard_stalls += fin - start - cost
    end = ccu.scan_end(seg.rows, seg.lanes, broadcast, seg.n_rows, n_pes)
    if n_items:
        for p in range(n_pes):
            done = pe.done_cycle(finish[n_items - 1, p], arith.drained(last_issue[p]))
            if done > end:
                end = done
    return Scan(broadcast, pop, finish, entries, end, busy, occ_sum, occ_max, reads,
                ptr_reads, ccu_stalls, hazard_stalls, bypasses, n_entries, n_kept)


@numba.njit(cache=True)
def macs(v, entry_rows, pe_offsets, ptr, slices, values, cb_fix, fw, lo, hi, acc, landed):
    """Every PE's multiply-accumulates of a segment, in item order (padding adds code 0's 0);
    ``landed[p, k]`` (when given, else an empty array) limits item k's entries in PE p to its first
    ones (a run stopped early)."""
    limited = landed.shape[0] > 0
    for p in range(ptr.shape[0]):
        base = pe_offsets[p]
        registers = acc[p]
        for k in range(slices.shape[0]):
            a = np.int64(values[k])
            first = base + ptr[p, slices[k]]
            end = base + ptr[p, slices[k] + 1]
            if limited and first + landed[p, k] < end:
                end = first + landed[p, k]
            for e in range(first, end):
                row = entry_rows[e]
                registers[row] = mac_compiled(registers[row], np.int64(cb_fix[v[e]]), a, fw, lo, hi)


def layer_outputs(layer: EncodedLayer, seg_items: Sequence[Items], *, relu: bool, config: SimConfig,
                  landed: np.ndarray = NO_LIMIT) -> np.ndarray:
    """A job's outputs: every segment's MACs into the PEs' registers, then the write-back;
    ``landed`` limits the entries of a run stopped early (see :func:`macs`)."""
    lo, hi = acc_limits(config.acc_bits)
    acc = np.zeros((layer.n_pes, max(1, int(local_rows(layer.m, layer.n_pes).max()))), np.int64)
    for items in seg_items:
        macs(layer.v, layer.entry_rows, layer.pe_offsets, layer.ptr, items.slices, items.values,
             layer.codebook_fix, layer.fw, lo, hi, acc, landed)
    # output i = local row i // N of PE i mod N: the registers read column by column
    return write_back(acc, relu).T.reshape(-1)[: layer.m]


def _layer(layer: EncodedLayer) -> Layer:
    rows = arith.slice_rows(layer)
    totals = slice_totals(layer)
    return Layer(layer.ptr, layer.pe_offsets, layer.v, layer.entry_rows, rows.first_kept_row, rows.last_row,
                 totals.entries, totals.kept, layer.entries_per_word, layer.regs)


def run_layer(layer: EncodedLayer, plan: LayerPlan, a_in: np.ndarray, *, relu: bool,
              bias_value: int, config: SimConfig, name: str) -> LayerRun:
    """One job: per segment the scan and the MACs; tiles on the DRAM schedule."""
    a_fix = layer_input(layer, a_in, bias_value)
    kn = knobs(config)
    lay = _layer(layer)
    segs = plan.segments
    seg_items = [segment_items(layer, seg, a_fix) for seg in segs]
    scans = [scan(Segment(items.rows, items.lanes, items.rounds, items.slices, items.n_rows, seg.entry_base),
                  lay, kn) for seg, items in zip(segs, seg_items, strict=True)]
    compute = [sc.cycles for sc in scans]
    if plan.resident:
        start, end = np.zeros(1, np.int64), np.asarray(compute, np.int64)
    else:
        load = [dram.transfer_cycles(seg.dram_bytes, config) for seg in segs]
        start, end = dram.schedule(load, compute)
    out = layer_outputs(layer, seg_items, relu=relu, config=config)
    return LayerRun(
        name=name, cycles=int(end[-1]),
        counts=_counts(layer, plan, scans, seg_items, int(end[-1]), config),
        busy_cycles=sum(sc.busy for sc in scans),
        queue_occupancy_sum=sum(sc.occupancy_sum for sc in scans),
        queue_occupancy_max=np.max([sc.occupancy_max for sc in scans], axis=0),
        ccu_stall_cycles=sum(int(sc.ccu_stalls) for sc in scans),
        hazard_stall_cycles=sum(int(sc.hazard_stalls) for sc in scans),
        lnzd_row_loads=sum(items.n_rows for items in seg_items),
        bypass_count=sum(int(sc.bypasses) for sc in scans),
        entries_processed=sum(int(sc.entries_processed) for sc in scans),
        kept_processed=sum(int(sc.kept_processed) for sc in scans), dram_bytes=plan.dram_bytes,
        weight_load_bytes=plan.weight_load_bytes, out_fix=out, times=_times(scans, seg_items, start, end))


def _counts(layer: EncodedLayer, plan: LayerPlan, scans: Sequence[Scan], seg_items: Sequence[Items],
            cycles: int, config: SimConfig) -> Counts:
    """The job's events, unit by unit, from the scans (the rules' counters) and the layout."""
    visits = layer.n_pes * sum(len(items) for items in seg_items)
    return job_counts(layer, plan, pushes=visits, pops=visits,
                      pointer_reads=sum(int(sc.pointer_reads) for sc in scans),
                      word_reads=sum(int(sc.word_reads) for sc in scans),
                      entries=sum(int(sc.entries_processed) for sc in scans),
                      kept=sum(int(sc.kept_processed) for sc in scans), cycles=cycles, config=config)


def job_counts(layer: EncodedLayer, plan: LayerPlan, *, pushes: int, pops: int, pointer_reads: int,
               word_reads: int, entries: int, kept: int, cycles: int, config: SimConfig) -> Counts:
    """A job's events from the rules' counters: queue pushes and pops (PE-visits), pointer SRAM
    accesses, word reads, entries and kept entries issued, and the job's cycles."""
    n_pes = layer.n_pes
    c = Counts()
    c.add(act_queue.NAME, "push", pushes)
    c.add(act_queue.NAME, "pop", pops)
    for action, count in ptr_read.closed_form_counts(pointer_reads, pops, config).items():
        c.add(ptr_read.NAME, action, count)
    c.add(spmat_read.NAME, "word_read", word_reads)
    for action in ("codebook_read", "multiply", "add"):
        c.add(arith.NAME, action, entries)
    c.add(act_rw.NAME, "dest_read", kept)
    c.add(act_rw.NAME, "dest_write", kept)
    c.add(act_rw.NAME, "src_read", layer.ncols * layer.rounds)
    c.add(act_rw.NAME, "sram_read", layer.ncols * layer.rounds)
    c.add(act_rw.NAME, "sram_write", layer.m)
    c.add(dram.NAME, "bit", 8 * plan.dram_bytes)
    add_clock_counts(c, n_pes, cycles)
    return c


def _times(scans: Sequence[Scan], seg_items: Sequence[Items], start: np.ndarray,
           end: np.ndarray) -> ItemTimes:
    """The job's item timeline: the segments' on the job's cycle axis."""
    def joined(name: str, shifted: bool = True) -> np.ndarray:
        parts = [getattr(sc, name) + (t0 if shifted else 0) for sc, t0 in zip(scans, start, strict=True)]
        return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=0)

    bounds = np.concatenate([[0], np.cumsum([len(it) for it in seg_items])]).astype(np.int64)
    return ItemTimes(
        broadcast=joined("broadcast"), pop=joined("pop").T, finish=joined("finish").T,
        entries=joined("entries", shifted=False).T,
        rounds=np.concatenate([items.rounds for items in seg_items]),
        columns=np.concatenate([items.cols for items in seg_items]),
        segment_bounds=bounds, segment_start=start, segment_end=end)


def run_graph(graph: Graph, plans: Sequence[LayerPlan], inputs: dict[str, np.ndarray], fa: int,
              config: SimConfig) -> list[LayerRun]:
    """Every job of ``graph`` in order (``plans[i]`` is job ``i``'s); ``inputs`` are the host
    inputs in fixed point."""
    runs: list[LayerRun] = []
    values = dict(inputs)
    elapsed = 0
    for i, (job, plan) in enumerate(zip(graph.jobs, plans, strict=True)):
        run = run_layer(job.layer, plan, values[job.input], relu=job.relu, bias_value=bias_fix(fa),
                        config=config, name=job.name)
        if config.stop_rule != "drain":
            from eie_sim.engines import stop  # it builds on this module's rules

            run = stop.apply(job.layer, plan, run, layer_input(job.layer, values[job.input], bias_fix(fa)),
                             relu=job.relu, config=config)
        if elapsed + run.cycles >= config.max_cycles:
            # the same limit, and the same message, as the SimPy machine's
            limit = config.max_cycles - elapsed
            tm = run.times
            running = replace(tm, finish=np.where(tm.finish > limit, -1, tm.finish))
            array_cols, pe_cols = trace_columns()
            lines = render(running, array_cols, pe_cols, start=max(0, limit - TRACE_LINES), stop=limit,
                           key=False)
            raise cycle_limit_error(NAME, config.max_cycles, config.max_cycles, i, graph, runs, lines)
        elapsed += run.cycles
        runs.append(run)
        values[job.name] = run.out_fix
    return runs
