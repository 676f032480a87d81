"""The simulated device fleet: seeded, deterministic message streams published over MQTT.

``generate`` is the pure core (city + scenario + seed -> time-ordered messages); ``Simulation`` /
``run_simulation`` publish them to a broker, paced at ``speed`` x real time.
"""

from devices.sim.generator import device_kinds, device_rng, generate, suggest_start_ms, topic_of
from devices.sim.publisher import MqttPublisher, PublisherConfig, PublisherError
from devices.sim.runner import Pacer, SimStats, Simulation, run_simulation
from devices.sim.scenario import (
    Deviate,
    Expected,
    OpenCover,
    Overflow,
    ReportIntervals,
    Scenario,
    ScenarioError,
    check_scenario,
    load_scenario,
    parse_scenario,
)

__all__ = [
    "Deviate",
    "Expected",
    "MqttPublisher",
    "OpenCover",
    "Overflow",
    "Pacer",
    "PublisherConfig",
    "PublisherError",
    "ReportIntervals",
    "Scenario",
    "ScenarioError",
    "SimStats",
    "Simulation",
    "check_scenario",
    "device_kinds",
    "device_rng",
    "generate",
    "load_scenario",
    "parse_scenario",
    "run_simulation",
    "suggest_start_ms",
    "topic_of",
]
