"""The rule catalog: what each rule declares next to its code, and everything derived from it.

A rule module declares ``SPEC = RuleSpec(...)``: its name, what it detects, the inputs it reads,
its state type, its default matter code and its parameters (a ``Params`` model that is its
section of ``city.yaml`` ``rules:``). ``catalog()`` finds every module of ``rules/`` that declares
one, so adding a rule is adding its module: the state registry (``state_types``), the parameter
model and its defaults (``rules.params``), the docs table (``rules/README.md``, written by
``citywatch rules table --write``) and the simulator's rule names all derive from the catalog.

The pipeline modules (``rules/pipelines``) declare the state slots they keep that are not a
rule's (``STATE_SLOTS``: a terminal's late run, a fusion key, a background station's window).
No rule module imports ``rules.params`` (it is built from them); a test holds that.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict

from devices.catalog import STREAM_OF
from devices.contracts import Message
from devices.inventory import DEFAULT_MATTERS
from rules.alerts import Alert

if TYPE_CHECKING:
    from rules.context import At

Judge = Callable[[Any, Any, "At"], tuple[Any, list[Alert]]]
"""``judge(state, event, at) -> (state, alerts)``: a rule on one event; a None state drops the key's state."""
Tick = Callable[[Any, int, "At"], tuple[Any, list[Alert]]]
"""``tick(state, watermark_ms, at) -> (state, alerts)``: a rule as event time passes, for a key that has its state."""
Needs = Literal["device", "vehicle", "permit"]

WATERMARK = "watermark"
"""An input: the rule also acts when event time passes (silence, deadlines, held episodes)."""


class Params(BaseModel):
    """A rule's parameters: its section of ``city.yaml`` ``rules:``, every field a default a city may override."""

    model_config = ConfigDict(frozen=True, extra="forbid")


@dataclass(frozen=True)
class RuleSpec:
    """What a rule declares next to its code."""

    name: str
    """The rule's name: on its alerts, the key of its state and of its matter code."""
    detects: str
    """What it detects, led by the violation's Chinese name (the docs table)."""
    reads: tuple[type[Message] | str, ...]
    """Its inputs: message kinds, fact kinds (``"served"``) and ``WATERMARK``."""
    state: type[Any]
    """Its state per key: a frozen dataclass with ``to_dict`` / ``from_dict``."""
    matter: str | None = None
    """Its default matter code (``rules.matter_codes``); None: it opens no case (a fact, a join)."""
    severity: str = ""
    """Its severities, in words (the docs table)."""
    params: type[Params] | None = None
    """Its parameter model, or None."""
    params_key: str | None = None
    """Its section under ``city.yaml`` ``rules:`` when not its name (rules sharing a section name it)."""
    presets: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    """Named parameter sets a city picks with ``rules.<section>_preset`` (its own fields still win)."""
    judge: Judge | None = None
    """Runs it on one event of a kind it reads; the pipelines call it (None: a pipeline wires it by hand)."""
    tick: Tick | None = None
    """Runs it as event time passes, for a device that has its state (with ``WATERMARK`` in ``reads``)."""
    order: int = 100
    """Its place among the judged rules of one event (smaller first; then by name)."""
    needs: Needs = "device"
    """Truck positions only: judge every terminal's fixes, or only a known vehicle's, or only a permitted one's."""
    computed: str = ""
    """What its step takes besides the event, and what the caller computes for it (the docs table)."""
    follows: str = ""
    """The standard or regulation it follows, and what is local practice (the docs table)."""

    @property
    def module(self) -> str:
        """Return the file that declares it (the state's module)."""
        return f"{self.state.__module__.replace('.', '/')}.py"

    @property
    def section(self) -> str | None:
        """Return its section under ``city.yaml`` ``rules:``, or None without parameters."""
        return None if self.params is None else self.params_key or self.name

    @property
    def opens_cases(self) -> bool:
        """Tell whether its alerts open cases (it has a matter code)."""
        return self.matter is not None


MACHINERY = frozenset({"rules.catalog", "rules.params"})
"""The catalog itself and what is built from it: never scanned for rules."""


def _modules(package: str) -> list[Any]:
    """Import every module of a package (the catalog's machinery aside), in name order."""
    root = importlib.import_module(package)
    names = sorted(m.name for m in pkgutil.iter_modules(root.__path__, f"{package}.") if m.name not in MACHINERY)
    return [importlib.import_module(name) for name in names]


@cache
def catalog() -> tuple[RuleSpec, ...]:
    """Return the spec of every rule in ``rules/``, by name."""
    specs = [m.SPEC for m in _modules("rules") if isinstance(getattr(m, "SPEC", None), RuleSpec)]
    names = [s.name for s in specs]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"two rule modules declare the same rule name: {duplicates}")
    return tuple(sorted(specs, key=lambda s: s.name))


