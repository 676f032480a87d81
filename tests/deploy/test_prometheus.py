"""deploy/prometheus/prometheus.yml scrapes every citywatch process where that process really listens."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import faust
import pytest
import yaml

from citywatch.settings import Settings
from tests.deploy.compose import REPO, environment, load_compose

PROMETHEUS_FILE = REPO / "deploy" / "prometheus" / "prometheus.yml"
SERVICES: dict[str, Any] = load_compose()["services"]
ALL_INTERFACES = "0.0.0.0"  # noqa: S104 - what a server Prometheus scrapes across the compose network binds
CITYWATCH = sorted(name for name, service in SERVICES.items() if service.get("image", "").startswith("citywatch:"))


def load_jobs(path: Path = PROMETHEUS_FILE) -> dict[str, list[tuple[str, int]]]:
    """Return each scrape job's targets as (host, port): static targets and DNS A names."""
    config = yaml.safe_load(path.read_text(encoding="utf-8"))
    jobs: dict[str, list[tuple[str, int]]] = {}
    for job in config["scrape_configs"]:
        assert set(job) <= {"job_name", "static_configs", "dns_sd_configs"}, f"{job['job_name']}: unexpected keys"
        targets = [_split(t) for static in job.get("static_configs", []) for t in static["targets"]]
        for dns in job.get("dns_sd_configs", []):
            assert dns["type"] == "A", "compose's DNS has no SRV records: type A with a port"
            targets += [(name, int(dns["port"])) for name in dns["names"]]
        jobs[job["job_name"]] = targets
    return jobs


def _split(target: str) -> tuple[str, int]:
    host, _, port = target.rpartition(":")
    return host, int(port)


def subcommand(service: dict[str, Any]) -> str:
    """Return the citywatch command a service runs (ingest, gateway, worker, tickets, sim)."""
    command = service["command"]
    assert command[0] == "citywatch"
    return next(arg for arg in command[1:] if not arg.startswith("-"))


def option(service: dict[str, Any], flag: str) -> str | None:
    """Return the value of a command-line option of a service's command, if given."""
    command = service["command"]
    return command[command.index(flag) + 1] if flag in command else None


def default(field: str) -> Any:
    return Settings.model_fields[field].default


def listens_on(service: dict[str, Any]) -> tuple[str, int]:
    """Return the (bind host, port) of the HTTP server a citywatch service's settings give it (/metrics)."""
    env = environment(service)
    health_host = env.get("CITYWATCH_HEALTH_HOST", default("health_host"))
    match subcommand(service):
        case "ingest" | "sim":
            return health_host, int(env.get("CITYWATCH_HEALTH_PORT", default("health_port")))
        case "gateway":
            return health_host, int(env.get("CITYWATCH_GATEWAY_HEALTH_PORT", default("gateway_health_port")))
        case "worker":
            # faust's web server binds web_bind (CITYWATCH_FAUST_WEB_HOST is its advertised web_host)
            port = int(env.get("CITYWATCH_FAUST_WEB_PORT", default("faust_web_port")))
            return faust.App("cw-bind-probe", broker="kafka://127.0.0.1:1").conf.web_bind, port
        case "tickets":
            host = option(service, "--host") or env.get("CITYWATCH_TICKET_API_HOST", default("ticket_api_host"))
            port_text = option(service, "--port") or env.get("CITYWATCH_TICKET_API_PORT", default("ticket_api_port"))
            return host, int(port_text)
    raise AssertionError(f"unknown citywatch command {service['command']}")


def test_every_citywatch_process_is_scraped_once() -> None:
    scraped = [host for targets in load_jobs().values() for host, _ in targets]
    assert sorted(scraped) == CITYWATCH
    assert set(load_jobs()) == {"ingest", "gateway", "worker", "tickets", "sim"}


@pytest.mark.parametrize("job", sorted(load_jobs()))
def test_each_target_is_a_service_and_the_port_its_settings_use(job: str) -> None:
    for host, port in load_jobs()[job]:
        assert host in SERVICES, f"{job}: {host} is not a compose service"
        bind, listening = listens_on(SERVICES[host])
        assert port == listening, f"{job}: {host} serves /metrics on {listening}, not {port}"
        assert bind == ALL_INTERFACES, f"{job}: {host} listens on {bind} only: Prometheus cannot reach it"


@pytest.mark.parametrize("name", CITYWATCH)
def test_the_healthcheck_asks_the_same_server(name: str) -> None:
    _, port = listens_on(SERVICES[name])
    assert f"http://127.0.0.1:{port}/" in " ".join(SERVICES[name]["healthcheck"]["test"])


@pytest.mark.parametrize("name", CITYWATCH)
def test_metrics_ports_are_not_published(name: str) -> None:
    """Only the ticket API is public (its /metrics with it); the other servers stay on the compose network."""
    _, port = listens_on(SERVICES[name])
    published = {str(p).rsplit(":", 1)[-1] for p in SERVICES[name].get("ports", [])}
    assert (str(port) in published) == (name == "tickets")


def test_worker_replicas_are_found_by_dns() -> None:
    assert load_jobs()["worker"] == [("streams", 6066)]
    config = yaml.safe_load(PROMETHEUS_FILE.read_text(encoding="utf-8"))
    (worker,) = [job for job in config["scrape_configs"] if job["job_name"] == "worker"]
    assert "static_configs" not in worker, "a static target would reach one replica only"


def test_prometheus_service_mounts_this_config_and_is_healthy_when_ready() -> None:
    prometheus = SERVICES["prometheus"]
    assert "./deploy/prometheus/prometheus.yml:/etc/prometheus/prometheus.yml:ro" in prometheus["volumes"]
    assert "--config.file=/etc/prometheus/prometheus.yml" in prometheus["command"]
    assert "http://127.0.0.1:9090/-/ready" in prometheus["healthcheck"]["test"]
    assert all(str(p).startswith("127.0.0.1:") for p in prometheus["ports"]), "no login: loopback only"
