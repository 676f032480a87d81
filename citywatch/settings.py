"""One settings object for every process (prefix ``CITYWATCH_``), built at the CLI and passed down."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    """Connection settings, limits and paths; embedded and stack modes differ only here."""

    model_config = SettingsConfigDict(env_prefix="CITYWATCH_", env_file=None, extra="ignore")

    # MQTT
    mqtt_host: str = "127.0.0.1"
    mqtt_port: int = Field(default=1883, ge=1, le=65535)
    mqtt_username: str | None = None
    mqtt_password: SecretStr | None = None
    mqtt_share_group: str = Field(default="ingest", description="empty: a plain (unshared) subscription")
    mqtt_v5: bool = Field(default=True, description="false: MQTT 3.1.1, for brokers without v5")
    mqtt_client_id: str = ""
    mqtt_session_expiry_s: int = Field(default=3600, ge=0, description="broker keeps our queue this long")

    # Kafka (stack mode)
    kafka_bootstrap: str = "127.0.0.1:9092"
    topic_prefix: str = Field(default="", description="prepended to every Kafka topic name")
    kafka_partitions: int = Field(default=4, ge=1)
    kafka_replication: int = Field(default=1, ge=1)
    faust_app_id: str = "citywatch-streams"
    faust_web_port: int = Field(default=6066, ge=1, le=65535)
    faust_web_host: str = "127.0.0.1"
    faust_data_dir: Path = REPO_ROOT / "var" / "faust"

    # Ingest limits
    max_payload_bytes: int = Field(default=4096, ge=256)
    max_future_skew_s: float = Field(default=300.0, ge=0.0)
    ingest_queue_size: int = Field(default=10_000, ge=1)
    ingest_batch_size: int = Field(default=500, ge=1)

    # Data
    city_dir: Path = REPO_ROOT / "cities" / "demo"
    ticket_db: Path = REPO_ROOT / "var" / "tickets.sqlite"
    deadletter_path: Path = REPO_ROOT / "var" / "deadletter.jsonl"

    def topic(self, name: str) -> str:
        """Return the Kafka topic name for a logical topic (positions, alerts, ...)."""
        return f"{self.topic_prefix}{name}"
