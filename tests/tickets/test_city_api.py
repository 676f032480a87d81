"""The city data API (real uvicorn on loopback): role-checked, reasoned, audited changes to permits and vehicles."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from devices.city_edit import CityEditor
from devices.inventory import load_city
from tests.tickets.conftest import served
from tickets.auth import IssuedToken, TokenBook
from tickets.lifecycle import Actor, Role
from tickets.live import LiveView
from tickets.service import TicketService
from tickets.store import TicketStore

NOW = datetime(2026, 12, 4, 6, 0, tzinfo=UTC)
PEOPLE = {
    "registrar": Actor("周婷", Role.REGISTRAR),
    "lead": Actor("王敏", Role.SHIFT_LEAD),
    "dispatcher": Actor("赵强", Role.DISPATCHER),
    "screen": Actor("大屏", Role.SCREEN),
}
TOKENS = {k: f"token-{k}-0123456789abcdef" for k in PEOPLE}
PERMIT = {"permit_id": "P-M1-B", "vehicle_id": "M1", "route": [[114.30, 30.593], [114.34, 30.593]],
          "valid_from": "2026-12-04", "valid_to": "2027-06-30", "reason": "准运证 2026-118"}  # fmt: skip
VEHICLE = {"vehicle_id": "M2", "plate": "鄂A·D0002", "kind": "muck", "company": "城建运输", "terminal_id": "gps-m2",
           "reason": "新车登记"}  # fmt: skip


def as_(who: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS[who]}"}


@pytest.fixture
def client(city_dir: Path, tmp_path: Path) -> Iterator[httpx.Client]:
    city = load_city(city_dir)
    store = TicketStore(str(tmp_path / "tickets.sqlite"))
    book = TokenBook([], [IssuedToken(TOKENS[k], a) for k, a in PEOPLE.items()])
    service = TicketService(store, book, LiveView(city), city, editor=CityEditor(city_dir, clock=lambda: NOW))
    try:
        with served(service) as c:
            yield c
    finally:
        store.close()


def test_a_registrar_issues_and_revokes_permits_and_every_change_is_audited(
    client: httpx.Client, city_dir: Path
) -> None:
    issued = client.post("/api/city/permits", json=PERMIT, headers=as_("registrar"))
    assert issued.status_code == 201, issued.text
    assert issued.json()["city_version"] == 2 and issued.json()["before"]["permit_id"] == "P-M1"
    revoked = client.delete("/api/city/permits/P-M1-B", params={"reason": "违规吊销 2026-9"}, headers=as_("lead"))
    assert revoked.status_code == 200 and revoked.json()["after"]["revoked_at"] == NOW.isoformat()
    assert client.get("/api/city", headers=as_("screen")).json() == {
        "version": 3, "vehicles": 2, "permits": 0, "revoked_permits": 2,
    }  # fmt: skip
    changes = client.get("/api/city/changes", headers=as_("registrar")).json()
    assert [(c["action"], c["target"], c["who"], c["role"], c["reason"]) for c in changes] == [
        ("revoke_permit", "P-M1-B", "王敏", "shift_lead", "违规吊销 2026-9"),
        ("issue_permit", "P-M1-B", "周婷", "registrar", "准运证 2026-118"),
    ]
    assert load_city(city_dir).meta.version == 3


def test_vehicles_are_added_and_removed(client: httpx.Client) -> None:
    assert client.post("/api/city/vehicles", json=VEHICLE, headers=as_("registrar")).status_code == 201
    assert client.get("/api/city", headers=as_("screen")).json()["vehicles"] == 3
    refused = client.delete("/api/city/vehicles/M1", params={"reason": "报废"}, headers=as_("registrar"))
    assert refused.status_code == 409 and "standing permit" in refused.json()["detail"]
    gone = client.delete("/api/city/vehicles/M2", params={"reason": "报废"}, headers=as_("registrar"))
    assert gone.status_code == 200 and gone.json()["city_version"] == 3


@pytest.mark.parametrize("who", ["dispatcher", "screen"])
def test_other_roles_may_not_change_the_city(client: httpx.Client, who: str) -> None:
    for resp in (
        client.post("/api/city/permits", json=PERMIT, headers=as_(who)),
        client.delete("/api/city/permits/P-M1", params={"reason": "x" * 3}, headers=as_(who)),
        client.post("/api/city/vehicles", json=VEHICLE, headers=as_(who)),
        client.get("/api/city/changes", headers=as_(who)),
    ):
        assert resp.status_code == 403, resp.text


def test_no_token_no_change(client: httpx.Client) -> None:
    assert client.post("/api/city/permits", json=PERMIT).status_code == 401
    assert client.delete("/api/city/permits/P-M1", params={"reason": "abc"}).status_code == 401


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({k: v for k, v in PERMIT.items() if k != "reason"}, 422),  # a change needs its reason
        ({**PERMIT, "route": [[114.3, 30.59]]}, 422),
        ({**PERMIT, "datum": "UTM"}, 422),
        ({**PERMIT, "colour": "red"}, 422),
        ({**PERMIT, "vehicle_id": "NOPE"}, 422),  # the city would not load: names an unknown vehicle
        ({**PERMIT, "permit_id": "P-M1"}, 409),  # an existing id
    ],
)
def test_bad_changes_are_refused_and_nothing_is_written(
    client: httpx.Client, city_dir: Path, body: dict[str, object], expected: int
) -> None:
    resp = client.post("/api/city/permits", json=body, headers=as_("registrar"))
    assert resp.status_code == expected, resp.text
    assert load_city(city_dir).meta.version == 1 and not (city_dir / "changes.jsonl").exists()


def test_a_revocation_needs_a_reason(client: httpx.Client) -> None:
    assert client.delete("/api/city/permits/P-M1", headers=as_("registrar")).status_code == 422
    assert client.delete("/api/city/permits/P-9", params={"reason": "abc"}, headers=as_("registrar")).status_code == 404


def test_a_route_drawn_on_a_gcj02_map_is_stored_in_wgs84(client: httpx.Client, city_dir: Path) -> None:
    gcj = {**PERMIT, "datum": "GCJ-02", "route": [[114.3058, 30.5904], [114.3458, 30.5904]]}
    assert client.post("/api/city/permits", json=gcj, headers=as_("registrar")).status_code == 201
    lon, _ = load_city(city_dir).permits[-1].route[0]
    assert 114.2990 < lon < 114.3005  # ~580 m west of where the GCJ-02 map drew it
