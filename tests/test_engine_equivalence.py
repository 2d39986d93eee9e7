"""The fast engine and the SimPy engine return identical Results.

Every field of ``Result.to_dict()`` but ``engine`` and ``provenance`` must be equal:
integers, floats and arrays exactly, and of the same type, layer by layer. Cases are
hypothesis-generated small layers and models over the architecture's parameters
(SRAM sizes small enough to force tiles), plus edge cases: all-zero activations,
empty layers, PEs without rows, activation spills and accumulator saturation.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from compressor.encode import EncodedLayer, encode_layer
from compressor.errors import EieSimulationError
from compressor.model import EncodedModel
from eie_sim.config import SimConfig
from eie_sim.memory import plan_model
from eie_sim.result import Result, result_differences, tree_differences
from eie_sim.simulate import EieWarning, simulate
from eie_sim.workload.benchmarks import benchmark_activations, benchmark_model
from tests.conftest import random_codebook, random_codes


def assert_engines_equal(model: EncodedModel | EncodedLayer, x: np.ndarray, config: SimConfig) -> Result:
    """Run both engines; fail naming every differing field. Returns the fast engine's Result."""
    slow = simulate(model, x, config, engine="simpy")
    fast = simulate(model, x, config, engine="fast")
    assert (slow.engine, fast.engine) == ("simpy", "fast")
    d = result_differences(slow, fast)
    assert not d, f"engines differ in {len(d)} place(s):\n  " + "\n  ".join(d[:30])
    return fast


def test_diffs_catches_differences() -> None:
    """The comparison itself: values, types, lengths, NaN and nesting."""
    same = {"a": [1, 2.0], "b": {"c": float("nan")}}
    assert tree_differences(same, {"a": [1, 2.0], "b": {"c": float("nan")}}) == []
    assert tree_differences({"a": 1}, {"a": 1.0}) == [".a: type int != float"]
    assert tree_differences({"a": [1, 2]}, {"a": [1]}) == [".a: length 2 != 1"]
    assert tree_differences({"a": {"b": 0.1 + 0.2}}, {"a": {"b": 0.3}}) == [f".a.b: {0.1 + 0.2!r} != 0.3"]
    assert tree_differences({"a": 1}, {"b": 1}) == [".a: missing on one side", ".b: missing on one side"]


# ----------------------------------------------------------------------------- generated cases


def activations(rng: np.random.Generator, n: int, density: float, signed: bool = False) -> np.ndarray:
    """``n`` activations, each non-zero with probability ``density`` (|N(0,1)|, or N(0,1) if signed)."""
    values = rng.standard_normal(n)
    if not signed:
        values = np.abs(values)
    return np.where(rng.random(n) < density, values, 0.0)


configs = st.builds(
    SimConfig,
    n_pes=st.integers(1, 70),
    queue_depth=st.integers(1, 8),
    broadcast_latency=st.integers(1, 4),
    ptr_banks=st.sampled_from([1, 2]),
    bypass=st.booleans(),
    acc_latency=st.integers(1, 4),
    regs=st.integers(1, 16),
    word_bits=st.sampled_from([16, 32, 64, 128]),
    spmat_bytes=st.sampled_from([64, 256, 4096, 131072]),
    ptr_bytes=st.sampled_from([64, 1024, 65536]),
    act_bytes=st.sampled_from([2048, 64, 0]),
    check=st.just(True),
)
densities = st.floats(0.0, 1.0)


def build_layer(rng: np.random.Generator, m: int, n: int, density: float, bias: bool, ibits: int,
                config: SimConfig, name: str = "layer") -> EncodedLayer:
    codes = random_codes(rng, m, n + int(bias), density)
    return encode_layer(codes, random_codebook(rng), n=n, has_bias=bias, ibits=ibits, n_pes=config.n_pes,
                        regs=config.regs, word_bits=config.word_bits, name=name)


def planned(model: EncodedModel, config: SimConfig) -> list | None:
    """The memory plan, or None when a column cannot fit the SRAMs (the example is skipped)."""
    try:
        return plan_model(model.layers, config)
    except EieSimulationError:
        return None


