"""Both engines on the nine EIE Table III layers: identical Results, seconds, and a sweep's wall time.

Run: ``python benchmarks/bench_engines.py [--quick]``. Prints three tables and writes
``benchmarks/out/bench_engines.csv`` (a ``part`` column tells them apart):

(a) every benchmark layer at 1, 8, 64 and 256 PEs on both engines; every Result
    field must be equal (``to_dict()`` minus ``engine`` and ``provenance``, floats
    and arrays exactly), else the script stops with the differing fields;
(b) Alex-6 (4096 x 9216, 9 % / 35.1 %) on 64 PEs: SimPy once, fast best of 5
    (target: fast <= 50 ms);
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

from _table import best_of, print_header, show, timed, write_csv

from compressor.model import EncodedModel
from eie_sim.config import SimConfig
from eie_sim.result import result_differences
from eie_sim.simulate import simulate
from eie_sim.sweep import make_points, run_sweep
from eie_sim.workloads import BENCHMARKS, benchmark_activations, benchmark_model

PES = (1, 8, 64, 256)
SWEEP_PES = tuple(2**k for k in range(9))  # 1 .. 256
QUICK_LAYERS = ("Alex-8", "NT-We", "NT-LSTM")
QUICK_PES = (8, 64)
QUICK_SWEEP_PES = (1, 4, 16, 64, 256)
TARGET_FAST_S = 0.050
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
        for n_pes in pes:
            model = reencoded(base, n_pes)
            config = SimConfig(n_pes=n_pes)
            t_simpy, r_simpy = timed(lambda m=model, a=x, c=config: simulate(m, a, c, engine="simpy"))
            t_fast, r_fast = timed(lambda m=model, a=x, c=config: simulate(m, a, c, engine="fast"))
            d = result_differences(r_simpy, r_fast)
            if d:
                raise SystemExit(f"{name} on {n_pes} PEs: the engines differ in {len(d)} place(s):\n  "
                                 + "\n  ".join(d[:20]))
            rows.append({"layer": name, "n_pes": n_pes, "simpy_s": round(t_simpy, 3),
                         "fast_s": round(t_fast, 4), "speedup": round(t_simpy / t_fast, 1),
                         "cycles": r_fast.cycles, "resident": r_fast.layers[0].resident,
                         "tiles": r_fast.layers[0].tiles, "equal": True,
                         "generate_s": round(t_gen, 2)})
            print(f"  {name:8s} N={n_pes:3d}: simpy {t_simpy:7.3f} s, fast {t_fast:7.4f} s, "
                  f"{r_fast.cycles:,} cycles, equal", flush=True)
    return rows


def part_b(name: str) -> list[dict[str, object]]:
    model = benchmark_model(name, seed=0, n_pes=64)
    x = benchmark_activations(name, 0)
    config = SimConfig(n_pes=64)
    simulate(model, x, config, engine="fast")  # warm-up on this very layer
    t_simpy, r_simpy = timed(lambda: simulate(model, x, config, engine="simpy"))
    t_fast, r_fast = best_of(lambda: simulate(model, x, config, engine="fast"), 5)
    assert not result_differences(r_simpy, r_fast), "engines differ"
    return [{"layer": name, "n_pes": 64, "engine": "simpy", "seconds": round(t_simpy, 3),
             "method": "one run", "cycles": r_simpy.cycles},
            {"layer": name, "n_pes": 64, "engine": "fast", "seconds": round(t_fast, 4),
             "method": "best of 5", "cycles": r_fast.cycles,
             "target_s": TARGET_FAST_S, "met": t_fast <= TARGET_FAST_S}]


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
    big = "Alex-8" if args.quick else "Alex-6"
    info = print_header(
        "bench_engines: SimPy vs fast engine on EIE Table III layers" + (" (--quick)" if args.quick else ""),
        ["timings exclude numba compilation: a warm-up simulation per engine runs first",
         "(a) one run per engine and point; layer generation and re-encoding are not timed",
         "(c) includes layer generation (compression) in 2 worker processes, fresh cache"])
    warm_up()

    print(f"(a) {len(layers)} layers x PEs {', '.join(map(str, pes))}:")
    a = show(part_a(layers, pes), "(a) per point: seconds of each engine; every Result field equal")
    b = show(part_b(big), f"(b) {big} on 64 PEs (target: fast <= {TARGET_FAST_S * 1e3:g} ms)")
    c = show(part_c(layers, sweep_pes),
             f"(c) sweep wall time, run_sweep(jobs=2, fresh cache) (target <= {TARGET_SWEEP_S:g} s)")
    write_csv("bench_engines", {"a_equivalence": a, "b_alex6": b, "c_sweep": c}, info)


if __name__ == "__main__":
    main()
