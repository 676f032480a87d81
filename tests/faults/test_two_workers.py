"""Two faust workers on the real Kafka share a scaled city's partitions; one is killed, the other takes its share.

The traffic is a scaled city (``devices.sim.scale``: 300 trucks, 24 planted violations on different
devices, so on every partition). Both tests check that every message reached Kafka once, that the
workers committed every stage and that the ticket database holds exactly the planted cases, each
once. In the second, ``kill -9`` hits one worker between the halves of the run, while the planted
episodes are under way: the other worker gets its partitions at the rebalance, restores their
tables from the changelogs and finishes the episodes; the restore is timed and reported.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from datetime import datetime
from pathlib import Path

import pytest

from citywatch.city import load_city
from devices.sim.generator import device_kinds, generate, topic_of
from devices.sim.scale import write_scaled_city
from devices.sim.scenario import load_scenario
from tests.conftest import Services
from tests.e2e.harness import BIN
from tests.faults.broker import Broker
from tests.faults.conftest import Report
from tests.faults.embedded import tickets
from tests.faults.fleet import REPO, Traffic, publish
from tests.faults.stack import Stack, stack_env
from tests.support import recorded_start_ms, wait_for

pytestmark = pytest.mark.services
RESTORED = "Done reading from changelog topics"  # faust logs it at the end of every table restore


@pytest.fixture(scope="module")
def scaled(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[tuple[str, str]], Traffic]:
    """A 300-truck city, its planted cases and its messages, ending a minute ago."""
    made = write_scaled_city(
        REPO / "cities" / "demo", tmp_path_factory.mktemp("scaled") / "s", 300, duration_s=900, plants_per_100=8
    )
    city = load_city(made.city_dir)
    scenario = load_scenario(made.scenario, city)
    start_ms = recorded_start_ms(scenario.duration_s, city.meta.timezone)
    kinds = device_kinds(city)
    messages = list(generate(city, scenario, 7, start_ms))
    traffic = Traffic(
        city,
        start_ms,
        [(topic_of(m, kinds), m.model_dump_json().encode()) for m in messages],
        [(m.ts_ms - start_ms) / 1000 for m in messages],
    )
    return made.city_dir, sorted((e.rule, e.subject) for e in scenario.expected), traffic


@pytest.fixture
def stack(
    services: Services, broker: Broker, tmp_path: Path, unique: str, scaled: tuple[Path, list[tuple[str, str]], Traffic]
) -> Stack:
    env = stack_env(
        broker.port,
        services.kafka_bootstrap,
        tmp_path,
        unique,
        CITYWATCH_CITY_DIR=str(scaled[0]),
        CITYWATCH_FAUST_SESSION_TIMEOUT_S="6",  # a killed worker's partitions move on after 6 s
    )
    return Stack(env, tmp_path, services.kafka_bootstrap)


def assert_exactly_the_planted_cases(
    stack: Stack, expected: list[tuple[str, str]], traffic: Traffic, caught_up_s: float = 180.0
) -> None:
    """Every message on Kafka once, every stage committed within ``caught_up_s``, the planted cases in the
    database each once."""
    stack.wait_forwarded(len(traffic.messages))
    on_kafka = stack.forwarded_messages()
    assert len(on_kafka) == len(traffic.messages) and max(on_kafka.values()) == 1
    stack.wait_caught_up(timeout=caught_up_s)
    db = stack.tmp / "tickets.sqlite"
    wait_for(lambda: len(tickets(db)) >= len(expected), 120, what=f"{len(expected)} tickets")
    # every stage is committed, the ticket sink's only after its store committed: the database is final, so a
    # doubled case would be in it now (no need to wait and see)
    assert sorted((t.rule, t.subject) for t in tickets(db)) == expected


def test_two_workers_split_the_partitions_and_raise_exactly_the_planted_cases(
    stack: Stack, broker: Broker, scaled: tuple[Path, list[tuple[str, str]], Traffic], report: Report
) -> None:
    _, expected, traffic = scaled
    assert len(expected) >= 20 and len({s for _, s in expected}) == len(expected)  # one case per device
    first, _ = stack.worker("worker-1")
    second, _ = stack.worker("worker-2")
    ingest = stack.ingest("ingest")
    try:
        began = time.monotonic()
        publish(traffic, broker.port, "fleet", 0, len(traffic.messages))
        assert_exactly_the_planted_cases(stack, expected, traffic)
        for worker in (first, second):  # both took part: each was given a share of the positions partitions
            assert shares(worker.text(), stack.prefix + "positions") & {"0", "1", "2", "3", "0-1", "2-3"}
            assert "Error in recovery" not in worker.text()
        took_s = round(time.monotonic() - began, 1)
        back_test = subprocess.run(  # the same events, read back from Kafka: the same cases
            [str(BIN / "citywatch"), "replay", "--kafka", "--against", str(stack.tmp / "tickets.sqlite")],
            env=stack.env | {"PATH": os.environ["PATH"]},
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert back_test.returncode == 0, back_test.stderr[-3000:]
        same = f"live: {len(expected)} cases; the same: {len(expected)}; only replayed: 0; only live: 0"
        assert same in back_test.stdout, back_test.stdout
        report(messages=len(traffic.messages), cases=len(expected), two_workers_s=took_s)
    finally:
        assert ingest.stop() == 0, ingest.text()[-3000:]
        first.stop()
        second.stop()


def test_killing_one_of_two_workers_mid_run_moves_its_partitions_and_misses_or_doubles_nothing(
    stack: Stack, broker: Broker, scaled: tuple[Path, list[tuple[str, str]], Traffic], report: Report
) -> None:
    _, expected, traffic = scaled
    survivor, _ = stack.worker("worker-1")
    victim, _ = stack.worker("worker-2")
    ingest = stack.ingest("ingest")
    try:
        half = traffic.index_at(450)  # the planted episodes (from 300 s on) are under way
        publish(traffic, broker.port, "fleet", 0, half)
        stack.wait_forwarded(half)
        stack.wait_caught_up()
        restores_before = survivor.text().count(RESTORED)
        victim.popen.send_signal(signal.SIGKILL)
        victim.popen.wait(10)
        killed = time.monotonic()
        publish(traffic, broker.port, "fleet", half, len(traffic.messages))
        wait_for(lambda: survivor.text().count(RESTORED) > restores_before, 120, what="the survivor's restore")
        moved_s, restore_s = time.monotonic() - killed, restore_seconds(survivor.text())
        # the survivor commits the partitions it took over too, promptly: faust's consumer held their offsets
        # back for minutes when records arrived twice at the takeover (streams/transport.py)
        assert_exactly_the_planted_cases(stack, expected, traffic, caught_up_s=60)
        assert "Error in recovery" not in survivor.text()
        report(
            messages=len(traffic.messages),
            cases=len(expected),
            kill_to_partitions_restored_s=round(moved_s, 1),
            restore_s=restore_s,
        )
    finally:
        assert ingest.stop() == 0, ingest.text()[-3000:]
        survivor.stop()
        victim.stop()


def shares(log: str, topic: str) -> set[str]:
    """Return the partition sets of a topic faust logged as assigned to a worker ({0-3}: all of them)."""
    return set(re.findall(r"\| " + re.escape(topic) + r"\s+\| \{([^}]*)\}", log))


STAMP = r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3})\].*"


def restore_seconds(log: str) -> float:
    """Return how long the last table restore in a worker's log took (its start to its end, faust's times)."""
    starts = re.findall(STAMP + "Restoring state from changelog topics", log, re.MULTILINE)
    ends = re.findall(STAMP + RESTORED, log, re.MULTILINE)
    if not starts or not ends:
        return -1.0
    took = datetime.strptime(ends[-1], LOG_TIME) - datetime.strptime(starts[-1], LOG_TIME)
    return round(took.total_seconds(), 1)


LOG_TIME = "%Y-%m-%d %H:%M:%S,%f"
