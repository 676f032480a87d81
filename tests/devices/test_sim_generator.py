"""The pure message generator: determinism, sequencing, contract validity, and the acceptance scenarios.

Distances here are measured independently of the simulator's own geometry: pyproj projects to
UTM 50N and shapely measures point-to-route distances. ``oracle`` (test_sim_oracle) computes what
every rule of the catalog makes of a stream. A muck truck loads at a bay inside its site, 36 m
from the gate where its route starts, so its fixes lie up to ~42 m from the route.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyproj import Transformer

from devices.catalog import Accepted
from devices.contracts import (
    DeviceStatus,
    FacilityReading,
    LoadState,
    Message,
    SiteReading,
    VehiclePosition,
)
from devices.inventory import City, load_city
from devices.sim.generator import device_kinds, generate, topic_of
from devices.sim.scenario import (
    Deviate,
    OpenCover,
    Overflow,
    Scenario,
    load_scenario,
    parse_scenario,
)
from ingest.validate import Limits, Rejected, validate
from tests.devices.test_sim_oracle import oracle

ROOT = Path(__file__).resolve().parents[2]
START_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z = 08:00 in Wuhan
UTM = Transformer.from_crs("EPSG:4326", "EPSG:32650", always_xy=True)
BAY_SLACK_M = 44.0  # loading bay 36 m from the gate, GPS noise <= 6 m, and a margin


@pytest.fixture(scope="module")
def city() -> City:
    return load_city(ROOT / "cities" / "demo")


@pytest.fixture(scope="module")
def foundation(city: City) -> Scenario:
    return load_scenario(ROOT / "scenarios" / "foundation.yaml", city)


@pytest.fixture(scope="module")
def foundation_stream(city: City, foundation: Scenario) -> list[Message]:
    return list(generate(city, foundation, 7, START_MS))


def variant(city: City, **changes: object) -> City:
    """Return a changed copy (model_copy would carry over the cached lookup tables)."""
    fields = {name: getattr(city, name) for name in City.model_fields}
    return City.model_validate({**fields, **changes})


def clean(duration_s: float) -> Scenario:
    return parse_scenario({"name": "clean", "duration_s": duration_s})


def by_device(stream: list[Message], kind: type[Message]) -> dict[str, list]:
    out: dict[str, list] = defaultdict(list)
    for m in stream:
        if isinstance(m, kind):
            out[m.device_id].append(m)
    return out


def route_distances(city: City, device_id: str, positions: list[VehiclePosition]) -> np.ndarray:
    vehicle = city.vehicle_by_terminal[device_id]
    permit = city.permit_by_vehicle.get(vehicle.vehicle_id)
    line = permit.route if permit is not None else vehicle.round
    route = shapely.LineString([UTM.transform(lon, lat) for lon, lat in line])
    xs, ys = UTM.transform([p.lon for p in positions], [p.lat for p in positions])
    return shapely.distance(shapely.points(np.column_stack([xs, ys])), route)


def sim_s(message: Message) -> float:
    return (message.ts_ms - START_MS) / 1000


# --- determinism and sequencing -------------------------------------------------------------


def test_same_seed_gives_the_same_stream(city: City, foundation: Scenario, foundation_stream: list[Message]) -> None:
    assert list(generate(city, foundation, 7, START_MS)) == foundation_stream


def test_different_seeds_give_different_streams(
    city: City, foundation: Scenario, foundation_stream: list[Message]
) -> None:
    other = list(generate(city, foundation, 8, START_MS))
    assert len(other) == len(foundation_stream)
    assert other != foundation_stream


def test_seq_per_device_runs_from_zero_without_gaps(foundation_stream: list[Message]) -> None:
    seqs: dict[str, list[int]] = defaultdict(list)
    for m in foundation_stream:
        seqs[m.device_id].append(m.seq)
    assert len(seqs) == 24  # 12 trucks, 6 fill sensors, 3 site monitors, 1 background station, 2 idle cameras
    for device, got in seqs.items():
        assert got == list(range(len(got))), device


def test_timestamps_never_go_backwards_and_stay_in_the_run(foundation_stream: list[Message]) -> None:
    ts = [m.ts_ms for m in foundation_stream]
    assert ts == sorted(ts)
    assert ts[0] == START_MS and ts[-1] == START_MS + 1_200_000


def test_each_device_is_born_online_first_and_goes_offline_last(foundation_stream: list[Message]) -> None:
    statuses = by_device(foundation_stream, DeviceStatus)
    for device, (birth, farewell) in statuses.items():
        assert (birth.state, birth.seq, farewell.state) == ("online", 0, "offline"), device


def test_report_counts_follow_the_intervals(foundation_stream: list[Message]) -> None:
    counts = Counter(type(m).__name__ for m in foundation_stream)
    assert counts == {
        "VehiclePosition": 12 * 120,
        "FacilityReading": 6 * 20,
        "SiteReading": 4 * 20,  # three site monitors and the background station
        "DeviceStatus": 48,  # birth + last will of 24 devices (idle cameras included)
    }


def test_every_message_round_trips_through_its_contract(city: City, foundation_stream: list[Message]) -> None:
    kinds = device_kinds(city)
    for m in foundation_stream:
        assert type(m).model_validate_json(m.model_dump_json()) == m
        topic = topic_of(m, kinds)
        assert topic.startswith(f"citywatch/v1/{kinds[m.device_id]}/{m.device_id}/")


@pytest.mark.parametrize("name", sorted(p.name for p in (ROOT / "scenarios").glob("*.yaml")))
def test_ingest_accepts_every_message_the_simulator_publishes(city: City, name: str) -> None:
    scenario = load_scenario(ROOT / "scenarios" / name, city)
    start = scenario.pinned_start_ms(city.meta.timezone) or START_MS
    kinds, limits = device_kinds(city), Limits(kinds=city.kind_by_device)  # strict types and the city's inventory
    results = [
        validate(topic_of(m, kinds), m.model_dump_json().encode(), m.ts_ms, limits)
        for m in generate(city, scenario, 3, start)
    ]
    assert [r for r in results if isinstance(r, Rejected)] == []
    assert {r.event.device_id for r in results if isinstance(r, Accepted)} <= set(city.kind_by_device)


def test_a_device_stream_does_not_depend_on_other_devices(city: City, foundation: Scenario) -> None:
    fewer = variant(city, vehicles=city.vehicles[1:], permits=city.permits[1:])
    no_m01 = parse_scenario({"name": "x", "duration_s": 1200})
    full = [m for m in generate(city, no_m01, 3, START_MS) if m.device_id != "gps-m01"]
    assert list(generate(fewer, no_m01, 3, START_MS)) == full


def test_an_injection_changes_only_its_own_device(city: City, foundation: Scenario) -> None:
    planted = list(generate(city, foundation, 3, START_MS))
    calm = list(generate(city, clean(1200), 3, START_MS))
    targets = {i.vehicle if not isinstance(i, Overflow) else i.facility for i in foundation.injections}
    assert [m for m in planted if m.device_id not in targets] == [m for m in calm if m.device_id not in targets]


def test_duration_override_truncates_the_run(city: City, foundation: Scenario) -> None:
    short = list(generate(city, foundation, 7, START_MS, duration_s=120))
    assert max(m.ts_ms for m in short) == START_MS + 120_000
    assert len(by_device(short, VehiclePosition)["gps-m01"]) == 12


# --- clean traffic --------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_clean_vehicles_stay_on_their_route_or_round(city: City, seed: int) -> None:
    positions = by_device(list(generate(city, clean(3600), seed, START_MS)), VehiclePosition)
    assert len(positions) == 12
    for device, reports in positions.items():
        assert route_distances(city, device, reports).max() < BAY_SLACK_M, device


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_clean_vehicles_never_look_uncovered_or_speeding(city: City, seed: int) -> None:
    for m in generate(city, clean(3600), seed, START_MS):
        if isinstance(m, VehiclePosition):
            assert m.speed_kmh <= 40.0
            uncovered = m.cover_closed is False and m.load_state is not LoadState.EMPTY and m.speed_kmh >= 5.0
            assert not uncovered, m


def test_muck_trucks_shuttle_loaded_out_and_empty_back(city: City) -> None:
    positions = by_device(list(generate(city, clean(3600), 5, START_MS)), VehiclePosition)
    for device in ("gps-m01", "gps-m03"):
        reports = positions[device]
        assert {m.load_state for m in reports} == set(LoadState)
        assert any(m.body_lifted for m in reports)
        assert all(m.speed_kmh == 0.0 for m in reports if m.body_lifted)
    garbage = positions["gps-g01"]
    assert {(m.cover_closed, m.body_lifted) for m in garbage} == {(None, None)}
    assert np.mean([m.speed_kmh for m in garbage if m.speed_kmh > 0]) == pytest.approx(31, abs=5)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_clean_sensors_stay_under_their_limits_for_an_hour(city: City, seed: int) -> None:
    for m in generate(city, clean(3600), seed, START_MS):
        if isinstance(m, FacilityReading):
            assert m.fill_ratio < 0.8
            assert (m.nh3_mgm3 or 0) < 1.0 and (m.h2s_mgm3 or 0) < 0.03
        elif isinstance(m, SiteReading):
            assert m.pm10_ugm3 < 150.0 and m.noise_dba < 70.0


def test_site_noise_drops_under_the_night_limit_at_night(city: City) -> None:
    night_start = START_MS + 15 * 3_600_000  # 23:00 in Wuhan
    for m in generate(city, clean(3600), 1, night_start):
        if isinstance(m, SiteReading):
            assert m.noise_dba < 55.0


# --- injections -----------------------------------------------------------------------------


def _in(m: Message, start: float, end: float) -> bool:
    return start <= sim_s(m) <= end


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_deviations_leave_the_corridor_for_their_window_only(city: City, foundation: Scenario, seed: int) -> None:
    positions = by_device(list(generate(city, foundation, seed, START_MS)), VehiclePosition)
    for inj in (i for i in foundation.injections if isinstance(i, Deviate)):
        reports = positions[inj.vehicle]
        d = route_distances(city, inj.vehicle, reports)
        inside = np.array([_in(m, inj.at_s, inj.at_s + inj.duration_s) for m in reports])
        around = np.array([_in(m, inj.at_s - 20, inj.at_s + inj.duration_s + 20) for m in reports])
        assert inside.sum() >= 11 and d[inside].min() > 150.0
        assert d[~around].max() < BAY_SLACK_M
        assert all(
            m.speed_kmh >= 5.0 and m.load_state is LoadState.FULL for m, i in zip(reports, inside, strict=True) if i
        )


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_open_covers_drive_loaded_and_uncovered_for_their_window(city: City, foundation: Scenario, seed: int) -> None:
    positions = by_device(list(generate(city, foundation, seed, START_MS)), VehiclePosition)
    for inj in (i for i in foundation.injections if isinstance(i, OpenCover)):
        window = [m for m in positions[inj.vehicle] if _in(m, inj.at_s, inj.at_s + inj.duration_s)]
        assert window[-1].ts_ms - window[0].ts_ms >= 60_000
        for m in window:
            assert m.cover_closed is False and m.load_state is not LoadState.EMPTY and m.speed_kmh >= 5.0
        assert route_distances(city, inj.vehicle, window).max() < 30.0


def test_overflows_ramp_up_and_stay(city: City, foundation: Scenario, foundation_stream: list[Message]) -> None:
    readings = by_device(foundation_stream, FacilityReading)
    for inj in (i for i in foundation.injections if isinstance(i, Overflow)):
        series = readings[inj.facility]
        assert all(m.fill_ratio < 0.8 for m in series if sim_s(m) < inj.at_s)
        late = [m.fill_ratio for m in series if sim_s(m) >= inj.at_s + inj.ramp_s]
        assert len(late) >= 2 and min(late) >= 0.8 and max(late) == pytest.approx(inj.to_ratio, abs=0.02)


# --- the acceptance scenarios plant exactly their expected alerts, at any hour -------------------


def expected_tickets(scenario: Scenario) -> Counter[tuple[str, str]]:
    return Counter((e.rule, e.subject) for e in scenario.expected)


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(min_value=0, max_value=2**32), hour=st.integers(min_value=0, max_value=23))
def test_foundation_plants_exactly_the_expected_tickets(city: City, foundation: Scenario, seed: int, hour: int) -> None:
    start = START_MS + hour * 3_600_000 + 17 * 60_000
    assert oracle(city, list(generate(city, foundation, seed, start))) == expected_tickets(foundation)


@pytest.mark.parametrize(("seed", "hours"), [(0, 0), (1, 9), (2, 14)])
def test_demo_plants_exactly_the_expected_tickets(city: City, seed: int, hours: int) -> None:
    demo = load_scenario(ROOT / "scenarios" / "demo.yaml", city)
    stream = list(generate(city, demo, seed, START_MS + hours * 3_600_000))
    assert oracle(city, stream) == expected_tickets(demo)


def test_the_background_station_leaves_every_other_device_stream_unchanged(city: City) -> None:
    without = variant(
        city, background_stations=[], sites=[s.model_copy(update={"background_device_id": None}) for s in city.sites]
    )
    fast = clean(1800)
    stream = [m for m in generate(city, fast, 3, START_MS) if m.device_id != "env-bg01"]
    assert stream == list(generate(without, fast, 3, START_MS))


def test_report_intervals_come_from_the_scenario(city: City) -> None:
    fast = parse_scenario({"name": "fast", "duration_s": 600, "report_intervals": {"vehicle_s": 5, "site_s": 30}})
    counts = Counter(type(m).__name__ for m in generate(city, fast, 1, START_MS, status=False))
    assert counts == {"VehiclePosition": 12 * 120, "FacilityReading": 6 * 10, "SiteReading": 4 * 20}


def test_a_muck_truck_without_a_permit_stands_parked_at_the_centre(city: City) -> None:
    no_permit = variant(city, permits=city.permits[1:])
    reports = by_device(list(generate(no_permit, clean(300), 1, START_MS)), VehiclePosition)["gps-m01"]
    assert {(m.speed_kmh, m.load_state, m.cover_closed) for m in reports} == {(0.0, LoadState.EMPTY, True)}
    assert max(abs(m.lon - 114.30) + abs(m.lat - 30.59) for m in reports) < 1e-3
