"""The ``notify:`` section of a city's tickets.yaml: named channels and routing rules, validated on load.

Secrets never sit in the YAML: a channel names the environment variable that holds its robot URL,
signing secret or provider key (``url_env``, ``secret_env``, ``key_env``); a variable ``<VAR>_FILE``
naming a file that holds the value works too (container secrets). ``read_secret`` resolves them when
the worker is built, from the environment its caller passes in. Unknown keys are refused, so a
misspelt option is an error that names the file and the key, not a silent default.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from tickets.lifecycle import Action
from tickets.notify.errors import NotifyConfigError

EVENT_TYPES = ("case.discover", "case.evidence", *(f"case.{a.value}" for a in Action))
SEVERITIES = ("info", "warning", "major", "critical")  # tickets.records.SEVERITY_ORDER (records imports config)
PLACEHOLDERS = ("phone", "phones", "text", "sign_name", "api_key", "timestamp", "event_id", "case_no")
PLACEHOLDER = re.compile(r"\{(\w+)\}")
ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]*$")
ALL = "@all"  # mention everyone in the group (robots only)

Severity = Literal["info", "warning", "major", "critical"]
ChannelName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]
Phone = Annotated[str, StringConstraints(pattern=r"^(\+?\d{5,15}|@all)$")]


def _env_name(value: str) -> str:
    if not ENV_NAME.match(value):  # the value is likely the secret itself: never echo it
        raise ValueError(
            "must name an environment variable (e.g. CITYWATCH_NOTIFY_WECOM_URL) that holds the value; "
            "the value itself (a robot key, URL or secret) is never written in the YAML"
        )
    return value


EnvName = Annotated[str, AfterValidator(_env_name)]


def _http_url(value: str | None) -> str | None:
    if value is not None and not value.startswith(("http://", "https://")):
        raise ValueError(f"{value!r} is not an http(s) URL")
    return value


UrlText = Annotated[str | None, AfterValidator(_http_url)]


class _Data(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class _Channel(_Data):
    per_minute: int = Field(
        default=20, ge=0, description="messages a minute at most (0: no limit); more events due go as one digest"
    )
    digest_lines: int = Field(default=10, ge=1, le=50, description="events a digest names (the rest are counted)")
    timeout_s: float = Field(default=5.0, gt=0, le=60)


class WecomConfig(_Channel):
    """企业微信 group robot: the robot URL (with its key) in url_env."""

    kind: Literal["wecom"]
    url_env: EnvName
    msgtype: Literal["markdown", "text"] = Field(
        default="markdown", description="markdown reads better; text can @ members by phone (mention)"
    )


class DingtalkConfig(_Channel):
    """钉钉 custom robot: the robot URL (with its access_token) in url_env, the 加签 secret in secret_env."""

    kind: Literal["dingtalk"]
    url_env: EnvName
    secret_env: EnvName | None = None


class SmsSuccess(_Data):
    """How the provider says yes: HTTP 2xx and, if field is set, this value at that dotted JSON path."""

    field: str | None = None
    equals: str | int | bool | None = None


class SmsHmac(_Data):
    """An optional signature header: tickets.outbox.signature (sha256= HMAC of "{timestamp}." + body)."""

    secret_env: EnvName
    header: str = "X-Signature"
    timestamp_header: str = "X-Timestamp"


class SmsConfig(_Channel):
    """An SMS gateway reached over HTTP: the request is a template with placeholders such as {phone} and {text}."""

    kind: Literal["sms"]
    per_minute: int = Field(default=5, ge=0)
    url: UrlText = None
    url_env: EnvName | None = None
    method: Literal["POST", "PUT"] = "POST"
    encoding: Literal["json", "form"] = "json"
    headers: dict[str, str] = Field(default_factory=dict)
    body: dict[str, Any]
    sign_name: str = Field(default="", description="短信签名, counted in the text length")
    key_env: EnvName | None = Field(default=None, description="the provider key, for the {api_key} placeholder")
    success: SmsSuccess = SmsSuccess()
    hmac: SmsHmac | None = None
    segments: int = Field(default=1, ge=1, le=5, description="carrier segments a message may use (70 characters)")

    @model_validator(mode="after")
    def _template(self) -> SmsConfig:
        _one_url(self.url, self.url_env)
        used = _placeholders(self.body) | _placeholders(self.headers)
        if unknown := used - set(PLACEHOLDERS):
            raise ValueError(f"unknown placeholder(s) {sorted(unknown)} (valid: {', '.join(PLACEHOLDERS)})")
        if not used & {"phone", "phones"} or "text" not in used:
            raise ValueError("the body must place the recipients ({phone} or {phones}) and the message ({text})")
        if ("api_key" in used) != (self.key_env is not None):
            raise ValueError("{api_key} and key_env go together: key_env names the variable the key is read from")
        if self.encoding == "form" and any(not isinstance(v, str) for v in self.body.values()):
            raise ValueError("a form body is flat: every value a string")
        return self


class WebhookChannelConfig(_Channel):
    """A generic webhook: the outbox payload, signed as tickets.outbox signs (timestamp + HMAC)."""

    kind: Literal["webhook"]
    per_minute: int = Field(default=0, ge=0)
    url: UrlText = None
    url_env: EnvName | None = None
    secret_env: EnvName | None = None

    @model_validator(mode="after")
    def _url(self) -> WebhookChannelConfig:
        _one_url(self.url, self.url_env)
        return self


ChannelConfig = Annotated[WecomConfig | DingtalkConfig | SmsConfig | WebhookChannelConfig, Field(discriminator="kind")]


class Match(_Data):
    """Which events a route takes; every criterion given must hold (an empty one holds for all)."""

    event_types: list[str] = Field(default_factory=list)
    matters: list[str] = Field(default_factory=list, description="matter codes or code prefixes ('08')")
    min_severity: Severity | None = None
    units: list[str] = Field(default_factory=list)

    @field_validator("event_types")
    @classmethod
    def _known_types(cls, v: list[str]) -> list[str]:
        if unknown := [t for t in v if t not in EVENT_TYPES]:
            raise ValueError(f"unknown event type(s) {unknown} (valid: {', '.join(EVENT_TYPES)})")
        return v

    @field_validator("matters", mode="before")
    @classmethod
    def _quoted_codes(cls, v: Any) -> Any:
        if isinstance(v, list) and any(isinstance(c, int) for c in v):
            raise ValueError('quote matter codes ("06010"): unquoted, YAML reads 06010 as the octal number 3080')
        return v


class Route(_Data):
    """A routing rule: events that match go to every channel in ``to``; ``mention`` lists phones (or @all)."""

    match: Match = Match()
    to: list[ChannelName] = Field(min_length=1)
    mention: list[Phone] = Field(
        default_factory=list, description="robots: members to @ by phone (@all: everyone); SMS: the recipients"
    )


class NotifyConfig(_Data):
    """The whole notify section (none: no notifications)."""

    console_url: UrlText = Field(
        default=None, description="the console's address; {case_id} / {case_no} in it make a link to the case"
    )
    backfill_s: int = Field(
        default=3600, ge=0, description="a channel's first pass starts with the events of the last backfill_s seconds"
    )
    batch: int = Field(default=200, ge=1, le=5000, description="events read per channel and pass")
    quick_retries: int = Field(default=3, ge=1, le=10)
    backoff_base_s: float = Field(default=2.0, gt=0)
    backoff_max_s: float = Field(default=300.0, gt=0)
    gap_grace_s: float = Field(
        default=10.0, ge=0, description="how long a hole in the outbox sequence may be in flight"
    )
    channels: dict[ChannelName, ChannelConfig] = Field(default_factory=dict)
    routes: list[Route] = Field(default_factory=list)

    @model_validator(mode="after")
    def _routes_fit_channels(self) -> NotifyConfig:
        for i, route in enumerate(self.routes):
            for name in route.to:
                _check_target(f"routes[{i}]", route, name, self.channels.get(name), sorted(self.channels))
        return self


def _check_target(where: str, route: Route, name: str, channel: ChannelConfig | None, known: list[str]) -> None:
    if channel is None:
        raise ValueError(f"{where}.to: unknown channel {name!r} (channels: {', '.join(known) or 'none'})")
    if isinstance(channel, SmsConfig) and (not route.mention or ALL in route.mention):
        raise ValueError(f"{where}: SMS channel {name!r} needs the recipients' phone numbers in mention (not @all)")
    if isinstance(channel, WecomConfig) and channel.msgtype == "markdown" and route.mention:
        raise ValueError(
            f"{where}: WeCom channel {name!r} sends markdown, which cannot @ members by phone: "
            "give it msgtype: text, or drop the mention"
        )


def _one_url(url: str | None, url_env: str | None) -> None:
    if (url is None) == (url_env is None):
        raise ValueError("give exactly one of url and url_env (url_env when the URL carries a key)")


def _placeholders(template: Any) -> set[str]:
    if isinstance(template, str):
        return set(PLACEHOLDER.findall(template))
    if isinstance(template, Mapping):
        return set().union(*(_placeholders(v) for v in template.values()))
    if isinstance(template, list):
        return set().union(*(_placeholders(v) for v in template))
    return set()


def read_secret(var: str, environ: Mapping[str, str], where: str) -> str:
    """Return variable var, else the file var_FILE names (var wins; one trailing newline dropped, as in settings)."""
    if value := environ.get(var):
        return value
    path = environ.get(f"{var}_FILE")
    if not path:
        raise NotifyConfigError(f"notify: {where}: environment variable {var} is not set (nor {var}_FILE)")
    try:
        text = Path(path).read_text(encoding="utf-8").removesuffix("\n").removesuffix("\r")
    except (OSError, UnicodeDecodeError) as exc:
        raise NotifyConfigError(f"notify: {where}: {var}_FILE={path}: cannot read the secret ({exc})") from exc
    if not text:
        raise NotifyConfigError(f"notify: {where}: {var}_FILE={path}: the file is empty")
    return text
