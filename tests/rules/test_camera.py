"""Camera events: one alert per real-world thing; golden frame timelines, expiry, watermarks, properties."""

from __future__ import annotations

from collections import defaultdict

import pytest
from hypothesis import given
from hypothesis import strategies as st

from devices.contracts import CameraEvent, CameraEventType
from rules import camera
from rules.alerts import Alert, Phase, alert_id
from rules.camera import DEFAULT_CAMERA_MATTER_CODES, CameraFusionParams, CameraState, distance_m
from tests.rules.timelines import json_round_trip, ms, run, seconds, summary

CAMERA = "CAM-0001"
LON, LAT = 114.30, 30.60
PARAMS = CameraFusionParams(window_s=300, radius_m=200, min_confidence=0.6, max_tracked=32, max_image_refs=3)
CODES = dict(DEFAULT_CAMERA_MATTER_CODES)
EAST_100M = 100 / 96_000  # degrees of longitude for ~100 m at 30.6° N

Frame = tuple[float, str]  # (t_s, event type)


def frame(
    t_s: float,
    kind: str = "spillage",
    *,
    east_m: float = 0.0,
    confidence: float = 0.9,
    plate: str | None = None,
    n: int | None = None,
) -> CameraEvent:
    """Build a camera event ``east_m`` metres east of the camera's usual spot."""
    ref = n if n is not None else round(t_s)
    return CameraEvent(
        device_id=CAMERA,
        ts_ms=ms(t_s),
        seq=0,
        event_id=f"E{ref}",
        event_type=CameraEventType(kind),
        lon=LON + east_m / 100 * EAST_100M,
        lat=LAT,
        confidence=confidence,
        plate=plate,
        image_ref=f"img/{ref}.jpg",
    )


def watch(
    events: list[CameraEvent],
    params: CameraFusionParams = PARAMS,
    *,
    state: CameraState | None = None,
    restart: bool = False,
) -> tuple[CameraState, list[Alert]]:
    """Run the rule over a camera's events."""

    def step(s: CameraState, e: CameraEvent) -> tuple[CameraState, list[Alert]]:
        return camera.step(s, e, params, matter_codes=CODES, subject=CAMERA)

    return run(step, state or CameraState(), events, restart=restart)


def check_episodes(alerts: list[Alert]) -> None:
    """Assert each alert id follows OPEN (UPDATE)* CLEAR in time order, however episodes interleave."""
    phases: dict[str, list[Alert]] = defaultdict(list)
    for a in alerts:
        phases[a.alert_id].append(a)
    for chain in phases.values():
        kinds = [a.phase for a in chain]
        assert kinds[0] is Phase.OPEN and Phase.OPEN not in kinds[1:]
        assert Phase.CLEAR not in kinds[:-1]
        assert [a.ts_ms for a in chain] == sorted(a.ts_ms for a in chain)
    assert [a.ts_ms for a in alerts] == sorted(a.ts_ms for a in alerts)


def test_repeated_frames_update_one_alert_and_silence_clears_it() -> None:
    events = [frame(0), frame(30, east_m=20), frame(60, east_m=-15), frame(400)]
    _, alerts = watch(events)
    assert summary(alerts) == [
        ("open", 0, 0),
        ("update", 30, 0),
        ("update", 60, 0),
        ("clear", 360, 0),  # last frame at 60 + 300 s: stamped with the expiry, not the next event
        ("open", 400, 400),
    ]
    first = alert_id("camera", CAMERA, ms(0))
    assert [a.alert_id for a in alerts[:4]] == [first] * 4
    update = alerts[2].evidence
    assert update["image_ref"] == "img/60.jpg" and update["event_id"] == "E60" and update["frames"] == 3
    assert update["image_refs"] == ["img/0.jpg", "img/30.jpg", "img/60.jpg"]
    assert alerts[0].matter_code == "06014" and alerts[3].evidence["reason"] == "expired"


def test_a_frame_exactly_window_s_later_still_continues() -> None:
    _, alerts = watch([frame(0), frame(300), frame(600.001)])
    assert summary(alerts) == [("open", 0, 0), ("update", 300, 0), ("clear", 600, 0), ("open", 600.001, 600.001)]


def test_other_types_places_and_plates_are_other_things() -> None:
    events = [
        frame(0, "unsealed_truck", plate="鄂A12345"),
        frame(10, "mud_on_wheels", plate="鄂A12345"),  # another type
        frame(20, "unsealed_truck", east_m=250, plate="鄂A12345"),  # too far
        frame(30, "unsealed_truck", plate="鄂A99999"),  # another plate
        frame(40, "unsealed_truck"),  # no plate: the nearest sighting of its type
    ]
    _, alerts = watch(events)
    assert summary(alerts) == [("open", 0, 0), ("open", 10, 10), ("open", 20, 20), ("open", 30, 30), ("update", 40, 0)]
    assert [a.matter_code for a in alerts[:2]] == ["08011", "08012"]
    assert alerts[0].evidence["plate"] == "鄂A12345"


