"""Fuzz target: hostile ONNX models for :mod:`compressor.onnx_import`.

Run: ``python benchmarks/fuzz_onnx.py --cases 2000 [--seed 0]``. Every case is a
seeded random mutation of a small valid model: bytes (truncation, bit flips,
spliced or appended junk) or structure (op types, wiring, attributes, tensor
dims / dtypes / data, external data, graph inputs and outputs), re-serialised.
The oracle is that of ``benchmarks/fuzz.py``: the reader either returns a chain
that is valid -- float32 finite weights chaining in shape, ReLU flags that fit
the model, and, where ``onnx.reference`` can run the model, the same outputs --
or raises an :class:`~compressor.errors.EieError` whose message names the file.
Anything else (another exception, a hang, an allocation out of proportion to
the input) is a failure, recorded under ``benchmarks/out/fuzz_failures/``.

For ``benchmarks/fuzz.py``: :func:`seed_onnx`, :func:`random_onnx_case` and
:func:`check_onnx` follow its targets' shape (``check_onnx(data, path)`` as
``check_npy``); run :func:`check_onnx` on :func:`seed_onnx` once before a
campaign so that importing onnx is not charged to the first case.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from functools import lru_cache
from pathlib import Path

import numpy as np

try:  # imported as benchmarks.fuzz_onnx (tests, the repository root on sys.path) ...
    from benchmarks.fuzz import Failure, _check_message, _record, flip_bits, guarded
except ImportError:  # ... or beside fuzz.py when a script in benchmarks/ runs
    from fuzz import Failure, _check_message, _record, flip_bits, guarded  # type: ignore[no-redef]

from compressor.errors import EieError
from compressor.onnx_import import OnnxChain, read_onnx

# ----------------------------------------------------------------------------- valid seeds


def _seed_protos() -> dict[str, object]:
    """Small valid models covering the accepted constructs (tensors kept small so that random
    byte mutations often land on structure rather than weight data)."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(11)

    def f32(*shape: int) -> np.ndarray:
        return rng.normal(0, 0.5, shape).astype(np.float32)

    def model(nodes: list, inits: list, x_dims: list, y_dims: list, opset: int = 17,
              elem: int = TensorProto.FLOAT) -> object:
        graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", elem, x_dims)],
                                  [helper.make_tensor_value_info("y", elem, y_dims)], initializer=inits)
        return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])

    n = helper.make_node
    w1, b1, w2, c2, w3 = f32(6, 12), f32(6), f32(6, 5), f32(5), f32(3, 5)
    chain = model(
        [n("Flatten", ["x"], ["f"], name="flatten"),
         n("Gemm", ["f", "fc1.weight", "fc1.bias"], ["h1"], name="fc1", transB=1),
         n("Relu", ["h1"], ["r1"], name="relu1"),
         n("Dropout", ["r1"], ["d1"], name="drop"),
         n("Gemm", ["d1", "fc2.w", "fc2.c"], ["h2"], name="fc2", alpha=0.5, beta=2.0),
         n("Relu", ["h2"], ["r2"], name="relu2"),
         n("Gemm", ["r2", "fc3.weight"], ["h3"], name="fc3", transB=1),
         n("Softmax", ["h3"], ["y"], name="softmax")],
        [numpy_helper.from_array(w1, "fc1.weight"), numpy_helper.from_array(b1, "fc1.bias"),
         numpy_helper.from_array(w2, "fc2.w"),
         helper.make_tensor("fc2.c", TensorProto.FLOAT, [5], c2.tolist()),  # typed float_data
         numpy_helper.from_array(w3, "fc3.weight")],
        [1, 1, 3, 4], [1, 3])
    m1, a1, m2, a2 = f32(8, 4), f32(4), f32(4, 2), f32(1, 2)
    matmul = model(
        [n("Constant", [], ["bias1"], name="const_b1", value=numpy_helper.from_array(a1, "a1")),
         n("MatMul", ["x", "m1"], ["p1"], name="mm1"),
         n("Add", ["p1", "bias1"], ["q1"], name="add1"),
         n("Relu", ["q1"], ["r1"], name="relu1"),
         n("Identity", ["r1"], ["i1"], name="ident"),
         n("MatMul", ["i1", "m2"], ["p2"], name="mm2"),
         n("Add", ["bias2", "p2"], ["y"], name="add2")],
        [numpy_helper.from_array(m1, "m1"), numpy_helper.from_array(m2, "m2"),
         numpy_helper.from_array(a2, "bias2")],
        [1, 8], [1, 2], opset=13)
    single = model(
        [n("Gemm", ["x", "w", "c"], ["y"], name="", transA=1, beta=-1.0)],
        [numpy_helper.from_array(rng.normal(0, 1, (3, 4)), "w"),  # float64 weights, inputs x outputs
         numpy_helper.from_array(np.array([0.25]), "c")],
        [3, 1], [1, 4], elem=TensorProto.DOUBLE)
    return {"gemm-chain": chain, "matmul-add": matmul, "single-transA": single}


