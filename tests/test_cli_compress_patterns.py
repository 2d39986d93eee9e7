"""``eie compress --layer PATTERN``: Hugging Face module names selected by glob, written as one
model when they chain and otherwise one ``.eie`` per layer plus a workload graph that
``eie simulate`` runs."""

from __future__ import annotations

import json
import tomllib

import numpy as np
import pytest

from compressor import eiefile
from compressor.errors import EieInputError
from compressor.outputs import check_output_dir, file_stems
from compressor.sizes import layer_size
from eie_sim.workload.graph import Graph, graph_toml, load_graph
from tests.conftest import run

st = pytest.importorskip("safetensors.numpy")
H, F = 8, 12  # hidden and FFN sizes: FFN layers are F x H, so two of them do not chain
PES = ("--pes", "4")


@pytest.fixture
def bert(tmp_path):
    """A two-block BERT encoder's Linear layers (with biases), a LayerNorm and a 3-D tensor."""
    rng = np.random.default_rng(3)
    s = {}
    for i in range(2):
        pre = f"encoder.layer.{i}"
        for mod, (m, n) in {"attention.self.query": (H, H), "attention.self.key": (H, H),
                            "intermediate.dense": (F, H), "output.dense": (H, F)}.items():
            s[f"{pre}.{mod}.weight"] = rng.normal(size=(m, n)).astype(np.float32)
            s[f"{pre}.{mod}.bias"] = rng.normal(size=m).astype(np.float32)
        s[f"{pre}.output.LayerNorm.weight"] = np.ones(H, np.float32)
    s["encoder.experts.weight"] = rng.normal(size=(2, F, H)).astype(np.float32)
    path = tmp_path / "bert.safetensors"
    st.save_file(s, str(path))
    return path, s


@pytest.fixture
def llama(tmp_path):
    """A LLaMA decoder's projections: no biases, grouped-query k/v narrower than q."""
    rng = np.random.default_rng(4)
    s = {"model.norm.weight": np.ones(H, np.float32)}
    for i in range(2):
        for mod, (m, n) in {"self_attn.q_proj": (H, H), "self_attn.k_proj": (4, H),
                            "self_attn.v_proj": (4, H), "mlp.up_proj": (F, H)}.items():
            s[f"model.layers.{i}.{mod}.weight"] = rng.normal(size=(m, n)).astype(np.float32)
    path = tmp_path / "llama.safetensors"
    st.save_file(s, str(path))
    return path, s


