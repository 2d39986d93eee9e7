"""Where a layer's weights live: resident in the PEs' SRAMs, or tiled and streamed from DRAM.

Section 5 of docs/ARCHITECTURE.md, with its fitting and tiling choices. This is
shared by both engines: they differ only in how they turn a segment's items
into cycles, never in what a segment is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from compressor.encode import EncodedLayer, local_rows
from compressor.errors import EieSimulationError

if TYPE_CHECKING:
    from eie_sim.config import SimConfig


@dataclass(frozen=True)
class Segment:
    """A run of (round, column) slices computed as one recurrence from empty queues.

    A resident layer is one segment over all rounds and columns; a tiled layer has
    one segment per tile (one round, a run of columns). ``entry_base`` is each PE's
    first entry of the segment (the origin of its word numbering).
    """

    rounds: range
    col_start: int
    col_end: int
    entry_base: np.ndarray  # int64[N]
    dram_bytes: int  # bytes streamed per inference (0 when resident)


@dataclass(frozen=True)
class SramRegion:
    """Where a layer's weights sit in every PE's SRAMs.

    A resident layer owns one region from ``spmat_base`` (bytes, per PE) and ``ptr_base``
    (pointer slots). A tiled layer owns two halves after every resident layer, each of
    ``spmat_half`` bytes and ``ptr_half`` pointer slots: tile ``t`` streams into half ``t % 2``.
    """

    spmat_base: np.ndarray  # int64[N]
    ptr_base: int
    spmat_half: np.ndarray  # int64[N]; 0 when resident
    ptr_half: int  # 0 when resident

    def spmat_address(self, half: int) -> np.ndarray:
        return self.spmat_base + half * self.spmat_half

    def ptr_address(self, half: int) -> int:
        return self.ptr_base + half * self.ptr_half


@dataclass(frozen=True)
class LayerPlan:
    resident: bool
    segments: tuple[Segment, ...]
    weight_load_bytes: int  # one-time load of a resident layer
    act_spill_bytes: int  # activation bytes through DRAM per inference
    act_spilled: bool
    region: SramRegion

    @property
    def n_tiles(self) -> int:
        return 0 if self.resident else len(self.segments)

    @property
    def dram_bytes(self) -> int:
        """Per inference: streamed tiles plus spilled activations."""
        return sum(s.dram_bytes for s in self.segments) + self.act_spill_bytes


@dataclass(frozen=True)
class _Budget:
    """Per-PE capacity available to a layer (whole SRAMs, or what resident layers leave)."""

    spmat_bytes: np.ndarray  # int64[N]
    ptr_bytes: int


def pointer_bytes(n_pointers: int | np.ndarray, ptr_bits: int) -> int | np.ndarray:
    return -(-(np.asarray(n_pointers) * ptr_bits) // 8)


def footprint(layer: EncodedLayer, config: SimConfig) -> tuple[np.ndarray, int, np.ndarray]:
    """(spmat bytes per PE, pointer bytes per PE, entries per PE) of the whole layer."""
    words = layer.words_per_pe
    ptr = int(pointer_bytes(layer.ptr.shape[1], config.ptr_bits))
    return words * (config.word_bits // 8), ptr, layer.entries_per_pe


def plan_model(layers: Sequence[EncodedLayer], config: SimConfig) -> list[LayerPlan]:
    """Plan every layer: a resident prefix while it fits, the rest tiled in what is left."""
    feet = [footprint(layer, config) for layer in layers]
    max_addr = (1 << config.ptr_bits) - 1
    n_res = 0
    used_spmat = np.zeros(config.n_pes, np.int64)
    used_ptr = 0
    for spmat, ptr, entries in feet:
        # Pointers address entries within their own layer's region, so addressability is per layer.
        if (np.any(used_spmat + spmat > config.spmat_bytes) or used_ptr + ptr > config.ptr_bytes
                or np.any(entries > max_addr)):
            break
        used_spmat += spmat
        used_ptr += ptr
        n_res += 1
    # Streamed layers share what the resident prefix leaves; if a column cannot fit there,
    # give up the last resident layer and try again (docs/ARCHITECTURE.md, "Memory").
    while True:
        used_s = sum((f[0] for f in feet[:n_res]), np.zeros(config.n_pes, np.int64))
        used_p = sum(f[1] for f in feet[:n_res])
        budget = _Budget(config.spmat_bytes - used_s, int(config.ptr_bytes - used_p))
        try:
            plans = []
            spmat_base, ptr_base = np.zeros(config.n_pes, np.int64), 0
            halves = _halves(used_s, n_res, layers, budget, config)
            for i, layer in enumerate(layers):
                region = halves if i >= n_res else SramRegion(spmat_base.copy(), ptr_base,
                                                               np.zeros(config.n_pes, np.int64), 0)
                plans.append(_plan_layer(layer, config, resident=i < n_res, budget=budget, region=region))
                if i < n_res:
                    spmat_base += feet[i][0]
                    ptr_base += layer.ptr.shape[1]
            return plans
        except _ColumnTooLarge as e:
            if n_res == 0:
                raise EieSimulationError(str(e)) from None
            n_res -= 1


def _halves(used_spmat: np.ndarray, n_res: int, layers: Sequence[EncodedLayer], budget: _Budget,
            config: SimConfig) -> SramRegion:
    """The two halves every tiled layer streams into: half of what the resident layers leave."""
    word_bytes = config.word_bits // 8
    ptr_slots = sum(layer.ptr.shape[1] for layer in layers[:n_res])
    return SramRegion(used_spmat.copy(), ptr_slots, budget.spmat_bytes // 2 // word_bytes * word_bytes,
                      (budget.ptr_bytes // 2 * 8) // config.ptr_bits)


class _ColumnTooLarge(Exception):
    pass


def _plan_layer(layer: EncodedLayer, config: SimConfig, *, resident: bool, budget: _Budget,
                region: SramRegion) -> LayerPlan:
    spill, spilled = activation_spill(layer, config)
    n_pes = layer.n_pes
    if resident:
        spmat, ptr, _ = footprint(layer, config)
        seg = Segment(range(layer.rounds), 0, layer.ncols, np.zeros(n_pes, np.int64), 0)
        return LayerPlan(True, (seg,), int(spmat.sum()) + ptr * n_pes, spill, spilled, region)
    return LayerPlan(False, tuple(_tiles(layer, config, budget)), 0, spill, spilled, region)


def _tiles(layer: EncodedLayer, config: SimConfig, budget: _Budget) -> list[Segment]:
    """Greedy tiles: per round, the longest runs of columns that fit half the budget."""
    epw = layer.entries_per_word
    word_bytes = config.word_bits // 8
    # Half the budget, in whole words and whole pointers; addressability caps the entries too.
    max_entries = np.minimum((budget.spmat_bytes // 2 // word_bytes) * epw, (1 << config.ptr_bits) - 1)
    max_cols = (budget.ptr_bytes // 2 * 8) // config.ptr_bits - 1
    ncols = layer.ncols
    tiles = []
    for r in range(layer.rounds):
        ptr = layer.ptr[:, r * ncols: (r + 1) * ncols + 1]  # (N, ncols + 1), this round's pointers
        j0 = 0
        while j0 < ncols:
            # Per PE, the furthest end column whose entries still fit; the tile takes the minimum.
            ends = [int(np.searchsorted(ptr[p], ptr[p, j0] + max_entries[p], side="right")) - 1
                    for p in range(ptr.shape[0])]
            j1 = min(min(ends), j0 + max_cols, ncols)
            if j1 <= j0:
                if max_cols < 1:
                    raise _ColumnTooLarge(
                        f"layer {layer.name!r}: half of the {budget.ptr_bytes} pointer bytes available "
                        f"per PE cannot hold a column's two {config.ptr_bits}-bit pointers; use a "
                        f"larger pointer SRAM")
                need = int((ptr[:, j0 + 1] - ptr[:, j0]).max())
                raise _ColumnTooLarge(
                    f"layer {layer.name!r}: column {j0} of round {r} needs {need} entries "
                    f"({-(-need // epw) * word_bytes} bytes) in one PE, more than half of the "
                    f"{int(budget.spmat_bytes.min())}-byte sparse-matrix SRAM available (or than "
                    f"its {config.ptr_bits}-bit pointers can address); use a larger SRAM or more PEs")
            entries = ptr[:, j1] - ptr[:, j0]
            nbytes = int((-(-entries // epw)).sum() * word_bytes
                         + layer.n_pes * pointer_bytes(j1 - j0 + 1, config.ptr_bits))
            tiles.append(Segment(range(r, r + 1), j0, j1, ptr[:, j0].astype(np.int64), nbytes))
            j0 = j1
    return tiles


def activation_spill(layer: EncodedLayer, config: SimConfig) -> tuple[int, bool]:
    """Activation bytes per inference that do not fit the PEs' activation SRAMs."""
    cap = config.act_bytes // 2  # 16-bit values per PE
    n_in = local_rows(layer.n, layer.n_pes)  # inputs j with j mod N == p
    n_in[0] += layer.has_bias  # the bias sits in PE 0, lane 0 of a row of its own
    n_out = local_rows(layer.m, layer.n_pes)
    in_res = np.minimum(n_in, cap)
    in_spill = n_in - in_res
    out_spill = np.maximum(0, n_out - (cap - in_res))
    values = layer.rounds * int(in_spill.sum()) + int(out_spill.sum())
    return 2 * values, bool(values)
