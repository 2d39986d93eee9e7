"""A researcher's day on the command line: what ``eie simulate`` takes (benchmark names, weight files
with --layer, as ``eie sweep`` does), hints and agreements between commands, atomic and honest
sweep output, and a start-up that imports neither numba nor pandas for --version / --help."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.conftest import run

FAST = ("--engine", "fast")
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("day")
    rng = np.random.default_rng(11)
    a = rng.normal(0, 0.05, (120, 200)) * (rng.random((120, 200)) < 0.2)
    b = rng.normal(0, 0.05, (40, 120)) * (rng.random((40, 120)) < 0.3)
    np.savez(d / "multi.npz", a=a, b=b)
    np.save(d / "w.npy", a)
    np.save(d / "wt.npy", a.T)
    np.save(d / "bias120.npy", np.zeros(120))
    np.save(d / "x200.npy", np.maximum(rng.normal(size=200), 0))
    np.save(d / "x120.npy", np.maximum(rng.normal(size=120), 0))
    return {"dir": d, "multi": d / "multi.npz", "w": d / "w.npy", "wt": d / "wt.npy",
            "bias120": d / "bias120.npy", "x200": d / "x200.npy", "x120": d / "x120.npy"}


def cycles_of(out: str) -> int:
    row = next(s for s in out.splitlines() if s.strip().startswith("cycles"))
    return int(row.split()[1].replace(",", ""))


# ----------------------------------------------------------------------------- what simulate takes


def test_simulate_picks_a_layer_of_a_multi_array_npz(files, tmp_path, capsys) -> None:
    """``simulate multi.npz --layer b`` runs what ``compress multi.npz --layer b`` then ``simulate``
    of the .eie runs: the same cycles on the same input."""
    rc, out, err = run(capsys, "simulate", str(files["multi"]), "--layer", "b", "--activations",
                       str(files["x120"]), *FAST)
    assert rc == 0, err
    eie = tmp_path / "b.eie"
    assert run(capsys, "compress", str(files["multi"]), "--layer", "b", "-o", str(eie))[0] == 0
    rc, out2, err = run(capsys, "simulate", str(eie), "--activations", str(files["x120"]), *FAST)
    assert rc == 0, err
    assert cycles_of(out) == cycles_of(out2)
    rc, _, err = run(capsys, "simulate", str(files["multi"]), *FAST)  # two arrays, none chosen
    assert rc == 2 and "(a, b)" in err and "--layer NAME" in err


def test_layer_selection_is_refused_where_it_means_nothing(files, tmp_path, capsys) -> None:
    eie = tmp_path / "a.eie"
    assert run(capsys, "compress", str(files["w"]), "-o", str(eie))[0] == 0
    rc, _, err = run(capsys, "simulate", str(eie), "--layer", "a", *FAST)
    assert rc == 2 and "--layer: only for a weight file" in err and "already compressed" in err
    rc, _, err = run(capsys, "simulate", "Alex-7", "--density", "0.5", *FAST)
    assert rc == 2 and "--density" in err and "published densities" in err


def test_an_unknown_model_name_lists_the_benchmarks(capsys) -> None:
    rc, _, err = run(capsys, "simulate", "Alex-9", *FAST)
    assert rc == 2 and "Alex-9" in err and "Alex-7" in err and "NT-LSTM" in err


def test_transposed_weights_get_the_hint_in_simulate_as_in_compress(files, capsys) -> None:
    rc, _, err = run(capsys, "simulate", "--weights", str(files["wt"]), "--activations", str(files["x200"]),
                     *FAST)
    assert rc == 2 and "200 x 120" in err and "transpose" in err
    for command in (("simulate", "--weights", str(files["wt"])),
                    ("compress", str(files["wt"]), "-o", "x.eie")):
        rc, _, err = run(capsys, *command, "--bias", str(files["bias120"]))
        assert rc == 2 and "are the weights transposed?" in err, err


@pytest.mark.parametrize("command", ["simulate", "sweep"])
def test_act_density_has_one_range_everywhere(files, tmp_path, capsys, command: str) -> None:
    """0 (an all-zero input: the layer's fixed cost) is accepted by both commands; 1.5 by neither."""
    argv = [command, str(files["w"]), *FAST] + (["-o", str(tmp_path / "s.csv"), "--jobs", "1", "--quiet"]
                                               if command == "sweep" else [])
    rc, out, err = run(capsys, *argv, "--act-density", "0")
    assert rc == 0, err
    if command == "simulate":
        assert "non-zero activations 0.0 %" in out
    else:
        assert pd.read_csv(tmp_path / "s.csv")["input_density"].tolist() == [0.0]
    rc, _, err = run(capsys, *argv, "--act-density", "1.5", "--force")
    assert rc == 2 and "--act-density 1.5: must be in 0..1" in err


# ----------------------------------------------------------------------------- sweeps


def test_a_sweep_refused_after_it_started_leaves_no_file(files, tmp_path, capsys) -> None:
    out = tmp_path / "p.csv"
    rc, _, err = run(capsys, "sweep", str(files["w"]), "--pes", "2,4", "--max-cycles", "10", "--jobs", "1",
                     "--quiet", "-o", str(out))
    assert rc == 2 and "cycle limit" in err
    assert not out.exists()
    assert not list(tmp_path.glob("*.tmp")) and not list(tmp_path.glob(".p.csv*"))


def test_resumed_sweep_says_what_is_done_and_its_bar_agrees(files, tmp_path, capsys) -> None:
    out = tmp_path / "r.csv"
    rc, stdout, err = run(capsys, "sweep", str(files["w"]), "--pes", "2", *FAST, "--jobs", "1", "--quiet",
                          "-o", str(out))
    assert rc == 0, err
    assert f"wrote {out} (1 row)" in stdout
    rc, stdout, err = run(capsys, "sweep", str(files["w"]), "--pes", "2,4,8", *FAST, "--jobs", "1",
                          "-o", str(out))
    assert rc == 0, err
    assert "sweeping 3 point(s)" in stdout
    assert f"resuming {out}: 1 done, 2 to go" in stdout
    assert "1/3" in err and "3/3" in err and "0/2" not in err  # the bar counts the whole sweep
    assert f"wrote {out} (3 rows)" in stdout


# ----------------------------------------------------------------------------- configuration


@pytest.mark.parametrize("key, suggestion", [("spmat_kbb", "spmat_kb"), ("clock_mhzz", "clock_mhz")])
def test_toml_typo_suggests_the_flag_style_name(files, tmp_path, capsys, key: str, suggestion: str) -> None:
    toml = tmp_path / "arch.toml"
    toml.write_text(f"{key} = 128\n")
    rc, _, err = run(capsys, "simulate", str(files["w"]), "--config", str(toml), *FAST)
    assert rc == 2
    assert f"unknown key {key!r} (did you mean {suggestion!r}?)" in err
    assert "flags' names in their units (pes, clock_mhz" in err


def test_the_readme_study_folder_is_ignored_but_the_package_is_not() -> None:
    git = shutil.which("git")
    if git is None or not (ROOT / ".git").exists():
        pytest.skip("needs git and a checkout")
    ignored = subprocess.run([git, "-C", str(ROOT), "check-ignore", "--no-index", "study/mlp.eie",
                              "study/sweep.csv", "eie_sim/study/threads.py"], capture_output=True, text=True)
    assert ignored.stdout.split() == ["study/mlp.eie", "study/sweep.csv"]


# ----------------------------------------------------------------------------- start-up


@pytest.mark.parametrize("argv", [["--version"], ["--help"]])
def test_version_and_help_import_neither_numba_nor_pandas(argv: list[str]) -> None:
    code = ("import sys\n"
            "from eie_sim.study.cli import main\n"
            "try:\n"
            f"    main({argv!r})\n"
            "except SystemExit as e:\n"
            "    assert e.code in (0, None), e.code\n"
            "heavy = ('pandas', 'numba', 'matplotlib', 'simpy')\n"
            "print('heavy:', sorted(m for m in heavy if m in sys.modules))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "heavy: []" in proc.stdout, proc.stdout
    assert ("contract v" if argv == ["--version"] else "simulate") in proc.stdout
