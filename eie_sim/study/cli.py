"""The ``eie`` command line.

Exit codes: 0 success; 2 usage or input error (message on stderr, no traceback
unless ``--debug``); 1 internal error. Output piped into a reader that stops early
(``eie inspect m.eie | head``) is dropped quietly; the command still finishes.

Start-up is kept short: this module imports only the standard library and the error
types at load. Each command imports what it needs when it runs, and the parser fills in
only the subcommand named on the command line, so ``eie --version`` and ``eie --help``
import neither numba nor pandas (``benchmarks/bench_startup.py`` measures it). BLAS is
limited to ``--threads`` / ``EIE_THREADS`` threads (default 1) for the whole run
(:mod:`eie_sim.study.threads`).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import time
import traceback
import warnings
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from compressor.errors import EieError, EieInputError, EieWarning

if TYPE_CHECKING:  # for annotations only: importing these costs numba and pandas
    import numpy as np

    from compressor.encode import EncodedLayer
    from compressor.model import EncodedModel
    from compressor.pipeline import CompressOptions
    from eie_sim.config import SimConfig
    from eie_sim.study.batch import Inputs
    from eie_sim.workload.graph import Graph

ENGINE_HELP = ("fast: the closed-form engine (default); simpy: the event-driven machine, identical "
               "results, 100-1000x slower")
RELU_NOTE = ("A model is a chain of fully connected layers with a ReLU after every layer but the "
             "last (EIE applies it at write-back); weights are outputs x inputs, like PyTorch's "
             "Linear.weight. A graph description file (TOML) runs other workloads: independent "
             "projections, an LSTM step.")


def add_config_flags(p: argparse.ArgumentParser, *, sweepable: bool = False) -> None:
    """Architecture flags (the units' fields), each with its default and unit; in a sweep, lists."""
    g = p.add_argument_group("architecture (defaults: the paper's 64-PE EIE; --config takes a TOML "
                             "file of the same names and units)")
    from eie_sim.config import FIELDS, SimConfig

    g.add_argument("--config", metavar="ARCH.toml", help="TOML file of these settings (flags win)")
    g.add_argument("--dram", metavar="NAME", help=dram_help())
    default = SimConfig()
    for f in FIELDS:
        listed = sweepable and f.sweepable
        text = (f"{f.help} [default {f.describe(getattr(default, f.name))}]"
                + ("; a comma-separated list to sweep" if listed else ""))
        if f.kind is bool and not f.sweepable:
            g.add_argument(f.option, dest=f.flag_name, action="store_true", help=f.help)
            continue
        metavar = ("on|off" if f.kind is bool else "|".join(f.choices) if f.kind is str and f.choices
                   else "CSV" if f.kind is str else
                   f.shown_unit.upper() if f.shown_unit in ("KB", "MHz", "bits", "cycles") else "N")
        g.add_argument(f.option, dest=f.flag_name, metavar="LIST" if listed else metavar, help=text)


def dram_help() -> str:
    from eie_sim.units import dram

    return (f"a DRAM preset ({', '.join(p.name for p in dram.dram_presets().values())}; sources in "
            f"eie_sim/data/{dram.PRESETS_FILE}): sets --dram-bw, --dram-latency and --dram-pj-per-bit "
            "together; those flags, given too, win")


def dram_preset_fields(name: str | None) -> dict[str, object]:
    """The fields a ``--dram`` preset sets (none without one); an unknown name names the flag."""
    if not name:
        return {}
    from eie_sim.units import dram

    try:
        return dram.preset(name).fields()
    except EieError as e:
        raise type(e)(f"--dram {name}: {e}") from None


def sweep_grid(args: argparse.Namespace) -> dict[str, list[object]]:
    """The swept fields: each list flag of ``eie sweep`` given, converted to its field's unit."""
    from eie_sim.config import FIELDS

    grid = {}
    for f in FIELDS:
        value = getattr(args, f.flag_name, None)
        if value is not None and f.sweepable:
            grid[f.name] = [f.from_flag(v.strip()) for v in value.split(",")]
    return grid


def resolve_config(args: argparse.Namespace, **fixed: object) -> SimConfig:
    """The configuration: defaults, then --config TOML, then a --dram preset, then the other flags
    (flags win over the file; a DRAM field's own flag wins over the preset).

    In a sweep the list flags are left to :func:`sweep_grid`.
    """
    from eie_sim.config import FIELDS, SimConfig

    # a --dram preset first: the fields' own flags (and a swept list) override it
    overrides: dict[str, object] = dram_preset_fields(getattr(args, "dram", None))
    sweeping = getattr(args, "command", "") == "sweep"
    for f in FIELDS:
        value = getattr(args, f.flag_name, None)
        if value is None or value is False or (sweeping and f.sweepable):
            continue
        overrides[f.name] = f.from_flag(value)
    overrides.update(fixed)
    if getattr(args, "config", None):
        return SimConfig.from_toml(args.config, **overrides)
    return SimConfig().replace(**overrides)


def print_config(config: SimConfig, grid: dict[str, list[object]] | None = None) -> None:
    """The resolved configuration, printed at the start of a run, in the flags' units."""
    from eie_sim.config import format_config

    print("configuration:")
    print("\n".join(format_config(config, grid)))


def add_compress_flags(p: argparse.ArgumentParser) -> None:
    from compressor.quantize import INITS, METHODS

    g = p.add_argument_group("compression (without --density/--threshold nothing is pruned: "
                             "zero weights stay zero, every non-zero weight is kept)")
    prune = g.add_mutually_exclusive_group()
    prune.add_argument("--density", metavar="D[,D...]",
                       help="keep this fraction of weights, in (0, 1]; a comma list gives one per layer")
    prune.add_argument("--threshold", metavar="Q[,Q...]",
                       help="keep |w| > Q x std(w) (Deep Compression's rule); one or one per layer")
    g.add_argument("--balanced", action="store_true",
                   help="load-balance-aware pruning: every PE's rows keep the same count")
    g.add_argument("--bits", type=int, default=4, help="weight code bits, 2..8 (default 4)")
    g.add_argument("--index-bits", type=int, default=4, help="relative index bits (default 4)")
    g.add_argument("--init", choices=INITS, default="linear", help="k-means initialisation (default linear)")
    g.add_argument("--method", choices=METHODS, default="lloyd", help="k-means method (default lloyd)")
    g.add_argument("--seed", type=int, default=0, help="seed (random init, random activations; default 0)")


def _per_layer(text: str | None, flag: str, n_layers: int) -> list[float | None]:
    """A number for every layer, or a comma list of one per layer."""
    if text is None:
        return [None] * n_layers
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        raise EieInputError(f"{flag} {text!r}: not a number or a comma-separated list of numbers") from None
    if len(values) == 1:
        return values * n_layers
    if len(values) != n_layers:
        raise EieInputError(f"{flag} {text!r}: {len(values)} values for {n_layers} layer(s); give one "
                            f"for all or one per layer")
    return values


def compress_options(args: argparse.Namespace, n_layers: int,
                     config: SimConfig | None = None) -> list[CompressOptions]:
    """The compression flags, per layer; the encoding (N, R, word width) from ``config``."""
    from compressor.pipeline import CompressOptions
    from eie_sim.config import SimConfig

    config = config or SimConfig(n_pes=args.pes, regs=args.regs, word_bits=args.word_bits)
    return [CompressOptions(density=d, threshold=t, balanced=args.balanced, wbits=args.bits,
                            ibits=args.index_bits, init=args.init, method=args.method, seed=args.seed,
                            n_pes=config.n_pes, regs=config.regs, word_bits=config.word_bits)
            for d, t in zip(_per_layer(args.density, "--density", n_layers),
                            _per_layer(args.threshold, "--threshold", n_layers), strict=True)]


def input_file(path: str) -> str:
    """A weight file to read: it must exist and be a file of a known kind."""
    from compressor.importers import SUFFIXES

    p = Path(path)
    if p.is_dir():
        raise EieInputError(f"{p}: is a directory; expected a weight file ({', '.join(SUFFIXES)})")
    if not p.exists():
        raise EieInputError(f"{p}: no such file")
    return path


def int_list(flag: str, text: str) -> list[int]:
    """A comma-separated list of integers given to ``flag``."""
    try:
        return [int(v) for v in text.split(",")]
    except ValueError:
        raise EieInputError(f"{flag} {text!r}: not a comma-separated list of integers") from None


def _note(text: str) -> None:
    print(f"note: {text}", file=sys.stderr)


# ----------------------------------------------------------------------------- commands


def _select_layers(args: argparse.Namespace,
                   source: str) -> tuple[list[tuple[str, np.ndarray, np.ndarray | None]], bool]:
    """The layers ``--layer`` / ``--bias`` choose in a weight file, and whether they run apart.

    ``--layer`` with a glob character (``*?[``), or ``--independent``, selects modules by
    pattern (:func:`compressor.importers.load_named_layers`: ``X.weight`` with ``X.bias``, in
    natural name order). Such layers are one model (a chain, ReLU between them) when their
    shapes chain and ``--independent`` is not given, else independent jobs (True). Otherwise
    ``--layer`` names arrays in order, as always: a chain."""
    from compressor.importers import is_name_pattern, layers_chain, load_layers, load_named_layers

    independent = getattr(args, "independent", False)
    notes: list[str] = []
    if not (independent or is_name_pattern(args.layer)):
        layers = load_layers(input_file(source), args.layer, args.bias, notes=notes)
        for n in notes:
            _note(n)
        return layers, False
    if independent and not args.layer:
        raise EieInputError("--independent: give the layers with --layer NAME[,NAME...] or a pattern, e.g. "
                            "--layer 'encoder.layer.*.intermediate.dense'")
    if args.bias is not None:
        raise EieInputError(f"--bias {args.bias!r}: with a --layer pattern or --independent each X.weight "
                            "is paired with X.bias from the file; leave out --bias")
    layers = load_named_layers(input_file(source), args.layer, notes=notes)
    for n in notes:
        _note(n)
    if independent or not layers_chain(layers):
        return layers, True
    if len(layers) > 1:
        _note(f"the {len(layers)} layers matched form a chain (each one's outputs are the next one's inputs, "
              f"in the order {', '.join(name for name, _, _ in layers)}): they make one model, with a ReLU "
              "after each but the last; give --independent to keep them apart (square projections "
              "such as attention's query, key and value chain by shape alone)")
    return layers, False


def cmd_compress(args: argparse.Namespace) -> int:
    from compressor import eiefile
    from compressor.importers import is_name_pattern, load_npy
    from compressor.outputs import check_writable
    from compressor.pipeline import compress_model
    from compressor.sizes import format_size_table, size_table

    by_pattern = args.independent or is_name_pattern(args.layer)
    if not by_pattern:  # refused before reading anything; with a pattern -o may be a directory
        check_writable(args.output, args.force)
    input_file(args.input)
    layers, independent = _select_layers(args, args.input)
    if independent:
        return _compress_independent(args, layers)
    out = check_writable(args.output, args.force)
    options = compress_options(args, len(layers))
    _print_compression(layers, options)
    calib = load_npy(args.calibration) if args.calibration else None
    if args.retrain:
        from compressor.retrain import RetrainOptions, retrain_compress

        x_train = load_npy(args.retrain)
        # --labels label the --eval inputs; they stand for the training labels only without --eval
        y_train = load_npy(args.retrain_labels or (None if args.eval else args.labels)
                           or _missing("--retrain-labels"))
        model, log = retrain_compress(layers, options, x_train, y_train,
                                      RetrainOptions(epochs=args.epochs, seed=args.seed),
                                      calibration=calib, input_after_relu=args.after_relu,
                                      source=str(args.input), progress=not args.quiet)
        print(log)
    else:
        model = compress_model(layers, options, calibration=calib, input_after_relu=args.after_relu,
                               source=str(args.input))
    if args.eval:
        _evaluate(layers, options, model, args, retrained=bool(args.retrain))
    eiefile.save(model, out, force=args.force)
    print(format_size_table(size_table(model)))
    print(f"\nwrote {out} ({out.stat().st_size:,} bytes; {len(model.layers)} layer(s), "
          f"encoded for {args.pes} PEs)")
    return 0


#: The workload graph ``eie compress`` writes beside independent layers' files.
GRAPH_FILE = "graph.toml"


def _host_input(module: str) -> str:
    """The host input a layer compressed on its own reads, named after its module. A graph names
    host inputs and jobs' outputs alike, so the input cannot be the job's (the module's) name."""
    return f"{module}.in"


def _compress_independent(args: argparse.Namespace,
                          layers: Sequence[tuple[str, np.ndarray, np.ndarray | None]]) -> int:
    """Independent layers (a transformer's projections): one ``.eie`` per layer, named after its
    module, and a workload graph of independent jobs, in the ``-o`` directory."""
    import shlex

    from compressor import eiefile
    from compressor.importers import load_npy
    from compressor.outputs import check_output_dir, file_stems, write_atomic
    from compressor.pipeline import compress_model
    from compressor.sizes import format_size_table, size_table
    from eie_sim.config import SimConfig
    from eie_sim.workload.graph import Graph, activation_frac_bits, graph_toml

    why = (f"the {len(layers)} layers selected are compressed apart (independent jobs"
           + (")" if args.independent else ": their shapes do not chain)"))
    refused = (("--eval", args.eval, "scores a model"), ("--retrain", args.retrain, "retrains a model"),
               ("--labels", args.labels, "label the inputs that score a model"))
    for flag, value, what in refused:
        if value:
            raise EieInputError(f"{flag}: {what} (a chain of layers), but {why}. Simulate them on your "
                                f"inputs with eie simulate DIR/{GRAPH_FILE} --activations NAME=FILE, or "
                                "select layers that chain")
    out = Path(args.output)
    if out.suffix.lower() == ".eie" and not out.is_dir():
        raise EieInputError(f"-o {out}: {why}, one .eie file each plus {GRAPH_FILE}, into a directory; "
                            "give -o a directory name (not ending in .eie)")
    stems = file_stems([name for name, _, _ in layers])
    files = {name: f"{stem}.eie" for name, stem in stems.items()}
    check_output_dir(out, [*files.values(), GRAPH_FILE], args.force,
                     why=f"{why}, one .eie file each plus {GRAPH_FILE}, into the -o directory")
    options = compress_options(args, len(layers))
    _print_compression(layers, options)
    calib = load_npy(args.calibration) if args.calibration else None
    if calib is not None:  # one file of inputs: it must fit every layer
        _check_shared_calibration(args.calibration, calib, layers)
    models = [compress_model([layer], [opt], calibration=calib, input_after_relu=args.after_relu,
                             source=str(args.input))
              for layer, opt in zip(layers, options, strict=True)]
    encoded = [m.layers[0] for m in models]
    inputs = [_host_input(name) for name, _, _ in layers]
    graph = Graph.independent(encoded, inputs, input_after_relu=args.after_relu)
    if calib is not None:  # the graph runs all its jobs in one activation format: one that fits them all
        graph = graph.with_fa(activation_frac_bits(graph, dict.fromkeys(inputs, calib)))
    out.mkdir(parents=True, exist_ok=True)
    for model, name in zip(models, files.values(), strict=True):
        eiefile.save(model, out / name, force=args.force)
    comment = (f"{len(layers)} layers of {args.input} matched by --layer {args.layer}, compressed apart by "
               "eie compress:\neach job reads its own host input (NAME.in), no ReLU, output to the host.")
    write_atomic(out / GRAPH_FILE, graph_toml(graph, files, comment=comment), force=args.force)
    print(format_size_table(size_table(encoded)))
    size = sum((out / name).stat().st_size for name in files.values())
    print(f"\nwrote {len(files)} .eie files ({size:,} bytes; one layer each, encoded for {args.pes} PEs) and "
          f"the workload graph {out / GRAPH_FILE} ({len(files)} independent jobs) in {out}/")
    # the encoding's flags, so that the simulation runs the layers as encoded (not re-encoded)
    default = SimConfig()
    flags = "".join(f" {flag} {value}" for flag, value, usual in (
        ("--pes", args.pes, default.n_pes), ("--regs", args.regs, default.regs),
        ("--word-bits", args.word_bits, default.word_bits)) if value != usual)
    print(f"simulate it: eie simulate {shlex.quote(str(out / GRAPH_FILE))}{flags}\n  (random inputs; your "
          f"own: --activations NAME=FILE for each of the {len(inputs)} host inputs, e.g. --activations "
          f"{shlex.quote(inputs[0] + '=x.npy')})")
    return 0


def _check_shared_calibration(path: str, calib: np.ndarray,
                              layers: Sequence[tuple[str, np.ndarray, np.ndarray | None]]) -> None:
    """One ``--calibration`` file for independent layers: it must fit each one's inputs."""
    if calib.ndim not in (1, 2):
        raise EieInputError(f"--calibration {path}: shape {calib.shape}; calibration inputs are a vector or "
                            "a batch (batch x inputs)")
    wrong = [f"{name} ({w.shape[1]})" for name, w, _ in layers if w.shape[1] != calib.shape[-1]]
    if wrong:
        raise EieInputError(f"--calibration {path}: shape {calib.shape} gives {calib.shape[-1]} inputs, but "
                            f"layer(s) {', '.join(wrong[:4])}{', ...' if len(wrong) > 4 else ''} take other "
                            "input counts; one calibration file serves layers of one input width: select "
                            "those with --layer, or leave out --calibration (eie simulate calibrates on "
                            "the inputs it runs)")


def _missing(flag: str) -> str:
    raise EieInputError(f"--retrain needs the training labels: give {flag} y_train.npy")


def _print_compression(layers: Sequence[tuple[str, np.ndarray, np.ndarray | None]],
                       options: Sequence[CompressOptions]) -> None:
    """The resolved compression settings, per layer, and the encoding they target."""
    o = options[0]
    print("compression:")
    for (name, w, b), opt in zip(layers, options, strict=True):
        rule = (f"density {opt.density:g}" if opt.density is not None else
                f"threshold {opt.threshold:g} x std" if opt.threshold is not None else "no pruning")
        print(f"  {name:16s} {w.shape[0]} x {w.shape[1]}{' + bias' if b is not None else ''}: {rule}"
              + (", balanced" if opt.balanced else ""))
    print(f"  weight sharing     {o.wbits}-bit codes, {o.init} init, {o.method} k-means, seed {o.seed}")
    print(f"  encoding           {o.n_pes} PEs, {o.regs} registers per PE, {o.ibits}-bit relative "
          f"indices, {o.word_bits}-bit SRAM words")


def _evaluate(layers, options, model: EncodedModel, args: argparse.Namespace, *, retrained: bool) -> None:
    """Float, pruned, quantized and fixed-point scores on --eval inputs, with warnings for losses."""
    import numpy as np

    from compressor.evaluate import STEPS, Stage, losses, score_table, stage_outputs
    from eie_sim.config import SimConfig
    from eie_sim.study.batch import load_inputs, load_labels, simulate_batch

    inputs = load_inputs(args.eval, model.n_inputs, shape_hint=_transposed_hint(model.layers))
    labels = load_labels(args.labels, len(inputs)) if args.labels else None
    stages = stage_outputs(layers, options, model, inputs.x)
    steps = STEPS
    if retrained:  # the pruned stage prunes the given weights; the model itself was retrained
        stages[1] = Stage("pruned (no retraining)", stages[1].outputs)
        stages[2] = Stage("quantized (retrained)", stages[2].outputs)
        steps = (("float", "quantized (retrained)", "retraining with pruning and weight sharing"),
                 ("quantized (retrained)", STEPS[2][1], STEPS[2][2]))
    config = SimConfig(n_pes=model.layers[0].n_pes, regs=model.layers[0].regs,
                       word_bits=model.layers[0].word_bits)
    batch = simulate_batch(model, inputs, config, engine="fast")
    fixed = np.array([r.output for r in batch.results])
    table = score_table([*stages, Stage(STEPS[2][1], fixed)], labels)
    print(f"\nevaluation on {inputs.source} ({len(inputs)} input(s)"
          + (", with labels)" if labels is not None else "; no labels: output error vs float)") + ":")
    print(table.to_string(index=False, float_format=lambda v: f"{v:.2f}"))
    fa = batch.results[0].fa
    remedy = {
        STEPS[2][2]: f"the activation format Q{15 - fa}.{fa} is too coarse or saturates on these inputs; "
                     "calibrate it on inputs like them (--calibration)",
        **({steps[0][2]: "retrain longer (--epochs) or keep more weights"} if retrained else {
            STEPS[0][2]: "that is without retraining: retrain with --retrain X_train.npy --retrain-labels "
                         "y_train.npy, or keep more weights",
            STEPS[1][2]: "that is without retraining: --retrain also fine-tunes the codebook; or use "
                         "more bits (--bits)"}),
    }
    for what, text in losses(table, args.max_loss, args.max_error, steps):
        print(f"warning: {text}; {remedy[what]}", file=sys.stderr)
    print()


def _transposed_hint(layers: Sequence[EncodedLayer]) -> str:
    """For one layer fed inputs of its output count: the weights may be transposed."""
    if len(layers) != 1 or layers[0].m == layers[0].n:
        return ""
    lay = layers[0]
    return (f" (the layer's weights are {lay.m} x {lay.n}, outputs x inputs: if they were saved inputs x "
            "outputs, transpose them; PyTorch's Linear.weight is outputs x inputs)")


def cmd_inspect(args: argparse.Namespace) -> int:
    from compressor import eiefile
    from compressor.sizes import format_size_table, size_table

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
    codebooks = stored - huff - bias  # stored as float64, counted at 32 bits in the table
    print(f"\nfile size: {size:,} bytes (format {fmt}"
          + ("; format 1 also holds the packed SRAM words and 32-bit pointers)" if fmt == 1 else ")"))
    print(f"size table total +Huffman: {huff:,} bytes, plus {bias:,} bytes of bias codes and {codebooks:,} "
          f"bytes for 64-bit codebooks = {stored:,} bytes stored; the other {size - stored:,} bytes are "
          + ("format 1's extra copies, header and alignment" if fmt == 1
             else "header, checksums and alignment"))
    return 0


def _workload(args: argparse.Namespace, config: SimConfig) -> tuple[Graph, str | None]:
    """What ``eie simulate`` runs, as ``eie sweep`` names it: a .eie model (a chain), a graph
    description, a benchmark layer (EIE Table III) or a weight file (``--layer`` / ``--bias``
    choose its arrays, as for ``eie compress``). Also the benchmark's name, if it is one."""
    from compressor.importers import SUFFIXES
    from eie_sim.workload.benchmarks import BENCHMARKS
    from eie_sim.workload.graph import Graph, load_graph

    if args.model and args.weights:
        raise EieInputError("give either MODEL (a .eie, .toml, benchmark or weight file) or --weights "
                            "W.npy, not both")
    source = args.model or args.weights
    if source is None:
        raise EieInputError("nothing to simulate: give MODEL.eie, GRAPH.toml, a benchmark name "
                            f"({', '.join(BENCHMARKS)}) or a weight file ({', '.join(SUFFIXES)})")
    p = Path(source)
    weight_file = args.weights is not None or p.suffix.lower() in SUFFIXES
    if not weight_file:
        selectors = [flag for flag, value in (("--layer", args.layer), ("--bias", args.bias),
                                              ("--density", args.density), ("--threshold", args.threshold))
                     if value is not None] + (["--balanced"] if args.balanced else []) \
            + (["--independent"] if args.independent else [])
        if selectors:
            raise EieInputError(f"{', '.join(selectors)}: only for a weight file ({', '.join(SUFFIXES)}); "
                                f"{source} is "
                                + ("a benchmark layer with its published densities" if source in BENCHMARKS
                                   else "already compressed"))
    if not weight_file and source in BENCHMARKS:
        from eie_sim.workload.benchmarks import benchmark_model

        model = benchmark_model(source, seed=args.seed, sparsity=args.sparsity, n_pes=config.n_pes,
                                regs=config.regs, word_bits=config.word_bits)
        return Graph.chain(model), source
    if p.is_dir():
        raise EieInputError(f"{p}: is a directory; expected a .eie model, a .toml graph or a weight file")
    if p.suffix.lower() == ".toml":
        return load_graph(p), None
    if p.suffix.lower() == ".eie":
        from compressor import eiefile

        return Graph.chain(eiefile.load(p)), None
    if not weight_file:
        raise EieInputError(f"{source}: neither a benchmark ({', '.join(BENCHMARKS)}) nor a .eie, .toml or "
                            f"weight file ({', '.join(SUFFIXES)})")
    from compressor.pipeline import compress_layer, compress_model

    layers, independent = _select_layers(args, source)
    options = compress_options(args, len(layers), config)
    if independent:
        encoded = [compress_layer(w, b, opt, name=name)
                   for (name, w, b), opt in zip(layers, options, strict=True)]
        return Graph.independent(encoded, [_host_input(name) for name, _, _ in layers],
                                 source=str(source)), None
    return Graph.chain(compress_model(layers, options, source=str(source))), None


def _simulation_inputs(args: argparse.Namespace, graph: Graph, benchmark: str | None) -> dict[str, Inputs]:
    """Each host input's batch: from --activations (FILE, or NAME=FILE per input), else random at
    --act-density, else a benchmark layer's own activations (at its published density), else dense
    random ones."""
    from eie_sim.study.batch import Inputs, load_inputs
    from eie_sim.workload.benchmarks import benchmark_activations, random_activations

    wanted = graph.host_inputs
    given: dict[str, str] = {}
    for spec in args.activations or []:
        name, sep, file = spec.partition("=")
        if not sep:
            if len(wanted) != 1:
                raise EieInputError(f"--activations {spec}: the graph has {len(wanted)} host inputs "
                                    f"({', '.join(wanted)}); give each as --activations NAME=FILE")
            name, file = next(iter(wanted)), spec
        if name not in wanted:
            raise EieInputError(f"--activations {spec}: the graph has no host input {name!r}; its host "
                                f"inputs are {', '.join(wanted)}")
        given[name] = file
    if given and set(given) != set(wanted):
        missing = [n for n in wanted if n not in given]
        raise EieInputError(f"--activations: no file for host input(s) {', '.join(missing)}")
    hint = _transposed_hint([j.layer for j in graph.jobs] if graph.is_chain else [])
    out = {}
    for i, (name, n) in enumerate(wanted.items()):
        if name in given:
            out[name] = load_inputs(given[name], n, shape_hint=hint)
        elif benchmark is not None and args.act_density is None:
            x = benchmark_activations(benchmark, args.seed)
            out[name] = Inputs(x[None, :], f"{benchmark}'s activations (seed {args.seed})", True)
        else:
            density = 1.0 if args.act_density is None else args.act_density
            x = random_activations(n, density, args.seed + i)
            out[name] = Inputs(x[None, :], f"random (density {density:g}, seed {args.seed + i})", True)
    sizes = {len(v) for v in out.values()}
    if len(sizes) != 1:
        raise EieInputError("--activations: the host inputs' batches differ in size: "
                            + ", ".join(f"{k} {len(v)}" for k, v in out.items()))
    return out


def check_act_density(value: float | None) -> None:
    """``--act-density``, for simulate and sweep alike: a share in 0..1. 0 is allowed: an all-zero
    input is a run of its own (the layer's fixed cost: pointer reads, no multiply)."""
    if value is not None and not 0.0 <= value <= 1.0:
        raise EieInputError(f"--act-density {value:g}: must be in 0..1 (the share of non-zero activations)")


def _negative_notes(graph: Graph, inputs: dict[str, Inputs]) -> None:
    """Negative activations where no ReLU precedes: EIE skips only zeros, so they all count as
    work. Legitimate for a network's raw inputs; said so, because it silently costs density."""
    for name, batch in inputs.items():
        negative = int((batch.x < 0).sum())
        if negative and name not in graph.input_after_relu:
            what = "activations" if len(inputs) == 1 else f"activations of {name!r}"
            _note(f"{negative:,} of {batch.x.size:,} {what} are negative; EIE skips only zeros, so they "
                  f"are work like any other (non-zero: {100 * batch.density:.1f} %). Expected for raw "
                  "network inputs; after a ReLU there would be none")


def cmd_simulate(args: argparse.Namespace) -> int:
    from compressor.outputs import check_writable, write_atomic
    from eie_sim.simulate import simulate_runs
    from eie_sim.study.summary import format_summary

    config = resolve_config(args)
    for path in (args.json, args.trace, args.per_input):
        if path:
            check_writable(path, args.force)
    if args.labels and not args.activations:
        raise EieInputError("--labels needs the inputs they label: give --activations X.npy too")
    check_act_density(args.act_density)
    print_config(config)
    graph, benchmark = _workload(args, config)
    inputs = _simulation_inputs(args, graph, benchmark)
    _negative_notes(graph, inputs)
    if args.labels or args.per_input or len(next(iter(inputs.values()))) > 1:
        return _simulate_batch(graph, inputs, config, args)
    start = time.perf_counter()
    result, graph, runs = simulate_runs(graph, {k: v.x[0] for k, v in inputs.items()}, config,
                                        engine=args.engine)
    wall = time.perf_counter() - start
    for w in result.warnings:
        _note(w)
    size = sum(v.x.size for v in inputs.values())
    density = sum(int((v.x != 0).sum()) for v in inputs.values()) / size
    print()
    print(format_summary(result, config, input_density=density, n_inputs=size, wall_s=wall,
                         input_source=", ".join(v.source for v in inputs.values())))
    _traces(args, graph, runs, config)
    if args.json:
        write_atomic(args.json, json.dumps(result.to_dict(), indent=1, default=_json_default),
                     force=args.force)
        print(f"wrote {args.json}")
    return 0


def _traces(args: argparse.Namespace, graph: Graph, runs, config: SimConfig) -> None:
    from compressor.outputs import write_atomic

    if args.line_trace:
        from eie_sim.linetrace import render
        from eie_sim.units import trace_columns

        run = runs[0]
        stop = min(args.line_trace, run.cycles)
        print(f"\nline trace of job {graph.jobs[0].name!r}:")
        print("\n".join(render(run.times, *trace_columns(), start=0, stop=stop)))
    if args.trace:
        from eie_sim.study.trace import trace_events

        trace = trace_events(graph, runs, config.clock_hz)
        write_atomic(args.trace, json.dumps(trace), force=args.force)
        print(f"wrote {args.trace} (open in https://ui.perfetto.dev)")


def _simulate_batch(graph: Graph, inputs: dict[str, Inputs], config: SimConfig,
                    args: argparse.Namespace) -> int:
    from compressor.outputs import write_atomic
    from eie_sim.study.batch import load_labels, simulate_batch
    from eie_sim.study.summary import format_batch

    if args.trace or args.line_trace:
        raise EieInputError("--trace and --line-trace follow one inference; give a single input "
                            "(a vector, or one row of the batch saved on its own)")
    batch_size = len(next(iter(inputs.values())))
    labels = load_labels(args.labels, batch_size) if args.labels else None
    batch = simulate_batch(graph, inputs if len(inputs) > 1 else next(iter(inputs.values())), config,
                           engine=args.engine, labels=labels, progress=not args.quiet)
    for w in dict.fromkeys(w for r in batch.results for w in r.warnings):
        _note(w)
    print()
    print(format_batch(batch, config))
    if args.per_input:
        write_atomic(args.per_input, batch.per_input().to_csv(index=False), force=args.force)
        print(f"wrote {args.per_input}")
    if args.json:
        data = {"summary": batch.summary(), "results": [r.to_dict() for r in batch.results]}
        write_atomic(args.json, json.dumps(data, indent=1, default=_json_default), force=args.force)
        print(f"wrote {args.json}")
    return 0


def _json_default(o: object) -> object:
    import numpy as np

    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def cmd_sweep(args: argparse.Namespace) -> int:
    from compressor.outputs import check_writable
    from eie_sim.study.sweep import (
        check_configs,
        default_cache_dir,
        finished_points,
        make_points,
        run_sweep,
        write_parquet,
    )

    out = check_writable(args.output, force=True)  # an existing file is resumed, not overwritten
    base = resolve_config(args)
    grid = sweep_grid(args)
    seeds = int_list("--seeds", args.seeds)
    if args.jobs is not None and args.jobs < 1:
        raise EieInputError(f"--jobs {args.jobs}: must be at least 1")
    check_act_density(args.act_density)
    if args.labels and not args.activations:
        raise EieInputError("--labels needs the batch they label: give --activations X.npy too")
    points = make_points(args.layers, grid, seeds=seeds, sparsity=args.sparsity,
                         act_density=args.act_density, inputs=args.activations, labels=args.labels,
                         select=(args.layer, args.bias))
    check_configs(points, base)  # before anything is printed; run_sweep checks the inputs too
    cache = None if args.no_cache else (args.cache_dir or str(default_cache_dir(out)))
    print_config(base, grid)
    print(f"sweeping {len(points)} point(s): layers {', '.join(args.layers)}; "
          + "".join(f"{k} = {', '.join(map(str, v))}; " for k, v in grid.items())
          + f"seeds {', '.join(map(str, seeds))}; engine {args.engine}; inputs "
          + (args.activations or "each layer's own (benchmarks) or random")
          + f"; layer cache {cache or 'off'}")
    done = 0 if args.force else finished_points(points, out)
    if done:
        print(f"resuming {out}: {done} done, {len(points) - done} to go")
    common = dict(base=base, engine=args.engine, force=args.force, progress=not args.quiet,
                  cache_dir=cache)
    if args.dask:
        try:
            from dask.distributed import Client
        except ImportError:
            raise EieInputError("--dask needs the optional dependency: pip install 'eie-sim[dask]'") from None
        with Client(args.dask) as client:
            df = run_sweep(points, out, executor=client.get_executor(), **common)
    else:
        df = run_sweep(points, out, jobs=args.jobs, **common)
    parquet = write_parquet(df, out.with_suffix(".parquet"), force=True)
    print(f"wrote {out} ({_count(len(df), 'row')})" + (f" and {parquet}" if parquet else ""))
    return 0


def _count(n: int, noun: str) -> str:
    """``1 row``, ``2 rows``."""
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def cmd_plot(args: argparse.Namespace) -> int:
    out = Path(args.out)
    from eie_sim.study.plots import parse_where, plot_all
    from eie_sim.study.sweep import load_results

    df = load_results(args.results)
    paths, notes = plot_all(df, out, where=parse_where(args.where or []), stem=Path(args.results).stem,
                            force=args.force)
    for n in notes:
        _note(n)
    if not paths:
        raise EieInputError(f"{args.results}: no plot fits these results; vary n_pes, queue_depth or "
                            f"word_bits, or fix the other varied fields with --where FIELD=VALUE")
    for p in paths:
        print(f"wrote {p}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from compressor.outputs import check_writable
    from eie_sim.config import SimConfig
    from eie_sim.study.demo import demo_outputs, run_demo

    for p in demo_outputs(args.out):  # refuse before computing anything
        check_writable(str(p), args.force)
    print_config(SimConfig())
    print()
    run_demo(args.out, seed=args.seed, force=args.force)
    return 0


def cmd_reproduce(args: argparse.Namespace) -> int:
    from eie_sim.config import SimConfig
    from eie_sim.study.reproduce import run_reproduce

    seeds = [args.seed] if args.seed is not None else int_list("--seeds", args.seeds)
    print_config(SimConfig())
    print(f"seeds: {', '.join(map(str, seeds))}")
    path = run_reproduce(args.out, seeds=seeds, jobs=args.jobs, force=args.force,
                         progress=not args.quiet, cache_dir=args.cache)
    print(f"wrote {path} with its tables (CSV) and plots (PNG, SVG) in {path.parent}")
    return 0


def cmd_example(args: argparse.Namespace) -> int:
    from eie_sim.config import SimConfig

    if args.name == "lstm":
        from eie_sim.study.examples.lstm_step import DEFAULT_OUT, run_lstm_example

        for line in run_lstm_example(args.out or DEFAULT_OUT, seed=int_list("--seeds", args.seeds)[0]):
            print(line)
        return 0
    if args.name in ("minilm", "llama"):
        import importlib

        study = importlib.import_module(f"eie_sim.study.examples.{args.name}")
        # llama takes --dram as a list of presets to compare; minilm as the DRAM to run on
        one = args.dram if args.name == "minilm" else None
        return study.cli_main(args, SimConfig().replace(**dram_preset_fields(one)))
    if args.name == "mlp":
        from eie_sim.study.examples.mlp_study import run_mlp_study

        for line in run_mlp_study(args.out, seed=int_list("--seeds", args.seeds)[0], force=args.force):
            print(line)
        return 0
    from eie_sim.study.examples.lenet import run_lenet_example

    print_config(SimConfig())
    out = args.out or "lenet_out"
    res = run_lenet_example(out, seeds=int_list("--seeds", args.seeds),
                            sim_images=args.sim_images, force=args.force, progress=not args.quiet)
    for k, v in res["targets"].items():
        print(f"{k}: {v}")
    print(f"wrote {Path(out) / 'report.md'} ({res['runtime_s']:.0f} s)")
    return 0


# ----------------------------------------------------------------------------- parser


def _engine_flag(p: argparse.ArgumentParser) -> None:
    from eie_sim.engines import ENGINES

    p.add_argument("--engine", choices=sorted(ENGINES), default="fast", help=ENGINE_HELP)


def _input_flags(p: argparse.ArgumentParser, *, random: bool) -> None:
    a = p.add_mutually_exclusive_group()
    a.add_argument("--activations", metavar="X.npy", action="append" if random else None,
                   help="input activations: a vector, or a batch (one input per row); x.npz:NAME "
                        "picks an array of an .npz"
                        + ("; a graph with several host inputs takes NAME=FILE for each" if random else ""))
    if random:
        a.add_argument("--act-density", type=float, metavar="D",
                       help="without --activations: random non-negative activations at this share of "
                            "non-zeros, 0..1 (default: a benchmark layer's own density, else 1.0)")
    p.add_argument("--labels", metavar="Y.npy",
                   help="integer classes of the --activations batch: report top-1 accuracy of the "
                        "fixed-point outputs")


def _sparsity_flag(p: argparse.ArgumentParser) -> None:
    from eie_sim.workload.benchmarks import SPARSITY_MODELS

    p.add_argument("--sparsity", choices=SPARSITY_MODELS, default=SPARSITY_MODELS[0],
                   help=f"benchmark layers' sparsity model (default {SPARSITY_MODELS[0]}; "
                        "docs/WORKLOADS.md)")


def _threads_flag(p: argparse.ArgumentParser, *, top: bool) -> None:
    """``--threads`` before or after the command (``eie --threads 2 sweep ...``, ``eie sweep ...
    --threads 2``); the command's own copy leaves the global one alone when not given."""
    from eie_sim.study import threads

    p.add_argument("--threads", metavar="N", default=None if top else argparse.SUPPRESS,
                   help=f"BLAS threads per process (default {threads.DEFAULT_THREADS}, or the "
                        f"{threads.ENV} environment variable); more helps only large matrix products")


def _demo_args(d: argparse.ArgumentParser) -> None:
    d.add_argument("--out", default="demo_out", help="output directory (default demo_out/)")
    d.add_argument("--seed", type=int, default=0, help="seed of the generated layer (default 0)")
    d.add_argument("--force", action="store_true", help="overwrite an earlier demo's plots")


def _compress_args(c: argparse.ArgumentParser) -> None:
    from compressor.evaluate import MAX_ERROR_PCT, MAX_LOSS_POINTS
    from compressor.importers import SUFFIXES

    c.add_argument("input", help=f"weights: {', '.join(SUFFIXES)} (outputs x inputs); .onnx: the chain "
                                 "of Gemm / MatMul layers; PyTorch names X.weight pair with X.bias")
    c.add_argument("--layer", metavar="NAMES|PATTERNS",
                   help="array name(s) in .npz/.safetensors, comma list in order for a model; "
                   "or glob pattern(s) over module names, e.g. 'encoder.layer.*.intermediate.dense' "
                   "(X.weight with X.bias, in natural order): layers that do not chain are written one "
                   f".eie each into the -o directory with a workload graph, {GRAPH_FILE}")
    c.add_argument("--independent", action="store_true",
                   help="with --layer: compress the layers apart (one .eie each and a graph of "
                        "independent jobs) even when their shapes chain")
    c.add_argument("--bias", help="bias array name(s) (a .npy path when INPUT is .npy); empty for none")
    add_compress_flags(c)
    c.add_argument("--pes", type=int, default=64, help="PEs to encode for (default 64)")
    c.add_argument("--regs", type=int, default=64, help="destination registers per PE (default 64)")
    c.add_argument("--word-bits", type=int, default=64, help="SRAM word width in bits (default 64)")
    c.add_argument("--calibration", metavar="ACTS.npy", help="calibration inputs (batch x n) for "
                   "the activation format")
    c.add_argument("--after-relu", action="store_true", help="the inputs come from a ReLU")
    c.add_argument("--eval", metavar="X.npy", help="score float, pruned, quantized and fixed-point "
                   "models on these inputs (top-1 with --labels, else output error)")
    c.add_argument("--labels", metavar="Y.npy", help="integer classes of the --eval inputs")
    c.add_argument("--max-loss", type=float, default=MAX_LOSS_POINTS, metavar="POINTS",
                   help="warn when a compression step loses more top-1 accuracy "
                        f"(default {MAX_LOSS_POINTS:g})")
    c.add_argument("--max-error", type=float, default=MAX_ERROR_PCT, metavar="PCT",
                   help="without --labels: warn when a step raises the output RMS error by more "
                        f"(percent of the float outputs' RMS, default {MAX_ERROR_PCT:g}; a rough proxy)")
    c.add_argument("--retrain", metavar="X_TRAIN.npy", help="prune iteratively with retraining and "
                   "fine-tune the codebook on these inputs (an MLP of ReLU layers; see README)")
    c.add_argument("--retrain-labels", metavar="Y_TRAIN.npy", help="integer classes of --retrain")
    c.add_argument("--epochs", type=int, default=4, help="retraining epochs per pruning step (default 4)")
    c.add_argument("--quiet", action="store_true", help="no progress bars")
    c.add_argument("-o", "--output", required=True, metavar="OUT.eie|DIR",
                   help="the model; a directory for layers compressed apart (see --layer)")
    c.add_argument("--force", action="store_true", help="overwrite the output file(s)")


def _inspect_args(i: argparse.ArgumentParser) -> None:
    i.add_argument("file", metavar="FILE.eie")


def _simulate_args(s: argparse.ArgumentParser) -> None:
    from compressor.importers import SUFFIXES
    from eie_sim.workload.benchmarks import BENCHMARKS

    s.add_argument("model", nargs="?", metavar="MODEL",
                   help=f"a .eie model, a .toml graph, a benchmark layer ({', '.join(BENCHMARKS)}; run on "
                        f"its own activations at its published density) or a weight file "
                        f"({', '.join(SUFFIXES)}; compressed first with the flags below)")
    s.add_argument("--weights", metavar="W.npy", help="a weight file instead of MODEL (the same as giving "
                   "it as MODEL)")
    s.add_argument("--layer", help="array name(s) or pattern(s) of a weight file (.npz, .safetensors), as "
                   "for compress (layers that do not chain run as independent jobs)")
    s.add_argument("--independent", action="store_true", help="with --layer: run the layers as "
                   "independent jobs even when their shapes chain, as for compress")
    s.add_argument("--bias", metavar="b.npy|NAME", help="bias of a weight file (a .npy path, or array "
                   "name(s)), as for compress")
    add_compress_flags(s)
    _sparsity_flag(s)
    _input_flags(s, random=True)
    _engine_flag(s)
    s.add_argument("--json", metavar="OUT.json", help="write the full result(s) as JSON")
    s.add_argument("--per-input", metavar="OUT.csv", help="a batch: write one row per input")
    s.add_argument("--trace", metavar="OUT.json", help="write a Chrome trace (Perfetto)")
    s.add_argument("--line-trace", type=int, metavar="CYCLES",
                   help="print a per-cycle trace (CCU and PE columns) of the first CYCLES cycles")
    s.add_argument("--quiet", action="store_true", help="no progress bar over a batch")
    s.add_argument("--force", action="store_true", help="overwrite output files")
    add_config_flags(s)


def _sweep_args(w: argparse.ArgumentParser) -> None:
    w.add_argument("layers", nargs="+", metavar="LAYER",
                   help="benchmark names (Alex-6 ... NT-LSTM), .eie files or weight files")
    w.add_argument("--layer", help="array name(s) of a weight file, as for compress")
    w.add_argument("--bias", help="bias array name(s) of a weight file, as for compress")
    _input_flags(w, random=False)
    w.add_argument("--act-density", type=float, metavar="D",
                   help="without --activations: random inputs of non-benchmark layers at this share of "
                        "non-zeros, 0..1")
    w.add_argument("--seeds", default="0", help="comma-separated seeds (default 0)")
    _sparsity_flag(w)
    _engine_flag(w)
    w.add_argument("--jobs", type=int, help="local worker processes (default: all cores)")
    w.add_argument("--dask", metavar="ADDRESS", help="run on a Dask cluster (scheduler address)")
    w.add_argument("--cache-dir", metavar="DIR", help="where generated and compressed layers are kept "
                   "between points and runs (default: .eie-cache/ beside the results file)")
    w.add_argument("--no-cache", action="store_true", help="do not keep generated layers on disk")
    w.add_argument("-o", "--output", required=True, metavar="RESULTS.csv",
                   help="results; an existing file is resumed (finished points are not rerun)")
    w.add_argument("--force", action="store_true", help="discard an existing results file")
    w.add_argument("--quiet", action="store_true", help="no progress bar")
    add_config_flags(w, sweepable=True)


def _plot_args(pl: argparse.ArgumentParser) -> None:
    pl.add_argument("results", metavar="RESULTS.csv")
    pl.add_argument("--where", action="append", metavar="FIELD=VALUE",
                    help="keep the rows with this value (repeatable), e.g. --where queue_depth=8")
    pl.add_argument("--out", default="plots", help="output directory (default plots/)")
    pl.add_argument("--force", action="store_true", help="overwrite existing plots")


def _table_args(t: argparse.ArgumentParser) -> None:
    from eie_sim.study import table  # `eie table` declares its own flags

    table.fill_args(t)


def cmd_table(args: argparse.Namespace) -> int:
    from eie_sim.study import table

    return table.cmd_table(args)


def _example_args(e: argparse.ArgumentParser) -> None:
    e.add_argument("name", choices=["lenet", "mlp", "lstm", "minilm", "llama"])
    e.add_argument("--out", help="output directory (default lenet_out/, study/, lstm_out/, minilm_out/ or "
                   "llama_out/)")
    e.add_argument("--dram", metavar="NAME[,NAME]", help="minilm: the DRAM preset to run on; llama: the "
                   "presets to compare (default all); docs/TRANSFORMER.md")
    e.add_argument("--pes", metavar="N[,N...]", help="minilm: PE counts (default 1,4,16,64,256); llama: "
                   "one PE count (default 64)")
    e.add_argument("--tokens", type=int, help="minilm: held-out tokens to simulate (default 8)")
    e.add_argument("--quick", action="store_true", help="minilm, llama: a small, fast version")
    e.add_argument("--seeds", default="0,1,2", help="comma-separated training seeds (default 0,1,2; "
                   "mlp and lstm use the first)")
    e.add_argument("--sim-images", type=int, help="lenet: test images to simulate (default: all)")
    e.add_argument("--force", action="store_true", help="overwrite an earlier run's files")
    e.add_argument("--quiet", action="store_true", help="no progress bars")


def _reproduce_args(r: argparse.ArgumentParser) -> None:
    r.add_argument("--out", default="repro", help="output directory (default repro/)")
    seeds = r.add_mutually_exclusive_group()
    seeds.add_argument("--seeds", default="0,1,2,3,4",
                       help="comma-separated seeds of the generated layers (default 0,1,2,3,4): the 64-PE "
                            "comparison is reported as mean and sd over them")
    seeds.add_argument("--seed", type=int, help="one seed only (no spread)")
    r.add_argument("--jobs", type=int, help="worker processes (default: all cores)")
    r.add_argument("--cache", metavar="DIR", help="where generated layers are kept between runs (default "
                   "$EIE_SIM_CACHE, else ~/.cache/eie-sim); cached files are validated before use")
    r.add_argument("--force", action="store_true", help="recompute everything and overwrite")
    r.add_argument("--quiet", action="store_true", help="no progress bars")


class _Version(argparse.Action):
    """``--version``: the package and contract versions, looked up only when asked for."""

    def __init__(self, option_strings: Sequence[str], dest: str = argparse.SUPPRESS, **kw: object) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS,
                         help="print the package and modelling-contract versions and exit")

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: object, option_string: str | None = None) -> None:
        from compressor.provenance import CONTRACT_VERSION, package_version

        print(f"eie {package_version()} (modelling contract v{CONTRACT_VERSION})")
        parser.exit()


