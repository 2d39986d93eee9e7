"""The DRAM channel: a layer's bytes in DRAM, copied into the PEs' SRAMs.

A resident layer is copied once before inference (not timed, reported apart). A
tiled layer streams tile after tile into the two halves of every PE's SRAMs: tile
``t`` lands in half ``t % 2`` once the tile that used that half has finished, and
the copy takes ``ceil(bytes / B) + L_dram`` cycles, so a tile's load overlaps the
previous tile's compute (double buffering).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import simpy

from compressor.encode import EncodedLayer, pack_bits, pack_entries
from eie_sim.memory import LayerPlan, Segment
from eie_sim.simpy_model.pe import ProcessingElement


def buffer_half(tile: int) -> int:
    """The half of the double-buffered SRAMs that tile ``tile`` streams into and is read from."""
    return tile % 2


@dataclass(frozen=True)
class PeImage:
    """One PE's share of a segment as it sits in DRAM: packed words and packed pointers."""

    spmat: bytes
    pointers: bytes
    n_pointers: int

    @property
    def nbytes(self) -> int:
        return len(self.spmat) + len(self.pointers)


def segment_images(layer: EncodedLayer, seg: Segment, *, ptr_bits: int) -> list[PeImage]:
    """Each PE's words (from the segment's first entry, whole words) and pointers (relative)."""
    images = []
    ncols = layer.ncols
    first_slice = seg.rounds.start * ncols + seg.col_start
    last_slice = (seg.rounds.stop - 1) * ncols + seg.col_end  # the pointer after the last column
    for p in range(layer.n_pes):
        ptr = layer.ptr[p, first_slice: last_slice + 1]
        lo = layer.pe_offsets[p] + ptr[0]
        hi = layer.pe_offsets[p] + ptr[-1]
        words = pack_entries(layer.v[lo:hi], layer.z[lo:hi], ibits=layer.ibits,
                             entry_bits=layer.entry_bits, word_bits=layer.word_bits)
        images.append(PeImage(words, pack_bits(ptr - ptr[0], ptr_bits), len(ptr)))
    return images


class DramChannel:
    """Moves bytes from DRAM into the PEs' sparse-matrix and pointer SRAMs."""

    def __init__(self, env: simpy.Environment, *, bytes_per_cycle: float, latency: int,
                 ptr_bits: int) -> None:
        self.env = env
        self.bytes_per_cycle = bytes_per_cycle
        self.latency = latency
        self.ptr_bits = ptr_bits
        # counter
        self.streamed_bytes = 0

    def _copy(self, pes: Sequence[ProcessingElement], images: Sequence[PeImage],
              spmat_address: np.ndarray, ptr_slot: int) -> None:
        for pe, img in zip(pes, images, strict=True):
            pe.spmat_read.write(int(spmat_address[pe.index]), img.spmat)
            pe.ptr_read.write_packed(ptr_slot, img.pointers, img.n_pointers)

    def preload(self, layer: EncodedLayer, plan: LayerPlan, pes: Sequence[ProcessingElement]) -> int:
        """Copy a resident layer into its SRAM region, once; returns the bytes copied (they are
        not per inference)."""
        images = segment_images(layer, plan.segments[0], ptr_bits=self.ptr_bits)
        self._copy(pes, images, plan.region.spmat_address(0), plan.region.ptr_address(0))
        return sum(img.nbytes for img in images)

    def stream(self, layer: EncodedLayer, plan: LayerPlan, pes: Sequence[ProcessingElement],
               loaded: Sequence[simpy.Event], finished: Sequence[simpy.Event]):
        """DRAM: copy each tile into its half once the tile two before it has finished."""
        env = self.env
        for t, seg in enumerate(plan.segments):
            if t >= 2:
                yield finished[t - 2]
            images = segment_images(layer, seg, ptr_bits=self.ptr_bits)
            nbytes = sum(img.nbytes for img in images)
            yield env.timeout(math.ceil(nbytes / self.bytes_per_cycle) + self.latency)
            half = buffer_half(t)
            self._copy(pes, images, plan.region.spmat_address(half), plan.region.ptr_address(half))
            self.streamed_bytes += nbytes
            loaded[t].succeed()
