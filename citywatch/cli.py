"""The ``citywatch`` command line: demo, sim, ingest, tickets, rules."""

from __future__ import annotations

import asyncio
import signal
import sys
import threading
from pathlib import Path
from typing import Any

import click

from citywatch.city import load_city
from citywatch.cli_city import city as city_commands
from citywatch.cli_dashboards import dashboards as dashboards_commands
from citywatch.cli_devices import devices as devices_commands
from citywatch.cli_replay import replay_command
from citywatch.cli_tickets import tickets as tickets_commands
from citywatch.logs import configure_logging
from citywatch.resources import shipped
from citywatch.settings import Settings, explain
from devices.inventory import CityConfigError
from devices.sim.scenario import ScenarioError
from tickets.errors import TicketConfigError

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class CitywatchGroup(click.Group):
    """The command group: a config that cannot be used ends the command with one line naming it."""

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command; turn a bad city, tickets.yaml or scenario into a click error (exit 1)."""
        try:
            return super().invoke(ctx)
        except CONFIG_ERRORS as exc:
            raise click.ClickException(str(exc)) from None


CONFIG_ERRORS = (CityConfigError, TicketConfigError, ScenarioError)


@click.group(cls=CitywatchGroup)
@click.version_option(package_name="citywatch", prog_name="citywatch")
@click.option("--log-json/--log-text", default=False, help="JSON log lines (for services).")
@click.option("--log-level", type=click.Choice(LOG_LEVELS, case_sensitive=False), default="INFO", show_default=True)
@click.pass_context
def main(ctx: click.Context, log_json: bool, log_level: str) -> None:
    """Real-time monitoring for a city-management bureau."""
    configure_logging(json=log_json, level=log_level.upper())
    ctx.meta["citywatch.log"] = (log_json, log_level.upper())  # citywatch worker hands them to faust
    try:
        ctx.obj = Settings()
    except ValueError as exc:
        raise click.ClickException(f"bad setting: {explain(exc)}") from None


@main.command()
@click.option("--duration", type=float, default=None, help="Seconds of wall time to run (default: until Ctrl-C).")
@click.option("--seed", type=int, default=7, show_default=True)
@click.option(
    "--scenario",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=shipped("scenarios") / "demo.yaml",
    show_default=True,
)
@click.option("--speed", type=float, default=30.0, show_default=True, help="Simulated seconds per wall second.")
@click.option("--summary-json", type=click.Path(dir_okay=False, path_type=Path), default=None)
@click.option("--broker", type=click.Choice(["auto", "mosquitto", "amqtt"]), default="auto", show_default=True)
@click.option(
    "--protocol",
    type=click.Choice(["mqtt", "jt808"]),
    default="mqtt",
    show_default=True,
    help="How the trucks report: MQTT, or JT/T 808 to a gateway started in-process (cameras and sensors stay on MQTT).",
)
@click.pass_obj
def demo(
    settings: Settings,
    duration: float | None,
    seed: int,
    scenario: Path,
    speed: float,
    summary_json: Path | None,
    broker: str,
    protocol: str,
) -> None:
    """Run broker, simulated fleet, ingest, rules and tickets in one process, live."""
    from citywatch.broker import BrokerError
    from citywatch.demo import DemoOptions, run_demo

    options = DemoOptions(
        scenario,
        seed,
        speed,
        duration,
        summary_json,
        broker,
        "jt808" if protocol == "jt808" else "mqtt",
        log_file=settings.ticket_db.parent / "demo.log",
    )
    try:
        run_demo(settings, options)
    except BrokerError as exc:
        raise click.ClickException(str(exc)) from None


@main.command()
@click.option(
    "--scenario",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=shipped("scenarios") / "demo.yaml",
    show_default=True,
)
@click.option("--seed", type=int, default=7, show_default=True)
@click.option("--speed", type=float, default=1.0, show_default=True, help="0 = as fast as possible.")
@click.option("--start-ms", type=int, default=None, help="Simulated start time (default: now).")
@click.pass_obj
def sim(settings: Settings, scenario: Path, seed: int, speed: float, start_ms: int | None) -> None:
    """Publish a simulated fleet to the configured MQTT broker."""
    from citywatch.demo import run_sim_only

    stats = run_sim_only(settings, scenario, seed, speed, start_ms)
    click.echo(f"published {stats}")


@main.command()
@click.option("--mode", type=click.Choice(["stack", "embedded"]), default="stack", show_default=True)
@click.pass_obj
def ingest(settings: Settings, mode: str) -> None:
    """Subscribe to MQTT and forward valid events (to Kafka in stack mode) until stopped.

    Exits non-zero with the reason when the pipeline cannot go on (broker refused the login,
    ticket database away longer than CITYWATCH_STORE_RETRY_S, Kafka unreachable, ...).
    """
    try:
        if mode == "stack":
            asyncio.run(_run_stack_ingest(settings))
        else:
            _run_embedded_ingest(settings)
    except Exception as exc:
        raise click.ClickException(f"ingest stopped: {type(exc).__name__}: {exc}") from exc


def _run_embedded_ingest(settings: Settings) -> None:
    from citywatch.health import HealthServer
    from citywatch.pipeline import EmbeddedPipeline
    from citywatch.runtime import tune_gc_for_service

    stop = _stop_on_signal()  # before start: a SIGTERM right after "ingest.started" must stop it cleanly
    pipeline = EmbeddedPipeline(settings)
    health = (
        HealthServer(settings.health_host, settings.health_port, pipeline.health, pipeline.metrics()).start()
        if settings.health_port
        else None
    )
    try:
        pipeline.start()
        tune_gc_for_service()
        _wait_for(stop, pipeline.done)
    finally:
        if health:
            health.stop()
        pipeline.stop()  # re-raises what ended the pipeline thread


async def _run_stack_ingest(settings: Settings) -> None:
    from citywatch.pipeline import run_stack_ingest

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await run_stack_ingest(settings, stop)


def _stop_on_signal() -> threading.Event:
    """Return an event that SIGINT / SIGTERM set from now on."""
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda _signum, _frame: stop.set())
    return stop


def _wait_for(stop: threading.Event, done: threading.Event) -> None:
    """Block until stop is set (a signal) or done is set (the pipeline thread ended)."""
    while not stop.is_set() and not done.is_set():
        done.wait(0.5)


@main.command()
@click.pass_context
def worker(ctx: click.Context) -> None:
    """Run a stream worker of the stack (faust; run several): rules, the InfluxDB and ticket sinks,
    /healthz and /metrics on CITYWATCH_FAUST_WEB_PORT. Stops on SIGINT / SIGTERM."""
    from citywatch.worker import run_worker

    log_json, log_level = ctx.meta["citywatch.log"]
    run_worker(log_json, log_level)


@main.group()
def gateway() -> None:
    """Gateways for devices that do not speak the MQTT contract."""


@gateway.command("jt808")
@click.option("--port", type=int, default=None, help="TCP port (default: CITYWATCH_GATEWAY_PORT, 7611).")
@click.pass_obj
def gateway_jt808(settings: Settings, port: int | None) -> None:
    """Accept JT/T 808 (2013 / 2019) terminals and publish their reports to MQTT until stopped.

    A terminal is known by its phone number (``jt808_phone`` in the city's vehicles.yaml); its
    positions and online / offline status are published QoS 1 under the vehicle's terminal id.
    """
    try:
        asyncio.run(_run_gateway(settings, port))
    except Exception as exc:
        raise click.ClickException(f"gateway stopped: {type(exc).__name__}: {exc}") from exc


async def _run_gateway(settings: Settings, port: int | None) -> None:
    from citywatch.gateway import start_gateway
    from citywatch.runtime import tune_gc_for_service

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    running = await start_gateway(settings, port)
    tune_gc_for_service()
    try:
        await stop.wait()
    finally:
        await running.stop()


@main.group()
def rules() -> None:
    """Check city data and rule parameters."""


@rules.command("table")
@click.option("--write", is_flag=True, help="rewrite the table in rules/README.md instead of printing it")
def rules_table(write: bool) -> None:
    """Print the rule table of rules/README.md, generated from the rule catalog (every rule's SPEC)."""
    from rules import catalog

    if not write:
        click.echo(catalog.docs_table())
        return
    readme = Path(catalog.__file__).with_name("README.md")
    readme.write_text(catalog.with_table(readme.read_text(encoding="utf-8")), encoding="utf-8")
    click.echo(f"{readme}: rule table rewritten ({len(catalog.catalog())} rules)")


@rules.command("check")
@click.argument("path", type=click.Path(path_type=Path))
def rules_check(path: Path) -> None:
    """Validate a city directory (its data files and its tickets.yaml) and report every problem."""
    from tickets.config import config_for_city

    problems, city = [], None
    try:
        city = load_city(path)
    except CityConfigError as exc:
        problems.append(str(exc))
    try:
        config_for_city(path)
    except TicketConfigError as exc:
        problems.append(str(exc))
    if problems or city is None:
        click.echo("\n".join(problems), err=True)
        sys.exit(1)
    click.echo(
        f"{path}: ok — {city.meta.name} v{city.meta.version}: {len(city.vehicles)} vehicles, "
        f"{len(city.permits)} permits, {len(city.facilities)} facilities, {len(city.sites)} sites"
    )


@main.command()
def contract() -> None:
    """Print the MQTT wire contract (topics and payload fields) as Markdown."""
    from devices.contract_doc import render

    click.echo(render())


main.add_command(tickets_commands)  # citywatch/cli_tickets.py: list, cases, serve, migrate, token
main.add_command(dashboards_commands)  # citywatch/cli_dashboards.py: export, push, report
main.add_command(devices_commands)  # citywatch/cli_devices.py: add, revoke
main.add_command(city_commands)  # citywatch/cli_city.py: scale
main.add_command(replay_command)  # citywatch/cli_replay.py: back-test recorded events


if __name__ == "__main__":
    main()
