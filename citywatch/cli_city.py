"""``citywatch city``: import a bureau's GIS and registries (``city import``); scale cities for load tests."""

from __future__ import annotations

from pathlib import Path

import click

from citywatch.city import load_city
from devices.importing.city import write_city
from devices.importing.problems import ImportFailed
from devices.importing.spec import read_spec
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


@city.command("import")
@click.argument("mapping", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--out", type=click.Path(path_type=Path), required=True, help="A new city directory.")
@click.option(
    "--base", type=click.Path(exists=True, file_okay=False, path_type=Path), help="Keep this city's other files."
)
@click.option(
    "--source", "sources", multiple=True, metavar="TARGET=FILE", help="A source file (overrides the mapping)."
)
@click.option(
    "--field", "fields", multiple=True, metavar="TARGET.FIELD=COLUMN", help="A column (overrides the mapping)."
)
@click.option("--datum", help="The sources' datum: WGS-84, CGCS2000, GCJ-02 or BD-09 (overrides the mapping).")
@click.option("--report", type=click.Path(dir_okay=False, path_type=Path), help="Also write the problems to this file.")
def import_(
    mapping: Path | None,
    out: Path,
    base: Path | None,
    sources: tuple[str, ...],
    fields: tuple[str, ...],
    datum: str | None,
    report: Path | None,
) -> None:
    """Import GeoJSON / Shapefile layers and CSV / XLSX registries into a checked city directory.

    MAPPING is a YAML file naming each source and its columns (cities/sample-import/import.yaml);
    with any problem nothing is written and every problem is listed with its file, row and column.
    """
    try:
        spec = read_spec(mapping, list(sources), list(fields), datum)
        root = mapping.parent if mapping is not None else Path.cwd()
        written = write_city(spec, root, out, base)
    except ImportFailed as exc:
        text = f"{len(exc.problems)} problem(s); nothing was written:\n{exc}"
        if report is not None:
            report.write_text(text + "\n", encoding="utf-8")
        raise click.ClickException(text) from exc
    counts = ", ".join(f"{n} {part}" for part, n in written.counts.items())
    click.echo(f"{written.city_dir}: city version {written.version}: {counts}")
    click.echo(f"run it: CITYWATCH_CITY_DIR={written.city_dir} citywatch demo")
