"""Sweeps: cartesian points, resumable CSV, executors (threads, processes, Dask), SIGKILL + resume."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from compressor.errors import EieInputError
from eie_sim.study import sweep
from eie_sim.study.cli import main
from eie_sim.study.sweep import TIMING_COLUMNS, make_points, read_rows, run_sweep


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> str:
    rng = np.random.default_rng(7)
    w = rng.normal(0, 0.05, (120, 200)) * (rng.random((120, 200)) < 0.15)
    path = tmp_path_factory.mktemp("w") / "fc.npy"
    np.save(path, w)
    return str(path)


def test_points_are_the_cartesian_product(weights):
    pts = make_points([weights, "NT-We"], {"n_pes": [1, 4], "queue_depth": [2, 8, 16]}, seeds=[0, 1])
    assert len(pts) == 2 * 2 * 3 * 2
    assert [p.index for p in pts] == list(range(24))
    assert len({p.key for p in pts}) == 24
    assert dict(pts[0].overrides) == {"n_pes": 1, "queue_depth": 2}


@pytest.mark.parametrize("layers,grid,msg", [
    (["NoSuchNet"], {}, "neither a benchmark"),
    (["missing.npy"], {}, "does not exist"),
    (["NT-We"], {"colour": [1]}, "cannot sweep 'colour'"),
    (["NT-We"], {"n_pes": []}, "has no values"),
])
def test_bad_sweeps_are_refused(layers, grid, msg):
    with pytest.raises(EieInputError, match=msg):
        make_points(layers, grid)


def test_sweep_rows_and_resume(weights, tmp_path, monkeypatch):
    pts = make_points([weights], {"n_pes": [1, 2, 4, 8]}, act_density=0.5)
    out = tmp_path / "res.csv"
    with ThreadPoolExecutor(2) as ex:
        df = run_sweep(pts, out, executor=ex, progress=False)
    assert df["point"].tolist() == [0, 1, 2, 3]
    assert df["n_pes"].tolist() == [1, 2, 4, 8]
    for col in ("cycles", "energy_j", "time_s", "pe_utilization", "contract_version", "git_commit",
                "word_bits", "energy_breakdown_j.spmat_read"):
        assert col in df.columns
    assert (df["cycles"].diff().dropna() < 0).all()  # more PEs, fewer cycles on this layer

    # Tear the file: drop the last row and leave half a line, as a killed writer would.
    lines = out.read_text().splitlines(keepends=True)
    out.write_text("".join(lines[:-1]) + lines[-1][: len(lines[-1]) // 2])
    calls = []
    real = sweep.run_point
    monkeypatch.setattr(sweep, "run_point", lambda p, *a: calls.append(p.index) or real(p, *a))
    with ThreadPoolExecutor(2) as ex:
        df2 = run_sweep(pts, out, executor=ex, progress=False)
    assert calls == [3]  # only the torn point is recomputed
    pd.testing.assert_frame_equal(df.drop(columns=list(TIMING_COLUMNS)),
                                  df2.drop(columns=list(TIMING_COLUMNS)))


def test_same_seed_same_figures_and_foreign_rows(weights, tmp_path):
    pts = make_points([weights], {"queue_depth": [1, 8]}, seeds=[3], act_density=0.4)
    with ThreadPoolExecutor(1) as ex:
        a = run_sweep(pts, tmp_path / "a.csv", executor=ex, progress=False)
        b = run_sweep(pts, tmp_path / "b.csv", executor=ex, progress=False)
        pd.testing.assert_frame_equal(a.drop(columns=list(TIMING_COLUMNS)),
                                      b.drop(columns=list(TIMING_COLUMNS)))
        other = make_points([weights], {"queue_depth": [2]}, act_density=0.4)
        with pytest.raises(EieInputError, match="different sweep"):
            run_sweep(other, tmp_path / "a.csv", executor=ex, progress=False)


def test_process_pool_and_cache(weights, tmp_path):
    pts = make_points([weights], {"n_pes": [2, 16]}, act_density=0.5)
    df = run_sweep(pts, tmp_path / "p.csv", jobs=2, progress=False)
    assert len(df) == 2 and (df["engine"] == "fast").all()
    cached = list((tmp_path / ".eie-cache").glob("*.eie"))
    assert len(cached) == 1


def test_dask_local_cluster(weights, tmp_path):
    distributed = pytest.importorskip("dask.distributed")  # the test extra installs it
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        pts = make_points([weights], {"n_pes": [1, 4]}, act_density=0.5)
        df = run_sweep(pts, tmp_path / "d.csv", executor=client.get_executor(), progress=False)
        assert df["n_pes"].tolist() == [1, 4]
        # The CLI reaches the same cluster by address.
        rc = main(["sweep", weights, "--pes", "2,8", "--act-density", "0.5", "--quiet",
                   "--dask", cluster.scheduler_address, "-o", str(tmp_path / "cli.csv")])
        assert rc == 0
        assert pd.read_csv(tmp_path / "cli.csv")["n_pes"].tolist() == [2, 8]


def test_cli_sweep_flags_reach_the_points(weights, tmp_path, capsys):
    out = tmp_path / "s.csv"
    rc = main(["sweep", weights, "--pes", "4", "--fifo", "1,4", "--word-bits", "32,128",
               "--act-density", "0.3", "--quiet", "--jobs", "1", "-o", str(out)])
    assert rc == 0
    df = pd.read_csv(out)
    assert sorted(zip(df.queue_depth, df.word_bits, strict=True)) == [
        (1, 32), (1, 128), (4, 32), (4, 128)]
    assert (df["n_pes"] == 4).all()
    assert "sweeping 4 point(s)" in capsys.readouterr().out


def _stat_fields(pid: int) -> list[str] | None:
    """``/proc/<pid>/stat`` after "pid (name) ": state, parent, ..., start time at [19]; None if gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat[stat.rindex(")") + 2:].split()


