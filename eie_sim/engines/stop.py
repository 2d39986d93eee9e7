"""``stop_rule = authors``: a job ends where the EIE authors' simulator ends it.

Their activation read/write unit declares a layer complete at the first cycle ``C``, from
``max(9, L + 1)`` on (``L`` the cycle its last activation row loads), at which no PE issued a
kept entry five cycles earlier (``act_rw.authors_stop``). It looks at nothing else, so it can
stop while queues still hold items, columns are half walked and entries are in the pipeline
(docs/VALIDATION.md). Both engines run the job to completion (``stop_rule = drain``); this
module then cuts the machine's record at ``C``, asking the units' rules what had happened by
then:

- a broadcast counts if it happened before ``C``; a pop and its pointer read if it happened by
  ``C`` (their last update latches it);
- an entry issued before ``C`` counts its word read (one cycle after its issue, in their
  pipeline), codebook read, multiply and add; its update of the output, its register read
  and write and ``kept_processed`` count only once the update has landed, issued at
  ``x <= C - 5`` (later ones are in flight and lost);
- busy cycles, queue occupancy, CCU stalls and the static energy end at ``C``.

These are the cut points of their own counters: on every measured case the pointer reads, the
sparse-matrix line reads and the "Efficiency" (kept updates landed / (N x cycles)) equal theirs
(tests/test_authors.py).

Their machine has no tiles and forwards every update; a streamed job, or bypass off, is refused.
"""

from __future__ import annotations

from dataclasses import replace

import numba
import numpy as np

from compressor.encode import EncodedLayer
from compressor.errors import EieInputError
from eie_sim.config import SimConfig, knobs
from eie_sim.engines.fast import NO_LIMIT, job_counts, layer_outputs
from eie_sim.layout import Items, segment_items
from eie_sim.memory import LayerPlan
from eie_sim.run import LayerRun
from eie_sim.units import act_queue, act_rw, arith, ccu, ptr_read, spmat_read


@numba.njit(cache=True)
def _kept_issues(pop, entries, ptr, slices, v, pe_offsets, horizon):
    """Per cycle below ``horizon``: did some PE issue a kept entry then (bypass on: a column's
    entry i issues at its pop + i)."""
    mark = np.zeros(horizon, np.bool_)
    n_pes, n_items = pop.shape
    for p in range(n_pes):
        base = pe_offsets[p]
        for k in range(n_items):
            first = base + ptr[p, slices[k]]
            for i in range(entries[p, k]):
                if v[first + i] != 0:
                    mark[pop[p, k] + i] = True
    return mark


@numba.njit(cache=True)
def _cut(kn, stop, broadcast, pop, finish, entries, rows, lanes, slices, rounds, ptr, v, pe_offsets,
         first_kept_row, last_row, entries_per_word):
    """The counters of a job's segment cut at cycle ``stop`` (see the module's docstring)."""
    n_pes, n_items = pop.shape
    landed = np.zeros((n_pes, n_items), np.int64)
    busy = np.zeros(n_pes, np.int64)
    occ_sum = np.zeros(n_pes, np.int64)
    occ_max = np.zeros(n_pes, np.int64)
    pushes = pops = pointer_reads = word_reads = n_entries = n_kept = bypasses = stalls = 0
    for k in range(n_items):
        found = ccu.found_cycle(k, rows, lanes, broadcast, n_pes)
        if found < stop:
            stalls += min(broadcast[k], stop) - found
        if broadcast[k] < stop:
            pushes += n_pes
    last_issue = stop - act_rw.AUTHORS_WRITE_DELAY  # the last issue cycle whose update lands
    for p in range(n_pes):
        base = pe_offsets[p]
        buffered = -1
        last_end = arith.NO_UPDATE
        prev_row = -1
        popped = 0
        for k in range(n_items):
            t = broadcast[k]
            if t >= stop:
                break
            # the queue holds item k from its broadcast to its pop (or the stop)
            s = pop[p, k]
            occ_sum[p] += min(s, stop) - t
            popped_now = act_queue.held_after(pop[p], k, t, popped)
            popped = popped_now[1]
            held = popped_now[0]
            if held > occ_max[p]:
                occ_max[p] = held
            if s > stop:
                continue
            if k == 0 or rounds[k] != rounds[k - 1]:
                last_end = arith.NO_UPDATE
            pops += 1
            n = entries[p, k]
            pointer_reads += ptr_read.column_accesses(kn, n)
            busy[p] += min(finish[p, k], stop) - s
            if n == 0:
                continue
            first = ptr[p, slices[k]]
            issued = min(n, max(0, stop - s))  # entry i issues at s + i (bypass on)
            got = min(n, max(0, last_issue - s + 1))
            landed[p, k] = got
            if issued:
                words, buffered = spmat_read.word_reads(first, issued, entries_per_word, buffered)
                word_reads += words
                n_entries += issued
            if got:
                if arith.bypassed(kn, s, first_kept_row[p, slices[k]], last_end, prev_row):
                    bypasses += 1
                for e in range(base + first, base + first + got):
                    n_kept += v[e] != 0
            last_end = s + n
            prev_row = last_row[p, slices[k]]
    return (landed, busy, occ_sum, occ_max, pushes, pops, pointer_reads, word_reads, n_entries, n_kept,
            bypasses, stalls)


