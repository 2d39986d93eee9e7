"""Fit the benchmark layers' density-variation rule to a real pruned layer.

The rule (eie_sim/workloads.py, :func:`scaled_laplace`): weight (i, j) = s_i * t_j * g_ij,
g Laplace, log s ~ N(0, row_sigma^2), log t ~ N(0, col_sigma^2), then magnitude pruning. This
script finds the sigmas whose pruned matrices, at the shape and density of the target layer,
have the target's per-row and per-column density coefficients of variation (mean over 8
generator seeds): a 0.05 grid over 0..1.2 for both sigmas, then a 0.01 grid within +-0.05 of
the coarse optimum, minimising the squared log-ratios of the CVs. The targets come from pruned
LeNet-300-100 layers, never from EIE's latencies. `benchmarks/measure_variation.py` trains the
layers (with and without dropout) and calls :func:`fit`; this script fits one layer of a
`density_stats.csv` written by `eie example lenet`:

    python benchmarks/fit_variation.py --stats lenet_out/density_stats.csv [--layer ip2]
"""

from __future__ import annotations

import argparse
import itertools
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from compressor.prune import prune_to_density
from eie_sim.workload.benchmarks import density_variation, scaled_laplace

# LeNet-300-100 shapes (outputs x inputs)
SHAPES = {"ip1": (300, 784), "ip2": (100, 300), "ip3": (10, 100)}
#: Generator seeds of the synthetic layers whose CVs are averaged at every grid point.
SEEDS = range(8)


def cv_of(m: int, n: int, density: float, rs: float, cs: float,
          seeds: Sequence[int] = SEEDS) -> tuple[float, float]:
    """Mean (row CV, column CV) of the rule's pruned ``m x n`` matrices over ``seeds``."""
    cvs = [density_variation(prune_to_density(scaled_laplace(m, n, seed, rs, cs), density))
           for seed in seeds]
    r, c = np.mean(cvs, axis=0)
    return float(r), float(c)


def fit(layer: str, density: float, row_cv: float, col_cv: float) -> tuple[float, float, float, float]:
    """(row_sigma, col_sigma, row CV they give, column CV they give) for a layer of :data:`SHAPES`."""
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
    return float(best[1]), float(best[2]), float(best[3]), float(best[4])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stats", type=Path, required=True,
                    help="density_stats.csv written by `eie example lenet` (columns layer, density, "
                         "row_cv, col_cv)")
    ap.add_argument("--layer", default="ip2", choices=sorted(SHAPES))
    args = ap.parse_args()
    row = pd.read_csv(args.stats).set_index("layer").loc[args.layer]
    target = {"density": float(row["density"]), "row_cv": float(row["row_cv"]),
              "col_cv": float(row["col_cv"])}
    rs, cs, r, c = fit(args.layer, **target)
    print(f"target {args.layer}: density {target['density']:.3f}, row CV {target['row_cv']:.3f}, "
          f"column CV {target['col_cv']:.3f}")
    print(f"fitted: row_sigma = {rs:.2f}, col_sigma = {cs:.2f} (gives row CV {r:.3f}, column CV {c:.3f})")


if __name__ == "__main__":
    main()
