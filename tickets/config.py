"""The tickets configuration (``tickets.yaml`` in the city directory), validated on load.

Deadlines per matter code in working hours or days, the working calendar, stage time limits,
督办 levels, case-grouping distances, automatic verification per matter, company scoring and the
suspension threshold, responsible units, the organisation tree (``tickets.org``: districts,
streets and their units), API users (token hashes only, each optionally scoped to a node) and the
notifications of case events (``notify:``, tickets.notify.config). Every value is a
default a city may change; none is a constant in code.
"""

from __future__ import annotations

import re
from datetime import date, time
from functools import cached_property
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from tickets.calendar import Duration, WorkingCalendar
from tickets.errors import TicketConfigError
from tickets.escalation import Level
from tickets.grouping import GroupingPolicy
from tickets.lifecycle import Policy, Role, Stage
from tickets.notify.config import NotifyConfig
from tickets.org import OrgNode, OrgTree, build_tree

DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([hd])\s*$")


def parse_duration(text: str) -> Duration:
    """Parse '4h' (working hours) or '2d' (working days)."""
    m = DURATION.match(str(text))
    if not m:
        raise ValueError(f"{text!r} is not a working-time duration like '4h' or '2d'")
    return Duration(float(m.group(1)), "hours" if m.group(2) == "h" else "days")


