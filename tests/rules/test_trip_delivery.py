"""Trips never delivered (偷倒): golden timelines of (t_s, site zone, load) rows."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from devices.contracts import VehiclePosition
from rules import trip_delivery
from rules.alerts import Alert, Phase, Severity, alert_id
from rules.illegal_dumping import IllegalDumpingParams
from rules.trip_delivery import SiteZone, TripState
from tests.rules.timelines import (
    DEVICE,
    LAT,
    LON,
    check_grammar,
    from_gaps,
    json_round_trip,
    ms,
    position,
    run,
    summary,
)

PARAMS = IllegalDumpingParams(trip_timeout_s=3600)
HOUR = 3600

Row = tuple[float, SiteZone, str]  # (t_s, site zone, load)


def truck(t: float, load: str) -> VehiclePosition:
    """Build a muck-truck position; lon moves with time so evidence places are distinct."""
    return position(t, load=load, cover=None, heading_deg=0.0, lon_per_s=1e-6)


def trips(
    rows: list[Row],
    params: IllegalDumpingParams = PARAMS,
    *,
    state: TripState | None = None,
    restart: bool = False,
) -> tuple[TripState, list[Alert]]:
    """Run the rule over a timeline of (t_s, site zone, load); sites are named after the zone."""

    def step(s: TripState, row: tuple[VehiclePosition, SiteZone]) -> tuple[TripState, list[Alert]]:
        pos, zone = row
        site = {"origin": "SITE-1", "disposal": "DUMP-1"}.get(zone)
        return trip_delivery.step(s, pos, zone, params, subject=DEVICE, matter_code="08005", site_id=site)

    events = [(truck(t, load), zone) for t, zone, load in rows]
    return run(step, state or TripState(), events, restart=restart)


def test_delivered_trip_is_quiet() -> None:
    rows: list[Row] = [
        (0, "origin", "empty"),
        (600, "origin", "full"),
        (660, "none", "full"),
        (2400, "none", "full"),
        (3000, "disposal", "full"),
        (3300, "disposal", "empty"),
    ]
    assert trips(rows)[1] == []


def test_undelivered_trip_opens_at_the_timeout_and_late_delivery_clears() -> None:
    rows: list[Row] = [
        (0,               "origin", "full"),
        (100,             "none",   "full"),  # departure: trip starts
        (1800,            "none",   "full"),
        (2400,            "none",   "empty"),  # load vanished by the roadside
        (100 + HOUR - 1,  "none",   "empty"),
        (100 + HOUR,      "none",   "empty"),  # timeout -> OPEN
        (100 + 2 * HOUR,  "none",   "empty"),
        (9000,            "disposal", "empty"),  # reaches disposal at last -> CLEAR
    ]  # fmt: skip
    _, alerts = trips(rows)
    assert summary(alerts) == [("open", 100 + HOUR, 100), ("clear", 9000, 100)]
    assert alerts[0].alert_id == alerts[1].alert_id == alert_id("trip_not_delivered", DEVICE, ms(100))
    assert {a.severity for a in alerts} == {Severity.MAJOR}
    assert {a.rule for a in alerts} == {"trip_not_delivered"}
    assert alerts[0].evidence == {
        "origin_site": "SITE-1",
        "departed_ms": ms(100),
        "departed_lon": LON + 100e-6,
        "departed_lat": LAT,
        "emptied_ms": ms(2400),
        "emptied_lon": LON + 2400e-6,
        "emptied_lat": LAT,
        "load_state": "empty",
        "duration_s": 3600.0,
    }
    assert alerts[1].evidence["outcome"] == "delivered" and alerts[1].evidence["site_id"] == "DUMP-1"


def test_leaving_empty_is_no_trip() -> None:
    assert trips([(0, "origin", "empty"), (60, "none", "empty"), (2 * HOUR, "none", "full")])[1] == []


def test_no_trip_without_an_origin_visit() -> None:
    assert trips([(0, "none", "full"), (2 * HOUR, "none", "full")])[1] == []


def test_returning_to_the_origin_ends_the_trip() -> None:
    quiet: list[Row] = [
        (0, "origin", "full"),
        (60, "none", "full"),
        (1200, "origin", "full"),
        (1260, "origin", "full"),
        (1300 + HOUR - 1, "none", "full"),
    ]
    assert trips(quiet)[1] == []  # the second departure restarted the clock at 1300
    late: list[Row] = [
        (0, "origin", "full"),
        (60, "none", "full"),
        (60 + HOUR, "none", "empty"),
        (5000, "origin", "empty"),
    ]
    _, alerts = trips(late)
    assert summary(alerts) == [("open", 60 + HOUR, 60), ("clear", 5000, 60)]
    assert alerts[1].evidence["outcome"] == "returned_to_origin"


def test_gps_noise_at_the_gate_raises_nothing() -> None:
    rows: list[Row] = [(10.0 * i, "origin" if i % 2 else "none", "full") for i in range(500)]
    assert trips(rows)[1] == []


def test_terminal_switched_off_mid_trip_opens_on_its_first_position_back() -> None:
    rows: list[Row] = [(0, "origin", "full"), (60, "none", "full"), (5 * HOUR, "none", "empty")]
    assert summary(trips(rows)[1]) == [("open", 5 * HOUR, 60)]


def test_late_and_duplicate_events_are_ignored() -> None:
    rows: list[Row] = [
        (0, "origin", "full"),
        (60, "none", "full"),
        (60 + HOUR, "none", "full"),
        (100, "disposal", "full"),
        (60 + HOUR, "disposal", "full"),
        (4000, "none", "full"),
    ]
    state, alerts = trips(rows)
    assert summary(alerts) == [("open", 60 + HOUR, 60)]
    assert state.is_open and state.last_ts_ms == ms(4000)


def test_state_round_trips_mid_trip() -> None:
    rows: list[Row] = [
        (0, "origin", "full"),
        (60, "none", "full"),
        (600, "none", "empty"),
        (60 + HOUR, "none", "empty"),
        (5000, "disposal", "empty"),
    ]
    under_way, _ = trips(rows[:3])
    assert under_way.trip_start_ms == ms(60) and under_way.emptied_ms == ms(600)
    assert json_round_trip(under_way) == under_way
    assert trips(rows[3:], state=json_round_trip(under_way))[1] == trips(rows)[1]


rows_st = st.lists(
    st.tuples(
        st.integers(1, 1800),
        st.sampled_from(["origin", "none", "none", "none", "disposal"]),
        st.sampled_from(["empty", "full"]),
    ),
    min_size=1,
    max_size=60,
).map(from_gaps)


@given(rows_st)
def test_alerts_form_episodes_opened_only_after_the_timeout(rows: list[Row]) -> None:
    _, alerts = trips(rows)
    check_grammar(alerts)
    assert {a.phase for a in alerts} <= {Phase.OPEN, Phase.CLEAR}
    assert all(a.ts_ms - a.episode_start_ms >= PARAMS.trip_timeout_s * 1000 for a in alerts)


@given(rows_st)
def test_reloading_state_before_every_event_changes_nothing(rows: list[Row]) -> None:
    assert trips(rows, restart=True) == trips(rows)


@given(rows_st, st.integers(0, 59))
def test_replaying_a_prefix_changes_nothing(rows: list[Row], cut: int) -> None:
    state, _ = trips(rows)
    assert trips(rows[: cut + 1], state=state) == (state, [])
