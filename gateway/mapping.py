"""A JT/T 808 location report as the contract's ``VehiclePosition`` (pure).

Standard fields: latitude / longitude ×1e-6 (signed by the codec from the S / W status bits), speed
in 1/10 km/h, direction in degrees, load from status bits 8-9 (00 empty, 01 half, 11 full; 10 is
reserved and read as empty, so a terminal's odd value never accuses a truck of an uncovered load).
The terminal's alarm flags travel as ``terminal_alarms`` (the alerts keep them in their evidence).
The 渣土 signals (密闭, 举升, weight) are read where the terminal's model puts them
(``devices.terminals``); a model that does not report one leaves it null.
"""

from __future__ import annotations

from devices.contracts import LoadState, VehiclePosition
from devices.terminals import Quantity, SignalBit, TerminalModel
from jt808.messages import LocationReport, alarm_names, tlv_value

LOAD_BITS = {0b00: LoadState.EMPTY, 0b01: LoadState.HALF, 0b10: LoadState.EMPTY, 0b11: LoadState.FULL}


def signal(extras: tuple[tuple[int, bytes], ...], where: SignalBit | None) -> bool | None:
    """Return a yes/no vendor signal, None if the model or this report does not carry it."""
    value = tlv_value(extras, where.tlv) if where is not None else None
    if where is None or not value or where.bit >= 8 * len(value):
        return None
    return (int.from_bytes(value, "big") >> where.bit & 1) == where.active


def quantity(extras: tuple[tuple[int, bytes], ...], where: Quantity | None) -> float | None:
    """Return a vendor number (unsigned, big-endian, times its scale), None if not carried."""
    value = tlv_value(extras, where.tlv) if where is not None else None
    if where is None or not value:
        return None
    return round(int.from_bytes(value, "big") * where.scale, 3)


def position(report: LocationReport, device_id: str, seq: int, model: TerminalModel | None) -> VehiclePosition:
    """Return the report as a contract message (pydantic's ValidationError if a value is out of range)."""
    extras = report.extras
    closed = signal(extras, model.cover_closed) if model else None
    lifted = signal(extras, model.body_lifted) if model else None
    weight = quantity(extras, model.weight_kg) if model else None
    return VehiclePosition(
        device_id=device_id,
        ts_ms=report.ts_ms,
        seq=seq,
        lon=report.lon_e6 / 1e6,
        lat=report.lat_e6 / 1e6,
        speed_kmh=report.speed_dkmh / 10,
        heading_deg=float(0 if report.direction == 360 else report.direction),
        load_state=LOAD_BITS[report.load_bits],
        cover_closed=closed,
        body_lifted=lifted,
        weight_kg=weight,
        terminal_alarms=(alarm_names(report.alarm) or None) if report.alarm else None,
    )