class _Data(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class CalendarConfig(_Data):
    """Working periods, weekend, holidays and make-up working days."""

    timezone: str = "Asia/Shanghai"
    periods: list[tuple[time, time]] = Field(
        default_factory=lambda: [(time(8, 30), time(12)), (time(13, 30), time(17, 30))]
    )
    weekend: list[int] = Field(default_factory=lambda: [6, 7], description="ISO weekdays, 1 = Monday")
    holidays: list[date] = Field(default_factory=list)
    workdays: list[date] = Field(default_factory=list, description="make-up working days (调休上班)")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {v!r}") from exc
        return v

    @model_validator(mode="after")
    def _consistent(self) -> CalendarConfig:
        if both := set(self.holidays) & set(self.workdays):
            raise ValueError(f"dates both holiday and working day: {sorted(both)}")
        if any(not 1 <= d <= 7 for d in self.weekend):
            raise ValueError("weekend days are ISO weekdays 1..7")
        return self

    def build(self) -> WorkingCalendar:
        """Return the calendar."""
        return WorkingCalendar(
            ZoneInfo(self.timezone),
            tuple(self.periods),
            frozenset(self.weekend),
            frozenset(self.holidays),
            frozenset(self.workdays),
        )


Queue = Literal["enforcement", "maintenance", "dispatch_ahead"]
ENFORCEMENT: Queue = "enforcement"


class MatterConfig(_Data):
    """A matter (事项): its name and its handling time limit (处置时限)."""

    name: str
    handle: str = "1d"
    points: int | None = Field(default=None, ge=0, description="violation points (else by severity)")
    queue: Queue = Field(
        default="enforcement",
        description="enforcement (a violation: counts against the "
        "company) / maintenance (a device fault) / dispatch_ahead (a forecast: dispatched at once)",
    )

    @field_validator("handle")
    @classmethod
    def _duration(cls, v: str) -> str:
        parse_duration(v)
        return v


class LevelConfig(_Data):
    """One 督办 level."""

    level: int = Field(ge=1)
    name: str
    after: str = "0h"

    @field_validator("after")
    @classmethod
    def _duration(cls, v: str) -> str:
        parse_duration(v)
        return v


class GroupingConfig(_Data):
    """How close evidence must be (metres, seconds) to join a case."""

    radius_m: float = Field(default=150.0, gt=0)
    window_s: int = Field(default=900, gt=0, description="evidence joins a case within this of its last evidence")
    reopen_within_s: int = Field(default=7 * 86400, ge=0)
    link_within_s: int = Field(default=30 * 86400, ge=0)


class VerificationConfig(_Data):
    """Automatic verification for one matter code."""

    kind: Literal["fill_drop_after_dwell", "pm10_below"]
    radius_m: float = Field(default=80.0, gt=0)
    min_dwell_s: int = Field(default=60, ge=0)
    limit_ugm3: float | None = Field(
        default=None,
        gt=0,
        description="pm10_below: none = the city's PM10 limit (city.yaml rules.pm10.warn_ugm3, after its preset)",
    )
    hold_s: int = Field(default=3600, gt=0)


class ScoringConfig(_Data):
    """Company violation points and the suspension threshold (退出机制)."""

    window_days: int = Field(default=90, ge=1)
    points: dict[str, int] = Field(default_factory=lambda: {"info": 1, "warning": 2, "major": 3, "critical": 5})
    suspend_at: int = Field(default=12, ge=1)


class UnitsConfig(_Data):
    """Responsible units when the grid (alert evidence) names none: by matter code prefix."""

    default: str = "城管执法局 (默认)"
    by_matter: dict[str, str] = Field(default_factory=dict)

    def for_matter(self, code: str) -> str:
        """Return the unit for a matter code: the longest matching prefix, else the default."""
        hits = [p for p in self.by_matter if code.startswith(p)]
        return self.by_matter[max(hits, key=len)] if hits else self.default


class UserConfig(_Data):
    """An API user: name, role, unit (handling units), company (company logins), org node and token SHA-256."""

    name: str
    role: Role
    unit: str | None = None
    company: str | None = Field(default=None, description="company logins: the company whose trucks' cases they read")
    node: str | None = Field(default=None, description="the org node the user is scoped to (none: the whole city)")
    token_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")

    @model_validator(mode="after")
    def _unit_for_units(self) -> UserConfig:
        if self.role is Role.SYSTEM:
            raise ValueError("role 'system' is internal and has no token")
        if self.role is Role.UNIT and not self.unit:
            raise ValueError("a handling-unit user needs a unit")
        if (self.role is Role.COMPANY) != bool((self.company or "").strip()):
            raise ValueError("a company login needs a company, and only a company login names one")
        return self


class TicketConfig(_Data):
    """The whole tickets configuration."""

    version: int = 1
    calendar: CalendarConfig = CalendarConfig()
    stage_limits: dict[Stage, str] = Field(
        default_factory=lambda: {
            Stage.DISCOVERED: "0.5h",
            Stage.ACCEPTED: "0.5h",
            Stage.REGISTERED: "1h",
            Stage.HANDLED: "2h",
            Stage.VERIFIED: "1h",
        }
    )
    default_handle: str = "1d"
    matters: dict[str, MatterConfig] = Field(default_factory=dict)
    escalation: list[LevelConfig] = Field(
        default_factory=lambda: [
            LevelConfig(level=1, name="一级督办", after="0h"),
            LevelConfig(level=2, name="二级督办", after="4h"),
            LevelConfig(level=3, name="三级督办", after="2d"),
        ]
    )
    grouping: GroupingConfig = Field(default=GroupingConfig(), description="one violation = one case (was: fusion)")
    verification: dict[str, VerificationConfig] = Field(default_factory=dict)
    scoring: ScoringConfig = ScoringConfig()
    units: UnitsConfig = UnitsConfig()
    org: list[OrgNode] = Field(default_factory=list, description="the organisation tree (none: one city node)")
    users: list[UserConfig] = Field(default_factory=list)
    notify: NotifyConfig = Field(default=NotifyConfig(), description="notifications of case events (tickets.notify)")

    @field_validator("stage_limits")
    @classmethod
    def _limits(cls, v: dict[Stage, str]) -> dict[Stage, str]:
        for text in v.values():
            parse_duration(text)
        return v

    @field_validator("org")
    @classmethod
    def _a_tree(cls, v: list[OrgNode]) -> list[OrgNode]:
        build_tree(v)
        return v

    @model_validator(mode="before")
    @classmethod
    def _grouping_was_fusion(cls, data: Any) -> Any:
        """Read ``fusion:``, the section's old name (it clashed with the rules' alert fusion), as ``grouping:``."""
        if not isinstance(data, dict) or "fusion" not in data:
            return data
        if "grouping" in data:
            raise ValueError("grouping and fusion: one section under two names (fusion is grouping's old name)")
        return {("grouping" if k == "fusion" else k): v for k, v in data.items()}

    @model_validator(mode="after")
    def _users_on_known_nodes(self) -> TicketConfig:
        for user in self.users:
            if user.node is not None and user.node not in self.org_tree.nodes:
                raise ValueError(
                    f"users: {user.name!r}: unknown org node {user.node!r} (known: {', '.join(self.org_tree.nodes)})"
                )
        return self

    @model_validator(mode="after")
    def _levels_in_order(self) -> TicketConfig:
        parse_duration(self.default_handle)
        numbers = [lv.level for lv in self.escalation]
        if numbers != list(range(1, len(numbers) + 1)):
            raise ValueError(f"escalation levels must be 1, 2, ... in order (got {numbers})")
        return self

    @cached_property
    def policy(self) -> Policy:
        """Return the lifecycle policy (calendar and time limits)."""
        return Policy(
            calendar=self.calendar.build(),
            stage_limits={s: parse_duration(d) for s, d in self.stage_limits.items()},
            handle_limits={code: parse_duration(m.handle) for code, m in self.matters.items()},
            default_handle=parse_duration(self.default_handle),
            max_level=max((lv.level for lv in self.escalation), default=0),
        )

    @cached_property
    def org_tree(self) -> OrgTree:
        """Return the organisation tree (one root node when the config lists none)."""
        return build_tree(self.org)

    @cached_property
    def levels(self) -> tuple[Level, ...]:
        """Return the 督办 levels."""
        return tuple(Level(lv.level, lv.name, parse_duration(lv.after)) for lv in self.escalation)

    def queue_of(self, matter_code: str) -> Queue:
        """Return the queue a matter's cases go to (a matter the config does not list: enforcement)."""
        matter = self.matters.get(matter_code)
        return matter.queue if matter is not None else ENFORCEMENT

    @cached_property
    def grouping_policy(self) -> GroupingPolicy:
        """Return the case-grouping distances in metres and milliseconds."""
        f = self.grouping
        return GroupingPolicy(f.radius_m, f.window_s * 1000, f.reopen_within_s * 1000, f.link_within_s * 1000)


def load_config(path: str | Path | None) -> TicketConfig:
    """Load a tickets.yaml (None: the built-in defaults); errors name the file and field."""
    if path is None:
        return TicketConfig()
    p = Path(path)
    try:
        data: Any = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
    except FileNotFoundError as exc:
        raise TicketConfigError(f"{p}: file is missing") from exc
    except yaml.YAMLError as exc:
        raise TicketConfigError(f"{p}: not valid YAML: {exc}") from exc
    try:
        return TicketConfig.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or '(top)'}: {e['msg']}" for e in exc.errors())
        raise TicketConfigError(f"{p}: {exc.error_count()} problem(s): {problems}") from exc


def config_for_city(city_dir: Path, explicit: Path | None = None) -> TicketConfig:
    """Load the explicit file, else the city's tickets.yaml if there is one, else defaults."""
    if explicit is not None:
        return load_config(explicit)
    candidate = city_dir / "tickets.yaml"
    return load_config(candidate if candidate.exists() else None)
