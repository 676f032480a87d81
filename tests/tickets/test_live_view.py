"""The console's live read model: a device is online when its newest message says so (the 在线车辆 tile)."""

from __future__ import annotations

from devices.contracts import DeviceStatus, VehiclePosition
from tickets.live import LiveView

T = 1_796_000_000_000


def position(ts_ms: int, device: str = "gps-m01") -> VehiclePosition:
    return VehiclePosition(
        device_id=device, ts_ms=ts_ms, seq=ts_ms // 1000, lon=114.3, lat=30.59, speed_kmh=30.0, heading_deg=90.0
    )


def status(ts_ms: int, state: str, device: str = "gps-m01") -> DeviceStatus:
    return DeviceStatus(device_id=device, ts_ms=ts_ms, seq=ts_ms // 1000, state=state)  # type: ignore[arg-type]


def online(live: LiveView) -> dict[str, bool]:
    return {v["device_id"]: v["online"] for v in live.snapshot()["vehicles"]}


def test_a_truck_moving_after_a_stale_offline_status_is_online() -> None:
    live = LiveView()
    live.add_all([status(T - 3_600_000, "offline"), position(T)])  # a retained last will from an hour ago
    assert online(live) == {"gps-m01": True}


def test_a_truck_without_any_status_message_is_online_while_it_reports() -> None:
    live = LiveView()
    live.add_all([position(T), position(T, "gps-m02")])
    assert online(live) == {"gps-m01": True, "gps-m02": True}


def test_a_last_will_after_the_last_position_takes_the_truck_offline_until_it_reports_again() -> None:
    live = LiveView()
    live.add_all([position(T), status(T + 60_000, "offline")])
    assert online(live) == {"gps-m01": False}
    live.add_all([position(T + 120_000)])
    assert online(live) == {"gps-m01": True}
