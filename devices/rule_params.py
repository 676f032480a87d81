"""Per-rule parameters (``city.yaml`` → ``rules:``). Every threshold is a default a city may override.

Sources are in ``/rules/README.md`` (table "The rules" and section "Standards"): JT/T 808-2019 for
terminal signals, GB 12523-2011 for site noise, GB 14554-93 Table 1 for odour, provincial dust rules
for PM10 (``PM10_PRESETS``); values marked there as local practice vary by city.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from devices.schedules import Window

DEFAULT_MATTER_CODES = {  # one matter per kind of violation (devices/inventory.py DEFAULT_MATTERS names them)
    "route_deviation": "08101",
    "uncovered_load": "08011",
    "overflow": "06042",
    "out_of_window": "08102",
    "forbidden_zone": "08103",
    "speeding": "08104",
    "illegal_dumping": "08105",
    "trip_not_delivered": "08106",
    "dirty_truck": "08012",
    "silent_device": "03101",
    "gps_anomaly": "03102",
    "missed_collection": "06101",
    "fill_forecast": "06102",
    "odour": "06103",
    "pm10": "08004",
    "noise": "08001",
    "night_work": "08107",
    "camera": "06010",
    "suspended_operation": "08108",
}
DEFAULT_CAMERA_MATTER_CODES = {  # a camera's sighting shares the matter of the sensor rule that sees the same thing
    "exposed_garbage": "06010",
    "accumulated_muck": "06011",
    "spillage": "06014",
    "unsealed_truck": "08011",
    "mud_on_wheels": "08012",
    "bin_overflow": "06042",
}


class _Params(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class RouteDeviationParams(_Params):
    """Route-corridor deviation (线路偏移)."""

    min_duration_s: float = Field(default=30.0, ge=0.0)
    hysteresis_m: float = Field(default=10.0, ge=0.0)


class UncoveredLoadParams(_Params):
    """Uncovered load (未密闭): cover open while loaded and moving."""

    min_speed_kmh: float = Field(default=5.0, ge=0.0)
    min_duration_s: float = Field(default=20.0, ge=0.0)


class SuspendedOperationParams(_Params):
    """A suspended company's truck operating (停运企业车辆违规运营): moving while its company is suspended."""

    min_speed_kmh: float = Field(default=5.0, ge=0.0)
    min_duration_s: float = Field(default=60.0, ge=0.0)
    stop_clear_s: float = Field(default=600.0, gt=0.0, description="standing this long ends the episode")


class OverflowParams(_Params):
    """Station / bin overflow bands (满溢)."""

    slight_ratio: float = Field(default=0.8, gt=0.0)
    severe_ratio: float = Field(default=0.95, gt=0.0)
    clear_ratio: float = Field(default=0.7, ge=0.0)

    @model_validator(mode="after")
    def _bands_in_order(self) -> OverflowParams:
        if not self.clear_ratio < self.slight_ratio <= self.severe_ratio:
            raise ValueError("need clear_ratio < slight_ratio <= severe_ratio")
        return self


class OutOfWindowParams(_Params):
    """A muck truck running outside its permit's hours (or permit validity)."""

    min_speed_kmh: float = Field(default=5.0, ge=0.0)
    min_duration_s: float = Field(default=60.0, ge=0.0)
    stop_clear_s: float = Field(default=120.0, ge=0.0, description="stopped this long: ends")


class ForbiddenZoneParams(_Params):
    """Entering a forbidden zone (禁行区) while it is in force."""

    min_duration_s: float = Field(default=10.0, ge=0.0)


class SpeedingParams(_Params):
    """Speeding: over the limit for a minimum duration."""

    urban_limit_kmh: float = Field(default=40.0, gt=0.0)
    tolerance_kmh: float = Field(default=0.0, ge=0.0)
    min_duration_s: float = Field(default=30.0, ge=0.0)


class IllegalDumpingParams(_Params):
    """Illegal dumping (偷倒乱倒): body lifted or long dwell outside approved sites; trips never delivered."""

    lifted_min_s: float = Field(default=20.0, ge=0.0)
    dwell_min_s: float = Field(default=600.0, ge=0.0)
    stop_speed_kmh: float = Field(default=3.0, ge=0.0)
    trip_timeout_s: float = Field(default=7200.0, gt=0.0)
    move_on_s: float = Field(default=30.0, ge=0.0, description="moving this long ends a stop")


class DirtyTruckParams(_Params):
    """Dirty truck (车轮带泥): leaving a site without a wash-station dwell."""

    wash_min_dwell_s: float = Field(default=60.0, ge=0.0)
    wash_radius_m: float = Field(default=30.0, gt=0.0, description="caller: near a wash station")
    exit_radius_m: float = Field(default=50.0, gt=0.0, description="caller: at a polygon-less gate")
    min_visit_s: float = Field(default=60.0, ge=0.0, description="shorter visits: passing by")
    exit_confirm_s: float = Field(default=20.0, ge=0.0, description="outside this long: exited")


