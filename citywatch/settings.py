"""One settings object for every process (prefix ``CITYWATCH_``), built at the CLI and passed down."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from citywatch.resources import CHECKOUT, default_data_dir, in_checkout, shipped
from citywatch.secret_files import SecretFiles
from dashboards.basemap import Basemap, MapSettings

REPO_ROOT = CHECKOUT


def _deploy_dir() -> Path:
    """Return the folder with the broker's files: deploy/ of the checkout, else ./deploy where citywatch runs."""
    return CHECKOUT / "deploy" if in_checkout() else Path("deploy")


class Settings(BaseSettings):
    """Connection settings, limits and paths; embedded and stack modes differ only here."""

    model_config = SettingsConfigDict(env_prefix="CITYWATCH_", env_file=None, extra="ignore")

    data_dir: Path = Field(
        default_factory=default_data_dir,
        description="where the ticket database, dead letters and worker state go unless set one by one",
    )

    # MQTT
    mqtt_host: str = "127.0.0.1"
    mqtt_port: int = Field(default=1883, ge=1, le=65535)
    mqtt_username: str | None = None
    mqtt_password: SecretStr | None = None
    mqtt_share_group: str = Field(
        default="",
        description="non-empty: a shared subscription (not kept by "
        "Mosquitto 2.0 over a broker restart: see ingest/mqtt_source.py)",
    )
    mqtt_v5: bool = Field(default=True, description="false: MQTT 3.1.1, for brokers without v5")
    mqtt_client_id: str = Field(default="", description="default: citywatch-{role}-{ingest_instance}")
    mqtt_topics: str = Field(default="citywatch/v1/#", description="comma-separated filters this ingest owns")
    ingest_instance: str = Field(
        default="0",
        pattern=r"^[A-Za-z0-9_.-]{1,40}$",
        description="stable name of this ingest process: its MQTT session",
    )
    mqtt_session_expiry_s: int = Field(default=3600, ge=0, description="broker keeps our queue this long")
    mqtt_tls_ca: Path | None = Field(default=None, description="CA file: TLS to the broker, certificate verified")
    mqtt_tls_cert: Path | None = Field(default=None, description="client certificate (if the broker wants one)")
    mqtt_tls_key: Path | None = Field(default=None, description="client certificate's key")
    mqtt_passwd_file: Path = Field(
        default_factory=lambda: _deploy_dir() / "mosquitto" / "passwd",
        description="the broker's password file: `citywatch devices` edits it",
    )
    mqtt_acl_file: Path = Field(
        default_factory=lambda: _deploy_dir() / "mosquitto" / "acl",
        description="the broker's ACL: `citywatch devices add` checks it binds kind and id",
    )
    mqtt_pid_file: Path | None = Field(default=None, description="broker pid file: `citywatch devices` sends SIGHUP")

    # Kafka (stack mode)
    kafka_bootstrap: str = "127.0.0.1:9092"
    topic_prefix: str = Field(default="", description="prepended to every Kafka topic name")
    kafka_partitions: int = Field(default=4, ge=1)
    kafka_replication: int = Field(default=1, ge=1)
    faust_app_id: str = "citywatch-streams"
    faust_web_port: int = Field(default=6066, ge=1, le=65535)
    faust_web_host: str = "127.0.0.1"
    faust_data_dir: Path = Field(default_factory=lambda data: data["data_dir"] / "faust")
    faust_session_timeout_s: float = Field(
        default=10.0,
        ge=6.0,
        le=300.0,
        description="a worker that stops heartbeating loses its partitions after this long (faust: 60)",
    )
    faust_standby_replicas: int = Field(
        default=0,
        ge=0,
        le=3,
        description="copies of each table a worker keeps for another's partitions (faust: 1); each costs a worker "
        "as much CPU as the rules",
    )
    faust_prometheus: bool = Field(
        default=False,
        description="add faust's own Prometheus sensor to a worker's /metrics (per-event counters and timings); "
        "it costs the worker 10-15% of its throughput (README)",
    )
    rules_batch_size: int = Field(
        default=2000, ge=1, description="events a rule agent takes at once (geometry and state writes per batch)"
    )
    rules_batch_within_s: float = Field(default=0.2, gt=0.0, le=5.0, description="longest wait to fill a batch")

    # Ingest limits
    max_payload_bytes: int = Field(default=4096, ge=256)
    max_future_skew_s: float = Field(default=300.0, ge=0.0)
    ingest_queue_size: int = Field(default=10_000, ge=1)
    ingest_batch_size: int = Field(
        default=2000, ge=1, description="messages ingest takes at once from its queue (what is there, never waiting)"
    )
    ingest_archive_dir: Path | None = Field(
        default=None, description="append every accepted event to events-YYYY-MM-DD.jsonl here (citywatch replay)"
    )
    health_host: str = "127.0.0.1"
    health_port: int = Field(default=0, ge=0, le=65535, description="/healthz of citywatch ingest; 0: none")
    store_retry_s: float = Field(
        default=120.0,
        gt=0.0,
        description="how long a pipeline waits for the ticket "
        "database before it exits with an error (nothing acknowledged is lost)",
    )

    # JT/T 808 gateway (citywatch gateway jt808): terminals in over TCP, contract messages out on MQTT
    gateway_host: str = Field(default="0.0.0.0", description="terminals connect from the mobile network")  # noqa: S104
    gateway_port: int = Field(default=7611, ge=0, le=65535)
    gateway_auth_secret: SecretStr | None = Field(
        default=None,
        description="signs auth codes; share it between gateways behind one load balancer (unset: a new one per start)",
    )
    gateway_auth_timeout_s: float = Field(default=30.0, gt=0.0, description="to authenticate after connecting")
    gateway_idle_timeout_s: float = Field(default=180.0, gt=0.0, description="longest gap between whole frames")
    gateway_max_connections: int = Field(default=20_000, ge=1)
    gateway_health_port: int = Field(default=0, ge=0, le=65535, description="/healthz of the gateway; 0: none")
    gateway_deadletter_path: Path = Field(default_factory=lambda data: data["data_dir"] / "gateway-deadletter.jsonl")

    # Data
    city_dir: Path = Field(default_factory=lambda: shipped("cities/demo"))
    map_basemap: Basemap = Field(
        default="default",
        description="the fleet map's tiles: default (OSM, WGS-84), amap (高德, GCJ-02), tianditu (天地图), "
        "xyz / xyz-gcj02 (your own tile server), none (district outlines only: fully offline)",
    )
    map_tiles_url: str | None = Field(default=None, description="xyz / xyz-gcj02: the tile URL ({z}, {x}, {y})")
    map_tiles_attribution: str = Field(default="", description="xyz / xyz-gcj02: the tiles' credit line")
    map_tianditu_key: SecretStr | None = Field(default=None, description="tianditu: the 天地图 browser key (tk)")
    city_reload_s: float = Field(
        default=2.0, ge=0.0, description="how often a process checks city.yaml's version to take a new city; 0: never"
    )
    ticket_db: Path = Field(default_factory=lambda data: data["data_dir"] / "tickets.sqlite")
    deadletter_path: Path = Field(default_factory=lambda data: data["data_dir"] / "deadletter.jsonl")

    # Tickets: case store, API and console (tickets/)
    ticket_db_url: str | None = Field(default=None, description="SQLAlchemy URL (PostgreSQL); overrides ticket_db")
    ticket_db_password: SecretStr | None = Field(
        default=None,
        description="the database password, kept out of ticket_db_url (use CITYWATCH_TICKET_DB_PASSWORD_FILE)",
    )
    ticket_config: Path | None = Field(default=None, description="tickets.yaml; default: city_dir/tickets.yaml")
    ticket_api_host: str = "127.0.0.1"
    ticket_api_port: int = Field(default=8766, ge=0, le=65535)
    ticket_tokens: SecretStr | None = Field(default=None, description='JSON [{"name","role","unit","token"}]')
    ticket_webhook_url: str | None = None
    ticket_webhook_secret: SecretStr | None = None
    ticket_tick_s: float = Field(default=15.0, gt=0.0, description="escalation / verification sweep period")

    # InfluxDB time series (streams/timeseries/); no URL = no sink. 1.8: token "user:password",
    # org "-", bucket "database/retention-policy"; 2.x: an API token, the org and the bucket name.
    influx_url: str | None = None
    influx_token: SecretStr = SecretStr("")
    influx_org: str = "-"
    influx_bucket: str = "citywatch/autogen"
    influx_batch_size: int = Field(default=5000, ge=1, description="lines per write request")
    influx_flush_interval_ms: int = Field(default=1000, ge=10)
    influx_max_pending: int = Field(default=200_000, ge=1, description="lines buffered before new ones are dropped")
    influx_enqueue_timeout_s: float = Field(default=5.0, ge=0.0, description="stack sink waits this long for room")
    influx_retry_interval_ms: int = Field(default=1000, ge=1)
    influx_max_retry_delay_ms: int = Field(default=30_000, ge=1)
    influx_max_retry_time_ms: int = Field(default=60_000, ge=1, description="then the batch is queued again")
    influx_timeout_ms: int = Field(default=10_000, ge=100)

    # Grafana (citywatch dashboards push); the datasource URL is InfluxDB as Grafana's server sees it
    grafana_url: str = "http://127.0.0.1:3000"
    grafana_token: SecretStr | None = Field(default=None, description="API token, or 'user:password'")
    grafana_influx_url: str | None = Field(default=None, description="default: influx_url")
    grafana_prometheus_url: str = Field(
        default="http://prometheus:9090", description="Prometheus as Grafana's server sees it (pipeline health)"
    )
    grafana_folder: str = "citywatch"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Read CITYWATCH_* variables, then CITYWATCH_<SECRET>_FILE for a secret the environment does not hold."""
        return init_settings, env_settings, SecretFiles(settings_cls), dotenv_settings

    @field_validator("mqtt_topics")
    @classmethod
    def _topics_are_ours(cls, value: str) -> str:
        """Refuse filters outside the citywatch tree (they would match nothing the contract knows)."""
        topics = [t.strip() for t in value.split(",") if t.strip()]
        if not topics:
            raise ValueError("at least one MQTT topic filter is needed")
        for topic in topics:
            if not topic.startswith("citywatch/v1/") or "#" in topic[:-1]:
                raise ValueError(f"{topic!r} is not a filter of the citywatch/v1/ tree")
        return ",".join(topics)

    def mqtt_topic_filters(self) -> tuple[str, ...]:
        """Return the MQTT topic filters this ingest instance subscribes to."""
        return tuple(self.mqtt_topics.split(","))

    def map_settings(self) -> MapSettings:
        """Return the fleet map's base map settings; raise ValueError naming what a tile base map lacks."""
        return MapSettings(
            basemap=self.map_basemap,
            tiles_url=self.map_tiles_url,
            tiles_attribution=self.map_tiles_attribution,
            tianditu_key=self.map_tianditu_key,
        )

    def ticket_db_target(self) -> str | Path:
        """Return the ticket store's SQLAlchemy URL (with ticket_db_password put in) or its SQLite file."""
        if not self.ticket_db_url:
            return self.ticket_db
        if self.ticket_db_password is None:
            return self.ticket_db_url
        return with_password(self.ticket_db_url, self.ticket_db_password.get_secret_value())

    def topic(self, name: str) -> str:
        """Return the Kafka topic name for a logical topic (positions, alerts, ...)."""
        return f"{self.topic_prefix}{name}"


def with_password(url: str, password: str) -> str:
    """Return a SQLAlchemy URL with its password set (the URL in the settings names the user only)."""
    from sqlalchemy.engine import make_url

    return make_url(url).set(password=password).render_as_string(hide_password=False)


def explain(exc: ValueError) -> str:
    """Return one line per bad setting, naming its CITYWATCH_* variable, for a settings error."""
    if not isinstance(exc, ValidationError):
        return str(exc)
    errors = [e for e in exc.errors(include_url=False) if e["type"] != "default_factory_not_called"]
    return "; ".join(_explain_one(error) for error in errors)


def _explain_one(error: Any) -> str:
    if not error["loc"]:  # a check of several settings together: its message names them
        return str(error["msg"]).removeprefix("Value error, ")
    name = "CITYWATCH_" + "_".join(str(part) for part in error["loc"]).upper()
    given = error.get("input")
    shown = "" if isinstance(given, dict) or given is None else f"={str(given)[:60]!r}"
    return f"{name}{shown}: {error['msg']}"
