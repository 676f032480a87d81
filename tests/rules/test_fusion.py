"""Fusion: camera, GPS and sensor alerts of one violation become one alert; golden cases and properties."""

from __future__ import annotations

from collections import defaultdict

from hypothesis import given
from hypothesis import strategies as st

from rules import camera, fusion
from rules.alerts import Alert, Phase, Severity, alert_id
from rules.camera import CameraFusionParams
from rules.fusion import FusionState
from tests.rules.test_camera import (
    CAMERA,
    CODES,
    EAST_100M,
    LAT,
    LON,
    check_episodes,
    frame,
)
from tests.rules.timelines import json_round_trip, ms, seconds

PLATE = "鄂A12345"
TRUCK = "MT-0001"
PARAMS = CameraFusionParams(window_s=300, radius_m=200, vehicle_speed_kmh=60, max_tracked=32, max_image_refs=10)


def gps(
    phase: str,
    t_s: float,
    *,
    start_s: float = 0.0,
    rule: str = "uncovered_load",
    matter: str = "08011",
    east_m: float = 0.0,
    severity: Severity = Severity.MAJOR,
    subject: str = TRUCK,
) -> Alert:
    """Build a vehicle-rule alert (uncovered load by default) of the truck."""
    return Alert(
        alert_id(rule, subject, ms(start_s)),
        rule,
        Phase(phase),
        subject,
        ms(t_s),
        ms(start_s),
        LON + east_m / 100 * EAST_100M,
        LAT,
        severity,
        matter,
        {"speed_kmh": 30.0},
        owner="Muck Co.",
    )


def cam(
    phase: str,
    t_s: float,
    *,
    start_s: float,
    kind: str = "unsealed_truck",
    east_m: float = 0.0,
    ref: str | None = None,
    subject: str = CAMERA,
) -> Alert:
    """Build a camera-rule alert as ``rules.camera`` would."""
    evidence = {
        "event_type": kind,
        "plate": PLATE,
        "event_id": ref and f"E-{ref}",
        "image_ref": ref and f"img/{ref}.jpg",
        "image_refs": [f"img/{ref}.jpg"] if ref else [],
    }
    return Alert(
        alert_id("camera", subject, ms(start_s)),
        "camera",
        Phase(phase),
        subject,
        ms(t_s),
        ms(start_s),
        LON + east_m / 100 * EAST_100M,
        LAT,
        Severity.WARNING,
        CODES[kind],
        evidence,
    )


def feed(
    alerts: list[Alert],
    key: str = PLATE,
    *,
    by_plate: bool = True,
    state: FusionState | None = None,
    restart: bool = False,
) -> tuple[FusionState, list[Alert]]:
    """Fuse alerts of one key in order."""
    state, out = state or FusionState(), []
    for a in alerts:
        state = json_round_trip(state) if restart else state
        state, fused = fusion.fuse(state, a, key, PARAMS, by_plate=by_plate)
        out += fused
    return state, out


def told(alerts: list[Alert]) -> list[tuple[str, str, float, str]]:
    """Return (phase, rule of the surviving id, t_s, the incoming alert's rule) per published alert."""
    return [
        (a.phase.value, a.rule, seconds(a.ts_ms), a.evidence.get("fused_alert_id", a.alert_id).split("-")[0])
        for a in alerts
    ]


