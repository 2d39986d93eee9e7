"""What the transformer studies (:mod:`.minilm`, :mod:`.llama`) share: the storage of an encoding,
Markdown tables, figures written safely, and where a streamed job's cycles go beyond its DRAM bound."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from compressor.encode import EncodedLayer
from compressor.outputs import write_atomic
from eie_sim.config import SimConfig
from eie_sim.memory import LayerPlan, footprint
from eie_sim.run import LayerRun
from eie_sim.units import dram

#: Bytes per weight of the dense formats the EIE encoding is compared with.
DENSE_FORMATS = {"dense 4-bit": 0.5, "dense 8-bit": 1.0, "dense 16-bit": 2.0}


@dataclass(frozen=True)
class Storage:
    """Bytes an encoding of some layers takes in the PEs' SRAMs (or streams from DRAM): packed
    entry words (padding entries and the last partial word of each PE included) and pointers."""

    weights: int  # m x (n + 1 if a bias) over the layers: the bias is a column of the encoding
    kept: int  # non-zero weights kept (biases included)
    entries: int  # stored entries, padding and bias included
    entry_bytes: int
    pointer_bytes: int

    @property
    def bytes(self) -> int:
        return self.entry_bytes + self.pointer_bytes

    @property
    def bytes_per_weight(self) -> float:
        return self.bytes / self.weights

    @property
    def bytes_per_kept(self) -> float:
        return self.bytes / max(1, self.kept)


def storage(layers: Sequence[EncodedLayer], config: SimConfig) -> Storage:
    """The SRAM footprint of ``layers`` as encoded (for their own PE count), with the
    configuration's pointer width; the same bytes a streamed layer moves per inference."""
    weights = kept = entries = entry_b = ptr_b = 0
    for layer in layers:
        weights += layer.m * layer.ncols
        kept += layer.kept
        entries += layer.entries
        spmat, ptr, _ = footprint(layer, config)  # the memory planner's bytes
        entry_b += int(spmat.sum())
        ptr_b += layer.n_pes * ptr
    return Storage(weights, kept, entries, entry_b, ptr_b)


def md_table(df: pd.DataFrame) -> str:
    """A DataFrame as a Markdown table (pandas' to_markdown needs tabulate, not a dependency)."""
    head = "| " + " | ".join(map(str, df.columns)) + " |"
    sep = "|" + "---|" * len(df.columns)
    body = ["| " + " | ".join(map(str, row)) + " |" for row in df.itertuples(index=False)]
    return "\n".join([head, sep, *body])


def save_figure(fig: object, path: Path, *, force: bool) -> Path:
    """Write a matplotlib figure as PNG atomically, and close it."""
    import matplotlib.pyplot as plt

    try:
        return write_atomic(path, lambda p: fig.savefig(p, format="png", dpi=110, bbox_inches="tight"),
                            force=force)
    finally:
        plt.close(fig)


@dataclass(frozen=True)
class StreamGap:
    """Where a streamed job's cycles go beyond its DRAM bound ``ceil(bytes / B)``.

    The channel moves one tile at a time, ``ceil(bytes_t / B) + L_dram`` cycles each, into the
    half of the SRAMs that tile ``t - 2`` has finished with, while the PEs compute the previous
    tile (docs/ARCHITECTURE.md section 5). A run's cycles are the bound plus: ``latency``
    (``L_dram`` per tile), ``rounding`` (each tile's ``ceil``), ``channel_wait`` (the channel
    idle because both halves were still in use: compute outlasting a load) and ``drain`` (the
    cycles after the job's last byte arrived: the compute still to do then, which nothing
    overlaps, since the next job's first tile is fetched only when this job ends). The four add
    up to ``cycles - bound``.
    """

    cycles: int
    bound: int
    latency: int
    rounding: int
    channel_wait: int
    drain: int

    @property
    def gap(self) -> float:
        return self.cycles / self.bound - 1.0 if self.bound else math.inf


def stream_gap(run: LayerRun, plan: LayerPlan, config: SimConfig) -> StreamGap | None:
    """The decomposition of one streamed job's cycles (None for a resident job)."""
    if plan.resident or not plan.segments:
        return None
    b = dram.bytes_per_cycle(config)
    sizes = [s.dram_bytes for s in plan.segments]
    bound = math.ceil(sum(sizes) / b)
    loads = [dram.transfer_cycles(n, config) for n in sizes]
    # tile t's transfer starts when tile t - 1 starts computing (its half is then free and the
    # channel idle): so the last transfer ends at the second-to-last tile's start plus its length
    last_load_end = loads[0] if len(loads) == 1 else int(run.times.segment_start[-2]) + loads[-1]
    latency = dram.latency_cycles(config) * len(sizes)
    rounding = sum(loads) - latency - bound
    return StreamGap(cycles=run.cycles, bound=bound, latency=latency, rounding=rounding,
                     channel_wait=last_load_end - sum(loads), drain=run.cycles - last_load_end)


def gap_frame(gaps: Sequence[tuple[str, StreamGap]], clock_hz: float) -> pd.DataFrame:
    """One row per streamed job, and their sum, in microseconds and as % of the bound."""
    rows = []
    for name, g in [*gaps, ("all streamed jobs", _sum_gaps([g for _, g in gaps]))]:
        rows.append({"job": name, "cycles": g.cycles, "DRAM bound": g.bound,
                     "gap %": round(100 * g.gap, 2),
                     "latency %": round(100 * g.latency / g.bound, 3),
                     "rounding %": round(100 * g.rounding / g.bound, 3),
                     "channel wait %": round(100 * g.channel_wait / g.bound, 2),
                     "drain %": round(100 * g.drain / g.bound, 2),
                     "time us": round(g.cycles * 1e6 / clock_hz, 1)})
    return pd.DataFrame(rows)


def _sum_gaps(gaps: Sequence[StreamGap]) -> StreamGap:
    fields = ("cycles", "bound", "latency", "rounding", "channel_wait", "drain")
    return StreamGap(**{f: int(np.sum([getattr(g, f) for g in gaps])) for f in fields})