def _children(pid: int) -> dict[int, str]:
    """The live child processes of ``pid`` (Linux /proc): pid -> start time, to tell a pid reused."""
    out = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            fields = _stat_fields(int(d.name))
            if fields is not None and int(fields[1]) == pid and fields[0] != "Z":
                out[int(d.name)] = fields[19]
    return out


def _running(pid: int, start: str) -> bool:
    """Whether ``pid`` is still the process that started at ``start``, and not a zombie."""
    fields = _stat_fields(pid)
    return fields is not None and fields[0] != "Z" and fields[19] == start


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="finds the workers through /proc")
def test_sigkill_then_resume(weights, tmp_path):
    """Kill a running `eie sweep` with SIGKILL: its workers exit too (none is left under PID 1),
    and the rerun keeps every finished row untouched."""
    out = tmp_path / "k.csv"
    cmd = [sys.executable, "-m", "eie_sim.study.cli", "sweep", weights, "--engine", "simpy",
           "--pes", "1,2,3,4,5,6,7,8", "--fifo", "1,2,3,4,5,6,7,8", "--act-density", "0.5",
           "--jobs", "2", "--quiet", "-o", str(out)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "PYTHONHASHSEED": "0"})
    deadline = time.time() + 120
    workers: dict[int, str] = {}
    while time.time() < deadline:
        workers.update(_children(proc.pid))
        if out.exists() and out.read_text().count("\n") >= 6:  # header + at least 5 rows
            break
        time.sleep(0.05)
    workers.update(_children(proc.pid))
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert len(workers) >= 2, f"expected the sweep's two worker processes, saw {sorted(workers)}"
    deadline = time.time() + 10  # the death signal acts at once; the fallback polls every 0.5 s
    while time.time() < deadline and any(_running(p, t) for p, t in workers.items()):
        time.sleep(0.05)
    left = [p for p, t in workers.items() if _running(p, t)]
    for p in left:  # do not leave them behind even when the test fails
        os.kill(p, signal.SIGKILL)
    assert not left, f"worker process(es) {left} outlived the killed sweep"
    header, finished = read_rows(out)  # parses, torn tail or not
    assert 5 <= len(finished) < 64, "the sweep should have been killed part way"
    before = {r["key"]: r for r in finished}
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    df = pd.read_csv(out)
    assert len(df) == 64 and df["point"].tolist() == list(range(64))
    after = df.set_index("key")
    for key, row in before.items():  # finished points were not recomputed: their wall times stand
        assert float(after.loc[key, "wall_s"]) == float(row["wall_s"])
    assert len(set(df["key"])) == 64
    assert not list(Path(tmp_path).glob(".k.csv.*.tmp"))


def test_worker_exits_when_its_parent_dies(tmp_path):
    """The portable fallback alone (no death signal): a worker whose parent is gone exits."""
    script = tmp_path / "orphan.py"
    script.write_text(
        "import os, time\n"
        "from eie_sim.study import sweep\n"
        "sweep.PR_SET_PDEATHSIG = 0  # not a prctl option: only the watchdog thread is left\n"
        "sweep.WATCH_PARENT_S = 0.05\n"
        "child = os.fork()\n"
        "if child == 0:\n"
        "    sweep.worker_init(os.getppid())\n"
        "    time.sleep(60)\n"
        "    os._exit(0)\n"
        "print(child, flush=True)\n"
        "time.sleep(0.3)  # then this parent exits, and the worker is re-parented\n")
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    worker = int(proc.stdout.split()[0])
    start = _start_time(worker)
    deadline = time.time() + 10
    while time.time() < deadline and start is not None and _running(worker, start):
        time.sleep(0.05)
    alive = start is not None and _running(worker, start)
    if alive:
        os.kill(worker, signal.SIGKILL)
    assert not alive, "the orphaned worker kept running"


def _start_time(pid: int) -> str | None:
    fields = _stat_fields(pid)
    return fields[19] if fields is not None else None
