"""Both engines on the nine EIE Table III layers: identical Results, seconds, and a sweep's wall time.

Run: ``python benchmarks/bench_engines.py [--quick]``. Prints three tables and writes
``benchmarks/out/bench_engines.csv`` (a ``part`` column tells them apart):

(a) every benchmark layer at 1, 8, 64 and 256 PEs on both engines, and at 64 PEs with
    bypass off, one pointer bank and queue depth 1; every Result field must be equal
    (``to_dict()`` minus ``engine`` and ``provenance``, floats and arrays exactly),
    else the script stops with the differing fields;
(b) the fast engine, best of 7: the 1000 x 4096 layer (25 % weights with a bias,
    1,760 non-zero activations) on 64 PEs (target <= 5 ms; with bypass off <= 3x
    that), and Alex-6 (4096 x 9216, 9 % / 35.1 %) on 64 PEs (target <= 20 ms);
(c) wall time of the sweep nine layers x PEs 1, 2, 4, ..., 256 with
    ``run_sweep(jobs=2)`` and a fresh layer cache, so compression is included
    (target <= 60 s).

Numba compilation is excluded: one warm-up simulation per engine runs first (it
also fills numba's on-disk cache that the sweep's worker processes load).
``--quick`` is a smoke run: three small layers, fewer PE counts.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from _table import best_of, calibrated_benchmark, fc8_like, print_header, show, timed, write_csv

from compressor.model import EncodedModel
from eie_sim.config import SimConfig
from eie_sim.result import result_differences
from eie_sim.simulate import simulate
from eie_sim.study.sweep import make_points, run_sweep
from eie_sim.workload.benchmarks import BENCHMARKS, benchmark_activations, benchmark_model

PES = (1, 8, 64, 256)
SWEEP_PES = tuple(2**k for k in range(9))  # 1 .. 256
QUICK_LAYERS = ("Alex-8", "NT-We", "NT-LSTM")
QUICK_PES = (8, 64)
QUICK_SWEEP_PES = (1, 4, 16, 64, 256)
#: Configurations checked for equality at 64 PEs beside the default.
KNOBS = ({"bypass": False}, {"ptr_banks": 1}, {"queue_depth": 1})
TARGET_FC8_S = 0.005
TARGET_ALEX6_S = 0.020
TARGET_SWEEP_S = 60.0


def reencoded(model: EncodedModel, n_pes: int) -> EncodedModel:
    """The model encoded for ``n_pes`` PEs (so re-encoding is not timed as simulation)."""
    return model.with_layers([lay if lay.n_pes == n_pes else lay.reencode(n_pes=n_pes, regs=lay.regs,
                                                                           word_bits=lay.word_bits)
                              for lay in model.layers])


def warm_up() -> None:
    """Compile (or load the cached) numba kernels of both engines on a small layer."""
    model = benchmark_model("NT-We", seed=0, n_pes=8)
    x = benchmark_activations("NT-We", 0)
    for engine in ("fast", "simpy"):
        simulate(model, x, SimConfig(n_pes=8), engine=engine)


def part_a(layers: tuple[str, ...], pes: tuple[int, ...]) -> list[dict[str, object]]:
    rows = []
    for name in layers:
        t_gen, base = timed(lambda n=name: benchmark_model(n, seed=0, n_pes=64))
        x = benchmark_activations(name, 0)
        configs = [SimConfig(n_pes=n) for n in pes]
        configs += [SimConfig(n_pes=64, **knobs) for knobs in KNOBS if 64 in pes]
        for config in configs:
            n_pes = config.n_pes
            model = reencoded(base, n_pes)
            t_simpy, r_simpy = timed(lambda m=model, a=x, c=config: simulate(m, a, c, engine="simpy"))
            t_fast, r_fast = timed(lambda m=model, a=x, c=config: simulate(m, a, c, engine="fast"))
            knobs = ", ".join(f"{k}={getattr(config, k)}" for d in KNOBS for k in d
                              if getattr(config, k) != getattr(SimConfig(), k)) or "default"
            d = result_differences(r_simpy, r_fast)
            if d:
                raise SystemExit(f"{name} on {n_pes} PEs ({knobs}): the engines differ in {len(d)} "
                                 f"place(s):\n  " + "\n  ".join(d[:20]))
            rows.append({"layer": name, "n_pes": n_pes, "knobs": knobs, "simpy_s": round(t_simpy, 3),
                         "fast_s": round(t_fast, 4), "speedup": round(t_simpy / t_fast, 1),
                         "cycles": r_fast.cycles, "resident": r_fast.layers[0].resident,
                         "tiles": r_fast.layers[0].tiles, "equal": True,
                         "generate_s": round(t_gen, 2)})
            print(f"  {name:8s} N={n_pes:3d} {knobs:16s}: simpy {t_simpy:7.3f} s, fast {t_fast:7.4f} s, "
                  f"{r_fast.cycles:,} cycles, equal", flush=True)
    return rows


def part_b(quick: bool) -> list[dict[str, object]]:
    cases = {"fc8-like 1000x4096": fc8_like()}
    if not quick:
        cases["Alex-6"] = calibrated_benchmark("Alex-6")
    rows = []
    for name, (model, x) in cases.items():
        for bypass in (True, False):
            if name == "Alex-6" and not bypass:
                continue
            config = SimConfig(n_pes=64, bypass=bypass)
            simulate(model, x, config, engine="fast")  # warm-up on this very layer
            t_fast, r_fast = best_of(lambda m=model, a=x, c=config: simulate(m, a, c, engine="fast"), 7)
            target = TARGET_ALEX6_S if name == "Alex-6" else TARGET_FC8_S * (1 if bypass else 3)
            rows.append({"layer": name, "n_pes": 64, "bypass": bypass, "fast_ms": round(1e3 * t_fast, 2),
                         "method": "best of 7", "cycles": r_fast.cycles, "target_ms": target * 1e3,
                         "met": t_fast <= target})
    return rows


def part_c(layers: tuple[str, ...], pes: tuple[int, ...]) -> list[dict[str, object]]:
    points = make_points(list(layers), {"n_pes": list(pes)})
    with tempfile.TemporaryDirectory(prefix="bench-sweep-") as tmp:
        t_wall, df = timed(lambda: run_sweep(points, Path(tmp) / "sweep.csv", engine="fast", jobs=2,
                                             progress=False, cache_dir=Path(tmp) / "cache"))
        cached = len(list((Path(tmp) / "cache").glob("*.eie")))
    assert len(df) == len(points), f"sweep returned {len(df)} rows for {len(points)} points"
    return [{"layers": len(layers), "pe_counts": ",".join(map(str, pes)), "points": len(points),
             "jobs": 2, "layers_generated": cached, "wall_s": round(t_wall, 2),
             "sum_point_wall_s": round(float(df["wall_s"].sum()), 2),
             "target_s": TARGET_SWEEP_S, "met": t_wall <= TARGET_SWEEP_S}]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smoke run: three small layers, fewer PE counts")
    args = ap.parse_args()
    layers = QUICK_LAYERS if args.quick else tuple(BENCHMARKS)
    pes = QUICK_PES if args.quick else PES
    sweep_pes = QUICK_SWEEP_PES if args.quick else SWEEP_PES
    info = print_header(
        "bench_engines: SimPy vs fast engine on EIE Table III layers" + (" (--quick)" if args.quick else ""),
        ["timings exclude numba compilation: a warm-up simulation per engine runs first",
         "(a) one run per engine and point; layer generation and re-encoding are not timed",
         "(c) includes layer generation (compression) in 2 worker processes, fresh cache"])
    warm_up()

    print(f"(a) {len(layers)} layers x PEs {', '.join(map(str, pes))}:")
    a = show(part_a(layers, pes), "(a) per point: seconds of each engine; every Result field equal")
    b = show(part_b(args.quick), "(b) fast engine, ms per inference (simulate() in-process)")
    c = show(part_c(layers, sweep_pes),
             f"(c) sweep wall time, run_sweep(jobs=2, fresh cache) (target <= {TARGET_SWEEP_S:g} s)")
    write_csv("bench_engines", {"a_equivalence": a, "b_fast": b, "c_sweep": c}, info)


if __name__ == "__main__":
    main()
