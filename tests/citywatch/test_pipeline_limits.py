"""Ingest's limits come from the settings and the city: only the city's devices may publish."""

from __future__ import annotations

from pathlib import Path

import pytest

from citywatch.pipeline import limits
from citywatch.settings import Settings
from devices.inventory import CityConfigError, load_city
from ingest.validate import Reason, Rejected, validate

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "cities" / "demo"


def test_limits_carry_the_settings_and_every_device_of_the_city() -> None:
    built = limits(Settings(city_dir=DEMO, max_payload_bytes=2048, max_future_skew_s=60))
    assert (built.max_payload_bytes, built.max_future_skew_ms) == (2048, 60_000)
    assert built.kinds == load_city(DEMO).kind_by_device
    assert built.kinds is not None and built.kinds["cam-02"] == "camera" and built.kinds["env-bg01"] == "site"


def test_the_built_limits_refuse_a_truck_posing_as_a_camera() -> None:
    result = validate("citywatch/v1/camera/gps-m01/event", b"{}", 0, limits(Settings(city_dir=DEMO)))
    assert isinstance(result, Rejected) and result.reason is Reason.WRONG_KIND


def test_a_broken_city_stops_ingest_before_it_starts(tmp_path: Path) -> None:
    with pytest.raises(CityConfigError, match="not a directory"):
        limits(Settings(city_dir=tmp_path / "nowhere"))
