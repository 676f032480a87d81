"""Draw the key dashboard panels to PNG from the dashboards' own Flux queries (no Grafana needed).

``write_report`` runs the named queries of ``dashboards/queries.py`` over a time range and draws
three figures: the fleet map (trails, trucks by state, corridors, stations, sites, open alerts),
PM10 and noise against their limits, and fill levels with the forecast time to full.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import matplotlib.dates as mdates
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from dashboards.build import STATE_COLOURS
from dashboards.queries import run
from devices.inventory import City
from rules.params import params_of

Rows = list[dict[str, Any]]
FOOTER = "Data: InfluxDB, queries {names} (dashboards/queries.py, as in the Grafana dashboards)"
REPORT_QUERIES = (
    "fleet_tracks",
    "fleet_positions",
    "facilities_map",
    "sites_map",
    "open_alerts",
    "site_pm10",
    "background_pm10",
    "site_noise",
    "facility_fill",
    "facility_forecast",
)


@dataclass(frozen=True)
class ReportRange:
    """The time range and bucket size of a report."""

    start: datetime
    stop: datetime

    @property
    def window(self) -> timedelta:
        """Return the aggregation window: about 120 points over the range, at least 10 s."""
        return max(timedelta(seconds=10), (self.stop - self.start) / 120)


def fetch(query_api: Any, bucket: str, span: ReportRange) -> dict[str, Rows]:
    """Run every query the report draws and return the rows by query name."""
    kw: dict[str, Any] = {"bucket": bucket, "start": span.start, "stop": span.stop, "window": span.window}
    return {name: run(query_api, name, **kw) for name in REPORT_QUERIES}


def _figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), dpi=110, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _footer(fig: Figure, names: str) -> None:
    fig.supxlabel(FOOTER.format(names=names), fontsize=7, color="#666666", x=0.01, ha="left")


def _local_axis(ax: Axes, zone: ZoneInfo) -> None:
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M", tz=zone))
    ax.set_xlabel(f"local time ({zone.key})")
    ax.grid(True, alpha=0.3)


def _by(rows: Rows, key: str) -> dict[str, Rows]:
    groups: dict[str, Rows] = defaultdict(list)
    for r in rows:
        groups[str(r.get(key))].append(r)
    return dict(sorted(groups.items()))


def draw_map(data: dict[str, Rows], city: City, span: ReportRange, path: Path) -> Path:
    """Draw the fleet map panel: corridors, trails, trucks by state, stations, sites, open alerts."""
    fig = _figure(13, 8.5)
    ax = fig.add_subplot()
    for i, permit in enumerate(city.permits):
        lons, lats = zip(*permit.route, strict=True)
        ax.plot(
            lons,
            lats,
            color="#3274d9",
            lw=7,
            alpha=0.25,
            solid_capstyle="round",
            label="permitted corridor" if i == 0 else None,
        )
    for i, (_device, track) in enumerate(_by(data["fleet_tracks"], "device_id").items()):
        ax.plot(
            [r["lon"] for r in track],
            [r["lat"] for r in track],
            color="#7a7a7a",
            lw=0.8,
            alpha=0.6,
            label="trail" if i == 0 else None,
        )
    _draw_trucks(ax, data["fleet_positions"])
    _draw_places(ax, data["facilities_map"], data["sites_map"])
    for i, a in enumerate(data["open_alerts"]):
        ax.scatter(
            a["lon"],
            a["lat"],
            marker="o",
            s=520,
            facecolor="none",
            edgecolor="red",
            lw=2.5,
            zorder=6,
            label="open alert" if i == 0 else None,
        )
        ax.annotate(
            f"{a['rule']} ({a['severity']})",
            (a["lon"], a["lat"]),
            xytext=(0, -22),
            textcoords="offset points",
            ha="center",
            fontsize=8,
            color="red",
            weight="bold",
        )
    ax.set_aspect(1 / math.cos(math.radians(city.meta.center[1])))
    ax.set_xlabel("longitude (°E)")
    ax.set_ylabel("latitude (°N)")
    ax.grid(True, alpha=0.2)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, framealpha=0.9)
    zone = ZoneInfo(city.meta.timezone)
    ax.set_title(
        f"Live fleet map — last positions at {span.stop.astimezone(zone):%Y-%m-%d %H:%M} {zone.key} "
        f"({len(data['fleet_positions'])} trucks, {len(data['open_alerts'])} open alerts)"
    )
    _footer(fig, "fleet_tracks, fleet_positions, facilities_map, sites_map, open_alerts")
    fig.savefig(path)
    return path


def _draw_trucks(ax: Axes, positions: Rows) -> None:
    for state, colour in STATE_COLOURS.items():
        rows = [r for r in positions if r.get("state") == state]
        if rows:
            ax.scatter(
                [r["lon"] for r in rows],
                [r["lat"] for r in rows],
                s=70,
                color=colour,
                edgecolor="black",
                lw=0.6,
                zorder=5,
                label=f"truck: {state}",
            )
    for r in positions:
        ax.annotate(r["device_id"], (r["lon"], r["lat"]), xytext=(5, 4), textcoords="offset points", fontsize=7)


def _fill_colour(fill: float) -> str:
    return "red" if fill >= 0.95 else "orange" if fill >= 0.8 else "green"


def _draw_places(ax: Axes, facilities: Rows, sites: Rows) -> None:
    for i, f in enumerate(facilities):
        ax.scatter(
            f["lon"],
            f["lat"],
            marker="s",
            s=110,
            color=_fill_colour(f["fill_ratio"]),
            edgecolor="black",
            zorder=4,
            label="station / bin (fill: green < 80 % ≤ orange < 95 % ≤ red)" if i == 0 else None,
        )
        ax.annotate(
            f"{f['facility_id']} {f['fill_ratio']:.0%}",
            (f["lon"], f["lat"]),
            xytext=(7, -10),
            textcoords="offset points",
            fontsize=7,
        )
    for i, s in enumerate(sites):
        over = s["pm10_ugm3"] > s["pm10_limit_ugm3"]
        ax.scatter(
            s["lon"],
            s["lat"],
            marker="^",
            s=140,
            color="red" if over else "#b877d9",
            edgecolor="black",
            zorder=4,
            label="construction site (red: PM10 over limit)" if i == 0 else None,
        )
        ax.annotate(
            f"{s['site_id']} PM10 {s['pm10_ugm3']:.0f}",
            (s["lon"], s["lat"]),
            xytext=(7, 6),
            textcoords="offset points",
            fontsize=7,
        )


def _series(ax: Axes, rows: Rows, value: str, limit: str, unit: str) -> float:
    """Plot each site's values and each distinct limit series once; return the highest value."""
    limits: dict[tuple[Any, ...], list[str]] = defaultdict(list)
    top = 0.0
    for site, group in _by(rows, "site_id").items():
        values = [r for r in group if r["_field"] == value]
        ax.plot([r["_time"] for r in values], [r["_value"] for r in values], lw=1.5, label=site)
        series = tuple((r["_time"], r["_value"]) for r in group if r["_field"] == limit)
        limits[series].append(site)
        top = max([top, *(r["_value"] for r in group)])
    for series, sites in limits.items():
        label = "limit" if len(limits) == 1 else f"limit ({', '.join(sites)})"
        ax.step(
            [t for t, _ in series],
            [v for _, v in series],
            where="post",
            ls="--",
            lw=2,
            color="red",
            alpha=0.85,
            label=label,
        )
    ax.set_ylabel(unit)
    ax.legend(fontsize=8, ncol=4, loc="upper left")
    return top


