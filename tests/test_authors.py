"""eie-sim against the EIE authors' RTL-derived simulator, on layers it was run on.

``tests/data/authors_cases.csv`` holds cycle counts measured by building the authors' C++
simulator (RalphMao/EIE-simulator) for each PE count and ring depth and running it on 80
seeded random layers (their masks and activations in ``authors_cases.npz``): 8 to 1,375
outputs, 8 to 1,024 inputs, n often not a multiple of N, 3-50 % weight density with uneven
rows and zero bands, 5-100 % activation density, bias none / sparse / full, 1 to 256 PEs,
ring depths 2 to 16. Two builds: theirs as published (``*_authors``, which may stop with
work left), and theirs changed only to stop once no unit holds work (``*_drain``). The
measurements are figures; neither their code nor a script that builds it is in this
repository (docs/VALIDATION.md says how they were made).
"""

from __future__ import annotations

import csv
import warnings
from functools import cache
from pathlib import Path

import numpy as np
import pytest

from compressor.encode import encode_layer
from eie_sim.config import SimConfig
from eie_sim.simulate import EieWarning, prepare, run_prepared

DATA = Path(__file__).resolve().parent / "data"
CODEBOOK = np.arange(16, dtype=np.float64) / 16  # timing does not depend on the values


@cache
def cases() -> list[dict]:
    with (DATA / "authors_cases.csv").open() as f:
        return list(csv.DictReader(f))