def test_a_pattern_of_layers_that_do_not_chain_writes_a_directory_that_simulate_runs(capsys, bert, tmp_path):
    path, s = bert
    out = tmp_path / "ffn"
    rc, stdout, err = run(capsys, "compress", str(path), "--layer", "encoder.layer.*.intermediate.dense",
                          "--bits", "8", *PES, "-o", str(out))
    assert rc == 0, err
    names = ["encoder.layer.0.intermediate.dense", "encoder.layer.1.intermediate.dense"]
    assert sorted(p.name for p in out.iterdir()) == sorted([f"{n}.eie" for n in names] + ["graph.toml"])
    for name in names:  # the size table has a row per layer; each file holds its own module's weights
        assert name in stdout
        model = eiefile.load(out / f"{name}.eie")
        (layer,) = model.layers
        assert (layer.name, layer.m, layer.n, layer.has_bias, layer.n_pes) == (name, F, H, True, 4)
        w, b = layer.weights_and_bias()
        other = names[1 - names.index(name)]
        err_own = np.abs(w - s[f"{name}.weight"]).max()
        assert err_own < 0.05 * np.abs(s[f"{name}.weight"]).max()  # 8-bit codes, nothing pruned
        assert err_own < np.abs(w - s[f"{other}.weight"]).max()
        assert np.abs(b - s[f"{name}.bias"]).max() < 0.05 * np.abs(s[f"{name}.weight"]).max()
    assert f"eie simulate {out / 'graph.toml'} --pes 4" in stdout  # the command that runs it as encoded

    graph = load_graph(out / "graph.toml")
    assert graph.job_names == tuple(names)
    assert graph.host_inputs == {f"{n}.in": H for n in names}  # each job fed by its own host input
    assert not any(j.relu or j.keep for j in graph.jobs) and graph.outputs == tuple(names)

    # random inputs, one per host input, when none are given
    rc, stdout, err = run(capsys, "simulate", str(out / "graph.toml"), *PES)
    assert rc == 0, err
    assert "2 layer(s), 4 PEs" in stdout and all(f"layer {n}" in stdout for n in names)
    assert "re-encoded" not in err

    # the user's own inputs by host-input name: each job computes its own layer on its own input
    xs = {n: np.random.default_rng(i).uniform(0, 1, H) for i, n in enumerate(names)}
    acts = []
    for n, x in xs.items():
        np.save(tmp_path / f"{n}.npy", x)
        acts += ["--activations", f"{n}.in={tmp_path / f'{n}.npy'}"]
    rc, _, err = run(capsys, "simulate", str(out / "graph.toml"), *PES, *acts,
                     "--json", str(tmp_path / "r.json"))
    assert rc == 0, err
    result = json.loads((tmp_path / "r.json").read_text())
    fa = result["fa"]
    for n in names:
        w, b = eiefile.load(out / f"{n}.eie").layers[0].weights_and_bias()
        want = w @ xs[n] + b
        got = np.array(result["outputs_fix"][n]) / 2.0 ** fa
        assert got.shape == (F,)
        np.testing.assert_allclose(got, want, atol=0.02 * np.abs(want).max())


def test_llama_projections_without_bias(capsys, llama, tmp_path):
    path, _ = llama
    out = tmp_path / "attn"
    rc, stdout, err = run(capsys, "compress", str(path), "--layer", "model.layers.0.self_attn.*_proj",
                          "--density", "0.5", *PES, "-o", str(out))
    assert rc == 0, err
    graph = load_graph(out / "graph.toml")
    # natural order k, q, v; k (4 x 8) does not feed q (8 inputs): independent jobs
    assert graph.job_names == tuple(f"model.layers.0.self_attn.{p}_proj" for p in "kqv")
    assert [(j.layer.m, j.layer.n, j.layer.has_bias) for j in graph.jobs] == [(4, H, False), (H, H, False),
                                                                             (4, H, False)]
    for j in graph.jobs:  # --density applies to every layer
        assert layer_size(j.layer).kept == round(0.5 * j.layer.m * j.layer.n)
    rc, stdout, err = run(capsys, "simulate", str(out / "graph.toml"), *PES)
    assert rc == 0, err
    assert "3 layer(s)" in stdout


def test_a_per_layer_density_list_follows_the_natural_order(capsys, llama, tmp_path):
    path, _ = llama
    out = tmp_path / "up"
    rc, _, err = run(capsys, "compress", str(path), "--layer", "model.layers.*.mlp.up_proj",
                     "--density", "0.25,0.75", *PES, "-o", str(out))
    assert rc == 0, err
    kept = [layer_size(eiefile.load(out / f"model.layers.{i}.mlp.up_proj.eie").layers[0]).kept
            for i in range(2)]
    assert kept == [round(0.25 * F * H), round(0.75 * F * H)]


