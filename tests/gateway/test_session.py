"""The pure session state machine: frames in (written by the test's own terminal), replies and messages out."""

from __future__ import annotations

import struct

import pytest

from devices.contracts import DeviceStatus, LoadState, VehiclePosition
from devices.terminals import Quantity, SignalBit, TerminalModel
from gateway.auth import Authenticator
from gateway.session import MAX_BAD_FRAMES, Outcome, Session, Terminal
from tests.gateway.terminal import (
    auth_body,
    batch_body,
    frame,
    location_body,
    parse_reply,
    register_body,
)

NOW = 1_800_000_000_000
PHONE = "13900003101"
MODEL = TerminalModel(
    model="ZT",
    cover_closed=SignalBit(tlv=0xE1, bit=0),
    body_lifted=SignalBit(tlv=0xE1, bit=1),
    weight_kg=Quantity(tlv=0xE2, scale=10.0),
)


class Directory:
    def lookup(self, phone_key: str) -> Terminal | None:
        return Terminal("gps-m01", "鄂A·D3101", MODEL) if phone_key == PHONE else None


def fix(ts_ms: int = NOW - 60_000, **changes: object) -> VehiclePosition:
    base = {
        "device_id": "gps-m01",
        "ts_ms": ts_ms,
        "seq": 0,
        "lon": 114.3,
        "lat": 30.6,
        "speed_kmh": 32.5,
        "heading_deg": 90.0,
        "load_state": LoadState.FULL,
        "cover_closed": True,
        "body_lifted": False,
    }
    return VehiclePosition(**{**base, **changes})  # type: ignore[arg-type]


class Term:
    """The test terminal's frames, fed straight into a session."""

    def __init__(self, session: Session, v2019: bool = True, phone: str = PHONE) -> None:
        self.session, self.v2019, self.phone, self.serial = session, v2019, phone, 0

    def send(self, msg_id: int, body: bytes, serial: int | None = None) -> Outcome:
        self.serial = serial if serial is not None else self.serial + 1
        return self.session.on_frame(frame(msg_id, self.phone, self.serial, body, self.v2019), NOW)

    def login(self) -> Outcome:
        registered = parse_reply(self.send(0x0100, register_body("鄂A·D3101", self.v2019)).replies[0])
        return self.send(0x0102, auth_body(registered.rest.decode(), self.v2019))


@pytest.fixture
def session() -> Session:
    return Session(Directory(), Authenticator(b"test-secret"))


@pytest.mark.parametrize("v2019", [False, True])
def test_register_then_authenticate_announces_the_terminal_online(session: Session, v2019: bool) -> None:
    term = Term(session, v2019, PHONE.rjust(12, "0") if not v2019 else PHONE)
    out = term.send(0x0100, register_body("鄂A·D3101", v2019))
    answer = parse_reply(out.replies[0])
    assert (answer.msg_id, answer.answers_serial, answer.result) == (0x8100, 1, 0) and len(answer.rest) == 16
    out = term.send(0x0102, auth_body(answer.rest.decode(), v2019))
    assert [type(m) for m in out.messages] == [DeviceStatus] and out.messages[0].state == "online"  # type: ignore[attr-defined]
    assert out.ack is not None and parse_reply(out.ack).result == 0 and not out.replies and not out.close
    assert session.authenticated and session.key == PHONE


def test_an_unknown_terminal_gets_result_4_and_is_closed(session: Session) -> None:
    out = Term(session, phone="13999999999").send(0x0100, register_body("鄂A·X0000", True))
    assert parse_reply(out.replies[0]).result == 4 and out.close
    assert [r.reason for r in out.rejects] == ["unknown_terminal"] and not out.messages


def test_a_wrong_auth_code_fails_and_closes(session: Session) -> None:
    out = Term(session).send(0x0102, auth_body("not-the-code", True))
    assert parse_reply(out.replies[0]).result == 1 and out.close and [r.reason for r in out.rejects] == ["auth_failed"]
    assert not session.authenticated


def test_a_location_report_becomes_a_vehicle_position_acknowledged_after_publishing(session: Session) -> None:
    term = Term(session)
    term.login()
    sent = fix(weight_kg=None)
    body = location_body(sent, alarm=1 << 1 | 1 << 23) + b"\xe2\x02" + struct.pack(">H", 1234)
    out = term.send(0x0200, body)
    (got,) = out.messages
    assert isinstance(got, VehiclePosition)
    assert (got.lon, got.lat, got.speed_kmh, got.heading_deg, got.ts_ms) == (114.3, 30.6, 32.5, 90.0, sent.ts_ms)
    assert (got.load_state, got.cover_closed, got.body_lifted, got.weight_kg) == (LoadState.FULL, True, False, 12340.0)
    assert got.terminal_alarms == ("overspeed", "route_deviation")
    assert out.ack is not None and parse_reply(out.ack).answers_id == 0x0200 and not out.replies