def draw_sites(data: dict[str, Rows], city: City, path: Path) -> Path:
    """Draw PM10 and noise of every site against its limit (the city's rules: ``params_of(city)``)."""
    zone = ZoneInfo(city.meta.timezone)
    fig = _figure(11, 8)
    pm10, noise = fig.subplots(2, 1, sharex=True)
    for station, rows in _by(data.get("background_pm10", []), "device_id").items():
        pm10.plot(
            [r["_time"] for r in rows],
            [r["_value"] for r in rows],
            lw=1.2,
            ls=":",
            color="grey",
            label=f"background {station}",
        )
    top = _series(pm10, data["site_pm10"], "pm10_ugm3", "pm10_limit_ugm3", "PM10 (µg/m³)")
    top = max([top, *(r["_value"] for r in data.get("background_pm10", []))])
    pm10.set_title("Construction sites — PM10 against the limit (dashed), background stations (dotted)")
    pm10.set_ylim(0, top * 1.25 + 1)
    top = _series(noise, data["site_noise"], "noise_dba", "noise_limit_dba", "noise (dB(A))")
    noise.set_ylim(40, top + 8)
    n = params_of(city).noise
    noise.set_title(
        f"Noise against the limit (dashed): {n.day_limit_dba:g} dB(A) by day, "
        f"{n.night_limit_dba:g} dB(A) at night ({n.night})"
    )
    for ax in (pm10, noise):
        _local_axis(ax, zone)
    _footer(fig, "site_pm10, background_pm10, site_noise")
    fig.savefig(path)
    return path


