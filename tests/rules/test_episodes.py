"""The shared debounced-episode machine: (t_s, judgement, clear_after_s) rows in, edges out."""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import given
from hypothesis import strategies as st

from rules.alerts import Phase
from rules.episodes import EpisodeState, advance, to_ms
from tests.rules.timelines import from_gaps, json_round_trip

MIN_S = 30.0
Row = tuple[float, bool | None, float]  # (t_s, violating / compliant / undecided, clear after s)


@dataclass(frozen=True, slots=True)
class WithExtra(EpisodeState):
    """A subclass the way rules make them: extra evidence fields with defaults."""

    peak: float = 0.0


def edges(rows: list[Row], state: EpisodeState | None = None) -> list[tuple[str, float]]:
    """Run the machine; return (edge, t_s) for every OPEN and CLEAR."""
    state = state or EpisodeState()
    out = []
    for t, judged, clear_s in rows:
        state, edge = advance(state, to_ms(t), judged, to_ms(MIN_S), to_ms(clear_s))
        if edge is not None:
            out.append((edge.value, t))
    return out


def test_opens_after_min_duration_and_clears_at_once_by_default() -> None:
    rows: list[Row] = [(0, False, 0), (10, True, 0), (39, True, 0), (40, True, 0), (50, False, 0)]
    assert edges(rows) == [("open", 40), ("clear", 50)]


def test_undecided_extends_an_episode_and_does_nothing_when_idle() -> None:
    assert edges([(0, None, 0), (100, None, 0)]) == []
    assert edges([(0, True, 0), (30, None, 0), (40, False, 0)]) == [("open", 30), ("clear", 40)]


def test_clear_delay_needs_continuous_compliance() -> None:
    rows: list[Row] = [
        (0, True, 0), (30, True, 0),  # OPEN
        (40, False, 60), (90, True, 0),  # 50 s compliant, then violating again: clock restarts
        (100, False, 60), (159, False, 60), (160, False, 60),  # 60 s compliant -> CLEAR
    ]  # fmt: skip
    assert edges(rows) == [("open", 30), ("clear", 160)]


def test_a_clear_reason_without_delay_wins_over_a_pending_delay() -> None:
    rows: list[Row] = [(0, True, 0), (30, True, 0), (40, False, 600), (50, False, 0)]
    assert edges(rows) == [("open", 30), ("clear", 50)]


def test_pending_episode_ends_silently() -> None:
    assert edges([(0, True, 0), (29, True, 0), (29.5, False, 0), (100, True, 0)]) == []


def test_subclass_fields_reset_with_the_episode() -> None:
    state, _ = advance(WithExtra(peak=9.0), to_ms(0), True, 0)
    assert isinstance(state, WithExtra) and state.is_open and state.peak == 9.0
    state, edge = advance(state, to_ms(1), False, 0)
    assert edge is Phase.CLEAR and state == WithExtra(last_ts_ms=to_ms(1))
    assert json_round_trip(state) == state


def test_staleness() -> None:
    state = EpisodeState(last_ts_ms=1000)
    assert state.is_stale(1000) and state.is_stale(999) and not state.is_stale(1001)
    assert not EpisodeState().is_stale(0)


judged = st.sampled_from([True, False, None])
rows_st = st.lists(st.tuples(st.integers(1, 40), judged, st.sampled_from([0, 20, 60])), max_size=60).map(from_gaps)


@given(rows_st)
def test_edges_alternate_and_open_only_after_min_duration(rows: list[Row]) -> None:
    state, last = EpisodeState(), None
    for t, judgement, clear_s in rows:
        state, edge = advance(state, to_ms(t), judgement, to_ms(MIN_S), to_ms(clear_s))
        if edge is Phase.OPEN:
            assert last in (None, Phase.CLEAR) and state.episode_start_ms is not None
            assert to_ms(t) - state.episode_start_ms >= to_ms(MIN_S)
        if edge is not None:
            assert edge != last
            last = edge
        assert state.is_open <= state.in_episode