def test_low_confidence_frames_are_ignored_but_time_moves_on() -> None:
    _, alerts = watch([frame(0, confidence=0.59), frame(10), frame(350, confidence=0.1)])
    assert summary(alerts) == [("open", 10, 10), ("clear", 310, 10)]


def test_the_image_refs_are_bounded() -> None:
    _, alerts = watch([frame(10.0 * i) for i in range(6)])
    assert alerts[-1].evidence["image_refs"] == ["img/30.jpg", "img/40.jpg", "img/50.jpg"]
    assert alerts[-1].evidence["frames"] == 6


def test_a_watermark_clears_and_makes_older_events_late() -> None:
    state, _ = watch([frame(0), frame(30)])
    state, cleared = camera.check(state, ms(340), PARAMS, matter_codes=CODES, subject=CAMERA)
    assert summary(cleared) == [("clear", 330, 0)] and state.sightings == ()
    assert camera.check(state, ms(340), PARAMS, matter_codes=CODES, subject=CAMERA) == (state, [])
    assert watch([frame(335)], state=state) == (state, [])  # older than the watermark: late
    state, early = camera.check(CameraState(), ms(100), PARAMS, matter_codes=CODES, subject=CAMERA)
    assert early == [] and state.last_ts_ms == ms(100)


def test_the_stalest_sighting_is_evicted_beyond_the_bound() -> None:
    params = PARAMS.model_copy(update={"max_tracked": 2})
    events = [frame(0, east_m=0), frame(10, east_m=1000), frame(20, east_m=0), frame(30, east_m=2000)]
    _, alerts = watch(events, params)
    assert summary(alerts) == [("open", 0, 0), ("open", 10, 10), ("update", 20, 0), ("clear", 30, 10), ("open", 30, 30)]
    assert alerts[3].evidence["reason"] == "evicted"


def test_late_and_duplicate_events_are_ignored() -> None:
    state, alerts = watch([frame(0), frame(30), frame(20, n=99), frame(30, n=98)])
    assert summary(alerts) == [("open", 0, 0), ("update", 30, 0)]
    assert state.sightings[0].event_ids == ("E0", "E30")


def test_state_round_trips_mid_episode() -> None:
    events = [frame(0), frame(30, "exposed_garbage"), frame(60), frame(500)]
    opened, _ = watch(events[:2])
    assert len(opened.sightings) == 2
    assert json_round_trip(opened) == opened
    _, straight = watch(events)
    _, resumed = watch(events[2:], state=json_round_trip(opened))
    assert resumed == straight[2:]


def test_distance_is_metres() -> None:
    assert distance_m(LON, LAT, LON + EAST_100M, LAT) == pytest.approx(100, rel=0.01)
    assert distance_m(LON, LAT, LON, LAT + 0.001) == pytest.approx(111.2, rel=0.01)


kinds = st.sampled_from(["spillage", "exposed_garbage", "unsealed_truck"])
streams = st.lists(
    st.tuples(st.integers(1, 400), kinds, st.sampled_from([0.0, 50.0, 150.0, 400.0]), st.floats(0, 1)),
    min_size=1,
    max_size=60,
)


def events_of(rows: list[tuple[int, str, float, float]]) -> list[CameraEvent]:
    t, out = 0, []
    for i, (gap, kind, east, conf) in enumerate(rows):
        t += gap
        out.append(frame(t, kind, east_m=east, confidence=conf, n=i))
    return out


@given(streams)
def test_every_confident_frame_is_one_alert_of_a_clean_episode(rows: list[tuple[int, str, float, float]]) -> None:
    events = events_of(rows)
    state, alerts = watch(events)
    check_episodes(alerts)
    confident = [e for e in events if e.confidence >= PARAMS.min_confidence]
    assert len([a for a in alerts if a.phase is not Phase.CLEAR]) == len(confident)
    open_ids = {a.alert_id for a in alerts if a.phase is Phase.OPEN} - {
        a.alert_id for a in alerts if a.phase is Phase.CLEAR
    }
    assert {alert_id("camera", CAMERA, s.start_ms) for s in state.sightings} == open_ids
    for a in alerts:
        assert a.matter_code == CODES[a.evidence["event_type"]]
        assert seconds(a.ts_ms) >= seconds(a.episode_start_ms)


@given(streams)
def test_reloading_state_before_every_event_changes_nothing(rows: list[tuple[int, str, float, float]]) -> None:
    events = events_of(rows)
    assert watch(events, restart=True) == watch(events)