def test_uncovered_load_and_unsealed_truck_camera_are_one_alert() -> None:
    alerts = [
        gps("open", 20),  # cover open while loaded and moving
        cam("open", 140, start_s=140, east_m=1500, ref="a"),  # 2 min later, 1.5 km on, same plate
        cam("update", 150, start_s=140, east_m=1600, ref="b"),
        gps("clear", 200),  # cover closed: the camera sighting is still open, absorbed
        cam("clear", 450, start_s=140, east_m=1600),  # the last contributor clears the survivor
    ]
    state, out = feed(alerts)
    survivor = alert_id("uncovered_load", TRUCK, ms(0))
    assert told(out) == [
        ("open", "uncovered_load", 20, "uncovered_load"),
        ("update", "uncovered_load", 140, "camera"),
        ("update", "uncovered_load", 150, "camera"),
        ("clear", "uncovered_load", 450, "camera"),
    ]
    assert {a.alert_id for a in out} == {survivor} and not any(g.is_open for g in state.groups)
    assert out[0] == alerts[0]  # alone so far: passed unchanged
    sources = out[2].evidence["sources"]
    assert [s["alert_id"] for s in sources] == [survivor, alerts[1].alert_id]
    assert sources[1]["image_refs"] == ["img/a.jpg", "img/b.jpg"] and sources[1]["event_ids"] == ["E-a", "E-b"]
    assert out[2].evidence["image_ref"] == "img/b.jpg" and out[2].evidence["fusion_key"] == PLATE
    assert {a.severity for a in out} == {Severity.MAJOR} and {a.owner for a in out} == {"Muck Co."}
    assert {a.matter_code for a in out} == {"08011"}


def test_the_survivor_clearing_first_is_absorbed() -> None:
    alerts = [
        cam("open", 0, start_s=0, ref="a"),
        gps("open", 30, start_s=30),
        cam("clear", 300, start_s=0),
        gps("update", 320, start_s=30),
        gps("clear", 400, start_s=30),
    ]
    _, out = feed(alerts)
    assert told(out) == [
        ("open", "camera", 0, "camera"),
        ("update", "camera", 30, "uncovered_load"),
        ("update", "camera", 320, "uncovered_load"),
        ("clear", "camera", 400, "uncovered_load"),
    ]
    assert out[1].severity is Severity.MAJOR  # the highest severity of the group


def test_mud_on_wheels_joins_dirty_truck() -> None:
    alerts = [
        gps("open", 0, rule="dirty_truck", matter="08012"),
        cam("open", 60, start_s=60, kind="mud_on_wheels", ref="m"),
    ]
    _, out = feed(alerts)
    assert told(out) == [("open", "dirty_truck", 0, "dirty_truck"), ("update", "dirty_truck", 60, "camera")]


def test_other_matters_far_or_late_alerts_stay_apart() -> None:
    far = 200 + 60 / 3.6 * 60 + 50  # a truck covers 1 km in the minute between: 1,250 m is too far
    alerts = [
        gps("open", 0),
        cam("open", 10, start_s=10, kind="mud_on_wheels", ref="m"),  # another matter
        cam("open", 60, start_s=60, east_m=far, ref="f"),
        cam("open", 400, start_s=400, ref="l"),  # more than window_s after any open alert of the plate
    ]
    _, out = feed(alerts)
    assert out == alerts


def test_by_place_the_radius_is_strict() -> None:
    alerts = [
        gps("open", 0, rule="overflow", matter="06042", subject="ST-1"),
        cam("open", 60, start_s=60, kind="bin_overflow", east_m=250, ref="x"),
        cam("open", 70, start_s=70, kind="bin_overflow", east_m=150, subject="CAM-2", ref="y"),
    ]
    _, out = feed(alerts, "420102001001001", by_plate=False)
    assert told(out) == [
        ("open", "overflow", 0, "overflow"),
        ("open", "camera", 60, "camera"),
        ("update", "overflow", 70, "camera"),
    ]


def test_sources_out_of_order_keep_the_survivor_in_time_order() -> None:
    alerts = [
        cam("open", 100, start_s=100, ref="a"),
        gps("open", 40, start_s=40),
        gps("clear", 90, start_s=40),
        cam("clear", 400, start_s=100),
    ]
    _, out = feed(alerts)
    assert [seconds(a.ts_ms) for a in out] == [100, 100, 400]
    assert out[1].evidence["fused_ts_ms"] == ms(40)


def test_a_redelivered_open_of_a_contributor_is_an_update_again() -> None:
    alerts = [gps("open", 0), cam("open", 60, start_s=60, ref="a")]
    state, out = feed(alerts)
    _, again = fusion.fuse(state, alerts[1], PLATE, PARAMS, by_plate=True)
    assert [a.phase for a in again] == [Phase.UPDATE] and again[0].alert_id == out[0].alert_id


