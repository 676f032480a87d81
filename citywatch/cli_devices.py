"""``citywatch devices``: add and revoke devices' broker accounts, then have the broker reload them."""

from __future__ import annotations

import click

from citywatch.settings import Settings
from devices.contracts import DEVICE_KINDS
from devices.provisioning import (
    ProvisioningError,
    add_device,
    reload_broker,
    require_kind_binding,
    revoke_device,
)

RELOAD_HINT = (
    "apply it without a restart: docker compose kill -s HUP mosquitto (or kill -HUP the broker's pid; "
    "with CITYWATCH_MQTT_PID_FILE set, citywatch does it)"
)


@click.group()
def devices() -> None:
    """Broker accounts of devices (Mosquitto password file; username {kind}/{device_id})."""


@devices.command("add")
@click.option("--kind", type=click.Choice(DEVICE_KINDS), required=True, help="The device's kind (topic level).")
@click.argument("device_id")
@click.pass_obj
def devices_add(settings: Settings, kind: str, device_id: str) -> None:
    """Create a device account and print its password, once."""
    try:
        require_kind_binding(settings.mqtt_acl_file)
        account = add_device(settings.mqtt_passwd_file, kind, device_id)
    except ProvisioningError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"username: {account.username}")
    click.echo(f"password: {account.password}")
    click.echo(
        f"added to {settings.mqtt_passwd_file}; it may publish on {account.topic_prefix}/<channel>. "
        "The password is shown only this once: put it on the device now.",
        err=True,
    )
    _apply(settings)


@devices.command("revoke")
@click.argument("device_id")
@click.pass_obj
def devices_revoke(settings: Settings, device_id: str) -> None:
    """Remove a device account; the broker drops the device on reload."""
    try:
        username = revoke_device(settings.mqtt_passwd_file, device_id)
    except ProvisioningError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"revoked {username} in {settings.mqtt_passwd_file}", err=True)
    _apply(settings)


def _apply(settings: Settings) -> None:
    """Have the broker re-read its files (SIGHUP via the pid file), or say how to."""
    if settings.mqtt_pid_file is None:
        click.echo(RELOAD_HINT, err=True)
        return
    try:
        pid = reload_broker(settings.mqtt_pid_file)
    except ProvisioningError as exc:
        raise click.ClickException(f"{exc}. The change is written; reload the broker by hand.") from exc
    click.echo(f"broker reloaded (SIGHUP to pid {pid})", err=True)
