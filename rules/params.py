"""The rules' parameters (``city.yaml`` → ``rules:``), built from the rule catalog.

``RuleParams`` has one section per rule (``rules.<section>``: the rule's ``Params`` model), a
``<section>_preset`` for a section with named sets (``rules.pm10_preset``), the matter code of each
rule (``matter_codes``, defaults from each rule's spec) and of each camera event type. Sources of
the defaults are in ``rules/README.md``.

``devices/inventory.py`` keeps a city's ``rules:`` section as read; ``checked`` validates that section
(``citywatch.city.load_city`` calls it on every city it loads) and ``params_of(city)`` returns it as
``RuleParams``. No IO here: the loader reads the files.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model, field_validator, model_validator

from devices.inventory import City, CityConfigError, format_errors
from rules.camera import DEFAULT_CAMERA_MATTER_CODES
from rules.catalog import default_matter_codes, sections

DEFAULT_MATTER_CODES = default_matter_codes()
"""One matter per kind of violation, from each rule's spec (``devices/inventory.py`` DEFAULT_MATTERS names them)."""


class RuleParamsBase(BaseModel):
    """What every city's ``rules:`` section has besides the rules' own sections: matter codes, presets."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    matter_codes: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_MATTER_CODES))
    camera_matter_codes: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_CAMERA_MATTER_CODES))

    if TYPE_CHECKING:  # the rules' sections are fields of the model built from the catalog

        def __getattr__(self, name: str) -> Any: ...

    @model_validator(mode="before")
    @classmethod
    def _apply_presets(cls, data: Any) -> Any:
        """Fill a section from its named preset; the fields a city sets under the section override it."""
        if not isinstance(data, dict):
            return data
        for key, (_, presets) in sections().items():
            name = data.get(f"{key}_preset")
            if not isinstance(name, str) or name not in presets:
                continue  # no preset, an unknown one or not a name: the field's own validation names the choices
            own = data.get(key) or {}
            if isinstance(own, BaseModel):
                own = own.model_dump(exclude_unset=True)
            if isinstance(own, dict):
                data = {**data, key: {**presets[name], **own}}
        return data

    @field_validator("matter_codes", mode="before")
    @classmethod
    def _merge_codes(cls, value: object) -> object:
        """A city names only the codes it changes; the rest keep their defaults."""
        return {**DEFAULT_MATTER_CODES, **value} if isinstance(value, dict) else value

    @field_validator("camera_matter_codes", mode="before")
    @classmethod
    def _merge_camera_codes(cls, value: object) -> object:
        """Likewise for camera event types."""
        return {**DEFAULT_CAMERA_MATTER_CODES, **value} if isinstance(value, dict) else value


def _build() -> type[RuleParamsBase]:
    """Make the parameter model: one field per section of the catalog, one per section's presets."""
    fields: dict[str, Any] = {}
    for key, (model, presets) in sections().items():
        fields[key] = (model, model())
        if presets:
            choice = Literal[tuple(presets)]  # type: ignore[valid-type]  # the preset names, known at run time
            fields[f"{key}_preset"] = (choice | None, Field(default=None, description="a named set; None: defaults"))
    return create_model("RuleParams", __base__=RuleParamsBase, __module__=__name__, **fields)


if TYPE_CHECKING:
    RuleParams = RuleParamsBase
else:
    RuleParams = _build()


_SEEN: dict[int, tuple[City, RuleParamsBase]] = {}
_SEEN_MAX = 64


def params_of(city: City) -> RuleParamsBase:
    """Return a city's rule parameters (validated once per city object)."""
    raw = city.meta.rules
    if isinstance(raw, RuleParamsBase):
        return raw
    hit = _SEEN.get(id(city))
    if hit is not None and hit[0] is city:
        return hit[1]
    params = RuleParams.model_validate(raw)
    if len(_SEEN) >= _SEEN_MAX:
        _SEEN.clear()
    _SEEN[id(city)] = (city, params)
    return params


def checked(root: Path, city: City) -> City:
    """Validate a city's ``rules:`` section and its matter codes; raise CityConfigError naming file and field."""
    try:
        params = params_of(city)
    except ValidationError as exc:
        raise CityConfigError(format_errors(root, exc, prefix=("meta", "rules"))) from exc
    unknown = [
        f"  {root / 'city.yaml'}: rules.matter_codes.{rule}: matter code {code!r} is not in matters"
        for rule, code in params.matter_codes.items()
        if code not in city.meta.matters
    ]
    if unknown:
        raise CityConfigError("\n".join([f"{root}: {len(unknown)} problem(s) in the city data", *unknown]))
    return city
