"""Fit the benchmark layers' density-variation rule to a real pruned layer.

The rule (eie_sim/workloads.py): weight (i, j) = s_i * t_j * g_ij, g Laplace, log s ~ N(0,
row_sigma^2), log t ~ N(0, col_sigma^2), then magnitude pruning. This script finds the sigmas
whose pruned matrices, at the shape and density of the target layer, have the target's
per-row and per-column density coefficients of variation. The targets come from the pruned
LeNet-300-100 of `eie example lenet` (its density_stats.csv; ip2, the hidden-to-hidden layer,
is the default), never from EIE's latencies.

    python benchmarks/fit_variation.py [--stats lenet_out/density_stats.csv] [--layer ip2]
"""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path

import numpy as np
import pandas as pd

from compressor.prune import prune_to_density
from eie_sim.workloads import density_variation, trained_like_weights

# LeNet-300-100 shapes (outputs x inputs)
SHAPES = {"ip1": (300, 784), "ip2": (100, 300), "ip3": (10, 100)}
# Recorded from `eie example lenet` (3 seeds), docs/LENET.md; used when no --stats is given.
RECORDED = {"ip2": {"density": 0.09, "row_cv": 1.037, "col_cv": 0.980}}
SEEDS = range(8)


def cv_of(m: int, n: int, density: float, rs: float, cs: float) -> tuple[float, float]:
    cvs = [density_variation(prune_to_density(
        trained_like_weights(m, n, seed, row_sigma=rs, col_sigma=cs), density)) for seed in SEEDS]
    return tuple(np.mean(cvs, axis=0))


def fit(layer: str, density: float, row_cv: float, col_cv: float) -> tuple[float, float, float, float]:
    m, n = SHAPES[layer]
    grid = np.round(np.arange(0.0, 1.21, 0.05), 2)
    best = None
    for rs, cs in itertools.product(grid, grid):
        r, c = cv_of(m, n, density, rs, cs)
        err = np.log(r / row_cv) ** 2 + np.log(c / col_cv) ** 2
        if best is None or err < best[0]:
            best = (err, rs, cs, r, c)
    _, rs, cs, r, c = best
    # refine around the coarse optimum
    fine = [(a, b) for a in np.round(np.arange(rs - 0.05, rs + 0.051, 0.01), 2)
            for b in np.round(np.arange(cs - 0.05, cs + 0.051, 0.01), 2) if a >= 0 and b >= 0]
    for a, b in fine:
        r2, c2 = cv_of(m, n, density, a, b)
        err = np.log(r2 / row_cv) ** 2 + np.log(c2 / col_cv) ** 2
        if err < best[0]:
            best = (err, a, b, r2, c2)
    return best[1], best[2], best[3], best[4]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stats", type=Path, help="density_stats.csv written by `eie example lenet`")
    ap.add_argument("--layer", default="ip2", choices=sorted(SHAPES))
    args = ap.parse_args()
    if args.stats:
        row = pd.read_csv(args.stats).set_index("layer").loc[args.layer]
        target = {"density": float(row["density"]), "row_cv": float(row["row_cv"]),
                  "col_cv": float(row["col_cv"])}
    else:
        target = RECORDED[args.layer]
    rs, cs, r, c = fit(args.layer, **target)
    print(f"target {args.layer}: density {target['density']:.3f}, row CV {target['row_cv']:.3f}, "
          f"column CV {target['col_cv']:.3f}")
    print(f"fitted: row_sigma = {rs:.2f}, col_sigma = {cs:.2f} (gives row CV {r:.3f}, column CV {c:.3f})")


if __name__ == "__main__":
    main()