@lru_cache(maxsize=1)
def _seed_bytes() -> tuple[tuple[str, bytes], ...]:
    return tuple((name, m.SerializeToString()) for name, m in _seed_protos().items())  # type: ignore[attr-defined]


def seed_onnxes() -> dict[str, bytes]:
    """The seed models, serialised."""
    return dict(_seed_bytes())


def seed_onnx() -> bytes:
    """The main seed: Flatten, three Gemm layers (transB, alpha/beta, typed data), Dropout, Softmax."""
    return seed_onnxes()["gemm-chain"]


# ----------------------------------------------------------------------------- mutations

OPS = ["Gemm", "MatMul", "Add", "Relu", "Softmax", "LogSoftmax", "Flatten", "Reshape", "Identity",
       "Dropout", "Conv", "Sigmoid", "Constant", "Transpose", "If", "", "Relu\x00", "gemm"]
FLOATS = [0.0, -1.0, 1.0, 2.0, 1e-45, 1e30, 3.5e38, float("nan"), float("inf"), -float("inf")]
INTS = [0, 1, 2, -1, -2, 3, 1 << 31, -(1 << 63)]
DIMS = [0, 1, 2, 3, 4, 5, 6, 12, -1, 1 << 20, 1 << 31, (1 << 63) - 1]
DTYPES = list(range(0, 26))
ONNX_KINDS = ("truncate", "bitflip", "junk", "splice", "op", "wire", "node", "attr", "tensor",
              "values", "graph", "several")


