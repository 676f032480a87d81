"""What a rule's ``judge`` / ``tick`` is given besides its state and the event: the city and who is judged."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the city index imports rule modules; a rule only reads what the pipeline hands it
    from rules.city_index import CityIndex, Place


@dataclass(frozen=True, slots=True)
class At:
    """One judgement's surroundings: the city, the subject and its matter code, the rule's parameters, where."""

    index: CityIndex
    subject: str
    matter_code: str
    params: Any
    """The rule's own section of ``city.yaml`` ``rules:`` (its ``Params`` model), or None without one."""
    lon: float
    lat: float
    """Where the subject is: a fixed device where it stands, a truck at its fix."""
    place: Place | None = None
    """A truck position's place (zones, site, road, corridor: ``CityIndex.locate``); None for fixed devices."""
