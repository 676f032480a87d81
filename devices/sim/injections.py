"""Injections: the violations a scenario plants, one pydantic model per ``type``.

Each injection names the device whose stream it changes (``device``), the sim-time span it needs
(``span``: ramps and a report or two included) and the violation it plants (``planted``: rule
name and subject). Checks against the city (suitable device, long enough, local time right)
live in ``checks_vehicles`` / ``checks_fixed``.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from devices.contracts import CameraEventType, DeviceId, Lat, Lon
from devices.sim.schedule import DEVIATION_RAMP_S, LEAD_S
from rules.catalog import case_rules


def _a_case_rule(name: str) -> str:
    """Accept the name of a rule whose alerts open cases (the rule catalog's)."""
    names = case_rules()
    if name not in names:
        expected = ", ".join(repr(n) for n in names[:-1]) + f" or {names[-1]!r}"
        raise PydanticCustomError("literal_error", "Input should be {expected}", {"expected": expected})
    return name


RuleName = Annotated[str, AfterValidator(_a_case_rule)]
"""A rule a scenario may plant or expect: one of the catalog's rules that open cases."""


class _Data(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ReportIntervals(_Data):
    """How often each kind of device reports, in seconds."""

    vehicle_s: float = Field(default=10.0, gt=0.0, le=300.0)
    facility_s: float = Field(default=60.0, gt=0.0, le=3600.0)
    site_s: float = Field(default=60.0, gt=0.0, le=3600.0)


class _Injection(_Data):
    """What every injection has: a start in sim seconds and the rule it breaks."""

    RULE: ClassVar[RuleName]
    TRUCK: ClassVar[bool] = False  # needs a muck truck under way on its route at at_s
    at_s: float = Field(ge=0.0)

    @property
    def device(self) -> str:
        """The device whose messages the injection changes."""
        raise NotImplementedError

    @property
    def subject(self) -> str:
        """The subject of the planted violation (device id, or collection point id)."""
        return self.device

    def span(self, every: ReportIntervals) -> tuple[float, float]:
        """Return the sim-time span the injection needs."""
        return self.at_s, self.at_s + float(getattr(self, "duration_s", 0.0))

    def planted(self) -> list[tuple[RuleName, str]]:
        """Return the (rule, subject) of each violation it plants."""
        return [(self.RULE, self.subject)]


class _Truck(_Injection):
    vehicle: DeviceId = Field(description="GPS terminal id of a muck truck with a permit")
    TRUCK: ClassVar[bool] = True

    @property
    def device(self) -> str:
        """The truck's terminal."""
        return self.vehicle


class _Facility(_Injection):
    facility: DeviceId = Field(description="device id of a facility fill sensor")

    @property
    def device(self) -> str:
        """The facility's sensor."""
        return self.facility


class _Site(_Injection):
    site: DeviceId = Field(description="device id of a construction-site monitor")
    duration_s: float = Field(gt=0.0)

    @property
    def device(self) -> str:
        """The site's monitor."""
        return self.site


class Deviate(_Truck):
    """The truck leaves its permit corridor, driving ``offset_m`` beside its route, then returns."""

    RULE: ClassVar[RuleName] = "route_deviation"
    type: Literal["deviate"]
    duration_s: float = Field(gt=0.0)
    offset_m: float = Field(default=200.0, gt=0.0, le=2000.0)

    def span(self, every: ReportIntervals) -> tuple[float, float]:
        """The deviation with its ramps out and back."""
        return self.at_s - DEVIATION_RAMP_S, self.at_s + self.duration_s + DEVIATION_RAMP_S


class OpenCover(_Truck):
    """The truck drives loaded with its cover open."""

    RULE: ClassVar[RuleName] = "uncovered_load"
    type: Literal["open_cover"]
    duration_s: float = Field(gt=0.0)


class OutOfWindow(_Truck):
    """The truck makes a trip outside its permit's hours (it then waits at the disposal site)."""

    RULE: ClassVar[RuleName] = "out_of_window"
    type: Literal["out_of_window"]
    duration_s: float = Field(gt=0.0)


class EnterZone(_Truck):
    """The truck pulls 34 m aside into a forbidden zone beside its route, still in its corridor."""

    RULE: ClassVar[RuleName] = "forbidden_zone"
    type: Literal["forbidden_zone"]
    zone: str = Field(min_length=1, description="zone_id of zones.yaml")
    duration_s: float = Field(gt=0.0)

    def span(self, every: ReportIntervals) -> tuple[float, float]:
        """The time inside the zone with the ramps in and out."""
        return self.at_s - DEVIATION_RAMP_S, self.at_s + self.duration_s + DEVIATION_RAMP_S


class Speeding(_Truck):
    """The truck drives at ``speed_kmh`` along its route."""

    RULE: ClassVar[RuleName] = "speeding"
    type: Literal["speeding"]
    duration_s: float = Field(gt=0.0)
    speed_kmh: float = Field(default=55.0, gt=0.0, le=120.0)


class BodyLift(_Truck):
    """Half-way along its route the truck stops and tips its load with the body lifted."""

    RULE: ClassVar[RuleName] = "illegal_dumping"
    type: Literal["body_lift"]
    duration_s: float = Field(default=90.0, gt=0.0)


class Dwell(_Truck):
    """Half-way along its route the loaded truck stands still, then drives on to unload."""

    RULE: ClassVar[RuleName] = "illegal_dumping"
    type: Literal["dwell"]
    duration_s: float = Field(gt=0.0)


class Undelivered(_Truck):
    """Half-way the loaded truck stops, sheds its load (body down), drives on and parks for good."""

    RULE: ClassVar[RuleName] = "trip_not_delivered"
    type: Literal["undelivered"]
    shed_s: float = Field(default=240.0, gt=0.0, description="the stop in which the load vanishes")

    def span(self, every: ReportIntervals) -> tuple[float, float]:
        """The stop and the drive to the parking place."""
        return self.at_s, self.at_s + self.shed_s + 120.0


class SkipWash(_Truck):
    """The truck leaves its site at ``at_s`` without stopping at the wash station."""

    RULE: ClassVar[RuleName] = "dirty_truck"
    type: Literal["skip_wash"]

    def span(self, every: ReportIntervals) -> tuple[float, float]:
        """From leaving the wash bay until the exit is confirmed."""
        return self.at_s, self.at_s + LEAD_S + 60.0


class GpsJump(_Truck):
    """One fix of the truck lands ``distance_m`` away (the next one is back on the route)."""

    RULE: ClassVar[RuleName] = "gps_anomaly"
    type: Literal["gps_jump"]
    distance_m: float = Field(default=3000.0, gt=0.0, le=50_000.0)
    bearing_deg: float = Field(default=45.0, ge=0.0, lt=360.0)

    def span(self, every: ReportIntervals) -> tuple[float, float]:
        """The jumped fix and the one after it."""
        return self.at_s, self.at_s + 2 * every.vehicle_s


class Silence(_Injection):
    """The device sends nothing from ``at_s`` for ``duration_s`` (switched off)."""

    RULE: ClassVar[RuleName] = "silent_device"
    type: Literal["silence"]
    target: DeviceId = Field(description="any device id of the city (vehicle, facility or site)")
    duration_s: float = Field(gt=0.0)

    @property
    def device(self) -> str:
        """The silenced device."""
        return self.target


class SkipCollection(_Injection):
    """The garbage truck drives past ``point`` without stopping from ``at_s`` for ``duration_s``."""

    RULE: ClassVar[RuleName] = "missed_collection"
    type: Literal["skip_collection"]
    vehicle: DeviceId = Field(description="GPS terminal id of a garbage truck serving the point")
    point: str = Field(min_length=1, description="point_id of collection_points.yaml")
    duration_s: float = Field(gt=0.0)

    @property
    def device(self) -> str:
        """The garbage truck's terminal."""
        return self.vehicle

    @property
    def subject(self) -> str:
        """A missed collection is the point's."""
        return self.point


class Overflow(_Facility):
    """At ``at_s`` the fill steps past the full mark (0.96), ramps to ``to_ratio`` over ``ramp_s`` and stays."""

    RULE: ClassVar[RuleName] = "overflow"
    type: Literal["overflow"]
    to_ratio: float = Field(default=0.97, gt=0.0, le=1.5)
    ramp_s: float = Field(default=180.0, ge=0.0)

    def span(self, every: ReportIntervals) -> tuple[float, float]:
        """The step, the ramp and two readings."""
        return self.at_s, self.at_s + self.ramp_s + 2 * every.facility_s


class FillFast(_Facility):
    """The fill rises from its trend to ``to_ratio`` (under the slight band) over ``ramp_s``, then holds."""

    RULE: ClassVar[RuleName] = "fill_forecast"
    type: Literal["fill_fast"]
    to_ratio: float = Field(default=0.75, gt=0.0, le=1.0)
    ramp_s: float = Field(default=1800.0, gt=0.0)

    def span(self, every: ReportIntervals) -> tuple[float, float]:
        """The ramp and two readings."""
        return self.at_s, self.at_s + self.ramp_s + 2 * every.facility_s


class Odour(_Facility):
    """A station's NH3 or H2S reads ``level_mgm3`` from ``at_s`` for ``duration_s``."""

    RULE: ClassVar[RuleName] = "odour"
    type: Literal["odour"]
    duration_s: float = Field(gt=0.0)
    gas: Literal["nh3", "h2s"] = "nh3"
    level_mgm3: float = Field(gt=0.0, le=100.0)


class Pm10(_Site):
    """The site's PM10 reads about ``level_ugm3`` from ``at_s`` for ``duration_s``."""

    RULE: ClassVar[RuleName] = "pm10"
    type: Literal["pm10"]
    level_ugm3: float = Field(default=230.0, gt=0.0, le=5000.0)


class Haze(_Injection):
    """Regional haze: a background station and every site judged against it read ``rise_ugm3`` more.

    Plants nothing: judged as site minus background, a haze cancels out (a ``pm10`` injection at
    such a site during the haze reads its absolute level, and is judged against the hazy background).
    """

    RULE: ClassVar[RuleName] = "pm10"
    type: Literal["haze"]
    station: DeviceId = Field(description="device id of a background station's monitor")
    duration_s: float = Field(gt=0.0)
    rise_ugm3: float = Field(default=180.0, gt=0.0, le=2000.0)

    @property
    def device(self) -> str:
        """The background station's monitor."""
        return self.station

    def planted(self) -> list[tuple[RuleName, str]]:
        """Nothing: the differential judges the haze away."""
        return []


class Noise(_Site):
    """The site's noise reads about ``level_dba``; at night one reading in the middle hits ``peak_dba``."""

    RULE: ClassVar[RuleName] = "noise"
    type: Literal["noise"]
    level_dba: float = Field(gt=0.0, le=140.0)
    peak_dba: float | None = Field(default=None, gt=0.0, le=140.0)


class NightWork(_Site):
    """At night the site works (noise about ``level_dba``, under the limit) without a night-work permit."""

    RULE: ClassVar[RuleName] = "night_work"
    type: Literal["night_work"]
    level_dba: float = Field(default=52.5, gt=0.0, le=140.0)


class CameraSighting(_Injection):
    """A camera reports one event: at a place, or where a truck is (with its plate)."""

    RULE: ClassVar[RuleName] = "camera"
    type: Literal["camera"]
    camera: DeviceId = Field(description="a camera of the city (cameras.yaml), e.g. cam-01")
    event: CameraEventType
    confidence: float = Field(default=0.9, ge=0.0, le=1.0)
    vehicle: DeviceId | None = Field(default=None, description="seen truck: its plate and position")
    lon: Lon | None = None
    lat: Lat | None = None
    corroborates: str | None = Field(default=None, description="type of the injection it is evidence of")

    @model_validator(mode="after")
    def _placed(self) -> CameraSighting:
        if self.vehicle is None and (self.lon is None or self.lat is None):
            raise ValueError("give a vehicle or both lon and lat")
        return self

    @property
    def device(self) -> str:
        """The camera."""
        return self.camera

    def planted(self) -> list[tuple[RuleName, str]]:
        """Evidence of another injection fuses into its alert: nothing of its own."""
        return [] if self.corroborates else [(self.RULE, self.camera)]


AnyInjection = (
    Deviate
    | OpenCover
    | OutOfWindow
    | EnterZone
    | Speeding
    | BodyLift
    | Dwell
    | Undelivered
    | SkipWash
    | GpsJump
    | Silence
    | SkipCollection
    | Overflow
    | FillFast
    | Odour
    | Pm10
    | Haze
    | Noise
    | NightWork
    | CameraSighting
)
Injection = Annotated[AnyInjection, Field(discriminator="type")]
TRUCK_TYPES = (Deviate, OpenCover, OutOfWindow, EnterZone, Speeding, BodyLift, Dwell, Undelivered, SkipWash, GpsJump)
