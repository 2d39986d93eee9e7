"""The central control unit and its 4-ary leading-non-zero-detect (LNZD) tree."""

from __future__ import annotations

from collections.abc import Sequence

import simpy

from eie_sim.simpy_model.act_queue import ActivationQueue


class CentralControlUnit:
    """Finds the next non-zero activation and broadcasts it to every PE's queue.

    At most one broadcast per cycle, and only while every queue has a free slot
    (credit-based flow control). An item reaches the queues ``levels`` cycles after
    its broadcast, one cycle per level of the LNZD tree.
    """

    def __init__(self, env: simpy.Environment, *, queues: Sequence[ActivationQueue],
                 levels: int) -> None:
        # interface: the activation queues, one per PE
        self.env = env
        self.queues = list(queues)
        self.levels = levels
        # sub-component: the tree, a pipeline of items in flight
        self.tree = simpy.Store(env)
        self.broadcast_cycles: list[int] = []
        self.src_reads = 0

    def scan(self, n_values: int) -> None:
        """The LNZD nodes read every source activation once per round."""
        self.src_reads += n_values

    def broadcaster(self, n_items: int, done: simpy.Event):
        """CCU: for each non-zero activation, hold a slot in every queue, then broadcast it."""
        env = self.env
        for k in range(n_items):
            for q in self.queues:
                yield q.reserve()
            self.broadcast_cycles.append(env.now)
            self.tree.put((env.now + self.levels, k))
            yield env.timeout(1)
        # The scan that finds no further non-zero reports it once it has crossed the tree.
        yield env.timeout(self.levels)
        done.succeed()
        self.tree.put((None, None))

    def lnzd_tree(self):
        """LNZD tree: each item leaves the tree ``levels`` cycles after its broadcast."""
        env = self.env
        while True:
            when, k = yield self.tree.get()
            if when is None:
                return
            if when > env.now:
                yield env.timeout(when - env.now)
            for q in self.queues:
                q.push(k)
