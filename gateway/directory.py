"""Which terminal is which truck, from the city's vehicles (``jt808_phone``, ``jt808_model``)."""

from __future__ import annotations

from devices.inventory import City
from gateway.session import Terminal


class CityDirectory:
    """Looks terminals up by phone number in a loaded city."""

    def __init__(self, city: City) -> None:
        self._by_phone = {
            key: Terminal(v.terminal_id, v.plate, city.terminal_model.get(v.jt808_model or ""))
            for key, v in city.vehicle_by_phone.items()
        }

    def lookup(self, phone_key: str) -> Terminal | None:
        """Return the terminal with this phone number (no padding zeros), None if the city has none."""
        return self._by_phone.get(phone_key)

    def __len__(self) -> int:
        return len(self._by_phone)
