"""AI-camera events as alerts: one alert per real-world thing, never one per frame.

Each event type maps to its matter code (``RuleParams.camera_matter_codes``); events under
``min_confidence`` are ignored. One state per camera (key = the camera's device id) holds its
open *sightings*. A frame continues a sighting when it has the same type, lies within
``radius_m`` of the sighting's last frame, comes at most ``window_s`` after it, and does not name
a different plate; it opens a new sighting otherwise::

    no matching sighting --frame--> open (OPEN)
    open --matching frame--> open (UPDATE with the frame's event id and image ref)
    open --no matching frame for more than window_s--> gone (CLEAR, stamped last frame + window_s)

Expiry is checked on every event of the camera and by ``check(state, watermark_ms)``; a
watermark also moves the camera's event time forward, so later events older than it are
ignored like any late event. At most ``max_tracked`` sightings stay open per camera; opening
one more clears the stalest first (reason ``evicted``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any

from pydantic import Field

from devices.contracts import CameraEvent
from rules.alerts import Alert, Phase, Severity
from rules.catalog import WATERMARK, Params, RuleSpec
from rules.context import At
from rules.episodes import build_alert
from rules.geometry import LocalFrame

RULE = "camera"
SEVERITY = Severity.WARNING


DEFAULT_CAMERA_MATTER_CODES = {  # a camera's sighting shares the matter of the sensor rule that sees the same thing
    "exposed_garbage": "06010",
    "accumulated_muck": "06011",
    "spillage": "06014",
    "unsealed_truck": "08011",
    "mud_on_wheels": "08012",
    "bin_overflow": "06042",
}


class CameraFusionParams(Params):
    """Camera events fused with GPS / sensors: same plate or place within a time and distance window."""

    window_s: float = Field(default=300.0, gt=0.0)
    radius_m: float = Field(default=200.0, gt=0.0)
    min_confidence: float = Field(default=0.6, ge=0.0, le=1.0)
    vehicle_speed_kmh: float = Field(default=60.0, ge=0.0, description="plate matches may be this far apart per s")
    max_tracked: int = Field(default=32, ge=1, description="open sightings per camera / groups per fusion key")
    max_image_refs: int = Field(default=10, ge=0, description="event ids and image refs kept per sighting / source")


def distance_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Return the distance in metres between two nearby points (local equirectangular frame)."""
    x, y = LocalFrame(lon1, lat1).to_xy(lon2, lat2)
    return float((x * x + y * y) ** 0.5)


def bounded(items: tuple[str, ...], new: str | None, limit: int) -> tuple[str, ...]:
    """Append an item unless it is None or already there; keep the newest ``limit``."""
    if new is None or new in items:
        return items
    return (*items, new)[-limit:] if limit > 0 else ()


@dataclass(frozen=True, slots=True)
class Sighting:
    """One open camera episode: a thing of one type seen at one place, frame after frame."""

    event_type: str
    start_ms: int
    last_ms: int
    lon: float
    lat: float
    plate: str | None
    frames: int
    max_confidence: float
    event_ids: tuple[str, ...]
    image_refs: tuple[str, ...]

    def matches(self, event: CameraEvent, params: CameraFusionParams) -> bool:
        """Tell whether a frame shows the same thing (type, place, time, plate)."""
        return (
            event.event_type.value == self.event_type
            and event.ts_ms - self.last_ms <= round(params.window_s * 1000)
            and (event.plate is None or self.plate is None or event.plate == self.plate)
            and distance_m(self.lon, self.lat, event.lon, event.lat) <= params.radius_m
        )

    def seen(self, event: CameraEvent, limit: int) -> Sighting:
        """Return the sighting continued by a frame."""
        return replace(
            self,
            last_ms=event.ts_ms,
            lon=event.lon,
            lat=event.lat,
            plate=self.plate or event.plate,
            frames=self.frames + 1,
            max_confidence=max(self.max_confidence, event.confidence),
            event_ids=bounded(self.event_ids, event.event_id, limit),
            image_refs=bounded(self.image_refs, event.image_ref, limit),
        )

    @classmethod
    def first(cls, event: CameraEvent, limit: int) -> Sighting:
        """Return the sighting a frame opens."""
        return cls(
            event.event_type.value,
            event.ts_ms,
            event.ts_ms,
            event.lon,
            event.lat,
            event.plate,
            1,
            event.confidence,
            bounded((), event.event_id, limit),
            bounded((), event.image_ref, limit),
        )

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Sighting:
        """Rebuild a sighting from its ``asdict`` form after JSON."""
        return cls(**{**d, "event_ids": tuple(d["event_ids"]), "image_refs": tuple(d["image_refs"])})


