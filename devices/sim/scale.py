"""A city scaled to any fleet size, and a scenario that plants violations across it (``citywatch city scale``).

The scaled city is the source city with its trucks replaced by ``trucks`` clones of them, in the
source's mix of muck and garbage trucks: each muck clone gets its own permit on its model's route
(same corridor, sites, hours and validity), each garbage clone its model's round and the
collection points its model serves. Compactor stations and bins grow with the fleet (one per as
many trucks as in the source city), each clone at its model's place. Sites, cameras, zones, roads,
the grid and everything else stay as they are. Ids, plates and SIM numbers are new and unique.

The scenario reports every truck each ``vehicle_s`` and plants, per 100 muck trucks (times
``plants_per_100``), a route deviation and an uncovered load on trucks whose permits allow any
hour, and as many overflows on stations at distinct places (two at one place would be fused into
one case), spread over the run; ``expected`` lists them. Everything is drawn from a
``random.Random(seed)``: the same source, size and seed give the same files.
"""

from __future__ import annotations

import math
import random
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

YAML_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # libyaml when built with it: 10,000 trucks in seconds
LEAD_S = 300  # no plant in the first five minutes: every truck is under way, loaded, on its route
PLANT_SPAN_S = 300  # each plant lasts at most this long (and ends before the run does)


@dataclass(frozen=True, slots=True)
class ScaledCity:
    """What ``write_scaled_city`` wrote: the city directory, the scenario and the fleet it holds."""

    city_dir: Path
    scenario: Path
    muck: int
    garbage: int
    facilities: int
    planted: int


def clone_ids(kind: str, i: int) -> dict[str, str]:
    """Return the ids of truck clone ``i`` of a kind (``muck`` or ``garbage``): unique, valid ids."""
    letter, phone = ("X", f"147{i:08d}") if kind == "muck" else ("Y", f"0148{i:08d}")
    return {
        "vehicle_id": f"{'M' if kind == 'muck' else 'G'}{letter}{i:05d}",
        "plate": f"鄂A·{letter}{i:05d}",
        "terminal_id": f"gps-{'m' if kind == 'muck' else 'g'}{letter.lower()}{i:05d}",
        "jt808_phone": phone,
    }


def split_fleet(vehicles: list[dict[str, Any]], trucks: int) -> tuple[int, int]:
    """Return how many muck and garbage trucks a fleet of ``trucks`` has, in the source city's mix."""
    muck = sum(v["kind"] == "muck" for v in vehicles)
    garbage = sum(v["kind"] == "garbage" for v in vehicles)
    if muck == 0:
        raise ValueError("the source city has no muck trucks to clone")
    n_muck = trucks if garbage == 0 else max(1, round(trucks * muck / (muck + garbage)))
    return n_muck, trucks - n_muck