def _mutate_structure(m: object, kind: str, rng: np.random.Generator) -> None:
    """Change one thing in the model proto ``m`` in place (``kind`` picks what)."""
    from onnx import AttributeProto, TensorProto, helper

    g = m.graph  # type: ignore[attr-defined]
    nodes, inits = g.node, g.initializer
    names = sorted({s for nd in nodes for s in [*nd.input, *nd.output]} | {t.name for t in inits}
                   | {"x", "y"})

    def pick(seq: object) -> object:
        return seq[int(rng.integers(0, len(seq)))]  # type: ignore[index]

    if kind == "op" and len(nodes):
        pick(nodes).op_type = str(pick(OPS))
        return
    if kind == "wire" and len(nodes):
        nd = pick(nodes)
        field = nd.input if (rng.random() < 0.6 or not len(nd.output)) else nd.output
        choice = str(pick([*names, "", "nowhere"]))
        if len(field) and rng.random() < 0.7:
            field[int(rng.integers(0, len(field)))] = choice
        else:
            field.append(choice)
        return
    if kind == "node":
        op = int(rng.integers(0, 4))
        if op == 0 and len(nodes):
            del nodes[int(rng.integers(0, len(nodes)))]
        elif op == 1 and len(nodes):
            nodes.add().CopyFrom(pick(nodes))  # a duplicate: a branch, or a tensor defined twice
        elif op == 2 and len(nodes) > 1:
            i, j = (int(v) for v in rng.choice(len(nodes), 2, replace=False))
            a, b = type(nodes[i])(), type(nodes[j])()
            a.CopyFrom(nodes[i])
            b.CopyFrom(nodes[j])
            nodes[i].CopyFrom(b)
            nodes[j].CopyFrom(a)
        else:
            src = str(pick(names))
            nodes.add().CopyFrom(helper.make_node(str(pick(OPS)), [src], [f"{src}_extra"], name="extra"))
        return
    if kind == "attr" and len(nodes):
        nd = pick(nodes)
        op = int(rng.integers(0, 5))
        name = str(pick(["alpha", "beta", "transA", "transB", "axis", "broadcast", "ratio", "foo",
                         "value", "training_mode"]))
        if op == 0 and len(nd.attribute):
            del nd.attribute[int(rng.integers(0, len(nd.attribute)))]
            return
        if op == 1 and len(nd.attribute):
            a = pick(nd.attribute)
            a.type = int(pick([0, 1, 2, 3, 4, 6, 7]))  # proto2 enums refuse unknown values
            return
        if op == 2 and len(nd.attribute):
            pick(nd.attribute).ref_attr_name = "outer"
            return
        attr = nd.attribute.add()
        attr.name = name
        if rng.random() < 0.5:
            attr.type, attr.f = AttributeProto.FLOAT, float(pick(FLOATS))
        else:
            attr.type, attr.i = AttributeProto.INT, int(pick(INTS))
        return
    if kind == "tensor" and len(inits):
        t = pick(inits)
        op = int(rng.integers(0, 9))
        if op == 8:  # re-encoded consistently in another dtype: only the type checks can refuse it
            from onnx import numpy_helper

            dtype = str(pick(["float16", "float64", "int64", "int32", "bool", "uint8", "float32"]))
            try:
                with np.errstate(all="ignore"):
                    t.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(t).astype(dtype), t.name))
            except Exception:  # an earlier mutation left the tensor undecodable: keep it as it is
                pass
            return
        if op == 0:
            if len(t.dims) and rng.random() < 0.7:
                t.dims[int(rng.integers(0, len(t.dims)))] = int(pick(DIMS))
            else:
                t.dims.append(int(pick(DIMS)))
        elif op == 1:
            t.data_type = int(pick(DTYPES))
        elif op == 2 and t.raw_data:
            cut = int(rng.integers(0, len(t.raw_data)))
            t.raw_data = t.raw_data[:cut] if rng.random() < 0.5 else t.raw_data + bytes(cut % 9 + 1)
        elif op == 3:
            t.data_location = TensorProto.EXTERNAL
            entry = t.external_data.add()
            entry.key, entry.value = "location", str(pick(["w.bin", "../../etc/passwd", "/dev/zero"]))
        elif op == 4:
            t.float_data.extend([float(v) for v in rng.normal(size=int(rng.integers(1, 5)))])
        elif op == 5:
            t.segment.begin, t.segment.end = 0, int(rng.integers(0, 5))
        elif op == 6:
            t.ClearField("dims")
        else:
            t.name = str(pick(names))  # a duplicate or dangling name
        return
    if kind == "values" and len(inits):
        t = pick(inits)
        dt = np.dtype("<f4") if t.data_type == TensorProto.FLOAT else np.dtype("<f8")
        if (t.raw_data and t.data_type in (TensorProto.FLOAT, TensorProto.DOUBLE)
                and len(t.raw_data) % dt.itemsize == 0):
            arr = np.frombuffer(t.raw_data, dt).copy()
            if arr.size:
                with np.errstate(over="ignore"):  # 1e300 into float32 is inf: a value to refuse too
                    arr[int(rng.integers(0, arr.size))] = float(pick([*FLOATS, 1e300, -1e300]))
            t.raw_data = arr.tobytes()
        elif len(t.float_data):
            t.float_data[int(rng.integers(0, len(t.float_data)))] = float(pick(FLOATS))
        return
    if kind == "graph":
        op = int(rng.integers(0, 7))
        if op == 0:
            g.input.add().CopyFrom(helper.make_tensor_value_info(str(pick(names)), TensorProto.FLOAT, [1]))
        elif op == 1:
            g.output.add().CopyFrom(helper.make_tensor_value_info(str(pick(names)), TensorProto.FLOAT, [1]))
        elif op == 2 and len(g.output):
            del g.output[0]
        elif op == 3 and len(g.input):
            dims = g.input[0].type.tensor_type.shape.dim
            if len(dims):
                dims[int(rng.integers(0, len(dims)))].dim_value = int(pick(DIMS[:-1]))
            else:
                dims.add().dim_param = "N"
        elif op == 4:
            m.opset_import[0].version = int(pick([1, 5, 6, 7, 11, 12, 13, 21, 1000]))  # type: ignore[attr-defined]
        elif op == 5 and len(inits):
            sp = g.sparse_initializer.add()
            sp.values.CopyFrom(pick(inits))
        elif len(g.input):
            g.input[0].name = str(pick(names))
        return