class SilenceParams(_Params):
    """Silent devices: no message for longer than allowed."""

    vehicle_s: float = Field(default=300.0, gt=0.0, description="muck terminal while its permit is in force")
    facility_s: float = Field(default=1800.0, gt=0.0)
    site_s: float = Field(default=900.0, gt=0.0)


class GpsAnomalyParams(_Params):
    """GPS anomaly: a jump that implies an impossible speed."""

    max_speed_kmh: float = Field(default=180.0, gt=0.0)
    min_jump_m: float = Field(default=500.0, ge=0.0)


class CollectionParams(_Params):
    """日产日清: a collection point served (dwell nearby) before its daily deadline."""

    radius_m: float = Field(default=40.0, gt=0.0)
    min_dwell_s: float = Field(default=30.0, ge=0.0)


class FillForecastParams(_Params):
    """Forecast time-to-full from the fill trend; alert before overflow."""

    window_s: float = Field(default=3600.0, gt=0.0)
    min_points: int = Field(default=5, ge=3)
    alert_within_s: float = Field(default=3600.0, gt=0.0)
    full_ratio: float = Field(default=0.95, gt=0.0)
    max_points: int = Field(default=120, ge=3, description="readings kept for the fit (newest)")
    empty_drop_ratio: float = Field(default=0.1, gt=0.0, description="a drop this far under the window's top: emptied")
    clear_factor: float = Field(default=1.5, ge=1.0, description="clear past this x alert_within_s")


OdourGrade = Literal["1", "2-new", "2-existing", "3-new", "3-existing"]
# GB 14554-93 Table 1 (恶臭污染物厂界标准值), mg/m³: grade 1; grades 2 and 3 split into 新扩改建 (projects
# approved from 1994-06-01) and 现有 (existing) columns.
_NH3_LIMITS = {"1": 1.0, "2-new": 1.5, "2-existing": 2.0, "3-new": 4.0, "3-existing": 5.0}
_H2S_LIMITS = {"1": 0.03, "2-new": 0.06, "2-existing": 0.10, "3-new": 0.32, "3-existing": 0.60}


class OdourParams(_Params):
    """Odour at the boundary (GB 14554-93 Table 1, mg/m³), per grade."""

    grade: OdourGrade = "2-new"
    nh3_limits: dict[str, float] = Field(default_factory=lambda: dict(_NH3_LIMITS))
    h2s_limits: dict[str, float] = Field(default_factory=lambda: dict(_H2S_LIMITS))
    min_readings: int = Field(default=2, ge=1)

    @field_validator("nh3_limits", "h2s_limits", mode="before")
    @classmethod
    def _merge_limits(cls, value: object, info: ValidationInfo) -> object:
        """A city names only the grades it changes; the rest keep GB 14554-93's values."""
        default = {"nh3_limits": _NH3_LIMITS, "h2s_limits": _H2S_LIMITS}[info.field_name or ""]
        return {**default, **value} if isinstance(value, dict) else value


class Pm10Params(_Params):
    """Site dust PM10 on event-time windows: warn / stop ladder, exceedances per day (defaults: Wuhan)."""

    window_s: float = Field(default=3600.0, gt=0.0, description="3600 = hourly means; 900 = 15-minute means")
    warn_ugm3: float = Field(default=150.0, gt=0.0, description="the limit: a window mean over it is an exceedance")
    stop_ugm3: float | None = Field(default=200.0, gt=0.0, description="stop work over it; None: no stop level")
    resume_ugm3: float = Field(default=150.0, gt=0.0, description="after a stop, work resumes at or under it")
    max_exceedances_per_day: int | None = Field(default=None, ge=0, description="None: no daily count rule")
    use_background: bool = Field(default=False, description="judge site minus background where a site names one")
    background_grace_s: float = Field(
        default=600.0, ge=0.0, description="wait past a window's end for the background's mean, then judge alone"
    )

    @model_validator(mode="after")
    def _ladder_in_order(self) -> Pm10Params:
        if self.stop_ugm3 is not None and self.stop_ugm3 < self.warn_ugm3:
            raise ValueError("need warn_ugm3 <= stop_ugm3")
        return self


