"""Simulated fixed sensors: station / bin fill levels and construction-site dust and noise monitors.

Clean readings stay well inside the limits: fill starts at 0.10-0.45 and rises 0.04-0.12 an hour,
so it stays under 0.8 for more than 2.5 hours; PM10 stays under 115 µg/m³ (warning at 150); noise
stays under 68 dB(A) by day and 53 dB(A) at night (limits 70 / 55); odour stays under the GB 14554
grade-1 limits (NH3 1.0, H2S 0.03 mg/m³).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np

from devices.contracts import FacilityReading, SiteReading
from devices.inventory import Facility
from devices.sim.scenario import Overflow

FILL_NOISE = 0.004
FILL_CLIP = 0.012


def _noise(rng: np.random.Generator, sigma: float, clip: float) -> float:
    return float(np.clip(rng.normal(0.0, sigma), -clip, clip))


@dataclass(frozen=True, slots=True)
class FillModel:
    """A facility's fill trend, odour baseline and planted overflows."""

    device_id: str
    start: float
    rate_per_s: float
    odour: tuple[float, float] | None  # NH3, H2S baselines (stations only)
    overflows: tuple[Overflow, ...] = ()

    def fill_at(self, t: float) -> float:
        """Return the noise-free fill ratio at sim time ``t``."""
        fill = self.start + self.rate_per_s * t
        for o in self.overflows:
            if t >= o.at_s:
                ramp = 1.0 if o.ramp_s <= 0 else min((t - o.at_s) / o.ramp_s, 1.0)
                fill += (o.to_ratio - fill) * ramp
        return fill


def build_fill(facility: Facility, rng: np.random.Generator, overflows: list[Overflow]) -> FillModel:
    """Draw a facility's starting fill, fill rate and odour baseline."""
    start = float(rng.uniform(0.10, 0.45))
    rate = float(rng.uniform(0.04, 0.12)) / 3600.0
    odour = (
        (float(rng.uniform(0.15, 0.5)), float(rng.uniform(0.006, 0.015)))
        if facility.kind == "station"
        else None
    )
    return FillModel(facility.device_id, start, rate, odour, tuple(overflows))


def fill_messages(
    model: FillModel, rng: np.random.Generator, times: list[float], start_ms: int, seq0: int
) -> Iterator[FacilityReading]:
    """Yield the facility's readings at the given sim times."""
    for seq, t in enumerate(times, start=seq0):
        fill = min(max(model.fill_at(t) + _noise(rng, FILL_NOISE, FILL_CLIP), 0.0), 1.5)
        nh3 = h2s = None
        if model.odour is not None:
            nh3 = round(model.odour[0] + _noise(rng, 0.04, 0.1), 3)
            h2s = round(model.odour[1] + _noise(rng, 0.002, 0.005), 4)
        yield FacilityReading(
            device_id=model.device_id, ts_ms=start_ms + round(t * 1000), seq=seq,
            fill_ratio=round(fill, 3), nh3_mgm3=nh3, h2s_mgm3=h2s,
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class SiteModel:
    """A site monitor's dust baseline and wave, and its day / night noise baselines."""

    device_id: str
    pm10_base: float
    pm10_wave: tuple[float, float, float]  # amplitude, period s, phase rad
    noise_day: float
    noise_night: float
    timezone: ZoneInfo

    def pm10_at(self, t: float) -> float:
        """Return the noise-free PM10 level at sim time ``t``."""
        amplitude, period, phase = self.pm10_wave
        return self.pm10_base + amplitude * math.sin(2 * math.pi * t / period + phase)

    def is_night(self, ts_ms: int) -> bool:
        """Return whether a timestamp falls in the 22:00-06:00 night period, local time."""
        hour = datetime.fromtimestamp(ts_ms / 1000, self.timezone).hour
        return hour >= 22 or hour < 6


def build_site(device_id: str, rng: np.random.Generator, timezone: str) -> SiteModel:
    """Draw a site monitor's baselines."""
    wave = (
        float(rng.uniform(5.0, 15.0)),
        float(rng.uniform(1200.0, 2400.0)),
        float(rng.uniform(0.0, 2 * math.pi)),
    )
    day, night = float(rng.uniform(56.0, 64.0)), float(rng.uniform(44.0, 49.0))
    return SiteModel(device_id, float(rng.uniform(45.0, 85.0)), wave, day, night, ZoneInfo(timezone))


def site_messages(
    model: SiteModel, rng: np.random.Generator, times: list[float], start_ms: int, seq0: int
) -> Iterator[SiteReading]:
    """Yield the site monitor's readings at the given sim times."""
    for seq, t in enumerate(times, start=seq0):
        ts_ms = start_ms + round(t * 1000)
        noise_base = model.noise_night if model.is_night(ts_ms) else model.noise_day
        yield SiteReading(
            device_id=model.device_id, ts_ms=ts_ms, seq=seq,
            pm10_ugm3=round(max(model.pm10_at(t) + _noise(rng, 4.0, 10.0), 0.0), 1),
            noise_dba=round(noise_base + _noise(rng, 1.5, 4.0), 1),
        )  # fmt: skip