def scale_fleet(
    vehicles: list[dict[str, Any]], permits: list[dict[str, Any]], points: list[dict[str, Any]], trucks: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """Return vehicles, permits and collection points with the trucks replaced by ``trucks`` clones."""
    n_muck, n_garbage = split_fleet(vehicles, trucks)
    permit_of = {p["vehicle_id"]: p for p in permits}
    models = {kind: [v for v in vehicles if v["kind"] == kind] for kind in ("muck", "garbage")}
    new_vehicles = [v for v in vehicles if v["kind"] not in models]
    new_permits: list[dict[str, Any]] = []
    served_by: dict[str, list[str]] = {p["point_id"]: [] for p in points}
    for kind, count in (("muck", n_muck), ("garbage", n_garbage)):
        for i in range(count):
            model, ids = models[kind][i % len(models[kind])], clone_ids(kind, i)
            new_vehicles.append({**model, **ids})
            if (permit := permit_of.get(model["vehicle_id"])) is not None:
                new_permits.append({**permit, "permit_id": f"ZY-SCALE-{i:05d}", "vehicle_id": ids["vehicle_id"]})
            for point in points:
                if model["vehicle_id"] in point.get("served_by", []):
                    served_by[point["point_id"]].append(ids["vehicle_id"])
    new_points = [{**p, "served_by": served_by[p["point_id"]]} for p in points if served_by[p["point_id"]]]
    return new_vehicles, new_permits, new_points


def scale_facilities(facilities: list[dict[str, Any]], count: int) -> list[dict[str, Any]]:
    """Return ``count`` facilities: the source's first, then clones of them in turn (new ids, same place)."""
    out = []
    for i in range(count):
        model = facilities[i % len(facilities)]
        if i < len(facilities):
            out.append(model)
            continue
        out.append(
            {
                **model,
                "facility_id": f"{model['facility_id']}-X{i:05d}",
                "name": f"{model['name']} #{i}",
                "device_id": f"fill-x{i:05d}",
            }
        )
    return out


def scenario_for(
    city_name: str,
    muck: list[dict[str, Any]],
    permits: list[dict[str, Any]],
    stations: list[dict[str, Any]],
    duration_s: int,
    vehicle_s: int,
    seed: int,
    plants_per_100: int = 1,
) -> dict[str, Any]:
    """Return a scenario (as YAML data) that plants violations across a scaled fleet."""
    rng = random.Random(seed)  # noqa: S311  # a reproducible draw, not a secret
    any_hour = {p["vehicle_id"] for p in permits if not p.get("windows")}
    candidates = [v["terminal_id"] for v in muck if v["vehicle_id"] in any_hour]
    plants = max(1, len(muck) * plants_per_100 // 100)
    chosen = rng.sample(candidates, min(len(candidates), 2 * plants))
    latest = duration_s - PLANT_SPAN_S - 60
    if latest < LEAD_S:
        raise ValueError(
            f"a run of {duration_s} s is too short to plant anything (at least {LEAD_S + PLANT_SPAN_S + 60})"
        )
    injections = [
        _truck_plant(kind, truck, rng.randrange(LEAD_S, latest + 1))  # latest included: the minimum run works
        for truck, kind in zip(chosen, _alternate("deviate", "open_cover"), strict=False)
    ]
    places = {(s["lon"], s["lat"]): s["device_id"] for s in reversed(stations)}  # one per place: no fusing
    overflowing = sorted(places.values())[: max(1, plants)]
    injections += [
        {"type": "overflow", "facility": device, "at_s": rng.randrange(LEAD_S, latest + 1), "to_ratio": 0.97}
        for device in overflowing
    ]
    injections.sort(key=lambda i: (i["at_s"], str(i.get("vehicle") or i.get("facility"))))
    rule = {"deviate": "route_deviation", "open_cover": "uncovered_load", "overflow": "overflow"}
    return {
        "name": f"scaled-{city_name}",
        "description": f"{len(muck)} muck trucks and the rest of a scaled city, {len(injections)} planted violations.",
        "duration_s": duration_s,
        "report_intervals": {"vehicle_s": vehicle_s, "facility_s": 60, "site_s": 60},
        "injections": injections,
        "expected": [{"rule": rule[i["type"]], "subject": i.get("vehicle") or i.get("facility")} for i in injections],
    }


def _alternate(*kinds: str) -> Iterator[str]:
    while True:
        yield from kinds


def _truck_plant(kind: str, truck: str, at_s: int) -> dict[str, Any]:
    if kind == "deviate":
        return {"type": "deviate", "vehicle": truck, "at_s": at_s, "duration_s": 120, "offset_m": 200}
    return {"type": "open_cover", "vehicle": truck, "at_s": at_s, "duration_s": 90}


def write_scaled_city(
    source: Path,
    out: Path,
    trucks: int,
    *,
    seed: int = 7,
    duration_s: int = 1800,
    vehicle_s: int = 10,
    plants_per_100: int = 1,
) -> ScaledCity:
    """Write the scaled city to ``out/city`` and its scenario to ``out/scenario.yaml``; ``out`` must not exist."""
    if trucks < 1:
        raise ValueError("a scaled city needs at least one truck")
    if out.exists():
        raise FileExistsError(f"{out} exists: choose a new directory")
    city_dir = out / "city"
    shutil.copytree(source, city_dir)
    read = {name: _load(source / f"{name}.yaml") for name in ("vehicles", "permits", "collection_points", "facilities")}
    vehicles, permits, points = scale_fleet(read["vehicles"], read["permits"], read["collection_points"], trucks)
    source_trucks = sum(v["kind"] in ("muck", "garbage") for v in read["vehicles"])
    facilities = scale_facilities(
        read["facilities"], max(1, math.ceil(trucks * len(read["facilities"]) / source_trucks))
    )
    for name, entries in (
        ("vehicles", vehicles),
        ("permits", permits),
        ("collection_points", points),
        ("facilities", facilities),
    ):
        _dump(city_dir / f"{name}.yaml", entries)
    muck = [v for v in vehicles if v["kind"] == "muck"]
    stations = [f for f in facilities if f.get("kind") == "station"]
    scenario = scenario_for(source.name, muck, permits, stations, duration_s, vehicle_s, seed, plants_per_100)
    _dump(out / "scenario.yaml", scenario)
    garbage = sum(v["kind"] == "garbage" for v in vehicles)
    return ScaledCity(city_dir, out / "scenario.yaml", len(muck), garbage, len(facilities), len(scenario["expected"]))


def _load(path: Path) -> list[dict[str, Any]]:
    data = yaml.safe_load(path.read_text(encoding="utf-8")) if path.exists() else None
    return list(data or [])


def _dump(path: Path, data: Any) -> None:
    """Write YAML (dates stay dates, Chinese text stays readable)."""
    path.write_text(
        yaml.dump(data, Dumper=YAML_DUMPER, allow_unicode=True, sort_keys=False, width=200), encoding="utf-8"
    )
