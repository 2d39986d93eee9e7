"""Both engines against the independent reference (tests/reference.py), bit for bit and cycle for cycle.

The test class is written once; each engine inherits it with one hook swapped
(PyMTL3's habit), so a case added here checks every engine. Every figure and
counter of contract section 4 is compared with the value the reference computes
itself, and the energy is recomputed here from the reference's counts and the
priced energy table (not by calling the energy step).
"""

from __future__ import annotations

import numpy as np
import pytest

from eie_sim.config import KB, SimConfig
from eie_sim.energy import EnergyModel
from eie_sim.simulate import simulate
from tests import reference as ref
from tests.conftest import model_of, pair, random_codebook, random_codes, ref_hw

#: Result access-count key -> the reference's name for the same count.
COUNTERS = {
    "act_queue.push": "queue_pushes", "act_queue.pop": "queue_pops", "ptr_read.read": "pointer_reads",
    "spmat_read.word_read": "spmat_word_reads", "arith.codebook_read": "codebook_reads",
    "arith.multiply": "multiplies", "arith.add": "adds", "act_rw.dest_read": "dest_reads",
    "act_rw.dest_write": "dest_writes", "act_rw.src_read": "src_reads",
    "act_rw.sram_read": "act_sram_reads", "act_rw.sram_write": "act_sram_writes",
}


def reference_counts(r: dict, config: SimConfig) -> dict[str, int]:
    """Every energy event of one layer, from the reference's own figures."""
    counts = {key: int(r[name]) for key, name in COUNTERS.items()}
    counts["ccu.node_cycle"] = ref.lnzd_nodes(config.n_pes) * r["cycles"]
    counts["dram.bit"] = 8 * r["dram_bytes"]
    for unit in ("act_queue", "ptr_read", "spmat_read", "arith", "act_rw"):
        counts[f"{unit}.cycle"] = config.n_pes * r["cycles"]
    return counts


def priced(counts: dict[str, int], config: SimConfig) -> float:
    """Joules: the reference's counts x the energy model's pJ per event, summed here.

    The prices are the model's own (tests/test_energy.py checks them against the formulas
    by hand); what this checks is that the engine counted the right events and priced each once.
    """
    pj = EnergyModel.for_config(config).per_event_pj
    return sum(n * pj[tuple(key.split("."))] for key, n in counts.items()) * 1e-12


def compare(result, refs, config: SimConfig) -> None:
    """Every figure the reference computes equals the engine's, layer by layer."""
    assert len(result.layers) == len(refs)
    for lay, r in zip(result.layers, refs, strict=True):
        where = lay.name
        n_pes = config.n_pes
        assert lay.cycles == r["cycles"], where
        assert lay.resident == r["resident"], where
        assert lay.tiles == (0 if r["resident"] else len(r["tiles"])), where
        assert lay.busy_cycles == r["busy"].tolist(), where
        assert lay.idle_cycles == r["idle"].tolist(), where
        assert lay.pe_utilization == pytest.approx(r["pe_utilization"], rel=1e-12), where
        assert lay.mac_efficiency == pytest.approx(r["mac_efficiency"], rel=1e-12), where
        assert lay.ccu_stall_cycles == r["ccu_stall_cycles"], where
        assert lay.hazard_stall_cycles == r["hazard_stall_cycles"], where
        assert lay.lnzd_row_loads == r["lnzd_row_loads"], where
        assert lay.bypass_count == r["bypass"], where
        np.testing.assert_allclose(lay.queue_occupancy_mean, r["occupancy_mean"], rtol=1e-12)
        assert lay.queue_occupancy_max == r["occupancy_max"].tolist(), where
        assert lay.entries_processed == r["entries_processed"], where
        assert lay.kept_processed == r["kept_processed"], where
        assert lay.dram_bytes == r["dram_bytes"], where
        assert lay.weight_load_bytes == r["weight_load_bytes"], where
        counts = reference_counts(r, config)
        assert lay.access_counts == counts, where
        assert lay.energy_j == pytest.approx(priced(counts, config), rel=1e-12, abs=0), where
        assert r["busy"].sum() <= n_pes * r["cycles"]
    assert result.cycles == sum(r["cycles"] for r in refs)
    assert result.output_fix.tolist() == refs[-1]["output"].tolist()


def compare_times(runs, refs) -> None:
    """The engine's item timeline (broadcast, pop and finish cycles) is the reference's."""
    for run, r in zip(runs, refs, strict=True):
        assert run.times.broadcast.tolist() == r["t"].tolist()
        assert run.times.pop.tolist() == r["s"].tolist()
        assert run.times.finish.tolist() == r["fin"].tolist()