def apply(layer: EncodedLayer, plan: LayerPlan, run: LayerRun, a_fix: np.ndarray, *, relu: bool,
          config: SimConfig) -> LayerRun:
    """The job's run under the configured stop rule (the engines call this after every job)."""
    if config.stop_rule != "authors":
        return run
    cut, lost = stop_as_the_authors(layer, plan, run, a_fix, relu=relu, config=config)
    if not lost:
        return cut
    shown = ", ".join(f"column {j}" + (f" (round {r})" if layer.rounds > 1 else "") for r, j in lost[:8])
    more = f" and {len(lost) - 8} more" if len(lost) > 8 else ""
    note = (f"job {run.name!r}: stop_rule = authors ended it at cycle {cut.cycles:,} with work left "
            f"(drain: {run.cycles:,}): {len(lost)} item(s) not fully processed, {shown}{more}; its outputs "
            f"lack those entries")
    return replace(cut, notes=(*cut.notes, note))


def _last_row_load(items: Items, broadcast: np.ndarray, n_pes: int) -> int:
    """The cycle the segment's last activation row loads: the cycle before its first item is found,
    or, when it holds none, the cycle before the scan ends."""
    last = items.n_rows - 1
    hit = np.flatnonzero(items.rows == last)
    if len(hit):
        return int(ccu.found_cycle(int(hit[0]), items.rows, items.lanes, broadcast, n_pes)) - 1
    return int(ccu.scan_end(items.rows, items.lanes, broadcast, items.n_rows, n_pes)) - 1


def stop_as_the_authors(layer: EncodedLayer, plan: LayerPlan, run: LayerRun, a_fix: np.ndarray, *,
                        relu: bool, config: SimConfig) -> tuple[LayerRun, list[tuple[int, int]]]:
    """The job's run cut at the authors' completion cycle, and the ``(round, column)`` items whose
    entries had not all landed by then (in some PE), in broadcast order."""
    if not plan.resident:
        raise EieInputError(f"job {run.name!r}: stop_rule = authors is the completion test of the EIE "
                            "authors' simulator, which has no DRAM tiles; this job streams in "
                            f"{len(plan.segments)} tiles (use stop_rule = drain)")
    seg = plan.segments[0]
    items = segment_items(layer, seg, a_fix)
    tm = run.times
    # the machine's record, PEs x items
    broadcast = np.ascontiguousarray(tm.broadcast, np.int64)
    pop, finish, entries = (np.ascontiguousarray(a, np.int64) for a in (tm.pop, tm.finish, tm.entries))
    horizon = int(run.cycles) + 1
    mark = _kept_issues(pop, entries, layer.ptr, items.slices, layer.v, layer.pe_offsets, horizon)
    stop = int(act_rw.authors_stop(mark, _last_row_load(items, broadcast, layer.n_pes)))
    rows = arith.slice_rows(layer)
    (landed, busy, occ_sum, occ_max, pushes, pops, pointer_reads, word_reads, n_entries, n_kept, bypasses,
     stalls) = _cut(knobs(config), stop, broadcast, pop, finish, entries, items.rows, items.lanes,
                    items.slices, items.rounds, layer.ptr, layer.v, layer.pe_offsets, rows.first_kept_row,
                    rows.last_row, layer.entries_per_word)
    # the outputs: only the updates that landed
    out = layer_outputs(layer, [items], relu=relu, config=config, landed=landed if len(items) else NO_LIMIT)
    lost = [(int(items.rounds[k]), int(items.cols[k])) for k in range(len(items))
            if (landed[:, k] < entries[:, k]).any()]
    counts = job_counts(layer, plan, pushes=int(pushes), pops=int(pops), pointer_reads=int(pointer_reads),
                        word_reads=int(word_reads), entries=int(n_entries), kept=int(n_kept), cycles=stop,
                        config=config)
    times = replace(tm, pop=np.where(tm.pop <= stop, tm.pop, -1),
                    finish=np.where((tm.finish <= stop) & (tm.pop <= stop), tm.finish, -1),
                    segment_end=np.array([stop], np.int64))
    cut = replace(run, cycles=stop, counts=counts, busy_cycles=busy, queue_occupancy_sum=occ_sum,
                  queue_occupancy_max=occ_max, ccu_stall_cycles=int(stalls), bypass_count=int(bypasses),
                  entries_processed=int(n_entries), kept_processed=int(n_kept), out_fix=out, times=times)
    return cut, lost
