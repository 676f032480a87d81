"""``citywatch city``: make cities for load tests and demos (``city scale``)."""

from __future__ import annotations

from pathlib import Path

import click

from citywatch.city import load_city
from devices.inventory import CityConfigError
from devices.sim.scale import write_scaled_city
from devices.sim.scenario import ScenarioError, load_scenario


@click.group()
def city() -> None:
    """Cities made from a city directory."""


@city.command("scale")
@click.argument("source", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--trucks", type=click.IntRange(min=1), required=True, help="Trucks in the scaled city (all kinds).")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="A new directory: city/ and scenario.yaml.")
@click.option(
    "--seed", type=int, default=7, show_default=True, help="Which trucks get the planted violations, and when."
)
@click.option(
    "--duration-s", type=click.IntRange(min=660), default=1800, show_default=True, help="The scenario's length."
)
@click.option("--vehicle-s", type=click.IntRange(min=1), default=10, show_default=True, help="Seconds between fixes.")
@click.option(
    "--plants-per-100",
    type=click.IntRange(1, 50),
    default=1,
    show_default=True,
    help="Of each truck violation, per 100 muck trucks.",
)
def scale(
    source: Path, trucks: int, out: Path, seed: int, duration_s: int, vehicle_s: int, plants_per_100: int
) -> None:
    """Write SOURCE scaled to --trucks trucks, and a scenario planting violations across it; both are checked."""
    try:
        made = write_scaled_city(
            source, out, trucks, seed=seed, duration_s=duration_s, vehicle_s=vehicle_s, plants_per_100=plants_per_100
        )
        load_scenario(made.scenario, load_city(made.city_dir))
    except (FileExistsError, ValueError, CityConfigError, ScenarioError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(
        f"{made.city_dir}: {made.muck} muck and {made.garbage} garbage trucks, {made.facilities} stations and bins\n"
        f"{made.scenario}: {duration_s} s, {made.planted} planted violations "
        f"(run it: citywatch demo --scenario {made.scenario} with CITYWATCH_CITY_DIR={made.city_dir})"
    )