Pm10Preset = Literal["wuhan", "shanghai", "hebei"]
# Coherent parameter sets of three local dust rules (rules/README.md "Standards" cites each; check the
# city's edition). A city picks one with ``rules.pm10_preset``; fields it sets under ``rules.pm10`` win.
PM10_PRESETS: dict[str, dict[str, Any]] = {
    # 武汉: hourly mean > 150 µg/m³ warning, > 200 stop work until back at or under 150; no daily count.
    "wuhan": {
        "window_s": 3600.0,
        "warn_ugm3": 150.0,
        "stop_ugm3": 200.0,
        "resume_ugm3": 150.0,
        "max_exceedances_per_day": None,
        "use_background": False,
    },
    # 上海 DB31/964-2016: 15-minute means, at most 1 exceedance a day. The limit value (监控点浓度限值)
    # is not verified here: 150 is a placeholder to replace with the edition in force.
    "shanghai": {
        "window_s": 900.0,
        "warn_ugm3": 150.0,
        "stop_ugm3": None,
        "resume_ugm3": 150.0,
        "max_exceedances_per_day": 1,
        "use_background": False,
    },
    # 河北 DB13/2934-2019: 80 µg/m³, at most 2 exceedances a day, hourly site minus the area's station.
    "hebei": {
        "window_s": 3600.0,
        "warn_ugm3": 80.0,
        "stop_ugm3": None,
        "resume_ugm3": 80.0,
        "max_exceedances_per_day": 2,
        "use_background": True,
    },
}


class NoiseParams(_Params):
    """Site boundary noise (GB 12523-2011): day / night limits and the night maximum."""

    day_limit_dba: float = Field(default=70.0, gt=0.0)
    night_limit_dba: float = Field(default=55.0, gt=0.0)
    night_max_over_dba: float = Field(default=15.0, ge=0.0)
    night: Window = Field(default="22:00-06:00", validate_default=True)
    window_s: float = Field(default=1200.0, gt=0.0, description="Leq window: GB 12523-2011 measures 20 minutes")
    hysteresis_dba: float = Field(default=3.0, ge=0.0, description="a window clears at limit - hysteresis")
    night_work_activity_dba: float = Field(default=50.0, gt=0.0, description="night Leq that counts as work")


class CameraFusionParams(_Params):
    """Camera events fused with GPS / sensors: same plate or place within a time and distance window."""

    window_s: float = Field(default=300.0, gt=0.0)
    radius_m: float = Field(default=200.0, gt=0.0)
    min_confidence: float = Field(default=0.6, ge=0.0, le=1.0)
    vehicle_speed_kmh: float = Field(default=60.0, ge=0.0, description="plate matches may be this far apart per s")
    max_tracked: int = Field(default=32, ge=1, description="open sightings per camera / groups per fusion key")
    max_image_refs: int = Field(default=10, ge=0, description="event ids and image refs kept per sighting / source")


class RuleParams(_Params):
    """Per-rule parameters; every threshold is a default that a city may override."""

    route_deviation: RouteDeviationParams = RouteDeviationParams()
    uncovered_load: UncoveredLoadParams = UncoveredLoadParams()
    overflow: OverflowParams = OverflowParams()
    out_of_window: OutOfWindowParams = OutOfWindowParams()
    forbidden_zone: ForbiddenZoneParams = ForbiddenZoneParams()
    speeding: SpeedingParams = SpeedingParams()
    illegal_dumping: IllegalDumpingParams = IllegalDumpingParams()
    dirty_truck: DirtyTruckParams = DirtyTruckParams()
    silence: SilenceParams = SilenceParams()
    gps_anomaly: GpsAnomalyParams = GpsAnomalyParams()
    collection: CollectionParams = CollectionParams()
    fill_forecast: FillForecastParams = FillForecastParams()
    odour: OdourParams = OdourParams()
    pm10: Pm10Params = Pm10Params()
    noise: NoiseParams = NoiseParams()
    camera: CameraFusionParams = CameraFusionParams()
    suspended_operation: SuspendedOperationParams = SuspendedOperationParams()
    pm10_preset: Pm10Preset | None = Field(default=None, description="a local dust rule's set; None: the defaults")
    matter_codes: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_MATTER_CODES))
    camera_matter_codes: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_CAMERA_MATTER_CODES))

    @model_validator(mode="before")
    @classmethod
    def _apply_pm10_preset(cls, data: Any) -> Any:
        """Fill ``pm10`` from the named preset; the fields a city sets under ``pm10`` override it."""
        preset = data.get("pm10_preset") if isinstance(data, dict) else None
        if not isinstance(preset, str) or preset not in PM10_PRESETS:
            return data  # no preset, an unknown one or not a name: the field's own validation names the choices
        own = data.get("pm10") or {}
        if isinstance(own, Pm10Params):
            own = own.model_dump(exclude_unset=True)
        if not isinstance(own, dict):
            return data
        return {**data, "pm10": {**PM10_PRESETS[preset], **own}}

    @field_validator("matter_codes", mode="before")
    @classmethod
    def _merge_codes(cls, value: object) -> object:
        """A city names only the codes it changes; the rest keep their defaults."""
        return {**DEFAULT_MATTER_CODES, **value} if isinstance(value, dict) else value

    @field_validator("camera_matter_codes", mode="before")
    @classmethod
    def _merge_camera_codes(cls, value: object) -> object:
        """Likewise for camera event types."""
        return {**DEFAULT_CAMERA_MATTER_CODES, **value} if isinstance(value, dict) else value
