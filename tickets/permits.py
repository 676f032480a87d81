"""The status of the city's transport permits (准运证) today: valid, expired, not yet valid, or suspended.

A permit whose company is suspended (退出机制, ``tickets/sanctions.py``) is shown suspended
whatever its dates say: its truck must not drive until a shift lead lifts the suspension.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from devices.inventory import City


def permit_status(city: City, suspensions: Mapping[str, Mapping[str, Any]], now_ms: int) -> list[dict[str, Any]]:
    """Return every permit with its vehicle, company and status at now_ms (the city's local date)."""
    today = datetime.fromtimestamp(now_ms / 1000, UTC).astimezone(ZoneInfo(city.meta.timezone)).date()
    vehicles = {v.vehicle_id: v for v in city.vehicles}
    out = []
    for p in city.permits:
        v = vehicles[p.vehicle_id]
        held = suspensions.get(v.company)
        status = (
            "suspended"
            if held
            else ("not_yet_valid" if today < p.valid_from else "expired" if today > p.valid_to else "valid")
        )
        out.append(
            {
                "permit_id": p.permit_id,
                "vehicle_id": v.vehicle_id,
                "plate": v.plate,
                "terminal_id": v.terminal_id,
                "company": v.company,
                "valid_from": p.valid_from.isoformat(),
                "valid_to": p.valid_to.isoformat(),
                "status": status,
                "suspended_since_ms": held["suspended_ms"] if held else None,
                "suspension_reason": held["reason"] if held else None,
            }
        )
    return out
