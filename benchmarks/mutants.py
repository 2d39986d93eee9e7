"""Apply deliberate faults to the SimPy machine's source and run the suite on each mutant.

Each mutant is one textual change to one unit (a copy of the repository is changed, never
the working tree). The suite must fail on every mutant. Prints a table and writes
``benchmarks/out/mutants.csv``::

    python benchmarks/mutants.py            # engine, golden and mutation tests
    python benchmarks/mutants.py --all      # the whole suite per mutant (slow)
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _table import print_header, show, write_csv  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]

#: name -> (file, text to replace, replacement): each breaks exactly one unit.
MUTANTS = {
    "bit flip in a PE's SRAM image": (
        "eie_sim/simpy_model/spmat_read.py",
        '        self.sram[address: address + len(data)] = data\n',
        '        self.sram[address: address + len(data)] = data\n'
        '        if len(data):\n            self.sram[address] ^= 1 << 4\n'),
    "tile copied into the wrong half": (
        "eie_sim/simpy_model/dram.py",
        "            half = buffer_half(t)\n", "            half = buffer_half(t + 1)\n"),
    "LNZD skips lane N-1": (
        "eie_sim/simpy_model/ccu.py",
        "        lane = i\n",
        "        lane = i\n        if lane == self.n_lanes - 1:\n            return None\n"),
}


def run_mutant(name: str, tests: list[str]) -> dict[str, object]:
    path, old, new = MUTANTS[name]
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "repo"
        shutil.copytree(ROOT, copy, ignore=shutil.ignore_patterns(".venv", ".git", "out", "__pycache__",
                                                                    ".eie-cache", "*.nbi", "*.nbc"))
        source = (copy / path).read_text()
        if source.count(old) != 1:
            raise SystemExit(f"mutant {name!r}: the text to replace is not found once in {path}")
        (copy / path).write_text(source.replace(old, new))
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *tests],
                              cwd=copy, capture_output=True, text=True)
        tail = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else proc.stderr[-200:]
    failed = re.search(r"(\d+) failed", tail)
    return {"mutant": name, "file": path, "suite_failed": proc.returncode != 0,
            "failed_tests": int(failed[1]) if failed else 0, "summary": tail,
            "seconds": round(time.perf_counter() - t0, 1)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--all", action="store_true", help="run the whole suite per mutant")
    args = ap.parse_args(argv)
    tests = [] if args.all else ["tests/test_engines.py", "tests/test_golden.py"]
    info = print_header("Mutants of the SimPy machine: each must fail the suite",
                        [f"tests run per mutant: {' '.join(tests) or 'the whole suite'}"])
    rows = [run_mutant(name, tests) for name in MUTANTS]
    write_csv("mutants", show(rows), info)
    return 0 if all(r["suite_failed"] for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
