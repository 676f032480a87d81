"""Case grouping's section of tickets.yaml is `grouping:`; `fusion:`, its old name, is still read."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.tickets.conftest import REPO_CONFIG
from tickets.config import TicketConfig, load_config
from tickets.errors import TicketConfigError

SECTION = {"radius_m": 90, "window_s": 600, "reopen_within_s": 3600, "link_within_s": 7200}


def _write(tmp_path: Path, **sections: object) -> Path:
    data = yaml.safe_load(Path(REPO_CONFIG).read_text(encoding="utf-8"))
    data.pop("grouping", None)
    path = tmp_path / "tickets.yaml"
    path.write_text(yaml.safe_dump({**data, **sections}, allow_unicode=True), encoding="utf-8")
    return path


def test_the_repo_config_names_the_section_grouping() -> None:
    assert "grouping" in yaml.safe_load(Path(REPO_CONFIG).read_text(encoding="utf-8"))
    assert load_config(REPO_CONFIG).grouping_policy.radius_m == 150


@pytest.mark.parametrize("name", ["grouping", "fusion"])
def test_either_name_sets_the_grouping_distances(tmp_path: Path, name: str) -> None:
    policy = load_config(_write(tmp_path, **{name: SECTION})).grouping_policy
    assert (policy.radius_m, policy.window_ms, policy.reopen_within_ms, policy.link_within_ms) == (
        90,
        600_000,
        3_600_000,
        7_200_000,
    )


def test_both_names_at_once_are_refused_with_the_reason(tmp_path: Path) -> None:
    with pytest.raises(TicketConfigError, match="grouping and fusion: one section under two names"):
        load_config(_write(tmp_path, grouping=SECTION, fusion=SECTION))


def test_without_the_section_the_defaults_hold() -> None:
    assert TicketConfig().grouping_policy.window_ms == 900_000