def test_random_layers() -> None:
    """One layer: shapes, densities, bias, N, Q, R, word width, ibits and SRAM sizes all vary."""
    stats: Counter[str] = Counter()

    @settings(max_examples=25, deadline=None)
    @given(m=st.integers(1, 60), n=st.integers(1, 60), w_density=densities, a_density=densities,
           bias=st.booleans(), ibits=st.integers(2, 4), config=configs, signed=st.booleans(),
           fa=st.one_of(st.none(), st.integers(10, 14)), seed=st.integers(0, 2**32 - 1))
    @example(m=60, n=60, w_density=0.5, a_density=0.5, bias=True, ibits=2, signed=False, fa=None, seed=1,
             config=SimConfig(n_pes=1, regs=16, spmat_bytes=64, ptr_bytes=64, word_bits=16,
                              check=True))  # tiled: always among the examples
    @example(m=7, n=9, w_density=1.0, a_density=0.0, bias=True, ibits=4, signed=False, fa=None, seed=2,
             config=SimConfig(n_pes=3, queue_depth=1, regs=1, check=True))  # all-zero input
    def check(m: int, n: int, w_density: float, a_density: float, bias: bool, ibits: int,
              config: SimConfig, signed: bool, fa: int | None, seed: int) -> None:
        rng = np.random.default_rng(seed)
        layer = build_layer(rng, m, n, w_density, bias, ibits, config)
        model = EncodedModel((layer,), fa=fa)
        stats["examples"] += 1
        plans = planned(model, config)
        if plans is None:
            stats["skipped"] += 1
            return
        stats["tiled" if not plans[0].resident else "resident"] += 1
        assert_engines_equal(model, activations(rng, n, a_density, signed), config)

    check()
    assert stats["examples"] >= 20
    assert stats["skipped"] <= stats["examples"] // 2, stats  # most examples really run
    assert stats["tiled"] and stats["resident"], stats


def test_random_models() -> None:
    """Two or three layers whose shapes chain (ReLU between them), on generated configurations."""
    stats: Counter[str] = Counter()

    @settings(max_examples=20, deadline=None)
    @given(dims=st.lists(st.integers(1, 40), min_size=3, max_size=4), w_density=densities,
           a_density=densities, biases=st.lists(st.booleans(), min_size=3, max_size=3),
           ibits=st.integers(2, 4), config=configs, seed=st.integers(0, 2**32 - 1))
    def check(dims: list[int], w_density: float, a_density: float, biases: list[bool], ibits: int,
              config: SimConfig, seed: int) -> None:
        rng = np.random.default_rng(seed)
        layers = [build_layer(rng, m, n, w_density, biases[i], ibits, config, name=f"fc{i}")
                  for i, (n, m) in enumerate(zip(dims, dims[1:], strict=False))]
        model = EncodedModel(tuple(layers), fa=12)
        stats["examples"] += 1
        if planned(model, config) is None:
            stats["skipped"] += 1
            return
        result = assert_engines_equal(model, activations(rng, dims[0], a_density), config)
        assert len(result.layers) == len(dims) - 1

    check()
    assert stats["skipped"] <= stats["examples"] // 2, stats


# ----------------------------------------------------------------------------- edge cases


@pytest.mark.parametrize("bias", [False, True])
def test_all_zero_activations(rng: np.random.Generator, bias: bool) -> None:
    config = SimConfig(n_pes=8, regs=4, check=True)
    layer = build_layer(rng, 40, 30, 0.4, bias, 4, config)
    result = assert_engines_equal(layer, np.zeros(30), config)
    if not bias:
        assert not result.output_fix.any()


def test_all_zero_activations_model_and_calibration(rng: np.random.Generator) -> None:
    """fa = None: the simulator calibrates on an all-zero input (fa = 15) in both engines."""
    config = SimConfig(n_pes=3, regs=2, spmat_bytes=256, ptr_bytes=64, check=True)
    layers = [build_layer(rng, m, n, 0.5, False, 3, config, name=f"fc{i}")
              for i, (n, m) in enumerate([(20, 30), (30, 10)])]
    result = assert_engines_equal(EncodedModel(tuple(layers)), np.zeros(20), config)
    assert result.fa == 15 and not result.output_fix.any()


def test_empty_layer_and_pes_without_rows(rng: np.random.Generator) -> None:
    """No kept weight at all, and more PEs than rows."""
    config = SimConfig(n_pes=70, check=True)
    empty = encode_layer(np.zeros((3, 5), np.uint8), random_codebook(rng), n=5, has_bias=False,
                         n_pes=70, regs=64, word_bits=64)
    assert_engines_equal(EncodedModel((empty,), fa=12), rng.random(5), config)
    sparse = build_layer(rng, 3, 50, 0.5, True, 4, config)
    assert_engines_equal(EncodedModel((sparse,), fa=12), rng.random(50), config)


def test_tiled_and_spilled(rng: np.random.Generator) -> None:
    """Weights streamed from DRAM in tiles and activations spilled, on both engines alike."""
    config = SimConfig(n_pes=2, regs=8, spmat_bytes=64, ptr_bytes=64, act_bytes=8,
                       word_bits=16, queue_depth=1, check=True)
    layer = build_layer(rng, 40, 60, 0.3, True, 2, config)
    result = assert_engines_equal(EncodedModel((layer,), fa=12), activations(rng, 60, 0.5), config)
    assert result.tiled_layers and result.spilled_layers and result.dram_bytes > 0


