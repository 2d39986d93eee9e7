"""The fast engine: the section-4 recurrence and the PE counters, compiled with numba.

It shares everything with the SimPy model but the event mechanics: the memory
plan and segments (:mod:`eie_sim.memory`), the items (:mod:`eie_sim.layout`), the
arithmetic (:func:`eie_sim.functional.mac_entries`), the counts, energy and
result building. Where the SimPy model lets events unfold, this evaluates the
recurrence directly; the tests hold the two to every field of the Result.
"""

from __future__ import annotations

from collections.abc import Sequence

import numba
import numpy as np

from compressor.encode import EncodedLayer, local_rows
from compressor.errors import EieSimulationError
from compressor.fixedpoint import acc_limits
from compressor.model import EncodedModel
from eie_sim.config import SimConfig
from eie_sim.counts import Counts
from eie_sim.functional import bias_fix, mac_entries, write_back
from eie_sim.layout import layer_input, segment_items, slice_costs
from eie_sim.linetrace import TRACE_LINES, render
from eie_sim.memory import LayerPlan, dram_schedule, load_cycles
from eie_sim.run import LayerRun

PIPELINE_DRAIN = 3


@numba.njit(cache=True)
def recurrence(c, levels, depth):
    """Broadcast, pop and finish cycles of one segment from empty queues; c is (N, K).

    t[k] = max(t[k-1] + 1, max_p s[p][k-Q]); s = max(t + L, fin[k-1]);
    fin = s + max(1, c); cycles = max_p fin[K-1] + 3, or L + 3 when K = 0.
    """
    n_pes, n_items = c.shape
    t = np.empty(n_items, np.int64)
    s = np.empty((n_pes, n_items), np.int64)
    fin = np.empty((n_pes, n_items), np.int64)
    prev = -1
    for k in range(n_items):
        tk = prev + 1
        if k >= depth:
            for p in range(n_pes):
                if s[p, k - depth] > tk:
                    tk = s[p, k - depth]
        t[k] = tk
        for p in range(n_pes):
            start = tk + levels
            if k > 0 and fin[p, k - 1] > start:
                start = fin[p, k - 1]
            s[p, k] = start
            fin[p, k] = start + max(1, c[p, k])
        prev = tk
    if n_items == 0:
        return t, s, fin, levels + PIPELINE_DRAIN
    last = 0
    for p in range(n_pes):
        last = max(last, fin[p, n_items - 1])
    return t, s, fin, last + PIPELINE_DRAIN


@numba.njit(cache=True)
def _pe_pass(v, entry_rows, pe_offsets, ptr, slices, rounds, values, entry_base, s_abs, epw,
             cb_fix, fw, lo, hi, acc, state):
    """Per PE, walk the segment's items in order: word reads, bypasses, kept entries, MACs.

    ``state[p]`` carries (last round, last row, last cycle) across the segments of a layer.
    Returns (word reads, bypasses, kept entries).
    """
    n_pes = ptr.shape[0]
    reads = 0
    bypasses = 0
    kept = 0
    for p in range(n_pes):
        base = pe_offsets[p]
        buffered = -1
        last_round, last_row, last_cycle = state[p, 0], state[p, 1], state[p, 2]
        for k in range(slices.shape[0]):
            if rounds[k] != last_round:
                last_round = rounds[k]
                last_row = -1
            first = ptr[p, slices[k]]
            end = ptr[p, slices[k] + 1]
            n = end - first
            if n == 0:
                continue
            w0 = (first - entry_base[p]) // epw
            w1 = (end - 1 - entry_base[p]) // epw
            reads += w1 - w0 + 1 - (1 if w0 == buffered else 0)
            buffered = w1
            if last_cycle == s_abs[p, k] - 1 and last_row == entry_rows[base + first]:
                bypasses += 1
            last_row = entry_rows[base + end - 1]
            last_cycle = s_abs[p, k] + n - 1
            for e in range(first, end):
                if v[base + e] != 0:
                    kept += 1
            mac_entries(acc[p], entry_rows, v, base + first, base + end, values[k], cb_fix, fw, lo, hi)
        state[p, 0], state[p, 1], state[p, 2] = last_round, last_row, last_cycle
    return reads, bypasses, kept


