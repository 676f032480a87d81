"""Render the wire contract as a Markdown table, from the models themselves (so docs cannot drift)."""

from __future__ import annotations

from typing import Any

from pydantic.fields import FieldInfo

from devices.contracts import DEVICE_KINDS, MODELS, TOPIC_ROOT, DeviceStatus, Message


def _type_name(info: FieldInfo) -> str:
    annotation: Any = info.annotation
    if isinstance(annotation, type):
        return "string (enum)" if hasattr(annotation, "__members__") else annotation.__name__
    text = str(annotation).replace("typing.", "")
    if text.startswith("tuple["):  # an array of constrained strings: the constraint is in the description
        return "array of string" + (" or null" if text.endswith("| None") else "")
    return text.replace(" | ", " or ").replace("NoneType", "null").replace("None", "null")


def _constraints(info: FieldInfo) -> str:
    parts: list[str] = []
    for meta in info.metadata:
        for name in ("ge", "gt", "le", "lt", "min_length", "max_length", "pattern"):
            value = getattr(meta, name, None)
            if value is not None:
                parts.append(f"{name} {value}")
    return ", ".join(parts)


def _enum_values(info: FieldInfo) -> str:
    annotation: Any = info.annotation
    members = getattr(annotation, "__members__", None)
    return " / ".join(str(m.value) for m in members.values()) if members else ""


def field_rows(model: type[Message]) -> list[str]:
    """Return one Markdown row per field of a model."""
    rows = []
    for name, info in model.model_fields.items():
        required = "yes" if info.is_required() else f"no (default `{info.default}`)"
        notes = "; ".join(x for x in (_constraints(info), _enum_values(info), info.description or "") if x)
        rows.append(f"| `{name}` | `{_type_name(info)}` | {required} | {notes} |")
    return rows


def topic_of(model: type[Message]) -> str:
    """Return the topic pattern of a model."""
    if model is DeviceStatus:
        return f"`{TOPIC_ROOT}/{{{'|'.join(DEVICE_KINDS)}}}/{{device_id}}/status` (retained)"
    return f"`{TOPIC_ROOT}/{model.kind}/{{device_id}}/{model.channel}`"


def render() -> str:
    """Return the whole contract as Markdown."""
    out: list[str] = []
    for model in MODELS:
        out += [
            f"#### {model.__name__}: {(model.__doc__ or '').strip()}",
            "",
            f"Topic: {topic_of(model)}",
            "",
            "| field | type | required | constraints / notes |",
            "|---|---|---|---|",
            *field_rows(model),
            "",
        ]
    return "\n".join(out)
