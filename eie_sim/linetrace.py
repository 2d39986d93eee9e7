"""Fixed-width line traces: one line per cycle, one column per unit (PyMTL3's habit).

Each unit's module declares its column (:class:`TraceColumn`: a header, a width, the cells
it shows, and a key); :func:`render` joins them, the CCU's column first and then, for each
PE shown, its units' columns side by side. Cells are drawn from the layer's item timeline
(:class:`eie_sim.run.ItemTimes`), which both engines record, so a trace reads the same
whichever engine ran::

    cycle | CCU    | PE0 q p a    | PE1 q p a
       12 | b17    |     2 P 15   |     1 P 16
       13 | #      |     2   .    |     1   .
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from eie_sim.run import ItemTimes

TRACE_LINES = 12  # cycles shown when a run hits its cycle limit
MAX_PES = 8  # PEs shown by default


@dataclass(frozen=True)
class TraceColumn:
    """A unit's column: ``cells(times, pe, cycles)`` gives one cell per cycle (``pe`` is -1 for a
    unit of the array, not of a PE)."""

    header: str
    width: int
    cells: Callable[[ItemTimes, int, np.ndarray], list[str]]
    key: str


def render(times: ItemTimes, array_columns: Sequence[TraceColumn], pe_columns: Sequence[TraceColumn], *,
           start: int, stop: int, pes: Sequence[int] | None = None, key: bool = True) -> list[str]:
    """Lines for cycles ``start..stop-1``; ``pes`` defaults to the first eight."""
    n_pes = times.pop.shape[0]
    shown = list(range(min(n_pes, MAX_PES))) if pes is None else [p for p in pes if 0 <= p < n_pes]
    cycles = np.arange(start, max(start, stop), dtype=np.int64)
    columns = [[c.cells(times, -1, cycles) for c in array_columns]]
    for p in shown:
        columns.append([c.cells(times, p, cycles) for c in pe_columns])
    heads = [" ".join(f"{c.header:<{c.width}}" for c in array_columns)]
    heads += [f"PE{p} " + " ".join(f"{c.header:<{c.width}}" for c in pe_columns) for p in shown]
    widths = [max(len(h), sum(c.width for c in cols) + len(cols) - 1 + (len(f"PE{p} ") if i else 0))
              for i, (h, cols, p) in enumerate(zip(heads, [array_columns] + [pe_columns] * len(shown),
                                                       [0, *shown], strict=True))]
    lines = []
    if key:
        what = (f"PEs {ranges(shown)} of {n_pes}" if shown else f"no PE of {n_pes}") + " shown"
        lines.append(f"line trace, cycles {start}..{max(start, stop) - 1}, {what}; key:")
        for c in (*array_columns, *pe_columns):
            lines.append(f"  {c.header:<4} {c.key}")
    lines.append(f"{'cycle':>8} | " + " | ".join(f"{h:<{w}}" for h, w in zip(heads, widths, strict=True)))
    cols_of = [array_columns] + [pe_columns] * len(shown)
    for i, x in enumerate(cycles):
        cells = []
        for g, (group, units) in enumerate(zip(columns, cols_of, strict=True)):
            text = " ".join(f"{cell[i]:<{u.width}}" for cell, u in zip(group, units, strict=True))
            if g:
                text = " " * len(f"PE{shown[g - 1]} ") + text
            cells.append(f"{text:<{widths[g]}}")
        lines.append(f"{int(x):>8} | " + " | ".join(cells))
    return lines


def ranges(items: Sequence[int], one: str = "", many: str = "") -> str:
    """Ascending numbers as runs: ``'0-3, 7'`` for [0, 1, 2, 3, 7]; ``one`` and ``many`` prefix a
    single number and a run (``'PEs 0-3, PE 7'``)."""
    parts, first = [], None
    for i, v in enumerate(items):
        if first is None:
            first = v
        if i + 1 == len(items) or items[i + 1] != v + 1:
            parts.append(f"{one}{first}" if first == v else f"{many}{first}-{v}")
            first = None
    return ", ".join(parts)