def test_phases_of_unknown_alerts_pass_unchanged() -> None:
    stray = [gps("update", 10), gps("clear", 20)]
    assert feed(stray) == (FusionState(), stray)


def test_the_groups_of_a_key_are_bounded() -> None:
    params = PARAMS.model_copy(update={"max_tracked": 2})
    state = FusionState()
    for i in range(4):
        state, _ = fusion.fuse(state, gps("open", 1000.0 * i, start_s=1000.0 * i), PLATE, params)
    assert [g.episode_start_ms for g in state.groups] == [ms(2000), ms(3000)]


def test_state_round_trips_mid_fusion() -> None:
    alerts = [
        gps("open", 20),
        cam("open", 140, start_s=140, ref="a"),
        gps("clear", 200),
        cam("clear", 450, start_s=140),
    ]
    mid, before = feed(alerts[:3])
    assert len(mid.groups) == 1 and len(mid.groups[0].members) == 2 and len(before) == 2  # GPS clear absorbed
    assert json_round_trip(mid) == mid
    _, straight = feed(alerts)
    _, resumed = feed(alerts[3:], state=json_round_trip(mid))
    assert resumed == straight[2:]


def test_camera_rule_output_fuses_end_to_end() -> None:
    cam_state, cam_alerts = camera.CameraState(), []
    for e in [frame(60, "unsealed_truck", plate=PLATE), frame(90, "unsealed_truck", plate=PLATE)]:
        cam_state, out = camera.step(cam_state, e, PARAMS, matter_codes=CODES, subject=CAMERA)
        cam_alerts += out
    cam_state, out = camera.check(cam_state, ms(1000), PARAMS, matter_codes=CODES, subject=CAMERA)
    stream = sorted([gps("open", 0), *cam_alerts, *out, gps("clear", 600)], key=lambda a: a.ts_ms)
    _, fused = feed(stream)
    assert [(a.phase.value, seconds(a.ts_ms)) for a in fused] == [
        ("open", 0),
        ("update", 60),
        ("update", 90),
        ("clear", 600),
    ]  # camera cleared at 390: absorbed
    assert fused[-1].evidence["sources"][1]["image_refs"] == ["img/60.jpg", "img/90.jpg"]


def episodes(draw: st.DrawFn) -> list[Alert]:
    """Draw a few sources' clean episodes (OPEN UPDATE* CLEAR), interleaved in time order."""
    out = []
    for i in range(draw(st.integers(1, 5))):
        start = draw(st.integers(0, 900))
        times = sorted(draw(st.lists(st.integers(1, 400), min_size=1, max_size=4, unique=True)))
        east = draw(st.sampled_from([0.0, 100.0, 3000.0]))
        phases = ["open", *["update"] * (len(times) - 1), "clear"]
        for phase, t in zip(phases, [0, *times], strict=True):
            out.append(cam(phase, start + t, start_s=start, east_m=east, subject=f"CAM-{i}", ref=f"{i}-{t}"))
    return sorted(out, key=lambda a: a.ts_ms)


@given(st.composite(episodes)(), st.booleans())
def test_fused_alerts_form_clean_episodes(alerts: list[Alert], by_plate: bool) -> None:
    state, out = feed(alerts, by_plate=by_plate)
    check_episodes(out)
    assert not any(g.is_open for g in state.groups)  # every source cleared, so every survivor cleared
    survivors: dict[str, set[str]] = defaultdict(set)
    for a in out:
        survivors[a.alert_id].add(a.evidence.get("fused_alert_id", a.alert_id))
    contributors = [c for cs in survivors.values() for c in cs]
    assert sorted(contributors) == sorted({a.alert_id for a in alerts})  # each source fused exactly once


@given(st.composite(episodes)())
def test_reloading_state_before_every_alert_changes_nothing(alerts: list[Alert]) -> None:
    assert feed(alerts, restart=True) == feed(alerts)


def test_a_late_contributor_after_survivor_updates_stays_in_time_order() -> None:
    alerts = [
        cam("open", 100, start_s=100, ref="a"),
        cam("update", 200, start_s=100, ref="b"),
        gps("open", 150, start_s=150),
    ]
    _, out = feed(alerts)
    assert [(a.phase.value, seconds(a.ts_ms)) for a in out] == [("open", 100), ("update", 200), ("update", 200)]


