"""The Kafka transport of the stack's workers: faust's aiokafka driver, its consumer's commit bookkeeping mended.

After a rebalance faust resumes the partitions it was given before it seeks them to their
committed offsets, so the first records of a partition taken over can reach the agents twice.
The rules drop the second copy by ``seq``, but faust keeps both acknowledgements in its list of
acked offsets, and its next offset to commit is found by a run of consecutive numbers that stops
at the first duplicate: the partition's committed offset then crept forward one record per
commit while the worker was long done with it (seen as a partition that never caught up after
one of two workers was killed). The consumer here drops repeated offsets before that search.

It also tells a partition whose commit waits for an offset nothing is processing any more
(``stalled``): records after it were processed and acknowledged, the record itself was
neither acknowledged nor is it in flight, so faust will never commit past it. faust's fetch loop
drops a record whose offset is below the partition's read offset (``DROPPED MESSAGE ROFF``) and
moves the read offset on even when a rebalance cut the record's delivery short; seen in about one
run in five of a worker restarted while its partitions had a backlog, and once in about 25
two-worker benchmark runs under overload. ``reread`` seeks such a partition back to its committed
offset, so the records are fetched and processed again (the rules drop what they saw by ``seq``,
and the repeated acknowledgements are dropped above); a worker still stalled a while later exits
so that its restart reads the partition again.
"""

from __future__ import annotations

from faust.transport.drivers import aiokafka as driver
from faust.types import TP


class Consumer(driver.Consumer):
    """faust's aiokafka consumer, whose next commit offset is not held back by an offset acked twice."""

    def _new_offset(self, tp: TP) -> int | None:
        acked = self._acked[tp]
        unique = set(acked)
        if len(unique) < len(acked):
            acked[:] = sorted(unique)
        return super()._new_offset(tp)

    def stalled(self) -> dict[TP, tuple[int, int]]:
        """Return the partitions whose next commit waits for offsets no longer being processed: (committed, first acked)."""
        in_flight = {(m.tp, m.offset) for m in list(self._unacked_messages)}
        stuck: dict[TP, tuple[int, int]] = {}
        for tp, acked in list(self._acked.items()):
            committed = self._committed_offset.get(tp)
            first = min(acked, default=None)
            if first is None or committed is None or first - committed <= 1:  # faust commits past a gap of one
                continue
            gap = self._gap.get(tp)
            if not any((tp, o) in in_flight or (gap is not None and gap.overlaps(o)) for o in range(committed, first)):
                stuck[tp] = (committed, first)
        return stuck

    def lag(self) -> dict[TP, int]:
        """Return, per assigned partition, the records after the last committed one (unknown ones left out)."""
        lags: dict[TP, int] = {}
        for tp in self.assignment():
            end, committed = self.highwater(tp), self._committed_offset.get(tp)
            if end is not None and committed is not None:
                lags[tp] = max(0, end - committed - 1)  # faust keeps the last committed offset, Kafka the next
        return lags

    async def reread(self, tp: TP, offset: int) -> None:
        """Fetch a partition again from an offset (its committed one): what faust dropped comes again."""
        await self.seek_wait({tp: offset})


class Transport(driver.Transport):
    """faust's aiokafka transport with the mended consumer."""

    Consumer = Consumer
