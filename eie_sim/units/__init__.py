"""EIE's hardware units, one module each, and the compositions of them (a PE, the array).

Every unit module declares, in one place, what the rest of eie-sim knows of it:

- ``NAME`` and ``TITLE``: its name in event counts and energy breakdowns, and for people;
- ``FIELDS``: its configuration fields (:class:`eie_sim.fields.Field`), which make up
  :class:`eie_sim.config.SimConfig`, the command line's flags, TOML keys, sweep columns and
  plot labels;
- ``EVENTS`` and ``prices(table, config)``: the actions it is charged energy for and their pJ
  (``steady_state`` gives its counts on the paper's calibration workload, ``TABLE2`` says it
  has a row in the paper's Table II and so a fitted static term);
- ``TRACE``: its line-trace column;
- its timing rule twice: the SimPy component that acts it out (talking to the other units
  only through the channels of :mod:`eie_sim.units.channels`), and the closed-form rule
  functions (numba) the fast engine composes.
"""

from __future__ import annotations

from eie_sim.units import act_queue, act_rw, arith, array, ccu, dram, pe, ptr_read, spmat_read

#: Every module, in the order a configuration lists its fields.
MODULES = (array, ccu, act_queue, ptr_read, spmat_read, arith, act_rw, dram, pe)
#: The units charged for energy, in the order breakdowns list them: Table II's five, the CCU, DRAM.
PRICED = (act_queue, ptr_read, spmat_read, arith, act_rw, ccu, dram)
#: Every (unit, action) an engine may count, in report order.
EVENTS: tuple[tuple[str, str], ...] = tuple((u.NAME, e.action) for u in PRICED for e in u.EVENTS)


def trace_columns() -> tuple[tuple, tuple]:
    """(the array's line-trace columns, each PE's), in the order a trace shows them."""
    return (ccu.TRACE,), (act_queue.TRACE, ptr_read.TRACE, arith.TRACE)
