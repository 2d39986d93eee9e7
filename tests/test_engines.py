"""Both engines against the independent reference (tests/reference.py), bit for bit and cycle for cycle.

The test class is written once; each engine inherits it with one hook swapped
(PyMTL3's habit), so a case added here checks every engine.
"""

from __future__ import annotations

import numpy as np
import pytest

from eie_sim.config import KB, SimConfig
from eie_sim.simulate import simulate
from tests import reference as ref
from tests.conftest import model_of, pair, random_codebook, random_codes, ref_hw


def compare(result, refs, config: SimConfig) -> None:
    """Every figure the reference computes equals the engine's, layer by layer."""
    assert len(result.layers) == len(refs)
    for lay, r in zip(result.layers, refs, strict=True):
        where = lay.name
        assert lay.cycles == r["cycles"], where
        assert lay.resident == r["resident"], where
        assert lay.tiles == (0 if r["resident"] else len(r["tiles"])), where
        assert lay.busy_cycles == r["busy"].tolist(), where
        assert lay.idle_cycles == r["idle"].tolist(), where
        assert lay.pe_utilization == pytest.approx(r["pe_utilization"], rel=1e-12), where
        assert lay.mac_efficiency == pytest.approx(r["mac_efficiency"], rel=1e-12), where
        assert lay.ccu_stall_cycles == r["ccu_stall_cycles"], where
        np.testing.assert_allclose(lay.queue_occupancy_mean, r["occupancy_mean"], rtol=1e-12)
        assert lay.queue_occupancy_max == r["occupancy_max"].tolist(), where
        assert lay.bypass_count == r["bypass"], where
        counts = lay.access_counts
        assert counts["spmat_read.word_read"] == r["spmat_word_reads"], where
        assert counts["ptr_read.read"] == r["pointer_reads"], where
        assert counts["act_queue.push"] == r["queue_pushes"], where
        assert lay.entries_processed == r["entries_processed"], where
        assert lay.kept_processed == r["kept_processed"], where
        assert lay.dram_bytes == r["dram_bytes"], where
        assert lay.weight_load_bytes == r["weight_load_bytes"], where
    assert result.cycles == sum(r["cycles"] for r in refs)
    assert result.output_fix.tolist() == refs[-1]["output"].tolist()


