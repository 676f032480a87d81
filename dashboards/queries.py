"""The Flux queries of the dashboards, in one place: Grafana runs them, the tests and the report too.

They are written for Grafana's Flux datasource (``v.timeRangeStart``, ``v.timeRangeStop``,
``v.windowPeriod``, ``v.defaultBucket`` and ``${var:regex}`` template variables) and only use
Flux that InfluxDB 1.8 (Flux 0.65) and 2.7 both understand. ``render`` substitutes concrete
values the way Grafana does, so the same text runs through influxdb-client.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

SOURCE = "from(bucket: v.defaultBucket)\n  |> range(start: v.timeRangeStart, stop: v.timeRangeStop)"
STATUS_LOOKBACK = "-30d"  # a device announces itself once per connection: look back far enough
DISTRICT_CODE = "[0-9]{6}"


def _match(**tags: str) -> str:
    """Return a filter that matches tag columns against template variables (All = .*)."""
    return " and ".join(
        _district() if tag == "district" else f"r.{tag} =~ /^${{{var}:regex}}$/" for tag, var in tags.items()
    )


def _district() -> str:
    """Return the district filter: the chosen district codes, and rows that belong to no one district.

    ``district`` is a 6-digit code (GB/T 2260, the first six of a grid cell's code) where a thing is:
    a position's fix, a fixed device, a case's place. A vehicle is in no one district, so its status
    and its alerts carry the city's tag (its name when the grid spans several districts; see
    ``streams/timeseries/schema.py`` ``city_district``), as does a fix outside the grid: those rows
    show whichever districts are chosen, instead of vanishing from every choice but one.
    """
    return f"(r.district =~ /^${{district:regex}}$/ or r.district !~ /^{DISTRICT_CODE}$/)"


def _fields(*names: str) -> str:
    return " or ".join(f'r._field == "{n}"' for n in names)


FLEET = _match(district="district", company="company", vehicle_kind="kind")

QUERIES: dict[str, str] = {
    # Live fleet map: the last position of every truck, coloured by state.
    "fleet_positions": f"""{SOURCE}
  |> filter(fn: (r) => r._measurement == "position" and ({_fields("lat", "lon", "state", "speed_kmh")}))
  |> filter(fn: (r) => {FLEET})
  |> group(columns: ["device_id", "_field"])
  |> sort(columns: ["_time"])
  |> last()
  |> pivot(rowKey: ["_time", "vehicle_kind", "company", "district"], columnKey: ["_field"], valueColumn: "_value")
  |> group()
  |> keep(columns: ["_time", "device_id", "vehicle_kind", "company", "district", "lat", "lon", "state", "speed_kmh"])""",
    # Trails of the trucks over the time range: one table (Grafana's geomap layers read only the first
    # frame, see build.trails_layer), ordered by truck, then oldest first.
    "fleet_tracks": f"""{SOURCE}
  |> filter(fn: (r) => r._measurement == "position" and ({_fields("lat", "lon")}))
  |> filter(fn: (r) => {FLEET})
  |> group(columns: ["device_id", "_field"])
  |> sort(columns: ["_time"])
  |> aggregateWindow(every: v.windowPeriod, fn: last, createEmpty: false)
  |> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")
  |> group()
  |> keep(columns: ["_time", "device_id", "lat", "lon"])
  |> sort(columns: ["device_id", "_time"])""",
    # Stations and bins on the map, with their last fill ratio.
    "facilities_map": f"""{SOURCE}
  |> filter(fn: (r) => r._measurement == "facility" and ({_fields("lat", "lon", "fill_ratio")}))
  |> filter(fn: (r) => {_match(district="district")})
  |> last()
  |> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")
  |> group()
  |> keep(columns: ["_time", "facility_id", "facility_kind", "lat", "lon", "fill_ratio"])""",
    # Construction sites on the map, with their last PM10 reading and limit.
    "sites_map": f"""{SOURCE}
  |> filter(fn: (r) => r._measurement == "site" and ({_fields("lat", "lon", "pm10_ugm3", "pm10_limit_ugm3")}))
  |> filter(fn: (r) => {_match(district="district")})
  |> group(columns: ["site_id", "_field"])
  |> sort(columns: ["_time"])
  |> last()
  |> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")
  |> group()
  |> keep(columns: ["_time", "site_id", "lat", "lon", "pm10_ugm3", "pm10_limit_ugm3"])""",
    # Alerts whose last phase in the range is not `clear` (one row per episode).
    "open_alerts": f"""{SOURCE}
  |> filter(fn: (r) => r._measurement == "alert" and ({_fields("alert_id", "lat", "lon")}))
  |> filter(fn: (r) => {_match(district="district")})
  |> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")
  |> group(columns: ["alert_id"])
  |> sort(columns: ["_time"])
  |> last(column: "_time")
  |> group()
  |> filter(fn: (r) => r.phase != "clear")
  |> keep(columns: ["_time", "alert_id", "rule", "phase", "severity", "matter_code", "subject", "lat", "lon"])
  |> sort(columns: ["_time"], desc: true)""",
    # Alerts opened per time bucket, by rule.
    "alerts_opened": f"""{SOURCE}
  |> filter(fn: (r) => r._measurement == "alert" and r._field == "alert_id" and r.phase == "open")
  |> filter(fn: (r) => {_match(district="district")})
  |> group(columns: ["rule"])
  |> aggregateWindow(every: v.windowPeriod, fn: count, createEmpty: false)""",
    # Tickets whose last state in the range is not closed.
    "open_tickets": f"""{SOURCE}
  |> filter(fn: (r) => r._measurement == "ticket" and r._field == "ticket_id")
  |> filter(fn: (r) => {_match(district="district")})
  |> group(columns: ["_value"])
  |> sort(columns: ["_time"])
  |> last(column: "_time")
  |> group()
  |> filter(fn: (r) => r.state != "closed" and r.state != "void")
  |> rename(columns: {{_value: "ticket_id"}})
  |> keep(columns: ["_time", "ticket_id", "state", "rule", "subject"])""",
    # Fill ratio of every station / bin.
    "facility_fill": f"""{SOURCE}
  |> filter(fn: (r) => r._measurement == "facility" and r._field == "fill_ratio")
  |> filter(fn: (r) => {_match(district="district", facility_kind="kind")})
  |> group(columns: ["facility_id"])
  |> aggregateWindow(every: v.windowPeriod, fn: mean, createEmpty: false)""",
    # Forecast time to full: the current fill and the mean filling rate (emptying ignored).
    "facility_forecast": f"""fill = {SOURCE}
  |> filter(fn: (r) => r._measurement == "facility" and r._field == "fill_ratio")
  |> filter(fn: (r) => {_match(district="district", facility_kind="kind")})
  |> group(columns: ["facility_id"])
