"""The bounds a run is measured against: every engine's cycles sit at or above each of them,
and a streamed layer on a slow DRAM is bound by its bytes over the bandwidth."""

from __future__ import annotations

import math

import numpy as np
import pytest

from eie_sim.config import SimConfig
from eie_sim.simulate import simulate
from eie_sim.study.bounds import bounds
from tests.conftest import model_of, pair, random_codebook, random_codes


@pytest.mark.parametrize("seed", range(6))
def test_cycles_never_beat_a_bound(seed: int) -> None:
    rng = np.random.default_rng(seed)
    config = SimConfig(n_pes=int(rng.choice([1, 4, 8])), queue_depth=int(rng.choice([1, 2, 8])))
    m, n = int(rng.integers(8, 80)), int(rng.integers(8, 120))
    enc, _ = pair(random_codes(rng, m, n, 0.3), random_codebook(rng), has_bias=False, config=config)
    x = np.maximum(rng.normal(size=n), 0)
    res = simulate(model_of([enc], fa=8), x, config)
    b = bounds(res, config)
    for name, value in b.values.items():
        assert res.cycles >= value, (name, value, res.cycles)
    # The compute bound is the busiest-on-average PE: at least the kept non-zeros an activation
    # multiplies, spread over the PEs (padding and pointer reads only add to it).
    assert b.compute >= math.ceil(res.kept_processed / config.n_pes)
    assert b.ccu >= np.count_nonzero(x) // config.n_pes


def test_a_streamed_layer_on_a_slow_dram_is_bandwidth_bound() -> None:
    rng = np.random.default_rng(7)
    m, n = 512, 1024
    # 1 KB of weight SRAM per PE cannot hold the layer: its tiles stream from DRAM every inference.
    config = SimConfig(n_pes=16, spmat_bytes=1024, dram_gbps=0.8)
    enc, _ = pair(random_codes(rng, m, n, 0.5), random_codebook(rng), has_bias=False, config=config)
    x = np.abs(rng.normal(size=n))
    res = simulate(model_of([enc], fa=8), x, config)
    assert not res.layers[0].resident
    b = bounds(res, config)
    # At least every stored entry (4-bit code and 4-bit index) crosses the DRAM once.
    assert res.dram_bytes >= enc.v.size
    assert b.dram_bandwidth == math.ceil(res.dram_bytes / (0.8e9 / config.clock_hz))
    assert b.binding == "DRAM bandwidth"
    assert res.cycles <= 1.10 * b.dram_bandwidth