@dataclass(frozen=True, slots=True)
class CameraState:
    """One camera's open sightings."""

    last_ts_ms: int | None = None
    sightings: tuple[Sighting, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (for a faust table)."""
        return {"last_ts_ms": self.last_ts_ms, "sightings": [asdict(s) for s in self.sightings]}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> CameraState:
        """Rebuild the state from the dict ``to_dict`` made."""
        return cls(d["last_ts_ms"], tuple(Sighting.from_dict(s) for s in d["sightings"]))


@dataclass(frozen=True, slots=True)
class _Emitter:
    """What every alert of one step shares."""

    subject: str
    matter_codes: Mapping[str, str]

    def alert(self, phase: Phase, ts_ms: int, s: Sighting, event: CameraEvent | None = None, **extra: Any) -> Alert:
        """Build the alert for this phase of a sighting."""
        evidence = {
            "camera": self.subject,
            "event_type": s.event_type,
            "plate": s.plate,
            "frames": s.frames,
            "event_id": event.event_id if event else None,
            "image_ref": event.image_ref if event else None,
            "confidence": event.confidence if event else None,
            "max_confidence": s.max_confidence,
            "event_ids": list(s.event_ids),
            "image_refs": list(s.image_refs),
            "duration_s": (s.last_ms - s.start_ms) / 1000,
            **extra,
        }
        return build_alert(
            RULE,
            phase,
            subject=self.subject,
            ts_ms=ts_ms,
            start_ms=s.start_ms,
            lon=s.lon,
            lat=s.lat,
            severity=SEVERITY,
            matter_code=self.matter_codes[s.event_type],
            evidence=evidence,
        )


def step(
    state: CameraState,
    event: CameraEvent,
    params: CameraFusionParams,
    *,
    matter_codes: Mapping[str, str],
    subject: str,
) -> tuple[CameraState, list[Alert]]:
    """Advance one camera's sightings by an event; ``matter_codes`` is ``RuleParams.camera_matter_codes``."""
    if state.last_ts_ms is not None and event.ts_ms <= state.last_ts_ms:
        return state, []  # late or duplicate: event time only moves forward
    emit = _Emitter(subject, matter_codes)
    state, alerts = _expire(state, event.ts_ms, params, emit)
    if event.confidence < params.min_confidence:
        return state, alerts
    candidates = [s for s in state.sightings if s.matches(event, params)]
    if candidates:
        old = min(candidates, key=lambda s: distance_m(s.lon, s.lat, event.lon, event.lat))
        new = old.seen(event, params.max_image_refs)
        sightings = tuple(new if s is old else s for s in state.sightings)
        return replace(state, sightings=sightings), [*alerts, emit.alert(Phase.UPDATE, event.ts_ms, new, event)]
    return _open(state, Sighting.first(event, params.max_image_refs), event, params, emit, alerts)


def check(
    state: CameraState,
    watermark_ms: int,
    params: CameraFusionParams,
    *,
    matter_codes: Mapping[str, str],
    subject: str,
) -> tuple[CameraState, list[Alert]]:
    """Clear the sightings that had no frame for window_s by a watermark; events up to it count as late."""
    if state.last_ts_ms is not None and watermark_ms <= state.last_ts_ms:
        return state, []
    return _expire(state, watermark_ms, params, _Emitter(subject, matter_codes))


def _expire(
    state: CameraState, now_ms: int, params: CameraFusionParams, emit: _Emitter
) -> tuple[CameraState, list[Alert]]:
    """Clear every sighting whose last frame is more than window_s before ``now_ms``; advance the time."""
    window_ms = round(params.window_s * 1000)
    gone = sorted((s for s in state.sightings if now_ms - s.last_ms > window_ms), key=lambda s: s.last_ms)
    kept = tuple(s for s in state.sightings if now_ms - s.last_ms <= window_ms)
    alerts = [emit.alert(Phase.CLEAR, s.last_ms + window_ms, s, reason="expired") for s in gone]
    return CameraState(now_ms, kept), alerts


def _open(
    state: CameraState,
    new: Sighting,
    event: CameraEvent,
    params: CameraFusionParams,
    emit: _Emitter,
    alerts: list[Alert],
) -> tuple[CameraState, list[Alert]]:
    """Open a sighting, first clearing the stalest ones if the camera tracks too many."""
    by_age = sorted(state.sightings, key=lambda s: s.last_ms)
    excess = max(0, len(by_age) + 1 - params.max_tracked)
    evicted = [emit.alert(Phase.CLEAR, event.ts_ms, s, reason="evicted") for s in by_age[:excess]]
    kept = tuple(s for s in state.sightings if s not in by_age[:excess])
    opened = emit.alert(Phase.OPEN, event.ts_ms, new, event)
    return replace(state, sightings=(*kept, new)), [*alerts, *evicted, opened]


def judge(state: CameraState, event: CameraEvent, at: At) -> tuple[CameraState, list[Alert]]:
    """The catalog's entry: ``step`` with the city's matter code of each event type."""
    return step(state, event, at.params, matter_codes=at.index.params.camera_matter_codes, subject=at.subject)


def tick(state: CameraState, watermark_ms: int, at: At) -> tuple[CameraState, list[Alert]]:
    """The catalog's entry on watermarks: ``check`` closes sightings with no new frame for the window."""
    return check(state, watermark_ms, at.params, matter_codes=at.index.params.camera_matter_codes, subject=at.subject)


SPEC = RuleSpec(
    name=RULE,
    detects="AI-camera detections: one alert per thing seen, never one per frame",
    reads=(
        CameraEvent,
        WATERMARK,
    ),
    judge=judge,
    tick=tick,
    state=CameraState,
    matter="06010",
    severity="WARNING (matter by event type: `rules.camera_matter_codes`)",
    params=CameraFusionParams,
    computed="state per camera, `CameraEvent`, `CameraFusionParams`; `matter_codes` (= `RuleParams.camera_matter_codes`), `subject` (camera id); `check(state, watermark_ms, ...)` on watermarks",
    follows="A camera detection is a report of a national event class (发现 by a sensor instead of an inspector) [S4]; evidence, not a case per frame. Confidence and windows are engineering choices",
)
