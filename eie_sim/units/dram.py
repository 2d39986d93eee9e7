"""The DRAM channel: a job's weights in DRAM, copied into the PEs' SRAMs; spilled activations.

Rule (docs/ARCHITECTURE.md section 5): a resident layer is copied into its SRAM region once,
before the inference (not timed, reported apart as the weight load). A tiled layer streams
tile after tile into the two halves of every PE's SRAMs: tile ``t`` goes into half ``t % 2``
once the tile that used that half (``t - 2``) has finished, and the transfer takes
``ceil(bytes / B) + L_dram`` cycles, one transfer at a time, so a tile's load overlaps the
previous tile's compute (double buffering). Activations beyond the activation SRAM cross the
channel too; they count as traffic and energy but take no modelled time.

Named DRAM presets (``data/dram_presets.csv``: LPDDR4, DDR4, HBM2) set the three fields at
once, each value with its source (:func:`dram_presets`, ``--dram NAME`` on the command line).
"""

from __future__ import annotations

import difflib
import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import simpy

from compressor.encode import EncodedLayer, pack_bits, pack_entries
from compressor.errors import EieConfigError, EieFormatError
from eie_sim.csvdata import number, packaged_text, parse_csv
from eie_sim.energy_table import EnergyTable
from eie_sim.fields import Event, Field
from eie_sim.memory import LayerPlan, Segment
from eie_sim.units.channels import Channel

NAME = "dram"
TITLE = "DRAM"
TABLE2 = False

FIELDS = (
    Field("dram_gbps", 12.8, float, "DRAM bandwidth", "DRAM bandwidth (the contract's 16 bytes a cycle "
          "at 800 MHz)", unit="GB/s", lo=1e-3, hi=1e5, flag="dram_bw"),
    Field("dram_latency_ns", 125.0, float, "DRAM latency", "DRAM latency per transfer (a tile; the "
          "contract's 100 cycles at 800 MHz)", unit="ns", lo=0.0, hi=1e7, flag="dram_latency"),
    Field("dram_pj_per_bit", 20.0, float, "DRAM energy", "DRAM energy per bit moved", unit="pJ/bit",
          lo=0.0, hi=1e6),
)

EVENTS = (Event("bit", "a bit moved through DRAM: streamed tiles and spilled activations"),)


def prices(table: EnergyTable, c: object) -> dict[str, float]:
    return {"bit": c.dram_pj_per_bit}


# --------------------------------------------------------------------------- named presets

PRESETS_FILE = "dram_presets.csv"
_PRESET_COLUMNS = ("name", "gbps", "latency_ns", "pj_per_bit", "configuration", "bandwidth_source",
                   "latency_source", "energy_source")
#: preset column -> the field it sets
_PRESET_FIELDS = {"gbps": "dram_gbps", "latency_ns": "dram_latency_ns", "pj_per_bit": "dram_pj_per_bit"}


@dataclass(frozen=True)
class DramPreset:
    """A DRAM part as the channel sees it: bandwidth, latency per transfer, energy per bit moved,
    what the figures describe (one x32 package, one 64-bit channel, one stack) and their sources."""

    name: str
    gbps: float
    latency_ns: float
    pj_per_bit: float
    configuration: str
    bandwidth_source: str
    latency_source: str
    energy_source: str

    def fields(self) -> dict[str, float]:
        """The configuration fields it sets (``SimConfig.replace(**preset.fields())``)."""
        return {"dram_gbps": self.gbps, "dram_latency_ns": self.latency_ns,
                "dram_pj_per_bit": self.pj_per_bit}


def parse_presets(label: str, text: str) -> dict[str, DramPreset]:
    """Presets of a CSV text, checked: every number in its field's range, every source given."""
    ranges = {f.name: (f.lo, f.hi) for f in FIELDS}
    out: dict[str, DramPreset] = {}
    for line, r in parse_csv(label, text, _PRESET_COLUMNS):
        name = r["name"]
        if not name:
            raise EieFormatError(f"{label}: line {line}, field 'name' is empty")
        if name.upper() in out:
            raise EieFormatError(f"{label}: line {line}: preset '{name}' is given twice")
        for col in ("configuration", "bandwidth_source", "latency_source", "energy_source"):
            if not r[col]:
                raise EieFormatError(f"{label}: line {line} (row '{name}'), field '{col}' is empty; every "
                                     "preset says what it describes and where each figure comes from")
        values = {}
        for col, field in _PRESET_FIELDS.items():
            lo, hi = ranges[field]
            values[col] = number(label, line, name, col, r[col], lo=lo, hi=hi, positive=col == "gbps")
        out[name.upper()] = DramPreset(name, **values, **{c: r[c] for c in _PRESET_COLUMNS[4:]})
    if not out:
        raise EieFormatError(f"{label}: no presets")
    return out


@functools.cache
def dram_presets() -> dict[str, DramPreset]:
    """The packaged presets, by upper-case name."""
    return parse_presets(*packaged_text(PRESETS_FILE))


def preset(name: str) -> DramPreset:
    """The preset called ``name`` (any case); an unknown name is an error listing the known ones."""
    presets = dram_presets()
    found = presets.get(str(name).strip().upper())
    if found is None:
        close = difflib.get_close_matches(str(name).upper(), list(presets), n=1, cutoff=0.5)
        hint = f" (did you mean {presets[close[0]].name}?)" if close else ""
        raise EieConfigError(f"unknown DRAM preset {name!r}{hint}; the presets are "
                             f"{', '.join(p.name for p in presets.values())} (eie_sim/data/{PRESETS_FILE})")
    return found


