"""The faust codec of the stage tables: the table holds ``DeviceState`` objects, the changelog their JSON.

A table with this codec keeps decoded states in memory, so a stage reads a device's state without
decoding it and writes it without encoding it; the JSON is made once, when faust sends the
changelog record, and read once, when a worker restores the table. The changelog's bytes are the
same JSON as before the codec existed (``DeviceState.to_dict``), so older changelogs restore.
A value read from the changelog stays bytes (``streams.codec.Encoded``) until a stage uses it, so a
restore and a standby replica only copy records; a value that is not a device state (the facts
table's record of the source partitions' clocks) decodes to the plain JSON it is.
"""

from __future__ import annotations

from typing import Any

import orjson
from faust.serializers.codecs import Codec

from rules.engine import DeviceState
from streams.codec import Encoded


class StateCodec(Codec):
    """JSON on the wire, ``DeviceState`` (or a plain dict for a bookkeeping record) in the table."""

    def _dumps(self, obj: Any) -> bytes:
        """Encode a state (or a plain JSON value) as JSON bytes."""
        return orjson.dumps(obj.to_serialisable() if isinstance(obj, DeviceState) else obj)

    def _loads(self, s: bytes) -> Any:
        """Keep a changelog value as read: ``streams.codec.decoded`` decodes it when it is used."""
        return Encoded(s)
