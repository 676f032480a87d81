"""How often each kind of device is expected to report: the denominator of the terminals' online rate.

A JT/T 808 terminal reports its position at the interval the platform sets (JT/T 808-2019 terminal
parameter 0x0029, 缺省时间汇报间隔), a fill or site monitor at its own
sampling interval. The monthly report (月考评) counts what each device actually sent against what
this interval implies. AI cameras report events, not a heartbeat: their online rate is the share of
time their retained status (birth / last will) said ``online``.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class ReportingIntervals(BaseModel):
    """Expected reporting interval per kind of periodic device, in seconds (city.yaml ``reporting``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    vehicle_s: float = Field(default=10.0, gt=0.0, le=3600.0, description="JT/T 808 position reports")
    facility_s: float = Field(default=60.0, gt=0.0, le=86_400.0, description="station and bin fill sensors")
    site_s: float = Field(default=60.0, gt=0.0, le=86_400.0, description="construction-site dust / noise monitors")
    background_s: float = Field(default=60.0, gt=0.0, le=86_400.0, description="ambient PM10 stations (背景站)")

    def of(self, device_kind: str) -> float | None:
        """Return the interval of a kind of device, or None for event-driven devices (cameras)."""
        return {
            "vehicle": self.vehicle_s,
            "facility": self.facility_s,
            "site": self.site_s,
            "background": self.background_s,
        }.get(device_kind)
