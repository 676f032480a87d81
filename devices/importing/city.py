"""``citywatch city import``: a mapping and its sources in, a checked city directory out, or every problem.

The city is written next to its destination, loaded with ``devices.inventory.load_city`` (the same
checks every process makes) and only then moved into place; with any problem nothing is written. Files
keep the datum of their sources and ``city.yaml`` declares it, so they read like the GIS they came from;
the loader converts them to WGS-84.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from devices.areas import geojson
from devices.importing.build import AREA_TARGETS, Imported, area_entries, read_records, route_lines
from devices.importing.problems import ImportFailed, Problem
from devices.importing.registry import companies, permits, terminals, unique, vehicles
from devices.importing.spec import ImportSpec
from devices.inventory import CityConfigError, load_city

OUTPUT_FILE = {
    "grid": "grid.geojson", "zones": "zones.yaml", "sites": "sites.yaml", "disposal_sites": "disposal_sites.yaml",
    "vehicles": "vehicles.yaml", "permits": "permits.yaml",
}  # fmt: skip
ID_FIELD = {"grid": "code", "zones": "zone_id", "sites": "site_id", "disposal_sites": "site_id"}


@dataclass(frozen=True)
class Written:
    """What an import wrote: the city directory, its version and how many entries each file got."""

    city_dir: Path
    version: int
    counts: dict[str, int]


def import_entries(spec: ImportSpec, root: Path) -> Imported:
    """Read, map, join and check every source of a mapping (paths relative to ``root``)."""
    out = Imported()
    records = {target: read_records(spec, root, target, out) for target in spec.sources}
    for target in AREA_TARGETS:
        if target in records:
            out.entries[target] = list(area_entries(target, unique(records[target], ID_FIELD[target], out), out))
    if out.failed & {"vehicles", "companies", "terminals"}:
        return out  # every row would repeat the file's problem
    if "vehicles" in records:
        by_company = companies(records.get("companies", []), out)
        fleet = vehicles(records["vehicles"], by_company, terminals(records.get("terminals", []), out), out)
        out.entries["vehicles"] = [entry for _, entry in fleet]
        if "permits" in records and not out.failed & {"permits", "routes"}:
            out.entries["permits"] = permits(
                records["permits"], fleet, route_lines(records.get("routes", []), out), out
            )
    return out


def write_city(spec: ImportSpec, root: Path, out_dir: Path, base: Path | None = None) -> Written:
    """Import a mapping into a new city directory (files of ``base`` kept where not imported); raise ImportFailed."""
    if out_dir.exists():
        raise ImportFailed.of(str(out_dir), "already exists: give a new directory (the import never overwrites)")
    imported = import_entries(spec, root)
    if imported.problems:
        raise ImportFailed(imported.problems)
    staging = out_dir.with_name(out_dir.name + ".importing")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        version = _write_files(spec, imported, staging, base)
        load_city(staging)
    except CityConfigError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise ImportFailed(
            [Problem("(city check)", line.strip()) for line in str(exc).splitlines()[1:] or [str(exc)]]
        ) from exc
    staging.rename(out_dir)
    return Written(out_dir, version, {t: len(e) for t, e in imported.entries.items()})


def _write_files(spec: ImportSpec, imported: Imported, target: Path, base: Path | None) -> int:
    """Write the base city's files, then the imported ones and city.yaml; return the new version."""
    if base is not None:
        shutil.copytree(base, target)
    target.mkdir(parents=True, exist_ok=True)
    for part, entries in imported.entries.items():
        _dump(target / OUTPUT_FILE[part], _grid_collection(entries) if part == "grid" else entries)
    meta = _meta(spec, imported, target / "city.yaml")
    _dump(target / "city.yaml", meta)
    return int(meta["version"])


def _meta(spec: ImportSpec, imported: Imported, current: Path) -> dict[str, Any]:
    """Return city.yaml: the base's (version + 1), the mapping's city fields, and each written file's datum."""
    meta: dict[str, Any] = yaml.safe_load(current.read_text(encoding="utf-8")) if current.exists() else {}
    meta = {**meta, "version": int(meta.get("version", 0)) + 1, **spec.city}
    datums = dict(meta.get("datums") or {})
    for part in imported.entries:
        source = "routes" if part == "permits" else part
        if source in spec.sources and part != "vehicles":  # files with geometry from a source
            datums[OUTPUT_FILE[part]] = spec.datum_of(source)
    return {**meta, "datums": datums}


def _grid_collection(cells: list[dict[str, Any]]) -> dict[str, Any]:
    """Return grid cells as a GeoJSON FeatureCollection, as grid.geojson holds them."""
    features = []
    for cell in cells:
        properties = {k: v for k, v in cell.items() if k != "polygon"}
        features.append({"type": "Feature", "properties": properties, "geometry": _geometry(cell["polygon"])})
    return {"type": "FeatureCollection", "features": features}


def _geometry(polygon: dict[str, Any] | list[Any]) -> dict[str, Any]:
    """Return a polygon value as a GeoJSON geometry."""
    return polygon if isinstance(polygon, dict) else geojson(polygon)


class _Dumper(yaml.SafeDumper):
    """YAML with each coordinate pair on one line: ``[114.29, 30.58]``."""


def _list(dumper: yaml.SafeDumper, data: list[Any]) -> yaml.Node:
    flow = bool(data) and all(isinstance(v, int | float) for v in data)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flow)


_Dumper.add_representer(list, _list)


def _dump(path: Path, data: Any) -> None:
    """Write YAML (or GeoJSON, a feature a line, for .geojson) in UTF-8, Chinese kept readable."""
    if path.suffix == ".geojson":
        features = ",\n".join(json.dumps(f, ensure_ascii=False) for f in data["features"])
        path.write_text(f'{{"type": "FeatureCollection", "features": [\n{features}\n]}}\n', encoding="utf-8")
    else:
        path.write_text(yaml.dump(data, Dumper=_Dumper, allow_unicode=True, sort_keys=False), encoding="utf-8")
