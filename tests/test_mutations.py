"""Deliberately broken units fail the engine-vs-reference comparison (the suite can catch them).

Each test breaks one unit of the SimPy machine with ``monkeypatch`` and checks that
the comparison with the oracle the engine tests use (tests/test_engines.py) fails on a
case that exercises the unit; the unbroken machine passes the same cases first.
``benchmarks/mutants.py`` breaks every unit's timing rule in a copy of the source, in
both engines, and runs the suite on each.
"""

from __future__ import annotations

import numpy as np
import pytest

from eie_sim.config import SimConfig
from eie_sim.simulate import CHECK_ENV
from eie_sim.units import arith, array, ccu, dram
from eie_sim.units.spmat_read import SparseMatrixReadUnit
from tests.conftest import pair, random_codebook, random_codes
from tests.test_engines import EngineContract


class Machine(EngineContract):
    engine = "simpy"


def resident_case(rng):
    cfg = SimConfig(n_pes=4, check=False)
    layer = pair(random_codes(rng, 40, 33, 0.4), random_codebook(rng), has_bias=True, config=cfg)
    return [layer], rng.random(32) + 0.05, cfg


def tiled_case(rng):
    cfg = SimConfig(n_pes=4, regs=8, spmat_bytes=256, ptr_bytes=64, check=False)
    layer = pair(random_codes(rng, 60, 50, 0.3), random_codebook(rng), has_bias=True, config=cfg)
    return [layer], np.where(rng.random(49) < 0.6, rng.random(49) + 0.05, 0.0), cfg


def multi_round_case(rng):
    cfg = SimConfig(n_pes=2, regs=2, queue_depth=2, bypass=False, acc_latency=4, check=False)
    layer = pair(random_codes(rng, 12, 9, 0.8), random_codebook(rng), has_bias=True, config=cfg)
    return [layer], rng.random(8) + 0.05, cfg


def fails(case, monkeypatch) -> None:
    """The comparison with the reference fails on its own (conservation checks off)."""
    layers, x, cfg = case
    monkeypatch.delenv(CHECK_ENV)
    with pytest.raises(AssertionError):
        Machine().run(layers, x, 13, cfg)


def test_the_cases_pass_unbroken(rng):
    for case in (resident_case, tiled_case, multi_round_case):
        layers, x, cfg = case(rng)
        result, refs = Machine().run(layers, x, 13, cfg)
        if case is tiled_case:
            assert not refs[0]["resident"] and len(refs[0]["tiles"]) >= 3
    assert refs[0]["rounds"] == 3 and result.hazard_stall_cycles > 0


def test_a_flipped_bit_in_a_pe_sram_image_fails(rng, monkeypatch):
    """One bit of PE 1's first packed word (a code bit of its first entry) flips after loading."""
    write = SparseMatrixReadUnit.write
    flipped = []

    def write_then_flip(self, address, data):
        write(self, address, data)
        if not flipped and len(data) and self is units[1]:
            self.sram[address] ^= 1 << 4  # bit 4 of entry 0: the lowest bit of its code v
            flipped.append(address)

    units: list[SparseMatrixReadUnit] = []
    init = SparseMatrixReadUnit.__init__

    def track(self, *args, **kw):
        init(self, *args, **kw)
        units.append(self)

    monkeypatch.setattr(SparseMatrixReadUnit, "__init__", track)
    monkeypatch.setattr(SparseMatrixReadUnit, "write", write_then_flip)
    fails(resident_case(rng), monkeypatch)
    assert flipped


def test_a_tile_copied_into_the_wrong_half_fails(rng, monkeypatch):
    """The DRAM channel writes tile t into the half the PEs read tile t+1 from."""

    class ReadSide:  # the array (which points the PEs at a half) keeps the right halves
        buffer_half = staticmethod(dram.buffer_half)

        def __getattr__(self, name):
            return getattr(dram, name)

    monkeypatch.setattr(array, "dram", ReadSide())
    monkeypatch.setattr(dram, "buffer_half", lambda tile: (tile + 1) % 2)
    fails(tiled_case(rng), monkeypatch)


def test_an_lnzd_that_skips_lane_n_minus_1_fails(rng, monkeypatch):
    """The detector never reports the last lane of a row."""
    next_lane = ccu.LeadingNonZeroDetector.next_lane

    def skipping(self):
        lane = next_lane(self)
        return next_lane(self) if lane == self.n_lanes - 1 else lane

    monkeypatch.setattr(ccu.LeadingNonZeroDetector, "next_lane", skipping)
    fails(resident_case(rng), monkeypatch)


def test_an_arithmetic_unit_that_keeps_its_hazard_history_across_rounds_fails(rng, monkeypatch):
    """The round reset: a register of round r is another output in round r+1, so an update of it
    must not wait for the previous round's update of the same register."""
    run = arith.ArithmeticUnit.run

    def never_forgets_a_round(self):
        forget = self.forget
        self.forget = lambda: None if self._round >= 0 else forget()  # only a job start forgets
        return run(self)

    monkeypatch.setattr(arith.ArithmeticUnit, "run", never_forgets_a_round)
    fails(multi_round_case(rng), monkeypatch)


def test_an_energy_breakdown_that_drops_an_event_fails_the_conservation_check(monkeypatch):
    """check_energy re-prices events one by one: a breakdown that forgets the adds is caught."""
    from eie_sim import checks
    from eie_sim.counts import Counts

    counts = Counts()
    counts.add("arith", "multiply", 100)
    counts.add("arith", "add", 100)
    counts.add("ptr_read", "cycle", 120)
    cfg = SimConfig(n_pes=4)
    checks.check_energy(counts, cfg, "unbroken")
    real = checks.energy

    def forgets_adds(c, config):
        c2 = Counts()
        for (unit, action), n in c.items():
            if (unit, action) != ("arith", "add"):
                c2.add(unit, action, n)
        return real(c2, config)

    monkeypatch.setattr(checks, "energy", forgets_adds)
    with pytest.raises(checks.ConservationError, match="priced one by one"):
        checks.check_energy(counts, cfg, "broken")
