"""Golden results: cycles, traffic, energy and output checksums of seeded layers.

Both engines are checked against this committed table, so they cannot drift
together. Regenerate ONLY on purpose, and say why in the commit message:

    python -m tests.golden --regenerate
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

import numpy as np
import pandas as pd

from compressor.encode import encode_layer
from compressor.model import EncodedModel
from eie_sim.config import SimConfig
from eie_sim.simulate import simulate

GOLDEN = Path(__file__).with_name("data") / "golden_results.csv"


def layer_digest(layer: object) -> str:
    """SHA-256 of everything an encoded layer stores: the bytes a compressor rewrite must keep
    (tests/test_prune_scale.py's golden digests, benchmarks/bench_compress_scale.py's check)."""
    h = hashlib.sha256()
    for a in (layer.codebook, layer.v, layer.z, layer.pe_offsets, layer.ptr):
        h.update(np.ascontiguousarray(a).tobytes())
    h.update(repr((layer.m, layer.n, layer.has_bias, layer.wbits, layer.ibits, layer.n_pes, layer.regs,
                   layer.word_bits)).encode())
    return h.hexdigest()

# (name, m, n, weight density, activation density, bias, seed); all resident at the default
# SRAM sizes except where a case shrinks the SRAM to force tiles.
CASES = [
    ("fc-512x384", 512, 384, 0.09, 0.35, True, 1),
    ("fc-96x1200", 96, 1200, 0.25, 0.40, False, 2),
    ("fc-2000x300", 2000, 300, 0.11, 1.00, True, 3),
]
PE_COUNTS = (1, 4, 16, 64)
TILED = {"spmat_bytes": 2048, "ptr_bytes": 1024}  # forces DRAM tiles on every case


def case_model(m: int, n: int, wd: float, bias: bool, seed: int, config: SimConfig) -> EncodedModel:
    """A layer of random 4-bit codes (numpy's PCG64 streams are the same on every platform)."""
    rng = np.random.default_rng(seed)
    ncols = n + int(bias)
    codes = ((rng.random((m, ncols)) < wd) * rng.integers(1, 16, (m, ncols))).astype(np.uint8)
    codebook = np.concatenate([[0.0], np.linspace(-0.5, 0.5, 15)])
    layer = encode_layer(codes, codebook, n=n, has_bias=bias, n_pes=config.n_pes, regs=config.regs,
                         word_bits=config.word_bits, name="golden")
    return EncodedModel((layer,), fa=12)


def case_input(n: int, ad: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed + 1000)
    return np.where(rng.random(n) < ad, rng.random(n) * 2.0, 0.0)


def rows(engine: str) -> pd.DataFrame:
    out = []
    for name, m, n, wd, ad, bias, seed in CASES:
        for tiled in (False, True):
            for n_pes in PE_COUNTS:
                cfg = SimConfig(n_pes=n_pes, check=True, **(TILED if tiled else {}))
                r = simulate(case_model(m, n, wd, bias, seed, cfg), case_input(n, ad, seed), cfg,
                             engine=engine)
                out.append({
                    "case": name, "tiled": tiled, "n_pes": n_pes, "cycles": r.cycles,
                    "tiles": r.layers[0].tiles, "dram_bytes": r.dram_bytes,
                    "spmat_word_reads": r.access_counts["spmat_read.word_read"],
                    "bypass_count": r.bypass_count, "ccu_stall_cycles": r.ccu_stall_cycles,
                    "lnzd_row_loads": r.lnzd_row_loads, "energy_j": r.energy_j,
                    "output_sha": hashlib.sha256(r.output_fix.astype("<i8").tobytes()).hexdigest()[:16],
                })
    return pd.DataFrame(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--regenerate", action="store_true", help="rewrite the committed golden table")
    args = ap.parse_args()
    df = rows("simpy")
    if not df.equals(rows("fast")):
        raise SystemExit("the engines disagree; fix them before regenerating the golden table")
    if args.regenerate:
        df.to_csv(GOLDEN, index=False, float_format="%.12e")
        print(f"wrote {GOLDEN} ({len(df)} rows)")
    else:
        print(df.to_string())


if __name__ == "__main__":
    main()