class EngineContract:
    """The contract, checked on one engine; subclasses set ``engine``."""

    engine: str

    def run(self, layers, x, fa, config, **model_kw):
        """Simulate the encoded model and run the reference on the same dense layers."""
        from eie_sim.simulate import simulate_runs

        encoded = [e for e, _ in layers]
        refs = ref.model_figures([r for _, r in layers], x, fa, ref_hw(config))
        result, _, runs = simulate_runs(model_of(encoded, fa, **model_kw), x, config, engine=self.engine)
        compare(result, refs, config)
        compare_times(runs, refs)
        return result, refs

    def test_contract_worked_example(self):
        cfg = SimConfig(n_pes=2, queue_depth=1, check=True)
        codes = np.zeros((4, 3), np.uint8)
        for i, j in [(0, 0), (2, 0), (1, 1), (3, 2)]:
            codes[i, j] = 1
        layer = pair(codes, np.linspace(0, 1.5, 16), has_bias=False, config=cfg)
        result, refs = self.run([layer], np.array([0.5, 0.25, 1.0]), 12, cfg)
        assert result.cycles == 13  # the contract's own figure, not the reference's
        assert refs[0]["t"].tolist() == [1, 3, 5]

    @pytest.mark.parametrize("knobs,cycles,bypasses,stalls", [
        ({}, 11, 1, 0), ({"bypass": False, "acc_latency": 2}, 12, 0, 1), ({"ptr_banks": 1}, 14, 0, 0)])
    def test_contract_knobs_example(self, knobs, cycles, bypasses, stalls):
        cfg = SimConfig(n_pes=1, queue_depth=2, check=True, **knobs)
        codes = np.zeros((2, 3), np.uint8)
        for i, j in [(0, 0), (0, 1), (1, 2)]:
            codes[i, j] = 3
        layer = pair(codes, np.linspace(0, 1.5, 16), has_bias=False, config=cfg)
        result, _ = self.run([layer], np.array([0.5, 0.25, 1.0]), 12, cfg)
        # the contract's own figures
        assert (result.cycles, result.bypass_count, result.hazard_stall_cycles) == (cycles, bypasses, stalls)

    def test_all_zero_activations(self, rng):
        cfg = SimConfig(n_pes=16, check=True)
        layer = pair(random_codes(rng, 50, 20, 0.3), random_codebook(rng), has_bias=False, config=cfg)
        result, _ = self.run([layer], np.zeros(20), 12, cfg)
        assert result.cycles == 2 + 5  # K = 0: the scan loads its ceil(20/16) rows, then drains
        assert result.lnzd_row_loads == 2
        assert not result.output_fix.any()

    def test_empty_rows_and_last_lane_items(self, rng):
        cfg = SimConfig(n_pes=4, queue_depth=2, check=True)
        layer = pair(random_codes(rng, 40, 24, 0.4), random_codebook(rng), has_bias=False, config=cfg)
        x = np.zeros(24)
        x[[3, 7, 15, 16, 23]] = [0.5, -0.25, 1.0, 0.75, 0.125]  # lane 3 often; rows 2 and 5 empty
        result, refs = self.run([layer], x, 13, cfg)
        assert refs[0]["lnzd_row_loads"] == 6

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

    @pytest.mark.parametrize("knobs", [{"ptr_banks": 1}, {"broadcast_latency": 1},
                                       {"broadcast_latency": 5, "queue_depth": 3}])
    def test_pointer_banks_and_broadcast_latency(self, rng, knobs):
        cfg = SimConfig(n_pes=4, regs=8, check=True, **knobs)
        layer = pair(random_codes(rng, 50, 30, 0.2), random_codebook(rng), has_bias=True, config=cfg)
        x = np.where(rng.random(29) < 0.6, rng.random(29), 0.0)
        self.run([layer], x, 13, cfg)

    @pytest.mark.parametrize("acc_latency", [1, 2, 4])
    def test_bypass_off_with_forced_hazards(self, rng, acc_latency):
        # short columns on two rows per PE: consecutive columns update one register back to back
        cfg = SimConfig(n_pes=2, queue_depth=4, bypass=False, acc_latency=acc_latency, check=True)
        layer = pair(random_codes(rng, 4, 40, 0.5), random_codebook(rng), has_bias=False, config=cfg)
        result, refs = self.run([layer], rng.random(40) + 0.1, 13, cfg)
        assert (result.hazard_stall_cycles > 0) == (acc_latency > 1)
        assert result.bypass_count == 0

    def test_tiles_with_small_sram(self, rng):
        cfg = SimConfig(n_pes=4, regs=8, spmat_bytes=256, ptr_bytes=64, check=True)
        layer = pair(random_codes(rng, 60, 50, 0.3), random_codebook(rng), has_bias=True, config=cfg)
        x = np.where(rng.random(49) < 0.5, rng.random(49), 0.0)
        result, refs = self.run([layer], x, 13, cfg)
        tiles = refs[0]["tiles"]
        assert not refs[0]["resident"] and len(tiles) > 4
        assert any(lo % cfg.n_pes for _, lo, _ in tiles)  # some tile starts inside a row
        assert result.dram_bytes > 0

    def test_tiles_with_hazards_and_one_bank(self, rng):
        cfg = SimConfig(n_pes=3, regs=4, spmat_bytes=96, ptr_bytes=48, bypass=False, ptr_banks=1,
                        queue_depth=1, check=True)
        layer = pair(random_codes(rng, 20, 30, 0.5), random_codebook(rng), has_bias=True, config=cfg)
        x = np.where(rng.random(29) < 0.7, rng.random(29), 0.0)
        result, refs = self.run([layer], x, 13, cfg)
        assert not refs[0]["resident"]

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
        cfg = SimConfig(n_pes=4, acc_bits=24, word_bits=128, check=True)
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
                        word_bits=int(rng.choice([16, 32, 64, 128])),
                        spmat_bytes=int(rng.choice([128, 512, 128 * KB])),
                        broadcast_latency=int(rng.integers(1, 4)), ptr_banks=int(rng.integers(1, 3)),
                        bypass=bool(rng.integers(0, 2)), acc_latency=int(rng.integers(1, 5)), check=True)
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
