"""The Kafka transport of the stack's workers: faust's aiokafka driver, its consumer's commit bookkeeping mended.

After a rebalance faust resumes the partitions it was given before it seeks them to their
committed offsets, so the first records of a partition taken over can reach the agents twice.
The rules drop the second copy by ``seq``, but faust keeps both acknowledgements in its list of
acked offsets, and its next offset to commit is found by a run of consecutive numbers that stops
at the first duplicate: the partition's committed offset then crept forward one record per
commit while the worker was long done with it (seen as a partition that never caught up after
one of two workers was killed). The consumer here drops repeated offsets before that search.
"""

from __future__ import annotations

from faust.transport.drivers import aiokafka as driver
from faust.types import TP


class Consumer(driver.Consumer):
    """faust's aiokafka consumer, whose next commit offset is not held back by an offset acked twice."""

    def _new_offset(self, tp: TP) -> int | None:
        acked = self._acked[tp]
        if len(set(acked)) < len(acked):
            acked[:] = sorted(set(acked))
        return super()._new_offset(tp)


class Transport(driver.Transport):
    """faust's aiokafka transport with the mended consumer."""

    Consumer = Consumer