@cache
def masks() -> dict[str, np.ndarray]:
    with np.load(DATA / "authors_cases.npz", allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def layer_of(case: dict):
    """The case as eie-sim runs it: their machine always has a bias column (a layer "without"
    bias has all biases zero, no entries), rows and lanes as theirs, everything resident."""
    c = int(case["case"])
    arr = {k.split("_", 1)[1]: v for k, v in masks().items() if k.startswith(f"c{c}_")}
    m, n, n_pes = int(case["m"]), int(case["n"]), int(case["n_pes"])
    codes = np.zeros((m, n + 1), np.uint8)
    codes[arr["rows"], arr["cols"]] = arr["codes"]
    if "bias_rows" in arr:
        codes[arr["bias_rows"], n] = arr["bias_codes"]
    regs = -(-m // n_pes)
    layer = encode_layer(codes, CODEBOOK, n=n, has_bias=True, n_pes=n_pes, regs=regs)
    big = 1 << 34
    config = SimConfig(n_pes=n_pes, queue_depth=int(case["ring_depth"]) - 1, regs=regs, spmat_bytes=big,
                       ptr_bytes=big, ptr_bits=32, act_bytes=big)
    return layer, arr["act"].astype(np.float64), config


def run_case(case: dict, engine: str = "fast", **config):
    layer, act, base = layer_of(case)
    prep = prepare(layer, base.replace(**config), engine=engine)
    assert all(p.resident for p in prep.plans)
    # fa = 0: their integer activations are their own fixed-point values, and the bias is 1
    result, _ = run_prepared(prep, act, fa=0)
    return result


def test_the_set_covers_what_it_claims() -> None:
    rows = cases()
    assert len(rows) == 80
    assert {int(r["n_pes"]) for r in rows} == {1, 2, 4, 8, 16, 32, 64, 128, 256}
    assert {int(r["ring_depth"]) for r in rows} == {2, 3, 4, 8, 16}
    assert {r["bias"] for r in rows} == {"none", "sparse", "full"}
    assert any(int(r["n"]) % int(r["n_pes"]) for r in rows)  # the bias row's own-row case
    assert sum(r["stopped_with_work_left"] == "True" for r in rows) >= 40


@pytest.mark.parametrize("index", range(80))
def test_full_drain_count_and_counters(index: int) -> None:
    """Contract v3 gives their full-drain machine's count on every case, and the same pointer
    reads, sparse-matrix line reads and efficiency. Their main loop runs at least 9 cycles,
    which shows only on a layer with no kept entry."""
    case = cases()[index]
    res = run_case(case)
    drain = int(case["cycles_drain"])
    assert max(9, res.cycles) == drain, (case["case"], res.cycles, drain)
    assert res.access_counts["ptr_read.read"] == int(case["total_ptr_drain"])
    assert res.access_counts["spmat_read.word_read"] == int(case["total_spm_drain"])
    assert res.kept_processed == int(case["kept_total"])
    if res.cycles >= 9:
        assert round(res.mac_efficiency, 6) == pytest.approx(float(case["efficiency_drain"]), abs=1.5e-6)


@pytest.mark.parametrize("stop_rule", ["drain", "authors"])
@pytest.mark.parametrize("index", [0, 9, 33, 71])
def test_both_engines_agree_on_the_authors_cases(index: int, stop_rule: str) -> None:
    from eie_sim.result import result_differences

    case = cases()[index]
    with warnings.catch_warnings():
        if stop_rule == "authors":  # it warns of the work left
            warnings.simplefilter("ignore", EieWarning)
        simpy_res = run_case(case, "simpy", stop_rule=stop_rule)
        fast_res = run_case(case, "fast", stop_rule=stop_rule)
    assert not result_differences(simpy_res, fast_res)


@pytest.mark.parametrize("index", range(80))
def test_their_stop_rule_reproduces_their_count_and_counters(index: int) -> None:
    """``stop_rule = authors`` ends every case where their published build does, with their
    pointer reads, sparse-matrix line reads and efficiency at that cycle."""
    case = cases()[index]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", EieWarning)
        res = run_case(case, stop_rule="authors")
    assert res.cycles == int(case["cycles_authors"]), (case["case"], res.cycles)
    assert res.access_counts["ptr_read.read"] == int(case["total_ptr_authors"])
    assert res.access_counts["spmat_read.word_read"] == int(case["total_spm_authors"])
    assert round(res.mac_efficiency, 6) == pytest.approx(float(case["efficiency_authors"]), abs=1.5e-6)


def worked_example(bias: bool):
    """The contract's worked example (N = 2, ring depth 2: Q = 1), with their always-present bias
    column, empty (their section-10 example 1)."""
    codes = np.zeros((4, 4 if bias else 3), np.uint8)
    for i, j in [(0, 0), (2, 0), (1, 1), (3, 2)]:
        codes[i, j] = 1
    layer = encode_layer(codes, np.arange(16.0), n=3, has_bias=bias, n_pes=2, regs=2)  # code 1 is 1.0
    return layer, np.ones(3), SimConfig(n_pes=2, queue_depth=1, regs=2)


@pytest.mark.parametrize("engine", ["fast", "simpy"])
def test_their_stop_leaves_work_undone_and_says_so(engine: str) -> None:
    """Their run stops at 11, with PE 1's entry issued at 7 still in the pipeline: output row 3
    lacks it, and the warning names the item. The drain rule's 13 is their machine waiting for
    all work."""
    layer, x, config = worked_example(bias=True)
    drain = prepare(layer, config, engine=engine)
    full, _ = run_prepared(drain, x, fa=0)
    assert full.cycles == 13 and full.output_fix.tolist() == [1, 1, 1, 1]
    prep = prepare(layer, config.replace(stop_rule="authors"), engine=engine)
    with pytest.warns(EieWarning, match=r"ended it at cycle 11 with work left \(drain: 13\): 1 item\(s\) "
                                        r"not fully processed, column 2"):
        cut, _ = run_prepared(prep, x, fa=0)
    assert cut.cycles == 11
    assert cut.output_fix.tolist() == [1, 1, 1, 0]  # W x on row 3 never landed
    assert cut.kept_processed == 3 and full.kept_processed == 4
    assert any("with work left" in w for w in cut.warnings)


def test_their_stop_rule_is_refused_where_their_machine_has_no_counterpart() -> None:
    from compressor.errors import EieConfigError, EieInputError

    with pytest.raises(EieConfigError, match="forwards every update"):
        SimConfig(stop_rule="authors", bypass=False)
    with pytest.raises(EieConfigError, match="stop_rule = 'last' must be one of drain, authors"):
        SimConfig(stop_rule="last")
    layer, x, config = worked_example(bias=True)
    tiny = config.replace(stop_rule="authors", ptr_bytes=10)  # 5 bytes a half: one column a tile
    with pytest.raises(EieInputError, match="no DRAM tiles; this job streams in"):
        run_prepared(prepare(layer, tiny), x, fa=0)
