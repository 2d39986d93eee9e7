"""The ``eie`` command line.

Exit codes: 0 success; 2 usage or input error (message on stderr, no traceback
unless ``--debug``); 1 internal error.
"""

from __future__ import annotations

import argparse
import json
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from compressor import eiefile
from compressor.errors import EieError, EieInputError
from compressor.importers import check_weight_array, load_layer, load_npy
from compressor.model import EncodedModel
from compressor.outputs import check_writable, write_atomic
from compressor.pipeline import CompressOptions, compress_model
from compressor.quantize import INITS, METHODS
from compressor.sizes import format_size_table, size_table
from eie_sim.config import ARCH_FLAGS, SimConfig, format_config
from eie_sim.simulate import ENGINES, simulate_runs
from eie_sim.summary import format_summary
from eie_sim.workloads import random_activations

#: Architecture flags that ``eie sweep`` takes as comma-separated lists (every one but these).
NOT_SWEPT = ("energy_table", "max_cycles", "check")


def add_config_flags(p: argparse.ArgumentParser, *, sweepable: bool = False) -> None:
    """Architecture flags, each with its default and unit; in a sweep, lists of values."""
    g = p.add_argument_group("architecture (defaults: the paper's 64-PE EIE; --config takes a TOML "
                             "file of the same names and units)")
    g.add_argument("--config", metavar="ARCH.toml", help="TOML file of these settings (flags win)")
    default = SimConfig()
    for flag in ARCH_FLAGS:
        listed = sweepable and flag.name not in NOT_SWEPT
        shown = flag.from_field(getattr(default, flag.field))
        unit = f" {flag.unit}" if flag.unit and shown is not None else ""
        text = (f"{flag.help} [default {'the packaged 45 nm table' if shown is None else shown}{unit}]"
                + ("; a comma-separated list to sweep" if listed else ""))
        if flag.name == "check":
            g.add_argument(flag.option, dest=flag.name, action="store_true", help=flag.help)
            continue
        metavar = {"bypass": "on|off", "energy_table": "CSV"}.get(
            flag.name, flag.unit.upper() if flag.unit in ("KB", "MHz", "bits", "cycles") else "N")
        g.add_argument(flag.option, dest=flag.name, metavar="LIST" if listed else metavar, help=text)


def sweep_grid(args: argparse.Namespace) -> dict[str, list[object]]:
    """The swept fields: each list flag of ``eie sweep`` given, converted to its field's unit."""
    grid = {}
    for flag in ARCH_FLAGS:
        value = getattr(args, flag.name, None)
        if value is not None and flag.name not in NOT_SWEPT:
            grid[flag.field] = [flag.to_field(v.strip()) for v in value.split(",")]
    return grid


def resolve_config(args: argparse.Namespace, **fixed: object) -> SimConfig:
    """The configuration: defaults, then --config TOML, then flags (the flags win).

    In a sweep, the list flags are left to :func:`sweep_grid`; the base configuration takes
    each list's first value, so that a bad value in any list is refused before any work.
    """
    overrides: dict[str, object] = {}
    sweeping = getattr(args, "command", "") == "sweep"
    for flag in ARCH_FLAGS:
        value = getattr(args, flag.name, None)
        if value is None or value is False:
            continue
        if sweeping and flag.name not in NOT_SWEPT:
            continue
        overrides[flag.field] = flag.to_field(value)
    overrides.update(fixed)
    if getattr(args, "config", None):
        return SimConfig.from_toml(args.config, **overrides)
    return SimConfig().replace(**overrides)


def print_config(config: SimConfig, grid: dict[str, list[object]] | None = None) -> None:
    """The resolved configuration, printed at the start of a run, in the flags' units."""
    print("configuration:")
    lines = format_config(config)
    for i, flag in enumerate(ARCH_FLAGS):
        if grid and flag.field in grid:
            values = ", ".join(str(flag.from_field(v)) for v in grid[flag.field])
            lines[i] = f"  {flag.option:22s} {values}" + (f" {flag.unit}" if flag.unit else "") + "  (swept)"
    print("\n".join(lines))


