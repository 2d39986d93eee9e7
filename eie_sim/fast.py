"""The fast engine: the contract's section-4 rules in closed form, compiled with numba.

It is the SimPy model's twin and shares everything but the event mechanics: the
memory plan and segments (:mod:`eie_sim.memory`), the items (:mod:`eie_sim.layout`),
the arithmetic (:func:`eie_sim.functional.mac`), the per-slice summaries
computed at layout time, and the Result building. Where the SimPy units let
events unfold, this evaluates the rules directly; the tests hold the two to every
field of the Result.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numba
import numpy as np

from compressor.encode import EncodedLayer, local_rows
from compressor.errors import EieSimulationError
from compressor.fixedpoint import acc_limits
from compressor.model import EncodedModel
from eie_sim.config import DRAIN_CYCLES, SimConfig
from eie_sim.counts import Counts
from eie_sim.functional import bias_fix, mac_compiled, write_back
from eie_sim.layout import Items, layer_input, segment_items
from eie_sim.linetrace import TRACE_LINES, render
from eie_sim.memory import LayerPlan, dram_schedule, load_cycles
from eie_sim.run import ItemTimes, LayerRun

_NO_UPDATE = -(1 << 40)  # "this register has no update in the hazard history"


@numba.njit(cache=True)
def _scan(rows, lanes, rounds, slices, n_rows, ptr, pe_offsets, v, entry_rows, entries_total, kept_total,
          first_kept_row, last_row, ptr_cycles, depth, latency, bypass, acc_latency, n_local_max,
          entry_base, entries_per_word):
    """Section 4 on one segment from empty queues: every timing and counter of the contract.

    Per-item arrays are (K, N) here, so that one item's PEs sit side by side in memory.
    Returns (broadcast, pop, finish, entries, cycles, busy, occupancy sum, occupancy max,
    word reads, ccu stalls, hazard stalls, bypasses, entries processed, kept processed).
    """
    n_pes = ptr.shape[0]
    n_items = rows.shape[0]
    broadcast = np.empty(n_items, np.int64)
    pop = np.empty((n_items, n_pes), np.int64)
    finish = np.empty((n_items, n_pes), np.int64)
    entries = np.empty((n_items, n_pes), np.int64)
    busy = np.zeros(n_pes, np.int64)
    occ_sum = np.zeros(n_pes, np.int64)
    occ_max = np.zeros(n_pes, np.int64)
    popped = np.zeros(n_pes, np.int64)  # per PE: items popped by the current broadcast
    buffered = np.full(n_pes, -1, np.int64)  # per PE: the word in the sparse-matrix read buffer
    history = np.full((n_pes, n_local_max if not bypass else 0), _NO_UPDATE, np.int64)
    # word numbers by shifting when a word holds a power of two of entries (an integer
    # division per column would cost more than the rest of this loop)
    shift = -1
    if entries_per_word & (entries_per_word - 1) == 0:
        shift = 0
        while (1 << shift) < entries_per_word:
            shift += 1
    ccu_stalls = hazard_stalls = bypasses = reads = n_entries = n_kept = 0
    for k in range(n_items):
        # LNZD: one row load per cycle; the next row loads after the row's last broadcast,
        # in the same cycle when that broadcast was lane N-1.
        if k == 0:
            found = 1 + rows[0]
        elif rows[k] == rows[k - 1]:
            found = broadcast[k - 1] + 1
        else:
            found = broadcast[k - 1] + rows[k] - rows[k - 1] + (0 if lanes[k - 1] == n_pes - 1 else 1)
        # credits: every queue must have popped item k - Q
        when = found
        if k >= depth:
            for p in range(n_pes):
                if pop[k - depth, p] > when:
                    when = pop[k - depth, p]
        ccu_stalls += when - found
        broadcast[k] = when
        sl = slices[k]
        n_entries += entries_total[sl]
        n_kept += kept_total[sl]
        same_round = k > 0 and rounds[k] == rounds[k - 1]
        for p in range(n_pes):
            # queue occupancy at the end of this cycle (items popped so far are all before k)
            while popped[p] < k and pop[popped[p], p] <= when:
                popped[p] += 1
            if k + 1 - popped[p] > occ_max[p]:
                occ_max[p] = k + 1 - popped[p]
            start = when + latency
            if k > 0 and finish[k - 1, p] > start:
                start = finish[k - 1, p]
            pop[k, p] = start
            occ_sum[p] += start - when
            first = ptr[p, sl]
            n = ptr[p, sl + 1] - first
            entries[k, p] = n
            work = n if n > ptr_cycles else ptr_cycles
            busy[p] += work
            if n == 0:
                finish[k, p] = start + work
                continue
            # sparse-matrix words: the first is free when it is the buffered one
            rel = first - entry_base[p]
            if shift >= 0:
                w0, w1 = rel >> shift, (rel + n - 1) >> shift
            else:
                w0, w1 = rel // entries_per_word, (rel + n - 1) // entries_per_word
            reads += w1 - w0 + 1 - (1 if w0 == buffered[p] else 0)
            buffered[p] = w1
            if bypass:
                finish[k, p] = start + work
                # back to back (the previous column's last entry issued the cycle before this
                # one's first) on the same register; see SliceSummary for why only a kept first
                # entry can be forwarded into
                if same_round and start == pop[k - 1, p] + entries[k - 1, p]:
                    row = first_kept_row[p, sl]
                    if row >= 0 and row == last_row[p, slices[k - 1]]:
                        bypasses += 1
            else:
                # in-order issue; a kept entry waits acc_latency after its register's last update
                base = pe_offsets[p] + first
                issue = start - 1
                for e in range(base, base + n):
                    issue += 1
                    if v[e] != 0:
                        x = entry_rows[e]
                        ready = history[p, x] + acc_latency
                        if ready > issue:
                            issue = ready
                        history[p, x] = issue
                end = issue + 1 if issue + 1 > start + ptr_cycles else start + ptr_cycles
                finish[k, p] = end
                hazard_stalls += end - start - work
    # End: the cycle after the scan's last row load or broadcast, then the drain.
    if n_items == 0:
        end = n_rows
    else:
        after = n_rows - 1 - rows[n_items - 1]
        last = broadcast[n_items - 1]
        if after == 0:
            end = last + 1
        elif lanes[n_items - 1] == n_pes - 1:
            end = last + after
        else:
            end = last + after + 1
        for p in range(n_pes):
            end = max(end, finish[n_items - 1, p])
    return (broadcast, pop.T, finish.T, entries.T, end + DRAIN_CYCLES, busy, occ_sum, occ_max, reads,
            ccu_stalls, hazard_stalls, bypasses, n_entries, n_kept)


@numba.njit(cache=True)
def _macs(v, entry_rows, pe_offsets, ptr, slices, values, cb_fix, fw, lo, hi, acc):
    """Every PE's multiply-accumulates of a segment, in item order (padding adds code 0's 0)."""
    for p in range(ptr.shape[0]):
        base = pe_offsets[p]
        registers = acc[p]
        for k in range(slices.shape[0]):
            a = np.int64(values[k])
            for e in range(base + ptr[p, slices[k]], base + ptr[p, slices[k] + 1]):
                row = entry_rows[e]
                registers[row] = mac_compiled(registers[row], np.int64(cb_fix[v[e]]), a, fw, lo, hi)


class _Scan(NamedTuple):
    """:func:`_scan`'s results for one segment, by name (per-item arrays are N x K)."""

    broadcast: np.ndarray
    pop: np.ndarray
    finish: np.ndarray
    entries: np.ndarray
    cycles: int
    busy: np.ndarray
    occupancy_sum: np.ndarray
    occupancy_max: np.ndarray
    word_reads: int
    ccu_stalls: int
    hazard_stalls: int
    bypasses: int
    entries_processed: int
    kept_processed: int