def run_layer(layer: EncodedLayer, plan: LayerPlan, a_in: np.ndarray, *, relu: bool,
              bias_value: int, config: SimConfig) -> LayerRun:
    """One layer: per segment the recurrence, then the PE pass; tiles on the DRAM schedule."""
    n_pes = layer.n_pes
    a_fix = layer_input(layer, a_in, bias_value)
    lo, hi = acc_limits(config.acc_bits)
    n_local = local_rows(layer.m, n_pes)
    acc = np.zeros((n_pes, max(1, int(n_local.max()))), np.int64)
    state = np.tile(np.array([-1, -1, -2], np.int64), (n_pes, 1))
    segs = plan.segments
    seg_items = [segment_items(layer, seg, a_fix) for seg in segs]
    seg_costs = [slice_costs(layer, items) for items in seg_items]
    timings = [recurrence(c, config.lnzd_levels, config.queue_depth) for c in seg_costs]
    compute = [tm[3] for tm in timings]
    if plan.resident:
        start, end = np.zeros(1, np.int64), np.asarray(compute, np.int64)
    else:
        start, end = dram_schedule([load_cycles(seg, config) for seg in segs], compute)
    reads = bypasses = kept = 0
    for seg, items, (_t, s, _fin, _), t0 in zip(segs, seg_items, timings, start, strict=True):
        r, b, k = _pe_pass(layer.v, layer.entry_rows, layer.pe_offsets, layer.ptr, items.slices,
                           items.rounds, items.values, seg.entry_base, s + t0,
                           layer.entries_per_word, layer.codebook_fix, layer.fw, lo, hi, acc, state)
        reads += r
        bypasses += b
        kept += k
    cycles = int(end[-1])
    out = np.zeros(layer.m, np.int64)
    for p in range(n_pes):
        out[p::n_pes] = write_back(acc[p, : n_local[p]], relu)
    c_all = np.concatenate(seg_costs, axis=1)
    n_items = c_all.shape[1]
    entries = int(c_all.sum())
    counts = Counts()
    counts.add("act_queue", "push", n_pes * n_items)
    counts.add("act_queue", "pop", n_pes * n_items)
    counts.add("ptr_read", "read", n_pes * n_items)
    counts.add("spmat_read", "word_read", reads)
    for action in ("codebook_read", "multiply", "add"):
        counts.add("arith", action, entries)
    counts.add("act_rw", "dest_read", entries)
    counts.add("act_rw", "dest_write", entries)
    counts.add("act_rw", "src_read", layer.ncols * layer.rounds)
    counts.add("act_rw", "sram_read", layer.ncols * layer.rounds)
    counts.add("act_rw", "sram_write", layer.m)
    counts.add("lnzd", "node_cycle", config.lnzd_nodes * cycles)
    counts.add("dram", "bit", 8 * plan.dram_bytes)
    counts.add("pe", "cycle", n_pes * cycles)
    bounds = np.concatenate([[0], np.cumsum([len(it) for it in seg_items])]).astype(np.int64)
    return LayerRun(
        name=layer.name, cycles=cycles, seg_bounds=bounds, seg_start=start, seg_end=end,
        t=np.concatenate([tm[0] + t0 for tm, t0 in zip(timings, start, strict=True)]),
        s=np.concatenate([tm[1] + t0 for tm, t0 in zip(timings, start, strict=True)], axis=1),
        fin=np.concatenate([tm[2] + t0 for tm, t0 in zip(timings, start, strict=True)], axis=1),
        c=c_all, slices=np.concatenate([items.slices for items in seg_items]), counts=counts,
        bypass=bypasses, entries=entries, kept=kept, out_fix=out)


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
            lines = render(run.t, run.s, np.where(run.fin > limit, -1, run.fin),
                           (run.slices % layer.ncols).tolist(), start=max(0, limit - TRACE_LINES),
                           stop=limit)
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
