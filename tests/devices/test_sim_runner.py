"""The runner without a broker: a fake publisher records what would go on the wire.

Broker integration (real Mosquitto) is tested elsewhere; here: topics, retain flags, payloads,
counting, stopping early, pacing and the choice of start time.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from devices.contracts import DeviceStatus, model_for
from devices.inventory import City, load_city
from devices.sim.generator import generate, start_ms_for, suggest_start_ms
from devices.sim.publisher import PublisherConfig
from devices.sim.runner import Pacer, Simulation
from devices.sim.scenario import Scenario, load_scenario

ROOT = Path(__file__).resolve().parents[2]
START_MS = 1_767_225_600_000


class FakePublisher:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes, bool]] = []
        self.calls: list[str] = []
        self.interrupted = False

    def connect(self) -> None:
        self.calls.append("connect")

    def publish(self, topic: str, payload: bytes, retain: bool = False) -> bool:
        self.sent.append((topic, payload, retain))
        return True

    def drain(self, timeout_s: float | None = None) -> int:
        self.calls.append("drain")
        return 0

    def interrupt(self) -> None:
        self.interrupted = True

    def close(self) -> None:
        self.calls.append("close")


@pytest.fixture(scope="module")
def city() -> City:
    return load_city(ROOT / "cities" / "demo")


@pytest.fixture(scope="module")
def foundation(city: City) -> Scenario:
    return load_scenario(ROOT / "scenarios" / "foundation.yaml", city)


def test_run_publishes_the_generated_stream_on_contract_topics(city: City, foundation: Scenario) -> None:
    fake = FakePublisher()
    stats = Simulation(city, foundation, 9, START_MS, fake, speed=0).run()
    expected = list(generate(city, foundation, 9, START_MS))
    assert fake.calls == ["connect", "drain", "close"]
    assert stats.published == len(fake.sent) == len(expected) == 1688 and not stats.stopped
    assert stats.by_kind == {
        "VehiclePosition": 1440,
        "FacilityReading": 120,
        "SiteReading": 80,
        "DeviceStatus": 48,
    }
    for (topic, payload, retain), message in zip(fake.sent, expected, strict=True):
        _, _, kind, device_id, channel = topic.split("/")
        model = model_for(kind, channel)
        assert model is type(message) and device_id == message.device_id
        assert model.model_validate_json(payload) == message
        assert retain == (channel == "status")


def test_stop_ends_the_run_and_says_goodbye_for_every_device(city: City, foundation: Scenario) -> None:
    fake = FakePublisher()
    sim = Simulation(city, foundation, 9, START_MS, fake, speed=0)
    sim.on_message = lambda m: sim.stop() if sim.stats.published == 100 else None
    stats = sim.run()
    assert stats.stopped and fake.interrupted and fake.calls[-1] == "close"
    farewells = [json.loads(p) for t, p, r in fake.sent[100:]]
    assert len(farewells) == 24 and all(f["state"] == "offline" for f in farewells)
    assert all(r for _, _, r in fake.sent[100:])
    last_seq = {json.loads(p)["device_id"]: json.loads(p)["seq"] for _, p, _ in fake.sent[:100]}
    assert all(f["seq"] == last_seq[f["device_id"]] + 1 for f in farewells)


def test_duration_override_and_counts(city: City, foundation: Scenario) -> None:
    fake = FakePublisher()
    stats = Simulation(city, foundation, 9, START_MS, fake, duration_s=60).run()
    assert stats.by_kind["VehiclePosition"] == 72 and stats.sim_s == 60.0
    assert stats.by_kind["DeviceStatus"] == 48


def test_pacer_spreads_sim_time_over_wall_time() -> None:
    now = [100.0]
    pacer = Pacer(10.0, clock=lambda: now[0])
    assert pacer.delay_s(START_MS) == 0.0
    assert pacer.delay_s(START_MS + 10_000) == pytest.approx(1.0)
    now[0] = 101.5
    assert pacer.delay_s(START_MS + 10_000) == 0.0
    assert pacer.delay_s(START_MS + 20_000) == pytest.approx(0.5)
    assert Pacer(None).delay_s(START_MS + 10**9) == 0.0 and Pacer(0).delay_s(START_MS) == 0.0


@given(st.sampled_from([None, 0, 0.5, 1, 2, 10, 100]), st.floats(min_value=0.0, max_value=1.0))
def test_suggested_start_keeps_paced_timestamps_out_of_the_future(speed: float | None, fraction: float) -> None:
    now_ms, duration_s = START_MS, 3600.0
    start = suggest_start_ms(now_ms, duration_s, speed)
    t = fraction * duration_s
    wall_ms = now_ms + (t / speed * 1000 if speed else 0)
    assert start + t * 1000 <= wall_ms + 1
    assert start >= now_ms - duration_s * 1000


def test_publisher_config_hides_the_password_and_names_its_status_topic() -> None:
    cfg = PublisherConfig(username="sim", password="s3cret", client_id="sim-1")
    assert "s3cret" not in repr(cfg)
    assert cfg.resolved_status_topic == "citywatch/sim/sim-1/status"
    assert PublisherConfig(status_topic="x/y").resolved_status_topic == "x/y"


def test_birth_and_vehicle_topics_follow_the_convention(city: City, foundation: Scenario) -> None:
    fake = FakePublisher()
    Simulation(city, foundation, 9, START_MS, fake, duration_s=10).run()
    topics = {t for t, _, _ in fake.sent}
    assert "citywatch/v1/vehicle/gps-m01/status" in topics and "citywatch/v1/vehicle/gps-m01/telemetry" in topics
    assert "citywatch/v1/facility/fill-s01/status" in topics and "citywatch/v1/site/env-c01/status" in topics
    assert isinstance(DeviceStatus.model_validate_json(fake.sent[0][1]), DeviceStatus)


def test_a_pinned_start_wins_over_the_suggestion(city: City, foundation: Scenario) -> None:
    catalog = load_scenario(ROOT / "scenarios" / "catalog.yaml", city)
    pinned = catalog.pinned_start_ms(city.meta.timezone)
    assert pinned == 1_794_834_000_000
    assert suggest_start_ms(START_MS, 3600.0, 10.0, pinned) == pinned
    assert start_ms_for(catalog, city, START_MS, 10.0) == pinned
    assert start_ms_for(foundation, city, START_MS, 10.0) == suggest_start_ms(START_MS, 1200.0, 10.0)


def test_cameras_are_born_publish_events_and_say_goodbye(city: City) -> None:
    catalog = load_scenario(ROOT / "scenarios" / "catalog.yaml", city)
    fake = FakePublisher()
    sim = Simulation(city, catalog, 3, start_ms_for(catalog, city, START_MS, None), fake, duration_s=1900)
    sim.on_message = lambda m: sim.stop() if getattr(m, "device_id", "") == "cam-02" and m.seq == 1 else None
    stats = sim.run()
    topics = [t for t, _, _ in fake.sent]
    assert "citywatch/v1/camera/cam-02/event" in topics and stats.by_kind["CameraEvent"] == 1
    statuses = [
        (t, json.loads(p)["state"], r)
        for t, p, r in fake.sent
        if t.startswith("citywatch/v1/camera/") and t.endswith("/status")
    ]
    assert ("citywatch/v1/camera/cam-01/status", "online", True) in statuses
    assert ("citywatch/v1/camera/cam-02/status", "offline", True) in statuses