def test_a_pattern_of_layers_that_chain_writes_one_model(capsys, bert, tmp_path):
    path, _ = bert
    out = tmp_path / "ffn.eie"
    rc, _, err = run(capsys, "compress", str(path), "--layer", "encoder.layer.0.*.dense", *PES,
                     "-o", str(out))
    assert rc == 0, err
    model = eiefile.load(out)  # intermediate (12 x 8) then output (8 x 12): a chain
    assert [(lay.name, lay.m, lay.n) for lay in model.layers] == [
        ("encoder.layer.0.intermediate.dense", F, H), ("encoder.layer.0.output.dense", H, F)]
    assert "form a chain" in err and "--independent" in err

    # --independent keeps them apart even so
    rc, _, err = run(capsys, "compress", str(path), "--layer", "encoder.layer.0.*.dense", "--independent",
                     *PES, "-o", str(tmp_path / "apart"))
    assert rc == 0, err
    assert load_graph(tmp_path / "apart" / "graph.toml").job_names == (
        "encoder.layer.0.intermediate.dense", "encoder.layer.0.output.dense")

    # one square layer matched: a chain of one, a model file as before
    rc, _, err = run(capsys, "compress", str(path), "--layer", "encoder.layer.1.attention.self.qu?ry",
                     *PES, "-o", str(tmp_path / "q.eie"))
    assert rc == 0, err
    (layer,) = eiefile.load(tmp_path / "q.eie").layers
    assert layer.name == "encoder.layer.1.attention.self.query"


def test_simulate_takes_a_pattern_too(capsys, bert):
    path, _ = bert
    rc, stdout, err = run(capsys, "simulate", str(path), "--layer", "encoder.layer.*.intermediate.dense",
                          *PES)
    assert rc == 0, err
    assert "2 layer(s)" in stdout and "layer encoder.layer.1.intermediate.dense" in stdout


def test_a_pattern_matching_nothing_names_the_file_and_pattern(capsys, bert, tmp_path):
    path, _ = bert
    rc, _, err = run(capsys, "compress", str(path), "--layer", "decoder.*.dense", "-o", str(tmp_path / "d"))
    assert rc == 2
    assert str(path) in err and "'decoder.*.dense'" in err and "closest name" in err
    assert not (tmp_path / "d").exists()


def test_a_3d_tensor_matched_is_refused(capsys, bert, tmp_path):
    path, _ = bert
    rc, _, err = run(capsys, "compress", str(path), "--layer", "encoder.exp*", "-o", str(tmp_path / "e"))
    assert rc == 2
    assert "encoder.experts.weight" in err and "3-D tensor of shape (2, 12, 8)" in err


def test_outputs_that_cannot_be_a_directory_are_refused(capsys, bert, tmp_path):
    path, _ = bert
    args = ("compress", str(path), "--layer", "encoder.layer.*.intermediate.dense", *PES, "-o")
    taken = tmp_path / "taken"
    taken.write_text("x")
    rc, _, err = run(capsys, *args, str(taken))
    assert rc == 2
    assert f"{taken}: exists and is not a directory" in err and "do not chain" in err
    assert taken.read_text() == "x"
    rc, _, err = run(capsys, *args, str(tmp_path / "ffn.eie"))
    assert rc == 2 and "give -o a directory name (not ending in .eie)" in err

    # an existing layer file inside is kept without --force, and replaced with it
    out = tmp_path / "ffn"
    assert run(capsys, *args, str(out))[0] == 0
    before = (out / "graph.toml").stat().st_mtime_ns
    rc, _, err = run(capsys, *args, str(out))
    assert rc == 2 and "already exists; pass --force" in err
    assert (out / "graph.toml").stat().st_mtime_ns == before
    rc, _, err = run(capsys, *args, str(out), "--force", "--density", "0.5")
    assert rc == 0, err
    layer = eiefile.load(out / "encoder.layer.0.intermediate.dense.eie").layers[0]
    assert layer_size(layer).kept == F * H // 2  # the bias is never pruned, nor counted here