def _segment(layer: EncodedLayer, items: Items, entry_base: np.ndarray, config: SimConfig,
             n_local_max: int) -> _Scan:
    sl = layer.slices
    return _Scan(*_scan(items.rows, items.lanes, items.rounds, items.slices, items.n_rows, layer.ptr,
                 layer.pe_offsets, layer.v, layer.entry_rows, sl.entries_total, sl.kept_total,
                 sl.first_kept_row, sl.last_row, config.ptr_read_cycles, config.queue_depth,
                 config.broadcast_latency, config.bypass, config.acc_latency, n_local_max, entry_base,
                 layer.entries_per_word))


def run_layer(layer: EncodedLayer, plan: LayerPlan, a_in: np.ndarray, *, relu: bool,
              bias_value: int, config: SimConfig) -> LayerRun:
    """One layer: per segment the scan and the MACs; tiles on the DRAM schedule."""
    n_pes = layer.n_pes
    a_fix = layer_input(layer, a_in, bias_value)
    lo, hi = acc_limits(config.acc_bits)
    n_local = local_rows(layer.m, n_pes)
    n_local_max = max(1, int(n_local.max()))
    acc = np.zeros((n_pes, n_local_max), np.int64)
    segs = plan.segments
    seg_items = [segment_items(layer, seg, a_fix) for seg in segs]
    scans = [_segment(layer, items, seg.entry_base, config, n_local_max)
             for seg, items in zip(segs, seg_items, strict=True)]
    compute = [sc.cycles for sc in scans]
    if plan.resident:
        start, end = np.zeros(1, np.int64), np.asarray(compute, np.int64)
    else:
        start, end = dram_schedule([load_cycles(seg, config) for seg in segs], compute)
    for items in seg_items:
        _macs(layer.v, layer.entry_rows, layer.pe_offsets, layer.ptr, items.slices, items.values,
              layer.codebook_fix, layer.fw, lo, hi, acc)
    # output i = local row i // N of PE i mod N: the registers read column by column
    out = write_back(acc, relu).T.reshape(-1)[: layer.m]
    cycles = int(end[-1])
    n_items = sum(len(items) for items in seg_items)
    entries = sum(int(sc.entries_processed) for sc in scans)
    kept = sum(int(sc.kept_processed) for sc in scans)
    counts = Counts.from_mapping({
        ("act_queue", "push"): n_pes * n_items,
        ("act_queue", "pop"): n_pes * n_items,
        ("ptr_read", "read"): n_pes * n_items * config.ptr_read_cycles,  # one read per bank access
        ("spmat_read", "word_read"): sum(int(sc.word_reads) for sc in scans),
        ("arith", "codebook_read"): entries,
        ("arith", "multiply"): entries,
        ("arith", "add"): entries,
        ("act_rw", "dest_read"): kept,
        ("act_rw", "dest_write"): kept,
        ("act_rw", "src_read"): layer.ncols * layer.rounds,
        ("act_rw", "sram_read"): layer.ncols * layer.rounds,
        ("act_rw", "sram_write"): layer.m,
        ("lnzd", "node_cycle"): config.lnzd_nodes * cycles,
        ("dram", "bit"): 8 * plan.dram_bytes,
        ("pe", "cycle"): n_pes * cycles,
    })
    bounds = np.concatenate([[0], np.cumsum([len(it) for it in seg_items])]).astype(np.int64)

    def joined(name: str, axis: int = 0, shifted: bool = True) -> np.ndarray:
        """Segment arrays on the layer's axis (a resident layer's single segment is already)."""
        if len(scans) == 1:
            return getattr(scans[0], name)
        return np.concatenate([getattr(sc, name) + (t0 if shifted else 0)
                               for sc, t0 in zip(scans, start, strict=True)], axis=axis)

    times = ItemTimes(
        broadcast=joined("broadcast"), pop=joined("pop", axis=1), finish=joined("finish", axis=1),
        entries=joined("entries", axis=1, shifted=False),
        rounds=np.concatenate([items.rounds for items in seg_items]),
        columns=np.concatenate([items.cols for items in seg_items]),
        segment_bounds=bounds, segment_start=start, segment_end=end)
    return LayerRun(
        name=layer.name, cycles=cycles, counts=counts,
        busy_cycles=sum(sc.busy for sc in scans),
        queue_occupancy_sum=sum(sc.occupancy_sum for sc in scans),
        queue_occupancy_max=np.max([sc.occupancy_max for sc in scans], axis=0),
        ccu_stall_cycles=sum(int(sc.ccu_stalls) for sc in scans),
        hazard_stall_cycles=sum(int(sc.hazard_stalls) for sc in scans),
        lnzd_row_loads=sum(items.n_rows for items in seg_items),
        bypass_count=sum(int(sc.bypasses) for sc in scans),
        entries_processed=entries, kept_processed=kept, dram_bytes=plan.dram_bytes,
        weight_load_bytes=plan.weight_load_bytes, out_fix=out,
        times=times)


