"""The notification channels, built from the notify section with their secrets read from the environment."""

from __future__ import annotations

from collections.abc import Mapping

from tickets.notify.channels.base import Channel, Message
from tickets.notify.channels.dingtalk import DingtalkChannel
from tickets.notify.channels.sms import SmsChannel
from tickets.notify.channels.webhook import WebhookChannel
from tickets.notify.channels.wecom import WecomChannel
from tickets.notify.config import (
    ChannelConfig,
    DingtalkConfig,
    NotifyConfig,
    SmsConfig,
    WecomConfig,
    read_secret,
)


def build_channels(cfg: NotifyConfig, environ: Mapping[str, str]) -> list[Channel]:
    """Return the configured channels; raise NotifyConfigError naming any secret that is missing."""
    return [build_channel(name, channel, environ) for name, channel in cfg.channels.items()]


def build_channel(name: str, cfg: ChannelConfig, environ: Mapping[str, str]) -> Channel:
    """Return one channel, its URL and secrets read from the variables (or files) its config names."""

    def secret(var: str | None, key: str) -> str | None:
        return read_secret(var, environ, f"channels.{name}.{key}") if var else None

    if isinstance(cfg, WecomConfig):
        return WecomChannel(name, cfg, read_secret(cfg.url_env, environ, f"channels.{name}.url_env"))
    if isinstance(cfg, DingtalkConfig):
        url = read_secret(cfg.url_env, environ, f"channels.{name}.url_env")
        return DingtalkChannel(name, cfg, url, secret(cfg.secret_env, "secret_env"))
    url = secret(cfg.url_env, "url_env") or cfg.url or ""  # the config holds exactly one of them
    if isinstance(cfg, SmsConfig):
        hmac_secret = secret(cfg.hmac.secret_env, "hmac.secret_env") if cfg.hmac else None
        return SmsChannel(name, cfg, url, secret(cfg.key_env, "key_env"), hmac_secret)
    return WebhookChannel(name, cfg, url, secret(cfg.secret_env, "secret_env"))


__all__ = ["Channel", "Message", "build_channel", "build_channels"]