def saturating_layer() -> EncodedLayer:
    codes = np.full((6, 40), 15, np.uint8)
    codes[:, ::3] = 1  # large positive then negative weights: clamps mid-sum
    codebook = np.concatenate([[0.0, -1.9], np.linspace(0.5, 1.9, 14)])
    return encode_layer(codes, codebook, n=40, has_bias=False, n_pes=2)


def test_saturation_mid_sum() -> None:
    """A 16-bit accumulator clamps mid-sum: the outputs differ from a 48-bit accumulator's."""
    model = EncodedModel((saturating_layer(),), fa=14)
    x = np.full(40, 1.9)
    narrow = assert_engines_equal(model, x, SimConfig(n_pes=2, acc_bits=16, check=True))
    wide = assert_engines_equal(model, x, SimConfig(n_pes=2, acc_bits=48, check=True))
    assert np.all(narrow.output_fix != wide.output_fix)


def test_saturation_at_write_back() -> None:
    """A 24-bit sum that fits the accumulator but not 16 bits is clamped at write-back."""
    model = EncodedModel((saturating_layer(),), fa=14)
    result = assert_engines_equal(model, np.full(40, 1.9), SimConfig(n_pes=2, acc_bits=24, check=True))
    assert np.all(np.isin(result.output_fix, [-32768, 32767]))


def test_saturation_in_a_model() -> None:
    """A saturated hidden layer (ReLU, clamp to 16 bits) feeds the next layer."""
    config = SimConfig(n_pes=4, regs=2, check=True)
    rng = np.random.default_rng(7)
    codebook = np.concatenate([[0.0], np.linspace(-1.9, 1.9, 15)])
    first = encode_layer(rng.integers(1, 16, (12, 30)).astype(np.uint8), codebook, n=30, has_bias=False,
                         n_pes=4, regs=2, name="fc0")
    second = encode_layer(rng.integers(0, 16, (5, 13)).astype(np.uint8), codebook, n=12, has_bias=True,
                          n_pes=4, regs=2, name="fc1")
    result = assert_engines_equal(EncodedModel((first, second), fa=14), np.full(30, 1.9), config)
    assert np.any(np.abs(result.output_fix) >= 32767)


def test_negative_inputs_warn_alike(rng: np.random.Generator) -> None:
    """The input-check warnings are part of the Result and equal for both engines."""
    config = SimConfig(n_pes=4, check=True)
    layer = build_layer(rng, 10, 20, 0.5, False, 4, config)
    model = EncodedModel((layer,), fa=12, input_after_relu=True)
    with pytest.warns(EieWarning):
        result = assert_engines_equal(model, activations(rng, 20, 1.0, signed=True), config)
    assert result.warnings


def test_column_too_large_raises_alike() -> None:
    """A column slice that cannot fit half the sparse-matrix SRAM: both engines refuse it."""
    config = SimConfig(n_pes=1, regs=64, spmat_bytes=64, word_bits=16, check=True)
    layer = encode_layer(np.ones((64, 3), np.uint8), np.linspace(0, 1, 16), n=3, has_bias=False,
                         n_pes=1, regs=64, word_bits=16)
    messages = []
    for engine in ("simpy", "fast"):
        with pytest.raises(EieSimulationError, match="column 0") as info:
            simulate(EncodedModel((layer,), fa=12), np.ones(3), config, engine=engine)
        messages.append(str(info.value))
    assert messages[0] == messages[1]


@pytest.mark.parametrize("engine", ["simpy", "fast"])
def test_max_cycles_stops_both_engines(engine: str) -> None:
    """A run that reaches ``max_cycles`` stops with an error on both engines, naming the limit and
    showing the last cycles of the line trace; a limit one above the run's length lets it finish."""
    layer = encode_layer(np.ones((4, 8), np.uint8), np.linspace(0, 1, 16), n=8, has_bias=False, n_pes=2)
    model = EncodedModel((layer,), fa=12)
    cycles = simulate(model, np.ones(8), SimConfig(n_pes=2), engine=engine).cycles
    with pytest.raises(EieSimulationError, match=r"max_cycles = (\d+)[^\n]*\n +cycle \| CCU"):
        simulate(model, np.ones(8), SimConfig(n_pes=2, max_cycles=cycles // 2), engine=engine)
    with pytest.raises(EieSimulationError, match="max_cycles"):
        simulate(model, np.ones(8), SimConfig(n_pes=2, max_cycles=cycles), engine=engine)
    assert simulate(model, np.ones(8), SimConfig(n_pes=2, max_cycles=cycles + 1),
                    engine=engine).cycles == cycles


def test_benchmark_layer() -> None:
    """A real benchmark layer (NT-LSTM, 1201 x 2400 at 10 %) re-encoded for 16 PEs."""
    model = benchmark_model("NT-LSTM", seed=0, n_pes=16)
    result = assert_engines_equal(model, benchmark_activations("NT-LSTM", 0), SimConfig(n_pes=16, check=True))
    assert result.cycles > 0
