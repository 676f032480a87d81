"""Station odour (GB 14554-93): golden timelines of (t_s, NH3, H2S) rows, grade limits, properties."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from devices.contracts import FacilityReading
from rules import odour
from rules.alerts import Alert, Phase, alert_id
from rules.odour import OdourParams, OdourState
from tests.rules.timelines import (
    check_grammar,
    from_gaps,
    json_round_trip,
    ms,
    run,
    summary,
)

STATION = "ST-0001"
PARAMS = OdourParams(grade="2-new", min_readings=2)  # NH3 1.5, H2S 0.06 mg/m³

Row = tuple[float, float | None, float | None]  # (t_s, nh3_mgm3, h2s_mgm3)


def gas(t_s: float, nh3: float | None, h2s: float | None) -> FacilityReading:
    return FacilityReading(device_id=STATION, ts_ms=ms(t_s), seq=0, fill_ratio=0.5, nh3_mgm3=nh3, h2s_mgm3=h2s)


def smell(
    rows: Sequence[Row],
    params: OdourParams = PARAMS,
    grade: str | None = None,
    *,
    state: OdourState | None = None,
    restart: bool = False,
) -> tuple[OdourState, list[Alert]]:
    """Run the rule over (t_s, nh3, h2s) rows for a facility of this grade (None: the city default)."""

    def step(s: OdourState, r: FacilityReading) -> tuple[OdourState, list[Alert]]:
        return odour.step(s, r, params, grade=grade, subject=STATION, matter_code="06042", lon=114.28, lat=30.58)

    return run(step, state or OdourState(), [gas(*r) for r in rows], restart=restart)


def test_two_readings_over_open_a_joining_gas_updates_two_under_clear() -> None:
    rows = [
        (0, 1.0, 0.02),
        (60, 1.8, 0.02),  # NH3 over: run starts
        (120, 1.9, 0.03),  # second over -> OPEN, starting at 60
        (180, 1.7, 0.08),  # H2S joins -> UPDATE
        (240, 1.2, 0.05),  # under 1
        (300, 1.6, 0.04),  # over again: the under run restarts
        (360, 1.0, 0.02),  # under 1
        (420, 0.9, 0.01),  # under 2 -> CLEAR
    ]
    _, alerts = smell(rows)
    assert summary(alerts) == [("open", 120, 60), ("update", 180, 60), ("clear", 420, 60)]
    assert {a.alert_id for a in alerts} == {alert_id("odour", STATION, ms(60))}
    opened, joined, cleared = (a.evidence for a in alerts)
    assert opened["gases_over"] == ["nh3"] and opened["nh3_limit_mgm3"] == 1.5 and opened["grade"] == "2-new"
    assert joined["gases_over"] == ["nh3", "h2s"] and joined["episode_gases"] == ["nh3", "h2s"]
    assert cleared["gases_over"] == [] and cleared["max_nh3_mgm3"] == 1.9 and cleared["max_h2s_mgm3"] == 0.08
    assert cleared["duration_s"] == 360.0


def test_limits_are_strictly_over() -> None:
    _, at_limit = smell([(0, 1.5, 0.06), (60, 1.5, 0.06), (120, 1.5, 0.06)])
    _, over = smell([(0, 1.5001, None), (60, None, 0.0601)])
    assert at_limit == []
    assert summary(over) == [("open", 60, 0)]
    assert over[0].evidence["gases_over"] == ["h2s"] and over[0].evidence["episode_gases"] == ["nh3", "h2s"]


def test_the_facility_grade_overrides_the_city_default() -> None:
    rows: list[Row] = [(0, 1.2, 0.02), (60, 1.2, 0.02)]
    assert smell(rows)[1] == []
    _, grade_1 = smell(rows, grade="1")  # NH3 1.0, H2S 0.03
    assert summary(grade_1) == [("open", 60, 0)] and grade_1[0].evidence["grade"] == "1"
    _, existing = smell([(0, 1.8, 0.08), (60, 1.9, 0.09)], grade="2-existing")  # NH3 2.0, H2S 0.10
    assert existing == []


def test_a_single_reading_over_is_not_enough() -> None:
    _, alerts = smell([(0, 2.0, 0.1), (60, 1.0, 0.01), (120, 2.0, 0.1), (180, 1.0, 0.01)])
    assert alerts == []


def test_readings_without_gas_neither_count_nor_break_a_run() -> None:
    _, alerts = smell(
        [
            (0, 2.0, None),
            (60, None, None),
            (120, 2.0, None),
            (180, None, None),
            (240, 1.0, None),
            (300, None, None),
            (360, 1.0, None),
        ]
    )
    assert summary(alerts) == [("open", 120, 0), ("clear", 360, 0)]


def test_min_readings_one_opens_at_once() -> None:
    _, alerts = smell([(0, 2.0, None), (60, 1.0, None)], OdourParams(min_readings=1))
    assert summary(alerts) == [("open", 0, 0), ("clear", 60, 0)]


def test_a_city_overrides_one_grade_and_keeps_the_others() -> None:
    params = OdourParams(nh3_limits={"2-new": 1.2})
    assert params.nh3_limits == {"1": 1.0, "2-new": 1.2, "2-existing": 2.0, "3-new": 4.0, "3-existing": 5.0}
    assert params.h2s_limits == {"1": 0.03, "2-new": 0.06, "2-existing": 0.10, "3-new": 0.32, "3-existing": 0.60}


def test_the_limits_are_gb_14554_93_table_1() -> None:
    """Table 1 (恶臭污染物厂界标准值), mg/m³: grade 1; grades 2 and 3, new (新扩改建) / existing (现有)."""
    params = OdourParams()
    table = {
        "1": (1.0, 0.03),
        "2-new": (1.5, 0.06),
        "2-existing": (2.0, 0.10),
        "3-new": (4.0, 0.32),
        "3-existing": (5.0, 0.60),
    }
    assert {g: (params.nh3_limits[g], params.h2s_limits[g]) for g in table} == table


@pytest.mark.parametrize(("grade", "nh3", "h2s"), [("3-new", 4.0, 0.32), ("3-existing", 5.0, 0.60)])
def test_grade_3_judges_against_its_own_limits(grade: str, nh3: float, h2s: float) -> None:
    at_limit: list[Row] = [(0, nh3, h2s), (60, nh3, h2s)]
    assert smell(at_limit, grade=grade)[1] == []  # over grade 2, at grade 3's limit: allowed
    _, over = smell([(0, nh3 + 0.01, None), (60, None, h2s + 0.01)], grade=grade)
    assert summary(over) == [("open", 60, 0)]
    evidence = over[0].evidence
    assert (evidence["grade"], evidence["nh3_limit_mgm3"], evidence["h2s_limit_mgm3"]) == (grade, nh3, h2s)


def test_grade_3_as_the_city_default() -> None:
    params = OdourParams(grade="3-existing")
    _, alerts = smell([(0, 4.5, 0.5), (60, 4.9, 0.55)], params)  # over 3-new, under 3-existing
    assert alerts == []
    assert summary(smell([(0, 5.1, None), (60, 5.2, None)], params)[1]) == [("open", 60, 0)]


def test_an_unknown_grade_is_refused_with_the_choices() -> None:
    with pytest.raises(ValidationError, match="'3-new'"):
        OdourParams.model_validate({"grade": "3"})


def test_late_and_duplicate_readings_are_ignored() -> None:
    state, alerts = smell([(0, 2.0, None), (60, 2.0, None), (30, 0.1, None), (60, 0.1, None), (120, 2.0, None)])
    assert summary(alerts) == [("open", 60, 0)]
    assert state.last_ts_ms == ms(120) and state.over_run == 3


def test_state_round_trips_mid_episode() -> None:
    rows: list[Row] = [(0, 2.0, 0.01), (60, 2.0, 0.01), (120, 2.0, 0.2), (180, 1.0, 0.01), (240, 1.0, 0.01)]
    opened, _ = smell(rows[:2])
    assert opened.episode_start_ms == ms(0)
    assert json_round_trip(opened) == opened
    _, straight = smell(rows)
    _, resumed = smell(rows[2:], state=json_round_trip(opened))
    assert resumed == straight[1:]


maybe = st.one_of(st.none(), st.floats(0, 3, allow_nan=False))
timelines = st.lists(
    st.tuples(st.integers(1, 600), maybe, st.one_of(st.none(), st.floats(0, 0.2))), min_size=1, max_size=60
).map(from_gaps)


def is_over(r: Row) -> bool | None:
    if r[1] is None and r[2] is None:
        return None
    return (r[1] or 0) > 1.5 or (r[2] or 0) > 0.06


@given(timelines, st.integers(1, 4))
def test_episodes_need_min_readings_in_a_row(rows: list[Row], n: int) -> None:
    _, alerts = smell(rows, OdourParams(min_readings=n))
    check_grammar(alerts)
    judged = [(ms(r[0]), v) for r in rows if (v := is_over(r)) is not None]
    for a in alerts:
        if a.phase is Phase.UPDATE:
            continue
        want = a.phase is Phase.OPEN
        upto = [v for t, v in judged if t <= a.ts_ms]
        assert upto[-n:] == [want] * n  # the last n judged readings agree with the phase


@given(timelines)
def test_reloading_state_before_every_event_changes_nothing(rows: list[Row]) -> None:
    assert smell(rows, restart=True) == smell(rows)
