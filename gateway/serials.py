"""The contract's ``seq`` from a terminal's 16-bit frame serial numbers.

A terminal numbers its frames 0..65535 and wraps; it restarts from 0 when it reboots; it sends a
frame again, with the same serial, when no answer came. The engine drops an event as a redelivery
when its ``seq`` and its time are both not newer than the device's last (``rules.engine``), so:

- the same frame must give the same ``seq`` (a resend stays a duplicate);
- every new frame must give a larger one (a blind-area upload, older in event time, stays new);
- a batch frame (0x0704) gives each of its reports its own ``seq``.

``seq = ((connection_s * 256 + epoch) * 65536 + serial) * 64 + item``: ``connection_s`` is the
second the connection authenticated (so a reconnect, to this gateway or another behind the same
load balancer, only ever counts up), ``epoch`` counts the wraps inside the connection (serial
arithmetic: a serial more than half the range behind the last one is the next lap, one more than
half ahead is a late resend from the lap before), ``item`` is the report's place in a batch frame
(63 is kept for the status the gateway publishes itself). Fits a signed 64-bit ``seq`` until 2242.

One case is beyond the serials: a report the gateway published but could not answer before it died
comes again on the terminal's next connection under a larger ``seq``. It is the device's newest event,
and the engine drops it by its fingerprint (``rules.engine.fingerprint``).
"""

from __future__ import annotations

from dataclasses import dataclass

SPAN = 65_536
HALF = SPAN // 2
ITEMS = 64
STATUS_ITEM = ITEMS - 1
MAX_EPOCH = 255


@dataclass(slots=True)
class SerialClock:
    """Turns one connection's frame serials into increasing contract ``seq`` numbers."""

    connection_s: int
    epoch: int = 1  # 0 is the lap before the first, for a resend from just before the first wrap
    last: int | None = None

    def seq(self, serial: int, item: int = 0) -> int:
        """Return the ``seq`` of the report ``item`` of the frame with this serial."""
        if not 0 <= serial < SPAN or not 0 <= item < ITEMS:
            raise ValueError(f"serial {serial} / item {item} out of range")
        epoch = self._epoch_of(serial)
        return ((self.connection_s * (MAX_EPOCH + 1) + epoch) * SPAN + serial) * ITEMS + item

    def status_seq(self) -> int:
        """Return a ``seq`` after every frame so far, for a status the gateway publishes (online / offline)."""
        serial = self.last if self.last is not None else 0
        return self.seq(serial, STATUS_ITEM)

    def _epoch_of(self, serial: int) -> int:
        if self.last is None:
            self.last = serial
            return self.epoch
        if serial < self.last - HALF:  # wrapped (or the terminal rebooted): a new lap
            self.epoch = min(self.epoch + 1, MAX_EPOCH)
            self.last = serial
            return self.epoch
        if serial > self.last + HALF:  # a resend from the previous lap
            return max(self.epoch - 1, 0)
        self.last = max(self.last, serial)
        return self.epoch
