"""Start-up cost of the ``eie`` command: wall time of each quick invocation, and what it imports.

Run: ``python benchmarks/bench_startup.py [--repeats N]``. Each command is run in a fresh
interpreter (``python -m eie_sim.study.cli ...``, as the ``eie`` script does) ``N`` times; the
table gives the best and median wall time, and from one ``python -X importtime`` run the total
import time and whether numba, pandas and matplotlib were imported. Writes
``benchmarks/out/bench_startup.csv``.

``eie --version`` and ``eie --help`` should import neither numba nor pandas (1.3-1.7 s before the
command line imported lazily); a subcommand's ``--help`` needs its flags' definitions, which the
hardware units hold beside their numba timing rules.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks._table import print_header, show, write_csv  # noqa: E402

COMMANDS = (
    ("--version",),
    ("--help",),
    ("simulate", "--help"),
    ("sweep", "--help"),
    ("compress", "--help"),
    ("inspect", "--help"),
    ("plot", "--help"),
)
HEAVY = ("numba", "pandas", "matplotlib", "simpy")
_IMPORT_LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|(\s*)(\S+)")


def run_once(argv: tuple[str, ...]) -> float:
    """Wall seconds of one ``eie ARGV`` in a fresh interpreter."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "eie_sim.study.cli", *argv], stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, env=env, check=False)
    return time.perf_counter() - t0


def import_profile(argv: tuple[str, ...]) -> dict[str, object]:
    """Total import time (ms) and the heavy packages imported, from ``python -X importtime``."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "eie_sim.study.cli", *argv],
                          capture_output=True, text=True, env=env, check=False)
    total_us, heavy = 0, set()
    for line in proc.stderr.splitlines():
        m = _IMPORT_LINE.match(line)
        if not m:
            continue
        total_us += int(m.group(1))  # self time: the sum over modules is the whole import cost
        top = m.group(4).split(".")[0]
        if top in HEAVY:
            heavy.add(top)
    return {"imports_ms": round(total_us / 1e3, 1), **{f"imports_{h}": h in heavy for h in HEAVY}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="runs per command (default 5)")
    args = parser.parse_args()
    info = print_header("eie start-up: wall time per command in a fresh interpreter",
                        [f"best and median of {args.repeats} runs; imports from one -X importtime run",
                         "the machine is shared: the best is the figure to compare"])
    rows = []
    for argv in COMMANDS:
        times = [run_once(argv) for _ in range(args.repeats)]
        rows.append({"command": "eie " + " ".join(argv), "best_s": round(min(times), 3),
                     "median_s": round(statistics.median(times), 3), **import_profile(argv)})
    table = show(rows)
    write_csv("bench_startup", table, info)


if __name__ == "__main__":
    main()
