"""What the time series say of devices over a range: messages per device, up minutes, status changes.

The monthly report's online rate (``tickets/monthly.py``) needs three things InfluxDB holds: how
many telemetry messages each device sent (one point per message; a redelivered message has the same
series and time, so InfluxDB keeps it once), the minutes in which the platform received anything,
and each device's birth / last-will statuses (with the last one before the range, which says what
the device was when the range began). Flux as in ``dashboards/queries.py``: InfluxDB 1.8 and 2.7.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from dashboards.queries import run

TELEMETRY = ("position", "facility", "site", "background_pm10", "camera_event")
STATUS_LOOKBACK = timedelta(days=30)
_MEASURED = " or ".join(f'r._measurement == "{m}"' for m in TELEMETRY)
_TELEMETRY = f"""from(bucket: v.defaultBucket)
  |> range(start: v.timeRangeStart, stop: v.timeRangeStop)
  |> filter(fn: (r) => ({_MEASURED}) and r._field == "seq")"""

QUERIES = {
    "messages_per_device": f"""{_TELEMETRY}
  |> group(columns: ["device_id"])
  |> count()
  |> group()
  |> keep(columns: ["device_id", "_value"])""",
    "up_minutes": f"""{_TELEMETRY}
  |> group()
  |> aggregateWindow(every: 1m, fn: count, createEmpty: false, timeSrc: "_start")
  |> keep(columns: ["_time", "_value"])""",
    "status_changes": """from(bucket: v.defaultBucket)
  |> range(start: v.timeRangeStart, stop: v.timeRangeStop)
  |> filter(fn: (r) => r._measurement == "device_status" and r._field == "online")
  |> group(columns: ["device_id"])
  |> sort(columns: ["_time"])
  |> keep(columns: ["device_id", "_time", "_value"])""",
}


@dataclass(frozen=True, slots=True)
class DeviceTraffic:
    """Messages per device, messages per up minute (start ms) and status changes (ts ms, online) per device."""

    received: dict[str, int]
    up_minutes: dict[int, int]
    statuses: dict[str, list[tuple[int, bool]]]


def _rows(query_api: Any, name: str, bucket: str, start: datetime, stop: datetime) -> list[dict[str, Any]]:
    return run(query_api, name, queries=QUERIES, bucket=bucket, start=start, stop=stop, window=timedelta(minutes=1))


def _ms(t: datetime) -> int:
    return int(t.timestamp() * 1000)


def fetch(query_api: Any, bucket: str, start: datetime, stop: datetime) -> DeviceTraffic:
    """Query InfluxDB for the devices' traffic in [start, stop)."""
    received = {
        str(r["device_id"]): int(r["_value"]) for r in _rows(query_api, "messages_per_device", bucket, start, stop)
    }
    minutes = {
        _ms(r["_time"]): int(r["_value"]) for r in _rows(query_api, "up_minutes", bucket, start, stop) if r["_value"]
    }
    statuses: dict[str, list[tuple[int, bool]]] = defaultdict(list)
    before = {
        str(r["device_id"]): r for r in _rows(query_api, "status_changes", bucket, start - STATUS_LOOKBACK, start)
    }
    for device, r in before.items():  # rows come in time order per device: the last one stays
        statuses[device].append((_ms(r["_time"]), bool(r["_value"])))
    for r in _rows(query_api, "status_changes", bucket, start, stop):
        statuses[str(r["device_id"])].append((_ms(r["_time"]), bool(r["_value"])))
    return DeviceTraffic(received, minutes, dict(statuses))