def build_parser(commands: Collection[str] | None = None) -> argparse.ArgumentParser:
    """The ``eie`` parser. Every subcommand is listed; only those in ``commands`` (all when None)
    get their arguments, whose defaults and choices import the modules behind them. A new
    subcommand goes through ``command(NAME, fill, func)`` below, its arguments in ``fill``."""
    p = argparse.ArgumentParser(prog="eie", description="eie-sim: Deep Compression for FC layers and a "
                                "cycle-accurate model of the EIE accelerator. " + RELU_NOTE)
    p.add_argument("--version", action=_Version)
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    _threads_flag(p, top=True)
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, fill: Callable[[argparse.ArgumentParser], None],
                func: Callable[[argparse.Namespace], int], **kw: str) -> argparse.ArgumentParser:
        c = sub.add_parser(name, **kw)
        c.set_defaults(func=func)
        _threads_flag(c, top=False)
        if commands is None or name in commands:
            fill(c)
        return c

    command("demo", _demo_args, cmd_demo,
            help="compress and simulate AlexNet fc7, sweep PEs, plot energy")
    command("compress", _compress_args, cmd_compress,
            help="prune, quantize, Huffman-code and encode layers for EIE",
            description="Compress a trained network for EIE. " + RELU_NOTE)
    command("inspect", _inspect_args, cmd_inspect,
            help="print a .eie file's header, size table and file size")
    command("simulate", _simulate_args, cmd_simulate,
            help="run inferences on the EIE model: one input or a batch",
            description="Simulate a model (.eie), a workload graph (.toml: GEMV jobs fed by the host or "
                        "by each other, e.g. an LSTM step; docs/ARCHITECTURE.md, 'Workload graphs'), a "
                        "benchmark layer or a weight file, as eie sweep takes them.")
    command("sweep", _sweep_args, cmd_sweep,
            help="simulate a cartesian product of layers and configurations")
    command("plot", _plot_args, cmd_plot, help="plot a sweep's results (PNG and SVG)")
    command("table", _table_args, cmd_table,
            help="cycles and energy of each sweep point relative to a baseline point (CSV + Markdown)")
    command("example", _example_args, cmd_example,
            help="end-to-end examples: lenet (LeNet-300-100 through everything), "
                 "mlp (train a small MLP and export it for the README's study), lstm (an LSTM "
                 "layer a time step at a time: two GEMV jobs, the gates on the host), minilm (a "
                 "real transformer's 36 Linear layers on EIE), llama (LLaMA-7B-shaped decode, "
                 "DRAM-bound)")
    command("reproduce", _reproduce_args, cmd_reproduce,
            help="recompute the EIE paper's evaluation: report.md + plots")
    return p