def random_onnx_case(rng: np.random.Generator) -> tuple[str, bytes]:
    """One random hostile model: (mutation kind, bytes)."""
    import onnx

    seeds = seed_onnxes()
    name = str(rng.choice(sorted(seeds)))
    data = seeds[name]
    kind = str(rng.choice(ONNX_KINDS))
    if kind == "truncate":
        return kind, data[: int(rng.integers(0, len(data)))]
    if kind == "bitflip":
        return kind, flip_bits(data, [int(p) for p in rng.integers(0, 8 * len(data), rng.integers(1, 9))])
    if kind == "junk":
        return kind, data + rng.integers(0, 256, int(rng.integers(1, 65)), dtype=np.uint8).tobytes()
    if kind == "splice":
        at = int(rng.integers(0, len(data)))
        junk = rng.integers(0, 256, int(rng.integers(1, 17)), dtype=np.uint8).tobytes()
        return kind, data[:at] + junk + data[at + len(junk):]
    model = onnx.ModelProto()
    model.ParseFromString(data)
    kinds = [kind] if kind != "several" else [str(rng.choice(ONNX_KINDS[4:-1])) for _ in range(3)]
    for k in kinds:
        _mutate_structure(model, k, rng)
    return kind, model.SerializeToString()


# ----------------------------------------------------------------------------- oracle


def _forward(chain: OnnxChain, x: np.ndarray) -> np.ndarray:
    """The chain on one input vector, in float64, as eie-sim's model computes it (plus the tail)."""
    h = x.reshape(-1).astype(np.float64)
    for (_, w, b), relu in zip(chain.layers, chain.relu, strict=True):
        h = w.astype(np.float64) @ h + (0.0 if b is None else b)
        if relu:
            h = np.maximum(h, 0.0)
    if chain.tail:
        z = h - h.max()
        h = z - np.log(np.exp(z).sum()) if chain.tail == "LogSoftmax" else np.exp(z) / np.exp(z).sum()
    return h


VERIFIED = [0]  # accepted cases whose outputs onnx.reference confirmed (reported by main)


def _reference_matches(data: bytes, chain: OnnxChain) -> None:
    """Where onnx.reference can run the model on one input, its output must equal the chain's."""
    import onnx
    from onnx.reference import ReferenceEvaluator

    model = onnx.ModelProto()
    model.ParseFromString(data)
    inp = [v for v in model.graph.input if v.name == chain.input_name][0]
    tt = inp.type.tensor_type
    dtype = {1: np.float32, 11: np.float64}.get(tt.elem_type)
    n = chain.layers[0][1].shape[1]
    dims = [d.dim_value if d.HasField("dim_value") else 0 for d in tt.shape.dim]
    if dtype is None or not dims or any(d <= 0 for d in dims) or int(np.prod(dims)) != n:
        return  # undeclared or batched shapes: nothing fixed to feed it
    x = np.random.default_rng(5).normal(size=dims).astype(dtype)
    try:
        with np.errstate(all="ignore"):  # mutated weights overflow inside the reference too
            ref = ReferenceEvaluator(model).run(None, {chain.input_name: x})[0]
    except Exception:  # the reference refuses models ONNX itself considers invalid; no verdict
        return
    VERIFIED[0] += 1
    ref = np.asarray(ref, np.float64).reshape(-1)
    with np.errstate(all="ignore"):
        ours = _forward(chain, x)
    if not np.isfinite(ref).all() or ref.shape != ours.shape:
        if ref.shape != ours.shape and np.isfinite(ref).all():
            raise Failure(f"the chain gives {ours.shape[0]} outputs, onnx.reference {ref.shape[0]}")
        return
    if not np.allclose(ours, ref, rtol=1e-3, atol=1e-4 * max(1.0, float(np.abs(ref).max()))):
        raise Failure(f"the chain's outputs differ from onnx.reference's: {ours[:4]} vs {ref[:4]}")


