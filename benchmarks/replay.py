"""Benchmark: ``citywatch replay`` speed on an archive of a scaled city (ingest's JSONL, read back and judged).

Scales the demo city to N trucks, writes ``--hours`` of its scenario as ingest's archive would, then
times the replay (reading and validating the lines included) and reports events/s, the time a day
of that fleet would take at that speed, and peak memory::

    .venv/bin/python -m benchmarks.replay --trucks 1000 --hours 1
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from pathlib import Path

from citywatch.city import load_city
from citywatch.replay import replay
from devices.catalog import STREAM_OF, Accepted
from devices.sim.generator import generate
from devices.sim.scale import write_scaled_city
from devices.sim.scenario import load_scenario
from ingest.archive import archive_line, read_archive

REPO = Path(__file__).resolve().parent.parent
START_MS = 1_795_000_000_000


def main() -> None:
    """Write the archive, replay it, print and return the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trucks", type=int, default=1000)
    parser.add_argument("--hours", type=float, default=1.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cw-replay-") as tmp:
        made = write_scaled_city(
            REPO / "cities" / "demo", Path(tmp) / "s", args.trucks, duration_s=round(args.hours * 3600)
        )
        city = load_city(made.city_dir)
        scenario = load_scenario(made.scenario, city)
        archive = Path(tmp) / "events.jsonl"
        began = time.perf_counter()
        with archive.open("wb") as out:
            for event in generate(city, scenario, 7, START_MS):
                out.write(archive_line(Accepted(event, STREAM_OF[type(event)])))
        written_s = time.perf_counter() - began
        result = replay(city, read_archive([archive]))
        figures = {
            "trucks": args.trucks,
            "hours": args.hours,
            "events": result.events,
            "archive_mib": round(archive.stat().st_size / 2**20, 1),
            "archive_written_s": round(written_s, 1),
            "replay_s": round(result.seconds, 1),
            "events_per_s": round(result.rate),
            "a_day_would_take_min": round(result.seconds * 24 / args.hours / 60, 1),
            "cases": len(result.cases()),
            "planted": made.planted,
            "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        }
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
