"""The notify section: loaded with the city's tickets.yaml, refused with errors that name the file and the key."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.tickets.conftest import REPO_CONFIG
from tickets.config import config_for_city, load_config
from tickets.errors import TicketConfigError
from tickets.notify.channels import build_channels
from tickets.notify.channels.wecom import WecomChannel
from tickets.notify.config import NotifyConfig
from tickets.notify.errors import NotifyConfigError

WECOM = {"kind": "wecom", "url_env": "CW_WECOM"}


def city_with(tmp_path: Path, notify: dict[str, Any]) -> Path:
    """Return a city directory whose tickets.yaml is the demo's plus this notify section."""
    shutil.copy(REPO_CONFIG, tmp_path / "tickets.yaml")
    with (tmp_path / "tickets.yaml").open("a", encoding="utf-8") as f:
        f.write("\n" + yaml.safe_dump({"notify": notify}, allow_unicode=True))
    return tmp_path


def refusal(tmp_path: Path, notify: dict[str, Any]) -> str:
    """Return the error config_for_city raises for a city with this notify section."""
    with pytest.raises(TicketConfigError) as info:
        config_for_city(city_with(tmp_path, notify))
    return str(info.value)


def test_the_demo_example_is_valid_once_uncommented() -> None:
    text = Path(REPO_CONFIG).read_text(encoding="utf-8")
    assert load_config(REPO_CONFIG).notify == NotifyConfig()  # commented out: no notifications
    block = text[text.index("# notify:") :].splitlines()
    section = yaml.safe_load("\n".join(line.removeprefix("#").removeprefix(" ") for line in block))
    cfg = NotifyConfig.model_validate(section["notify"])
    assert set(cfg.channels) == {"ops_wecom", "leaders_dingtalk", "duty_sms"} and len(cfg.routes) == 2


def test_a_city_section_loads_with_the_tickets_config(tmp_path: Path) -> None:
    notify = {"channels": {"ops": WECOM}, "routes": [{"match": {"matters": ["08"]}, "to": ["ops"]}]}
    cfg = config_for_city(city_with(tmp_path, notify)).notify
    assert cfg.channels["ops"].kind == "wecom" and cfg.routes[0].match.matters == ["08"]


@pytest.mark.parametrize(
    ("notify", "problem"),
    [
        (
            {"channels": {"ops": {**WECOM, "colour": "red"}}},
            "notify.channels.ops.wecom.colour: Extra inputs are not permitted",
        ),
        (
            {"channels": {"ops": WECOM}, "routes": [{"match": {"unit": ["x"]}, "to": ["ops"]}]},
            "notify.routes.0.match.unit: Extra",
        ),
        ({"channel": {}}, "notify.channel: Extra inputs are not permitted"),
        ({"channels": {"ops": {**WECOM, "kind": "feishu"}}}, "'wecom', 'dingtalk', 'sms', 'webhook'"),
        (
            {"channels": {"ops": WECOM}, "routes": [{"to": ["opz"]}]},
            "routes[0].to: unknown channel 'opz' (channels: ops)",
        ),
        (
            {"channels": {"ops": WECOM}, "routes": [{"match": {"event_types": ["case.dispached"]}, "to": ["ops"]}]},
            "unknown event type(s) ['case.dispached'] (valid: case.discover, case.evidence, case.accept",
        ),
        (
            {"channels": {"ops": WECOM}, "routes": [{"match": {"matters": [6010]}, "to": ["ops"]}]},
            'quote matter codes ("06010")',
        ),
        (
            {"channels": {"ops": WECOM}, "routes": [{"to": ["ops"], "mention": ["138-0000"]}]},
            "notify.routes.0.mention.0",
        ),
        (
            {"channels": {"ops": WECOM}, "routes": [{"to": ["ops"], "mention": ["13800001111"]}]},
            "WeCom channel 'ops' sends markdown, which cannot @ members by phone",
        ),
        (
            {
                "channels": {
                    "s": {"kind": "sms", "url": "https://sms.example.cn/", "body": {"to": "{phone}", "m": "{text}"}}
                },
                "routes": [{"to": ["s"]}],
            },
            "SMS channel 's' needs the recipients' phone numbers in mention",
        ),
        (
            {
                "channels": {
                    "s": {"kind": "sms", "url": "https://sms.example.cn/", "body": {"to": "{phone}", "m": "{txt}"}}
                }
            },
            "unknown placeholder(s) ['txt']",
        ),
        (
            {
                "channels": {
                    "s": {
                        "kind": "sms",
                        "url": "https://x.cn/",
                        "url_env": "CW_SMS",
                        "body": {"to": "{phone}", "m": "{text}"},
                    }
                }
            },
            "give exactly one of url and url_env",
        ),
    ],
)
def test_a_broken_section_is_refused_naming_the_file_and_the_key(
    tmp_path: Path, notify: dict[str, Any], problem: str
) -> None:
    message = refusal(tmp_path, notify)
    assert message.startswith(f"{tmp_path / 'tickets.yaml'}: ") and problem in message, message


def test_a_secret_written_where_its_variable_belongs_is_refused_and_not_echoed(tmp_path: Path) -> None:
    key = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa"
    message = refusal(tmp_path, {"channels": {"ops": {"kind": "wecom", "url_env": key}}})
    assert "notify.channels.ops.wecom.url_env" in message and "must name an environment variable" in message
    assert "693a91f6" not in message
    assert "url" in refusal(tmp_path, {"channels": {"ops": {"kind": "wecom", "url": key}}})  # robots: url_env only


def section(**channels: dict[str, Any]) -> NotifyConfig:
    return NotifyConfig.model_validate({"channels": channels})


def test_a_missing_secret_is_named_with_its_channel() -> None:
    cfg = section(leaders={"kind": "dingtalk", "url_env": "CW_DD", "secret_env": "CW_DD_SECRET"})
    with pytest.raises(NotifyConfigError) as info:
        build_channels(cfg, {"CW_DD": "https://oapi.dingtalk.com/robot/send?access_token=t"})
    assert str(info.value) == (
        "notify: channels.leaders.secret_env: environment variable CW_DD_SECRET is not set (nor CW_DD_SECRET_FILE)"
    )
    with pytest.raises(TicketConfigError, match=r"channels\.leaders\.url_env: environment variable CW_DD is not set"):
        build_channels(cfg, {})


def test_a_secret_can_come_from_a_file(tmp_path: Path) -> None:
    cfg = section(ops=WECOM)
    (tmp_path / "wecom").write_text("https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=abc\n", encoding="utf-8")
    (channel,) = build_channels(cfg, {"CW_WECOM_FILE": str(tmp_path / "wecom")})
    assert isinstance(channel, WecomChannel)
    assert channel.url == "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=abc"  # the newline dropped
    channel.close()
    (channel,) = build_channels(cfg, {"CW_WECOM": "https://from-the-variable/", "CW_WECOM_FILE": "/nowhere"})
    assert isinstance(channel, WecomChannel) and channel.url == "https://from-the-variable/"  # the variable wins
    channel.close()
    with pytest.raises(NotifyConfigError, match="CW_WECOM_FILE=/nowhere/wecom: cannot read the secret"):
        build_channels(cfg, {"CW_WECOM_FILE": "/nowhere/wecom"})
    (tmp_path / "empty").write_text("", encoding="utf-8")
    with pytest.raises(NotifyConfigError, match="the file is empty"):
        build_channels(cfg, {"CW_WECOM_FILE": str(tmp_path / "empty")})