def check_onnx(data: bytes, path: Path) -> str:
    """``"ok"`` (a valid chain computing what the model computes) or ``"error"`` (an EieError naming
    the file); raises :class:`Failure` otherwise."""
    path = Path(path)
    path.write_bytes(data)
    try:
        chain = read_onnx(path)
    except EieError as e:
        _check_message(e, str(path))
        return "error"
    if not chain.layers or len(chain.relu) != len(chain.layers) or not all(chain.relu[:-1]):
        raise Failure(f"{len(chain.layers)} layers with ReLU flags {chain.relu}")
    prev = None
    for name, w, b in chain.layers:
        if w.dtype != np.float32 or w.ndim != 2 or w.size == 0 or not np.isfinite(w).all():
            raise Failure(f"layer {name!r}: weights {w.dtype} {w.shape} (not finite 2-D float32)")
        if b is not None and (b.dtype != np.float32 or b.shape != (w.shape[0],) or not np.isfinite(b).all()):
            raise Failure(f"layer {name!r}: bias {b.dtype} {b.shape} for {w.shape[0]} outputs")
        if prev is not None and w.shape[1] != prev:
            raise Failure(f"layer {name!r} takes {w.shape[1]} inputs after {prev} outputs")
        prev = w.shape[0]
    if not all(isinstance(name, str) and name for name, _, _ in chain.layers):
        raise Failure(f"layer names {[name for name, _, _ in chain.layers]!r} are not all non-empty text")
    if len({name for name, _, _ in chain.layers}) != len(chain.layers):
        raise Failure("two layers have the same name")
    _reference_matches(data, chain)
    return "ok"


# ----------------------------------------------------------------------------- a campaign


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    counts: dict[str, list[int]] = {k: [0, 0, 0] for k in ONNX_KINDS}  # ok, error, failure
    peak_max = failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fuzz.onnx"
        for data in seed_onnxes().values():  # warm-up (imports), and the seeds must load
            if check_onnx(data, path) != "ok":
                raise SystemExit("a seed model does not load")
        t0 = time.perf_counter()
        for i in range(args.cases):
            kind, data = random_onnx_case(rng)
            try:
                verdict, peak = guarded(check_onnx, data, path, size=len(data))
            except Failure as e:
                failures += 1
                counts[kind][2] += 1
                _record("onnx", i, kind, data, e)
                if failures <= 5:
                    print(f"FAILURE case {i} ({kind}): {e}", file=sys.stderr)
                continue
            peak_max = max(peak_max, peak)
            counts[kind][0 if verdict == "ok" else 1] += 1
        seconds = time.perf_counter() - t0
    print(f"{'kind':<10} {'ok':>5} {'error':>6} {'failures':>8}")
    for kind, (ok, err, fail) in counts.items():
        print(f"{kind:<10} {ok:>5} {err:>6} {fail:>8}")
    ok = sum(c[0] for c in counts.values())
    print(f"{args.cases} cases in {seconds:.1f} s ({args.cases / seconds:.0f}/s), {failures} failures, "
          f"{ok} loaded ({VERIFIED[0] - len(seed_onnxes())} of them confirmed by onnx.reference), "
          f"max traced allocation peak {peak_max:,} bytes")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
