"""The SimPy model (the machine) on two layers at 64 PEs, beside the fast engine.

Run: ``python benchmarks/bench_simpy.py [--repeats N]``. Prints a table and writes
``benchmarks/out/bench_simpy.csv``. Each engine is timed as ``simulate(...)``
in-process (planning and result building included, layer generation not), best of
``--repeats`` after a warm-up call (numba compilation excluded). Targets (contract v2):
SimPy <= 3 s on the 1000 x 4096 layer (25 % weights with a bias, 1,760 non-zero
activations) and <= 15 s on Alex-6 (4096 x 9216, 9 % weights, 35.1 % activations).
"""

from __future__ import annotations

import argparse

from _table import best_of, calibrated_benchmark, fc8_like, print_header, show, timed, write_csv

from eie_sim.config import SimConfig
from eie_sim.result import result_differences
from eie_sim.simulate import simulate

N_PES = 64
TARGETS_S = {"fc8-like 1000x4096": 3.0, "Alex-6": 15.0}


def layers() -> dict[str, tuple[object, object]]:
    fc8 = fc8_like()
    return {"fc8-like 1000x4096": fc8,
            "Alex-6": calibrated_benchmark("Alex-6")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3, help="timed runs per engine (best of)")
    args = ap.parse_args()
    info = print_header(f"bench_simpy: the SimPy machine on {N_PES} PEs, contract v2",
                        ["timings exclude numba compilation: one warm-up simulate() per engine and layer",
                         f"best of {args.repeats}; layer generation (compression) is not timed"])
    t_gen, cases = timed(layers)
    print(f"generated the layers in {t_gen:.1f} s")
    config = SimConfig(n_pes=N_PES)
    rows = []
    for name, (model, x) in cases.items():
        results = {}
        for engine in ("simpy", "fast"):
            simulate(model, x, config, engine=engine)  # warm-up
            best, results[engine] = best_of(lambda e=engine, m=model, a=x: simulate(m, a, config, engine=e),
                                            args.repeats)
            row = {"layer": name, "engine": engine, "best_s": round(best, 4),
                   "cycles": results[engine].cycles, "non_zero_inputs": int((x != 0).sum()),
                   "entries_processed": results[engine].entries_processed}
            if engine == "simpy":
                row.update(target_s=TARGETS_S[name], met=best <= TARGETS_S[name])
            rows.append(row)
        differences = result_differences(results["simpy"], results["fast"])
        assert not differences, f"{name}: the engines differ: {differences[:5]}"
    table = show(rows, "seconds per inference; every Result field equal between the engines")
    write_csv("bench_simpy", table, info)


if __name__ == "__main__":
    main()