class _PipeSafe(io.TextIOBase):
    """Standard output that drops what it cannot deliver once its reader has gone
    (``eie inspect m.eie | head``): the command still finishes and writes its files."""

    def __init__(self, stream: io.TextIOBase) -> None:
        self.stream = stream
        self.broken = False

    def _gone(self) -> None:
        self.broken = True
        try:  # later writes, and the interpreter's final flush, go nowhere
            os.dup2(os.open(os.devnull, os.O_WRONLY), self.stream.fileno())
        except (OSError, ValueError, io.UnsupportedOperation):
            pass

    def write(self, text: str) -> int:
        if not self.broken:
            try:
                self.stream.write(text)
            except BrokenPipeError:
                self._gone()
        return len(text)

    def flush(self) -> None:
        if not self.broken:
            try:
                self.stream.flush()
            except BrokenPipeError:
                self._gone()

    def fileno(self) -> int:
        return self.stream.fileno()

    def isatty(self) -> bool:
        return self.stream.isatty()


@contextmanager
def _pipe_safe_stdout() -> Iterator[None]:
    original = sys.stdout
    sys.stdout = _PipeSafe(original)
    try:
        yield
    finally:
        sys.stdout.flush()
        sys.stdout = original


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # Only the named command's arguments are built (a word that merely looks like a command,
    # an --out demo, builds one more: harmless).
    parser = build_parser(commands=set(argv))
    args = parser.parse_args(argv)
    with _pipe_safe_stdout(), warnings.catch_warnings():
        try:
            from eie_sim.study.threads import blas_threads, requested_threads

            # suspicious input is reported as "note:" lines; Python's own warning print would repeat it
            warnings.simplefilter("ignore", EieWarning)
            with blas_threads(requested_threads(args.threads)):
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
