"""``citywatch sim`` as a compose service: /healthz and /metrics while it publishes, a clean stop on SIGTERM."""

from __future__ import annotations

import json
import urllib.request

import pytest

from devices.contracts import DeviceStatus
from devices.inventory import load_city
from tests.conftest import Services
from tests.e2e import harness
from tests.e2e.harness import BIN, REPO
from tests.support import wait_for

pytestmark = pytest.mark.services


def test_the_simulator_reports_health_and_metrics_and_stops_cleanly_on_sigterm(
    services: Services, tmp_path: object, unique: str
) -> None:
    port = harness.free_port()
    env = {
        "CITYWATCH_MQTT_HOST": services.mqtt_host,
        "CITYWATCH_MQTT_PORT": str(services.mqtt_port),
        "CITYWATCH_MQTT_CLIENT_ID": f"sim-{unique}",
        "CITYWATCH_HEALTH_PORT": str(port),
        "CITYWATCH_CITY_DIR": str(REPO / "cities" / "demo"),
    }
    args = [str(BIN / "citywatch"), "--log-json", "sim", "--scenario", "scenarios/foundation.yaml", "--speed", "2"]
    sim = harness.start("sim", args, env, tmp_path)  # type: ignore[arg-type]
    try:
        metrics = wait_for(
            lambda: (
                (m := scrape_or_none(port))
                and m.get('citywatch_sim_published_total{kind="VehiclePosition"}', 0) > 0
                and m
            ),
            timeout=60,
            what="the simulator to publish and report it",
        )
        assert metrics["citywatch_sim_mqtt_connected"] == 1
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as resp:
            assert resp.status == 200 and json.loads(resp.read())["mqtt"] is True
    finally:
        code = sim.stop()
    assert code == 0, sim.text()[-3000:]
    assert "published" in sim.text()
    city = load_city(REPO / "cities" / "demo")  # the offline statuses it left retained must not reach other tests
    harness.clear_retained(
        services.mqtt_host,
        services.mqtt_port,
        [DeviceStatus.topic_for_kind(kind, d) for d, kind in city.kind_by_device.items()],
    )


def scrape_or_none(port: int) -> dict[str, float] | None:
    """Return the metrics, or None while the server is not up yet."""
    try:
        return harness.scrape(port)
    except OSError:
        return None
