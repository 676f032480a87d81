"""The contract ``seq`` from 16-bit terminal serials: resends stay equal, new frames count up through wraps."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from devices.contracts import SEQ_MAX
from gateway.serials import SPAN, STATUS_ITEM, SerialClock


def test_a_resend_gets_the_same_seq_and_a_new_frame_a_larger_one() -> None:
    clock = SerialClock(connection_s=1_800_000_000)
    first = clock.seq(7)
    assert clock.seq(7) == first < clock.seq(8)


def test_the_wrap_at_65535_counts_on() -> None:
    clock = SerialClock(connection_s=1_800_000_000)
    before = clock.seq(65_535)
    after = clock.seq(0)
    assert after > before
    assert clock.seq(65_535) == before, "a late resend from before the wrap keeps its seq"


def test_a_later_connection_counts_above_an_earlier_one() -> None:
    earlier, later = SerialClock(1_800_000_000), SerialClock(1_800_000_001)
    assert later.seq(0) > earlier.seq(65_535, STATUS_ITEM)


def test_a_status_sorts_after_the_frames_so_far() -> None:
    clock = SerialClock(1_800_000_000)
    frame_seq = clock.seq(12, 5)
    assert clock.status_seq() > frame_seq and clock.status_seq() < clock.seq(13)


def test_the_largest_seq_fits_the_contract_until_2242() -> None:
    clock = SerialClock(connection_s=8_500_000_000, epoch=255)  # the year 2239
    assert clock.seq(65_535, STATUS_ITEM) <= SEQ_MAX


@pytest.mark.parametrize(("serial", "item"), [(-1, 0), (SPAN, 0), (0, 64)])
def test_out_of_range_serials_are_refused(serial: int, item: int) -> None:
    with pytest.raises(ValueError, match="out of range"):
        SerialClock(1).seq(serial, item)


@settings(max_examples=300, deadline=None)
@given(st.integers(0, SPAN - 1), st.lists(st.integers(1, 1000), min_size=1, max_size=300))
def test_frames_sent_in_order_get_increasing_seqs_across_wraps(start: int, steps: list[int]) -> None:
    clock, serial = SerialClock(1_800_000_000), start
    seqs = [clock.seq(serial)]
    for step in steps:
        serial = (serial + step) % SPAN
        seqs.append(clock.seq(serial))
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
