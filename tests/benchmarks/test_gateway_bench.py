"""The gateway benchmark runs end to end at a small scale and accounts for every report (no timing asserted)."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.gateway import location_frames, run
from devices.contracts import LoadState, VehiclePosition
from jt808 import messages as m
from jt808.frame import unpack

pytestmark = pytest.mark.services


def test_the_benchmark_frames_are_location_reports_of_the_positions() -> None:
    fix = VehiclePosition(
        device_id="gps-mx00001",
        ts_ms=1_795_000_000_000,
        seq=0,
        lon=114.3,
        lat=30.6,
        speed_kmh=30.0,
        heading_deg=90.4,
        load_state=LoadState.FULL,
    )
    (frame,) = location_frames("14700000001", [fix])
    header, body = unpack(frame)
    report = m.decode_body(header, body)
    assert isinstance(report, m.LocationReport) and header.phone.lstrip("0") == "14700000001"
    assert (report.lat_e6, report.lon_e6, report.speed_dkmh, report.direction, report.ts_ms) == (
        30_600_000,
        114_300_000,
        300,
        90,
        fix.ts_ms,
    )


def test_every_report_is_answered_and_processed_by_the_pipeline(services: object, tmp_path: Path) -> None:
    figures = run(terminals=40, fixes=3, procs=1, tmp=tmp_path)
    assert figures["terminals"] == 40 and figures["reports_answered"] == 120 and figures["reports_refused"] == 0
    assert figures["pipeline_events"] == 120
    assert {"reports_per_s", "answer_p99_ms", "kib_per_idle_connection", "gateway_cpu_s_per_1000_reports"} <= set(
        figures
    )