@cache
def judged(kind: type[Message]) -> tuple[RuleSpec, ...]:
    """Return the rules with a ``judge`` that read this message kind, in the order they run."""
    found = [s for s in catalog() if s.judge is not None and kind in s.reads]
    return tuple(sorted(found, key=lambda s: (s.order, s.name)))


@cache
def ticking() -> tuple[RuleSpec, ...]:
    """Return the rules with a ``tick``, in the order they run."""
    return tuple(sorted((s for s in catalog() if s.tick is not None), key=lambda s: (s.order, s.name)))


def spec_of(name: str) -> RuleSpec:
    """Return the spec of a rule by name."""
    for spec in catalog():
        if spec.name == name:
            return spec
    raise KeyError(f"no rule named {name!r} (rules: {', '.join(s.name for s in catalog())})")


@cache
def state_types() -> dict[str, type[Any]]:
    """Return every state slot's type: each rule's, then the pipelines' own (``STATE_SLOTS``)."""
    types: dict[str, type[Any]] = {s.name: s.state for s in catalog()}
    for module in _modules("rules.pipelines"):
        for name, state in getattr(module, "STATE_SLOTS", {}).items():
            if name in types and types[name] is not state:
                raise ValueError(f"state slot {name!r} is declared twice")
            types[name] = state
    return types


def case_rules() -> tuple[str, ...]:
    """Return the names of the rules whose alerts open cases (what a scenario may plant)."""
    return tuple(s.name for s in catalog() if s.opens_cases)


def default_matter_codes() -> dict[str, str]:
    """Return the default matter code of every rule that opens cases."""
    return {s.name: s.matter for s in catalog() if s.matter is not None}


@cache
def sections() -> dict[str, tuple[type[Params], Mapping[str, Mapping[str, Any]]]]:
    """Return each parameter section: its model and presets (rules sharing a section share its model)."""
    found: dict[str, tuple[type[Params], Mapping[str, Mapping[str, Any]]]] = {}
    for spec in catalog():
        key = spec.section
        if key is None or spec.params is None:
            continue
        known = found.get(key)
        if known is not None and known[0] is not spec.params:
            raise ValueError(f"rules.{key}: rules sharing a section must share its model ({spec.name})")
        found[key] = (spec.params, {**(known[1] if known else {}), **spec.presets})
    return found


# --- the docs table ------------------------------------------------------------------------------------

TABLE_BEGIN = "<!-- rule table: generated from the rule catalog by `citywatch rules table --write` -->"
TABLE_END = "<!-- end of rule table -->"


def _reads(spec: RuleSpec) -> str:
    """Describe a rule's inputs: streams of message kinds, fact kinds, the watermark."""
    parts = []
    for item in spec.reads:
        if isinstance(item, str):
            parts.append("the watermark" if item == WATERMARK else f"`{item}` facts")
        else:
            parts.append(f"`{STREAM_OF[item]}` (`{item.__name__}`)")
    return ", ".join(parts)


def _default(value: Any) -> str:
    """Show a default value the way city.yaml writes it."""
    if isinstance(value, Mapping):
        return ", ".join(f"{k}: {_default(v)}" for k, v in value.items())
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _params(spec: RuleSpec) -> str:
    """List a rule's parameters and their defaults (a shared section: named, listed once, with its owner)."""
    if spec.params is None:
        return "—"
    owner = next(s for s in catalog() if s.section == spec.section)
    if owner is not spec:
        return f"`rules.{spec.section}` (see `{owner.name}`)"
    defaults = spec.params()
    fields = "; ".join(f"`{name}` ({_default(getattr(defaults, name))})" for name in type(defaults).model_fields)
    presets = f"; presets `rules.{spec.section}_preset`: {', '.join(spec.presets)}" if spec.presets else ""
    return f"`rules.{spec.section}`: {fields}{presets}"


def docs_table() -> str:
    """Render the catalog as the markdown table of ``rules/README.md``."""
    rows = [
        "| rule | detects | reads | its step takes | parameters (default) | matter / severity | follows |",
        "|---|---|---|---|---|---|---|",
    ]
    for spec in catalog():
        matter = f"{spec.matter} {DEFAULT_MATTERS.get(spec.matter, '')}".rstrip() if spec.matter else "—"
        matter = f"{matter} / {spec.severity}" if spec.severity else matter
        cells = [
            f"`{spec.name}` (`{spec.module}`)",
            spec.detects,
            _reads(spec),
            spec.computed or "—",
            _params(spec),
            matter,
            spec.follows or "—",
        ]
        rows.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(rows)


def with_table(readme: str) -> str:
    """Return the README text with its generated table replaced by the catalog's."""
    pattern = re.compile(re.escape(TABLE_BEGIN) + r"\n(?:.*?\n)?" + re.escape(TABLE_END), re.S)
    if not pattern.search(readme):
        raise ValueError(f"the README has no generated table (markers {TABLE_BEGIN!r} … {TABLE_END!r})")
    return pattern.sub(lambda _: f"{TABLE_BEGIN}\n{docs_table()}\n{TABLE_END}", readme)
