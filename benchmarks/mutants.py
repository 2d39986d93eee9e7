"""Break one unit rule at a time, in a copy of the repository, and run the tests on each mutant.

Every timing rule of every hardware unit is broken once in the SimPy machine (the unit's
component) and once in the fast engine (the unit's closed-form rule), the round reset
included, plus the rules both engines share. The suite must fail on every mutant: a rule
that can be broken without a test noticing is a rule nobody checks. Prints a table and
writes ``benchmarks/out/mutants.csv``::

    python benchmarks/mutants.py                 # the engine and unit tests, stop at the first failure
    python benchmarks/mutants.py --all           # the whole default suite per mutant (slow)
    python benchmarks/mutants.py --only round    # mutants whose name contains "round"
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
from typing import NamedTuple

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _table import print_header, show, write_csv  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
UNITS = "eie_sim/units/"


class Mutant(NamedTuple):
    unit: str
    engine: str  # "simpy", "fast" or "both" (a rule the two share)
    name: str
    file: str
    old: str
    new: str


MUTANTS = (
    # --- CCU / LNZD
    Mutant("ccu", "simpy", "a row load takes two cycles", UNITS + "ccu.py",
           "yield env.timeout(1)  # the row's load cycle", "yield env.timeout(2)  # the row's load cycle"),
    Mutant("ccu", "simpy", "lane N-1 does not let the next row load in its cycle", UNITS + "ccu.py",
           "                            break  # the next row loads in this very cycle\n",
           "                            yield env.timeout(1)\n                            break\n"),
    Mutant("ccu", "simpy", "the LNZD never reports lane N-1", UNITS + "ccu.py",
           "        lane = i\n        levels[0][lane] = False\n",
           "        lane = i\n        if lane == self.n_lanes - 1 and lane:\n            return None\n"
           "        levels[0][lane] = False\n"),
    Mutant("ccu", "fast", "found_cycle: always an extra cycle for a new row", UNITS + "ccu.py",
           "    return broadcast[k - 1] + rows[k] - rows[k - 1] + (0 if lanes[k - 1] == n_pes - 1 else 1)",
           "    return broadcast[k - 1] + rows[k] - rows[k - 1] + 1"),
    Mutant("ccu", "fast", "scan_end: one cycle late", UNITS + "ccu.py",
           "    if after == 0:\n        return last + 1\n", "    if after == 0:\n        return last + 2\n"),
    Mutant("ccu", "both", "the bias in the last input row's spare lane (contract v2)", UNITS + "ccu.py",
           "    return j if j < n else (n + n_pes - 1) // n_pes * n_pes\n", "    return j\n"),
    # --- activation queue
    Mutant("act_queue", "simpy", "items visible a cycle early", UNITS + "act_queue.py",
           "        self.items.append((now + self.latency, item))",
           "        self.items.append((now + self.latency - 1, item))"),
    Mutant("act_queue", "simpy", "a queue holds one more than its depth", UNITS + "act_queue.py",
           "        if self.held == self._capacity:\n            self.bus.queue_full()",
           "        if self.held == self._capacity + 1:\n            self.bus.queue_full()"),
    Mutant("act_queue", "fast", "credit_cycle: one slot too many", UNITS + "act_queue.py",
           "    if k < depth:\n        return 0", "    if k <= depth:\n        return 0"),
    Mutant("act_queue", "fast", "visible_cycle: a cycle late", UNITS + "act_queue.py",
           "    return broadcast + latency\n", "    return broadcast + latency + 1\n"),
    Mutant("act_queue", "fast", "held_after: a pop in the broadcast's cycle still holds", UNITS + "act_queue.py",
           "pop_of_pe[popped] <= when", "pop_of_pe[popped] < when"),
    # --- pointer read
    Mutant("ptr_read", "simpy", "one bank reads a column in one cycle", UNITS + "ptr_read.py",
           "                read_done = start + p_cycles\n", "                read_done = start + 1\n"),
    Mutant("ptr_read", "simpy", "pops before the arithmetic unit is ready", UNITS + "ptr_read.py",
           "                if arith_busy:  # the arithmetic unit takes one column at a time\n"
           "                    yield ready.get()\n",
           "                if arith_busy:  # the arithmetic unit takes one column at a time\n"
           "                    ready.poll()\n"),
    Mutant("ptr_read", "simpy", "the bitmap's skip costs a cycle", UNITS + "ptr_read.py",
           "                    self.skips += 1\n                    continue\n",
           "                    self.skips += 1\n                    read_done = start + 1\n                    continue\n"),
    Mutant("ptr_read", "fast", "column_cycles: one bank reads in one cycle", UNITS + "ptr_read.py",
           "    empty slice the bitmap skips).\"\"\"\n    if knobs.column_bitmap and entries == 0:\n        return 0\n"
           "    return 1 if knobs.ptr_banks == 2 else 2\n",
           "    empty slice the bitmap skips).\"\"\"\n    if knobs.column_bitmap and entries == 0:\n        return 0\n"
           "    return 1\n"),
    Mutant("ptr_read", "fast", "column_cycles: the bitmap's skip costs a cycle", UNITS + "ptr_read.py",
           "    empty slice the bitmap skips).\"\"\"\n    if knobs.column_bitmap and entries == 0:\n        return 0\n",
           "    empty slice the bitmap skips).\"\"\"\n    if knobs.column_bitmap and entries == 0:\n        return 1\n"),
    # --- sparse-matrix read
    Mutant("spmat_read", "simpy", "the read buffer survives a new segment", UNITS + "spmat_read.py",
           "            self._buffered = -1  # a new segment: its words are in another region\n",
           "            pass\n"),
    Mutant("spmat_read", "simpy", "no read buffer", UNITS + "spmat_read.py",
           "            self.word_reads += w1 - w0 + (0 if w0 == self._buffered else 1)",
           "            self.word_reads += w1 - w0 + 1"),
    Mutant("spmat_read", "fast", "word_reads: no read buffer", UNITS + "spmat_read.py",
           "    return w1 - w0 + (0 if w0 == buffered else 1), w1", "    return w1 - w0 + 1, w1"),
    # --- arithmetic
    Mutant("arith", "simpy", "no hazard-history reset at a round change (the round reset)", UNITS + "arith.py",
           "                    self._round = r\n                    self.forget()\n",
           "                    self._round = r\n"),
    Mutant("arith", "simpy", "a hazard waits a cycle too few", UNITS + "arith.py",
           "                    ready = history.get(reg, NO_UPDATE) + latency\n",
           "                    ready = history.get(reg, NO_UPDATE) + latency - 1\n"),
    Mutant("arith", "simpy", "a bypass counted on any update of the same register", UNITS + "arith.py",
           "                    if issue == self._last_cycle + 1 and reg == self._last_reg:",
           "                    if reg == self._last_reg:"),
    Mutant("arith", "simpy", "the drain takes a cycle less", UNITS + "arith.py",
           "                self._drained_at = end + DRAIN_CYCLES\n",
           "                self._drained_at = end + DRAIN_CYCLES - 1\n"),
    Mutant("arith", "fast", "no hazard-history reset at a round change (the round reset)", "eie_sim/engines/fast.py",
           "                arith.forget(history[p])\n", "                pass\n"),
    Mutant("arith", "fast", "issue_end: a hazard waits a cycle too few", UNITS + "arith.py",
           "            ready = history[x] + knobs.acc_latency\n", "            ready = history[x] + knobs.acc_latency - 1\n"),
    Mutant("arith", "fast", "bypassed: any update of the same register", UNITS + "arith.py",
           "first_kept_row >= 0 and start == last_end and first_kept_row == last_row",
           "first_kept_row >= 0 and first_kept_row == last_row"),
    Mutant("arith", "simpy", "nothing drains after the last issue", UNITS + "arith.py",
           "                if self._drained_at > env.now:\n", "                if False:\n"),
    Mutant("arith", "fast", "drained: nothing drains after the last issue", UNITS + "arith.py",
           "    return last_issue_end + DRAIN_CYCLES if last_issue_end != NO_UPDATE else 0\n",
           "    return last_issue_end if last_issue_end != NO_UPDATE else 0\n"),
    Mutant("arith", "both", "four drain cycles", UNITS + "arith.py", "DRAIN_CYCLES = 5\n", "DRAIN_CYCLES = 4\n"),
    # --- activation read/write
    Mutant("act_rw", "simpy", "the LNZD is fed the previous row's values", UNITS + "act_rw.py",
           "                    value = self.memory[row]\n",
           "                    value = self.memory[row - 1] if row else self.memory[row]\n"),
    Mutant("act_rw", "both", "write-back without ReLU", "eie_sim/functional.py",
           "    out = np.maximum(acc, 0) if relu else acc\n", "    out = acc\n"),
    Mutant("act_rw", "both", "the authors' completion test looks four cycles back", UNITS + "act_rw.py",
           "AUTHORS_WRITE_DELAY = 5\n", "AUTHORS_WRITE_DELAY = 4\n"),
    # --- DRAM
    Mutant("dram", "simpy", "a tile copied into the wrong half", UNITS + "dram.py",
           "                half = buffer_half(t)\n", "                half = buffer_half(t + 1)\n"),
    Mutant("dram", "simpy", "a tile overwrites a half still in use", UNITS + "dram.py",
           "                while done < t - 2:", "                while done < t - 3:"),
    Mutant("dram", "simpy", "a transfer without its latency", UNITS + "dram.py",
           "math.ceil(nbytes / self.bytes_per_cycle) + self.latency)",
           "math.ceil(nbytes / self.bytes_per_cycle))"),
    Mutant("dram", "fast", "schedule: the next load starts only after the tile before", UNITS + "dram.py",
           "max(end[t - 1], start[t - 1] + load[t])", "end[t - 1] + load[t]"),
    Mutant("dram", "fast", "transfer_cycles: without the latency", UNITS + "dram.py",
           "    return math.ceil(nbytes / bytes_per_cycle(c)) + latency_cycles(c)\n",
           "    return math.ceil(nbytes / bytes_per_cycle(c))\n"),
    # --- PE composition
    Mutant("pe", "simpy", "busy cycles miss the exposed pointer reads", UNITS + "pe.py",
           "        return self.arith.issued + self.ptr_read.exposed_cycles\n",
           "        return self.arith.issued\n"),
    Mutant("pe", "fast", "pop_cycle: ignores the previous column", UNITS + "pe.py",
           "    return visible if visible > previous_finish else previous_finish\n",
           "    return visible\n"),
    Mutant("pe", "fast", "finish_cycle: the pointer read hides under any issue", UNITS + "pe.py",
           "    return pop + read_cycles if pop + read_cycles > issue_end else issue_end\n",
           "    return issue_end if issue_end > pop else pop + read_cycles\n"),
)

#: What a mutant is run against by default: the oracle comparisons, the unit harnesses, the
#: golden table, the engines' equivalence and the authors' measured layers.
TESTS = ["tests/test_engines.py", "tests/test_units.py", "tests/test_golden.py",
         "tests/test_engine_equivalence.py", "tests/test_authors.py"]


def run_mutant(m: Mutant, tests: list[str], stop_first: bool) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "repo"
        shutil.copytree(ROOT, copy, ignore=shutil.ignore_patterns(".venv", ".git", "out", "__pycache__",
                                                                    ".eie-cache", "*.nbi", "*.nbc"))
        source = (copy / m.file).read_text()
        if source.count(m.old) != 1:
            raise SystemExit(f"mutant {m.name!r}: the text to replace is not found exactly once in {m.file}")
        (copy / m.file).write_text(source.replace(m.old, m.new))
        t0 = time.perf_counter()
        # the copy's packages come first on the path, so the installed checkout is not imported
        env = {"PYTHONPATH": str(copy), "EIE_SIM_NUMBA_CACHE": str(Path(tmp) / "numba"), "PATH": "/usr/bin:/bin"}
        argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *(["-x"] if stop_first else []),
                *tests]
        proc = subprocess.run(argv, cwd=copy, capture_output=True, text=True, env=env)
        lines = proc.stdout.strip().splitlines()
        tail = lines[-1] if lines else proc.stderr[-200:]
        first = next((ln.split(" ", 1)[1].split(" - ")[0] for ln in lines if ln.startswith("FAILED ")), "")
    failed = re.search(r"(\d+) failed", tail)
    return {"unit": m.unit, "engine": m.engine, "mutant": m.name, "file": m.file,
            "suite_failed": proc.returncode != 0, "failed_tests": int(failed[1]) if failed else 0,
            "first_failure": first, "seconds": round(time.perf_counter() - t0, 1)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--all", action="store_true", help="run the whole default suite per mutant")
    ap.add_argument("--count", action="store_true", help="run every test (count failures) instead of -x")
    ap.add_argument("--only", default="", help="run the mutants whose name contains this text")
    args = ap.parse_args(argv)
    tests = [] if args.all else TESTS
    chosen = [m for m in MUTANTS if args.only in m.name]
    info = print_header("Mutants of the hardware units' rules: each must fail the suite",
                        [f"{len(chosen)} mutants; tests per mutant: {' '.join(tests) or 'the whole suite'}"
                         f"{'' if args.count else ' (stopping at the first failure)'}"])
    rows = [run_mutant(m, tests, not args.count) for m in chosen]
    write_csv("mutants", show(rows), info)
    survivors = [r["mutant"] for r in rows if not r["suite_failed"]]
    if survivors:
        print("survived (no test failed):", "; ".join(survivors))
    return 0 if not survivors else 1


if __name__ == "__main__":
    raise SystemExit(main())
