"""Render the fault tests' figures (``test-artifacts/faults.jsonl``) as the Markdown table of the README
and the closing note: ``.venv/bin/python -m tests.faults.report_table``. The newest row of each test wins."""

from __future__ import annotations

import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
COLUMNS = ("published", "accounted for", "tickets (cleared)", "repeats recognised", "back after")


def accounted(row: dict[str, object]) -> str:
    """Return how the published messages were accounted for (processed / on Kafka + dead-lettered)."""
    if "processed" in row:
        return f"{row['processed']:,} processed + {row['deadlettered']} dead-lettered"
    return f"{row['on_kafka']:,} on Kafka"


def cells(row: dict[str, object]) -> list[str]:
    """Return one table row's cells."""
    repeats = row.get("repeats_dropped", row.get("repeats_on_kafka", "-"))
    back = row.get("restart_to_subscribed_s") or row.get("worker_ready_after_restart_s")
    return [
        f"{row['published']:,}",
        accounted(row),
        f"{row['tickets']} ({row['cleared']})",
        str(repeats),
        f"{back} s" if back is not None else "-",
    ]


def render(path: Path) -> str:
    """Return the Markdown table of the newest figures per test."""
    rows: dict[str, dict[str, object]] = {}
    for line in path.read_text().splitlines():
        row = json.loads(line)
        rows.setdefault(str(row["test"]), {}).update(row)
    out = ["| fault (test) | " + " | ".join(COLUMNS) + " |", "|---" * (len(COLUMNS) + 1) + "|"]
    for test, row in rows.items():
        name = test.split("::")[-1].removeprefix("test_").replace("_", " ")
        if "published" in row:
            out.append(f"| {name} | " + " | ".join(cells(row)) + " |")
        else:
            figures = ", ".join(f"{k} {v}" for k, v in row.items() if k not in ("test", "at"))
            out.append(f"| {name} | " + figures + " |" + " |" * (len(COLUMNS) - 1))
    return "\n".join(out)


if __name__ == "__main__":
    print(render(Path(sys.argv[1]) if len(sys.argv) > 1 else REPO / "test-artifacts" / "faults.jsonl"))
