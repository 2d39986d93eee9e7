"""First-hour polish (issue 13): pipes, paths, ranges, version, defaults, configuration printed
first, the demo's early refusal, the sweep cache and the summary's notes (the transposed-weights
hint is in test_cli_day.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from compressor.provenance import CONTRACT_VERSION
from eie_sim.study.cli import main
from tests.conftest import run

FAST = ("--engine", "fast")
EIE = [sys.executable, "-m", "eie_sim.study.cli"]


@pytest.fixture
def model(tmp_path: Path) -> Path:
    np.save(tmp_path / "w.npy", np.random.default_rng(0).normal(0, 0.2, (40, 24)))
    out = tmp_path / "m.eie"
    assert main(["compress", str(tmp_path / "w.npy"), "--density", "0.3", "--pes", "8", "-o", str(out)]) == 0
    return out


# ----------------------------------------------------------------------------- pipes


@pytest.mark.parametrize("command", ["inspect", "simulate"])
def test_head_ends_quietly_and_the_command_finishes(model: Path, tmp_path: Path, command: str) -> None:
    """``eie ... | head -1``: no BrokenPipe internal error, exit 0, and files are still written."""
    argv = [*EIE, "inspect", str(model)] if command == "inspect" else [
        *EIE, "simulate", str(model), "--pes", "8", *FAST, "--json", str(tmp_path / "r.json")]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    producer = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    head = subprocess.run(["head", "-1"], stdin=producer.stdout, capture_output=True, text=True)
    producer.stdout.close()
    err = producer.stderr.read().decode()
    assert producer.wait(timeout=120) == 0, err
    assert head.stdout.strip()
    assert "internal error" not in err and "Traceback" not in err and "BrokenPipe" not in err
    if command == "simulate":
        assert (tmp_path / "r.json").stat().st_size > 0


# ----------------------------------------------------------------------------- paths


def test_plot_out_onto_a_file_is_a_clear_error(model: Path, tmp_path: Path, capsys) -> None:
    csv = tmp_path / "s.csv"
    csv.write_text("layer,n_pes\nx,1\n")
    rc, _, err = run(capsys, "plot", str(csv), "--out", str(model))
    assert rc == 2 and "is a file; give a directory" in err


def test_directories_are_named_as_such(tmp_path: Path, capsys) -> None:
    (tmp_path / "adir").mkdir()
    rc, _, err = run(capsys, "compress", str(tmp_path / "adir"), "-o", str(tmp_path / "o.eie"))
    assert rc == 2 and "adir: is a directory; expected a weight file" in err
    np.save(tmp_path / "w.npy", np.ones((4, 6)))
    rc, _, err = run(capsys, "compress", str(tmp_path / "w.npy"), "-o", str(tmp_path / "adir"))
    assert rc == 2 and "adir: is a directory; give a file path" in err and "--force" not in err


# ----------------------------------------------------------------------------- ranges and values


def test_pes_has_one_range_everywhere(model: Path, tmp_path: Path, capsys) -> None:
    np.save(tmp_path / "w.npy", np.ones((4, 6)))
    _, _, compress_err = run(capsys, "compress", str(tmp_path / "w.npy"), "--pes", "5000", "-o",
                             str(tmp_path / "o.eie"))
    _, _, simulate_err = run(capsys, "simulate", str(model), "--pes", "5000", *FAST)
    assert "n_pes = 5000 must be an integer in 1..4096" in compress_err
    assert "n_pes = 5000 must be an integer in 1..4096" in simulate_err


def test_bad_sweep_values_are_refused_before_any_work(tmp_path: Path, capsys) -> None:
    out = tmp_path / "s.csv"
    rc, stdout, err = run(capsys, "sweep", "NT-We", "--pes", "4,8", "--fifo", "8,0", "-o", str(out))
    assert rc == 2 and "--fifo 0" in err and "queue_depth = 0" in err
    assert not out.exists() and "sweeping" not in stdout


def test_version(capsys) -> None:
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0
    assert f"contract v{CONTRACT_VERSION}" in capsys.readouterr().out


@pytest.mark.parametrize("command", ["simulate", "sweep"])
def test_engine_has_help_and_one_default(command: str, capsys) -> None:
    with pytest.raises(SystemExit):
        main([command, "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "fast: the closed-form engine (default); simpy: the event-driven machine" in out


# ----------------------------------------------------------------------------- printed first


def test_compress_prints_its_configuration_first(tmp_path: Path, capsys) -> None:
    np.save(tmp_path / "w.npy", np.random.default_rng(1).normal(size=(8, 6)))
    rc, out, _ = run(capsys, "compress", str(tmp_path / "w.npy"), "--density", "0.5", "--pes", "4",
                     "-o", str(tmp_path / "o.eie"))
    assert rc == 0
    lines = out.splitlines()
    assert lines[0] == "compression:"
    assert "density 0.5" in lines[1] and "encoding           4 PEs" in out


def test_demo_refuses_existing_plots_before_computing(tmp_path: Path, capsys) -> None:
    (tmp_path / "energy_vs_pes.png").write_bytes(b"old")
    rc, out, err = run(capsys, "demo", "--out", str(tmp_path))
    assert rc == 2 and "energy_vs_pes.png: already exists" in err
    assert out == ""  # nothing computed, nothing printed
    assert (tmp_path / "energy_vs_pes.png").read_bytes() == b"old"


def test_existing_output_message_names_the_flag(tmp_path: Path, capsys) -> None:
    np.save(tmp_path / "w.npy", np.ones((4, 6)))
    (tmp_path / "o.eie").write_bytes(b"x")
    rc, _, err = run(capsys, "compress", str(tmp_path / "w.npy"), "-o", str(tmp_path / "o.eie"))
    assert rc == 2 and "pass --force to overwrite" in err and "force=True" not in err


# ----------------------------------------------------------------------------- the sweep cache


def test_sweep_cache_is_configurable(tmp_path: Path, capsys) -> None:
    np.save(tmp_path / "w.npy", np.random.default_rng(2).normal(size=(12, 10)))
    rc, out, err = run(capsys, "sweep", str(tmp_path / "w.npy"), "--pes", "2", "-o", str(tmp_path / "a.csv"),
                       "--cache-dir", str(tmp_path / "mine"), "--quiet", "--jobs", "1")
    assert rc == 0, err
    assert f"layer cache {tmp_path / 'mine'}" in out and list((tmp_path / "mine").glob("*.eie"))
    rc, out, err = run(capsys, "sweep", str(tmp_path / "w.npy"), "--pes", "2", "-o", str(tmp_path / "b.csv"),
                       "--no-cache", "--quiet", "--jobs", "1")
    assert rc == 0 and "layer cache off" in out and not (tmp_path / ".eie-cache").exists()


# ----------------------------------------------------------------------------- hints and notes


def test_summary_explains_utilisation_and_names_rowless_pes(tmp_path: Path, capsys) -> None:
    np.save(tmp_path / "w.npy", np.random.default_rng(4).normal(size=(10, 200)))
    rc, out, _ = run(capsys, "simulate", "--weights", str(tmp_path / "w.npy"), "--density", "0.1", *FAST)
    assert rc == 0
    assert "54 of 64 PEs hold no rows" in out and "PEs 10-63" in out
    assert "utilisation counts every cycle a PE spends on a column" in out


def test_relu_between_layers_is_documented(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["compress", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "ReLU after every layer but the last" in out


def test_sweep_inputs_are_checked_before_any_work(tmp_path: Path, capsys) -> None:
    np.save(tmp_path / "x.npy", np.ones((3, 7)))  # NT-We takes 4096 inputs
    out = tmp_path / "s.csv"
    rc, stdout, err = run(capsys, "sweep", "NT-We", "--activations", str(tmp_path / "x.npy"), "-o", str(out))
    assert rc == 2 and "each input has 7 values; the model takes 4096" in err
    assert not out.exists()
    rc, _, err = run(capsys, "sweep", "NT-We", "--seeds", "a,b", "-o", str(out))
    assert rc == 2 and "--seeds 'a,b': not a comma-separated list of integers" in err
    rc, _, err = run(capsys, "sweep", "NT-We", "--jobs", "0", "-o", str(out))
    assert rc == 2 and "--jobs 0" in err
    rc, _, err = run(capsys, "sweep", "NT-We", "--spmat-kb", "0.25,128", "--word-bits", "4096",
                     "-o", str(out))
    assert rc == 2 and "word_bits = 4096" in err and not out.exists()
