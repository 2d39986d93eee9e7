"""A PE's activation queue: the channel from the CCU to the PE."""

from __future__ import annotations

import simpy


class ActivationQueue:
    """Q slots. The CCU holds a credit for every item it sends, in flight or queued;
    the PE returns the credit when it pops the item, usable by a broadcast that same cycle."""

    def __init__(self, env: simpy.Environment, *, depth: int) -> None:
        self.slots = simpy.Store(env, capacity=depth)
        self.credits = simpy.Container(env, capacity=depth, init=depth)
        self.pushes = 0
        self.pops = 0

    def reserve(self) -> simpy.events.Event:
        """CCU side: wait for a free slot (counting items still in the LNZD tree)."""
        return self.credits.get(1)

    def push(self, item: object) -> None:
        """Tree side: the item arrives; a reserved slot guarantees room."""
        self.pushes += 1
        self.slots.put(item)

    def pop(self) -> simpy.events.Event:
        """PE side: wait for the head item."""
        return self.slots.get()

    def release(self) -> None:
        """PE side: the popped item's slot is free again."""
        self.pops += 1
        self.credits.put(1)
