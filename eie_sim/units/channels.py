"""The channels that join EIE's units: SimPy stores with the semantics of the wires they model.

- :class:`Channel`: a bounded FIFO from one unit to another. A put blocks while it is full
  (the receiver's back-pressure), a get while it is empty; both are SimPy events.
  ``offer`` and ``poll`` are the same moves for a sender or receiver that finds the other
  side ready: they skip the event when nobody has to wait.
- :class:`LatencyChannel`: a channel whose items can be taken ``latency`` cycles after they
  were put (SimPy's "Event Latency" cable); an item in flight holds its slot.
- :class:`TimedChannel`: a channel whose sender dates each item, a unit's ready signal.
- :class:`BroadcastBus`: one put into every PE's queue in the same cycle (SimPy's
  "BroadcastPipe"); it blocks until every queue has a free slot, which is EIE's credit check.
- :class:`Port`: a unit's combinational input (a read port that answers in the same cycle).

Every channel here joins one receiver to its senders (a unit's input), so instead of a
general Store's request queues it keeps at most one waiting get and one waiting put: the
same semantics for the machine's point-to-point wires, at a fraction of the bookkeeping (an
inference moves hundreds of thousands of items).

A control marker, :data:`END`, closes a segment: it follows the last item through a PE's
pipeline without taking a slot or counting as an item.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from heapq import heappush

import simpy
from simpy import Event
from simpy.events import NORMAL


class _End:
    """The end-of-segment marker (a singleton)."""

    def __repr__(self) -> str:
        return "END"


END = _End()
#: What ``poll`` returns when there is nothing to take.
EMPTY = object()


def _succeed_later(event: Event, value: object, delay: int) -> None:
    """``event.succeed(value)``, processed ``delay`` cycles from now (what SimPy's Timeout does for
    the events it makes; ``Environment.schedule`` inlined, on the machine's hottest path)."""
    event._ok = True
    event._value = value
    env = event.env
    heappush(env._queue, (env._now + delay, NORMAL, next(env._eid), event))


class Channel(simpy.Store):
    """A FIFO of ``capacity`` items into one unit (a SimPy Store with one receiver)."""

    def __init__(self, env: simpy.Environment, capacity: float = float("inf")) -> None:
        super().__init__(env, capacity)
        self.items: deque = deque()  # type: ignore[assignment]
        self._reader: Event | None = None  # the receiver's pending get
        self._writer: tuple[object, Event] | None = None  # a sender's pending put

    def put(self, item: object) -> Event:  # type: ignore[override]
        """An event that succeeds once ``item`` is in the channel (at once when there is room)."""
        ev = Event(self._env)
        if self.offer(item):
            ev.succeed()
        elif self._writer is None:
            self._writer = (item, ev)
        else:
            raise RuntimeError("a channel holds one waiting put at a time")
        return ev

    def offer(self, item: object) -> bool:
        """Put ``item`` now if there is room and no earlier put waits; False otherwise."""
        reader = self._reader
        if reader is not None:  # the receiver waits, so the channel is empty: hand it over
            self._reader = None
            _succeed_later(reader, item, 0)  # reader.succeed(item), inlined: a column's hot path
            return True
        if len(self.items) >= self._capacity or self._writer is not None:
            return False
        self.items.append(item)
        return True

    def get(self) -> Event:  # type: ignore[override]
        """An event that succeeds with the head item once it can be taken."""
        if self._reader is not None:
            raise RuntimeError("a channel has one receiver")
        ev = Event(self._env)
        if self.items:
            ev.succeed(self._take())
        else:
            self._reader = ev
        return ev

    def poll(self) -> object:
        """Take the head item now if there is one and no get waits; else EMPTY."""
        if self._reader is not None or not self.items:
            return EMPTY
        return self._take()

    def _take(self) -> object:
        """The head item, out; a waiting put takes the freed slot."""
        item = self.items.popleft()
        if self._writer is not None:
            waiting, ev = self._writer
            self._writer = None
            self.items.append(waiting)
            ev.succeed()
        return item


class LatencyChannel(Channel):
    """A channel whose items can be taken ``latency`` cycles after their put (an item in flight
    holds its slot). Items are ``(visible cycle, item)`` inside."""

    def __init__(self, env: simpy.Environment, capacity: float, latency: int) -> None:
        super().__init__(env, capacity)
        self.latency = latency

    def offer(self, item: object) -> bool:
        if len(self.items) >= self._capacity or self._writer is not None:
            return False
        self._arrive(self._env.now + self.latency, item)
        return True

    def _arrive(self, visible: int, item: object) -> None:
        self.items.append((visible, item))
        if self._reader is not None:
            self._serve()

    def get(self) -> Event:  # type: ignore[override]
        if self._reader is not None:
            raise RuntimeError("a channel has one receiver")
        self._reader = Event(self._env)
        reader = self._reader
        self._serve()
        return reader

    def poll(self) -> object:
        items = self.items
        if self._reader is not None or not items or items[0][0] > self._env.now:
            return EMPTY
        return self._take()

    def _serve(self) -> None:
        """Hand the head to the waiting get: now when it is visible, else at its visible cycle
        (the get's own event, scheduled for then, takes it as it fires: one event, not a
        wake-up and a hand-over)."""
        items = self.items
        if not items:
            return
        now = self._env._now
        reader, self._reader = self._reader, None
        if items[0][0] <= now:
            _succeed_later(reader, self._take(), 0)
        else:
            reader.callbacks.insert(0, self._hand_over)
            _succeed_later(reader, None, items[0][0] - now)

    def _hand_over(self, event: Event) -> None:
        event._value = self._take()

    def _take(self) -> object:
        item = self.items.popleft()[1]
        if self._writer is not None:
            waiting, ev = self._writer
            self._writer = None
            self.items.append((self._env.now + self.latency, waiting))
            ev.succeed()
        return item


class TimedChannel(Channel):
    """A channel whose sender dates each item: it can be taken from the cycle the sender names
    (a unit's ready signal, which goes high when its work is done). With one receiver an item
    is handed over as soon as the receiver asks, to arrive at its cycle."""

    def offer_at(self, item: object, cycle: int) -> bool:
        """Put ``item``, to be taken from ``cycle`` on; False when there is no room."""
        if len(self.items) >= self._capacity or self._writer is not None:
            return False
        reader = self._reader
        if reader is not None:
            self._reader = None
            delay = cycle - self._env._now  # SimPy's clock (the attribute `now` reads)
            _succeed_later(reader, item, delay if delay > 0 else 0)
        else:
            self.items.append((cycle, item))
        return True

    def get(self) -> Event:  # type: ignore[override]
        if self._reader is not None:
            raise RuntimeError("a channel has one receiver")
        ev = Event(self._env)
        if self.items:
            cycle, item = self.items.popleft()
            _succeed_later(ev, item, max(0, cycle - self._env.now))
        else:
            self._reader = ev
        return ev

    def poll(self) -> object:
        items = self.items
        if self._reader is not None or not items or items[0][0] > self._env.now:
            return EMPTY
        return items.popleft()[1]


class BroadcastQueue(LatencyChannel):
    """The receiving end of a broadcast: a latency channel the bus delivers into.

    The receiving unit (:class:`eie_sim.units.act_queue.ActivationQueue`) defines ``deliver`` and
    ``_take``, counting its pushes and pops there: ``held`` counts the items holding a slot, and
    the queue tells the bus when it fills (:meth:`BroadcastBus.queue_full`) and when a pop frees
    a full queue (:meth:`BroadcastBus.slot_freed`, after ``held`` went down).
    """

    def __init__(self, env: simpy.Environment, capacity: int, latency: int) -> None:
        super().__init__(env, capacity, latency)
        self.bus: BroadcastBus | None = None
        self.held = 0  # items holding a slot (END holds none)

    def deliver_end(self) -> None:
        """END, visible at once behind the items, taking no slot."""
        self._arrive(self._env.now, END)


class BroadcastBus(Channel):
    """Puts one item into every queue in the same cycle, once every queue has a free slot.

    Each queue tells the bus when it fills up and when a pop frees it again
    (:meth:`queue_full`, :meth:`slot_freed`); a put waits while any queue is full, and a pop
    that frees the last full queue lets a waiting put through in that very cycle.
    """

    def __init__(self, env: simpy.Environment, queues: Sequence[BroadcastQueue]) -> None:
        super().__init__(env, capacity=1)
        self.queues = list(queues)
        self._full = 0
        for q in self.queues:
            q.bus = self

    def offer(self, item: object) -> bool:
        """Broadcast now if every queue has room and no earlier broadcast waits."""
        if self._full or self._writer is not None:
            return False
        for q in self.queues:
            q.deliver(item)
        return True

    def close(self) -> None:
        """The end of a segment: every queue gets END behind its items."""
        for q in self.queues:
            q.deliver_end()

    def queue_full(self) -> None:
        self._full += 1

    def slot_freed(self) -> None:
        self._full -= 1
        if not self._full and self._writer is not None:
            item, ev = self._writer
            self._writer = None
            self.offer(item)
            ev.succeed()

    def get(self) -> Event:  # type: ignore[override]
        raise TypeError("the broadcast bus delivers into the PEs' queues; get from a queue")


class Port:
    """A unit's combinational input: an item offered goes through the unit at once (a read port
    that answers in the cycle it is asked), so it never has to wait and takes no event."""

    def __init__(self, accept: Callable[[object], bool]) -> None:
        self.offer = accept
