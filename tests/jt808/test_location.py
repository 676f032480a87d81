"""Location report (0x0200) and batch (0x0704): hand-derived frames, signs, alarms, items, bad bodies."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from jt808.errors import FrameError
from jt808.frame import Header, pack, unpack
from jt808.location import (
    ALARM_NAMES,
    BATCH_BLIND_AREA,
    TLV_MILEAGE,
    TLV_SATELLITES,
    TLV_SIGNAL,
    BatchLocation,
    LocationReport,
    alarm_names,
    mileage_dkm,
    satellites,
    signal_strength,
    tacho_speed_dkmh,
    tlv_uint,
    tlv_value,
)
from jt808.messages import decode_body

PHONE = "013812345678"


def ms(*args: int) -> int:
    """UTC epoch milliseconds of a UTC date-time."""
    return int(datetime(*args, tzinfo=UTC).timestamp() * 1000)


WUHAN = LocationReport(
    alarm=0x2,  # overspeed
    status=0x303,  # ACC on, positioned, full load
    lat_e6=30_580_000,
    lon_e6=114_280_000,
    altitude_m=25,
    speed_dkmh=355,
    direction=90,
    ts_ms=ms(2025, 6, 1, 0, 30),  # 08:30 in Beijing
    extras=((0x01, bytes.fromhex("0001e240")), (0x30, b"\x19"), (0x31, b"\x0c")),
)
WUHAN_FRAME = bytes.fromhex(
    "7e 0200 0028 013812345678 0007"  # location report, 40-byte body, serial 7
    " 00000002"  # alarm: bit 1 overspeed
    " 00000303"  # status: bit 0 ACC, bit 1 positioned, bits 8-9 = 3 full load; north, east
    " 01d29d20"  # latitude 30580000 = 30.580000 N
    " 06cfc640"  # longitude 114280000 = 114.280000 E
    " 0019"  # altitude 25 m
    " 0163"  # speed 355 = 35.5 km/h
    " 005a"  # direction 90 (east)
    " 250601083000"  # time 2025-06-01 08:30:00 Beijing
    " 01 04 0001e240"  # item 0x01 mileage: 123456 = 12345.6 km
    " 30 01 19"  # item 0x30 signal strength 25
    " 31 01 0c"  # item 0x31 satellites 12
    " b6 7e"
)

SYDNEY = LocationReport(0, 0x2, -33_868_800, 151_209_300, 58, 0, 0, ms(2024, 12, 31, 16, 0, 0))
LONDON = LocationReport(0, 0x2, 51_507_400, -127_800, 11, 100, 270, ms(2024, 12, 31, 16, 0, 30))
BATCH_FRAME = bytes.fromhex(
    "7e 0704 003f 013812345678 0020"  # batch upload, 63-byte body, serial 0x20
    " 0002 01"  # 2 items, type 1: blind-area re-upload
    " 001c"  # item 1: 28 bytes
    "   00000000 00000006"  # no alarm; status positioned + bit 2 south
    "   0204cc00 09034554"  # 33.868800 (S), 151.209300 E
    "   003a 0000 0000 250101000000"  # 58 m, 0 km/h, north, 2025-01-01 00:00:00 Beijing
    " 001c"  # item 2: 28 bytes
    "   00000000 0000000a"  # status positioned + bit 3 west
    "   0311f0c8 0001f338"  # 51.507400 N, 0.127800 (W)
    "   000b 0064 010e 250101000030"  # 11 m, 10.0 km/h, 270 (west), 00:00:30
    " 79 7e"
)


def test_location_frame() -> None:
    header = Header(0x0200, PHONE, 7)
    assert pack(header, WUHAN.encode(False)) == WUHAN_FRAME
    got_header, body = unpack(WUHAN_FRAME)
    assert got_header == header
    assert decode_body(got_header, body) == WUHAN
    assert LocationReport.decode(body, True) == WUHAN  # the 0x0200 body is the same in 2019


def test_location_accessors() -> None:
    assert WUHAN.lat == pytest.approx(30.58) and WUHAN.lon == pytest.approx(114.28)
    assert WUHAN.speed_kmh == pytest.approx(35.5)
    assert WUHAN.load_bits == 3 and WUHAN.positioned
    assert alarm_names(WUHAN.alarm) == ("overspeed",)
    assert mileage_dkm(WUHAN.extras) == 123456
    assert signal_strength(WUHAN.extras) == 25
    assert satellites(WUHAN.extras) == 12
    assert tacho_speed_dkmh(WUHAN.extras) is None
    assert tlv_value(WUHAN.extras, 0x30) == b"\x19" and tlv_value(WUHAN.extras, 0x99) is None
    built = (tlv_uint(TLV_MILEAGE, 123456, 4), tlv_uint(TLV_SIGNAL, 25, 1), tlv_uint(TLV_SATELLITES, 12, 1))
    assert built == WUHAN.extras


def test_malformed_known_item_reads_as_absent() -> None:
    assert mileage_dkm(((0x01, b"\x00\x01"),)) is None
    assert tacho_speed_dkmh(((0x03, b"\x01\xf4"),)) == 500


def test_batch_frame_with_south_and_west() -> None:
    header = Header(0x0704, PHONE, 0x20)
    batch = BatchLocation(BATCH_BLIND_AREA, (SYDNEY, LONDON))
    assert pack(header, batch.encode(False)) == BATCH_FRAME
    assert decode_body(*unpack(BATCH_FRAME)) == batch
    south, west = decode_body(*unpack(BATCH_FRAME)).reports  # type: ignore[attr-defined]
    assert south.lat < 0 < south.lon and south.status & 4 and not south.status & 8
    assert west.lon < 0 < west.lat and west.status & 8 and not west.status & 4


def test_sign_drives_the_hemisphere_bits() -> None:
    assert LocationReport(0, 0b1100, 1, 1, 0, 0, 0, 0).status == 0  # north-east clears stale bits
    assert LocationReport(0, 0, -1, -1, 0, 0, 0, 0).status == 0b1100
    assert LocationReport(0, 0b0100, 0, 5, 0, 0, 0, 0).status == 0b0100  # zero keeps its bit as given


def test_alarm_names() -> None:
    assert alarm_names(0) == ()
    assert alarm_names(0xFFFF_FFFF) == tuple(ALARM_NAMES[b] for b in range(32))
    assert alarm_names(1 | 1 << 20 | 1 << 31) == ("emergency", "area_in_out", "illegal_door_open")
    assert len(set(ALARM_NAMES.values())) == 32
    assert all(name == name.lower() and " " not in name for name in ALARM_NAMES.values())


def test_unknown_items_are_kept_in_wire_order() -> None:
    body = WUHAN.encode(False)[:28] + bytes.fromhex("e1 02 abcd 00 00 30 01 05")
    report = LocationReport.decode(body, False)
    assert report.extras == ((0xE1, b"\xab\xcd"), (0x00, b""), (0x30, b"\x05"))
    assert report.encode(False) == body


@pytest.mark.parametrize("tail", ["01", "01 04 0001e2", "30 01 19 31"])
def test_truncated_item_is_bad_body(tail: str) -> None:
    with pytest.raises(FrameError) as err:
        LocationReport.decode(WUHAN.encode(False)[:28] + bytes.fromhex(tail), False)
    assert err.value.reason == "bad_body"


def test_short_location_and_bad_time() -> None:
    with pytest.raises(FrameError) as err:
        LocationReport.decode(WUHAN.encode(False)[:27], False)
    assert err.value.reason == "bad_body"
    body = bytearray(WUHAN.encode(False))
    body[23] = 0x13  # month 13
    with pytest.raises(FrameError) as err:
        LocationReport.decode(bytes(body), False)
    assert err.value.reason == "bad_bcd"


@pytest.mark.parametrize(
    "body",
    [
        "00",  # no type byte
        "0003 01 001c" + WUHAN_FRAME[13:41].hex(),  # says 3 items, holds 1
        "0001 00 001d" + WUHAN_FRAME[13:41].hex(),  # the item's length runs past the body
    ],
)
def test_batch_bad_body(body: str) -> None:
    with pytest.raises(FrameError) as err:
        BatchLocation.decode(bytes.fromhex(body), False)
    assert err.value.reason == "bad_body"


def test_batch_count_mismatch() -> None:
    _, body = unpack(BATCH_FRAME)
    for bad in (b"\x00\x03" + body[2:], b"\x00\x01" + body[2:], body + b"\x00", body[:-1]):
        with pytest.raises(FrameError) as err:
            BatchLocation.decode(bad, False)
        assert err.value.reason == "bad_body"
    assert BatchLocation.decode(b"\x00\x00\x00", False) == BatchLocation(0, ())


def test_encode_rejects_out_of_range() -> None:
    for report in (
        LocationReport(1 << 32, 0, 0, 0, 0, 0, 0, WUHAN.ts_ms),
        LocationReport(0, 0, 0, 0, -1, 0, 0, WUHAN.ts_ms),
        LocationReport(0, 0, 0, 0, 0, 0, 0, WUHAN.ts_ms, ((0x30, bytes(256)),)),
        LocationReport(0, 0, 0, 0, 0, 0, 0, WUHAN.ts_ms, ((256, b""),)),
        LocationReport(0, 0, 0, 0, 0, 0, 0, ms(2100, 1, 1)),
    ):
        with pytest.raises(ValueError):
            report.encode(False)
    with pytest.raises(ValueError):
        BatchLocation(256, ()).encode(False)
