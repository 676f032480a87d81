"""Simulated construction-site boundary monitors: PM10 and noise, by day and by night.

Clean readings stay inside every limit: PM10 under 115 µg/m³ (warning at 150); noise under
68 dB(A) by day (limit 70). At night (the city's noise night, 22:00-06:00 by default) a site
without night work in force is quiet (every reading <= 48 dB(A), Leq under the 50 dB(A) that
counts as activity); a site whose night-work permit is in force works at 47-53 dB(A), under the
55 dB(A) night limit. Injected episodes override the level for their span. A background station
(背景站) reads ambient PM10 (30-65 µg/m³ plus its wave and noise, under ``BACKGROUND_MAX_UGM3``) and
quiet ambient noise; a haze lifts it and every site judged against it by the same amount.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, replace

import numpy as np

from devices.contracts import SiteReading
from devices.schedules import Schedule, TimeWindow
from devices.sim.clock import SimClock, schedule_active
from devices.sim.injections import Haze, NightWork, Noise, Pm10
from devices.sim.sensors import noise

DAY_DBA = (56.0, 64.0)
QUIET_NIGHT_DBA = (41.0, 45.0)
NIGHT_WORK_DBA = (47.0, 50.0)
NOISE_SIGMA, NOISE_CLIP = 1.2, 3.0
INJECTED_SIGMA, INJECTED_CLIP = 0.8, 2.0  # injected levels are steadier, so they sit at a known Leq
PM10_SIGMA, PM10_CLIP = 4.0, 10.0
BACKGROUND_UGM3 = (30.0, 65.0)
BACKGROUND_MAX_UGM3 = BACKGROUND_UGM3[1] + 15.0 + PM10_CLIP  # base + the largest wave + noise


@dataclass(frozen=True, slots=True)
class SiteModel:
    """A site monitor's dust baseline and wave, its noise levels, calendar and planted episodes."""

    device_id: str
    pm10_base: float
    pm10_wave: tuple[float, float, float]  # amplitude, period s, phase rad
    levels: tuple[float, float, float]  # day, quiet night, night work (dB(A))
    clock: SimClock
    night: TimeWindow
    night_work: tuple[Schedule, ...] = ()
    dust: tuple[Pm10, ...] = ()
    loud: tuple[Noise | NightWork, ...] = ()
    haze: tuple[Haze, ...] = ()  # of the background station this site is judged against (or is)

    def pm10_at(self, t: float) -> float:
        """Return the noise-free PM10 level at sim time ``t``."""
        amplitude, period, phase = self.pm10_wave
        level = self.pm10_base + amplitude * math.sin(2 * math.pi * t / period + phase)
        level += sum(h.rise_ugm3 for h in self.haze if h.at_s <= t < h.at_s + h.duration_s)
        return next((p.level_ugm3 for p in self.dust if p.at_s <= t < p.at_s + p.duration_s), level)

    def is_night(self, t: float) -> bool:
        """Tell whether sim second ``t`` is in the noise night, local time."""
        return self.night.contains(self.clock.local(t).time())

    def base_dba(self, t: float) -> float:
        """Return the clean noise level at sim second ``t``."""
        day, quiet, work = self.levels
        if not self.is_night(t):
            return day
        return work if schedule_active(self.night_work, self.clock, t) else quiet

    def episode_at(self, t: float) -> Noise | NightWork | None:
        """Return the injected noise episode in force at ``t``, if any."""
        return next((e for e in self.loud if e.at_s <= t < e.at_s + e.duration_s), None)


def build_site(
    device_id: str, rng: np.random.Generator, clock: SimClock, night: TimeWindow,
    night_work: list[Schedule], dust: list[Pm10], loud: list[Noise | NightWork],
) -> SiteModel:  # fmt: skip
    """Draw a site monitor's baselines."""
    wave = (
        float(rng.uniform(5.0, 15.0)),
        float(rng.uniform(1200.0, 2400.0)),
        float(rng.uniform(0.0, 2 * math.pi)),
    )
    levels = (float(rng.uniform(*DAY_DBA)), float(rng.uniform(*QUIET_NIGHT_DBA)), float(rng.uniform(*NIGHT_WORK_DBA)))
    base = float(rng.uniform(45.0, 85.0))
    return SiteModel(device_id, base, wave, levels, clock, night, tuple(night_work), tuple(dust), tuple(loud))


def build_background(
    device_id: str, rng: np.random.Generator, clock: SimClock, night: TimeWindow, haze: list[Haze]
) -> SiteModel:
    """Draw a background station's ambient baselines (its own generator: site monitors' draws do not change)."""
    model = build_site(device_id, rng, clock, night, [], [], [])
    base = float(rng.uniform(*BACKGROUND_UGM3))
    levels = (model.levels[1] + 8.0, model.levels[1], model.levels[1])  # ambient: no works, quiet at night
    return replace(model, pm10_base=base, levels=levels, haze=tuple(haze))


def _peaks(model: SiteModel, times: list[float]) -> set[float]:
    """Return the report times that carry an injected night peak: the one nearest each episode's middle."""
    peaks = set()
    for e in model.loud:
        inside = [t for t in times if e.at_s <= t < e.at_s + e.duration_s]
        if isinstance(e, Noise) and e.peak_dba is not None and inside:
            peaks.add(min(inside, key=lambda t: abs(t - (e.at_s + e.duration_s / 2))))
    return peaks


def _noise_dba(model: SiteModel, t: float, peak: bool, rng: np.random.Generator) -> float:
    episode = model.episode_at(t)
    if episode is None:
        return model.base_dba(t) + noise(rng, NOISE_SIGMA, NOISE_CLIP)
    level = episode.level_dba + noise(rng, INJECTED_SIGMA, INJECTED_CLIP)
    if peak and isinstance(episode, Noise) and episode.peak_dba is not None:
        return episode.peak_dba
    return level


def site_messages(
    model: SiteModel, rng: np.random.Generator, times: list[float], start_ms: int, seq0: int
) -> Iterator[SiteReading]:
    """Yield the site monitor's readings at the given sim times."""
    peaks = _peaks(model, times)
    for seq, t in enumerate(times, start=seq0):
        pm10 = model.pm10_at(t) + noise(rng, PM10_SIGMA, PM10_CLIP)
        yield SiteReading(
            device_id=model.device_id, ts_ms=start_ms + round(t * 1000), seq=seq,
            pm10_ugm3=round(max(pm10, 0.0), 1), noise_dba=round(_noise_dba(model, t, t in peaks, rng), 1),
        )  # fmt: skip