def add_compress_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("compression (without --density/--threshold nothing is pruned: "
                             "zero weights stay zero, every non-zero weight is kept)")
    prune = g.add_mutually_exclusive_group()
    prune.add_argument("--density", type=float, help="keep this fraction of weights, in (0, 1]")
    prune.add_argument("--threshold", type=float, metavar="Q",
                       help="keep |w| > Q x std(w) (Deep Compression's rule)")
    g.add_argument("--balanced", action="store_true",
                   help="load-balance-aware pruning: every PE's rows keep the same count")
    g.add_argument("--bits", type=int, default=4, help="weight code bits, 2..8 (default 4)")
    g.add_argument("--index-bits", type=int, default=4, help="relative index bits (default 4)")
    g.add_argument("--init", choices=INITS, default="linear", help="k-means initialisation")
    g.add_argument("--method", choices=METHODS, default="lloyd", help="k-means method")
    g.add_argument("--seed", type=int, default=0, help="seed (random init, random activations)")


def compress_options(args: argparse.Namespace, config: SimConfig | None = None) -> CompressOptions:
    """The compression flags; the encoding (N, R, word width) from ``config`` when simulating."""
    n_pes, regs, word_bits = ((config.n_pes, config.regs, config.spmat_width_bits) if config
                              else (args.pes, args.regs, args.word_bits))
    return CompressOptions(density=args.density, threshold=args.threshold, balanced=args.balanced,
                           wbits=args.bits, ibits=args.index_bits, init=args.init,
                           method=args.method, seed=args.seed, n_pes=n_pes, regs=regs,
                           word_bits=word_bits)


def _split(names: str | None) -> list[str | None]:
    """Comma-separated names; an empty name (``--bias b1,,b3``) means none for that layer."""
    return [s.strip() or None for s in names.split(",")] if names else [None]


# ----------------------------------------------------------------------------- commands


def cmd_compress(args: argparse.Namespace) -> int:
    out = check_writable(args.output, args.force)
    names, biases = _split(args.layer), _split(args.bias)
    if args.bias and len(biases) != len(names):
        raise EieInputError(f"--bias names {len(biases)} arrays for {len(names)} layer(s)")
    layers = []
    for i, name in enumerate(names):
        w, b = load_layer(args.input, layer=name, bias=biases[i] if args.bias else None)
        layers.append((name or Path(args.input).stem, w, b))
    calib = load_npy(args.calibration) if args.calibration else None
    model = compress_model(layers, compress_options(args), calibration=calib,
                           input_after_relu=args.after_relu, source=str(args.input))
    eiefile.save(model, out, force=args.force)
    print(format_size_table(size_table(model)))
    print(f"\nwrote {out} ({out.stat().st_size:,} bytes; {len(model.layers)} layer(s), "
          f"encoded for {args.pes} PEs)")
    return 0


def cmd_inspect(args: argparse.Namespace) -> int:
    model = eiefile.load(args.file)
    print(f"{args.file}: {len(model.layers)} layer(s), contract version "
          f"{model.provenance.get('contract_version', '?')}, activation format "
          + (f"Q{15 - model.fa}.{model.fa}" if model.fa is not None else "not calibrated")
          + (", input follows a ReLU" if model.input_after_relu else ""))
    for layer in model.layers:
        print(f"  {layer.name}: {layer.n} -> {layer.m}{' + bias' if layer.has_bias else ''}, "
              f"{layer.wbits}-bit codes, {layer.ibits}-bit indices, codebook Q{15 - layer.fw}.{layer.fw}, "
              f"N={layer.n_pes}, R={layer.regs} ({layer.rounds} round(s)), {layer.word_bits}-bit words, "
              f"{layer.entries:,} entries ({layer.kept:,} kept)")
    prov = {k: v for k, v in model.provenance.items() if k != "compress_options"}
    print(f"  provenance: {json.dumps(prov, default=str)}")
    print()
    table = size_table(model)
    print(format_size_table(table))
    # The file against the size table: format 2 stores exactly what the table counts.
    size, (fmt, _) = Path(args.file).stat().st_size, eiefile.file_versions(args.file)
    huff, bias, stored = (int(table.loc["total", k])
                          for k in ("bytes_huffman", "bias_bytes_pq", "bytes_stored"))
    print(f"\nfile size: {size:,} bytes (format {fmt}"
          + ("; format 1 also holds the packed SRAM words and 32-bit pointers)" if fmt == 1 else ")"))
    print(f"size table total +Huffman: {huff:,} bytes, plus {bias:,} bytes of bias codes = "
          f"{stored:,} bytes stored; the other {size - stored:,} bytes are "
          + ("format 1's extra copies, header and alignment" if fmt == 1
             else "header, checksums and alignment"))
    return 0


