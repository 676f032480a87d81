"""Wiring of the JT/T 808 gateway: Settings and the city in, a running ``gateway.server.Gateway`` out."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from dataclasses import dataclass

import structlog

from citywatch.city import load_city
from citywatch.health import HealthServer
from citywatch.metrics import FromCounters, gateway_metrics, new_registry
from citywatch.settings import Settings
from gateway.auth import Authenticator
from gateway.deadletters import DeadLetterLog
from gateway.directory import CityDirectory
from gateway.publisher import BrokerConfig, Publisher
from gateway.server import Gateway, GatewayConfig, now_ms

log = structlog.get_logger("gateway")


def _path(p: object) -> str | None:
    return str(p) if p is not None else None


def broker_config(settings: Settings) -> BrokerConfig:
    """Return the gateway's MQTT login (its own account: write to vehicle topics only)."""
    password = settings.mqtt_password.get_secret_value() if settings.mqtt_password else None
    return BrokerConfig(
        settings.mqtt_host,
        settings.mqtt_port,
        settings.mqtt_client_id or f"citywatch-gateway-jt808-{socket.gethostname()}",
        settings.mqtt_username,
        password,
        _path(settings.mqtt_tls_ca),
        _path(settings.mqtt_tls_cert),
        _path(settings.mqtt_tls_key),
    )


def gateway_config(settings: Settings, port: int | None = None) -> GatewayConfig:
    """Return the listener's address and limits."""
    return GatewayConfig(
        host=settings.gateway_host,
        port=settings.gateway_port if port is None else port,
        auth_timeout_s=settings.gateway_auth_timeout_s,
        idle_timeout_s=settings.gateway_idle_timeout_s,
        max_connections=settings.gateway_max_connections,
    )


@dataclass
class RunningGateway:
    """A started gateway and what it owns, to stop in one call."""

    gateway: Gateway
    publisher: Publisher
    deadletters: DeadLetterLog
    health: HealthServer | None

    async def stop(self) -> None:
        """Close the connections (terminals go offline), then the MQTT client and the files."""
        await self.gateway.stop()  # returns once the closing connections published their offline status
        if self.health:
            self.health.stop()
        self.publisher.stop()
        self.deadletters.close()
        log.info("gateway.stopped", **self.gateway.stats.as_dict())


async def start_gateway(
    settings: Settings, port: int | None = None, clock: Callable[[], int] = now_ms
) -> RunningGateway:
    """Start the JT/T 808 gateway of the city in ``settings``; raise if the broker is not reached in 30 s.

    ``clock`` stamps the statuses the gateway publishes itself (a replayed demo passes its event time).
    """
    city = load_city(settings.city_dir)
    secret = settings.gateway_auth_secret.get_secret_value().encode() if settings.gateway_auth_secret else None
    auth = Authenticator(secret)
    if auth.ephemeral:
        log.warning(
            "gateway.ephemeral_secret",
            hint="set CITYWATCH_GATEWAY_AUTH_SECRET: terminals must register again after every restart",
        )
    publisher = Publisher(broker_config(settings))
    publisher.start(asyncio.get_running_loop())
    if not await asyncio.to_thread(publisher.connected.wait, 30.0):
        publisher.stop()
        raise ConnectionError(f"no MQTT connection to {settings.mqtt_host}:{settings.mqtt_port} in 30 s")
    deadletters = DeadLetterLog(settings.gateway_deadletter_path)
    gateway = Gateway(CityDirectory(city), auth, publisher, deadletters, gateway_config(settings, port), clock)
    await gateway.start()

    def probe() -> dict[str, object]:
        checks = {
            "mqtt": publisher.connected.is_set(),
            "listening": gateway.server is not None and gateway.server.is_serving(),
        }
        return {
            "ok": all(checks.values()),
            **checks,
            **gateway.stats.as_dict(),
            "mqtt_id_collisions": publisher.mid_collisions,
        }

    registry = new_registry()
    registry.register(FromCounters(lambda: gateway_metrics(gateway, publisher.connected.is_set())))
    health = (
        HealthServer(settings.health_host, settings.gateway_health_port, probe, registry).start()
        if settings.gateway_health_port
        else None
    )
    return RunningGateway(gateway, publisher, deadletters, health)
