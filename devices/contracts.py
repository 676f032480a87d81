"""The wire contract: one pydantic model per MQTT message kind (schema version 1).

Topics are ``citywatch/v1/{kind}/{device_id}/{channel}``; payloads are JSON objects whose
fields are named with their units. Timestamps are UTC epoch milliseconds (event time, taken
by the device). ``seq`` is a per-device counter used to spot duplicates and gaps.

Validation is strict: a field takes its own JSON type only (an integer field refuses ``1.0``,
``"1"`` and ``true``; a number field takes integers and decimals, never strings or booleans; a
boolean field takes only ``true`` / ``false``; a string field only a string). Enum fields take
their value strings in JSON, and Python callers may pass either the member or its value.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, ClassVar, Final, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
)
from pydantic_core import PydanticCustomError

SCHEMA_VERSION: Final = 1
TOPIC_ROOT = "citywatch/v1"
MIN_TS_MS = 946_684_800_000  # 2000-01-01T00:00:00Z: anything older is a broken device clock
DEVICE_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
SEQ_MAX = 2**63 - 1  # a signed 64-bit integer: what InfluxDB stores and any consumer's int64 takes

DeviceId = Annotated[str, Field(pattern=DEVICE_ID_PATTERN)]
Lon = Annotated[float, Field(ge=-180.0, le=180.0, allow_inf_nan=False)]
Lat = Annotated[float, Field(ge=-90.0, le=90.0, allow_inf_nan=False)]


def _exact_int(value: object) -> object:
    """Refuse a bool or a float where an integer literal is due (``Literal[1]`` lets ``true`` and ``1.0`` pass)."""
    if type(value) is not int:
        raise PydanticCustomError("int_type", "Input should be a valid integer")
    return value


Version = Annotated[Literal[1], BeforeValidator(_exact_int)]
AlarmName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,39}$")]


class LoadState(StrEnum):
    """Load state as JT/T 808 status bits 8-9 report it."""

    EMPTY = "empty"
    HALF = "half"
    FULL = "full"


class CameraEventType(StrEnum):
    """Event types an AI camera reports."""

    EXPOSED_GARBAGE = "exposed_garbage"
    ACCUMULATED_MUCK = "accumulated_muck"
    SPILLAGE = "spillage"
    UNSEALED_TRUCK = "unsealed_truck"
    MUD_ON_WHEELS = "mud_on_wheels"
    BIN_OVERFLOW = "bin_overflow"


class Message(BaseModel):
    """Fields every message carries; subclasses add the kind's own fields."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False, strict=True)

    kind: ClassVar[str]
    channel: ClassVar[str]

    schema_version: Version = SCHEMA_VERSION
    device_id: DeviceId
    ts_ms: int = Field(ge=MIN_TS_MS, description="event time, UTC epoch milliseconds")
    seq: int = Field(ge=0, le=SEQ_MAX, description="per-device message counter")

    @field_validator("ts_ms")
    @classmethod
    def _not_in_future(cls, ts_ms: int, info: ValidationInfo) -> int:
        """Refuse timestamps further ahead of the receiver's clock than allowed."""
        ctx: dict[str, Any] = info.context or {}
        latest = ctx.get("latest_ts_ms")
        if latest is not None and ts_ms > latest:
            raise ValueError(f"timestamp {ts_ms} is in the future (latest accepted {latest})")
        return ts_ms

    @classmethod
    def topic_for(cls, device_id: str) -> str:
        """Return the MQTT topic this kind of message is published on."""
        return f"{TOPIC_ROOT}/{cls.kind}/{device_id}/{cls.channel}"


class VehiclePosition(Message):
    """GPS position of a garbage or muck truck, with its load and body signals."""

    kind: ClassVar[str] = "vehicle"
    channel: ClassVar[str] = "telemetry"

    lon: Lon
    lat: Lat
    speed_kmh: float = Field(ge=0.0, le=250.0)
    heading_deg: float = Field(ge=0.0, lt=360.0)
    load_state: LoadState = Field(default=LoadState.EMPTY, strict=False)  # JSON: the value string either way
    cover_closed: bool | None = Field(default=None, description="密闭 signal; null if no sensor")
    body_lifted: bool | None = Field(default=None, description="举升 signal; null if no sensor")
    weight_kg: float | None = Field(default=None, ge=0.0, le=100_000.0, description="load weight; null if no sensor")
    terminal_alarms: tuple[AlarmName, ...] | None = Field(
        default=None,
        max_length=32,
        description=(
            "alarms the terminal itself raised at this fix (JT/T 808 alarm names, lower_snake_case, "
            "e.g. overspeed, route_deviation); null if it reports none"
        ),
    )


class CameraEvent(Message):
    """A typed detection from an AI camera (evidence, never a case by itself)."""

    kind: ClassVar[str] = "camera"
    channel: ClassVar[str] = "event"

    event_id: str = Field(min_length=1, max_length=64)
    event_type: CameraEventType = Field(strict=False)  # JSON: the value string either way
    lon: Lon
    lat: Lat
    confidence: float = Field(ge=0.0, le=1.0)
    plate: str | None = Field(default=None, max_length=16)
    image_ref: str | None = Field(default=None, max_length=512)


class FacilityReading(Message):
    """Fill level and odour of a compactor / transfer station or a smart bin."""

    kind: ClassVar[str] = "facility"
    channel: ClassVar[str] = "telemetry"

    fill_ratio: float = Field(ge=0.0, le=1.5, description="0 empty, 1 full, >1 overflowing")
    nh3_mgm3: float | None = Field(default=None, ge=0.0, le=1000.0)
    h2s_mgm3: float | None = Field(default=None, ge=0.0, le=1000.0)


class SiteReading(Message):
    """Dust and noise at a construction-site boundary monitor."""

    kind: ClassVar[str] = "site"
    channel: ClassVar[str] = "telemetry"

    pm10_ugm3: float = Field(ge=0.0, le=20_000.0)
    noise_dba: float = Field(ge=0.0, le=200.0)


class DeviceStatus(Message):
    """Birth (online) or last-will (offline) status; published retained."""

    kind: ClassVar[str] = "any"
    channel: ClassVar[str] = "status"

    state: Literal["online", "offline"]
    reason: str | None = Field(default=None, max_length=200)

    @classmethod
    def topic_for_kind(cls, kind: str, device_id: str) -> str:
        """Return the status topic of a device of the given kind."""
        return f"{TOPIC_ROOT}/{kind}/{device_id}/status"


Event = VehiclePosition | CameraEvent | FacilityReading | SiteReading | DeviceStatus
TELEMETRY: tuple[type[Message], ...] = (VehiclePosition, CameraEvent, FacilityReading, SiteReading)
"""The telemetry model of each device kind: a new kind is a model here and its stream in ``devices.catalog``."""
MODELS: tuple[type[Message], ...] = (*TELEMETRY, DeviceStatus)  # every message kind, in the contract's order
TELEMETRY_MODELS: dict[tuple[str, str], type[Message]] = {(m.kind, m.channel): m for m in TELEMETRY}
DEVICE_KINDS = tuple(m.kind for m in TELEMETRY)  # every kind publishes its status too


def model_for(kind: str, channel: str) -> type[Message] | None:
    """Return the model for a topic's kind and channel, or None if the topic is unknown."""
    if channel == "status" and kind in DEVICE_KINDS:
        return DeviceStatus
    return TELEMETRY_MODELS.get((kind, channel))