# --------------------------------------------------------------------------- the rules


def buffer_half(tile: int) -> int:
    """The half of the double-buffered SRAMs that tile ``tile`` streams into and is read from."""
    return tile % 2


def bytes_per_cycle(c: object) -> float:
    """B: the channel's bytes per accelerator cycle (GB/s at the configured clock)."""
    return c.dram_gbps * 1e9 / c.clock_hz


def latency_cycles(c: object) -> int:
    """L_dram: the latency in whole accelerator cycles (rounded up)."""
    return math.ceil(round(c.dram_latency_ns * c.clock_hz / 1e9, 9))


def transfer_cycles(nbytes: int, c: object) -> int:
    """Cycles to move ``nbytes`` over the channel: ``ceil(bytes / B) + L_dram``."""
    return math.ceil(nbytes / bytes_per_cycle(c)) + latency_cycles(c)


def schedule(load: Sequence[int], compute: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """Double-buffered streaming: the start and end cycle of every tile, from the cycles each
    takes to load and to compute (``start(t+1) = max(end(t), start(t) + load(t+1))``)."""
    start = np.zeros(len(load), np.int64)
    end = np.zeros(len(load), np.int64)
    for t in range(len(load)):
        start[t] = load[0] if t == 0 else max(end[t - 1], start[t - 1] + load[t])
        end[t] = start[t] + compute[t]
    return start, end


# --------------------------------------------------------------------------- the SimPy unit


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


@dataclass(frozen=True)
class Load:
    """What the array asks of the channel: copy a layer's weights once (``preload``, a resident
    layer) or stream its tiles."""

    layer: EncodedLayer
    plan: LayerPlan
    preload: bool


class DramChannel:
    """Moves bytes from DRAM into the PEs' sparse-matrix and pointer SRAMs.

    Interface: ``control`` (in, from the array: a :class:`Load`), ``spmat_fill`` and
    ``ptr_fill`` (out, one pair per PE, to its SRAMs' write ports), ``filled`` (in, their
    acknowledgements), ``loaded`` (out, to the array: a tile's index once it is in place),
    ``finished`` (in, from the array: the index of each tile whose compute is done),
    ``spill`` (in, from the PEs: activation bytes that did not fit their SRAMs).
    """

    def __init__(self, env: simpy.Environment, *, bytes_per_cycle: float, latency: int, ptr_bits: int,
                 spmat_fill: Sequence[Channel], ptr_fill: Sequence[Channel], filled: Channel,
                 spill: Channel) -> None:
        # interface
        self.env = env
        self.control = Channel(env)
        self.loaded = Channel(env)
        self.finished = Channel(env)
        self.spmat_fill, self.ptr_fill = list(spmat_fill), list(ptr_fill)
        self.filled, self.spill = filled, spill
        # state
        self.bytes_per_cycle = bytes_per_cycle
        self.latency = latency
        self.ptr_bits = ptr_bits
        # counters
        self.streamed_bytes = 0
        self.spill_bytes = 0
        self.weight_load_bytes = 0
        env.process(self.run())
        env.process(self.spill_port())

    @classmethod
    def from_config(cls, env: simpy.Environment, config: object, **ports: object) -> DramChannel:
        return cls(env, bytes_per_cycle=bytes_per_cycle(config), latency=latency_cycles(config),
                   ptr_bits=config.ptr_bits, **ports)

    def run(self):
        """DRAM: preload resident layers; stream a tiled layer's tiles into alternate halves."""
        env = self.env
        while True:
            load = yield self.control.get()
            region = load.plan.region
            if load.preload:
                images = segment_images(load.layer, load.plan.segments[0], ptr_bits=self.ptr_bits)
                yield from self._copy(images, region.spmat_address(0), region.ptr_address(0))
                self.weight_load_bytes += sum(img.nbytes for img in images)
                self.loaded.offer(-1)
                continue
            done = -1
            for t, seg in enumerate(load.plan.segments):
                while done < t - 2:  # the half this tile goes into is still in use
                    done = yield self.finished.get()
                images = segment_images(load.layer, seg, ptr_bits=self.ptr_bits)
                nbytes = sum(img.nbytes for img in images)
                yield env.timeout(math.ceil(nbytes / self.bytes_per_cycle) + self.latency)  # the transfer
                half = buffer_half(t)
                yield from self._copy(images, region.spmat_address(half), region.ptr_address(half))
                self.streamed_bytes += nbytes
                self.loaded.offer(t)
            while done < len(load.plan.segments) - 1:  # the layer's last tiles finish
                done = yield self.finished.get()

    def _copy(self, images: Sequence[PeImage], spmat_address: np.ndarray, ptr_slot: int):
        """Burst each PE's image into its SRAMs' write ports and wait for every acknowledgement."""
        for p, img in enumerate(images):
            self.spmat_fill[p].offer((int(spmat_address[p]), img.spmat))
            self.ptr_fill[p].offer((ptr_slot, img.pointers, img.n_pointers))
        for _ in range(2 * len(images)):
            yield self.filled.get()

    def spill_port(self):
        """Activations that spill from the PEs' SRAMs cross the channel (no modelled time)."""
        while True:
            nbytes, ack = yield self.spill.get()
            self.spill_bytes += nbytes
            ack.offer(nbytes)

    def event_counts(self) -> dict[str, int]:
        return {"bit": 8 * (self.streamed_bytes + self.spill_bytes)}

    def reset_counts(self) -> None:
        """Restart the per-inference counters (the weight load is counted once, not per job)."""
        self.streamed_bytes = self.spill_bytes = 0