def test_two_gps_rules_of_one_truck_stay_two_violations() -> None:
    deviation = gps("open", 40, start_s=10, rule="route_deviation")
    zone = gps("open", 50, start_s=45, rule="forbidden_zone")
    _, out = feed([deviation, zone])
    assert out == [deviation, zone]  # same plate and matter code, but no camera: passed through as they are


def test_a_sighting_that_cleared_before_the_gps_alert_arrived_still_fuses() -> None:
    # the stack: the camera's partition ran ahead, so its sighting opened and cleared (at 60 + 300 s)
    # before the GPS alert of second 90 arrived from a busier partition
    camera_first = [
        cam("open", 60, start_s=60, ref="a"),
        cam("clear", 360, start_s=60),
        gps("open", 90, start_s=90),
        gps("clear", 500, start_s=90),
    ]
    _, out = feed(camera_first)
    assert told(out) == [
        ("open", "camera", 60, "camera"),
        ("clear", "camera", 360, "camera"),
        ("update", "camera", 360, "uncovered_load"),
        ("clear", "camera", 500, "uncovered_load"),
    ]
    assert len({(a.alert_id, a.phase, a.ts_ms) for a in out}) == len(out)  # no phase twice at one time
    assert {(s["rule"], s["open"]) for s in out[-1].evidence["sources"]} == {
        ("camera", False),
        ("uncovered_load", False),
    }
    in_time_order = [camera_first[0], camera_first[2], camera_first[1], camera_first[3]]  # the embedded runner
    _, embedded = feed(in_time_order)
    assert {a.alert_id for a in embedded} == {a.alert_id for a in out}  # one violation, one alert, either way


def test_an_alert_after_a_group_cleared_starts_its_own() -> None:
    alerts = [cam("open", 60, start_s=60, ref="a"), cam("clear", 360, start_s=60), gps("open", 361, start_s=361)]
    _, out = feed(alerts)
    assert out == alerts  # the sighting was over by then: another violation


def test_cleared_groups_are_forgotten_after_the_window() -> None:
    state, _ = feed([cam("open", 60, start_s=60, ref="a"), cam("clear", 360, start_s=60)])
    assert len(state.groups) == 1 and not state.groups[0].is_open
    state, _ = fusion.fuse(state, gps("open", 661, start_s=661), PLATE, PARAMS, by_plate=True)
    assert [g.rule for g in state.groups] == ["uncovered_load"]


def test_a_gps_alert_that_opened_before_the_sighting_but_arrived_after_its_clear_fuses() -> None:
    # the catalog's truck: GPS open at 20 s and clear at 120 s, camera frame at 60 s (clear at 360 s);
    # the stack delivered the camera's whole sighting first
    stack = [
        cam("open", 60, start_s=60, ref="a"),
        cam("clear", 360, start_s=60),
        gps("open", 20, start_s=20),
        gps("clear", 120, start_s=20),
    ]
    _, out = feed(stack)
    assert [a.phase.value for a in out] == ["open", "clear", "update"]  # its CLEAR at 120 s: already cleared
    assert len({a.alert_id for a in out}) == 1
    assert {s["rule"] for s in out[-1].evidence["sources"]} == {"camera", "uncovered_load"}
    _, embedded = feed(sorted(stack, key=lambda a: a.ts_ms))
    assert len({a.alert_id for a in embedded}) == 1
    assert {s["rule"] for s in embedded[-1].evidence["sources"]} == {"camera", "uncovered_load"}


def test_two_devices_seen_by_one_camera_stay_two_violations() -> None:
    sighting = cam("open", 20, start_s=20)
    first = gps("open", 30, start_s=10)
    second = gps("open", 40, start_s=35, subject="MT-0002", east_m=50)  # another truck, 50 m on, same matter
    _, out = feed([sighting, first, second], key="cell-1", by_plate=False)
    assert [a.alert_id for a in out] == [sighting.alert_id] * 2 + [second.alert_id]  # the first truck fused
    assert out[-1] == second  # passed through as itself: its own violation