rate = fill
  |> aggregateWindow(every: 5m, fn: mean, createEmpty: false)
  |> derivative(unit: 1h, nonNegative: false)
  |> filter(fn: (r) => r._value > 0.0)
  |> mean()
  |> rename(columns: {{_value: "rate_per_h"}})
  |> keep(columns: ["facility_id", "rate_per_h"])
current = fill
  |> last()
  |> rename(columns: {{_value: "fill_ratio"}})
  |> keep(columns: ["facility_id", "fill_ratio", "_time"])
join(tables: {{rate: rate, current: current}}, on: ["facility_id"])
  |> map(fn: (r) => ({{_time: r._time, facility_id: r.facility_id, fill_ratio: r.fill_ratio, rate_per_h: r.rate_per_h,
      hours_to_full: if r.fill_ratio >= 1.0 then 0.0 else (1.0 - r.fill_ratio) / r.rate_per_h}}))
  |> group()
  |> sort(columns: ["hours_to_full"])""",
    # PM10 of every site against its limit (the city's PM10 limit, written with each reading).
    "site_pm10": f"""{SOURCE}
  |> filter(fn: (r) => r._measurement == "site" and ({_fields("pm10_ugm3", "pm10_limit_ugm3")}))
  |> filter(fn: (r) => {_match(district="district", site_id="site")})
  |> group(columns: ["site_id", "_field"])
  |> sort(columns: ["_time"])
  |> aggregateWindow(every: v.windowPeriod, fn: mean, createEmpty: false)""",
    # PM10 of the background stations (背景站), which differential sites are judged against.
    "background_pm10": f"""{SOURCE}
  |> filter(fn: (r) => r._measurement == "background_pm10" and r._field == "pm10_ugm3")
  |> filter(fn: (r) => {_match(district="district")})
  |> group(columns: ["device_id", "_field"])
  |> sort(columns: ["_time"])
  |> aggregateWindow(every: v.windowPeriod, fn: mean, createEmpty: false)""",
    # Noise of every site against its limit (the city's day / night limit, written with each reading).
    "site_noise": f"""{SOURCE}
  |> filter(fn: (r) => r._measurement == "site" and ({_fields("noise_dba", "noise_limit_dba")}))
  |> filter(fn: (r) => {_match(district="district", site_id="site")})
  |> group(columns: ["site_id", "_field"])
  |> sort(columns: ["_time"])
  |> aggregateWindow(every: v.windowPeriod, fn: mean, createEmpty: false)""",
    # Share of readings over the limit, per site, by day and by night.
    "site_exceedance": f"""{SOURCE}
  |> filter(fn: (r) => r._measurement == "site" and ({_fields("pm10_ugm3", "pm10_limit_ugm3", "noise_dba", "noise_limit_dba")}))
  |> filter(fn: (r) => {_match(district="district", site_id="site")})
  |> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")
  |> map(fn: (r) => ({{_time: r._time, site_id: r.site_id, period: r.period,
      pm10_over: if r.pm10_ugm3 > r.pm10_limit_ugm3 then 1.0 else 0.0,
      noise_over: if r.noise_dba > r.noise_limit_dba then 1.0 else 0.0}}))
  |> group(columns: ["site_id", "period"])
  |> reduce(identity: {{n: 0.0, pm10: 0.0, noise: 0.0}},
      fn: (r, accumulator) => ({{n: accumulator.n + 1.0, pm10: accumulator.pm10 + r.pm10_over,
        noise: accumulator.noise + r.noise_over}}))
  |> map(fn: (r) => ({{site_id: r.site_id, period: r.period, readings: r.n,
      pm10_over_pct: 100.0 * r.pm10 / r.n, noise_over_pct: 100.0 * r.noise / r.n}}))
  |> group()
  |> sort(columns: ["site_id", "period"])""",
    # Online rate (% of devices whose last status is online) by company and kind.
    "device_online_rate": f"""from(bucket: v.defaultBucket)
  |> range(start: {STATUS_LOOKBACK}, stop: v.timeRangeStop)
  |> filter(fn: (r) => r._measurement == "device_status" and r._field == "online")
  |> filter(fn: (r) => {_match(district="district", company="company", device_kind="kind")})
  |> last()
  |> map(fn: (r) => ({{r with _value: float(v: r._value) * 100.0}}))
  |> group(columns: ["company", "device_kind"])
  |> mean()
  |> group()
  |> sort(columns: ["company", "device_kind"])""",
    # Devices whose last status is offline, with the reason they gave.
    "devices_offline": f"""from(bucket: v.defaultBucket)
  |> range(start: {STATUS_LOOKBACK}, stop: v.timeRangeStop)
  |> filter(fn: (r) => r._measurement == "device_status" and r._field == "state")
  |> filter(fn: (r) => {_match(district="district", company="company", device_kind="kind")})
  |> last()
  |> group()
  |> filter(fn: (r) => r._value == "offline")
  |> keep(columns: ["_time", "device_id", "device_kind", "company", "district"])""",
}


def district_variable_query(lookback: str = STATUS_LOOKBACK) -> str:
    """Return the query of the district variable: the district codes the city's fixed devices stand in."""
    return (
        f"from(bucket: v.defaultBucket)\n  |> range(start: {lookback})\n"
        f'  |> filter(fn: (r) => r._measurement == "device_status" and r.district =~ /^{DISTRICT_CODE}$/)\n'
        '  |> keep(columns: ["district"])\n  |> group()\n  |> distinct(column: "district")'
    )


