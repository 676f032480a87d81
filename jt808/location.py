"""Location report (0x0200), batch upload (0x0704), alarm bits and additional-information items.

0x0200 body (big-endian)::

    alarm DWORD | status DWORD | latitude DWORD | longitude DWORD | altitude WORD (m) | speed WORD (1/10 km/h)
    | direction WORD (0-359, north = 0, clockwise) | time BCD[6] (YYMMDDhhmmss, UTC+8) | items...
    item: id BYTE | length BYTE | value

Latitude and longitude are unsigned 1e-6 degrees on the wire, with status bit 2 = south and bit 3 = west;
``LocationReport`` holds them signed and keeps those two status bits in step with the signs (a zero
coordinate keeps its bit as given). Altitude is a WORD (unsigned) as the standard says; the direction is
not range-checked on decode (terminals send what they send).

0x0704 body: count WORD | kind BYTE (0 normal batch, 1 blind-area re-upload) | count x (length WORD + 0x0200 body).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import ClassVar

from jt808.bcd import bcd_time, parse_bcd_time
from jt808.errors import FrameError

LOCATION = 0x0200
BATCH_LOCATION = 0x0704

STATUS_ACC = 1 << 0
STATUS_POSITIONED = 1 << 1
STATUS_SOUTH = 1 << 2
STATUS_WEST = 1 << 3

BATCH_NORMAL = 0
BATCH_BLIND_AREA = 1

TLV_MILEAGE = 0x01  # DWORD, 1/10 km
TLV_FUEL = 0x02  # WORD, 1/10 L
TLV_TACHO_SPEED = 0x03  # WORD, 1/10 km/h, from the tachograph
TLV_SIGNAL = 0x30  # BYTE, wireless network signal strength
TLV_SATELLITES = 0x31  # BYTE, GNSS satellites in use

# The JT/T 808-2013 alarm-flag table (bit -> name); bits 15-17 are reserved in 2013 and were added by 2019. In 2019
# bit 3 reads "dangerous driving behaviour", bit 29 "collision / rollover" and bit 31 is reserved.
ALARM_NAMES: dict[int, str] = {
    0: "emergency",
    1: "overspeed",
    2: "fatigue_driving",
    3: "danger_warning",
    4: "gnss_fault",
    5: "gnss_antenna_open",
    6: "gnss_antenna_short",
    7: "power_low",
    8: "power_off",
    9: "display_fault",
    10: "tts_fault",
    11: "camera_fault",
    12: "ic_card_fault",
    13: "overspeed_warning",
    14: "fatigue_warning",
    15: "illegal_driving",
    16: "tire_pressure_warning",
    17: "right_turn_blind_spot",
    18: "driving_overtime",
    19: "overtime_parking",
    20: "area_in_out",
    21: "route_in_out",
    22: "route_time",
    23: "route_deviation",
    24: "vss_fault",
    25: "fuel_abnormal",
    26: "vehicle_stolen",
    27: "illegal_ignition",
    28: "illegal_displacement",
    29: "collision_warning",
    30: "rollover_warning",
    31: "illegal_door_open",
}

_BASE = struct.Struct(">IIIIHHH")
_BASE_LEN = _BASE.size + 6  # 28: the fixed part, BCD time included
_WORD = struct.Struct(">H")
_BATCH_HEAD = struct.Struct(">HB")
_UINT = {1: struct.Struct(">B"), 2: _WORD, 4: struct.Struct(">I")}

Extras = tuple[tuple[int, bytes], ...]


def alarm_names(alarm: int) -> tuple[str, ...]:
    """Names of the alarm bits set, lowest bit first."""
    return tuple(name for bit, name in ALARM_NAMES.items() if alarm >> bit & 1)


def tlv_value(extras: Extras, tlv_id: int) -> bytes | None:
    """Value of the first additional-information item with this id, or None."""
    for item_id, value in extras:
        if item_id == tlv_id:
            return value
    return None


def _tlv_uint(extras: Extras, tlv_id: int, size: int) -> int | None:
    """An unsigned big-endian item of ``size`` bytes; None when absent or of another length."""
    value = tlv_value(extras, tlv_id)
    if value is None or len(value) != size:
        return None
    return _UINT[size].unpack(value)[0]


def mileage_dkm(extras: Extras) -> int | None:
    """Odometer (item 0x01) in 1/10 km, or None when absent or malformed."""
    return _tlv_uint(extras, TLV_MILEAGE, 4)


def tacho_speed_dkmh(extras: Extras) -> int | None:
    """Tachograph speed (item 0x03) in 1/10 km/h, or None when absent or malformed."""
    return _tlv_uint(extras, TLV_TACHO_SPEED, 2)


def signal_strength(extras: Extras) -> int | None:
    """Wireless signal strength (item 0x30), or None when absent or malformed."""
    return _tlv_uint(extras, TLV_SIGNAL, 1)


def satellites(extras: Extras) -> int | None:
    """GNSS satellites in use (item 0x31), or None when absent or malformed."""
    return _tlv_uint(extras, TLV_SATELLITES, 1)


def tlv_uint(tlv_id: int, value: int, size: int) -> tuple[int, bytes]:
    """Build an item holding an unsigned big-endian integer of ``size`` (1, 2 or 4) bytes."""
    return tlv_id, value.to_bytes(size, "big")


def _parse_extras(body: bytes, pos: int) -> Extras:
    """Split the additional-information items from ``pos`` to the end; FrameError on a truncated one."""
    items = []
    end_of_body = len(body)
    while pos < end_of_body:
        if pos + 2 > end_of_body:
            raise FrameError("bad_body", f"additional-information item at byte {pos} has no length byte")
        end = pos + 2 + body[pos + 1]
        if end > end_of_body:
            raise FrameError("bad_body", f"additional-information item {body[pos]:#04x} runs past the body")
        items.append((body[pos], body[pos + 2 : end]))
        pos = end
    return tuple(items)


@dataclass(frozen=True, slots=True)
class LocationReport:
    """A 0x0200 location report; coordinates in signed 1e-6 degrees (negative = south / west)."""

    MSG_ID: ClassVar[int] = LOCATION

    alarm: int
    status: int
    lat_e6: int
    lon_e6: int
    altitude_m: int
    speed_dkmh: int
    direction: int
    ts_ms: int
    extras: Extras = ()

    def __post_init__(self) -> None:
        status = self.status
        if self.lat_e6:
            status = status | STATUS_SOUTH if self.lat_e6 < 0 else status & ~STATUS_SOUTH
        if self.lon_e6:
            status = status | STATUS_WEST if self.lon_e6 < 0 else status & ~STATUS_WEST
        if status != self.status:
            object.__setattr__(self, "status", status)

    @property
    def lat(self) -> float:
        """Latitude in degrees, negative south."""
        return self.lat_e6 * 1e-6

    @property
    def lon(self) -> float:
        """Longitude in degrees, negative west."""
        return self.lon_e6 * 1e-6

    @property
    def speed_kmh(self) -> float:
        """Speed in km/h."""
        return self.speed_dkmh / 10

    @property
    def load_bits(self) -> int:
        """Status bits 8-9: 0 empty, 1 half load, 2 reserved, 3 full."""
        return self.status >> 8 & 3

    @property
    def positioned(self) -> bool:
        """Status bit 1: the terminal has a GNSS fix."""
        return bool(self.status & STATUS_POSITIONED)

    def encode(self, is_2019: bool) -> bytes:
        """Body bytes (the same in 2013 and 2019); ValueError on out-of-range fields."""
        try:
            base = _BASE.pack(
                self.alarm,
                self.status,
                abs(self.lat_e6),
                abs(self.lon_e6),
                self.altitude_m,
                self.speed_dkmh,
                self.direction,
            )
            items = b"".join(bytes((item_id, len(value))) + value for item_id, value in self.extras)
        except (struct.error, ValueError) as exc:
            raise ValueError(f"cannot encode {self}: {exc}") from None
        return base + bcd_time(self.ts_ms) + items

    @classmethod
    def decode(cls, body: bytes, is_2019: bool) -> LocationReport:
        """Decode a 0x0200 body (unknown items kept, in wire order)."""
        if len(body) < _BASE_LEN:
            raise FrameError("bad_body", f"location body needs {_BASE_LEN} bytes, got {len(body)}")
        alarm, status, lat, lon, altitude, speed, direction = _BASE.unpack_from(body)
        return cls(
            alarm,
            status,
            -lat if status & STATUS_SOUTH else lat,
            -lon if status & STATUS_WEST else lon,
            altitude,
            speed,
            direction,
            parse_bcd_time(body[_BASE.size : _BASE_LEN]),
            _parse_extras(body, _BASE_LEN) if len(body) > _BASE_LEN else (),
        )


@dataclass(frozen=True, slots=True)
class BatchLocation:
    """A 0x0704 batch of location reports; ``kind`` 0 normal batch, 1 blind-area re-upload."""

    MSG_ID: ClassVar[int] = BATCH_LOCATION

    kind: int
    reports: tuple[LocationReport, ...]

    def encode(self, is_2019: bool) -> bytes:
        """Body bytes: count, kind, then each report with its length."""
        try:
            parts = [_BATCH_HEAD.pack(len(self.reports), self.kind)]
            for report in self.reports:
                item = report.encode(is_2019)
                parts.append(_WORD.pack(len(item)) + item)
        except struct.error as exc:
            raise ValueError(f"cannot encode batch: {exc}") from None
        return b"".join(parts)

    @classmethod
    def decode(cls, body: bytes, is_2019: bool) -> BatchLocation:
        """Decode a 0x0704 body; FrameError("bad_body") when the items do not add up to the count and body."""
        if len(body) < _BATCH_HEAD.size:
            raise FrameError("bad_body", f"batch body needs 3 bytes, got {len(body)}")
        count, kind = _BATCH_HEAD.unpack_from(body)
        pos = _BATCH_HEAD.size
        reports: list[LocationReport] = []
        for _ in range(count):
            if pos + 2 > len(body):
                raise FrameError("bad_body", f"batch says {count} items, body holds {len(reports)}")
            end = pos + 2 + _WORD.unpack_from(body, pos)[0]
            if end > len(body):
                raise FrameError("bad_body", f"batch item {len(reports) + 1} runs past the body")
            reports.append(LocationReport.decode(body[pos + 2 : end], is_2019))
            pos = end
        if pos != len(body):
            raise FrameError("bad_body", f"batch says {count} items, {len(body) - pos} bytes left over")
        return cls(kind, tuple(reports))
