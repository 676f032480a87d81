"""JT/T 808 terminal models: where each model puts the muck-truck signals in its location reports.

The standard fixes the position, speed and load bits of a 0x0200 report, but not the 渣土 signals:
each maker puts 密闭 (cover closed), 举升 (body lifted) and weight in its own additional-information
items (TLV ids 0xE0-0xFF are the vendor range). A city lists the models its terminals are in
``terminals.yaml`` and each vehicle names its model (``jt808_model``) next to its terminal's phone
number (``jt808_phone``). This module is the data only; the gateway reads the values.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

PHONE_PATTERN = r"^[0-9]{1,20}$"  # BCD digits: 12 in a 2013 header, 20 in a 2019 one (left-padded with zeros)


class _Data(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SignalBit(_Data):
    """A yes/no signal: one bit of a vendor item's value (bit 0 = least significant bit of the last byte)."""

    tlv: int = Field(ge=0, le=255, description="additional-information item id")
    bit: int = Field(ge=0, le=63)
    active: Literal[0, 1] = Field(default=1, description="the bit value that means yes")


class Quantity(_Data):
    """A number: a vendor item's value as a big-endian unsigned integer, times a scale."""

    tlv: int = Field(ge=0, le=255, description="additional-information item id")
    scale: float = Field(default=1.0, gt=0.0, description="unit of one count (e.g. 10.0: tens of kg)")


class TerminalModel(_Data):
    """One terminal model and where it reports the muck-truck signals (absent: it does not)."""

    model: str = Field(min_length=1, max_length=64)
    cover_closed: SignalBit | None = None
    body_lifted: SignalBit | None = None
    weight_kg: Quantity | None = None


def phone_key(phone: str) -> str:
    """Return the phone number as terminals of either version send it, without the padding zeros."""
    return phone.lstrip("0") or "0"
