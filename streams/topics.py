"""The Kafka topics of the stack, created up front with the configured partition count.

faust only creates its own internal topics and drops source topics that do not exist yet
from its subscription, so every process that needs them (ingest, workers) ensures them first.
"""

from __future__ import annotations

import contextlib

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from devices.catalog import ALL_TOPICS, SINGLE_PARTITION


def _partitions(name: str, prefix: str, default: int) -> int:
    return 1 if name.removeprefix(prefix) in SINGLE_PARTITION else default


async def ensure_topics(bootstrap: str, prefix: str, partitions: int, replication: int = 1) -> list[str]:
    """Create the stack's topics that do not exist yet; return the names created."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="citywatch-admin")
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [prefix + t for t in ALL_TOPICS if prefix + t not in existing]
        if missing:
            new = [
                NewTopic(name, num_partitions=_partitions(name, prefix, partitions), replication_factor=replication)
                for name in missing
            ]
            with contextlib.suppress(TopicAlreadyExistsError):  # another process created them first
                await admin.create_topics(new)
        return missing
    finally:
        await admin.close()
