"""The registries joined: companies, terminals and vehicles by plate, permits to vehicles and route lines."""

from __future__ import annotations

from typing import Any

from devices.importing.build import Imported, Record, checked

TERMINAL_FIELDS = ("terminal_id", "jt808_phone", "jt808_model")


def unique(records: list[Record], fld: str, out: Imported) -> list[Record]:
    """Return the records whose ``fld`` was not met before; a repeat is a problem naming the first row."""
    first: dict[str, Record] = {}
    kept = []
    for record in records:
        value = record.values.get(fld)
        if value is not None and value in first:
            seen = first[value].place
            where = f"{next(iter(seen))} {next(iter(seen.values()))}"
            out.problems.append(record.problem(f"{fld} {value!r} appears twice (first at {where})", fld))
            continue
        if value is not None:
            first[value] = record
        kept.append(record)
    return kept


def companies(records: list[Record], out: Imported) -> dict[str, str]:
    """Return company names by company id (统一社会信用代码 or the registry's own id)."""
    return {str(r.values["company_id"]): str(r.values["name"]) for r in unique(records, "company_id", out)}


def terminals(records: list[Record], out: Imported) -> dict[str, dict[str, Any]]:
    """Return each plate's terminal fields (terminal id, SIM number, model) from the terminal registry."""
    by_plate = {}
    for record in unique(records, "terminal_id", out):
        plate = record.values.get("plate")
        if plate is None:
            out.problems.append(record.problem("the terminal names no plate, so no vehicle can take it", "plate"))
            continue
        by_plate[str(plate)] = {f: record.values[f] for f in TERMINAL_FIELDS if f in record.values}
    return by_plate


def vehicles(
    records: list[Record], by_company: dict[str, str], by_plate: dict[str, dict[str, Any]], out: Imported
) -> list[tuple[Record, dict[str, Any]]]:
    """Return each vehicle entry (with its record), its company named and its terminal joined by plate."""
    names = set(by_company.values())
    made = []
    for record in unique(unique(records, "plate", out), "vehicle_id", out):
        entry = {"vehicle_id": record.values["plate"], **record.values}
        for fld, value in by_plate.get(str(record.values["plate"]), {}).items():
            entry.setdefault(fld, value)
        company = str(entry.get("company", ""))
        if by_company and company not in names:
            if company not in by_company:
                out.problems.append(
                    record.problem(f"unknown company {company!r} (not in the companies registry)", "company")
                )
                continue
            entry["company"] = by_company[company]
        if "terminal_id" not in entry:
            out.problems.append(
                record.problem("no terminal: map terminal_id or list the plate in the terminals registry", "plate")
            )
            continue
        if checked("vehicles", record, entry, out) is not None:
            made.append((record, entry))
    return made


def permits(
    records: list[Record],
    fleet: list[tuple[Record, dict[str, Any]]],
    routes: dict[str, list[list[float]]],
    out: Imported,
) -> list[dict[str, Any]]:
    """Return each permit entry, its vehicle found by id or plate and its route by route id."""
    by_plate = {str(v["plate"]): str(v["vehicle_id"]) for _, v in fleet}
    ids = set(by_plate.values())
    made = []
    for record in unique(records, "permit_id", out):
        entry = {k: v for k, v in record.values.items() if k not in ("plate", "route_id")}
        vehicle = entry.get("vehicle_id") or by_plate.get(str(record.values.get("plate")))
        route = routes.get(str(record.values.get("route_id")))
        if vehicle not in ids:
            which = "vehicle_id" if "vehicle_id" in record.values else "plate"
            out.problems.append(
                record.problem(f"no vehicle in the vehicles registry has {which} {record.values.get(which)!r}", which)
            )
            continue
        if route is None:
            out.problems.append(
                record.problem(f"no route line has route_id {record.values.get('route_id')!r}", "route_id")
            )
            continue
        entry = {"permit_id": entry.pop("permit_id"), "vehicle_id": vehicle, "route": route, **entry}
        if checked("permits", record, entry, out) is not None:
            made.append(entry)
    return made
