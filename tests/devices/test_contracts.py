"""The wire contract: topics, strictness, and that the README documents exactly these models."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from devices.contract_doc import render
from devices.contracts import (
    DeviceStatus,
    FacilityReading,
    LoadState,
    VehiclePosition,
    model_for,
)

README = Path(__file__).resolve().parents[2] / "README.md"
T0 = 1_790_000_000_000


def test_topics_are_versioned_and_specific() -> None:
    assert VehiclePosition.topic_for("gps-m01") == "citywatch/v1/vehicle/gps-m01/telemetry"
    assert FacilityReading.topic_for("fill-s01") == "citywatch/v1/facility/fill-s01/telemetry"
    assert DeviceStatus.topic_for_kind("site", "env-c01") == "citywatch/v1/site/env-c01/status"


def test_model_for_topic_parts() -> None:
    assert model_for("vehicle", "telemetry") is VehiclePosition
    assert model_for("camera", "status") is DeviceStatus
    assert model_for("vehicle", "event") is None


def test_models_are_frozen_and_strict() -> None:
    reading = FacilityReading(device_id="fill-s01", ts_ms=T0, seq=0, fill_ratio=0.5)
    with pytest.raises(ValidationError):
        reading.fill_ratio = 0.9  # type: ignore[misc]
    with pytest.raises(ValidationError, match="extra"):
        FacilityReading(device_id="fill-s01", ts_ms=T0, seq=0, fill_ratio=0.5, colour="red")  # type: ignore[call-arg]


def test_json_round_trip_is_lossless() -> None:
    pos = VehiclePosition(
        device_id="gps-m01",
        ts_ms=T0,
        seq=3,
        lon=114.3,
        lat=30.6,
        speed_kmh=20.5,
        heading_deg=359.9,
        load_state="half",
        cover_closed=False,
        body_lifted=None,
    )
    assert VehiclePosition.model_validate_json(pos.model_dump_json()) == pos


def test_readme_documents_the_contract_as_the_models_define_it() -> None:
    text = README.read_text(encoding="utf-8")
    start, end = "<!-- contract:start -->", "<!-- contract:end -->"
    assert start in text and end in text, "README lacks the contract block"
    block = text.split(start, 1)[1].split(end, 1)[0].strip()
    assert block == render().strip(), "README contract is stale: paste `citywatch contract` between the markers"


def test_python_callers_get_the_same_strict_types() -> None:
    with pytest.raises(ValidationError, match="seq"):
        VehiclePosition(device_id="gps-m01", ts_ms=T0, seq="3", lon=114.3, lat=30.6, speed_kmh=1, heading_deg=0)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="schema_version"):
        FacilityReading(device_id="fill-s01", ts_ms=T0, seq=0, fill_ratio=0.5, schema_version=True)  # type: ignore[arg-type]
    pos = VehiclePosition(
        device_id="gps-m01", ts_ms=T0, seq=3, lon=114, lat=30, speed_kmh=1, heading_deg=0, load_state="half"
    )  # ints for floats, and an enum by its value, as in JSON
    assert pos.load_state is LoadState.HALF and type(pos.lon) is float
