"""Simulated station / bin sensors: fill level, and NH3 / H2S at stations.

Clean readings stay well inside the limits: fill starts at 0.10-0.40 and rises 0.02-0.08 an hour
(noise within ±0.005); when it reaches 0.70 the facility is emptied back to 0.10, so a clean fill
never reaches 0.8 nor forecasts full within the hour; odour stays under the GB 14554 grade-1
limits (NH3 1.0, H2S 0.03 mg/m³).
Injected episodes reshape the fill from their start; after one the fill holds its new level. An
overflow steps at once past the forecast's full mark (``full_ratio`` + 0.01) and then ramps to its
level: a fill that rose through the bands would first be forecast full, and that forecast (same
matter code, same place) would swallow the overflow in fusion.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from devices.contracts import FacilityReading
from devices.inventory import Facility
from devices.sim.injections import FillFast, Odour, Overflow

FILL_START = (0.10, 0.40)
FILL_RATE_PER_H = (0.02, 0.08)
FILL_NOISE = 0.002
FILL_CLIP = 0.005
EMPTIED_AT, EMPTIED_TO = 0.70, 0.10  # a clean facility is emptied when it reaches this fill
STEP_MARGIN = 0.01  # an overflow's first reading is over the full mark despite the noise
Curve = Callable[[float], float]


def noise(rng: np.random.Generator, sigma: float, clip: float) -> float:
    """Return clipped Gaussian noise."""
    return float(np.clip(rng.normal(0.0, sigma), -clip, clip))


@dataclass(frozen=True, slots=True)
class FillModel:
    """A facility's fill trend, odour baseline and planted episodes."""

    device_id: str
    start: float
    rate_per_s: float
    odour: tuple[float, float] | None  # NH3, H2S baselines (stations only)
    episodes: tuple[Overflow | FillFast, ...] = ()
    odours: tuple[Odour, ...] = ()
    step_ratio: float = 0.96  # where an overflow steps to: past the forecast's full mark, by a margin

    def trend(self, t: float) -> float:
        """Return the clean fill trend at sim time ``t``: a steady rise, emptied at 0.70."""
        level = self.start + self.rate_per_s * t
        return level if level < EMPTIED_AT else EMPTIED_TO + (level - EMPTIED_AT) % (EMPTIED_AT - EMPTIED_TO)

    def fill_at(self, t: float) -> float:
        """Return the noise-free fill ratio at sim time ``t``."""
        curve: Curve = self.trend
        for ep in sorted(self.episodes, key=lambda e: e.at_s):
            if ep.at_s > t:
                break
            curve = self._reshape(ep, curve(ep.at_s))
        return curve(t)

    def _reshape(self, ep: Overflow | FillFast, level: float) -> Curve:
        """Return the fill curve after an episode that starts at ``level``."""
        if isinstance(ep, Overflow):
            level = min(max(level, self.step_ratio), ep.to_ratio)
        to, at, ramp = ep.to_ratio, ep.at_s, ep.ramp_s
        return lambda x: level + (to - level) * (1.0 if ramp <= 0 else min((x - at) / ramp, 1.0))

    def gases(self, t: float, rng: np.random.Generator) -> tuple[float | None, float | None]:
        """Return (NH3, H2S) in mg/m³ at sim time ``t`` (None for a bin)."""
        if self.odour is None:
            return None, None
        nh3 = round(self.odour[0] + noise(rng, 0.04, 0.1), 3)
        h2s = round(self.odour[1] + noise(rng, 0.002, 0.005), 4)
        for o in self.odours:
            if o.at_s <= t < o.at_s + o.duration_s:
                value = round(o.level_mgm3 * (1.0 + noise(rng, 0.03, 0.06)), 4)
                nh3, h2s = (value, h2s) if o.gas == "nh3" else (nh3, value)
        return nh3, h2s


def build_fill(
    facility: Facility, rng: np.random.Generator, episodes: list[Overflow | FillFast], odours: list[Odour],
    full_ratio: float = 0.95,
) -> FillModel:  # fmt: skip
    """Draw a facility's starting fill, fill rate and odour baseline."""
    start = float(rng.uniform(*FILL_START))
    rate = float(rng.uniform(*FILL_RATE_PER_H)) / 3600.0
    odour = (float(rng.uniform(0.15, 0.5)), float(rng.uniform(0.006, 0.015))) if facility.kind == "station" else None
    return FillModel(facility.device_id, start, rate, odour, tuple(episodes), tuple(odours), full_ratio + STEP_MARGIN)


def fill_messages(
    model: FillModel, rng: np.random.Generator, times: list[float], start_ms: int, seq0: int
) -> Iterator[FacilityReading]:
    """Yield the facility's readings at the given sim times."""
    for seq, t in enumerate(times, start=seq0):
        fill = min(max(model.fill_at(t) + noise(rng, FILL_NOISE, FILL_CLIP), 0.0), 1.5)
        nh3, h2s = model.gases(t, rng)
        yield FacilityReading(
            device_id=model.device_id, ts_ms=start_ms + round(t * 1000), seq=seq,
            fill_ratio=round(fill, 3), nh3_mgm3=nh3, h2s_mgm3=h2s,
        )  # fmt: skip


def max_clean_fill(t: float) -> float:
    """Return the highest noise-free fill a clean facility can have at sim time ``t``."""
    return min(FILL_START[1] + FILL_RATE_PER_H[1] * t / 3600.0, EMPTIED_AT)


def hours_to_full(level: float, full: float, rate_per_h: float) -> float:
    """Return the hours a fill rising at ``rate_per_h`` takes from ``level`` to ``full``."""
    return math.inf if rate_per_h <= 0 else (full - level) / rate_per_h