def _simulation_inputs(args: argparse.Namespace, config: SimConfig) -> tuple[EncodedModel, np.ndarray]:
    if args.model and args.weights:
        raise EieInputError("give either MODEL.eie or --weights W.npy, not both")
    if args.model:
        model = eiefile.load(args.model)
    elif args.weights:
        w = check_weight_array(load_npy(args.weights), args.weights)
        b = load_npy(args.bias) if args.bias else None
        model = compress_model([(Path(args.weights).stem, w, b)], compress_options(args, config),
                               source=str(args.weights))
    else:
        raise EieInputError("nothing to simulate: give MODEL.eie or --weights W.npy")
    if args.activations:
        x = load_npy(args.activations)
    else:
        x = random_activations(model.n_inputs, args.act_density, args.seed)
    return model, x


def cmd_simulate(args: argparse.Namespace) -> int:
    config = resolve_config(args)
    for path in (args.json, args.trace):
        if path:
            check_writable(path, args.force)
    print_config(config)
    model, x = _simulation_inputs(args, config)
    result, model, runs = simulate_runs(model, x, config, engine=args.engine)
    for w in result.warnings:
        print(f"note: {w}", file=sys.stderr)
    print()
    print(format_summary(result))
    if args.line_trace:
        from eie_sim.linetrace import render

        run, layer = runs[0], model.layers[0]
        tm = run.times
        print(f"\nline trace of layer {layer.name!r}, cycles 0..{min(args.line_trace, run.cycles) - 1}:")
        print("\n".join(render(tm.broadcast, tm.pop, tm.finish, tm.columns.tolist(), start=0,
                               stop=min(args.line_trace, run.cycles))))
    if args.json:
        write_atomic(args.json, json.dumps(result.to_dict(), indent=1, default=_json_default),
                     force=args.force)
        print(f"wrote {args.json}")
    if args.trace:
        from eie_sim.trace import trace_events

        trace = trace_events(model, runs, config.clock_hz)
        write_atomic(args.trace, json.dumps(trace), force=args.force)
        print(f"wrote {args.trace} (open in https://ui.perfetto.dev)")
    return 0


def _json_default(o: object) -> object:
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def cmd_sweep(args: argparse.Namespace) -> int:
    from eie_sim.sweep import make_points, run_sweep, write_parquet

    base = resolve_config(args)
    grid = sweep_grid(args)
    for field, values in grid.items():  # every value is checked before any work starts
        for value in values:
            base.replace(**{field: value})
    seeds = [int(s) for s in args.seeds.split(",")]
    points = make_points(args.layers, grid, seeds=seeds, sparsity=args.sparsity,
                         act_density=args.act_density)
    print_config(base, grid)
    print(f"sweeping {len(points)} point(s): layers {', '.join(args.layers)}; "
          + "; ".join(f"{k} = {', '.join(map(str, v))}" for k, v in grid.items())
          + f"; seeds {', '.join(map(str, seeds))}; engine {args.engine}")
    if args.dask:
        try:
            from dask.distributed import Client
        except ImportError:
            raise EieInputError("--dask needs the optional dependency: pip install 'eie-sim[dask]'") from None
        with Client(args.dask) as client:
            df = run_sweep(points, args.output, base=base, engine=args.engine,
                           executor=client.get_executor(), force=args.force, progress=not args.quiet,
                           cache_dir=None if args.no_cache else "default")
    else:
        df = run_sweep(points, args.output, base=base, engine=args.engine, jobs=args.jobs,
                       force=args.force, progress=not args.quiet,
                       cache_dir=None if args.no_cache else "default")
    parquet = write_parquet(df, Path(args.output).with_suffix(".parquet"), force=True)
    print(f"wrote {args.output} ({len(df)} rows)" + (f" and {parquet}" if parquet else ""))
    return 0


