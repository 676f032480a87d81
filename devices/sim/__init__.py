"""The simulated device fleet: seeded, deterministic message streams published over MQTT.

``generate`` is the pure core (city + scenario + seed -> time-ordered messages); ``Simulation`` /
``run_simulation`` publish them to a broker, paced at ``speed`` x real time; ``start_ms_for``
returns the start a run must use (a scenario's pinned ``start_local``, else a suggestion).

Modules: ``scenario`` / ``injections`` (the YAML contract), ``checks_*`` (injections against the
city), ``clock`` (local time of sim seconds), ``track`` / ``schedule`` / ``truck_plans`` /
``rounds`` / ``motion`` / ``vehicles`` (trucks), ``sensors`` / ``sites`` (fixed sensors),
``cameras``, ``geo``, ``publisher`` / ``runner`` (MQTT).
"""

from devices.sim.generator import (
    device_kinds,
    device_rng,
    generate,
    start_ms_for,
    suggest_start_ms,
    topic_of,
)
from devices.sim.injections import (
    BodyLift,
    CameraSighting,
    Deviate,
    Dwell,
    EnterZone,
    FillFast,
    GpsJump,
    Haze,
    NightWork,
    Noise,
    Odour,
    OpenCover,
    OutOfWindow,
    Overflow,
    Pm10,
    ReportIntervals,
    Silence,
    SkipCollection,
    SkipWash,
    Speeding,
    Undelivered,
)
from devices.sim.publisher import MqttPublisher, PublisherConfig, PublisherError
from devices.sim.runner import Pacer, SimStats, Simulation, run_simulation
from devices.sim.scenario import (
    Expected,
    Scenario,
    ScenarioError,
    check_scenario,
    load_scenario,
    parse_scenario,
)

__all__ = [
    "BodyLift",
    "CameraSighting",
    "Deviate",
    "Dwell",
    "EnterZone",
    "Expected",
    "FillFast",
    "GpsJump",
    "Haze",
    "MqttPublisher",
    "NightWork",
    "Noise",
    "Odour",
    "OpenCover",
    "OutOfWindow",
    "Overflow",
    "Pacer",
    "Pm10",
    "PublisherConfig",
    "PublisherError",
    "ReportIntervals",
    "Scenario",
    "ScenarioError",
    "Silence",
    "SimStats",
    "Simulation",
    "SkipCollection",
    "SkipWash",
    "Speeding",
    "Undelivered",
    "check_scenario",
    "device_kinds",
    "device_rng",
    "generate",
    "load_scenario",
    "parse_scenario",
    "run_simulation",
    "start_ms_for",
    "suggest_start_ms",
    "topic_of",
]
