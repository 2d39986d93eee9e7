"""Both engines against the oracle (tests/oracle.py): bit for bit, cycle for cycle, event for event.

The test class is written once; each engine inherits it with one hook swapped (PyMTL3's
habit), so a case added here checks every engine. Every figure of contract section 4, the
item timeline, every energy event and the outputs are compared with what the oracle
counted while it stepped, and the energy with the oracle's counts priced from the energy
table by the test (``oracle.prices``), not by the engines' energy step.
"""

from __future__ import annotations

import numpy as np
import pytest

from eie_sim.config import KB, SimConfig
from eie_sim.simulate import simulate, simulate_runs
from eie_sim.workload.graph import Graph, Job
from tests import oracle
from tests.conftest import model_of, oracle_hw, pair, random_codebook, random_codes


def compare(result, refs: list[dict], config: SimConfig) -> None:
    """Every figure the oracle computes equals the engine's, job by job."""
    assert len(result.layers) == len(refs)
    hw = oracle_hw(config)
    price = oracle.prices(hw)
    n_pes = config.n_pes
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
        assert lay.hazard_stall_cycles == r["hazard_stall_cycles"], where
        assert lay.lnzd_row_loads == r["lnzd_row_loads"], where
        assert lay.bypass_count == r["bypass"], where
        np.testing.assert_allclose(lay.queue_occupancy_mean, r["occupancy_mean"], rtol=1e-12)
        assert lay.queue_occupancy_max == r["occupancy_max"].tolist(), where
        assert lay.entries_processed == r["entries_processed"], where
        assert lay.kept_processed == r["kept_processed"], where
        assert lay.dram_bytes == r["dram_bytes"], where
        assert lay.weight_load_bytes == r["weight_load_bytes"], where
        assert lay.sram_bytes == r["sram_bytes"], where
        assert lay.access_counts == {f"{u}.{a}": n for (u, a), n in r["counts"].items()}, where
        assert lay.energy_j == pytest.approx(price.energy(r["counts"]), rel=1e-12, abs=0), where
        assert lay.host_bytes == r["host_bytes"] and lay.host_cycles == r["host_cycles"], where
        assert r["busy"].sum() <= n_pes * r["cycles"]
    assert result.cycles == sum(r["cycles"] for r in refs)
    assert result.output_fix.tolist() == refs[-1]["output"].tolist()


def compare_times(runs, refs: list[dict]) -> None:
    """The engine's item timeline (broadcast, pop and finish cycles) is the oracle's."""
    for run, r in zip(runs, refs, strict=True):
        assert run.times.broadcast.tolist() == r["t"].tolist()
        assert run.times.pop.tolist() == r["s"].tolist()
        assert run.times.finish.tolist() == r["fin"].tolist()


