"""Silent devices: no message for longer than allowed (a terminal switched off to hide a violation).

Silence is the absence of events, so this rule is driven by the stream's *watermark* (the event
time up to which the caller has seen everything) as well as by the device's own messages. Generic
for any device: muck terminals (``SilenceParams.vehicle_s``, required only while the permit is in
force: the caller decides), facility fill sensors, site monitors. One state per device::

    seen(ts)          remember the last message; CLEAR (reason "message") if an episode is open
    check(watermark)  OPEN when required and watermark - last_seen > max_silence_s;
                      CLEAR (reason "not_required") when an open episode is no longer required

The episode starts at the last message before the silence (``episode_start_ms = last_seen_ms``),
so its id does not depend on how often the caller ticks. OPEN is stamped with the watermark; a
CLEAR is stamped with the message time, but never earlier than the OPEN (a backlog uploaded after
the alert carries old timestamps; ``late`` in the evidence says so). A device never seen is not
judged. Watermarks not newer than the last one are ignored, and so are messages not newer than
the last one, except that any message shows the device spoke when it arrived: ``heard_ms`` is the
latest of the messages' times and of the watermark each one arrived at, and the silence is
measured from it. So a backlog (a truck's blind-area upload) arriving behind the watermark never
makes the device look silent between two of its messages, and never reopens a silence.

Location: the caller passes ``lon`` / ``lat`` for fixed devices (facility, site); for a vehicle it
passes them to ``seen`` and the alert is placed where the terminal last reported.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from pydantic import Field

from devices.contracts import FacilityReading, SiteReading, VehiclePosition
from rules.alerts import Alert, Phase, Severity
from rules.catalog import WATERMARK, Params, RuleSpec
from rules.episodes import build_alert, to_ms
from rules.state import FlatState

RULE = "silent_device"
SEVERITY = Severity.WARNING


class SilenceParams(Params):
    """Silent devices: no message for longer than allowed."""

    vehicle_s: float = Field(default=300.0, gt=0.0, description="muck terminal while its permit is in force")
    facility_s: float = Field(default=1800.0, gt=0.0)
    site_s: float = Field(default=900.0, gt=0.0)


@dataclass(frozen=True, slots=True)
class SilenceState(FlatState):
    """One device's last message (time and place), last watermark, and open episode if any."""

    last_seen_ms: int | None = None
    last_lon: float | None = None
    last_lat: float | None = None
    watermark_ms: int | None = None
    episode_start_ms: int | None = None
    opened_ms: int | None = None
    heard_ms: int | None = None  # the latest message time or watermark a message arrived at


@dataclass(frozen=True, slots=True)
class _Emitter:
    """What every alert of one call shares."""

    subject: str
    matter_code: str
    lon: float | None
    lat: float | None

    def alert(self, phase: Phase, state: SilenceState, ts_ms: int, evidence: dict[str, Any]) -> Alert:
        """Build the alert of this phase at the given location, else the last known one."""
        start = state.episode_start_ms
        lon = self.lon if self.lon is not None else state.last_lon
        lat = self.lat if self.lat is not None else state.last_lat
        if start is None or lon is None or lat is None:
            raise ValueError(f"silence of {self.subject}: no location given and none seen")
        return build_alert(
            RULE,
            phase,
            subject=self.subject,
            ts_ms=ts_ms,
            start_ms=start,
            lon=lon,
            lat=lat,
            severity=SEVERITY,
            matter_code=self.matter_code,
            evidence=evidence,
        )


def seen(
    state: SilenceState,
    ts_ms: int,
    *,
    subject: str,
    matter_code: str,
    lon: float | None = None,
    lat: float | None = None,
) -> tuple[SilenceState, list[Alert]]:
    """Record a message from the device; clear an open silence."""
    heard = max(t for t in (ts_ms, state.watermark_ms, state.heard_ms) if t is not None)
    if state.last_seen_ms is not None and ts_ms <= state.last_seen_ms:  # late or duplicate: time only moves forward
        return (state if heard == state.heard_ms else replace(state, heard_ms=heard)), []  # but it was heard
    new = replace(
        state,
        last_seen_ms=ts_ms,
        heard_ms=heard,
        last_lon=state.last_lon if lon is None else lon,
        last_lat=state.last_lat if lat is None else lat,
        episode_start_ms=None,
        opened_ms=None,
    )
    if state.episode_start_ms is None or state.opened_ms is None:
        return new, []
    evidence = _evidence(state, ts_ms) | {"reason": "message", "late": ts_ms < state.opened_ms}
    emit = _Emitter(subject, matter_code, lon, lat)
    return new, [emit.alert(Phase.CLEAR, state, max(ts_ms, state.opened_ms), evidence)]


def check(
    state: SilenceState,
    watermark_ms: int,
    max_silence_s: float,
    *,
    subject: str,
    matter_code: str,
    required: bool = True,
    lon: float | None = None,
    lat: float | None = None,
) -> tuple[SilenceState, list[Alert]]:
    """Judge the silence at a watermark: open if too long and required; clear if not required."""
    if state.watermark_ms is not None and watermark_ms <= state.watermark_ms:
        return state, []
    new = replace(state, watermark_ms=watermark_ms)
    emit = _Emitter(subject, matter_code, lon, lat)
    if state.episode_start_ms is not None:
        if required:
            return new, []
        evidence = _evidence(state, watermark_ms) | {"reason": "not_required"}
        closed = replace(new, episode_start_ms=None, opened_ms=None)
        return closed, [emit.alert(Phase.CLEAR, state, watermark_ms, evidence)]
    last = state.last_seen_ms
    if not required or last is None or watermark_ms - max(last, state.heard_ms or last) <= to_ms(max_silence_s):
        return new, []
    opened = replace(new, episode_start_ms=last, opened_ms=watermark_ms)
    evidence = _evidence(opened, watermark_ms) | {"max_silence_s": max_silence_s}
    return opened, [emit.alert(Phase.OPEN, opened, watermark_ms, evidence)]


def _evidence(state: SilenceState, ts_ms: int) -> dict[str, Any]:
    """Return what every phase reports: the last message and how long the silence lasted."""
    last = state.last_seen_ms
    return {"last_seen_ms": last, "silent_s": None if last is None else (ts_ms - last) / 1000}


SPEC = RuleSpec(
    name=RULE,
    detects="a muck terminal (while its permit is in force), fill sensor, site monitor or PM10 background station silent too long",
    reads=(
        VehiclePosition,
        FacilityReading,
        SiteReading,
        WATERMARK,
    ),
    state=SilenceState,
    matter="03101",
    severity="WARNING",
    params=SilenceParams,
    params_key="silence",
    computed="`seen(state, ts_ms, ...)` per message; `check(state, watermark_ms, max_silence_s, *, required, ...)` per watermark; `subject`, `matter_code`, `lon` / `lat`",
    follows="A terminal must report while it transports (the city's 建筑垃圾管理办法: terminal installed and online) [S6]; JT/T 808-2019 reports every 缺省时间汇报间隔 (terminal parameter 0x0029, 10–30 s in practice) with a heartbeat (0x0002) between [S3], so 300 s is many missed reports. Maintenance work, not a company's violation",
)