class EngineContract:
    """The contract, checked on one engine; subclasses set ``engine``."""

    engine: str

    def run(self, layers, x, fa, config, **model_kw):
        """Simulate the encoded model and run the reference on the same dense layers."""
        encoded = [e for e, _ in layers]
        refs = ref.model_figures([r for _, r in layers], x, fa, ref_hw(config))
        result = simulate(model_of(encoded, fa, **model_kw), x, config, engine=self.engine)
        compare(result, refs, config)
        return result, refs

    def test_contract_worked_example(self):
        cfg = SimConfig(n_pes=2, queue_depth=1, check=True)
        codes = np.zeros((4, 3), np.uint8)
        for i, j in [(0, 0), (2, 0), (1, 1), (3, 2)]:
            codes[i, j] = 1
        layer = pair(codes, np.linspace(0, 1.5, 16), has_bias=False, config=cfg)
        result, refs = self.run([layer], np.array([0.5, 0.25, 1.0]), 12, cfg)
        assert result.cycles == 8  # the contract's own figure, not the reference's

    def test_all_zero_activations(self, rng):
        cfg = SimConfig(n_pes=16, check=True)
        layer = pair(random_codes(rng, 50, 20, 0.3), random_codebook(rng), has_bias=False, config=cfg)
        result, _ = self.run([layer], np.zeros(20), 12, cfg)
        assert result.cycles == cfg.lnzd_levels + 3
        assert not result.output_fix.any()

    def test_empty_columns_and_long_gaps(self, rng):
        cfg = SimConfig(n_pes=1, regs=256, check=True)
        codes = random_codes(rng, 200, 12, 0.03)
        codes[:, [2, 5]] = 0  # empty columns
        codes[:, 7] = 0
        codes[[3, 150, 199], 7] = 5  # gaps of 146 and 48 rows: several padding entries
        layer = pair(codes, random_codebook(rng), has_bias=False, config=cfg)
        self.run([layer], rng.random(12), 14, cfg)

    @pytest.mark.parametrize("n_pes,m", [(1, 37), (8, 37), (16, 3), (64, 10)])
    def test_pe_counts_and_shapes(self, rng, n_pes, m):
        cfg = SimConfig(n_pes=n_pes, check=True)
        layer = pair(random_codes(rng, m, 25, 0.4), random_codebook(rng), has_bias=True, config=cfg)
        x = np.where(rng.random(24) < 0.5, rng.random(24), 0.0)
        self.run([layer], x, 13, cfg)

    @pytest.mark.parametrize("depth", [1, 2, 8])
    def test_rounds_and_fifo_depths(self, rng, depth):
        cfg = SimConfig(n_pes=2, regs=16, queue_depth=depth, check=True)
        layer = pair(random_codes(rng, 300, 40, 0.15), random_codebook(rng), has_bias=True, config=cfg)
        x = np.where(rng.random(39) < 0.4, rng.random(39), 0.0)
        result, refs = self.run([layer], x, 13, cfg)
        assert refs[0]["rounds"] == 10

    def test_tiles_with_small_sram(self, rng):
        cfg = SimConfig(n_pes=4, regs=8, spmat_bytes=256, ptr_bytes=64, check=True)
        layer = pair(random_codes(rng, 60, 50, 0.3), random_codebook(rng), has_bias=True, config=cfg)
        x = np.where(rng.random(49) < 0.5, rng.random(49), 0.0)
        result, refs = self.run([layer], x, 13, cfg)
        assert not refs[0]["resident"] and len(refs[0]["tiles"]) > 4
        assert result.dram_bytes > 0

    def test_saturation(self, rng):
        cfg = SimConfig(n_pes=2, check=True)
        codes = np.full((6, 40), 15, np.uint8)
        codes[:, ::3] = 1  # large positive then negative weights: clamps mid-sum
        codebook = np.concatenate([[0.0, -1.9], np.linspace(0.5, 1.9, 14)])
        layer = pair(codes, codebook, has_bias=False, config=cfg)
        x = np.full(40, 1.9)
        result, refs = self.run([layer], x, 14, cfg)
        naive = np.clip((codebook[codes] @ x) * 2**14, -32768, 32767)
        assert np.any(result.output_fix != np.round(naive))  # saturation changed the result

    def test_wide_accumulator_and_word_width(self, rng):
        cfg = SimConfig(n_pes=4, acc_bits=24, spmat_width_bits=128, check=True)
        layer = pair(random_codes(rng, 40, 30, 0.5), random_codebook(rng, scale=0.8),
                     has_bias=True, config=cfg)
        self.run([layer], rng.random(29) * 1.5, 13, cfg)

    def test_three_layer_model(self, rng):
        cfg = SimConfig(n_pes=4, regs=8, check=True)
        shapes = [(30, 20), (25, 30), (10, 25)]
        layers = [pair(random_codes(rng, m, n + 1, 0.4), random_codebook(rng), has_bias=True,
                       config=cfg, name=f"fc{i}") for i, (m, n) in enumerate(shapes)]
        result, refs = self.run(layers, rng.random(20), 12, cfg)
        assert len(result.layers) == 3

    @pytest.mark.parametrize("seed", range(12))
    def test_random_layers(self, seed):
        rng = np.random.default_rng(seed)
        cfg = SimConfig(n_pes=int(rng.choice([1, 2, 3, 4, 8, 16, 64])),
                        queue_depth=int(rng.integers(1, 9)), regs=int(rng.integers(1, 20)),
                        spmat_width_bits=int(rng.choice([16, 32, 64, 128])),
                        spmat_bytes=int(rng.choice([128, 512, 128 * KB])), check=True)
        m, n = int(rng.integers(1, 90)), int(rng.integers(1, 60))
        bias = bool(rng.integers(0, 2))
        layer = pair(random_codes(rng, m, n + bias, rng.random()), random_codebook(rng),
                     has_bias=bias, config=cfg, ibits=int(rng.integers(2, 5)))
        x = np.where(rng.random(n) < rng.random(), rng.normal(0, 1, n), 0.0)
        self.run([layer], x, 12, cfg)


class TestSimPy(EngineContract):
    engine = "simpy"


class TestFast(EngineContract):
    engine = "fast"


def test_alexnet_fc6_shape_tiled_on_4_pes():
    """AlexNet FC6's shape (4096 x 9216, 9 % weights, 35.1 % activations) on 4 PEs: 16 tiles."""
    rng = np.random.default_rng(6)
    cfg = SimConfig(n_pes=4, check=True)
    layer = pair(random_codes(rng, 4096, 9217, 0.09), random_codebook(rng), has_bias=True, config=cfg)
    x = np.where(rng.random(9216) < 0.351, rng.random(9216), 0.0)
    refs = ref.model_figures([layer[1]], x, 14, ref_hw(cfg))
    assert not refs[0]["resident"]
    for engine in ("fast", "simpy"):
        compare(simulate(model_of([layer[0]], 14), x, cfg, engine=engine), refs, cfg)