def test_what_needs_a_chain_is_refused_for_independent_layers(capsys, bert, tmp_path):
    path, _ = bert
    x = tmp_path / "x.npy"
    np.save(x, np.ones((3, H)))
    args = ("compress", str(path), "--layer", "encoder.layer.*.intermediate.dense", "-o", str(tmp_path / "o"))
    rc, _, err = run(capsys, *args, "--eval", str(x))
    assert rc == 2 and "--eval: scores a model" in err and "do not chain" in err
    rc, _, err = run(capsys, *args, "--bias", "b")
    assert rc == 2 and "--bias 'b'" in err and "paired with X.bias" in err
    rc, _, err = run(capsys, "compress", str(path), "--layer", "encoder.layer.0.*.dense", "--independent",
                     "--calibration", str(x), "-o", str(tmp_path / "o2"))
    assert rc == 2
    assert "--calibration" in err and "encoder.layer.0.output.dense (12)" in err
    assert not (tmp_path / "o").exists() and not (tmp_path / "o2").exists()


def test_calibration_sets_a_graph_format_that_fits_every_layer(capsys, bert, tmp_path):
    path, _ = bert
    x = tmp_path / "x.npy"
    np.save(x, np.random.default_rng(0).normal(0, 3, (4, H)))
    out = tmp_path / "cal"
    rc, _, err = run(capsys, "compress", str(path), "--layer", "encoder.layer.*.attention.self.*",
                     "--independent", "--calibration", str(x), "--after-relu", *PES, "-o", str(out))
    assert rc == 0, err
    graph = load_graph(out / "graph.toml")
    assert len(graph.jobs) == 4 and graph.input_after_relu == set(graph.host_inputs)
    files = [eiefile.load(out / f"{j.name}.eie") for j in graph.jobs]
    # each file is calibrated on its own layer; the graph's one format must hold them all
    assert graph.fa == min(m.fa for m in files)
    assert all(m.input_after_relu for m in files)


def test_file_stems_are_safe_and_unique():
    stems = file_stems(["encoder.layer.0.dense", "a/b:c", ".hidden", "X", "x", "é", "n" * 300])
    assert stems["encoder.layer.0.dense"] == "encoder.layer.0.dense"  # dots kept
    assert stems["a/b:c"] == "a_b_c" and stems[".hidden"] == "_hidden" and stems["é"] == "_"
    assert stems["X"] == "X" and stems["x"] == "x-2"  # distinct on a case-insensitive file system
    assert len(stems["n" * 300]) <= 200 and stems["n" * 300] != file_stems(["n" * 301])["n" * 301]


def test_check_output_dir(tmp_path):
    (tmp_path / "f").write_text("")
    with pytest.raises(EieInputError, match="exists and is not a directory; because"):
        check_output_dir(tmp_path / "f", ["a.eie"], False, why="because")
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "a.eie").write_text("")
    with pytest.raises(EieInputError, match="a.eie: already exists"):
        check_output_dir(tmp_path / "d", ["a.eie"], False)
    assert check_output_dir(tmp_path / "d", ["a.eie"], True) == tmp_path / "d"
    assert check_output_dir(tmp_path / "new", ["a.eie"], False) == tmp_path / "new"
    assert not (tmp_path / "new").exists()


def test_graph_toml_round_trips_awkward_names(tmp_path):
    from compressor.pipeline import compress_layer

    names = ['we"ird\\name', "ünï.cödé", "tab\there"]
    layers = [compress_layer(np.eye(3) * (i + 1), name=n) for i, n in enumerate(names)]
    graph = Graph.independent(layers, [f"{n}.in" for n in names], fa=7, input_after_relu=True)
    files = {n: f"f{i}.eie" for i, n in enumerate(names)}
    for lay, f in zip(layers, files.values(), strict=True):
        eiefile.save(lay, tmp_path / f)
    text = graph_toml(graph, files, comment="two\nlines")
    assert tomllib.loads(text)["fa"] == 7
    (tmp_path / "g.toml").write_text(text, encoding="utf-8")
    back = load_graph(tmp_path / "g.toml")
    assert back.job_names == tuple(names) and back.fa == 7
    assert back.host_inputs == {f"{n}.in": 3 for n in names}
    assert back.input_after_relu == set(back.host_inputs)
    assert [j.layer.name for j in back.jobs] == names