def variable_query(measurement: str, tag: str, lookback: str = STATUS_LOOKBACK) -> str:
    """Return the query of a template variable: the values a tag takes in a measurement."""
    return (
        f"from(bucket: v.defaultBucket)\n  |> range(start: {lookback})\n"
        f'  |> filter(fn: (r) => r._measurement == "{measurement}")\n'
        f'  |> keep(columns: ["{tag}"])\n  |> group()\n  |> distinct(column: "{tag}")'
    )


def _flux_time(t: datetime) -> str:
    utc = t.astimezone(UTC) if t.utcoffset() is not None else t
    return utc.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _duration(d: timedelta) -> str:
    return f"{max(1, int(d.total_seconds() * 1000))}ms"


def regex_value(values: Sequence[str] | None) -> str:
    """Format variable values as Grafana's ``:regex`` does (None = All = ``.*``)."""
    if not values:
        return ".*"
    escaped = [re.sub(r"([\\^$.|?*+()\[\]{}/])", r"\\\1", v) for v in values]
    return escaped[0] if len(escaped) == 1 else f"({'|'.join(escaped)})"


def render(
    query: str,
    *,
    bucket: str,
    start: datetime,
    stop: datetime,
    window: timedelta,
    variables: Mapping[str, Sequence[str] | None] | None = None,
) -> str:
    """Substitute Grafana's macros and ``${var:regex}`` variables with concrete values."""
    text = (
        query.replace("v.defaultBucket", f'"{bucket}"')
        .replace("v.timeRangeStart", _flux_time(start))
        .replace("v.timeRangeStop", _flux_time(stop))
        .replace("v.windowPeriod", _duration(window))
    )
    variables = variables or {}
    return re.sub(r"\$\{(\w+):regex\}", lambda m: regex_value(variables.get(m.group(1))), text)


def run(query_api: Any, name: str, *, queries: Mapping[str, str] = QUERIES, **kwargs: Any) -> list[dict[str, Any]]:
    """Render a named query of ``queries`` (see ``render``) and return its records as dicts, every table in order."""
    tables = query_api.query(render(queries[name], **kwargs))
    return [dict(r.values) for t in tables for r in t.records]