def test_a_resent_frame_keeps_its_seq_and_the_next_frame_counts_up(session: Session) -> None:
    term = Term(session)
    term.login()
    first = term.send(0x0200, location_body(fix()), serial=10).messages[0]
    again = term.send(0x0200, location_body(fix()), serial=10).messages[0]
    later = term.send(0x0200, location_body(fix(NOW - 50_000)), serial=11).messages[0]
    assert first.seq == again.seq < later.seq


def test_a_blind_area_batch_gives_each_report_its_own_increasing_seq(session: Session) -> None:
    term = Term(session)
    term.login()
    live = term.send(0x0200, location_body(fix(NOW - 10_000))).messages[0]
    out = term.send(0x0704, batch_body([fix(NOW - 60_000 + 10_000 * i) for i in range(3)]))
    seqs = [m.seq for m in out.messages]
    assert seqs == sorted(seqs) and seqs[0] > live.seq and len(set(seqs)) == 3
    assert [m.ts_ms for m in out.messages] == [NOW - 60_000, NOW - 50_000, NOW - 40_000]


def test_a_position_out_of_range_is_answered_2_and_dead_lettered(session: Session) -> None:
    term = Term(session)
    term.login()
    body = bytearray(location_body(fix()))
    body[8:12] = struct.pack(">I", 95_000_000)  # latitude 95°
    out = term.send(0x0200, bytes(body))
    assert parse_reply(out.replies[0]).result == 2 and not out.messages and out.ack is None
    assert [r.reason for r in out.rejects] == ["invalid_position"] and out.rejects[0].raw is not None


def test_an_unknown_message_id_is_answered_not_supported(session: Session) -> None:
    term = Term(session)
    term.login()
    out = term.send(0x0901, b"\x01\x02")
    assert parse_reply(out.replies[0]).result == 3 and not out.close


def test_a_heartbeat_is_answered_and_unregister_publishes_offline_and_closes(session: Session) -> None:
    term = Term(session)
    term.login()
    assert parse_reply(term.send(0x0002, b"").replies[0]).result == 0
    out = term.send(0x0003, b"")
    assert [m.state for m in out.messages] == ["offline"] and out.close and out.ack is not None  # type: ignore[attr-defined]
    assert session.on_close(NOW, "gone") == []  # already offline


def test_a_dropped_connection_publishes_the_terminal_offline(session: Session) -> None:
    Term(session).login()
    (offline,) = session.on_close(NOW, "closed by the terminal")
    assert (
        isinstance(offline, DeviceStatus) and offline.state == "offline" and offline.reason == "closed by the terminal"
    )


def test_a_bad_check_code_is_answered_2_and_a_run_of_bad_frames_closes(session: Session) -> None:
    term = Term(session)
    term.login()
    good = frame(0x0200, PHONE, 50, location_body(fix()), True)
    bad = good[:-2] + bytes([good[-2] ^ 1]) + b"\x7e"
    out = session.on_frame(bad, NOW)
    assert parse_reply(out.replies[0]).result == 2 and [r.reason for r in out.rejects] == ["bad_checksum"]
    assert not out.close
    for _ in range(MAX_BAD_FRAMES):
        out = session.on_frame(bad, NOW)
    assert out.close


def test_a_sub_packaged_batch_is_reassembled(session: Session) -> None:
    term = Term(session)
    term.login()
    body = batch_body([fix(NOW - 60_000 + 1_000 * i) for i in range(40)])  # > 1023 bytes: two packages
    half = len(body) // 2
    outs = []
    for index, part in enumerate((body[:half], body[half:]), start=1):
        props = len(part) | 1 << 13 | 1 << 14
        header = (
            struct.pack(">HHB", 0x0704, props, 1)
            + bytes.fromhex(PHONE.rjust(20, "0"))
            + struct.pack(">HHH", 100 + index, 2, index)
        )
        check = 0
        for b in header + part:
            check ^= b
        raw = (header + part + bytes([check])).replace(b"\x7d", b"\x7d\x01").replace(b"\x7e", b"\x7d\x02")
        outs.append(session.on_frame(b"\x7e" + raw + b"\x7e", NOW))
    assert not outs[0].messages and len(outs[1].messages) == 40
    seqs = [m.seq for m in outs[1].messages]
    assert seqs == sorted(seqs) and len(set(seqs)) == 40
