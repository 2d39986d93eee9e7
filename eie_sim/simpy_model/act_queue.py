"""A PE's activation queue: the channel from the CCU's broadcast bus to the PE."""

from __future__ import annotations

from collections import deque

import simpy


class ActivationQueue:
    """Holds up to ``depth`` broadcast ``(round, column, value)`` items, in flight included.

    An item pushed at cycle ``t`` crosses the broadcast bus and can be popped from
    ``t + latency``; it holds its slot from the broadcast to its pop. A pop frees the
    slot for a broadcast in the same cycle. The queue counts its pushes and pops and
    integrates its occupancy at the end of every cycle (mean = sum / cycles, and max).
    """

    def __init__(self, env: simpy.Environment, *, depth: int, latency: int) -> None:
        self.env = env
        self.depth = depth
        self.latency = latency
        self._items: deque[tuple[int, tuple[int, int, int]]] = deque()  # (visible from, item)
        self._closed = False
        self._reader: simpy.Event | None = None  # the PE, waiting for an item
        self._writer: simpy.Event | None = None  # the CCU, waiting for a slot
        # counters
        self.pushes = 0
        self.pops = 0
        self.occupancy_sum = 0
        self.occupancy_max = 0
        self._since = 0  # cycle of the last change

    def _settle(self) -> None:
        """Account the occupancy of the cycles since the last change, before changing it."""
        now = self.env.now
        if now != self._since:
            n = len(self._items)
            self.occupancy_sum += n * (now - self._since)
            if n > self.occupancy_max:
                self.occupancy_max = n
            self._since = now

    # CCU side
    def has_room(self) -> bool:
        return len(self._items) < self.depth

    def slot_freed(self) -> simpy.Event:
        """An event that fires at the PE's next pop."""
        self._writer = self.env.event()
        return self._writer

    def push(self, item: tuple[int, int, int]) -> None:
        self._settle()
        self._items.append((self.env.now + self.latency, item))
        self.pushes += 1
        if self._reader is not None:
            reader, self._reader = self._reader, None
            reader.succeed()

    def close(self) -> None:
        """The CCU's scan is over: once empty, the queue tells its PE so."""
        self._closed = True
        if self._reader is not None:
            reader, self._reader = self._reader, None
            reader.succeed()

    def open(self) -> None:
        self._closed = False

    # PE side
    def pop(self) -> tuple[int, int, int] | None:
        """The head item if it is visible this cycle, else None."""
        if self._items and self._items[0][0] <= self.env.now:
            self._settle()
            _, item = self._items.popleft()
            self.pops += 1
            if self._writer is not None:
                writer, self._writer = self._writer, None
                writer.succeed()
            return item
        return None

    def drained(self) -> bool:
        """Closed and empty: no item will come in this segment."""
        return self._closed and not self._items

    def wait(self) -> simpy.Event:
        """An event for the PE: the head item becomes visible, or an item or the close arrives."""
        if self._items:
            return self.env.timeout(self._items[0][0] - self.env.now)
        self._reader = self.env.event()
        return self._reader

    def finish_counting(self) -> None:
        self._settle()
