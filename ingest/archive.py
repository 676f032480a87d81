"""The event archive: ingest appends every accepted event to a JSONL file before forwarding it.

One line per event, ``{"stream": "positions", "event": {...}}`` (the event as its stream carries
it), in the order ingest accepted them; a new file each UTC day (``events-YYYY-MM-DD.jsonl``).
``citywatch replay`` reads such files back through the engine. A batch is written (and flushed)
before it is forwarded, so the archive holds everything the pipeline saw; a crash between the two
makes the broker deliver the batch again and the archive hold it twice, which a replay drops like
the live engine does (by device and seq).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO

import orjson

from devices.catalog import MODEL_OF, Accepted, DeadLetter, decode_event
from devices.contracts import Message
from ingest.service import Sink


class ArchiveSink:
    """A sink that appends accepted events to the day's archive file, then hands the batch on."""

    def __init__(self, directory: Path, inner: Sink) -> None:
        self.directory, self.inner = directory, inner
        self._day = ""
        self._file: IO[bytes] | None = None

    async def send(self, accepted: Sequence[Accepted], rejected: Sequence[DeadLetter]) -> None:
        """Archive the accepted events (flushed), then forward the batch."""
        if accepted:
            out = self._file_for(time.strftime("%Y-%m-%d", time.gmtime()))
            out.write(b"".join(archive_line(a) for a in accepted))
            out.flush()
        await self.inner.send(accepted, rejected)

    def _file_for(self, day: str) -> IO[bytes]:
        if self._file is None or day != self._day:
            self.close()
            self.directory.mkdir(parents=True, exist_ok=True)
            self._file, self._day = (self.directory / f"events-{day}.jsonl").open("ab"), day
        return self._file

    def close(self) -> None:
        """Close the current file."""
        if self._file is not None:
            self._file.close()
            self._file = None


def archive_line(accepted: Accepted) -> bytes:
    """Return one archive line for an accepted event."""
    return b'{"stream":"%s","event":%s}\n' % (accepted.stream.encode(), accepted.event.model_dump_json().encode())


def read_archive(paths: Sequence[Path]) -> Iterator[Message]:
    """Yield the events of archive files in order; a line that is not an archived event raises, naming file and line."""
    for path in paths:
        with path.open("rb") as lines:
            for number, line in enumerate(lines, 1):
                if not line.strip():
                    continue
                try:
                    record = orjson.loads(line)
                    stream = record["stream"]
                    if stream not in MODEL_OF:
                        raise ValueError(f"unknown stream {stream!r}")
                    yield decode_event(stream, orjson.dumps(record["event"]))
                except (ValueError, KeyError, TypeError) as exc:
                    raise ValueError(f"{path}:{number}: not an archived event: {exc}") from exc
