"""Reassembly of sub-packaged messages (header bit 13: package total and index, index from 1).

The parts of one message carry consecutive serials, so a message is keyed by phone, message id, total and
the serial of its first part (``serial - index + 1``, modulo 2^16). A repeated part replaces the earlier
copy. A header without package words passes its body straight through. FrameError("bad_subpackage") on a
total outside 1..max_packages or an index outside 1..total. Pure: no clock, so stale partial messages are
bounded by count (the oldest is evicted, counted in ``evicted``), not by age.
"""

from __future__ import annotations

from jt808.errors import FrameError
from jt808.frame import Header

_Key = tuple[str, int, int, int]  # phone, msg_id, first serial, total


class Reassembler:
    """Collect sub-packages until a message is whole; at most ``max_pending`` partial messages at a time."""

    __slots__ = ("_pending", "evicted", "max_packages", "max_pending")

    def __init__(self, max_packages: int = 64, max_pending: int = 16) -> None:
        if max_packages < 1 or max_pending < 1:
            raise ValueError(f"max_packages and max_pending must be >= 1, got {max_packages}, {max_pending}")
        self.max_packages = max_packages
        self.max_pending = max_pending
        self.evicted = 0  # partial messages dropped to make room
        self._pending: dict[_Key, dict[int, bytes]] = {}

    @property
    def pending(self) -> int:
        """Partial messages held."""
        return len(self._pending)

    def add(self, header: Header, body: bytes) -> bytes | None:
        """Return the whole body once every part has arrived (at once for an unpackaged one), else None."""
        if header.package is None:
            return body
        total, index = header.package
        if not 1 <= total <= self.max_packages:
            raise FrameError("bad_subpackage", f"package total {total} outside 1..{self.max_packages}")
        if not 1 <= index <= total:
            raise FrameError("bad_subpackage", f"package index {index} outside 1..{total}")
        if total == 1:
            return body
        key = (header.phone, header.msg_id, (header.serial - index + 1) & 0xFFFF, total)
        parts = self._pending.get(key)
        if parts is None:
            while len(self._pending) >= self.max_pending:
                del self._pending[next(iter(self._pending))]
                self.evicted += 1
            parts = self._pending[key] = {}
        parts[index] = body
        if len(parts) < total:
            return None
        del self._pending[key]
        return b"".join(parts[i] for i in range(1, total + 1))

    def missing(self, header: Header) -> tuple[int, ...]:
        """Indexes (from 1) still missing from the message ``header`` belongs to, for a re-send request."""
        if header.package is None:
            return ()
        total, index = header.package
        parts = self._pending.get((header.phone, header.msg_id, (header.serial - index + 1) & 0xFFFF, total))
        if parts is None:
            return ()
        return tuple(i for i in range(1, total + 1) if i not in parts)
