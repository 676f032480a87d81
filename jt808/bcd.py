"""BCD digit strings and the 6-byte BCD time ``YYMMDDhhmmss`` in Beijing time (UTC+8, years 2000-2099)."""

from __future__ import annotations

from datetime import date

from jt808.errors import FrameError

_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_CST_OFFSET_S = 8 * 3600


def bcd_encode(digits: str, size: int) -> bytes:
    """Encode decimal digits as ``size`` BCD bytes, left-padded with zeros; ValueError if not digits or too long."""
    if digits and not (digits.isascii() and digits.isdigit()):
        raise ValueError(f"BCD needs decimal digits, got {digits!r}")
    if len(digits) > 2 * size:
        raise ValueError(f"{len(digits)} digits do not fit in {size} BCD bytes")
    return bytes.fromhex(digits.rjust(2 * size, "0"))


def bcd_decode(data: bytes) -> str:
    """Decode BCD bytes to their digits, leading zeros kept; FrameError("bad_bcd") on a non-decimal nibble."""
    digits = data.hex()
    if digits and not digits.isdigit():
        raise FrameError("bad_bcd", f"non-decimal BCD nibble in {digits}")
    return digits


def bcd_time(ts_ms: int) -> bytes:
    """Encode UTC epoch milliseconds as the 6-byte BCD Beijing time (sub-second part dropped)."""
    days, second_of_day = divmod(ts_ms // 1000 + _CST_OFFSET_S, 86400)
    day = date.fromordinal(_EPOCH_ORDINAL + days)
    if not 2000 <= day.year <= 2099:
        raise ValueError(f"BCD time covers 2000-2099 only, got year {day.year}")
    hour, rest = divmod(second_of_day, 3600)
    minute, second = divmod(rest, 60)
    return bytes.fromhex(f"{day.year % 100:02d}{day.month:02d}{day.day:02d}{hour:02d}{minute:02d}{second:02d}")


def parse_bcd_time(data: bytes) -> int:
    """Decode the 6-byte BCD Beijing time to UTC epoch milliseconds; FrameError("bad_bcd") if it is not a date."""
    if len(data) != 6:
        raise FrameError("bad_bcd", f"BCD time needs 6 bytes, got {len(data)}")
    digits = bcd_decode(data)
    hour, minute, second = int(digits[6:8]), int(digits[8:10]), int(digits[10:12])
    if hour > 23 or minute > 59 or second > 59:
        raise FrameError("bad_bcd", f"BCD time {digits} is not a time of day")
    try:
        days = date(2000 + int(digits[0:2]), int(digits[2:4]), int(digits[4:6])).toordinal() - _EPOCH_ORDINAL
    except ValueError:
        raise FrameError("bad_bcd", f"BCD time {digits} is not a date") from None
    return (days * 86400 + hour * 3600 + minute * 60 + second - _CST_OFFSET_S) * 1000
