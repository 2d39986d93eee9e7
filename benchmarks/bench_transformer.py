"""The transformer studies' scale: compressing LLaMA-sized layers, and one token through a LLaMA block.

Run: ``python benchmarks/bench_transformer.py [--compress-sizes 1024x1024,...] [--scales 8,4,2,1]``.
Prints two tables and writes ``benchmarks/out/bench_transformer.csv`` (parts ``compress`` and
``block``):

- ``compress``: :func:`compressor.pipeline.compress_layer` (50 % magnitude, 4-bit weight sharing,
  64 PEs) on layers up to LLaMA-7B's 4096 x 11008, each in a fresh subprocess, by
  ``bench_compress_scale.py``'s measurement (time best of ``--repeats``, peak RSS growth including
  the float32 weights, ``over_weights`` = that peak / the weights). Targets for 4096 x 11008:
  <= 10 s and <= 3x the weights.
- ``block``: the seven projections of a LLaMA-7B block (:mod:`eie_sim.study.examples.llama`)
  scaled down ``s`` times per dimension (``s`` = 1 is the real block), 50 % magnitude, streamed
  from LPDDR4 at 64 PEs (SRAMs scaled with the block, so the tiles per layer stay alike):
  ``first_s`` is the first simulation in the process (numba compilation included), ``warm_s`` the
  best of ``--repeats`` later ones (target for s = 1: <= 2 s); ``us_per_kentry`` the warm time per
  thousand stored entries (constant if the engine scales linearly). Compressed layers are cached in
  ``benchmarks/out/cache``.
"""

from __future__ import annotations

import argparse

from _table import OUT_DIR, best_of, print_header, show, timed, write_csv
from bench_compress_scale import compress_row, parse_sizes

DEFAULT_COMPRESS = "1024x1024,2048x2048,4096x4096,11008x4096,4096x11008"
TARGET_BLOCK_S = 2.0


def block_row(scale: int, repeats: int) -> dict[str, object]:
    from eie_sim.simulate import prepare, run_prepared
    from eie_sim.study.examples import llama
    from eie_sim.workload.graph import activation_frac_bits

    opts = llama.LlamaOptions(presets=("LPDDR4",), methods=("magnitude",), scale=scale)
    cache = OUT_DIR / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    load_s, layers = timed(lambda: llama.block_layers(opts, "magnitude", cache))
    x = llama.block_inputs(opts)
    graph = llama.block_graph(layers, opts)
    graph = graph.with_fa(activation_frac_bits(graph, x))
    config = opts.design("LPDDR4")
    prepare_s, prep = timed(lambda: prepare(graph, config))
    first_s, (result, _) = timed(lambda: run_prepared(prep, x))
    warm_s, _ = best_of(lambda: run_prepared(prep, x), repeats)
    entries = sum(lay.entries for lay in prep.graph.layers())
    return {"scale": scale, "weights_m": round(sum(m * n for _, m, n, _ in opts.shapes) / 1e6, 2),
            "entries_m": round(entries / 1e6, 2), "tiles": sum(p.n_tiles for p in prep.plans),
            "cycles": result.cycles, "compress_or_load_s": round(load_s, 2), "prepare_s": round(prepare_s, 3),
            "first_s": round(first_s, 3), "warm_s": round(warm_s, 3),
            "us_per_kentry": round(warm_s / entries * 1e9, 3)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--compress-sizes", default=DEFAULT_COMPRESS, help="comma-separated MxN shapes")
    ap.add_argument("--scales", default="8,4,2,1", help="block scale-downs (1 = LLaMA-7B)")
    ap.add_argument("--repeats", type=int, default=3, help="timed calls (best of)")
    args = ap.parse_args()
    info = print_header(
        "bench_transformer: LLaMA-sized compression and one token through a LLaMA-shaped block",
        ["compress: each size in a fresh subprocess (bench_compress_scale's measurement); targets for "
         "4096 x 11008: <= 10 s, peak <= 3x the float32 weights",
         f"block: 64 PEs, LPDDR4, 50 % magnitude, every projection streamed; warm_s best of "
         f"{args.repeats}; target for scale 1: <= {TARGET_BLOCK_S:g} s"])
    rows = []
    for m, n in parse_sizes(args.compress_sizes):
        rows.append(compress_row(m, n, args.repeats)[0])
    compress = show(rows, "compress_layer by layer size")
    block = show([block_row(int(s), args.repeats) for s in args.scales.split(",")],
                 "one token through a LLaMA-shaped block (fast engine)")
    write_csv("bench_transformer", {"compress": compress, "block": block}, info)


if __name__ == "__main__":
    main()
