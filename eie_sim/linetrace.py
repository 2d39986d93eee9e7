"""Fixed-width line traces: one line per cycle, one column per unit (PyMTL3's habit).

The CCU column shows ``b<col>`` on a broadcast and ``#`` between two broadcasts
(the LNZD loading rows, or back-pressure from a full queue); a PE column shows
the column it starts on that cycle, ``.`` while it works through the column's
entries, and blank when idle. Read a pipeline cycle
by cycle in a terminal::

    cycle | CCU     | PE0   | PE1
       12 | b17     | 15    | .
       13 | #       | .     | 16
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

CELL = 6
TRACE_LINES = 12  # cycles shown when a run hits its cycle limit


def render(t: Sequence[int], s: np.ndarray, fin: np.ndarray, cols: Sequence[int], *, start: int,
           stop: int, max_pes: int = 8) -> list[str]:
    """Lines for cycles ``start..stop-1`` from broadcast (t), pop (s) and finish (fin) cycles.

    ``s`` and ``fin`` are (N, K); a visit still running has ``fin`` = -1. Shows the first
    ``max_pes`` PEs.
    """
    t = np.asarray(t, np.int64)
    n_pes = min(s.shape[0], max_pes)
    head = f"{'cycle':>8} | {'CCU':<{CELL}}" + "".join(f" | {f'PE{p}':<{CELL}}" for p in range(n_pes))
    lines = [head]
    for x in range(start, stop):
        k = np.flatnonzero(t == x)
        if len(k):
            ccu = f"b{cols[k[0]]}"
        else:
            # between two broadcasts more than a cycle apart: row loads or back-pressure
            ccu = "#" if np.any(t < x) and np.any(t > x) else ""
        cells = [ccu]
        for p in range(n_pes):
            starts = np.flatnonzero(s[p] == x)
            if len(starts):
                cells.append(str(cols[starts[0]]))
                continue
            busy = np.any((s[p] < x) & ((fin[p] > x) | (fin[p] < 0)) & (s[p] >= 0))
            cells.append("." if busy else "")
        lines.append(f"{x:>8} | " + " | ".join(f"{c:<{CELL}}" for c in cells))
    return lines
