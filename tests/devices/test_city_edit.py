"""Editing a city directory while it runs: checked as a whole first, written atomically, audited, version raised."""

from __future__ import annotations

import json
import shutil
import threading
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
import yaml

from devices.city_edit import CityEditError, CityEditor
from devices.datum import from_wgs84
from devices.inventory import city_version, load_city
from rules.geometry import haversine_m

DEMO = Path(__file__).resolve().parents[2] / "cities" / "demo"
NOW = datetime(2026, 12, 4, 6, 0, tzinfo=UTC)  # 14:00 in the city
WHO = {"who": "周婷", "role": "registrar", "reason": "准运证 2026-118"}
NEW = {"permit_id": "P-M1-B", "vehicle_id": "M1", "route": [[114.30, 30.593], [114.34, 30.593]],
       "valid_from": "2026-12-04", "valid_to": "2027-06-30", "windows": ["22:00-06:00"]}  # fmt: skip


def editor(city_dir: Path) -> CityEditor:
    return CityEditor(city_dir, clock=lambda: NOW)


def test_issuing_a_permit_supersedes_the_standing_one_and_raises_the_version(city_dir: Path) -> None:
    made = editor(city_dir).issue_permit(NEW, WHO)
    assert made.version == 2 == city_version(city_dir)
    city = load_city(city_dir)
    old, new = city.permits
    assert old.revoked_at == NOW and new.revoked_at is None and city.permit_by_vehicle["M1"] == new
    assert made.before is not None and made.before["permit_id"] == "P-M1" and made.after == NEW


def test_revoking_keeps_the_permit_with_its_instant(city_dir: Path) -> None:
    made = editor(city_dir).revoke_permit("P-M1", WHO)
    permit = load_city(city_dir).permits[0]
    assert permit.revoked_at == NOW and made.after == {**(made.before or {}), "revoked_at": NOW.isoformat()}
    with pytest.raises(CityEditError, match="was revoked at") as again:
        editor(city_dir).revoke_permit("P-M1", WHO)
    assert again.value.status == 409
    with pytest.raises(CityEditError, match="no permit 'P-9'") as missing:
        editor(city_dir).revoke_permit("P-9", WHO)
    assert missing.value.status == 404


def test_every_change_is_audited_with_who_why_before_and_after(city_dir: Path) -> None:
    edit = editor(city_dir)
    edit.revoke_permit("P-M1", WHO)
    edit.put_vehicle(
        {"vehicle_id": "M2", "plate": "鄂A·D0002", "kind": "muck", "company": "城建运输", "terminal_id": "gps-m2"}, WHO
    )
    lines = [json.loads(line) for line in (city_dir / "changes.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [(x["action"], x["target"], x["version"], x["who"], x["reason"]) for x in lines] == [
        ("revoke_permit", "P-M1", 2, "周婷", "准运证 2026-118"),
        ("put_vehicle", "M2", 3, "周婷", "准运证 2026-118"),
    ]
    assert lines[1]["before"] is None and lines[1]["after"]["plate"] == "鄂A·D0002"
    assert edit.history(1) == [lines[1]]


def test_a_change_that_would_break_the_city_writes_nothing(city_dir: Path) -> None:
    before = {p.name: p.read_bytes() for p in city_dir.iterdir()}
    with pytest.raises(CityEditError, match="unknown origin site 'C9'") as bad:
        editor(city_dir).issue_permit({**NEW, "origin_sites": ["C9"]}, WHO)
    assert bad.value.status == 422
    assert {p.name: p.read_bytes() for p in city_dir.iterdir() if p.name != ".edit.lock"} == before


def test_a_vehicle_with_a_standing_permit_cannot_be_removed(city_dir: Path) -> None:
    edit = editor(city_dir)
    with pytest.raises(CityEditError, match="holds a standing permit"):
        edit.remove_vehicle("M1", WHO)
    edit.revoke_permit("P-M1", WHO)
    made = edit.remove_vehicle("M1", WHO)
    city = load_city(city_dir)
    assert made.version == 3 and "M1" not in {v.vehicle_id for v in city.vehicles} and city.permits == []


def test_city_yaml_keeps_its_comments(tmp_path: Path) -> None:
    city_dir = tmp_path / "demo"
    shutil.copytree(DEMO, city_dir)
    comments = [
        line for line in (city_dir / "city.yaml").read_text(encoding="utf-8").splitlines() if line.startswith("#")
    ]
    editor(city_dir).revoke_permit(load_city(city_dir).permits[0].permit_id, WHO)
    text = (city_dir / "city.yaml").read_text(encoding="utf-8")
    assert [line for line in text.splitlines() if line.startswith("#")] == comments
    assert "version: 3" in text and load_city(city_dir).meta.version == 3


def test_a_route_is_written_in_the_datum_the_file_declares(city_dir: Path) -> None:
    meta = yaml.safe_load((city_dir / "city.yaml").read_text(encoding="utf-8"))
    (city_dir / "city.yaml").write_text(
        yaml.safe_dump({**meta, "datums": {"permits.yaml": "GCJ-02"}}), encoding="utf-8"
    )
    editor(city_dir).issue_permit(NEW, WHO)  # given in WGS-84 (the default)
    written = yaml.safe_load((city_dir / "permits.yaml").read_text(encoding="utf-8"))[-1]["route"]
    expected = np.column_stack(from_wgs84(*np.asarray(NEW["route"]).T, "GCJ-02"))
    assert np.abs(np.asarray(written) - expected).max() < 1e-6
    loaded = np.asarray(load_city(city_dir).permits[-1].route)  # and back to WGS-84 at load
    assert haversine_m(*loaded.T, *np.asarray(NEW["route"]).T).max() < 0.05


def test_concurrent_changes_get_one_version_each(city_dir: Path) -> None:
    edit = editor(city_dir)
    vehicles = [{"vehicle_id": f"V{i}", "plate": f"鄂A·T000{i}", "kind": "garbage", "company": "环卫一队",
                 "terminal_id": f"gps-t{i}"} for i in range(6)]  # fmt: skip
    threads = [threading.Thread(target=edit.put_vehicle, args=(v, WHO)) for v in vehicles]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert load_city(city_dir).meta.version == 7
    assert sorted(x["version"] for x in edit.history()) == [2, 3, 4, 5, 6, 7]