class EngineContract:
    """The contract, checked on one engine; subclasses set ``engine``."""

    engine: str

    def run(self, layers, x, fa, config, **model_kw):
        """Simulate the encoded model and run the oracle on the same dense layers."""
        refs = oracle.model_figures([r for _, r in layers], x, fa, oracle_hw(config))
        result, _, runs = simulate_runs(model_of([e for e, _ in layers], fa, **model_kw), x, config,
                                        engine=self.engine)
        compare(result, refs, config)
        compare_times(runs, refs)
        return result, refs

    def run_graph(self, jobs: list[tuple[str, tuple, str, bool, bool]], host: dict, fa: int, config):
        """A graph of ``(name, (encoded, dense), input, relu, keep)`` jobs on both sides."""
        graph = Graph(tuple(Job(name, pair_[0], src, relu=relu, keep=keep)
                            for name, pair_, src, relu, keep in jobs), fa=fa)
        refs = oracle.run_graph([oracle.Job(name, pair_[1], src, relu=relu, keep=keep)
                                 for name, pair_, src, relu, keep in jobs], host, fa, oracle_hw(config))
        result, _, runs = simulate_runs(graph, host, config, engine=self.engine)
        compare(result, refs, config)
        compare_times(runs, refs)
        for job, r in zip(graph.jobs, refs, strict=True):
            if not job.keep:
                assert result.outputs_fix[job.name].tolist() == r["output"].tolist()
        return result, refs

    # --- the contract's own examples

    def test_contract_worked_example(self):
        cfg = SimConfig(n_pes=2, queue_depth=1, check=True)
        codes = np.zeros((4, 3), np.uint8)
        for i, j in [(0, 0), (2, 0), (1, 1), (3, 2)]:
            codes[i, j] = 1
        layer = pair(codes, np.linspace(0, 1.5, 16), has_bias=False, config=cfg)
        result, refs = self.run([layer], np.array([0.5, 0.25, 1.0]), 12, cfg)
        assert result.cycles == 13  # the contract's own figure, not the oracle's
        assert refs[0]["t"].tolist() == [1, 3, 5]
        assert (result.ccu_stall_cycles, result.lnzd_row_loads, result.busy_cycles) == (2, 2, [4, 3])

    @pytest.mark.parametrize("knobs,cycles,bypasses,stalls", [
        ({}, 11, 1, 0), ({"bypass": False, "acc_latency": 2}, 12, 0, 1), ({"ptr_banks": 1}, 13, 0, 0)])
    def test_contract_knobs_example(self, knobs, cycles, bypasses, stalls):
        cfg = SimConfig(n_pes=1, queue_depth=2, check=True, **knobs)
        codes = np.zeros((2, 3), np.uint8)
        for i, j in [(0, 0), (0, 1), (1, 2)]:
            codes[i, j] = 3
        layer = pair(codes, np.linspace(0, 1.5, 16), has_bias=False, config=cfg)
        result, _ = self.run([layer], np.array([0.5, 0.25, 1.0]), 12, cfg)
        # the contract's own figures
        assert (result.cycles, result.bypass_count, result.hazard_stall_cycles) == (cycles, bypasses, stalls)

    @pytest.mark.parametrize("bitmap,cycles,busy,pointer_reads", [(False, 14, [6, 6], 8),
                                                                  (True, 13, [4, 4], 4)])
    def test_contract_bitmap_example(self, bitmap, cycles, busy, pointer_reads):
        """The contract's column-bitmap example: column j's two entries all sit in PE j mod 2."""
        cfg = SimConfig(n_pes=2, queue_depth=4, column_bitmap=bitmap, check=True)
        codes = np.zeros((4, 4), np.uint8)
        for j in range(4):
            codes[[j % 2, j % 2 + 2], j] = j + 1
        layer = pair(codes, np.linspace(0, 1.5, 16), has_bias=False, config=cfg)
        result, refs = self.run([layer], np.array([1.0, 0.5, 0.25, 0.75]), 12, cfg)
        assert (result.cycles, result.busy_cycles) == (cycles, busy)  # the contract's own figures
        assert result.access_counts["ptr_read.read"] == pointer_reads
        assert result.access_counts["ptr_read.bitmap_read"] == (8 if bitmap else 0)
        if bitmap:
            assert refs[0]["s"].tolist() == [[3, 5, 5, 7], [3, 4, 6, 6]]

    # --- edge cases

    def test_all_zero_activations(self, rng):
        cfg = SimConfig(n_pes=16, check=True)
        layer = pair(random_codes(rng, 50, 20, 0.3), random_codebook(rng), has_bias=False, config=cfg)
        result, _ = self.run([layer], np.zeros(20), 12, cfg)
        assert result.cycles == 2  # K = 0: the scan loads its ceil(20/16) rows; nothing drains
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

    def test_activation_spill(self, rng):
        cfg = SimConfig(n_pes=2, act_bytes=16, check=True)  # 8 values per PE: inputs and outputs spill
        layer = pair(random_codes(rng, 30, 25, 0.4), random_codebook(rng), has_bias=True, config=cfg)
        result, refs = self.run([layer], rng.random(24), 13, cfg)
        assert result.dram_bytes > 0 and result.layers[0].act_spilled

    def test_three_layer_model(self, rng):
        cfg = SimConfig(n_pes=4, regs=8, check=True)
        shapes = [(30, 20), (25, 30), (10, 25)]
        layers = [pair(random_codes(rng, m, n + 1, 0.4), random_codebook(rng), has_bias=True,
                       config=cfg, name=f"fc{i}") for i, (m, n) in enumerate(shapes)]
        result, refs = self.run(layers, rng.random(20), 12, cfg)
        assert len(result.layers) == 3

    @pytest.mark.parametrize("seed", range(16))
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

    @pytest.mark.parametrize("seed", range(24))
    def test_multi_round_layers_without_bypass(self, seed):
        """Several rounds, hazards, sometimes tiles: the hazard history and the bypass start afresh
        at every round (and a register of one round is another output in the next)."""
        rng = np.random.default_rng(1000 + seed)
        n_pes = int(rng.choice([1, 2, 3, 4]))
        cfg = SimConfig(n_pes=n_pes, regs=int(rng.integers(1, 5)), queue_depth=int(rng.integers(1, 6)),
                        bypass=False, acc_latency=int(rng.integers(2, 6)),
                        ptr_banks=int(rng.integers(1, 3)),
                        spmat_bytes=int(rng.choice([64, 256, 128 * KB])),
                        ptr_bytes=int(rng.choice([48, 64 * KB])),
                        check=True)
        m, n = int(rng.integers(8, 40)), int(rng.integers(4, 30))
        layer = pair(random_codes(rng, m, n + 1, 0.3 + 0.5 * rng.random()), random_codebook(rng),
                     has_bias=True, config=cfg)
        x = np.where(rng.random(n) < 0.7, rng.random(n) + 0.05, 0.0)
        result, refs = self.run([layer], x, 12, cfg)
        assert refs[0]["rounds"] > 1

    @pytest.mark.parametrize("seed", range(16))
    def test_column_bitmap(self, seed):
        """The bitmap knob on every other knob: empty slices pass without a read or a cycle."""
        rng = np.random.default_rng(2000 + seed)
        n_pes = int(rng.choice([1, 2, 4, 8, 16]))
        cfg = SimConfig(n_pes=n_pes, regs=int(rng.integers(1, 9)), queue_depth=int(rng.integers(1, 6)),
                        column_bitmap=True, bypass=bool(rng.integers(0, 2)),
                        acc_latency=int(rng.integers(1, 4)), ptr_banks=int(rng.integers(1, 3)),
                        broadcast_latency=int(rng.integers(1, 4)),
                        spmat_bytes=int(rng.choice([64, 256, 128 * KB])),
                        ptr_bytes=int(rng.choice([48, 64 * KB])), check=True)
        m, n = int(rng.integers(1, 60)), int(rng.integers(4, 50))
        bias = bool(rng.integers(0, 2))
        # sparse enough that many (PE, column) slices are empty
        layer = pair(random_codes(rng, m, n + bias, 0.05 + 0.4 * rng.random()), random_codebook(rng),
                     has_bias=bias, config=cfg)
        x = np.where(rng.random(n) < 0.8, rng.random(n) + 0.05, 0.0)
        result, _ = self.run([layer], x, 12, cfg)
        # one lookup per popped item, and a pointer read only for the slices with entries
        assert result.access_counts["ptr_read.bitmap_read"] == result.access_counts["act_queue.pop"]

    # --- workload graphs

    def test_independent_projections_fed_by_the_host(self, rng):
        """Three projections of one host vector (a transformer's q, k, v), each sent back."""
        cfg = SimConfig(n_pes=4, check=True)
        proj = [pair(random_codes(rng, 12, 17, 0.5), random_codebook(rng), has_bias=True, config=cfg,
                     name=n) for n in "qkv"]
        jobs = [(n, p, "x", False, False) for n, p in zip("qkv", proj, strict=True)]
        result, refs = self.run_graph(jobs, {"x": rng.normal(0, 1, 16)}, 12, cfg)
        assert set(result.outputs_fix) == {"q", "k", "v"}
        assert result.host_bytes == 3 * (2 * 16 + 2 * 12)
        assert any((o < 0).any() for o in result.outputs_fix.values())  # no ReLU: negative outputs

    def test_lstm_step_two_gemvs_from_two_host_inputs(self, rng):
        """W x_t and U h_{t-1} (4 gates x hidden 6), both to the host, which adds them."""
        cfg = SimConfig(n_pes=3, regs=4, bypass=False, check=True)
        w = pair(random_codes(rng, 24, 9, 0.4), random_codebook(rng), has_bias=True, config=cfg, name="W")
        u = pair(random_codes(rng, 24, 6, 0.4), random_codebook(rng), has_bias=False, config=cfg, name="U")
        jobs = [("Wx", w, "x", False, False), ("Uh", u, "h", False, False)]
        host = {"x": rng.normal(0, 1, 8), "h": np.tanh(rng.normal(0, 1, 6))}
        self.run_graph(jobs, host, 12, cfg)

    def test_chain_and_host_round_trip(self, rng):
        """fc0 keeps its output on chip for fc1; fc1's goes to the host, which sends it back to fc2 and
        fc3."""
        cfg = SimConfig(n_pes=4, regs=8, spmat_bytes=512, ptr_bytes=128, check=True)
        z = pair(random_codes(rng, 10, 6, 0.6), random_codebook(rng), has_bias=False, config=cfg, name="fc0")
        a = pair(random_codes(rng, 20, 10, 0.5), random_codebook(rng), has_bias=False, config=cfg, name="fc1")
        b = pair(random_codes(rng, 8, 21, 0.5), random_codebook(rng), has_bias=True, config=cfg, name="fc2")
        c = pair(random_codes(rng, 5, 20, 0.5), random_codebook(rng), has_bias=False, config=cfg, name="fc3")
        jobs = [("fc0", z, "x", True, True), ("fc1", a, "fc0", True, False), ("fc2", b, "fc1", True, False),
                ("fc3", c, "fc1", False, False)]
        result, refs = self.run_graph(jobs, {"x": rng.random(6)}, 12, cfg)
        assert [lay.host_bytes for lay in result.layers] == [2 * 6, 2 * 20, 2 * 20 + 2 * 8, 2 * 20 + 2 * 5]


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
    refs = oracle.model_figures([layer[1]], x, 14, oracle_hw(cfg))
    assert not refs[0]["resident"] and len(refs[0]["tiles"]) == 16
    for engine in ("fast", "simpy"):
        compare(simulate(model_of([layer[0]], 14), x, cfg, engine=engine), refs, cfg)
