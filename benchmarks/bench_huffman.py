"""Throughput of the canonical Huffman codec on Deep Compression-like 4-bit streams.

Run: ``python benchmarks/bench_huffman.py``. Prints a table and writes
``benchmarks/out/bench_huffman.csv``. Timings are the best of several runs
after a warm-up call (so numba compilation is excluded), on one core.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd

from compressor.huffman import decode, encode, entropy_bits, mean_code_length

N_SYMBOLS = 3_400_000
REPEATS = 5
OUT = Path(__file__).resolve().parent / "out" / "bench_huffman.csv"


def weight_codes(n: int, rng: np.random.Generator) -> np.ndarray:
    """4-bit weight-sharing indices of a pruned layer.

    Pruning removes the weights near zero, so surviving weights (and the 16
    shared centroids spread over their range) are bimodal: most codes sit on
    two peaks either side of the pruned gap, few at the extremes.
    """
    c = np.arange(16)
    p = np.exp(-0.5 * ((c - 4.5) / 1.6) ** 2) + np.exp(-0.5 * ((c - 10.5) / 1.6) ** 2)
    return rng.choice(16, n, p=p / p.sum()).astype(np.uint8)


def relative_indices(n: int, rng: np.random.Generator, density: float = 0.1) -> np.ndarray:
    """4-bit zero-run lengths between non-zeros of a ~10 %-dense column (EIE format).

    A run longer than 15 is split with filler entries of 15 (a padding zero
    weight), as Deep Compression / EIE do for 4-bit relative indices.
    """
    runs = rng.geometric(density, n) - 1
    fillers = runs // 16
    out = np.repeat(np.full(runs.size, 15, np.int64), fillers)
    # Place each run's fillers before its remainder, preserving stream order.
    idx = np.concatenate([np.repeat(np.arange(runs.size), fillers), np.arange(runs.size)])
    val = np.concatenate([out, runs % 16])
    order = np.argsort(idx, kind="stable")
    return val[order][:n].astype(np.uint8)


def best_time(fn, repeats: int = REPEATS) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def bench(name: str, x: np.ndarray, n_symbols: int) -> dict[str, object]:
    stream = encode(x, n_symbols)  # warm-up: compile (or load cached) kernels
    if not np.array_equal(decode(stream), x):
        raise SystemExit(f"{name}: roundtrip mismatch")
    t_enc = best_time(lambda: encode(x, n_symbols))
    t_dec = best_time(lambda: decode(stream))
    return {
        "stream": name,
        "symbols": int(x.size),
        "bits_per_symbol": round(mean_code_length(stream), 4),
        "entropy_bits": round(entropy_bits(x, n_symbols), 4),
        "max_code_len": int(stream.lengths.max()),
        "encode_Msym_s": round(x.size / t_enc / 1e6, 1),
        "decode_Msym_s": round(x.size / t_dec / 1e6, 1),
    }


def main() -> None:
    rng = np.random.default_rng(0)
    rows = [
        bench("weight_codes", weight_codes(N_SYMBOLS, rng), 16),
        bench("relative_indices", relative_indices(N_SYMBOLS, rng), 16),
        bench("uniform_4bit", rng.integers(0, 16, N_SYMBOLS).astype(np.uint8), 16),
    ]
    table = pd.DataFrame(rows)
    print(table.to_string(index=False))
    OUT.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(OUT, index=False)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