def cmd_plot(args: argparse.Namespace) -> int:
    from eie_sim.plots import plot_all
    from eie_sim.sweep import load_results

    df = load_results(args.results)
    paths = plot_all(df, Path(args.out), force=args.force)
    if not paths:
        raise EieInputError(f"{args.results}: no plot fits these results (vary n_pes, queue_depth "
                            f"or spmat_width_bits)")
    for p in paths:
        print(f"wrote {p}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from eie_sim.demo import run_demo

    run_demo(args.out, seed=args.seed, force=args.force)
    return 0


def cmd_reproduce(args: argparse.Namespace) -> int:
    from eie_sim.reproduce import run_reproduce

    print_config(SimConfig())
    path = run_reproduce(args.out, seed=args.seed, jobs=args.jobs, force=args.force,
                         progress=not args.quiet)
    print(f"wrote {path} with its tables (CSV) and plots (PNG, SVG) in {path.parent}")
    return 0


def cmd_example(args: argparse.Namespace) -> int:
    from eie_sim.examples.lenet import run_lenet_example

    print_config(SimConfig())
    res = run_lenet_example(args.out, seeds=[int(s) for s in args.seeds.split(",")],
                            sim_images=args.sim_images, force=args.force, progress=not args.quiet)
    for k, v in res["targets"].items():
        print(f"{k}: {v}")
    print(f"wrote {Path(args.out) / 'report.md'} ({res['runtime_s']:.0f} s)")
    return 0


# ----------------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="eie", description=__doc__.splitlines()[0] + " Deep Compression "
                                "for FC layers and a cycle-accurate model of the EIE accelerator.")
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    d = sub.add_parser("demo", help="compress and simulate AlexNet fc7, sweep PEs, plot energy")
    d.add_argument("--out", default="demo_out", help="output directory (default demo_out/)")
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--force", action="store_true", help="overwrite an earlier demo's plots")
    d.set_defaults(func=cmd_demo)

    c = sub.add_parser("compress", help="prune, quantize, Huffman-code and encode a layer for EIE")
    c.add_argument("input", help="weights: .npy, .npz or .safetensors (outputs x inputs)")
    c.add_argument("--layer", help="array name in .npz/.safetensors (comma list for a model)")
    c.add_argument("--bias", help="bias array name (a .npy path when INPUT is .npy)")
    add_compress_flags(c)
    c.add_argument("--pes", type=int, default=64, help="PEs to encode for (default 64)")
    c.add_argument("--regs", type=int, default=64, help="destination registers per PE (default 64)")
    c.add_argument("--word-bits", type=int, default=64, help="SRAM word width (default 64)")
    c.add_argument("--calibration", metavar="ACTS.npy", help="calibration inputs (batch x n) for "
                   "the activation format")
    c.add_argument("--after-relu", action="store_true", help="the inputs come from a ReLU")
    c.add_argument("-o", "--output", required=True, metavar="OUT.eie")
    c.add_argument("--force", action="store_true", help="overwrite OUT.eie")
    c.set_defaults(func=cmd_compress)

    i = sub.add_parser("inspect", help="print a .eie file's header and size table")
    i.add_argument("file", metavar="FILE.eie")
    i.set_defaults(func=cmd_inspect)

    s = sub.add_parser("simulate", help="run one inference on the EIE model")
    s.add_argument("model", nargs="?", metavar="MODEL.eie")
    s.add_argument("--weights", metavar="W.npy", help="a weight matrix instead of a .eie file")
    s.add_argument("--bias", metavar="b.npy", help="bias for --weights")
    add_compress_flags(s)
    a = s.add_mutually_exclusive_group()
    a.add_argument("--activations", metavar="a.npy", help="input activations (1-D)")
    a.add_argument("--act-density", type=float, default=1.0,
                   help="random non-negative activations at this density (default 1.0)")
    s.add_argument("--engine", choices=sorted(ENGINES), default="simpy")
    s.add_argument("--json", metavar="OUT.json", help="write the full result as JSON")
    s.add_argument("--trace", metavar="OUT.json", help="write a Chrome trace (Perfetto)")
    s.add_argument("--line-trace", type=int, metavar="CYCLES",
                   help="print a per-cycle trace (CCU and PE columns) of the first CYCLES cycles")
    s.add_argument("--force", action="store_true", help="overwrite output files")
    add_config_flags(s)
    s.set_defaults(func=cmd_simulate)

    w = sub.add_parser("sweep", help="simulate a cartesian product of layers and configurations")
    w.add_argument("layers", nargs="+", metavar="LAYER",
                   help="benchmark names (Alex-6 ... NT-LSTM), .eie files or weight files")
    w.add_argument("--seeds", default="0", help="comma-separated seeds (default 0)")
    w.add_argument("--sparsity", choices=("varied", "uniform"), default="varied",
                   help="benchmark layers' sparsity model (default varied)")
    w.add_argument("--act-density", type=float, help="activation density for non-benchmark layers")
    w.add_argument("--engine", choices=sorted(ENGINES), default="fast")
    w.add_argument("--jobs", type=int, help="local worker processes (default: all cores)")
    w.add_argument("--dask", metavar="ADDRESS", help="run on a Dask cluster (scheduler address)")
    w.add_argument("--no-cache", action="store_true", help="do not keep generated layers on disk")
    w.add_argument("-o", "--output", required=True, metavar="RESULTS.csv",
                   help="results; an existing file is resumed (finished points are not rerun)")
    w.add_argument("--force", action="store_true", help="discard an existing results file")
    w.add_argument("--quiet", action="store_true", help="no progress bar")
    add_config_flags(w, sweepable=True)
    w.set_defaults(func=cmd_sweep)

    pl = sub.add_parser("plot", help="plot a sweep's results (PNG and SVG)")
    pl.add_argument("results", metavar="RESULTS.csv")
    pl.add_argument("--out", default="plots", help="output directory (default plots/)")
    pl.add_argument("--force", action="store_true", help="overwrite existing plots")
    pl.set_defaults(func=cmd_plot)

    e = sub.add_parser("example", help="run an end-to-end example: lenet (LeNet-300-100 on MNIST)")
    e.add_argument("name", choices=["lenet"])
    e.add_argument("--out", default="lenet_out", help="output directory (default lenet_out/)")
    e.add_argument("--seeds", default="0,1,2", help="comma-separated training seeds (default 0,1,2)")
    e.add_argument("--sim-images", type=int, help="test images to simulate (default: all)")
    e.add_argument("--force", action="store_true", help="overwrite an earlier run's files")
    e.add_argument("--quiet", action="store_true", help="no progress bars")
    e.set_defaults(func=cmd_example)

    r = sub.add_parser("reproduce", help="recompute the EIE paper's evaluation: report.md + plots")
    r.add_argument("--out", default="repro", help="output directory (default repro/)")
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--jobs", type=int, help="worker processes (default: all cores)")
    r.add_argument("--force", action="store_true", help="recompute everything and overwrite")
    r.add_argument("--quiet", action="store_true", help="no progress bars")
    r.set_defaults(func=cmd_reproduce)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except EieError as e:
        if args.debug:
            traceback.print_exc()
        print(f"eie {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"eie {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # noqa: BLE001 -- the one place that turns bugs into exit code 1
        if args.debug:
            traceback.print_exc()
        print(f"eie {args.command}: internal error: {e.__class__.__name__}: {e} "
              "(run with --debug for the traceback and please report it)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