def run_model(model: EncodedModel, plans: Sequence[LayerPlan], x_fix: np.ndarray, fa: int,
              config: SimConfig) -> list[LayerRun]:
    runs = []
    a = np.asarray(x_fix, np.int64)
    elapsed = 0
    for i, (layer, plan) in enumerate(zip(model.layers, plans, strict=True)):
        run = run_layer(layer, plan, a, relu=model.relu(i), bias_value=bias_fix(fa), config=config)
        if elapsed + run.cycles >= config.max_cycles:
            # the same limit, and the same message, as the SimPy model's
            limit = config.max_cycles - elapsed
            tm = run.times
            lines = render(tm.broadcast, tm.pop, np.where(tm.finish > limit, -1, tm.finish),
                           tm.columns.tolist(), start=max(0, limit - TRACE_LINES), stop=limit)
            done = ", ".join(f"{r.name}: {r.cycles} cycles" for r in runs) or "none"
            raise EieSimulationError(
                f"the fast engine reached the cycle limit max_cycles = {config.max_cycles} at cycle "
                f"{config.max_cycles} without finishing layer {i + 1} of {len(model.layers)} "
                f"(finished: {done}); raise max_cycles or check the layer. Last cycles:\n"
                + "\n".join(lines))
        elapsed += run.cycles
        runs.append(run)
        a = run.out_fix
    return runs