def draw_facilities(data: dict[str, Rows], city: City, path: Path) -> Path:
    """Draw fill levels with the overflow bands, and the forecast time to full per facility."""
    zone = ZoneInfo(city.meta.timezone)
    fig = _figure(11, 8)
    fill, forecast = fig.subplots(2, 1, height_ratios=[3, 2])
    for facility, rows in _by(data["facility_fill"], "facility_id").items():
        fill.plot([r["_time"] for r in rows], [r["_value"] * 100 for r in rows], lw=1.5, label=facility)
    fill.axhspan(80, 95, color="orange", alpha=0.12, label="slight overflow band (80 %)")
    fill.axhspan(95, 110, color="red", alpha=0.12, label="severe overflow band (95 %)")
    fill.set_ylim(0, 110)
    fill.set_ylabel("fill (%)")
    fill.set_title("Stations and bins — fill level")
    fill.legend(fontsize=8, ncol=4, loc="upper left")
    _local_axis(fill, zone)
    _draw_forecast(forecast, data["facility_forecast"])
    _footer(fig, "facility_fill, facility_forecast")
    fig.savefig(path)
    return path


def _draw_forecast(ax: Axes, rows: Rows) -> None:
    rows = sorted(rows, key=lambda r: r["hours_to_full"], reverse=True)
    hours = [min(r["hours_to_full"], 48.0) for r in rows]
    colours = ["red" if h < 1 else "orange" if h < 4 else "green" for h in hours]
    bars = ax.barh([r["facility_id"] for r in rows], [max(h, 0.08) for h in hours], color=colours)
    for bar, r in zip(bars, rows, strict=True):
        h = r["hours_to_full"]
        when = f"{h:.1f} h" if h >= 1 else f"{h * 60:.0f} min"
        ax.annotate(
            f"{when}  (now {r['fill_ratio']:.0%}, +{r['rate_per_h']:.0%}/h)",
            (bar.get_width(), bar.get_y() + bar.get_height() / 2),
            xytext=(4, 0),
            textcoords="offset points",
            va="center",
            fontsize=8,
        )
    ax.set_xlabel("forecast time to full (hours, capped at 48; red < 1 h, orange < 4 h)")
    ax.set_title("Forecast time to full, at the mean filling rate (emptying ignored)")
    ax.set_xlim(0, max([*hours, 1.0]) * 1.45)
    ax.grid(True, axis="x", alpha=0.3)


def write_report(query_api: Any, bucket: str, city: City, span: ReportRange, out: Path) -> list[Path]:
    """Query InfluxDB and write map.png, sites.png and facilities.png into out; return the paths."""
    out.mkdir(parents=True, exist_ok=True)
    data = fetch(query_api, bucket, span)
    return [
        draw_map(data, city, span, out / "map.png"),
        draw_sites(data, city, out / "sites.png"),
        draw_facilities(data, city, out / "facilities.png"),
    ]
